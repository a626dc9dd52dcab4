//! [`Ctx`]: what an action can do besides changing its own state.

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// The context passed to `mount`, hooks and actions.
pub struct Ctx {
    pub(crate) id: Arc<str>,
    pub(crate) iid: u64,
    pub(crate) conn: u64,
    pub(crate) component: &'static str,
    pub(crate) events: Vec<(Cow<'static, str>, Value)>,
}

impl Ctx {
    pub(crate) fn new(id: Arc<str>, iid: u64, conn: u64, component: &'static str) -> Self {
        Self {
            id,
            iid,
            conn,
            component,
            events: Vec::new(),
        }
    }

    /// This instance's client-visible id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This instance's global number (as shown in DevTools).
    pub fn iid(&self) -> u64 {
        self.iid
    }

    /// The connection (session) that owns this instance.
    pub fn connection(&self) -> u64 {
        self.conn
    }

    /// This instance's component type.
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// Sends an event to this instance's client listeners
    /// (`handle.on("event", …)`) after the action finishes. Events of an
    /// action that fails are discarded with its state changes.
    pub fn emit(&mut self, name: impl Into<Cow<'static, str>>, data: impl Serialize) {
        let name = name.into();
        match serde_json::to_value(data) {
            Ok(v) => self.events.push((name, v)),
            Err(e) => tracing::warn!(
                target: "fluxlive::ctx",
                component = self.component,
                event = %name,
                error = %e,
                "event payload could not be serialized; event dropped"
            ),
        }
    }
}
