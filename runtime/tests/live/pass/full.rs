use fluxlive::{live_component, Ctx, Live};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default, Live)]
#[serde(rename_all = "camelCase")]
pub struct Shop {
    item_count: i64,
    #[live(server_only)]
    #[serde(default)]
    audit_log: Vec<String>,
    #[live(redact)]
    #[serde(default)]
    api_key: String,
}

#[derive(Debug, thiserror::Error, Serialize)]
#[error("nope")]
pub struct Nope;

#[live_component(name = "Store")]
impl Shop {
    async fn on_mount(&mut self, _ctx: &mut Ctx) {}
    fn on_unmount(&mut self, _ctx: &mut Ctx) {}
    #[action]
    fn add(&mut self, n: i64, _note: Option<String>) -> i64 {
        self.item_count += n;
        self.item_count
    }
    #[action]
    async fn load(&mut self, ctx: &mut Ctx) -> Result<(), Nope> {
        let _ = ctx.id();
        Ok(())
    }
    #[action]
    fn login(&mut self, #[redact] key: String) {
        self.api_key = key;
    }
    #[handler]
    fn on_event(&mut self, _data: serde_json::Value) {}
}

fn main() {
    use fluxlive::{Component, LiveState};
    assert_eq!(<Shop as Component>::NAME, "Store");
    assert_eq!(<Shop as LiveState>::SERVER_ONLY, &["auditLog"]);
    assert_eq!(<Shop as LiveState>::REDACTED, &["apiKey"]);
    assert_eq!(<Shop as Component>::HANDLERS, &["add", "load", "login", "on_event"]);
    let meta = <Shop as Component>::meta();
    assert_eq!(meta.actions.len(), 3);
    assert_eq!(meta.actions[0].params, &["n", "note"]);
    assert_eq!(meta.actions[2].redacted_params, &["key"]);
}
