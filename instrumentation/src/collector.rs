//! The collector thread: drains the rings, merges them in ticket order, converts
//! events into records and appends them to the history, wakes subscribers
//! and answers flushes.

use crate::convert::{convert, ts_since, Converted};
use crate::event::Event;
use crate::recorder::{lock, Shared};
use crate::ring::{RingCons, Slot};
use crate::subscription::Watermark;
use fluxlive_protocol::record::{DropSite, RecordBody};
use ringbuf::traits::{Consumer, Observer};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A ticket that has not arrived after this long is declared lost, so that
/// a thread that died between drawing a ticket and pushing cannot stall the
/// recorder (it cannot happen in safe code; this is a safety valve).
const LOST_AFTER: Duration = Duration::from_secs(2);
/// Poll interval while events are flowing.
const BUSY_POLL: Duration = Duration::from_millis(1);
/// Longest poll interval when idle.
const IDLE_POLL: Duration = Duration::from_millis(8);
/// Poll interval while waiting for a ticket that is being pushed.
const GAP_POLL: Duration = Duration::from_micros(50);

/// Something with a ticket, waiting for its turn in the merge.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) ticket: u64,
    pub(crate) at: Instant,
    pub(crate) item: Item,
}

/// What a pending ticket stands for.
// Events are moved out of ring slots as they are; boxing them here would
// add an allocation per event on the collector.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Item {
    Event(Event),
    Recording(bool),
    Drop {
        count: u64,
        site: DropSite,
        reason: &'static str,
    },
    Clear,
    /// A ticket whose event was lost (counted elsewhere).
    Lost,
}

impl From<Slot> for Pending {
    fn from(s: Slot) -> Self {
        Pending {
            ticket: s.ticket,
            at: s.at,
            item: Item::Event(s.ev),
        }
    }
}

/// Converted work, applied to the history in ticket order.
enum Step {
    Record(Converted),
    Plain(u64, RecordBody),
    Drop(u64, u64, DropSite, &'static str),
    Clear,
}

pub(crate) fn spawn(shared: Arc<Shared>) -> std::io::Result<()> {
    let for_thread = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("fluxlive-recorder".to_owned())
        .spawn(move || Collector::new(for_thread).run())?;
    let _ = shared.collector.set(handle.thread().clone());
    Ok(())
}

struct Collector {
    shared: Arc<Shared>,
    rings: Vec<RingCons>,
    /// Control items, sorted by ticket.
    side: VecDeque<Pending>,
    next_ticket: u64,
    waiting_since: Option<Instant>,
    seen_orphan: u64,
}

impl Collector {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            rings: Vec::new(),
            side: VecDeque::new(),
            next_ticket: 0,
            waiting_since: None,
            seen_orphan: 0,
        }
    }

    fn run(mut self) {
        let mut idle = Duration::from_micros(500);
        loop {
            let stopping = self.shared.stop.load(Ordering::Acquire);
            // Only flushes registered before this round's drain can be answered by it.
            let waiters = std::mem::take(&mut *lock(&self.shared.flush_waiters));
            let held = self.shared.hold.load(Ordering::Acquire);
            self.shared.holding.store(held, Ordering::Release);
            let worked = !held && self.round();
            let mut unanswered = Vec::new();
            for (target, tx) in waiters {
                if !held && self.next_ticket >= target {
                    let _ = tx.send(());
                } else {
                    unanswered.push((target, tx));
                }
            }
            let waiting = !unanswered.is_empty();
            if waiting {
                lock(&self.shared.flush_waiters).extend(unanswered);
            }
            if stopping {
                lock(&self.shared.flush_waiters).clear();
                self.shared.watermark.send_modify(|w| w.closed = true);
                tracing::debug!(target: "fluxlive::recorder", "collector stopped");
                return;
            }
            let wait = if self.has_staged() || (waiting && !held) {
                GAP_POLL
            } else if worked {
                idle = Duration::from_micros(500);
                BUSY_POLL
            } else {
                idle = (idle * 2).min(IDLE_POLL);
                idle
            };
            std::thread::park_timeout(wait);
        }
    }

    /// One drain-and-append pass; true when anything happened.
    fn round(&mut self) -> bool {
        self.rings.append(&mut lock(&self.shared.new_rings));
        let mut got = 0usize;
        let mut side = std::mem::take(&mut *lock(&self.shared.side));
        if !side.is_empty() {
            got += side.len();
            self.side.extend(side.drain(..));
            self.side
                .make_contiguous()
                .sort_unstable_by_key(|p| p.ticket);
        }
        let mut ring_dropped = 0u64;
        self.rings.retain_mut(|r| {
            let cap = r.cons.capacity().get();
            let before = r.staged.len();
            r.staged
                .extend(r.cons.pop_iter().take(cap).map(Pending::from));
            got += r.staged.len() - before;
            let d = r.stats.dropped.load(Ordering::Acquire);
            ring_dropped += d - r.seen_dropped;
            r.seen_dropped = d;
            // Keep the ring while its thread lives or it still holds events.
            r.cons.write_is_held() || !r.cons.is_empty() || !r.staged.is_empty()
        });
        let orphan = self.shared.orphan_dropped.load(Ordering::Acquire);
        ring_dropped += orphan - self.seen_orphan;
        self.seen_orphan = orphan;

        let ready = self.take_ready(&mut ring_dropped);
        if ready.is_empty() && ring_dropped == 0 {
            return got > 0;
        }
        let start = self.shared.start;
        let caps = self.shared.caps;
        let steps: Vec<Step> = ready
            .into_iter()
            .filter_map(|p| {
                let ts = ts_since(start, p.at);
                Some(match p.item {
                    Item::Event(ev) => Step::Record(convert(ev, p.at, start, caps)),
                    Item::Recording(on) => Step::Plain(ts, RecordBody::Recording { on }),
                    Item::Drop {
                        count,
                        site,
                        reason,
                    } => Step::Drop(ts, count, site, reason),
                    Item::Clear => Step::Clear,
                    Item::Lost => return None,
                })
            })
            .collect();
        self.apply(steps, ring_dropped);
        true
    }

    fn has_staged(&self) -> bool {
        !self.side.is_empty() || self.rings.iter().any(|r| !r.staged.is_empty())
    }

    /// The queue whose head has the smallest ticket (`rings.len()` names
    /// the side queue), with that ticket.
    fn min_head(&self) -> Option<(u64, usize)> {
        let heads = self
            .rings
            .iter()
            .map(|r| r.staged.front())
            .chain(std::iter::once(self.side.front()))
            .enumerate();
        let mut best: Option<(u64, usize)> = None;
        for (i, head) in heads {
            if let Some(p) = head {
                if best.is_none_or(|(t, _)| p.ticket < t) {
                    best = Some((p.ticket, i));
                }
            }
        }
        best
    }

    /// Takes everything that is next in ticket order.
    fn take_ready(&mut self, lost: &mut u64) -> Vec<Pending> {
        let mut ready = Vec::new();
        loop {
            match self.min_head() {
                Some((ticket, i)) if ticket <= self.next_ticket => {
                    if ticket == self.next_ticket {
                        self.next_ticket += 1;
                    }
                    self.waiting_since = None;
                    let queue = match self.rings.get_mut(i) {
                        Some(r) => &mut r.staged,
                        None => &mut self.side,
                    };
                    if let Some(p) = queue.pop_front() {
                        ready.push(p);
                    }
                }
                Some(_) => {
                    let now = Instant::now();
                    let since = *self.waiting_since.get_or_insert(now);
                    if now.duration_since(since) < LOST_AFTER {
                        break;
                    }
                    tracing::warn!(target: "fluxlive::recorder", ticket = self.next_ticket, "recorder ticket never arrived; counted as dropped");
                    self.next_ticket += 1;
                    *lost += 1;
                    self.waiting_since = None;
                }
                None => break,
            }
        }
        ready
    }

    fn apply(&mut self, steps: Vec<Step>, ring_dropped: u64) {
        let mut dropped = ring_dropped;
        {
            let mut types = lock(&self.shared.types);
            for s in &steps {
                if let Step::Record(c) = s {
                    if let (Some(meta), RecordBody::Mount { .. }) = (c.meta, &c.body) {
                        types.entry(meta.name).or_insert(meta);
                    }
                }
            }
        }
        let next_seq = {
            let mut h = lock(&self.shared.history);
            if ring_dropped > 0 {
                let now = self.shared.now_us();
                h.append_dropped(now, ring_dropped, DropSite::Ring, "ring buffer full");
            }
            for s in steps {
                match s {
                    Step::Record(c) => h.append(c),
                    Step::Plain(ts, body) => h.append_plain(ts, body),
                    Step::Drop(ts, count, site, reason) => {
                        dropped += count;
                        h.append_dropped(ts, count, site, reason);
                    }
                    Step::Clear => h.clear(),
                }
            }
            h.next_seq()
        };
        if dropped > 0 {
            self.shared
                .dropped_total
                .fetch_add(dropped, Ordering::AcqRel);
        }
        self.shared.watermark.send_replace(Watermark {
            next_seq,
            closed: false,
        });
    }
}
