//! Test helpers: turn a recorded session into a regression test.
//!
//! ```no_run
//! # async fn t() {
//! # use fluxlive::Live;
//! # #[derive(serde::Serialize, serde::Deserialize, Default, fluxlive::Live)] struct Counter { n: i64 }
//! # #[fluxlive::live_component] impl Counter { #[action] fn inc(&mut self) { self.n += 1 } }
//! let live = Live::builder().component::<Counter>().build();
//! fluxlive::testing::assert_replays(&live, "tests/sessions/bug-123.jsonl").await;
//! # }
//! ```

use crate::live::Live;
use crate::replay::ReplayError;
use fluxlive_protocol::debug::ReplayReport;
use fluxlive_protocol::session::Session;
use std::path::Path;

/// Replays a session against the component types registered on `live`:
/// each recorded instance is rebuilt from its mount record and every
/// recorded action re-run on it, comparing each diff with the recorded one.
/// The first divergence is in [`ReplayReport::divergence`].
pub async fn replay(live: &Live, session: &Session) -> Result<ReplayReport, ReplayError> {
    crate::replay::replay_with(&live.rt.factories, session).await
}

/// Reads a session file and replays it.
pub async fn replay_file(live: &Live, path: impl AsRef<Path>) -> Result<ReplayReport, ReplayError> {
    let path = path.as_ref();
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| ReplayError::File(format!("{}: {e}", path.display())))?;
    let session =
        Session::parse(&text).map_err(|e| ReplayError::File(format!("{}: {e}", path.display())))?;
    replay(live, &session).await
}

/// Replays a session file and panics with the divergence, if any: a
/// recorded bug becomes a regression test in one line.
#[allow(clippy::panic)]
pub async fn assert_replays(live: &Live, path: impl AsRef<Path>) {
    let path = path.as_ref();
    match replay_file(live, path).await {
        Ok(ReplayReport {
            divergence: None, ..
        }) => {}
        Ok(ReplayReport {
            divergence: Some(d),
            ..
        }) => panic!(
            "replay of {} diverged at record {}: {}\n  expected: {}\n  got:      {}",
            path.display(),
            d.seq,
            d.message,
            d.expected,
            d.got
        ),
        Err(e) => panic!("replay of {} could not run: {e}", path.display()),
    }
}
