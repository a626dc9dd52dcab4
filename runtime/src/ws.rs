//! The app WebSocket endpoint (`/__live/ws`): one task reads frames and
//! routes them to instance mailboxes, one task writes the connection's outbox.

use crate::error::Rejection;
use crate::instance::{encode, CallMsg, InstanceHandle, Msg, ReplyTo};
use crate::instance::{MountReply, Seed};
use crate::runtime::{deliver_reliably, release, Runtime};
use crate::session::{token_eq, Session};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use fluxlive_instrumentation::{Event, EventBody};
use fluxlive_protocol::app::{BatchOutcome, ClientFrame, DebugAnnounce, ServerFrame};
use fluxlive_protocol::record::{CallSource, UnmountReason};
use fluxlive_protocol::PROTOCOL_VERSION;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub(crate) async fn serve(rt: Arc<Runtime>, socket: WebSocket, peer: Option<SocketAddr>) {
    rt.connections.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(rt.config.outbox);
    let batching = Arc::new(AtomicBool::new(false));
    let writer_batching = batching.clone();

    // Writer: drain everything queued and flush once, so bursts of patches
    // cost one syscall rather than one each. A client that said it
    // understands `batch` gets the queued frames coalesced into one frame.
    let writer = tokio::spawn(async move {
        let mut queued: Vec<Utf8Bytes> = Vec::new();
        while let Some(first) = rx.recv().await {
            queued.push(first);
            while queued.len() < MAX_COALESCE {
                match rx.try_recv() {
                    Ok(m) => queued.push(m),
                    Err(_) => break,
                }
            }
            let ok = if queued.len() > 1 && writer_batching.load(Ordering::Relaxed) {
                let frame = coalesce(&queued);
                queued.clear();
                sink.send(Message::Text(frame)).await.is_ok()
            } else {
                let mut ok = true;
                for m in queued.drain(..) {
                    if sink.feed(Message::Text(m)).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok && sink.flush().await.is_ok()
            };
            if !ok {
                return;
            }
        }
        let _ = sink.close().await;
    });

    let mut conn = Conn {
        rt: rt.clone(),
        tx: tx.clone(),
        session: None,
        generation: 0,
        peer,
        batching,
    };
    let first = tokio::time::timeout(rt.config.hello_timeout, stream.next()).await;
    let mut pending = match first {
        Ok(Some(Ok(msg))) => Some(msg),
        _ => None,
    };
    let mut close_reason = "client closed";
    while let Some(msg) = match pending.take() {
        Some(m) => Some(Ok(m)),
        None if conn.session.is_none() => None,
        None => stream.next().await,
    } {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(target: "fluxlive::ws", error = %e, "socket error");
                close_reason = "socket error";
                break;
            }
        };
        match msg {
            Message::Text(text) => conn.frame(&text).await,
            Message::Binary(_) => conn.reject(Rejection::BadFrame(
                "binary frames are not part of protocol v1; send JSON text".into(),
            )),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
        // The outbox was cut (slow reader): stop reading too.
        if conn.tx.is_closed() {
            close_reason = "outbox overflow";
            break;
        }
    }
    if conn.session.is_none() {
        close_reason = "no hello";
    }
    conn.close(close_reason);
    drop(conn);
    drop(tx);
    let _ = writer.await;
    rt.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Most frames coalesced into one `batch` frame.
const MAX_COALESCE: usize = 256;

/// `{"t":"batch","frames":[…]}` from already-encoded frames, without re-encoding them.
fn coalesce(frames: &[Utf8Bytes]) -> Utf8Bytes {
    let len: usize = frames.iter().map(|f| f.len() + 1).sum();
    let mut out = String::with_capacity(len + 32);
    out.push_str(r#"{"t":"batch","frames":["#);
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f.as_str());
    }
    out.push_str("]}");
    Utf8Bytes::from(out)
}

struct Conn {
    rt: Arc<Runtime>,
    tx: mpsc::Sender<Utf8Bytes>,
    session: Option<Arc<Session>>,
    generation: u64,
    peer: Option<SocketAddr>,
    batching: Arc<AtomicBool>,
}

impl Conn {
    fn send(&self, frame: &ServerFrame) {
        if let Some(text) = encode(frame) {
            // Before the session exists, frames go straight to this socket.
            match &self.session {
                Some(s) => s.send(text),
                None => {
                    let _ = self.tx.try_send(text);
                }
            }
        }
    }

    fn reject(&self, r: Rejection) {
        self.reject_req(r, None);
    }

    fn reject_req(&self, r: Rejection, req: Option<u32>) {
        tracing::debug!(target: "fluxlive::rejection", code = %r.code(), "{r}");
        self.send(&ServerFrame::Error(r.to_frame(req)));
    }

    async fn frame(&mut self, text: &str) {
        if text.len() > self.rt.config.max_frame {
            self.reject(Rejection::FrameTooLarge {
                size: text.len(),
                limit: self.rt.config.max_frame,
            });
            return;
        }
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                if self.session.is_none() {
                    self.start(None).await;
                }
                self.reject_req(Rejection::BadFrame(e.to_string()), peek_ref(text));
                return;
            }
        };
        if self.session.is_none() {
            match frame {
                ClientFrame::Hello {
                    protocol,
                    resume,
                    caps,
                } => {
                    if caps.iter().any(|c| c == "batch") {
                        self.batching.store(true, Ordering::Relaxed);
                    }
                    if protocol != PROTOCOL_VERSION {
                        self.start(None).await;
                        self.reject(Rejection::ProtocolMismatch {
                            client: protocol,
                            server: PROTOCOL_VERSION,
                        });
                        return;
                    }
                    self.start(resume).await;
                    return;
                }
                other => {
                    // Lenient: a client that skips hello gets a fresh session.
                    self.start(None).await;
                    self.dispatch(other).await;
                    return;
                }
            }
        }
        self.dispatch(frame).await;
    }

    async fn start(&mut self, resume: Option<fluxlive_protocol::app::Resume>) {
        let rt = self.rt.clone();
        let resumed = resume.and_then(|r| {
            rt.session(&r.session)
                .filter(|s| token_eq(&s.token, &r.token))
        });
        let (session, is_resumed) = match resumed {
            Some(s) => (s, true),
            None => (rt.new_session(), false),
        };
        self.generation = session.attach(self.tx.clone());
        self.session = Some(session.clone());
        rt.recorder.record(Event {
            conn: session.id,
            instance: None,
            body: EventBody::ConnOpen { peer: self.peer },
        });
        let mut instances = Vec::new();
        if is_resumed {
            for h in session.handles() {
                let snap = h.snapshot();
                rt.recorder.record(Event {
                    conn: session.id,
                    instance: Some(h.shared.key.clone()),
                    body: EventBody::Resume {
                        version: snap.version,
                    },
                });
                instances.push(snap.into_state(&h));
            }
        }
        let debug = rt.debug.as_ref().map(|d| DebugAnnounce {
            path: crate::DEBUG_PATH.to_owned(),
            token: d.announce_token.then(|| d.token.clone()),
        });
        self.send(&ServerFrame::Welcome {
            protocol: PROTOCOL_VERSION,
            session: session.wire_id(),
            token: session.token.clone(),
            resumed: is_resumed,
            grace_ms: u64::try_from(rt.config.grace.as_millis()).unwrap_or(u64::MAX),
            max_frame: rt.config.max_frame,
            instances,
            debug,
        });
    }

    fn owned(&self, id: &str, method: Option<&str>) -> Result<InstanceHandle, Rejection> {
        self.session
            .as_ref()
            .and_then(|s| s.get(id))
            .ok_or_else(|| Rejection::NotMounted {
                id: id.to_owned(),
                method: method.map(str::to_owned),
            })
    }

    async fn dispatch(&mut self, frame: ClientFrame) {
        let Some(session) = self.session.clone() else {
            return;
        };
        match frame {
            ClientFrame::Hello { .. } => self.reject(Rejection::BadFrame(
                "`hello` must be the first frame on a connection".into(),
            )),
            ClientFrame::Batch { frames } => {
                for f in frames.into_iter().take(MAX_COALESCE) {
                    if matches!(f, ClientFrame::Batch { .. } | ClientFrame::Hello { .. }) {
                        self.reject(Rejection::BadFrame(
                            "a batch may not contain `batch` or `hello` frames".into(),
                        ));
                        continue;
                    }
                    Box::pin(self.dispatch(f)).await;
                }
            }
            ClientFrame::BatchCall { req, calls } => self.batch_call(&session, req, calls),
            ClientFrame::Mount {
                req,
                component,
                props,
                id,
                snapshot,
            } => self.mount(&session, req, component, props, id, snapshot),
            ClientFrame::Call {
                req,
                id,
                method,
                args,
                trace,
                key,
            } => {
                let h = match self.callable(&id, &method) {
                    Ok(h) => h,
                    Err(r) => return self.reject_req(r, Some(req)),
                };
                let msg = Msg::Call(Box::new(CallMsg {
                    method,
                    args,
                    trace,
                    source: CallSource::Client,
                    reply: ReplyTo::Session(session.clone(), req),
                    key,
                    hops: 0,
                }));
                self.deliver(&h, msg, Some(req));
            }
            ClientFrame::Props { req, id, props } => {
                let h = match self.owned(&id, Some("on_props_changed")) {
                    Ok(h) => h,
                    Err(r) => return self.reject_req(r, Some(req)),
                };
                self.deliver(
                    &h,
                    Msg::Props(Box::new((props, ReplyTo::Session(session.clone(), req)))),
                    Some(req),
                );
            }
            ClientFrame::Unmount { req, id } => match session.remove(&id) {
                Some(h) => release(&h, &session, UnmountReason::Client, Some(req)),
                None => self.reject_req(
                    Rejection::NotMounted {
                        id,
                        method: Some("unmount".into()),
                    },
                    Some(req),
                ),
            },
            ClientFrame::Sync { id } => match self.owned(&id, Some("sync")) {
                Ok(h) => self.deliver(&h, Msg::Sync(session.clone()), None),
                Err(r) => self.reject(r),
            },
            ClientFrame::Renders { items, spans } => {
                let rec = &self.rt.recorder;
                if !rec.enabled() {
                    return;
                }
                for item in items.into_iter().take(1024) {
                    let key = session.get(&item.id).map(|h| h.shared.key.clone());
                    rec.record(Event {
                        conn: session.id,
                        instance: key,
                        body: EventBody::Render(item),
                    });
                }
                for span in spans.into_iter().take(1024) {
                    let key = session.get(&span.id).map(|h| h.shared.key.clone());
                    rec.record(Event {
                        conn: session.id,
                        instance: key,
                        body: EventBody::ClientSpan(span),
                    });
                }
            }
            ClientFrame::Pick { id } => {
                let iid = id.and_then(|id| session.get(&id)).map(|h| h.iid());
                let _ = self.rt.picks.send(iid);
            }
        }
    }

    fn mount(
        &mut self,
        session: &Arc<Session>,
        req: u32,
        component: String,
        props: serde_json::Value,
        id: Option<String>,
        snapshot: Option<fluxlive_protocol::app::SignedState>,
    ) {
        let Some(factory) = self.rt.factories.get(component.as_str()).cloned() else {
            let mut registered: Vec<&str> = self.rt.factories.keys().copied().collect();
            registered.sort_unstable();
            return self.reject_req(
                Rejection::UnknownComponent {
                    name: component,
                    registered: registered.join(", "),
                },
                Some(req),
            );
        };
        let name = factory.meta().name;
        let id = match id {
            Some(id) if id.is_empty() || id.len() > 128 => {
                return self.reject_req(
                    Rejection::BadFrame(format!(
                        "mount: instance id must be 1 to 128 bytes, got {}",
                        id.len()
                    )),
                    Some(req),
                );
            }
            Some(id) => id,
            None if factory.is_shared() => {
                return self.reject_req(Rejection::SharedNeedsKey { component: name }, Some(req))
            }
            None => loop {
                let candidate = session.auto_id(name);
                if !session.contains(&candidate) {
                    break candidate;
                }
            },
        };
        if session.contains(&id) {
            return self.reject_req(Rejection::DuplicateId { id }, Some(req));
        }
        if session.len() >= self.rt.config.max_instances_per_session {
            return self.reject_req(
                Rejection::BadFrame(format!(
                    "mount: this connection already holds the maximum of {} instances",
                    self.rt.config.max_instances_per_session
                )),
                Some(req),
            );
        }
        // Shared mounts are serialized so that two connections mounting the
        // same key at once get one instance.
        let _guard = factory.is_shared().then(|| self.rt.shared_mount_lock());
        if factory.is_shared() {
            if let Some(h) = self.rt.shared_instance(name, &id) {
                session.insert(h.clone());
                // Attaching must not be lost to a full mailbox: the session already holds the handle.
                return deliver_reliably(&h, Msg::Attach(Box::new((session.clone(), req))));
            }
        }
        let seed = match snapshot {
            Some(s) => Seed::Signed(props, s),
            None => Seed::Props(props),
        };
        match factory.spawn(
            &self.rt,
            Some(session.clone()),
            Arc::from(id),
            seed,
            MountReply::Frame(session.clone(), req),
        ) {
            Ok(h) => {
                if factory.is_shared() {
                    self.rt.register_shared(h.clone());
                }
                session.insert(h);
            }
            Err(r) => self.reject_req(r, Some(req)),
        }
    }

    /// The instance behind `id`, if `method` is one of its actions
    /// (`#[handler]`s are for the event bus only).
    fn callable(&self, id: &str, method: &str) -> Result<InstanceHandle, Rejection> {
        let h = self.owned(id, Some(method))?;
        if h.meta().actions.iter().any(|a| a.name == method) {
            Ok(h)
        } else {
            Err(Rejection::UnknownMethod {
                component: h.component(),
                method: method.to_owned(),
                available: h
                    .meta()
                    .actions
                    .iter()
                    .map(|a| a.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// Runs the calls one after another (each on its instance's mailbox) and
    /// answers once.
    fn batch_call(
        &self,
        session: &Arc<Session>,
        req: u32,
        calls: Vec<fluxlive_protocol::app::BatchItem>,
    ) {
        let mut plan = Vec::with_capacity(calls.len());
        for c in calls.into_iter().take(MAX_COALESCE) {
            plan.push((self.callable(&c.id, &c.method), c));
        }
        let session = session.clone();
        tokio::spawn(async move {
            let mut results = Vec::with_capacity(plan.len());
            for (target, c) in plan {
                let outcome = match target {
                    Err(r) => BatchOutcome::Err {
                        error: r.to_frame(None),
                    },
                    Ok(h) => {
                        let (tx, rx) = oneshot::channel();
                        let msg = Msg::Call(Box::new(CallMsg {
                            method: c.method.clone(),
                            args: c.args,
                            trace: None,
                            source: CallSource::Client,
                            reply: ReplyTo::Channel(tx),
                            key: c.key,
                            hops: 0,
                        }));
                        match h.shared.tx.send(msg).await {
                            Err(_) => BatchOutcome::Err {
                                error: Rejection::Gone {
                                    component: h.component(),
                                    id: c.id.clone(),
                                }
                                .to_frame(None),
                            },
                            Ok(()) => match rx.await {
                                Ok(Ok(v)) => BatchOutcome::Ok { ok: v },
                                Ok(Err(e)) => BatchOutcome::Err {
                                    error: e.to_frame(None, &c.id),
                                },
                                Err(_) => BatchOutcome::Err {
                                    error: Rejection::Gone {
                                        component: h.component(),
                                        id: c.id.clone(),
                                    }
                                    .to_frame(None),
                                },
                            },
                        }
                    }
                };
                results.push(outcome);
            }
            if let Some(text) = encode(&ServerFrame::BatchReply { req, results }) {
                session.send(text);
            }
        });
    }

    fn deliver(&self, h: &InstanceHandle, msg: Msg, req: Option<u32>) {
        match h.shared.tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.reject_req(
                Rejection::Overloaded {
                    component: h.component(),
                    id: h.id().to_string(),
                },
                req,
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => self.reject_req(
                Rejection::Gone {
                    component: h.component(),
                    id: h.id().to_string(),
                },
                req,
            ),
        }
    }

    fn close(&mut self, reason: &'static str) {
        if let Some(session) = self.session.take() {
            self.rt.recorder.record(Event {
                conn: session.id,
                instance: None,
                body: EventBody::ConnClose { reason },
            });
            if session.detach(self.generation) {
                self.rt.schedule_cleanup(session, self.generation + 1);
            }
        }
    }
}

/// Best-effort `ref` of a frame that failed to decode, so the client can
/// still settle the right promise.
fn peek_ref(text: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("ref")?.as_u64().and_then(|r| u32::try_from(r).ok())
}
