//! One component instance: an actor task that owns the state and runs its
//! messages one at a time, in arrival order, so actions never race.
//!
//! Each action: dispatch (panics caught) → serialize the new state → diff
//! against the last published state → bump the version and send one patch
//! to every owner (encoded once) → emitted events and bus effects → reply.
//! On `Err` or panic the state is restored from the last published state,
//! so a failing action changes nothing.

use crate::component::{Component, Step};
use crate::ctx::{handler_call, Ctx, Wiring};
use crate::error::{ActionError, Rejection};
use crate::runtime::Runtime;
use crate::session::Session;
use crate::signing::SnapshotError;
use crate::visible::{visible_diff, visible_state, VisibleRef};
use axum::extract::ws::Utf8Bytes;
// The recorder's clock (a TSC read), not std's: see its module docs.
use fluxlive_instrumentation::clock::Instant;
use fluxlive_instrumentation::{DiffPart, Event, EventBody, InstanceKey, Recorder, TypeMeta};
use fluxlive_protocol::app::{InstanceState, ServerFrame, SignedState};
use fluxlive_protocol::debug::InstanceInfo;
use fluxlive_protocol::record::{CallSource, TraceContext, UnmountReason};
use futures_util::FutureExt;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot};

/// Idempotency keys remembered per instance.
const RECENT_KEYS: usize = 512;
/// Largest emit list (in events) an actor keeps for its next action.
const REUSED_EMITS: usize = 8;
/// Longest chain of dependency-triggered updates (defence in depth: cycles
/// are refused when declared).
const MAX_HOPS: u8 = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn first_id(owners: &[Arc<Session>]) -> u64 {
    owners.first().map_or(0, |s| s.id)
}

/// Cheap handle to a running instance.
#[derive(Clone)]
pub(crate) struct InstanceHandle {
    pub(crate) shared: Arc<InstanceShared>,
}

pub(crate) struct InstanceShared {
    pub(crate) key: InstanceKey,
    pub(crate) tx: mpsc::Sender<Msg>,
    /// A shared instance: every session that mounts its key owns it.
    pub(crate) is_shared: bool,
    /// Sessions that hold this instance and receive its frames.
    owners: Mutex<Vec<Arc<Session>>>,
    /// Id of `owners[0]` (0 when none), kept beside it under its lock so
    /// that every recorded event can name its connection without taking
    /// that lock.
    first_owner: AtomicU64,
    /// The latest published state, for resume and DevTools snapshots
    /// without a round trip through the mailbox.
    snap: Mutex<Snapshot>,
}

impl InstanceShared {
    pub(crate) fn owners(&self) -> Vec<Arc<Session>> {
        lock(&self.owners).clone()
    }

    /// Sends one encoded frame to every owner (cloning bytes, not re-encoding).
    pub(crate) fn send_all(&self, text: &Utf8Bytes) {
        for s in lock(&self.owners).iter() {
            s.send(text.clone());
        }
    }

    pub(crate) fn first_conn(&self) -> u64 {
        self.first_owner.load(Ordering::Relaxed)
    }

    fn add_owner(&self, s: Arc<Session>) {
        let mut o = lock(&self.owners);
        if !o.iter().any(|x| x.id == s.id) {
            o.push(s);
        }
        self.first_owner.store(first_id(&o), Ordering::Relaxed);
    }

    fn remove_owner(&self, id: u64) -> usize {
        let mut o = lock(&self.owners);
        o.retain(|x| x.id != id);
        self.first_owner.store(first_id(&o), Ordering::Relaxed);
        o.len()
    }
}

/// The latest published version of an instance.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) version: u64,
    full: Arc<Value>,
    props: Arc<Value>,
    server_only: &'static [&'static str],
    pub(crate) sig: Option<String>,
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
        lock(&self.shared.snap).clone()
    }
}

/// Where the answer to a call goes.
pub(crate) enum ReplyTo {
    /// A reply/error frame to this session with this `ref`.
    Session(Arc<Session>, u32),
    /// A Rust caller (debug dispatch, batch calls, tests).
    Channel(oneshot::Sender<Result<Value, ActionError>>),
    /// Nobody (event handlers, dependency updates, timers).
    Nobody,
}

pub(crate) struct CallMsg {
    pub(crate) method: String,
    pub(crate) args: Vec<Value>,
    pub(crate) trace: Option<String>,
    pub(crate) source: CallSource,
    pub(crate) reply: ReplyTo,
    /// Idempotency key: a call seen before is answered from memory.
    pub(crate) key: Option<String>,
    /// Dependency hops that led to this call.
    pub(crate) hops: u8,
}

/// Time travel: the recorded state, its version, and where to answer with the new version.
pub(crate) type RestoreMsg = (Value, u64, oneshot::Sender<Result<u64, String>>);

/// Messages an instance actor processes, one at a time. Large payloads are
/// boxed so that the mailbox's slots stay small (memory per instance).
pub(crate) enum Msg {
    Call(Box<CallMsg>),
    Props(Box<(Value, ReplyTo)>),
    /// Send the full state to this session (after a version gap).
    Sync(Arc<Session>),
    /// A shared instance gains an owner; send it `mounted` with this `ref`.
    Attach(Box<(Arc<Session>, u32)>),
    /// An owner lets go; the instance stops when none is left.
    Detach(Box<(Arc<Session>, Option<u32>, UnmountReason)>),
    /// Replace the visible state (time travel); answers with the new version.
    Restore(Box<RestoreMsg>),
    /// A debounce timer fired: (key, generation, handler).
    Debounced(Box<(String, u64, &'static str)>),
    Stop(UnmountReason, Option<(Arc<Session>, u32)>),
}

/// How an instance starts.
pub(crate) enum Seed {
    /// From props, through the component's `mount`.
    Props(Value),
    /// From a signed client-held state (rehydration); props are kept for DevTools.
    Signed(Value, SignedState),
}

/// Who hears about the finished mount.
pub(crate) enum MountReply {
    Frame(Arc<Session>, u32),
    Channel(oneshot::Sender<Result<Snapshot, ActionError>>),
}

impl Snapshot {
    pub(crate) fn full(&self) -> &Value {
        &self.full
    }
    pub(crate) fn visible(&self) -> Value {
        visible_state(&self.full, self.server_only)
    }
    pub(crate) fn into_state(self, h: &InstanceHandle) -> InstanceState {
        InstanceState {
            id: h.id().to_string(),
            component: h.component().to_owned(),
            version: self.version,
            state: self.visible(),
            sig: self.sig.clone(),
        }
    }
    pub(crate) fn into_info(self, h: &InstanceHandle) -> InstanceInfo {
        InstanceInfo {
            iid: h.iid(),
            id: h.id().to_string(),
            component: h.component().to_owned(),
            conn: h.shared.first_conn(),
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
    fn is_shared(&self) -> bool;
    fn spawn(
        &self,
        rt: &Arc<Runtime>,
        owner: Option<Arc<Session>>,
        id: Arc<str>,
        seed: Seed,
        reply: MountReply,
    ) -> Result<InstanceHandle, Rejection>;
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

    fn is_shared(&self) -> bool {
        C::SHARED
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
        owner: Option<Arc<Session>>,
        id: Arc<str>,
        seed: Seed,
        reply: MountReply,
    ) -> Result<InstanceHandle, Rejection> {
        let iid = rt.next_iid();
        let conn = owner.as_ref().map(|s| s.id).unwrap_or(0);
        let key = InstanceKey {
            iid,
            id: id.clone(),
            meta: C::meta(),
        };
        let mut ctx = Ctx::new(id.clone(), iid, conn, C::NAME, C::HANDLERS);
        let (state, version, props_json, rehydrated) = match seed {
            Seed::Props(props_json) => {
                let props: C::Props = decode_props::<C>(&props_json)?;
                let created =
                    std::panic::catch_unwind(AssertUnwindSafe(|| C::create(props, &mut ctx)));
                let state = match created {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return Err(Rejection::BadProps {
                            component: C::NAME,
                            reason: e.to_string(),
                        })
                    }
                    Err(p) => {
                        let message = panic_message(&p);
                        rt.recorder.record(Event {
                            conn,
                            instance: Some(key),
                            body: EventBody::Panic {
                                method: Cow::Borrowed("mount"),
                                message: message.clone(),
                            },
                        });
                        return Err(Rejection::BadProps {
                            component: C::NAME,
                            reason: format!("mount panicked: {message}"),
                        });
                    }
                };
                (state, 0, props_json, false)
            }
            Seed::Signed(props_json, snap) => {
                let signer = rt.signer.as_ref().ok_or_else(|| Rejection::BadSnapshot {
                    component: C::NAME,
                    id: id.to_string(),
                    reason: "rehydration is turned off on this server".into(),
                })?;
                signer
                    .verify(C::NAME, &id, &snap)
                    .map_err(|e| Rejection::BadSnapshot {
                        component: C::NAME,
                        id: id.to_string(),
                        reason: e.to_string(),
                    })?;
                let state: C = serde_json::from_value(snap.state.clone()).map_err(|e| {
                    Rejection::BadSnapshot {
                        component: C::NAME,
                        id: id.to_string(),
                        reason: SnapshotError::Shape {
                            component: C::NAME,
                            reason: e.to_string(),
                        }
                        .to_string(),
                    }
                })?;
                (state, snap.version, props_json, true)
            }
        };
        let (tx, rx) = mpsc::channel(rt.config.mailbox);
        let props_json = Arc::new(props_json);
        let shared = Arc::new(InstanceShared {
            key,
            tx: tx.clone(),
            is_shared: C::SHARED,
            first_owner: AtomicU64::new(first_id(owner.as_slice())),
            owners: Mutex::new(owner.iter().cloned().collect()),
            snap: Mutex::new(Snapshot {
                version,
                full: Arc::new(Value::Null),
                props: props_json.clone(),
                server_only: C::SERVER_ONLY,
                sig: None,
            }),
        });
        let handle = InstanceHandle { shared };
        ctx.wiring = Some(Wiring {
            rt: rt.clone(),
            session: owner,
            tx,
        });
        let actor = Actor::<C> {
            state,
            ctx,
            version,
            last: Arc::new(Value::Null),
            props: props_json,
            handle: handle.clone(),
            rt: rt.clone(),
            recent: RecentKeys::default(),
            sig: None,
            recorder_behind: false,
            pending: RefCell::default(),
        };
        rt.register(handle.clone());
        tokio::spawn(actor.run(rx, reply, rehydrated));
        Ok(handle)
    }
}

fn decode_props<C: Component>(props: &Value) -> Result<C::Props, Rejection> {
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
            Err(Rejection::BadProps {
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

/// Outcomes of recent idempotent calls, oldest evicted first.
#[derive(Default)]
struct RecentKeys {
    map: HashMap<String, Result<Value, ActionError>>,
    order: VecDeque<String>,
}

impl RecentKeys {
    fn get(&self, key: &str) -> Option<&Result<Value, ActionError>> {
        self.map.get(key)
    }
    fn put(&mut self, key: String, outcome: Result<Value, ActionError>) {
        if self.map.insert(key.clone(), outcome).is_none() {
            self.order.push_back(key);
            if self.order.len() > RECENT_KEYS {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
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
    recent: RecentKeys,
    /// Signature of the state at `version`.
    sig: Option<String>,
    /// True when a version was published while recording was off or paused.
    recorder_behind: bool,
    /// The diff and emits of the step in progress, not yet recorded: a call
    /// records them inside its action event (one push per action); any other
    /// record, and the end of every message, records them on their own.
    pending: RefCell<PendingRecords>,
}

#[derive(Default)]
struct PendingRecords {
    diff: Option<DiffPart>,
    emits: Vec<(Cow<'static, str>, Value)>,
    trace: Option<Arc<TraceContext>>,
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
        self.record_pending();
        let rec = self.recorder();
        if rec.enabled() {
            let ev = Event {
                conn: self.handle.shared.first_conn(),
                instance: Some(self.handle.shared.key.clone()),
                body,
            };
            rec.record_ref(&ev);
            if let EventBody::Action { mut emits, .. } = ev.body {
                // Most actions of a component emit the same way each time:
                // the next one reuses this list instead of allocating one.
                // Not a large one: one burst must not pin memory per instance.
                if emits.capacity() <= REUSED_EMITS {
                    emits.clear();
                    if let Ok(mut p) = self.pending.try_borrow_mut() {
                        if p.emits.capacity() == 0 {
                            p.emits = emits;
                        }
                    }
                }
            }
        }
    }

    /// Records a pending diff and emits on their own (a step that was not a call).
    fn record_pending(&self) {
        let Ok(mut p) = self.pending.try_borrow_mut() else {
            return;
        };
        if p.diff.is_none() && p.emits.is_empty() {
            return;
        }
        let PendingRecords { diff, emits, trace } = std::mem::take(&mut *p);
        drop(p);
        let rec = self.recorder();
        let conn = self.handle.shared.first_conn();
        if let Some(d) = diff {
            let at = d.at;
            rec.record_at(
                Event {
                    conn,
                    instance: Some(self.handle.shared.key.clone()),
                    body: d.into_body(trace),
                },
                at,
            );
        }
        for (name, data) in emits {
            rec.record(Event {
                conn,
                instance: Some(self.handle.shared.key.clone()),
                body: EventBody::Emit { name, data },
            });
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, reply: MountReply, rehydrated: bool) {
        self.last = match serde_json::to_value(&self.state) {
            Ok(v) => Arc::new(v),
            Err(e) => {
                let err = ActionError::State {
                    component: C::NAME,
                    method: "mount".into(),
                    reason: format!("state does not serialize: {e}"),
                };
                match reply {
                    MountReply::Frame(s, req) => self.send_to(
                        &s,
                        &ServerFrame::Error(err.to_frame(Some(req), self.handle.id())),
                    ),
                    MountReply::Channel(tx) => {
                        let _ = tx.send(Err(err));
                    }
                }
                self.finish(UnmountReason::Shutdown, None, false).await;
                return;
            }
        };
        let mut hook = Ran::Ok(Value::Null);
        if !rehydrated {
            let (state, ctx) = (&mut self.state, &mut self.ctx);
            let step = std::panic::catch_unwind(AssertUnwindSafe(move || {
                let (state, ctx) = (state, ctx);
                state.mounted(ctx)
            }));
            let res = drive::<C>("on_mount", step).await;
            hook = self.after_step("on_mount", res);
            if let Ran::Err(e) = &hook {
                tracing::warn!(target: "fluxlive::rejection", component = C::NAME, error = %e, "on_mount failed");
            }
            // on_mount's changes are part of the mounted state, not a patch.
            if let Ok(v) = serde_json::to_value(&self.state) {
                self.last = Arc::new(v);
            }
            self.ctx.effects = Default::default();
        }
        let visible = self.visible(&self.last);
        self.sig = self.sign(&visible);
        self.store_snapshot();
        self.record(EventBody::Mount {
            props: (*self.props).clone(),
            version: self.version,
            state: visible.clone(),
        });
        match reply {
            MountReply::Frame(s, req) => {
                self.send_to(&s, &self.mounted_frame(req, visible, rehydrated));
                if let Ran::Err(e) = hook {
                    self.send_to(&s, &ServerFrame::Error(e.to_frame(None, self.handle.id())));
                }
            }
            MountReply::Channel(tx) => {
                let _ = tx.send(Ok(self.handle.snapshot()));
            }
        }

        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Call(call) => self.call(*call).await,
                Msg::Props(p) => {
                    let (props, reply) = *p;
                    self.props_changed(props, reply).await
                }
                Msg::Sync(s) => {
                    let state = self.visible(&self.last);
                    self.send_to(
                        &s,
                        &ServerFrame::State {
                            id: self.handle.id().to_string(),
                            version: self.version,
                            state,
                            sig: self.sig.clone(),
                        },
                    );
                }
                Msg::Attach(a) => {
                    let (s, req) = *a;
                    self.handle.shared.add_owner(s.clone());
                    let visible = self.visible(&self.last);
                    self.send_to(&s, &self.mounted_frame(req, visible, false));
                }
                Msg::Detach(d) => {
                    let (s, req, reason) = *d;
                    let left = self.handle.shared.remove_owner(s.id);
                    if let Some(req) = req {
                        self.send_to(
                            &s,
                            &ServerFrame::Unmounted {
                                req: Some(req),
                                id: self.handle.id().to_string(),
                            },
                        );
                    }
                    if left == 0 {
                        self.finish(reason, None, true).await;
                        return;
                    }
                }
                Msg::Restore(r) => {
                    let (state, target, tx) = *r;
                    let res = self.restore(state, target);
                    let _ = tx.send(res);
                }
                Msg::Debounced(d) => {
                    let (key, gen, handler) = *d;
                    if self.ctx.debounce_current(&key, gen) {
                        self.call(CallMsg {
                            method: handler.to_owned(),
                            args: Vec::new(),
                            trace: None,
                            source: CallSource::Timer,
                            reply: ReplyTo::Nobody,
                            key: None,
                            hops: 0,
                        })
                        .await;
                    }
                }
                Msg::Stop(reason, req) => {
                    self.finish(reason, req, true).await;
                    return;
                }
            }
            self.record_pending();
        }
        // Every sender is gone: the runtime dropped us (shutdown).
        self.finish(UnmountReason::Shutdown, None, true).await;
    }

    fn mounted_frame(&self, req: u32, state: Value, rehydrated: bool) -> ServerFrame {
        ServerFrame::Mounted {
            req,
            id: self.handle.id().to_string(),
            component: C::NAME.to_owned(),
            version: self.version,
            state,
            sig: self.sig.clone(),
            rehydrated,
            shared: C::SHARED,
        }
    }

    async fn finish(
        &mut self,
        reason: UnmountReason,
        req: Option<(Arc<Session>, u32)>,
        run_hook: bool,
    ) {
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
        if let Some((s, req)) = req {
            self.send_to(
                &s,
                &ServerFrame::Unmounted {
                    req: Some(req),
                    id: self.handle.id().to_string(),
                },
            );
        }
        self.rt.unregister(&self.handle);
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
        let CallMsg {
            method,
            args,
            trace,
            source,
            reply,
            key,
            hops,
        } = msg;
        if let Some(k) = &key {
            if let Some(done) = self.recent.get(k) {
                // A retry of a call already applied: answer as the first time.
                let done = done.clone();
                self.answer(reply, done);
                return;
            }
        }
        let recording = self.recorder().enabled();
        // Clock reads only feed the recorder: with it off they are skipped.
        let started = recording.then(Instant::now);
        let rec_args = if recording { args.clone() } else { Vec::new() };
        let trace = trace.as_deref().and_then(server_span).map(Arc::new);
        let version_before = self.version;
        let (state, ctx) = (&mut self.state, &mut self.ctx);
        let step =
            std::panic::catch_unwind(AssertUnwindSafe(|| state.dispatch(&method, args, ctx)));
        let res = drive::<C>(&method, step).await;
        let ran = self.after_step(&method, res);
        let outcome = self.settle(ran, trace.as_ref(), hops).await;
        let outcome = match outcome {
            Err(ActionError::UnknownMethod {
                component,
                method: m,
                ..
            }) => Err(ActionError::UnknownMethod {
                component,
                method: m,
                available: available_actions::<C>(),
            }),
            other => other,
        };
        if let (Some(started), true) = (started, self.recorder().enabled()) {
            let (diff, emits) = {
                let mut p = self.pending.borrow_mut();
                p.trace = None;
                (p.diff.take(), std::mem::take(&mut p.emits))
            };
            let method_name = C::meta()
                .actions
                .iter()
                .map(|a| a.name)
                .chain(C::HANDLERS.iter().copied())
                .find(|a| *a == method)
                .map(Cow::Borrowed)
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
                diff,
                emits,
            });
        }
        if let Some(k) = key {
            self.recent.put(k, outcome.clone());
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
                let out = self.settle(ran, None, 0).await;
                if out.is_ok() {
                    self.props = Arc::new(props_json);
                    self.store_snapshot();
                }
                out
            }
        };
        self.answer(reply, outcome);
    }

    /// After a step: on success publish the change and its effects; on
    /// failure roll back and discard the effects.
    async fn settle(
        &mut self,
        ran: Ran,
        trace: Option<&Arc<TraceContext>>,
        hops: u8,
    ) -> Result<Value, ActionError> {
        match ran {
            Ran::Ok(v) => {
                let t0 = self.recorder().enabled().then(Instant::now);
                match serde_json::to_value(&self.state) {
                    Ok(new) => {
                        let changed = self.publish(new, t0, trace);
                        self.flush_effects();
                        if changed {
                            self.notify_dependents(hops);
                        }
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
        self.ctx.effects = Default::default();
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

    fn sign(&self, visible: &impl serde::Serialize) -> Option<String> {
        self.rt
            .signer
            .as_ref()
            .map(|s| s.sign(C::NAME, self.handle.id(), self.version, visible))
    }

    /// Diffs `new` against the last state and, when it differs, bumps the
    /// version and sends one patch to every owner. Returns whether the
    /// visible state changed. `t0` (taken only while recording) starts the
    /// serialize + diff time the recorder reports.
    fn publish(
        &mut self,
        new: Value,
        t0: Option<Instant>,
        trace: Option<&Arc<TraceContext>>,
    ) -> bool {
        let ops = visible_diff(&self.last, &new, C::SERVER_ONLY);
        let changed = !ops.0.is_empty() || *self.last != new;
        self.last = Arc::new(new);
        if ops.0.is_empty() {
            if changed {
                // Only server-only fields changed: keep the snapshot current.
                self.store_snapshot();
            }
            return false;
        }
        let base = self.version;
        self.version += 1;
        if self.rt.signer.is_some() {
            // Sign a filtered view of the state rather than a visible copy.
            self.sig = self.sign(&VisibleRef(&self.last, C::SERVER_ONLY));
        }
        self.store_snapshot();
        // One read ends the diff (signing and the snapshot included) and starts the encode.
        let t1 = t0.map(|_| Instant::now());
        let diff_time = t0.zip(t1).map(|(a, b)| b - a).unwrap_or_default();
        let frame = ServerFrame::Patch {
            id: self.handle.id().to_string(),
            base,
            version: self.version,
            ops,
            trace: trace.map(|t| t.traceparent()),
            sig: self.sig.clone(),
        };
        let encoded = encode(&frame);
        self.rt.patches_encoded.add(self.handle.iid());
        let bytes = encoded.as_ref().map(|s| s.len()).unwrap_or(0);
        let encode_time = t1.map(|t| t.elapsed()).unwrap_or_default();
        if let Some(text) = encoded {
            self.handle.shared.send_all(&text);
        }
        if !self.recorder().enabled() {
            // The recorder misses this version: the next recorded change
            // must bring a full state, or later versions cannot be rebuilt.
            self.recorder_behind = true;
        } else {
            if self.recorder_behind {
                self.recorder_behind = false;
                let state = self.visible(&self.last);
                self.record(EventBody::Snapshot {
                    version: self.version,
                    state,
                });
            }
            if let ServerFrame::Patch { ops, .. } = frame {
                // Recorded with the action that caused it (or at the end of the step).
                let mut p = self.pending.borrow_mut();
                p.diff = Some(DiffPart {
                    base,
                    version: self.version,
                    ops,
                    bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                    diff: diff_time,
                    encode: encode_time,
                    // Recording was off when the step began: stamp it now.
                    at: t1.map_or_else(Instant::now, |t| t + encode_time),
                });
                p.trace = trace.cloned();
            }
        }
        true
    }

    fn flush_effects(&mut self) {
        let effects = std::mem::take(&mut self.ctx.effects);
        for (name, data) in effects.events {
            let frame = ServerFrame::Event {
                id: self.handle.id().to_string(),
                name: name.to_string(),
                data,
            };
            if let Some(text) = encode(&frame) {
                self.handle.shared.send_all(&text);
            }
            if self.recorder().enabled() {
                if let ServerFrame::Event { data, .. } = frame {
                    self.pending.borrow_mut().emits.push((name, data));
                }
            }
        }
        for (target, name, data) in effects.emits_to {
            let session = self.handle.shared.owners().into_iter().next();
            match self.rt.find_target(session.as_ref(), &target) {
                Some(t) => {
                    let frame = ServerFrame::Event {
                        id: t.id().to_string(),
                        name: name.to_string(),
                        data,
                    };
                    if let Some(text) = encode(&frame) {
                        t.shared.send_all(&text);
                    }
                }
                None => tracing::warn!(
                    target: "fluxlive::bus",
                    component = C::NAME,
                    target_id = %target,
                    event = %name,
                    "emit_to: no such instance; event dropped"
                ),
            }
        }
        for (event, data) in effects.broadcasts {
            for (iid, handler) in self.rt.bus.subscribers(&event) {
                if let Some(h) = self.rt.instance(iid) {
                    let msg = handler_call(handler, vec![data.clone()], CallSource::Event, 0);
                    if h.shared.tx.try_send(msg).is_err() {
                        tracing::warn!(target: "fluxlive::bus", event = %event, iid, "subscriber mailbox full; event dropped");
                    }
                }
            }
        }
    }

    fn notify_dependents(&self, hops: u8) {
        let deps = self.rt.bus.dependents(self.handle.iid());
        if deps.is_empty() {
            return;
        }
        if hops >= MAX_HOPS {
            tracing::error!(target: "fluxlive::bus", component = C::NAME, "dependency chain longer than {MAX_HOPS}; stopped");
            return;
        }
        let visible = self.visible(&self.last);
        for (iid, handler) in deps {
            if let Some(h) = self.rt.instance(iid) {
                let msg = handler_call(
                    handler,
                    vec![visible.clone(), Value::from(self.version)],
                    CallSource::Dependency,
                    hops + 1,
                );
                if h.shared.tx.try_send(msg).is_err() {
                    tracing::warn!(target: "fluxlive::bus", iid, "dependent mailbox full; update dropped");
                }
            }
        }
    }

    fn answer(&self, reply: ReplyTo, outcome: Result<Value, ActionError>) {
        match reply {
            ReplyTo::Session(s, req) => {
                let frame = match outcome {
                    Ok(result) => ServerFrame::Reply {
                        req,
                        id: self.handle.id().to_string(),
                        result,
                    },
                    Err(e) => ServerFrame::Error(e.to_frame(Some(req), self.handle.id())),
                };
                self.send_to(&s, &frame);
            }
            ReplyTo::Channel(tx) => {
                let _ = tx.send(outcome);
            }
            ReplyTo::Nobody => {
                if let Err(e) = outcome {
                    tracing::warn!(target: "fluxlive::bus", component = C::NAME, error = %e, "handler failed");
                }
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
        self.publish(full, self.recorder().enabled().then(Instant::now), None);
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
        *lock(&self.handle.shared.snap) = Snapshot {
            version: self.version,
            full: self.last.clone(),
            props: self.props.clone(),
            server_only: C::SERVER_ONLY,
            sig: self.sig.clone(),
        };
    }

    fn send_to(&self, s: &Session, frame: &ServerFrame) {
        if let Some(text) = encode(frame) {
            s.send(text);
        }
    }
}

pub(crate) fn available_actions<C: Component>() -> String {
    C::meta()
        .actions
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
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
