//! The hot path: one lock-free SPSC ring per (recorder, thread) pair.
//!
//! A thread's first `record` for a recorder creates its ring and hands the
//! consumer half to the collector (a cold path with a mutex); every later
//! push is a thread-local lookup, an encoding of the event
//! ([`wire`](crate::wire)), a room check, one atomic ticket and a copy of
//! those bytes into the ring: no lock, no allocation after warm-up, no
//! formatting. Actions and diffs, nearly every event, are encoded in place
//! into the thread's fixed staging buffer ([`slice_codec`](crate::slice_codec));
//! anything else, or anything that does not fit it, into a growable
//! buffer. The rings hold bytes, not events, so no
//! allocation made on an app thread is ever freed by the collector (see
//! [`codec`](crate::codec) for why that matters). An event bigger than its
//! ring (or than a quarter of it and 4 KiB: a mount or snapshot of a large
//! state) goes through the recorder's side queue instead, under a mutex
//! held only to draw its ticket and queue it, so it is never dropped for
//! size.
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

use crate::clock::Instant;
use crate::event::{Event, TypeMeta};
use crate::recorder::Shared;
use crate::wire::{encode_event, encode_into, set_ticket};
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Ring bytes per slot of [`RecorderBuilder::ring_capacity`](crate::RecorderBuilder::ring_capacity):
/// an encoded counter action with its diff and one emit is about 190 bytes.
pub(crate) const SLOT_BYTES: usize = 256;

/// Bytes of a thread's staging buffer: an action with its diff and an emit
/// of the demo's shape takes about 190.
const STAGING_LEN: usize = 2048;

/// Counters shared by a ring's producer and the collector.
#[derive(Debug, Default)]
pub(crate) struct RingStats {
    /// Events refused because the ring was full (only ever increases).
    pub(crate) dropped: AtomicU64,
}

struct LocalRing {
    recorder: u64,
    prod: HeapProd<u8>,
    stats: Arc<RingStats>,
    /// Where the hot path encodes actions and diffs, always
    /// [`STAGING_LEN`] long: written in place, never grown or cleared.
    staging: Vec<u8>,
    /// Reused buffer of the general encoder, for events that are not
    /// actions or diffs or do not fit the staging buffer.
    scratch: Vec<u8>,
    /// Types this thread has registered, with their registry index.
    types: Vec<(&'static TypeMeta, u32)>,
}

/// The collector's end of one ring.
pub(crate) struct RingCons {
    pub(crate) cons: HeapCons<u8>,
    pub(crate) stats: Arc<RingStats>,
    /// `stats.dropped` as last reported.
    pub(crate) seen_dropped: u64,
    /// Length and ticket of the head entry, once read: the merge asks for
    /// every ring's head once per entry it takes, and reading a busy ring's
    /// write index each time is a cache miss on the producer's line.
    head: Option<(usize, u64)>,
}

impl RingCons {
    /// Length and ticket of the entry at the head of the ring (a producer
    /// writes a whole entry before publishing it, so a visible header means
    /// the whole entry is there).
    pub(crate) fn head(&mut self) -> Option<(usize, u64)> {
        if self.head.is_none() {
            self.head = peek_head(&self.cons);
        }
        self.head
    }

    /// Consumes the head entry, `len` bytes.
    pub(crate) fn skip(&mut self, len: usize) {
        self.cons.skip(len);
        self.head = None;
    }
}

fn peek_head(cons: &HeapCons<u8>) -> Option<(usize, u64)> {
    if cons.occupied_len() < 12 {
        return None;
    }
    let (a, b) = cons.as_slices();
    let mut head = [0u8; 12];
    match a.get(..12) {
        Some(h) => head.copy_from_slice(h),
        // The header wraps around the end of the ring.
        None => {
            for (dst, src) in head.iter_mut().zip(a.iter().chain(b.iter())) {
                *dst = *src;
            }
        }
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize + 4;
    let mut t = [0u8; 8];
    t.copy_from_slice(&head[4..12]);
    Some((len, u64::from_le_bytes(t)))
}

thread_local! {
    static RINGS: RefCell<Vec<LocalRing>> = const { RefCell::new(Vec::new()) };
}

impl LocalRing {
    /// Lets go of the general encoder's buffer if one huge event grew it.
    fn shrink_scratch(&mut self) {
        if self.scratch.capacity() > 64 << 10 {
            self.scratch = Vec::with_capacity(512);
        }
    }

    fn type_index(&mut self, meta: &'static TypeMeta, shared: &Shared) -> u32 {
        if let Some((_, i)) = self.types.iter().find(|(m, _)| std::ptr::eq(*m, meta)) {
            return *i;
        }
        let i = shared.type_index(meta);
        self.types.push((meta, i));
        i
    }
}

/// Pushes `ev` into this thread's ring for `shared`'s recorder.
#[inline]
pub(crate) fn push(shared: &Shared, at: Instant, ev: &Event) {
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
        let type_idx = match &ev.instance {
            Some(k) => ring.type_index(k.meta, shared),
            None => 0,
        };
        let at_ns = u64::try_from(at.saturating_duration_since(shared.start).as_nanos())
            .unwrap_or(u64::MAX);
        let buf: &mut [u8] = match encode_into(ev, at_ns, type_idx, shared.start, &mut ring.staging)
        {
            Some(n) if n <= STAGING_LEN => ring.staging.get_mut(..n).unwrap_or_default(),
            _ => {
                encode_event(ev, at_ns, type_idx, shared.start, &mut ring.scratch);
                &mut ring.scratch
            }
        };
        let cap = ring.prod.capacity().get();
        if buf.len() > cap || (buf.len() > cap / 4 && buf.len() > 4096) {
            // Too big to share a ring with others (a large mount or
            // snapshot): the side queue takes it whole, in ticket order.
            shared.push_side_entry(buf.to_vec(), at);
            ring.shrink_scratch();
            return true;
        }
        let before = ring.prod.occupied_len();
        if cap - before < buf.len() {
            ring.stats.dropped.fetch_add(1, Ordering::Release);
        } else {
            let ticket = shared.tickets.fetch_add(1, Ordering::AcqRel);
            set_ticket(buf, ticket);
            // Fits (checked above, and only this thread pushes): all of it goes in.
            let _ = ring.prod.push_slice(buf);
            // Crossing a quarter full: wake the collector now rather than at
            // its next poll, leaving three quarters of the ring for the time
            // a busy machine takes to schedule it. An idle collector is woken
            // by the first push, so a lone event reaches subscribers at once.
            // Otherwise pushes leave it to its poll: waking it is a syscall
            // and a context switch, dearer than the push itself.
            let quarter = before < cap / 4 && before + buf.len() >= cap / 4;
            if quarter
                || (shared.idle.load(Ordering::Relaxed)
                    && shared.idle.swap(false, Ordering::AcqRel))
            {
                shared.wake();
            }
        }
        ring.shrink_scratch();
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
    let bytes = shared.ring_capacity.max(1).saturating_mul(SLOT_BYTES);
    let (prod, cons) = HeapRb::<u8>::new(bytes).split();
    let stats = Arc::new(RingStats::default());
    shared.adopt_ring(RingCons {
        cons,
        stats: Arc::clone(&stats),
        seen_dropped: 0,
        head: None,
    });
    rings.push(LocalRing {
        recorder: shared.id,
        prod,
        stats,
        staging: vec![0; STAGING_LEN],
        scratch: Vec::with_capacity(512),
        types: Vec::new(),
    });
    rings.len() - 1
}
