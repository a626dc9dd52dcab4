//! The live exporter: a bounded, lossy queue in front of one background
//! thread that maps records to spans and metrics and sends them over
//! OTLP/HTTP.
//!
//! [`OtelExporter::offer`] never blocks: it reserves room in the queue with
//! one atomic add, and what does not fit is counted as dropped and reported
//! through [`OtelExporter::on_drop`] (from the export thread, never from the
//! caller's). The export thread is the only one that waits on the network.

use crate::config::{OtelConfig, Protocol};
use crate::error::Error;
use crate::ids::IdGen;
use crate::metrics::MetricsAgg;
use crate::resource;
use crate::spans::{MapOptions, SpanMapper};
use crate::transport::{Signal, Transport};
use fluxlive_protocol::record::Record;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Called with a count and a fixed reason whenever records or spans are
/// lost: `queue_full`, `collector_rejected`, `collector_partial_success`,
/// `retries_exhausted`, `timeout`, `collector_unreachable`, `transport_error`.
pub type DropCallback = Box<dyn Fn(u64, &'static str) + Send + Sync>;

/// Counters since the exporter started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Records passed to `offer`.
    pub records_offered: u64,
    /// Records refused by `offer` (queue full, or exporter shut down).
    pub records_dropped: u64,
    /// Spans the collector accepted.
    pub spans_exported: u64,
    /// Spans lost after they were built: refused, timed out, unreachable
    /// collector, retries exhausted, or rejected by a partial success.
    pub spans_dropped: u64,
    /// Span requests the collector accepted.
    pub batches_exported: u64,
    /// Span requests given up.
    pub batches_failed: u64,
    /// Span and metric requests sent again after 429/502/503/504.
    pub retries: u64,
    /// Metric requests the collector accepted.
    pub metric_exports: u64,
    /// Metric requests given up (metrics are cumulative: the next export
    /// carries the totals).
    pub metric_exports_failed: u64,
}

#[derive(Default)]
struct Counters {
    offered: AtomicU64,
    records_dropped: AtomicU64,
    unreported_drops: AtomicU64,
    /// Records skipped unread while the collector was unreachable.
    unreported_unreachable: AtomicU64,
    spans_exported: AtomicU64,
    spans_dropped: AtomicU64,
    batches_exported: AtomicU64,
    batches_failed: AtomicU64,
    retries: AtomicU64,
    metric_exports: AtomicU64,
    metric_exports_failed: AtomicU64,
}

struct Shared {
    capacity: usize,
    queued: AtomicUsize,
    /// Clock of `down_until_us`.
    epoch: Instant,
    /// While the collector is unreachable: end of the back-off, in µs
    /// since `epoch` (0: reachable). Read by [`OtelExporter::shedding`].
    down_until_us: AtomicU64,
    /// After a back-off, one batch is let through to probe the collector
    /// and everything else is shed until its answer, or until this time
    /// (µs since `epoch`; a probe that produced no request must not stall
    /// the export for good).
    probe_until_us: AtomicU64,
    counters: Counters,
    on_drop: Mutex<Option<Arc<DropCallback>>>,
}

impl Shared {
    fn report(&self, n: u64, reason: &'static str) {
        if n == 0 {
            return;
        }
        let cb = self
            .on_drop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(cb) = cb {
            if catch_unwind(AssertUnwindSafe(|| cb(n, reason))).is_err() {
                tracing::error!(target: "fluxlive_otel", "on_drop callback panicked");
            }
        }
    }
}

enum Msg {
    Records(Vec<Record>),
    /// Drops were counted while the thread may be idle: report them.
    Report,
    Flush(Instant, mpsc::SyncSender<()>),
    Shutdown(Instant, mpsc::SyncSender<()>),
}

/// Exports fluxlive records as OpenTelemetry spans and metrics.
///
/// ```no_run
/// use fluxlive_otel::{OtelConfig, OtelExporter};
/// let exporter = OtelExporter::start(OtelConfig::from_env()?.started_unix_us(1_700_000_000_000_000))?;
/// exporter.on_drop(Box::new(|count, reason| eprintln!("lost {count}: {reason}")));
/// // for each batch from the recorder subscription:
/// exporter.offer(&[]);
/// exporter.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct OtelExporter {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Msg>,
    closed: AtomicBool,
    shutdown_timeout: Duration,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for OtelExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelExporter")
            .field("capacity", &self.shared.capacity)
            .field("queued", &self.shared.queued.load(Ordering::Relaxed))
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// Now, in µs since the Unix epoch.
pub(crate) fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl OtelExporter {
    /// Validates `config` and starts the export thread.
    pub fn start(config: OtelConfig) -> Result<Self, Error> {
        config.validate()?;
        let started = config.started_unix_us.unwrap_or_else(now_unix_us);
        let shared = Arc::new(Shared {
            capacity: config.queue_capacity,
            queued: AtomicUsize::new(0),
            epoch: Instant::now(),
            down_until_us: AtomicU64::new(0),
            probe_until_us: AtomicU64::new(0),
            counters: Counters::default(),
            on_drop: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        let worker = Worker {
            rx,
            shared: Arc::clone(&shared),
            mapper: SpanMapper::new(
                started,
                IdGen::new(IdGen::random_seed()),
                MapOptions {
                    max_attr_len: config.max_attribute_len,
                    record_values: config.record_values,
                    sampler: config.sampler,
                },
            ),
            metrics: config.metrics_endpoint.clone().map(|url| MetricsSide {
                url,
                agg: MetricsAgg::new(now_unix_us().saturating_mul(1_000)),
                interval: config.metrics_interval,
                next_due: after(now, config.metrics_interval),
            }),
            transport: Transport::new(
                config.protocol,
                config.headers.clone(),
                config.timeout,
                config.retry,
            ),
            resource: resource::resource_for(&config),
            scope: resource::scope(),
            traces_url: config.traces_endpoint.clone(),
            protocol: config.protocol,
            max_batch: config.max_batch,
            batch_delay: config.batch_delay,
            linger: config.linger,
            shutdown_timeout: config.shutdown_timeout,
            pending: Vec::new(),
            batch_due: None,
            next_tick: after(now, config.linger),
            next_report: now,
            report_pending: false,
            failing: false,
            down_until: None,
            down_for: FIRST_DOWN,
        };
        let handle = std::thread::Builder::new()
            .name("fluxlive-otel".into())
            .spawn(move || worker.run())
            .map_err(Error::Spawn)?;
        Ok(Self {
            shared,
            tx,
            closed: AtomicBool::new(false),
            shutdown_timeout: config.shutdown_timeout,
            worker: Mutex::new(Some(handle)),
        })
    }

    /// Queues copies of `records` for export without blocking; what does not
    /// fit in the queue is counted as dropped.
    pub fn offer(&self, records: &[Record]) {
        let take = self.admit(records.len());
        if take > 0 {
            self.send(records[..take].to_vec());
        }
    }

    /// Like [`OtelExporter::offer`] for records the caller owns (no copy).
    pub fn offer_owned(&self, mut records: Vec<Record>) {
        let take = self.admit(records.len());
        if take > 0 {
            records.truncate(take);
            self.send(records);
        }
    }

    /// Why records offered now would be dropped, if they would:
    /// `"queue_full"` (the export thread is behind, e.g. a collector that
    /// hangs) or `"collector_unreachable"` (backing off). A feeder can then
    /// skip them without building them and call [`shed`](Self::shed).
    pub fn shedding(&self) -> Option<&'static str> {
        let down = self.shared.down_until_us.load(Ordering::Relaxed);
        if down > 0 {
            let now = micros_since(self.shared.epoch);
            if now < down {
                return Some("collector_unreachable");
            }
            // Past the back-off: the first caller sends a probe batch.
            let probe = self.shared.probe_until_us.load(Ordering::Acquire);
            if now < probe
                || self
                    .shared
                    .probe_until_us
                    .compare_exchange(
                        probe,
                        now + PROBE_WINDOW_US,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err()
            {
                return Some("collector_unreachable");
            }
        }
        if self.closed.load(Ordering::Relaxed)
            || self.shared.queued.load(Ordering::Relaxed) >= self.shared.capacity
        {
            return Some("queue_full");
        }
        None
    }

    /// Counts `n` records a feeder skipped because of [`shedding`](Self::shedding):
    /// offered and dropped, reported through [`on_drop`](Self::on_drop) with `reason`.
    pub fn shed(&self, n: u64, reason: &'static str) {
        if n == 0 {
            return;
        }
        let c = &self.shared.counters;
        c.offered.fetch_add(n, Ordering::Relaxed);
        c.records_dropped.fetch_add(n, Ordering::Relaxed);
        let counter = if reason == "collector_unreachable" {
            &c.unreported_unreachable
        } else {
            &c.unreported_drops
        };
        // The first unreported drop wakes the export thread, which reports
        // everything counted until then in one callback.
        if counter.fetch_add(n, Ordering::AcqRel) == 0 {
            let _ = self.tx.send(Msg::Report);
        }
    }

    /// Counts `n` offered records and reserves queue room for as many as fit.
    fn admit(&self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        self.shared
            .counters
            .offered
            .fetch_add(n as u64, Ordering::Relaxed);
        self.reserve(n)
    }

    /// Reserves queue room for up to `n` records; counts the rest as dropped.
    fn reserve(&self, n: usize) -> usize {
        let take = if self.closed.load(Ordering::Relaxed) {
            0
        } else {
            let prev = self.shared.queued.fetch_add(n, Ordering::AcqRel);
            let take = n.min(self.shared.capacity.saturating_sub(prev));
            if take < n {
                self.shared.queued.fetch_sub(n - take, Ordering::AcqRel);
            }
            take
        };
        self.dropped(n - take);
        take
    }

    fn send(&self, batch: Vec<Record>) {
        let n = batch.len();
        if self.tx.send(Msg::Records(batch)).is_err() {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.dropped(n);
        }
    }

    fn dropped(&self, n: usize) {
        if n > 0 {
            let c = &self.shared.counters;
            c.records_dropped.fetch_add(n as u64, Ordering::Relaxed);
            c.unreported_drops.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Sets the callback told about every loss (see [`DropCallback`]). It
    /// runs on the export thread; a panic in it is caught and logged.
    pub fn on_drop(&self, f: DropCallback) {
        *self
            .shared
            .on_drop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(f));
    }

    /// Counters so far.
    pub fn stats(&self) -> ExportStats {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExportStats {
            records_offered: l(&c.offered),
            records_dropped: l(&c.records_dropped),
            spans_exported: l(&c.spans_exported),
            spans_dropped: l(&c.spans_dropped),
            batches_exported: l(&c.batches_exported),
            batches_failed: l(&c.batches_failed),
            retries: l(&c.retries),
            metric_exports: l(&c.metric_exports),
            metric_exports_failed: l(&c.metric_exports_failed),
        }
    }

    /// Sends everything offered so far (action spans stop waiting for their
    /// diffs) and the current metrics; waits at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let (ack, done) = mpsc::sync_channel(1);
        let deadline = after(Instant::now(), timeout);
        self.tx
            .send(Msg::Flush(deadline, ack))
            .map_err(|_| Error::Closed)?;
        done.recv_timeout(timeout.saturating_add(ACK_GRACE))
            .map_err(|_| Error::Timeout(timeout))
    }

    /// Sends what is queued and stops the export thread, waiting at most the
    /// configured shutdown timeout. Later offers are counted as dropped.
    pub fn shutdown(&self) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::Closed);
        }
        let timeout = self.shutdown_timeout;
        let (ack, done) = mpsc::sync_channel(1);
        if self
            .tx
            .send(Msg::Shutdown(after(Instant::now(), timeout), ack))
            .is_err()
        {
            return Ok(());
        }
        match done.recv_timeout(timeout.saturating_add(ACK_GRACE)) {
            Ok(()) => {
                let handle = self
                    .worker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(h) = handle {
                    if h.join().is_err() {
                        tracing::error!(target: "fluxlive_otel", "export thread panicked");
                    }
                }
                Ok(())
            }
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

/// `t + d`, saturating at a year: configured durations may be huge (a
/// "never" metrics interval) and `Instant` addition would overflow.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    t.checked_add(d.min(FAR)).unwrap_or(t)
}

/// Longest sleep of an idle export thread.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Extra wait for the export thread's answer beyond its own deadline.
const ACK_GRACE: Duration = Duration::from_millis(250);

impl Drop for OtelExporter {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            if let Err(e) = self.shutdown() {
                tracing::warn!(target: "fluxlive_otel", error = %e, "exporter dropped without a clean shutdown");
            }
        }
    }
}

struct MetricsSide {
    url: String,
    agg: MetricsAgg,
    interval: Duration,
    next_due: Instant,
}

struct Worker {
    rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    mapper: SpanMapper,
    metrics: Option<MetricsSide>,
    transport: Transport,
    resource: Resource,
    scope: InstrumentationScope,
    traces_url: String,
    protocol: Protocol,
    max_batch: usize,
    batch_delay: Duration,
    linger: Duration,
    shutdown_timeout: Duration,
    pending: Vec<Span>,
    batch_due: Option<Instant>,
    next_tick: Instant,
    failing: bool,
    /// Collector unreachable: until then, records are dropped (and counted)
    /// without mapping or encoding them, so a dead collector costs the app
    /// no CPU. Doubles on each consecutive failure, up to [`MAX_DOWN`].
    down_until: Option<Instant>,
    down_for: Duration,
    /// Drop reports are aggregated: at most one per [`REPORT_EVERY`], so a
    /// feeder shedding at every recorder pass does not turn into a
    /// `Dropped` record (and two thread wake-ups) per pass.
    next_report: Instant,
    report_pending: bool,
}

/// Shortest time between two drop reports of the same kind.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// How long the records of one probe batch may take to produce a request.
const PROBE_WINDOW_US: u64 = 2_000_000;

/// First and longest pause after the collector was found unreachable.
const FIRST_DOWN: Duration = Duration::from_millis(500);
const MAX_DOWN: Duration = Duration::from_secs(30);

impl Worker {
    fn run(mut self) {
        loop {
            let now = Instant::now();
            // Nothing held back: no tick needed until a record arrives.
            let mut wake = if self.mapper.pending() == 0 {
                after(now, IDLE_WAIT)
            } else {
                self.next_tick
            };
            if let Some(d) = self.batch_due {
                wake = wake.min(d);
            }
            if let Some(m) = &self.metrics {
                wake = wake.min(m.next_due);
            }
            if self.report_pending {
                wake = wake.min(self.next_report);
            }
            match self.rx.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(Msg::Records(records)) => self.ingest(records),
                Ok(Msg::Report) => {}
                Ok(Msg::Flush(deadline, ack)) => {
                    self.mapper.flush_pending(&mut self.pending);
                    self.send_spans(Some(deadline));
                    self.send_metrics(Some(deadline));
                    self.report_drops(true);
                    let _ = ack.send(());
                }
                Ok(Msg::Shutdown(deadline, ack)) => {
                    self.finish(deadline);
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(after(Instant::now(), self.shutdown_timeout));
                    return;
                }
            }
            self.on_time(Instant::now());
            self.report_drops(false);
        }
    }

    fn finish(&mut self, deadline: Instant) {
        // Records still in the channel were accepted by `offer`: send them
        // too. A flush that raced with the shutdown is answered after it.
        let mut acks = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Records(r) => self.ingest(r),
                Msg::Report => {}
                Msg::Flush(_, ack) | Msg::Shutdown(_, ack) => acks.push(ack),
            }
        }
        self.mapper.drain(&mut self.pending);
        self.send_spans(Some(deadline));
        self.send_metrics(Some(deadline));
        self.report_drops(true);
        for ack in acks {
            let _ = ack.send(());
        }
    }

    fn ingest(&mut self, records: Vec<Record>) {
        self.shared
            .queued
            .fetch_sub(records.len(), Ordering::AcqRel);
        if let Some(until) = self.down_until {
            if Instant::now() < until {
                let n = records.len() as u64;
                self.shared
                    .counters
                    .records_dropped
                    .fetch_add(n, Ordering::Relaxed);
                self.shared.report(n, "collector_unreachable");
                return;
            }
            // Try again with the next batch (feeders keep shedding until
            // its answer: `down_until_us` stays set until a send succeeds).
            self.down_until = None;
        }
        for r in &records {
            if let Some(m) = &mut self.metrics {
                m.agg.observe(r);
            }
            self.mapper.push(r, &mut self.pending);
        }
        self.schedule_batch();
    }

    fn schedule_batch(&mut self) {
        if !self.pending.is_empty() && self.batch_due.is_none() {
            self.batch_due = Some(after(Instant::now(), self.batch_delay));
        }
    }

    fn on_time(&mut self, now: Instant) {
        if now >= self.next_tick {
            self.mapper.advance(&mut self.pending);
            self.next_tick = after(now, self.linger);
            self.schedule_batch();
        }
        if self.pending.len() >= self.max_batch || self.batch_due.is_some_and(|d| now >= d) {
            self.send_spans(None);
        }
        if self.metrics.as_ref().is_some_and(|m| now >= m.next_due) {
            self.send_metrics(None);
        }
    }

    /// Reports drops counted outside the export thread (queue full, shed),
    /// at most once per [`REPORT_EVERY`] unless `now`.
    fn report_drops(&mut self, now: bool) {
        let at = Instant::now();
        if !now && at < self.next_report {
            let c = &self.shared.counters;
            self.report_pending = c.unreported_drops.load(Ordering::Relaxed) > 0
                || c.unreported_unreachable.load(Ordering::Relaxed) > 0;
            return;
        }
        self.next_report = after(at, REPORT_EVERY);
        self.report_pending = false;
        self.report_queue_drops();
    }

    fn report_queue_drops(&self) {
        let n = self
            .shared
            .counters
            .unreported_drops
            .swap(0, Ordering::Relaxed);
        self.shared.report(n, "queue_full");
        let n = self
            .shared
            .counters
            .unreported_unreachable
            .swap(0, Ordering::Relaxed);
        self.shared.report(n, "collector_unreachable");
    }

    fn encode<M: Message + serde::Serialize>(&self, msg: &M) -> Option<Vec<u8>> {
        match self.protocol {
            Protocol::HttpProtobuf => Some(msg.encode_to_vec()),
            Protocol::HttpJson => serde_json::to_vec(msg)
                .map_err(|e| tracing::error!(target: "fluxlive_otel", error = %e, "could not encode OTLP/JSON"))
                .ok(),
        }
    }

    fn send_spans(&mut self, deadline: Option<Instant>) {
        self.batch_due = None;
        let c = &self.shared.counters;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(self.max_batch);
            let spans: Vec<Span> = self.pending.drain(..n).collect();
            let req = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(self.resource.clone()),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(self.scope.clone()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            };
            let n = n as u64;
            let result = match self.encode(&req) {
                Some(body) => self.transport.post(
                    &self.traces_url,
                    &body,
                    Signal::Traces,
                    deadline,
                    &c.retries,
                ),
                None => Err(crate::transport::Failure::Transport),
            };
            match result {
                Ok(d) => {
                    let rejected = d.rejected.min(n);
                    c.batches_exported.fetch_add(1, Ordering::Relaxed);
                    c.spans_exported.fetch_add(n - rejected, Ordering::Relaxed);
                    c.spans_dropped.fetch_add(rejected, Ordering::Relaxed);
                    self.shared.report(rejected, "collector_partial_success");
                    if self.failing {
                        tracing::info!(target: "fluxlive_otel", "OTLP export recovered");
                        self.failing = false;
                    }
                    self.down_for = FIRST_DOWN;
                    self.shared.down_until_us.store(0, Ordering::Relaxed);
                    self.shared.probe_until_us.store(0, Ordering::Release);
                }
                Err(f) => {
                    c.batches_failed.fetch_add(1, Ordering::Relaxed);
                    c.spans_dropped.fetch_add(n, Ordering::Relaxed);
                    self.shared.report(n, f.reason());
                    if matches!(f, crate::transport::Failure::Unreachable) && deadline.is_none() {
                        let until = Instant::now() + self.down_for;
                        self.down_until = Some(until);
                        self.shared.down_until_us.store(
                            micros_since(self.shared.epoch)
                                .saturating_add(micros(self.down_for))
                                .max(1),
                            Ordering::Relaxed,
                        );
                        self.down_for = (self.down_for * 2).min(MAX_DOWN);
                        self.shared.probe_until_us.store(0, Ordering::Release);
                    } else {
                        // Reachable (it answered, or timed out): not backing off.
                        self.shared.down_until_us.store(0, Ordering::Relaxed);
                        self.shared.probe_until_us.store(0, Ordering::Release);
                    }
                    if self.failing {
                        tracing::debug!(target: "fluxlive_otel", failure = ?f, spans = n, "OTLP span export failed");
                    } else {
                        tracing::warn!(target: "fluxlive_otel", failure = ?f, spans = n, url = %self.traces_url,
                            "OTLP span export failed; further failures are logged at debug level until it recovers");
                        self.failing = true;
                    }
                }
            }
        }
    }

    fn send_metrics(&mut self, deadline: Option<Instant>) {
        let Some(m) = &self.metrics else { return };
        let c = &self.shared.counters;
        let req = m.agg.to_request(
            &self.resource,
            &self.scope,
            now_unix_us().saturating_mul(1_000),
            c.offered.load(Ordering::Relaxed),
            c.records_dropped.load(Ordering::Relaxed),
        );
        let url = m.url.clone();
        let result = match self.encode(&req) {
            Some(body) => self
                .transport
                .post(&url, &body, Signal::Metrics, deadline, &c.retries),
            None => Err(crate::transport::Failure::Transport),
        };
        match result {
            Ok(_) => c.metric_exports.fetch_add(1, Ordering::Relaxed),
            Err(f) => {
                tracing::debug!(target: "fluxlive_otel", failure = ?f, "OTLP metric export failed");
                c.metric_exports_failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        if let Some(m) = &mut self.metrics {
            m.next_due = after(Instant::now(), m.interval);
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn micros_since(epoch: Instant) -> u64 {
    micros(epoch.elapsed())
}
