//! The shared core behind a [`Live`](crate::Live) handle: registered types,
//! sessions, the instance table and the recorder.

use crate::config::Config;
use crate::instance::{Factory, InstanceHandle, Msg};
use crate::session::Session;
use fluxlive_instrumentation::Recorder;
use fluxlive_protocol::record::UnmountReason;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) struct Runtime {
    pub(crate) config: Config,
    pub(crate) factories: HashMap<&'static str, Arc<dyn Factory>>,
    pub(crate) recorder: Recorder,
    pub(crate) debug: Option<crate::debug::DebugSettings>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    instances: Mutex<HashMap<u64, InstanceHandle>>,
    next_iid: AtomicU64,
    next_session: AtomicU64,
    pub(crate) connections: AtomicUsize,
    pub(crate) total_mounted: AtomicU64,
    pub(crate) picks: tokio::sync::broadcast::Sender<Option<u64>>,
    /// Instances under time travel → their newest version before it began.
    pub(crate) travel: Arc<Mutex<HashMap<u64, u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runtime {
    pub(crate) fn new(
        config: Config,
        factories: HashMap<&'static str, Arc<dyn Factory>>,
        recorder: Recorder,
        debug: Option<crate::debug::DebugSettings>,
    ) -> Self {
        Self {
            config,
            factories,
            recorder,
            debug,
            sessions: Mutex::new(HashMap::new()),
            instances: Mutex::new(HashMap::new()),
            next_iid: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            total_mounted: AtomicU64::new(0),
            picks: tokio::sync::broadcast::channel(64).0,
            travel: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub(crate) fn next_iid(&self) -> u64 {
        self.next_iid.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, h: InstanceHandle) {
        self.total_mounted.fetch_add(1, Ordering::Relaxed);
        lock(&self.instances).insert(h.iid(), h);
    }

    pub(crate) fn unregister(&self, iid: u64) {
        lock(&self.instances).remove(&iid);
        lock(&self.travel).remove(&iid);
    }

    pub(crate) fn instance(&self, iid: u64) -> Option<InstanceHandle> {
        lock(&self.instances).get(&iid).cloned()
    }

    pub(crate) fn all_instances(&self) -> Vec<InstanceHandle> {
        lock(&self.instances).values().cloned().collect()
    }

    pub(crate) fn instance_count(&self) -> usize {
        lock(&self.instances).len()
    }

    pub(crate) fn new_session(&self) -> Arc<Session> {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Session::new(id));
        lock(&self.sessions).insert(id, s.clone());
        s
    }

    pub(crate) fn session(&self, wire_id: &str) -> Option<Arc<Session>> {
        let id: u64 = wire_id.strip_prefix('s')?.parse().ok()?;
        lock(&self.sessions).get(&id).cloned()
    }

    pub(crate) fn all_sessions(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).values().cloned().collect()
    }

    pub(crate) fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Frees a session and all its instances now.
    pub(crate) fn end_session(&self, session: &Arc<Session>, reason: UnmountReason) {
        lock(&self.sessions).remove(&session.id);
        for h in session.drain() {
            stop(&h, reason, None);
        }
    }

    /// Starts the grace timer for a session whose connection of generation
    /// `gen` just ended.
    pub(crate) fn schedule_cleanup(self: &Arc<Self>, session: Arc<Session>, gen: u64) {
        let rt = self.clone();
        let grace = self.config.grace;
        tokio::spawn(async move {
            if !grace.is_zero() {
                tokio::time::sleep(grace).await;
            }
            if session.generation() == gen && !session.is_attached() {
                tracing::debug!(target: "fluxlive::session", session = session.id, "grace period over; freeing session");
                rt.end_session(&session, UnmountReason::Grace);
            }
        });
    }
}

/// Asks an instance to stop. Stop messages may wait for mailbox room: they
/// must not be lost, or the instance would leak.
pub(crate) fn stop(h: &InstanceHandle, reason: UnmountReason, req: Option<u32>) {
    let tx = h.shared.tx.clone();
    if let Err(mpsc_err) = tx.try_send(Msg::Stop(reason, req)) {
        let msg = match mpsc_err {
            tokio::sync::mpsc::error::TrySendError::Full(m) => m,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => return,
        };
        tokio::spawn(async move {
            let _ = tx.send(msg).await;
        });
    }
}
