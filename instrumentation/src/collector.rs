//! The collector thread: drains the rings, merges them in ticket order,
//! appends the events to the history as they are (records are built only
//! when read), wakes subscribers and answers flushes.

use crate::convert::ts_since;
use crate::event::{Event, EventBody};
use crate::recorder::{lock, Shared};
use crate::ring::RingCons;
use crate::subscription::Watermark;
use fluxlive_protocol::record::DropSite;
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
const BUSY_POLL: Duration = Duration::from_millis(2);
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
            let wait = if self.has_waiting() || (waiting && !held) {
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
        let mut side = std::mem::take(&mut *lock(&self.shared.side));
        if !side.is_empty() {
            self.side.extend(side.drain(..));
            self.side
                .make_contiguous()
                .sort_unstable_by_key(|p| p.ticket);
        }
        let mut ring_dropped = 0u64;
        // Bound the round by what is there now, so that producers that keep
        // pushing cannot keep the history locked.
        let mut budget = self.side.len();
        self.rings.retain_mut(|r| {
            budget += r.cons.occupied_len();
            let d = r.stats.dropped.load(Ordering::Acquire);
            ring_dropped += d - r.seen_dropped;
            r.seen_dropped = d;
            // Keep the ring while its thread lives or it still holds events.
            r.cons.write_is_held() || !r.cons.is_empty()
        });
        let orphan = self.shared.orphan_dropped.load(Ordering::Acquire);
        ring_dropped += orphan - self.seen_orphan;
        self.seen_orphan = orphan;
        if budget == 0 && ring_dropped == 0 {
            return false;
        }

        let start = self.shared.start;
        let mut dropped = 0u64;
        let mut appended = false;
        let shared = Arc::clone(&self.shared);
        let next_seq = {
            let mut h = lock(&shared.history);
            // Events go from the ring slot straight into the history, in ticket order.
            while budget > 0 {
                budget -= 1;
                let Some((ticket, at, item)) = self.next_ready(&mut ring_dropped) else {
                    break;
                };
                let _ = ticket;
                appended = true;
                match item {
                    Item::Event(ev) => {
                        if let (EventBody::Mount { .. }, Some(k)) = (&ev.body, &ev.instance) {
                            lock(&shared.types).entry(k.meta.name).or_insert(k.meta);
                        }
                        h.append_event(ts_since(start, at), ev.conn, ev.instance, ev.body);
                    }
                    Item::Recording(on) => h.append_recording(ts_since(start, at), on),
                    Item::Drop {
                        count,
                        site,
                        reason,
                    } => {
                        dropped += count;
                        h.append_dropped(ts_since(start, at), count, site, reason);
                    }
                    Item::Clear => h.clear(),
                    Item::Lost => {}
                }
            }
            if ring_dropped > 0 {
                appended = true;
                dropped += ring_dropped;
                let now = self.shared.now_us();
                h.append_dropped(now, ring_dropped, DropSite::Ring, "ring buffer full");
            }
            h.next_seq()
        };
        if dropped > 0 {
            self.shared
                .dropped_total
                .fetch_add(dropped, Ordering::AcqRel);
        }
        if appended {
            self.shared.watermark.send_replace(Watermark {
                next_seq,
                closed: false,
            });
        }
        true
    }

    /// True when items are waiting for an earlier ticket.
    fn has_waiting(&self) -> bool {
        !self.side.is_empty() || self.rings.iter().any(|r| !r.cons.is_empty())
    }

    /// The source whose head has the smallest ticket (`rings.len()` names
    /// the side queue), with that ticket.
    fn min_head(&self) -> Option<(u64, usize)> {
        let heads = self
            .rings
            .iter()
            .map(|r| r.cons.first().map(|s| s.ticket))
            .chain(std::iter::once(self.side.front().map(|p| p.ticket)))
            .enumerate();
        let mut best: Option<(u64, usize)> = None;
        for (i, head) in heads {
            if let Some(t) = head {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, i));
                }
            }
        }
        best
    }

    /// The next item in ticket order, if it has arrived.
    fn next_ready(&mut self, lost: &mut u64) -> Option<(u64, Instant, Item)> {
        loop {
            match self.min_head() {
                Some((ticket, i)) if ticket <= self.next_ticket => {
                    if ticket == self.next_ticket {
                        self.next_ticket += 1;
                    }
                    self.waiting_since = None;
                    return match self.rings.get_mut(i) {
                        Some(r) => r
                            .cons
                            .try_pop()
                            .map(|s| (s.ticket, s.at, Item::Event(s.ev))),
                        None => self.side.pop_front().map(|p| (p.ticket, p.at, p.item)),
                    };
                }
                Some(_) => {
                    let now = Instant::now();
                    let since = *self.waiting_since.get_or_insert(now);
                    if now.duration_since(since) < LOST_AFTER {
                        return None;
                    }
                    tracing::warn!(target: "fluxlive::recorder", ticket = self.next_ticket, "recorder ticket never arrived; counted as dropped");
                    self.next_ticket += 1;
                    *lost += 1;
                    self.waiting_since = None;
                }
                None => return None,
            }
        }
    }
}
