use fluxlive::{live_component, Live};
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Default, Live)]
pub struct C { n: i64 }
#[live_component]
impl C {
    #[action]
    fn free(n: i64) -> i64 { n }
}
fn main() {}
