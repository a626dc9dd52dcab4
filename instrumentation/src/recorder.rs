//! The [`Recorder`] handle the runtime holds, and its builder.

use crate::clock::Instant;
use crate::collector::{self, Item, Pending};
use crate::convert::{ts_since, Caps};
use crate::error::StateAtError;
use crate::event::{Event, EventBody, TypeMeta};
use crate::history::History;
use crate::redact::redact_top;
use crate::ring::{self, RingCons};
use crate::subscription::{Subscription, Watermark};
use crossbeam_utils::CachePadded;
use fluxlive_protocol::debug::{Filter, HistoryBounds};
use fluxlive_protocol::record::DropSite;
use fluxlive_protocol::session::Session;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};

/// Locks a mutex, ignoring poisoning: every critical section here leaves
/// the data consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// State shared by recorder handles, subscriptions and the collector.
pub(crate) struct Shared {
    pub(crate) id: u64,
    /// Recording on: checked first by every `record` (one relaxed load).
    pub(crate) on: AtomicBool,
    /// False for [`Recorder::disabled`]: no collector, never records.
    pub(crate) active: bool,
    /// Set by the collector when a round found nothing and it goes to
    /// sleep: the next push wakes it rather than waiting for its poll. While
    /// events flow it stays false, and pushes only read it.
    pub(crate) idle: AtomicBool,
    /// Next ticket (see `ring`): the global order of recorded events. On
    /// its own cache line: every push on any thread writes it, and the
    /// recorder `id` every push reads sat on its line, so each push missed
    /// after a push on another core.
    pub(crate) tickets: CachePadded<AtomicU64>,
    pub(crate) ring_capacity: usize,
    pub(crate) new_rings: Mutex<Vec<RingCons>>,
    /// Control items and events that do not come through a ring.
    pub(crate) side: Mutex<Vec<Pending>>,
    /// Events lost outside any ring (thread-local storage torn down).
    pub(crate) orphan_dropped: AtomicU64,
    pub(crate) flush_waiters: Mutex<Vec<(u64, oneshot::Sender<()>)>>,
    pub(crate) history: Mutex<History>,
    pub(crate) watermark: watch::Sender<Watermark>,
    pub(crate) dropped_total: AtomicU64,
    pub(crate) start: Instant,
    pub(crate) started_unix_us: u64,
    pub(crate) stop: AtomicBool,
    /// Test hook: the collector leaves the rings alone while set.
    pub(crate) hold: AtomicBool,
    /// Set by the collector when it starts an iteration that honours `hold`.
    pub(crate) holding: AtomicBool,
    pub(crate) collector: OnceLock<std::thread::Thread>,
    pub(crate) runtime: String,
    pub(crate) types: Mutex<HashMap<&'static str, &'static TypeMeta>>,
    /// Every type ever recorded, by index (entries name their type by index).
    pub(crate) type_registry: Mutex<Vec<&'static TypeMeta>>,
    switch: Mutex<()>,
}

impl Shared {
    pub(crate) fn adopt_ring(&self, ring: RingCons) {
        lock(&self.new_rings).push(ring);
    }

    /// Queues a control item in ticket order with the recorded events.
    fn push_side(&self, item: Item) {
        let mut side = lock(&self.side);
        let ticket = self.tickets.fetch_add(1, Ordering::AcqRel);
        side.push(Pending {
            ticket,
            at: Instant::now(),
            item,
        });
        drop(side);
        self.wake();
    }

    /// Queues an encoded entry too big for a ring (a mount or snapshot
    /// with a large state): a rare path that takes the side queue's lock.
    pub(crate) fn push_side_entry(&self, mut bytes: Vec<u8>, at: Instant) {
        let mut side = lock(&self.side);
        let ticket = self.tickets.fetch_add(1, Ordering::AcqRel);
        crate::wire::set_ticket(&mut bytes, ticket);
        side.push(Pending {
            ticket,
            at,
            item: Item::Entry(bytes),
        });
        drop(side);
        self.wake();
    }

    /// The registry index of `meta`, registering it (a cold path: each
    /// thread caches the indexes it has seen).
    pub(crate) fn type_index(&self, meta: &'static TypeMeta) -> u32 {
        let mut reg = lock(&self.type_registry);
        let i = match reg.iter().position(|m| std::ptr::eq(*m, meta)) {
            Some(i) => i,
            None => {
                reg.push(meta);
                reg.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    pub(crate) fn wake(&self) {
        if let Some(t) = self.collector.get() {
            t.unpark();
        }
    }

    pub(crate) fn now_us(&self) -> u64 {
        ts_since(self.start, Instant::now())
    }
}

/// Stops the collector when the last [`Recorder`] handle goes away.
struct CollectorGuard {
    shared: Arc<Shared>,
}

impl Drop for CollectorGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// The flight recorder: the runtime pushes [`Event`]s, consumers read
/// records through [`subscribe`](Self::subscribe), [`state_at`](Self::state_at)
/// and [`export`](Self::export). Cheap to clone.
///
/// A collector thread drains the per-thread rings (see the `ring` module
/// docs for how order across threads is kept), converts and redacts events,
/// appends them to the bounded history and wakes subscribers. It stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    _guard: Option<Arc<CollectorGuard>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("id", &self.shared.id)
            .field("active", &self.shared.active)
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Recorder`].
#[derive(Debug, Clone)]
pub struct RecorderBuilder {
    history: usize,
    history_bytes: usize,
    ring_capacity: usize,
    max_value_bytes: usize,
    runtime: String,
}

impl Default for RecorderBuilder {
    fn default() -> Self {
        Self {
            history: 100_000,
            history_bytes: 64 << 20,
            ring_capacity: 2048,
            max_value_bytes: 16 << 10,
            runtime: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl RecorderBuilder {
    /// Records the history keeps (default 100 000). Eviction runs in
    /// batches, so it may briefly hold up to 1/32 more before dropping back
    /// to this many; the byte budget works the same way.
    pub fn history(mut self, records: usize) -> Self {
        self.history = records.max(1);
        self
    }

    /// Approximate memory the history may use, in bytes (default 64 MiB);
    /// the oldest records are evicted past it. Like the record count, it
    /// may briefly run up to 1/32 over before a batch of evictions.
    pub fn history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }

    /// Size of each per-thread ring, in slots of 256 bytes (default 2048,
    /// 512 KiB; an encoded action with its diff and one event takes about
    /// 190 bytes). Events pushed while a ring is full are dropped and
    /// counted. Bigger rings ride out longer collector stalls but spread
    /// the hot path's writes over more cache: on the 2-core bench 1024
    /// slots dropped a few records at saturation and 4096 cost about 1.5
    /// points more throughput than 1024. At about 250k actions/s the
    /// default holds about 20 ms of records per thread, and 2 runs of 34
    /// dropped a few hundred; 8192 dropped none (`docs/benchmarks.md`).
    pub fn ring_capacity(mut self, slots: usize) -> Self {
        self.ring_capacity = slots.max(1);
        self
    }

    /// Largest argument, return value, props or emit payload kept in a
    /// record, by approximate size (default 16 KiB); larger ones are
    /// replaced by a marker (`args_truncated` is set for arguments). States
    /// and diffs are never cut: rebuilding versions needs them whole.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// Runtime version written into session headers (default: this crate's).
    pub fn runtime_version(mut self, version: impl Into<String>) -> Self {
        self.runtime = version.into();
        self
    }

    /// Builds the recorder and starts its collector thread. If the thread
    /// cannot be started the recorder is returned disabled (and an error is
    /// logged): instrumentation never takes the app down.
    pub fn build(self) -> Recorder {
        let shared = Arc::new(Shared::new(&self, true));
        match collector::spawn(Arc::clone(&shared)) {
            Ok(()) => Recorder {
                _guard: Some(Arc::new(CollectorGuard {
                    shared: Arc::clone(&shared),
                })),
                shared,
            },
            Err(e) => {
                tracing::error!(target: "fluxlive::recorder", error = %e, "cannot start the recorder's collector thread; recording is off");
                Recorder::disabled()
            }
        }
    }
}

impl Shared {
    fn new(b: &RecorderBuilder, active: bool) -> Self {
        let started_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let start = Instant::now();
        let (watermark, _) = watch::channel(Watermark {
            next_seq: 1,
            closed: !active,
        });
        Self {
            id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
            on: AtomicBool::new(active),
            active,
            idle: AtomicBool::new(false),
            tickets: CachePadded::new(AtomicU64::new(0)),
            ring_capacity: b.ring_capacity,
            new_rings: Mutex::new(Vec::new()),
            side: Mutex::new(Vec::new()),
            orphan_dropped: AtomicU64::new(0),
            flush_waiters: Mutex::new(Vec::new()),
            history: Mutex::new(History::new(
                b.history,
                b.history_bytes,
                Caps {
                    max_value_bytes: b.max_value_bytes,
                },
                start,
            )),
            watermark,
            dropped_total: AtomicU64::new(0),
            start,
            started_unix_us,
            stop: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            collector: OnceLock::new(),
            runtime: b.runtime.clone(),
            types: Mutex::new(HashMap::new()),
            type_registry: Mutex::new(Vec::new()),
            switch: Mutex::new(()),
        }
    }
}

impl Recorder {
    /// Settings for a new recorder.
    pub fn builder() -> RecorderBuilder {
        RecorderBuilder::default()
    }

    /// A recorder that never records and has no collector: `record` costs
    /// one relaxed atomic load.
    pub fn disabled() -> Recorder {
        Recorder {
            shared: Arc::new(Shared::new(&RecorderBuilder::default().history(1), false)),
            _guard: None,
        }
    }

    /// True when events are being recorded (false when disabled or paused).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.shared.on.load(Ordering::Relaxed)
    }

    /// Records an event. Never waits for a consumer, allocates only on a
    /// thread's first event, never formats: when this thread's ring is full
    /// the event is dropped and counted. (An event too big for any ring, such
    /// as a mount with a large state, is queued under a short mutex
    /// instead.) The timestamp is taken here, except for actions, whose
    /// record is stamped with their `started` instant.
    #[inline]
    pub fn record(&self, ev: Event) {
        self.record_ref(&ev);
    }

    /// [`record`](Self::record) for a caller that keeps the event: the
    /// recorder copies what it needs, so the caller can reuse the event's
    /// buffers (the runtime keeps an action's emit list this way).
    #[inline]
    pub fn record_ref(&self, ev: &Event) {
        if !self.shared.on.load(Ordering::Relaxed) {
            return;
        }
        let at = match &ev.body {
            EventBody::Action { started, .. } => *started,
            _ => Instant::now(),
        };
        ring::push(&self.shared, at, ev);
    }

    /// Records an event stamped with `at`, a monotonic instant the caller
    /// already took (e.g. the end of its own diff measurement), saving the
    /// clock read that [`record`](Self::record) does. Actions are still
    /// stamped with their `started` instant.
    #[inline]
    pub fn record_at(&self, ev: Event, at: Instant) {
        if !self.shared.on.load(Ordering::Relaxed) {
            return;
        }
        let at = match &ev.body {
            EventBody::Action { started, .. } => *started,
            _ => at,
        };
        ring::push(&self.shared, at, &ev);
    }

    /// Stops recording (emits a `Recording { on: false }` record).
    pub fn pause(&self) {
        if !self.shared.active {
            return;
        }
        let _switch = lock(&self.shared.switch);
        if self.shared.on.swap(false, Ordering::AcqRel) {
            self.shared.push_side(Item::Recording(false));
        }
    }

    /// Starts recording again (emits a `Recording { on: true }` record).
    /// Diffs made while paused were not seen: record a
    /// [`EventBody::Snapshot`] of each live instance after resuming so that
    /// its later versions can be rebuilt.
    pub fn resume(&self) {
        if !self.shared.active {
            return;
        }
        let _switch = lock(&self.shared.switch);
        if !self.shared.on.load(Ordering::Acquire) {
            self.shared.push_side(Item::Recording(true));
            self.shared.on.store(true, Ordering::Release);
        }
    }

    /// Forgets the recorded history (everything recorded before the call).
    /// Each live instance keeps its newest state, so `state_at` of the
    /// current version and export still work.
    pub fn clear(&self) {
        if self.shared.active {
            self.shared.push_side(Item::Clear);
        }
    }

    /// Reports records lost elsewhere (exporter, client): appended as a
    /// `Dropped` record even while recording is paused.
    pub fn record_drop(&self, count: u64, site: DropSite, reason: &'static str) {
        if self.shared.active && count > 0 {
            self.shared.push_side(Item::Drop {
                count,
                site,
                reason,
            });
        }
    }

    /// Returns once every event recorded (on any thread) before the call is
    /// in the history and visible to subscribers. Returns at once for a
    /// disabled or stopped recorder.
    pub async fn flush(&self) {
        if !self.shared.active {
            return;
        }
        let target = self.shared.tickets.load(Ordering::Acquire);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.flush_waiters).push((target, tx));
        self.shared.wake();
        // An error means the collector stopped: nothing more will come.
        let _ = rx.await;
    }

    /// Streams records: those held from `from_seq` on (the oldest held when
    /// absent or older), then live ones, filtered by `filter`.
    pub fn subscribe(&self, from_seq: Option<u64>, filter: Filter) -> Subscription {
        let cursor = {
            let h = lock(&self.shared.history);
            let b = h.bounds();
            let oldest = if b.oldest_seq == 0 {
                b.next_seq
            } else {
                b.oldest_seq
            };
            from_seq.map_or(oldest, |s| s.max(oldest))
        };
        Subscription::new(Arc::clone(&self.shared), cursor, filter)
    }

    /// What the history holds.
    pub fn bounds(&self) -> HistoryBounds {
        lock(&self.shared.history).bounds()
    }

    /// Approximate bytes held by the history's records.
    pub fn history_bytes(&self) -> usize {
        lock(&self.shared.history).bytes()
    }

    /// Records held.
    pub fn history_len(&self) -> usize {
        lock(&self.shared.history).len()
    }

    /// Records dropped so far at every site (rings, subscribers, reported drops).
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Acquire)
    }

    /// Wall-clock start of this recorder, microseconds since the Unix epoch;
    /// every record's `ts_us` counts from it.
    pub fn started_unix_us(&self) -> u64 {
        self.shared.started_unix_us
    }

    /// The (redacted) state of instance `iid` at `version`, the newest when
    /// `None`. Call [`flush`](Self::flush) first to include the latest events.
    pub fn state_at(&self, iid: u64, version: Option<u64>) -> Result<(u64, Value), StateAtError> {
        lock(&self.shared.history)
            .state_at(iid, version)
            .map(|(v, state, _)| (v, state))
    }

    /// The held history as a session file. It starts with a `Snapshot` of
    /// each instance whose earlier records were evicted, so state at every
    /// held version can be rebuilt from the file alone
    /// ([`state_in_records`](crate::state_in_records)). Call
    /// [`flush`](Self::flush) first to include the latest events.
    pub fn export(&self) -> Session {
        lock(&self.shared.history).export(&self.shared.runtime, self.shared.started_unix_us)
    }

    /// Makes a component type known before its first mount, so that
    /// [`redact_state`](Self::redact_state) can redact it.
    pub fn register_type(&self, meta: &'static TypeMeta) {
        lock(&self.shared.types).entry(meta.name).or_insert(meta);
    }

    /// Redacts the top-level fields of a state or props value of component
    /// type `component` (known from a mount or [`register_type`](Self::register_type)).
    /// Returns false when the type is unknown (the value is left as is).
    pub fn redact_state(&self, component: &str, value: &mut Value) -> bool {
        let meta = lock(&self.shared.types).get(component).copied();
        match meta {
            Some(m) => {
                redact_top(m, value);
                true
            }
            None => false,
        }
    }

    /// Runtime version written into session headers and `hello`.
    pub fn runtime_version(&self) -> &str {
        &self.shared.runtime
    }

    /// Test hook: while held, the collector leaves the rings alone, so a
    /// test can fill a ring on purpose. Holding returns once the collector
    /// has acknowledged it (so no drain is in progress). Do not `flush`
    /// while held.
    #[doc(hidden)]
    pub fn hold_collector(&self, hold: bool) {
        self.shared.hold.store(hold, Ordering::Release);
        self.shared.wake();
        if !hold || !self.shared.active {
            return;
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !self.shared.holding.load(Ordering::Acquire) && Instant::now() < deadline {
            self.shared.wake();
            std::thread::yield_now();
        }
    }
}
