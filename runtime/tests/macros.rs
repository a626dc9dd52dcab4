//! What `#[live_component]` and `#[derive(Live)]` accept, and the errors
//! they give for each misuse (snapshots in `tests/live/fail/*.stderr`).
#![allow(missing_docs)]

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/live/pass/*.rs");
    t.compile_fail("tests/live/fail/*.rs");
}
