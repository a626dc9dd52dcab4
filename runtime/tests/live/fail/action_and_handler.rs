use fluxlive::{live_component, Live};
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Default, Live)]
pub struct C { n: i64 }
#[live_component]
impl C {
    #[action]
    #[handler]
    fn both(&mut self) {}
}
fn main() {}
