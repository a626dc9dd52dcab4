//! The shared core behind a [`Live`](crate::Live) handle: registered types,
//! sessions, the instance table and the recorder.

use crate::bus::Bus;
use crate::config::Config;
use crate::instance::{Factory, InstanceHandle, Msg};
use crate::session::Session;
use crate::signing::Signer;
use crossbeam_utils::CachePadded;
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
    /// Signs client-held states for rehydration (`None`: turned off).
    pub(crate) signer: Option<Signer>,
    pub(crate) bus: Bus,
    /// Shared instances by (type, key).
    shared: Mutex<HashMap<(&'static str, String), InstanceHandle>>,
    /// Patch frames encoded since start (one per change, whatever the number of owners).
    pub(crate) patches_encoded: StripedCounter,
    shared_mount: Mutex<()>,
    /// Extra session export formats (`export` with `format`), by name.
    pub(crate) export_formats: HashMap<String, crate::live::ExportFormat>,
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
        signer: Option<Signer>,
        export_formats: HashMap<String, crate::live::ExportFormat>,
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
            signer,
            bus: Bus::default(),
            shared: Mutex::new(HashMap::new()),
            patches_encoded: StripedCounter::default(),
            shared_mount: Mutex::new(()),
            export_formats,
        }
    }

    pub(crate) fn next_iid(&self) -> u64 {
        self.next_iid.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, h: InstanceHandle) {
        self.total_mounted.fetch_add(1, Ordering::Relaxed);
        lock(&self.instances).insert(h.iid(), h);
    }

    pub(crate) fn unregister(&self, h: &InstanceHandle) {
        let iid = h.iid();
        lock(&self.instances).remove(&iid);
        lock(&self.travel).remove(&iid);
        self.bus.remove(iid);
        if h.shared.is_shared {
            let mut shared = lock(&self.shared);
            let k = (h.component(), h.id().to_string());
            if shared.get(&k).is_some_and(|x| x.iid() == iid) {
                shared.remove(&k);
            }
        }
    }

    /// The live shared instance of `component` under `key`.
    pub(crate) fn shared_instance(
        &self,
        component: &'static str,
        key: &str,
    ) -> Option<InstanceHandle> {
        lock(&self.shared)
            .get(&(component, key.to_owned()))
            .filter(|h| !h.shared.tx.is_closed())
            .cloned()
    }

    /// Serializes shared mounts so two connections mounting the same key at
    /// once get one instance.
    pub(crate) fn shared_mount_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.shared_mount)
    }

    pub(crate) fn register_shared(&self, h: InstanceHandle) {
        lock(&self.shared).insert((h.component(), h.id().to_string()), h);
    }

    /// Resolves an instance id as seen from `session`: its own instances
    /// first, then shared instances by key.
    pub(crate) fn find_target(
        &self,
        session: Option<&Arc<Session>>,
        id: &str,
    ) -> Option<InstanceHandle> {
        if let Some(h) = session.and_then(|s| s.get(id)) {
            return Some(h);
        }
        lock(&self.shared)
            .iter()
            .find(|((_, k), _)| k == id)
            .map(|(_, h)| h.clone())
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
            release(&h, session, reason, None);
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

/// A session lets go of an instance: a shared instance loses an owner (and
/// stops when it has none), any other instance stops.
pub(crate) fn release(
    h: &InstanceHandle,
    session: &Arc<Session>,
    reason: UnmountReason,
    req: Option<u32>,
) {
    let msg = if h.shared.is_shared {
        Msg::Detach(Box::new((session.clone(), req, reason)))
    } else {
        Msg::Stop(reason, req.map(|r| (session.clone(), r)))
    };
    deliver_reliably(h, msg);
}

/// Lifecycle messages may wait for mailbox room: they must not be lost, or
/// the instance would leak.
pub(crate) fn deliver_reliably(h: &InstanceHandle, msg: Msg) {
    let tx = h.shared.tx.clone();
    if let Err(mpsc_err) = tx.try_send(msg) {
        let msg = match mpsc_err {
            tokio::sync::mpsc::error::TrySendError::Full(m) => m,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => return,
        };
        tokio::spawn(async move {
            let _ = tx.send(msg).await;
        });
    }
}

/// Stripes of a [`StripedCounter`].
const STRIPES: usize = 8;

/// A counter bumped on every change by whichever core runs the instance.
/// One atomic would be one cache line that every core writes on every
/// action; here each instance counts in one of a few stripes, each on its
/// own line, and a read sums them.
#[derive(Default)]
pub(crate) struct StripedCounter([CachePadded<AtomicU64>; STRIPES]);

impl StripedCounter {
    /// Counts one for the instance `iid`.
    pub(crate) fn add(&self, iid: u64) {
        // usize is at least 32 bits on every target tokio runs on.
        let stripe = (iid % STRIPES as u64) as usize;
        if let Some(c) = self.0.get(stripe) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}
