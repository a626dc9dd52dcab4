//! The hot path: one lock-free SPSC ring per (recorder, thread) pair.
//!
//! A thread's first `record` for a recorder creates its ring and hands the
//! consumer half to the collector (a cold path with a mutex); every later
//! push is a thread-local lookup, a fullness check, one atomic ticket and a
//! move into a ring slot: no lock, no allocation, no formatting.
//!
//! # Ordering across threads
//!
//! An instance's actor task may run on different worker threads over time,
//! so two consecutive events of one instance can sit in two different rings,
//! and the collector may drain the later ring first. Each pushed event
//! therefore carries a *ticket* from one global counter, taken right before
//! the push. Because the runtime records an instance's events one after the
//! other (each `record` call happens-before the next), their tickets
//! increase in that order. Each ring is sorted by ticket (a thread draws
//! its tickets in push order), so the collector merges the rings (a k-way
//! merge over their heads) and hands out sequence numbers strictly in
//! ticket order: per-instance order (and every other happens-before order)
//! survives.
//!
//! A dropped event never takes a ticket: the ring is checked for room
//! *before* the ticket is drawn, and only this thread pushes into its ring,
//! so a ring with room keeps it until the push. The reorder stage thus never
//! waits for an event that will not come; the drop is counted in the ring's
//! counter and reported by the collector as a `Dropped { site: ring }`
//! record.

use crate::event::Event;
use crate::recorder::Shared;
use ringbuf::traits::{Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One ring slot.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) ticket: u64,
    pub(crate) at: Instant,
    pub(crate) ev: Event,
}

/// Counters shared by a ring's producer and the collector.
#[derive(Debug, Default)]
pub(crate) struct RingStats {
    /// Events refused because the ring was full (only ever increases).
    pub(crate) dropped: AtomicU64,
}

struct LocalRing {
    recorder: u64,
    prod: HeapProd<Slot>,
    stats: Arc<RingStats>,
}

/// The collector's end of one ring.
pub(crate) struct RingCons {
    pub(crate) cons: HeapCons<Slot>,
    pub(crate) stats: Arc<RingStats>,
    /// `stats.dropped` as last reported.
    pub(crate) seen_dropped: u64,
}

thread_local! {
    static RINGS: RefCell<Vec<LocalRing>> = const { RefCell::new(Vec::new()) };
}

/// Pushes `ev` into this thread's ring for `shared`'s recorder.
#[inline]
pub(crate) fn push(shared: &Shared, at: Instant, ev: Event) {
    let pushed = RINGS.try_with(|cell| {
        let Ok(mut rings) = cell.try_borrow_mut() else {
            return false;
        };
        let idx = match rings.iter().position(|r| r.recorder == shared.id) {
            Some(i) => i,
            None => register(&mut rings, shared),
        };
        let Some(ring) = rings.get_mut(idx) else {
            return false;
        };
        if ring.prod.is_full() {
            ring.stats.dropped.fetch_add(1, Ordering::Release);
            return true;
        }
        let ticket = shared.tickets.fetch_add(1, Ordering::AcqRel);
        if let Err(slot) = ring.prod.try_push(Slot { ticket, at, ev }) {
            // Unreachable while this thread is the only producer; if it ever
            // happens the ticket must still be accounted for.
            shared.lost_ticket(slot.ticket);
        }
        // Crossing half full: wake the collector now rather than at its next
        // poll, so a busy machine does not overflow the ring while it sleeps.
        if ring.prod.occupied_len() == ring.prod.capacity().get() / 2 {
            shared.wake();
        }
        true
    });
    if !matches!(pushed, Ok(true)) {
        // Thread-local storage is being torn down (or re-entered).
        shared.orphan_dropped.fetch_add(1, Ordering::Release);
    }
}

#[cold]
fn register(rings: &mut Vec<LocalRing>, shared: &Shared) -> usize {
    // Forget rings whose recorder has stopped (its collector dropped the consumer).
    rings.retain(|r| r.prod.read_is_held());
    let (prod, cons) = HeapRb::<Slot>::new(shared.ring_capacity.max(1)).split();
    let stats = Arc::new(RingStats::default());
    shared.adopt_ring(RingCons {
        cons,
        stats: Arc::clone(&stats),
        seen_dropped: 0,
    });
    rings.push(LocalRing {
        recorder: shared.id,
        prod,
        stats,
    });
    rings.len() - 1
}
