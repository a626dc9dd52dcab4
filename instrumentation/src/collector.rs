//! The collector thread: drains the rings, merges them in ticket order,
//! appends the events to the history as they are (records are built only
//! when read), wakes subscribers and answers flushes.

use crate::clock::Instant;
use crate::history::History;
use crate::recorder::{lock, Shared};
use crate::ring::RingCons;
use crate::subscription::Watermark;
use crate::wire::{Header, Made, HEADER};
use fluxlive_protocol::record::DropSite;
use ringbuf::traits::{Consumer, Observer};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A ticket that has not arrived after this long is declared lost, so that
/// a thread that died between drawing a ticket and pushing cannot stall the
/// recorder (it cannot happen in safe code; this is a safety valve).
const LOST_AFTER: Duration = Duration::from_secs(2);
/// Poll interval while events are flowing: the most a live subscriber
/// waits for a record. Every wake-up is a timer, two context switches and,
/// in a VM, exits to the hypervisor, on cores the app is using; at 1 ms the
/// collector woke about 880 times a second at saturation, at 10 ms about
/// 150 (the rest are quarter-full wake-ups; `docs/benchmarks.md`). A ring
/// that fills to a quarter wakes the collector sooner.
const BUSY_POLL: Duration = Duration::from_millis(10);
/// Poll interval when idle. The first push after an idle round wakes the
/// collector at once (see [`Shared::idle`](crate::recorder::Shared)), so this
/// only bounds the delay when that wake-up is missed by a hair.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// Poll interval while waiting for a ticket that is being pushed.
const GAP_POLL: Duration = Duration::from_micros(50);

/// Something with a ticket, waiting for its turn in the merge.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) ticket: u64,
    pub(crate) at: Instant,
    pub(crate) item: Item,
}

/// What a side ticket stands for.
#[derive(Debug)]
pub(crate) enum Item {
    /// An encoded event too big for its thread's ring.
    Entry(Vec<u8>),
    Recording(bool),
    Drop {
        count: u64,
        site: DropSite,
        reason: &'static str,
    },
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
            // Entries that arrived after the round are left for the next
            // poll; only a gap (a push in progress) or a flush waits less.
            let wait = if (waiting || self.gap()) && !held {
                GAP_POLL
            } else if worked {
                BUSY_POLL
            } else {
                // Nothing came since the last round: let the next push wake us.
                self.shared.idle.store(true, Ordering::SeqCst);
                if !held && self.has_pending() {
                    // It came in between.
                    self.shared.idle.store(false, Ordering::Relaxed);
                    continue;
                }
                IDLE_POLL
            };
            std::thread::park_timeout(wait);
            self.shared.idle.store(false, Ordering::Relaxed);
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
        // Bound the round by what is there now (every entry is at least a
        // header long), so that producers that keep pushing cannot keep the
        // history locked.
        let mut budget = self.side.len();
        self.rings.retain_mut(|r| {
            budget += r.cons.occupied_len() / HEADER;
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

        let mut dropped = 0u64;
        let mut appended = false;
        let shared = Arc::clone(&self.shared);
        let next_seq = {
            let mut h = lock(&shared.history);
            h.sync_types(&lock(&shared.type_registry));
            // Entries go from the ring straight into the history's arena, in ticket order.
            while budget > 0 {
                budget -= 1;
                let Some(next) = self.next_ready(&mut ring_dropped) else {
                    break;
                };
                appended = true;
                match next {
                    Next::Ring(i, len) => {
                        let Some(r) = self.rings.get_mut(i) else {
                            break;
                        };
                        let (a, b) = r.cons.as_slices();
                        let first = len.min(a.len());
                        let rest = b.get(..len - first).unwrap_or(b);
                        let whole = first + rest.len() == len;
                        // A producer publishes whole entries, so this cannot
                        // fail; if it did, the partial bytes go, with a log.
                        let hdr = if whole {
                            h.append([&a[..first], rest])
                        } else {
                            tracing::error!(target: "fluxlive::recorder", len, "a ring entry is cut short; dropped");
                            None
                        };
                        r.skip(len);
                        appended_entry(&shared, &mut h, hdr);
                    }
                    Next::Side(p) => {
                        let at_ns = nanos_since(shared.start, p.at);
                        match p.item {
                            Item::Entry(bytes) => {
                                let hdr = h.append([&bytes, &[]]);
                                appended_entry(&shared, &mut h, hdr);
                            }
                            Item::Recording(on) => h.append_made(&Made::Recording(on), at_ns),
                            Item::Drop {
                                count,
                                site,
                                reason,
                            } => {
                                dropped += count;
                                h.append_dropped(at_ns, count, site, reason);
                            }
                            Item::Clear => h.clear(),
                        }
                    }
                }
            }
            if ring_dropped > 0 {
                appended = true;
                dropped += ring_dropped;
                let now = nanos_since(shared.start, Instant::now());
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

    /// True when the next item in ticket order is held up by an earlier
    /// ticket that has been drawn but not pushed yet (a push in progress).
    fn gap(&mut self) -> bool {
        matches!(self.min_head(), Some((ticket, _, _)) if ticket > self.next_ticket)
    }

    /// True when any item is waiting, ready or not.
    fn has_pending(&self) -> bool {
        !self.side.is_empty() || self.rings.iter().any(|r| !r.cons.is_empty())
    }

    /// The source whose head has the smallest ticket (`rings.len()` names
    /// the side queue), with that ticket and the head entry's length.
    fn min_head(&mut self) -> Option<(u64, usize, usize)> {
        let mut best: Option<(u64, usize, usize)> = None;
        for (i, r) in self.rings.iter_mut().enumerate() {
            if let Some((len, ticket)) = r.head() {
                if best.is_none_or(|(b, _, _)| ticket < b) {
                    best = Some((ticket, i, len));
                }
            }
        }
        if let Some(p) = self.side.front() {
            if best.is_none_or(|(b, _, _)| p.ticket < b) {
                best = Some((p.ticket, self.rings.len(), 0));
            }
        }
        best
    }

    /// The next item in ticket order, if it has arrived.
    fn next_ready(&mut self, lost: &mut u64) -> Option<Next> {
        loop {
            match self.min_head() {
                Some((ticket, i, len)) if ticket <= self.next_ticket => {
                    if ticket == self.next_ticket {
                        self.next_ticket += 1;
                    }
                    self.waiting_since = None;
                    return if i < self.rings.len() {
                        Some(Next::Ring(i, len))
                    } else {
                        self.side.pop_front().map(Next::Side)
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

/// What comes next in ticket order.
enum Next {
    /// The head entry of ring `i`, `len` bytes long.
    Ring(usize, usize),
    Side(Pending),
}

/// Bookkeeping after an event entry was appended: the history learns new
/// types, and mounts make their type known by name (for `redact_state`).
fn appended_entry(shared: &Shared, h: &mut History, hdr: Option<Header>) {
    let Some(hdr) = hdr else { return };
    if hdr.has_instance() && hdr.type_idx as usize >= h.types_len() {
        h.sync_types(&lock(&shared.type_registry));
    }
    if hdr.kind == crate::wire::kind::MOUNT {
        let meta = lock(&shared.type_registry)
            .get(hdr.type_idx as usize)
            .copied();
        if let Some(m) = meta {
            lock(&shared.types).entry(m.name).or_insert(m);
        }
    }
}

fn nanos_since(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX)
}
