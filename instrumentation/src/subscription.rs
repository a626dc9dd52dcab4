//! Subscriptions: a cursor into the history, woken by the collector.
//!
//! A subscriber reads from the shared history at its own pace; the app
//! never waits for it. When it falls further behind than the history holds,
//! its next batch starts with a `Dropped { site: subscriber }` record whose
//! `count` is the number of sequence numbers it missed (and whose `seq` is
//! the last of them, so the stream jumps from `seq - count` to `seq`).

use crate::recorder::{lock, Shared};
use fluxlive_protocol::debug::Filter;
use fluxlive_protocol::record::Record;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// Largest batch returned by one [`Subscription::recv`].
pub const MAX_BATCH: usize = 256;

/// What the collector publishes after each pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Watermark {
    pub(crate) next_seq: u64,
    pub(crate) closed: bool,
}

/// A stream of records: backfill from the history, then live.
pub struct Subscription {
    shared: Arc<Shared>,
    cursor: u64,
    filter: Filter,
    rx: watch::Receiver<Watermark>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(shared: Arc<Shared>, cursor: u64, filter: Filter) -> Self {
        let rx = shared.watermark.subscribe();
        Self {
            shared,
            cursor,
            filter,
            rx,
        }
    }

    /// The next batch (at most [`MAX_BATCH`] records, in sequence order),
    /// waiting for new records when none are ready. `None` once the recorder
    /// has stopped (or is disabled) and everything held was read.
    /// Cancel-safe: no record is lost when the future is dropped.
    pub async fn recv(&mut self) -> Option<Vec<Record>> {
        loop {
            let mark = *self.rx.borrow_and_update();
            let (records, more) = self.read();
            if !records.is_empty() {
                return Some(records);
            }
            if more {
                continue;
            }
            if mark.closed {
                return None;
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Waits until records past the cursor may be there, without reading
    /// them: a consumer can then choose between [`try_recv`](Self::try_recv)
    /// and [`skip_to_end`](Self::skip_to_end). False once the recorder has
    /// stopped (or is disabled) and nothing is left to read.
    pub async fn ready(&mut self) -> bool {
        loop {
            let mark = *self.rx.borrow_and_update();
            if mark.next_seq > self.cursor {
                return true;
            }
            if mark.closed || self.rx.changed().await.is_err() {
                return false;
            }
        }
    }

    /// The next batch if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Vec<Record>> {
        loop {
            let (records, more) = self.read();
            if !records.is_empty() {
                return Some(records);
            }
            if !more {
                return None;
            }
        }
    }

    fn read(&mut self) -> (Vec<Record>, bool) {
        let now = self.shared.now_us();
        let out = lock(&self.shared.history).read(&mut self.cursor, &self.filter, MAX_BATCH, now);
        if out.missed > 0 {
            self.shared
                .dropped_total
                .fetch_add(out.missed, Ordering::AcqRel);
            tracing::debug!(target: "fluxlive::recorder", missed = out.missed, "subscriber lagged");
        }
        (out.records, out.more)
    }

    /// Moves past every record recorded so far without reading them and
    /// returns how many records were passed over (records this
    /// subscription's filter would have rejected included; `Dropped`
    /// records excluded). For a consumer
    /// shedding load, e.g. an exporter whose collector is unreachable:
    /// skipping costs the same for a million records as for one, while
    /// reading builds each record. The caller reports the loss if it is one
    /// (see [`Recorder::record_drop`](crate::Recorder::record_drop)).
    pub fn skip_to_end(&mut self) -> u64 {
        lock(&self.shared.history).skip(&mut self.cursor)
    }

    /// Replaces the filter; applies from the next record read.
    pub fn set_filter(&mut self, filter: Filter) {
        self.filter = filter;
    }

    /// The sequence number this subscription reads next.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }
}
