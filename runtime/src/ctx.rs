//! [`Ctx`]: what an action can do besides changing its own state.

use crate::bus::BusError;
use crate::instance::{CallMsg, Msg, ReplyTo};
use crate::runtime::Runtime;
use crate::session::Session;
use fluxlive_protocol::record::CallSource;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Effects of a step that only happen if it succeeds.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) events: Vec<(Cow<'static, str>, Value)>,
    pub(crate) emits_to: Vec<(String, Cow<'static, str>, Value)>,
    pub(crate) broadcasts: Vec<(String, Value)>,
}

/// The live parts of a context (absent in replay).
#[derive(Clone)]
pub(crate) struct Wiring {
    pub(crate) rt: Arc<Runtime>,
    pub(crate) session: Option<Arc<Session>>,
    pub(crate) tx: mpsc::Sender<Msg>,
}

/// The context passed to `mount`, hooks and actions.
pub struct Ctx {
    pub(crate) id: Arc<str>,
    pub(crate) iid: u64,
    pub(crate) conn: u64,
    pub(crate) component: &'static str,
    pub(crate) handlers: &'static [&'static str],
    pub(crate) effects: Effects,
    pub(crate) wiring: Option<Wiring>,
    throttles: HashMap<String, Instant>,
    debounces: HashMap<String, u64>,
}

impl Ctx {
    pub(crate) fn new(
        id: Arc<str>,
        iid: u64,
        conn: u64,
        component: &'static str,
        handlers: &'static [&'static str],
    ) -> Self {
        Self {
            id,
            iid,
            conn,
            component,
            handlers,
            effects: Effects::default(),
            wiring: None,
            throttles: HashMap::new(),
            debounces: HashMap::new(),
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

    /// The connection (session) that created this instance.
    pub fn connection(&self) -> u64 {
        self.conn
    }

    /// This instance's component type.
    pub fn component(&self) -> &'static str {
        self.component
    }

    fn value(&self, what: &str, data: impl Serialize) -> Option<Value> {
        match serde_json::to_value(data) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(
                    target: "fluxlive::ctx",
                    component = self.component,
                    event = what,
                    error = %e,
                    "event payload could not be serialized; event dropped"
                );
                None
            }
        }
    }

    /// Sends an event to this instance's client listeners
    /// (`handle.on("event", …)`) after the action finishes. Events of an
    /// action that fails are discarded with its state changes.
    pub fn emit(&mut self, name: impl Into<Cow<'static, str>>, data: impl Serialize) {
        let name = name.into();
        if let Some(v) = self.value(&name, data) {
            self.effects.events.push((name, v));
        }
    }

    /// Sends an event to the client listeners of another instance: one
    /// mounted by the same connection (by its id) or a shared instance (by
    /// its key). Delivered after the action succeeds.
    pub fn emit_to(
        &mut self,
        instance_id: impl Into<String>,
        name: impl Into<Cow<'static, str>>,
        data: impl Serialize,
    ) {
        let name = name.into();
        if let Some(v) = self.value(&name, data) {
            self.effects.emits_to.push((instance_id.into(), name, v));
        }
    }

    /// Publishes a global event: every instance subscribed to `event` runs
    /// its handler with `data`, through its own mailbox. Delivered after the
    /// action succeeds.
    pub fn broadcast(&mut self, event: impl Into<String>, data: impl Serialize) {
        let event = event.into();
        if let Some(v) = self.value(&event, data) {
            self.effects.broadcasts.push((event, v));
        }
    }

    fn handler(&self, handler: &str) -> Result<&'static str, BusError> {
        self.handlers
            .iter()
            .find(|h| **h == handler)
            .copied()
            .ok_or_else(|| BusError::UnknownHandler {
                component: self.component,
                handler: handler.to_owned(),
            })
    }

    /// Runs `handler(data)` on this instance whenever `event` is broadcast.
    /// The subscription ends when the instance does.
    pub fn subscribe(&mut self, event: &str, handler: &str) -> Result<(), BusError> {
        let handler = self.handler(handler)?;
        let w = self.wiring.as_ref().ok_or(BusError::Unavailable)?;
        w.rt.bus.subscribe(event, self.iid, handler);
        Ok(())
    }

    /// Runs `handler(state, version)` on this instance whenever the instance
    /// `target` (an id on this connection, or a shared key) changes state.
    /// A dependency that would close a cycle is refused.
    pub fn depend_on(&mut self, target: &str, handler: &str) -> Result<(), BusError> {
        let handler = self.handler(handler)?;
        let w = self.wiring.as_ref().ok_or(BusError::Unavailable)?;
        let t =
            w.rt.find_target(w.session.as_ref(), target)
                .ok_or_else(|| BusError::UnknownTarget(target.to_owned()))?;
        let rt = w.rt.clone();
        rt.bus.depend(self.iid, t.iid(), handler, |iid| {
            rt.instance(iid)
                .map(|h| format!("{} `{}`", h.component(), h.id()))
                .unwrap_or_else(|| format!("#{iid}"))
        })
    }

    /// Server-side throttle: true at most once per `interval` for `key`.
    pub fn throttle(&mut self, key: &str, interval: Duration) -> bool {
        let now = Instant::now();
        match self.throttles.get(key) {
            Some(last) if now.duration_since(*last) < interval => false,
            _ => {
                self.throttles.insert(key.to_owned(), now);
                true
            }
        }
    }

    /// Server-side debounce: runs `handler()` on this instance once `delay`
    /// has passed without another `debounce` with the same `key`.
    pub fn debounce(&mut self, key: &str, delay: Duration, handler: &str) -> Result<(), BusError> {
        let handler = self.handler(handler)?;
        let w = self.wiring.as_ref().ok_or(BusError::Unavailable)?.clone();
        let gen = self.debounces.entry(key.to_owned()).or_insert(0);
        *gen += 1;
        let my_gen = *gen;
        let key = key.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ =
                w.tx.send(Msg::Debounced(Box::new((key, my_gen, handler))))
                    .await;
        });
        Ok(())
    }

    /// True when the debounce `key` was not re-armed since generation `gen`.
    pub(crate) fn debounce_current(&self, key: &str, gen: u64) -> bool {
        self.debounces.get(key) == Some(&gen)
    }
}

/// A call of `handler` with `args` on an instance, answered to nobody.
pub(crate) fn handler_call(
    handler: &'static str,
    args: Vec<Value>,
    source: CallSource,
    hops: u8,
) -> Msg {
    Msg::Call(Box::new(CallMsg {
        method: handler.to_owned(),
        args,
        trace: None,
        source,
        reply: ReplyTo::Nobody,
        key: None,
        hops,
    }))
}
