use fluxlive::live_component;
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Default)]
pub struct C { n: i64 }
#[live_component]
impl C {
    #[action]
    fn inc(&mut self) { self.n += 1; }
}
fn main() {}
