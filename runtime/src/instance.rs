//! One component instance: an actor task that owns the state and runs its
//! messages one at a time, in arrival order, so actions never race.
//!
//! Each action: dispatch (panics caught) → serialize the new state → diff
//! against the last sent state → bump the version and send one patch (only
//! when something changed) → emitted events → reply. On `Err` or panic the
//! state is restored from the last serialized state, so a failing action
//! changes nothing.

use crate::component::{Component, Step};
use crate::ctx::Ctx;
use crate::error::ActionError;
use crate::runtime::Runtime;
use crate::session::Session;
use axum::extract::ws::Utf8Bytes;
use fluxlive_instrumentation::{Event, EventBody, InstanceKey, Recorder, TypeMeta};
use fluxlive_protocol::app::{InstanceState, ServerFrame};
use fluxlive_protocol::debug::InstanceInfo;
use fluxlive_protocol::record::{CallSource, TraceContext, UnmountReason};
use fluxlive_protocol::{Patch, PatchOperation};
use futures_util::FutureExt;
use serde_json::Value;
use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Cheap handle to a running instance.
#[derive(Clone)]
pub(crate) struct InstanceHandle {
    pub(crate) shared: Arc<InstanceShared>,
}

pub(crate) struct InstanceShared {
    pub(crate) key: InstanceKey,
    pub(crate) session: Arc<Session>,
    pub(crate) tx: mpsc::Sender<Msg>,
    /// The latest published state, for resume and DevTools snapshots
    /// without a round trip through the mailbox.
    snap: Mutex<Snapshot>,
}

/// The latest published version of an instance.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) version: u64,
    full: Arc<Value>,
    props: Arc<Value>,
    server_only: &'static [&'static str],
}

impl InstanceHandle {
    pub(crate) fn iid(&self) -> u64 {
        self.shared.key.iid
    }
    pub(crate) fn id(&self) -> &Arc<str> {
        &self.shared.key.id
    }
    pub(crate) fn component(&self) -> &'static str {
        self.shared.key.meta.name
    }
    pub(crate) fn meta(&self) -> &'static TypeMeta {
        self.shared.key.meta
    }
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.shared
            .snap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Where the answer to a call goes.
pub(crate) enum ReplyTo {
    /// A reply/error frame to the owning client with this `ref`.
    Client(u32),
    /// A Rust caller (debug dispatch, replay, tests).
    Channel(oneshot::Sender<Result<Value, ActionError>>),
}

/// Time travel: the recorded state, its version, and where to answer with the new version.
pub(crate) type RestoreMsg = (Value, u64, oneshot::Sender<Result<u64, String>>);

pub(crate) struct CallMsg {
    pub(crate) method: String,
    pub(crate) args: Vec<Value>,
    pub(crate) trace: Option<String>,
    pub(crate) source: CallSource,
    pub(crate) reply: ReplyTo,
}

/// Messages an instance actor processes, one at a time. Large payloads are
/// boxed so that the mailbox's slots stay small (memory per instance).
pub(crate) enum Msg {
    Call(Box<CallMsg>),
    Props(Box<(Value, ReplyTo)>),
    /// Send the full state to the owner (after a version gap).
    Sync,
    /// Replace the visible state (time travel); answers with the new version.
    Restore(Box<RestoreMsg>),
    Stop(UnmountReason, Option<u32>),
}

impl Snapshot {
    pub(crate) fn visible(&self) -> Value {
        visible_state(&self.full, self.server_only)
    }
    pub(crate) fn into_state(self, h: &InstanceHandle) -> InstanceState {
        InstanceState {
            id: h.id().to_string(),
            component: h.component().to_owned(),
            version: self.version,
            state: self.visible(),
        }
    }
    pub(crate) fn into_info(self, h: &InstanceHandle) -> InstanceInfo {
        InstanceInfo {
            iid: h.iid(),
            id: h.id().to_string(),
            component: h.component().to_owned(),
            conn: h.shared.session.id,
            version: self.version,
            state: self.visible(),
            props: (*self.props).clone(),
            travelling: false,
        }
    }
}

/// Type-erased constructor of one component type.
pub(crate) trait Factory: Send + Sync {
    fn meta(&self) -> &'static TypeMeta;
    fn spawn(
        &self,
        rt: &Arc<Runtime>,
        session: &Arc<Session>,
        id: Arc<str>,
        props: Value,
        req: u32,
    ) -> Result<InstanceHandle, crate::error::Rejection>;
    /// A detached copy for the replay engine, from props (a mount record)
    /// or from a recorded state (a folded base).
    fn replica(
        &self,
        seed: Value,
        from_props: bool,
    ) -> futures_util::future::BoxFuture<'static, Result<Box<dyn crate::replay::Replica>, String>>;
}

pub(crate) struct TypedFactory<C>(std::marker::PhantomData<fn() -> C>);

impl<C> TypedFactory<C> {
    pub(crate) fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<C: Component> Factory for TypedFactory<C> {
    fn meta(&self) -> &'static TypeMeta {
        C::meta()
    }

    fn replica(
        &self,
        seed: Value,
        from_props: bool,
    ) -> futures_util::future::BoxFuture<'static, Result<Box<dyn crate::replay::Replica>, String>>
    {
        crate::replay::boxed_replica::<C>(seed, from_props)
    }

    fn spawn(
        &self,
        rt: &Arc<Runtime>,
        session: &Arc<Session>,
        id: Arc<str>,
        props_json: Value,
        req: u32,
    ) -> Result<InstanceHandle, crate::error::Rejection> {
        let props: C::Props = decode_props::<C>(&props_json)?;
        let iid = rt.next_iid();
        let key = InstanceKey {
            iid,
            id: id.clone(),
            meta: C::meta(),
        };
        let mut ctx = Ctx::new(id.clone(), iid, session.id, C::NAME);
        let created = std::panic::catch_unwind(AssertUnwindSafe(|| C::create(props, &mut ctx)));
        let state = match created {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(crate::error::Rejection::BadProps {
                    component: C::NAME,
                    reason: e.to_string(),
                })
            }
            Err(p) => {
                let message = panic_message(&p);
                rt.recorder.record(Event {
                    conn: session.id,
                    instance: Some(key),
                    body: EventBody::Panic {
                        method: Cow::Borrowed("mount"),
                        message: message.clone(),
                    },
                });
                return Err(crate::error::Rejection::BadProps {
                    component: C::NAME,
                    reason: format!("mount panicked: {message}"),
                });
            }
        };
        let (tx, rx) = mpsc::channel(rt.config.mailbox);
        let props_json = Arc::new(props_json);
        let shared = Arc::new(InstanceShared {
            key,
            session: session.clone(),
            tx,
            snap: Mutex::new(Snapshot {
                version: 0,
                full: Arc::new(Value::Null),
                props: props_json.clone(),
                server_only: C::SERVER_ONLY,
            }),
        });
        let handle = InstanceHandle { shared };
        let actor = Actor::<C> {
            state,
            ctx,
            version: 0,
            last: Arc::new(Value::Null),
            props: props_json,
            handle: handle.clone(),
            rt: rt.clone(),
        };
        rt.register(handle.clone());
        tokio::spawn(actor.run(rx, req));
        Ok(handle)
    }
}

fn decode_props<C: Component>(props: &Value) -> Result<C::Props, crate::error::Rejection> {
    match serde_json::from_value::<C::Props>(props.clone()) {
        Ok(p) => Ok(p),
        Err(first) => {
            // `null`/absent props are accepted where an empty object is.
            if props.is_null() {
                if let Ok(p) = serde_json::from_value::<C::Props>(Value::Object(Default::default()))
                {
                    return Ok(p);
                }
            }
            Err(crate::error::Rejection::BadProps {
                component: C::NAME,
                reason: first.to_string(),
            })
        }
    }
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

struct Actor<C: Component> {
    state: C,
    ctx: Ctx,
    version: u64,
    /// The full serialized state at `version` (server-only fields included):
    /// the diff base and the rollback point.
    last: Arc<Value>,
    props: Arc<Value>,
    handle: InstanceHandle,
    rt: Arc<Runtime>,
}

enum Ran {
    Ok(Value),
    Err(ActionError),
}

impl<C: Component> Actor<C> {
    fn recorder(&self) -> &Recorder {
        &self.rt.recorder
    }

    fn record(&self, body: EventBody) {
        let rec = self.recorder();
        if rec.enabled() {
            rec.record(Event {
                conn: self.handle.shared.session.id,
                instance: Some(self.handle.shared.key.clone()),
                body,
            });
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, mount_req: u32) {
        self.last = match serde_json::to_value(&self.state) {
            Ok(v) => Arc::new(v),
            Err(e) => {
                self.send_frame(&ServerFrame::Error(
                    crate::error::Rejection::BadProps {
                        component: C::NAME,
                        reason: format!("state does not serialize: {e}"),
                    }
                    .to_frame(Some(mount_req)),
                ));
                self.finish(UnmountReason::Shutdown, None, false).await;
                return;
            }
        };
        let (state, ctx) = (&mut self.state, &mut self.ctx);
        let step = std::panic::catch_unwind(AssertUnwindSafe(move || {
            let (state, ctx) = (state, ctx);
            state.mounted(ctx)
        }));
        let res = drive::<C>("on_mount", step).await;
        let hook = self.after_step("on_mount", res);
        if let Ran::Err(e) = &hook {
            tracing::warn!(target: "fluxlive::rejection", component = C::NAME, error = %e, "on_mount failed");
        }
        // on_mount's changes are part of the mounted state, not a patch.
        if let Ok(v) = serde_json::to_value(&self.state) {
            self.last = Arc::new(v);
        }
        self.store_snapshot();
        self.ctx.events.clear();
        let visible = self.visible(&self.last);
        self.record(EventBody::Mount {
            props: (*self.props).clone(),
            version: self.version,
            state: visible.clone(),
        });
        self.send_frame(&ServerFrame::Mounted {
            req: mount_req,
            id: self.handle.id().to_string(),
            component: C::NAME.to_owned(),
            version: self.version,
            state: visible,
        });
        if let Ran::Err(e) = hook {
            self.send_frame(&ServerFrame::Error(e.to_frame(None, self.handle.id())));
        }

        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Call(call) => self.call(*call).await,
                Msg::Props(p) => {
                    let (props, reply) = *p;
                    self.props_changed(props, reply).await
                }
                Msg::Sync => {
                    let state = self.visible(&self.last);
                    self.send_frame(&ServerFrame::State {
                        id: self.handle.id().to_string(),
                        version: self.version,
                        state,
                    });
                }
                Msg::Restore(r) => {
                    let (state, target, tx) = *r;
                    let res = self.restore(state, target);
                    let _ = tx.send(res);
                }
                Msg::Stop(reason, req) => {
                    self.finish(reason, req, true).await;
                    return;
                }
            }
        }
        // Every sender is gone: the runtime dropped us (shutdown).
        self.finish(UnmountReason::Shutdown, None, true).await;
    }

    async fn finish(&mut self, reason: UnmountReason, req: Option<u32>, run_hook: bool) {
        if run_hook {
            let (state, ctx) = (&mut self.state, &mut self.ctx);
            let step = std::panic::catch_unwind(AssertUnwindSafe(move || {
                let (state, ctx) = (state, ctx);
                state.unmounting(ctx)
            }));
            let res = drive::<C>("on_unmount", step).await;
            if let Ran::Err(e) = self.after_step("on_unmount", res) {
                tracing::warn!(target: "fluxlive::rejection", component = C::NAME, error = %e, "on_unmount failed");
            }
        }
        self.record(EventBody::Unmount {
            reason,
            version: self.version,
        });
        if reason == UnmountReason::Client {
            self.send_frame(&ServerFrame::Unmounted {
                req,
                id: self.handle.id().to_string(),
            });
        }
        self.rt.unregister(self.handle.iid());
    }

    /// Turns a finished step into [`Ran`], recording panics.
    fn after_step(&self, method: &str, res: Result<Value, ActionError>) -> Ran {
        match res {
            Ok(v) => Ran::Ok(v),
            Err(e) => {
                if let ActionError::Panicked { message, .. } = &e {
                    self.record(EventBody::Panic {
                        method: Cow::Owned(method.to_owned()),
                        message: message.clone(),
                    });
                }
                Ran::Err(e)
            }
        }
    }

    async fn call(&mut self, msg: CallMsg) {
        let started = Instant::now();
        let CallMsg {
            method,
            args,
            trace,
            source,
            reply,
        } = msg;
        let recording = self.recorder().enabled();
        let rec_args = if recording { args.clone() } else { Vec::new() };
        let trace = trace.as_deref().and_then(server_span);
        let version_before = self.version;
        let (state, ctx) = (&mut self.state, &mut self.ctx);
        let step =
            std::panic::catch_unwind(AssertUnwindSafe(|| state.dispatch(&method, args, ctx)));
        let res = drive::<C>(&method, step).await;
        let ran = self.after_step(&method, res);
        let outcome = self.settle(ran, trace.as_ref()).await;
        let outcome = match outcome {
            Err(ActionError::UnknownMethod {
                component,
                method: m,
                ..
            }) => Err(ActionError::UnknownMethod {
                component,
                method: m,
                available: C::meta()
                    .actions
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            other => other,
        };
        if recording {
            let method_name = C::meta()
                .actions
                .iter()
                .find(|a| a.name == method)
                .map(|a| Cow::Borrowed(a.name))
                .unwrap_or_else(|| Cow::Owned(method.clone()));
            self.record(EventBody::Action {
                method: method_name,
                args: rec_args,
                started,
                dur: started.elapsed(),
                outcome: match &outcome {
                    Ok(v) => Ok(v.clone()),
                    Err(e) => Err((e.code(), e.to_string())),
                },
                version_before,
                version_after: self.version,
                trace: trace.clone(),
                source,
            });
        }
        self.answer(reply, outcome);
    }

    async fn props_changed(&mut self, props_json: Value, reply: ReplyTo) {
        let outcome = match decode_props::<C>(&props_json) {
            Err(rej) => Err(ActionError::BadArgs {
                component: C::NAME,
                method: "on_props_changed".into(),
                reason: rej.to_string(),
            }),
            Ok(props) => {
                let (state, ctx) = (&mut self.state, &mut self.ctx);
                let step = std::panic::catch_unwind(AssertUnwindSafe(move || {
                    state.props_changed(props, ctx)
                }));
                let res = drive::<C>("on_props_changed", step).await;
                let ran = self.after_step("on_props_changed", res);
                let out = self.settle(ran, None).await;
                if out.is_ok() {
                    self.props = Arc::new(props_json);
                    self.store_snapshot();
                }
                out
            }
        };
        self.answer(reply, outcome);
    }

    /// After a step: on success publish the change; on failure roll back.
    async fn settle(
        &mut self,
        ran: Ran,
        trace: Option<&TraceContext>,
    ) -> Result<Value, ActionError> {
        match ran {
            Ran::Ok(v) => {
                let t0 = Instant::now();
                match serde_json::to_value(&self.state) {
                    Ok(new) => {
                        self.publish(new, t0, trace);
                        self.flush_events();
                        Ok(v)
                    }
                    Err(e) => {
                        let err = ActionError::State {
                            component: C::NAME,
                            method: "serialize".into(),
                            reason: e.to_string(),
                        };
                        self.rollback();
                        Err(err)
                    }
                }
            }
            Ran::Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn rollback(&mut self) {
        self.ctx.events.clear();
        let changed = serde_json::to_value(&self.state)
            .map(|now| now != *self.last)
            .unwrap_or(true);
        if changed {
            match serde_json::from_value::<C>((*self.last).clone()) {
                Ok(s) => self.state = s,
                Err(e) => tracing::error!(
                    target: "fluxlive::rejection",
                    component = C::NAME,
                    error = %e,
                    "could not roll back state (does every field round-trip through serde?)"
                ),
            }
        }
    }

    /// Diffs `new` against the last state and, when it differs, bumps the
    /// version and sends one patch.
    fn publish(&mut self, new: Value, t0: Instant, trace: Option<&TraceContext>) {
        let ops = visible_diff(&self.last, &new, C::SERVER_ONLY);
        let changed = !ops.0.is_empty() || *self.last != new;
        self.last = Arc::new(new);
        if ops.0.is_empty() {
            if changed {
                // Only server-only fields changed: keep the snapshot current.
                self.store_snapshot();
            }
            return;
        }
        let diff_time = t0.elapsed();
        let base = self.version;
        self.version += 1;
        self.store_snapshot();
        let t1 = Instant::now();
        let frame = ServerFrame::Patch {
            id: self.handle.id().to_string(),
            base,
            version: self.version,
            ops,
            trace: trace.map(TraceContext::traceparent),
        };
        let encoded = encode(&frame);
        let bytes = encoded.as_ref().map(|s| s.len()).unwrap_or(0);
        let encode_time = t1.elapsed();
        if let Some(text) = encoded {
            self.handle.shared.session.send(text);
        }
        if self.recorder().enabled() {
            if let ServerFrame::Patch { ops, .. } = frame {
                self.record(EventBody::Diff {
                    base,
                    version: self.version,
                    ops,
                    bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                    diff: diff_time,
                    encode: encode_time,
                    trace: trace.cloned(),
                });
            }
        }
    }

    fn flush_events(&mut self) {
        for (name, data) in std::mem::take(&mut self.ctx.events) {
            let frame = ServerFrame::Event {
                id: self.handle.id().to_string(),
                name: name.to_string(),
                data,
            };
            if let Some(text) = encode(&frame) {
                self.handle.shared.session.send(text);
            }
            if self.recorder().enabled() {
                if let ServerFrame::Event { data, .. } = frame {
                    self.record(EventBody::Emit { name, data });
                }
            }
        }
    }

    fn answer(&self, reply: ReplyTo, outcome: Result<Value, ActionError>) {
        match reply {
            ReplyTo::Client(req) => {
                let frame = match outcome {
                    Ok(result) => ServerFrame::Reply {
                        req,
                        id: self.handle.id().to_string(),
                        result,
                    },
                    Err(e) => ServerFrame::Error(e.to_frame(Some(req), self.handle.id())),
                };
                self.send_frame(&frame);
            }
            ReplyTo::Channel(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }

    /// Time travel: make `state` (a recorded visible state) current as a new
    /// version. Server-only and redacted fields keep their current values,
    /// since records never hold them in clear.
    fn restore(&mut self, state: Value, target: u64) -> Result<u64, String> {
        let mut full = (*self.last).clone();
        match (&mut full, state) {
            (Value::Object(cur), Value::Object(rec)) => {
                for (k, v) in rec {
                    if C::REDACTED.contains(&k.as_str()) || C::SERVER_ONLY.contains(&k.as_str()) {
                        continue;
                    }
                    cur.insert(k, v);
                }
            }
            (slot, rec) => *slot = rec,
        }
        let restored: C = serde_json::from_value(full.clone())
            .map_err(|e| format!("{}: recorded state does not fit the type: {e}", C::NAME))?;
        self.state = restored;
        let before = self.version;
        self.publish(full, Instant::now(), None);
        if self.version != before {
            self.record(EventBody::TimeTravel {
                target,
                version: self.version,
            });
        }
        Ok(self.version)
    }

    fn visible(&self, full: &Value) -> Value {
        visible_state(full, C::SERVER_ONLY)
    }

    fn store_snapshot(&self) {
        let snap = Snapshot {
            version: self.version,
            full: self.last.clone(),
            props: self.props.clone(),
            server_only: C::SERVER_ONLY,
        };
        *self
            .handle
            .shared
            .snap
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = snap;
    }

    fn send_frame(&self, frame: &ServerFrame) {
        if let Some(text) = encode(frame) {
            self.handle.shared.session.send(text);
        }
    }
}

/// Drives a hook or action step to completion, turning a panic into
/// [`ActionError::Panicked`].
pub(crate) async fn drive<C: Component>(
    method: &str,
    step: std::thread::Result<Step<'_>>,
) -> Result<Value, ActionError> {
    let res = match step {
        Ok(Step::Ready(r)) => Ok(r),
        Ok(Step::Pending(fut)) => AssertUnwindSafe(fut).catch_unwind().await,
        Err(p) => Err(p),
    };
    match res {
        Ok(r) => r,
        Err(p) => {
            let message = panic_message(&p);
            tracing::error!(target: "fluxlive::rejection", component = C::NAME, method, %message, "component panicked; state rolled back");
            Err(ActionError::Panicked {
                component: C::NAME,
                method: method.to_owned(),
                message,
            })
        }
    }
}

/// The patch from `old` to `new`, without server-only fields.
pub(crate) fn visible_diff(old: &Value, new: &Value, server_only: &[&str]) -> Patch {
    let mut ops = json_patch::diff(old, new);
    if !server_only.is_empty() {
        ops.0.retain(|op| !is_server_only(op, server_only));
    }
    ops
}

/// The client-visible part of a serialized state.
pub(crate) fn visible_state(full: &Value, server_only: &[&str]) -> Value {
    match full {
        Value::Object(map) if !server_only.is_empty() => Value::Object(
            map.iter()
                .filter(|(k, _)| !server_only.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn is_server_only(op: &PatchOperation, keys: &[&str]) -> bool {
    let path = op.path().as_str();
    keys.iter().any(|k| {
        path.strip_prefix('/')
            .and_then(|p| p.strip_prefix(*k))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

pub(crate) fn encode(frame: &ServerFrame) -> Option<Utf8Bytes> {
    match serde_json::to_string(frame) {
        Ok(s) => Some(Utf8Bytes::from(s)),
        Err(e) => {
            tracing::error!(target: "fluxlive::rejection", error = %e, "could not encode a frame");
            None
        }
    }
}

/// A server span for a call that carried a valid `traceparent`.
fn server_span(traceparent: &str) -> Option<TraceContext> {
    let (trace_id, parent, flags) = TraceContext::parse_traceparent(traceparent)?;
    Some(TraceContext {
        trace_id,
        span_id: format!("{:016x}", rand::random::<u64>() | 1),
        parent_span_id: Some(parent),
        flags,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z~/]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z~/]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any state change round-trips: applying diff(old, new) to old gives new.
        #[test]
        fn diff_then_apply_round_trips(old in json_value(), new in json_value()) {
            let ops = visible_diff(&old, &new, &[]);
            let mut got = old.clone();
            json_patch::patch(&mut got, &ops).unwrap();
            prop_assert_eq!(got, new);
        }

        /// Server-only keys never appear in a patch, and the rest still round-trips.
        #[test]
        fn server_only_keys_are_filtered(
            a in json_value(), b in json_value(), sa in json_value(), sb in json_value()
        ) {
            let old = serde_json::json!({"pub": a, "hidden": sa});
            let new = serde_json::json!({"pub": b.clone(), "hidden": sb});
            let ops = visible_diff(&old, &new, &["hidden"]);
            for op in &ops.0 {
                prop_assert!(!op.path().as_str().starts_with("/hidden"));
            }
            let mut got = visible_state(&old, &["hidden"]);
            json_patch::patch(&mut got, &ops).unwrap();
            prop_assert_eq!(got, serde_json::json!({"pub": b}));
        }
    }

    #[test]
    fn server_only_prefix_does_not_match_longer_keys() {
        let op: PatchOperation = serde_json::from_value(
            serde_json::json!({"op": "replace", "path": "/hiddenness", "value": 1}),
        )
        .unwrap();
        assert!(!is_server_only(&op, &["hidden"]));
        let op: PatchOperation = serde_json::from_value(
            serde_json::json!({"op": "replace", "path": "/hidden/x", "value": 1}),
        )
        .unwrap();
        assert!(is_server_only(&op, &["hidden"]));
    }
}
