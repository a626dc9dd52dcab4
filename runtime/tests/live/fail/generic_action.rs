use fluxlive::{live_component, Live};
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Default, Live)]
pub struct C { n: i64 }
#[live_component]
impl C {
    #[action]
    fn set<T: Into<i64>>(&mut self, n: T) { self.n = n.into(); }
}
fn main() {}
