use fluxlive::Live;
use serde::{Deserialize, Serialize};
#[derive(Serialize, Deserialize, Default, Live)]
pub struct C {
    #[live(secret)]
    n: i64,
}
fn main() {}
