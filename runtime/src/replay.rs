//! The replay engine: rebuild each recorded instance from its mount record,
//! re-run the recorded actions on a fresh instance and compare every
//! resulting diff with the recorded one.

use crate::component::Component;
use crate::ctx::Ctx;
use crate::error::ActionError;
use crate::instance::{drive, Factory};
use crate::visible::visible_diff;
use fluxlive_protocol::debug::{Divergence, ReplayReport};
use fluxlive_protocol::record::{CallSource, DiffRecord, Outcome, RecordBody};
use fluxlive_protocol::session::Session;
use fluxlive_protocol::Patch;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a replay could not run at all (a divergence is not an error: it is
/// reported in the [`ReplayReport`]).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The session names a component type that is not registered.
    #[error("session record {seq} mounts `{component}`, which is not registered here (registered: {registered})")]
    UnknownComponent {
        /// Record sequence number.
        seq: u64,
        /// Type name.
        component: String,
        /// What is registered.
        registered: String,
    },
    /// An instance could not be rebuilt from its recorded props or state.
    #[error("session record {seq}: cannot rebuild {component} `{id}`: {reason}")]
    Rebuild {
        /// Record sequence number.
        seq: u64,
        /// Type name.
        component: String,
        /// Instance id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The session file could not be read.
    #[error("{0}")]
    File(String),
}

/// One rebuilt instance, type-erased.
pub(crate) trait Replica: Send {
    fn call<'a>(
        &'a mut self,
        method: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, (Result<Value, ActionError>, Patch)>;
    fn apply_recorded(&mut self, ops: &Patch) -> Result<(), String>;
    fn visible(&self) -> Value;
    fn meta(&self) -> &'static fluxlive_instrumentation::TypeMeta;
}

pub(crate) struct TypedReplica<C: Component> {
    state: C,
    ctx: Ctx,
    last: Value,
}

impl<C: Component> TypedReplica<C> {
    pub(crate) fn from_props(props: Value) -> Result<Self, String> {
        let props: C::Props = serde_json::from_value(props.clone())
            .or_else(|e| {
                if props.is_null() {
                    serde_json::from_value(Value::Object(Default::default()))
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("bad props: {e}"))?;
        let mut ctx = Ctx::new(Arc::from("replay"), 0, 0, C::NAME, C::HANDLERS);
        let state =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| C::create(props, &mut ctx)))
                .map_err(|p| format!("mount panicked: {}", crate::instance::panic_message(&p)))?
                .map_err(|e| e.to_string())?;
        let last = serde_json::to_value(&state).map_err(|e| e.to_string())?;
        Ok(Self { state, ctx, last })
    }

    pub(crate) fn from_state(state: Value) -> Result<Self, String> {
        let st: C = serde_json::from_value(state).map_err(|e| e.to_string())?;
        let last = serde_json::to_value(&st).map_err(|e| e.to_string())?;
        Ok(Self {
            state: st,
            ctx: Ctx::new(Arc::from("replay"), 0, 0, C::NAME, C::HANDLERS),
            last,
        })
    }

    async fn on_mount(&mut self) {
        let (state, ctx) = (&mut self.state, &mut self.ctx);
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let (state, ctx) = (state, ctx);
            state.mounted(ctx)
        }));
        let _ = drive::<C>("on_mount", step).await;
        if let Ok(v) = serde_json::to_value(&self.state) {
            self.last = v;
        }
    }
}

impl<C: Component> Replica for TypedReplica<C> {
    fn call<'a>(
        &'a mut self,
        method: &'a str,
        args: Vec<Value>,
    ) -> BoxFuture<'a, (Result<Value, ActionError>, Patch)> {
        Box::pin(async move {
            let (state, ctx) = (&mut self.state, &mut self.ctx);
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                state.dispatch(method, args, ctx)
            }));
            let res = drive::<C>(method, step).await;
            self.ctx.effects = Default::default();
            match res {
                Ok(v) => match serde_json::to_value(&self.state) {
                    Ok(new) => {
                        let ops = visible_diff(&self.last, &new, C::SERVER_ONLY);
                        self.last = new;
                        (Ok(v), ops)
                    }
                    Err(e) => (
                        Err(ActionError::State {
                            component: C::NAME,
                            method: method.to_owned(),
                            reason: e.to_string(),
                        }),
                        Patch(Vec::new()),
                    ),
                },
                Err(e) => {
                    if let Ok(s) = serde_json::from_value::<C>(self.last.clone()) {
                        self.state = s;
                    }
                    (Err(e), Patch(Vec::new()))
                }
            }
        })
    }

    fn apply_recorded(&mut self, ops: &Patch) -> Result<(), String> {
        let mut v = self.last.clone();
        json_patch::patch(&mut v, ops).map_err(|e| e.to_string())?;
        let st: C = serde_json::from_value(v).map_err(|e| e.to_string())?;
        self.last = serde_json::to_value(&st).map_err(|e| e.to_string())?;
        self.state = st;
        Ok(())
    }

    fn visible(&self) -> Value {
        crate::visible::visible_state(&self.last, C::SERVER_ONLY)
    }

    fn meta(&self) -> &'static fluxlive_instrumentation::TypeMeta {
        C::meta()
    }
}

fn redacted_patch(meta: &'static fluxlive_instrumentation::TypeMeta, ops: Patch) -> Value {
    let ops = fluxlive_instrumentation::redact_ops(meta, ops);
    serde_json::to_value(&ops).unwrap_or(Value::Null)
}

fn redacted_state(meta: &'static fluxlive_instrumentation::TypeMeta, mut v: Value) -> Value {
    fluxlive_instrumentation::redact_top(meta, &mut v);
    v
}

/// Replays `session` against the registered `factories`.
pub(crate) async fn replay_with(
    factories: &HashMap<&'static str, Arc<dyn Factory>>,
    session: &Session,
) -> Result<ReplayReport, ReplayError> {
    let mut replicas: HashMap<u64, Box<dyn Replica>> = HashMap::new();
    let mut report = ReplayReport {
        instances: 0,
        actions: 0,
        divergence: None,
    };
    let registered = || {
        let mut v: Vec<&str> = factories.keys().copied().collect();
        v.sort_unstable();
        v.join(", ")
    };
    // Diffs caused by actions, by (iid, base), so each action finds its own.
    let mut action_diffs: HashMap<(u64, u64), (u64, &DiffRecord)> = HashMap::new();
    for r in &session.records {
        if let (RecordBody::Diff(d), Some(inst)) = (&r.body, &r.instance) {
            action_diffs.insert((inst.iid, d.base), (r.seq, d));
        }
    }
    let mut consumed: std::collections::HashSet<(u64, u64)> = Default::default();
    for r in &session.records {
        let Some(inst) = &r.instance else { continue };
        match &r.body {
            RecordBody::Mount { .. } | RecordBody::Snapshot { .. }
                if !replicas.contains_key(&inst.iid) =>
            {
                let (props, state) = match &r.body {
                    RecordBody::Mount { props, state, .. } => (props, state),
                    RecordBody::Snapshot { state, .. } => (&Value::Null, state),
                    _ => continue,
                };
                let f = factories.get(inst.component.as_str()).ok_or_else(|| {
                    ReplayError::UnknownComponent {
                        seq: r.seq,
                        component: inst.component.clone(),
                        registered: registered(),
                    }
                })?;
                let from_props = matches!(r.body, RecordBody::Mount { .. });
                let mut replica = f
                    .replica(
                        if from_props {
                            props.clone()
                        } else {
                            state.clone()
                        },
                        from_props,
                    )
                    .await
                    .map_err(|reason| ReplayError::Rebuild {
                        seq: r.seq,
                        component: inst.component.clone(),
                        id: inst.id.clone(),
                        reason,
                    })?;
                let got = redacted_state(replica.meta(), replica.visible());
                if from_props && &got != state {
                    report.divergence = Some(Divergence {
                        seq: r.seq,
                        instance: inst.id.clone(),
                        method: "mount".into(),
                        expected: state.clone(),
                        got,
                        message: format!(
                            "{} `{}`: mounted state differs from the recording",
                            inst.component, inst.id
                        ),
                    });
                    return Ok(report);
                }
                if !from_props {
                    // A folded base: take the recorded state as it is.
                    let _ = replica.apply_recorded(&Patch(Vec::new()));
                }
                report.instances += 1;
                replicas.insert(inst.iid, replica);
            }
            RecordBody::Action(a) if a.source != CallSource::Replay => {
                let Some(replica) = replicas.get_mut(&inst.iid) else {
                    continue;
                };
                report.actions += 1;
                let (res, ops) = replica.call(&a.method, args_of(&a.args)).await;
                let meta = replica.meta();
                let expected_ok = matches!(a.outcome, Outcome::Ok { .. });
                if res.is_ok() != expected_ok {
                    report.divergence = Some(Divergence {
                        seq: r.seq,
                        instance: inst.id.clone(),
                        method: a.method.clone(),
                        expected: serde_json::to_value(&a.outcome).unwrap_or(Value::Null),
                        got: match &res {
                            Ok(v) => serde_json::json!({"status": "ok", "result": v}),
                            Err(e) => {
                                serde_json::json!({"status": "err", "code": e.code(), "message": e.to_string()})
                            }
                        },
                        message: format!(
                            "{} `{}`.{}: recorded {}, replay {}",
                            inst.component,
                            inst.id,
                            a.method,
                            if expected_ok { "succeeded" } else { "failed" },
                            if res.is_ok() { "succeeded" } else { "failed" }
                        ),
                    });
                    return Ok(report);
                }
                let got = redacted_patch(meta, ops);
                let expected = if a.version_after > a.version_before {
                    match action_diffs.get(&(inst.iid, a.version_before)) {
                        Some((_, d)) => {
                            consumed.insert((inst.iid, a.version_before));
                            serde_json::to_value(&d.ops).unwrap_or(Value::Null)
                        }
                        None => Value::Array(Vec::new()),
                    }
                } else {
                    Value::Array(Vec::new())
                };
                if got != expected {
                    report.divergence = Some(Divergence {
                        seq: r.seq,
                        instance: inst.id.clone(),
                        method: a.method.clone(),
                        expected,
                        got,
                        message: format!(
                            "{} `{}`.{} (version {} → {}): the replayed diff differs from the recorded one",
                            inst.component, inst.id, a.method, a.version_before, a.version_after
                        ),
                    });
                    return Ok(report);
                }
            }
            RecordBody::Diff(d) if !consumed.contains(&(inst.iid, d.base)) => {
                // Not caused by an action (time travel): apply as recorded.
                let is_action_diff = session.records.iter().any(|o| {
                    matches!(&o.body, RecordBody::Action(a) if a.version_before == d.base && a.version_after == d.version)
                        && o.instance.as_ref().map(|i| i.iid) == Some(inst.iid)
                });
                if is_action_diff {
                    continue;
                }
                if let Some(replica) = replicas.get_mut(&inst.iid) {
                    replica
                        .apply_recorded(&d.ops)
                        .map_err(|reason| ReplayError::Rebuild {
                            seq: r.seq,
                            component: inst.component.clone(),
                            id: inst.id.clone(),
                            reason,
                        })?;
                }
            }
            RecordBody::Unmount { .. } => {
                replicas.remove(&inst.iid);
            }
            _ => {}
        }
    }
    Ok(report)
}

fn args_of(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

pub(crate) fn boxed_replica<C: Component>(
    seed: Value,
    from_props: bool,
) -> BoxFuture<'static, Result<Box<dyn Replica>, String>> {
    Box::pin(async move {
        let mut r = if from_props {
            TypedReplica::<C>::from_props(seed)?
        } else {
            TypedReplica::<C>::from_state(seed)?
        };
        if from_props {
            r.on_mount().await;
        }
        Ok(Box::new(r) as Box<dyn Replica>)
    })
}
