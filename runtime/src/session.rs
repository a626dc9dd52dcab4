//! A session: the instances one browser tab mounted, and the outbox that
//! carries frames to its current connection. A session outlives its socket
//! for the grace period so that a reconnecting client can resume it.

use crate::instance::InstanceHandle;
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) token: String,
    out: Mutex<Option<mpsc::Sender<Utf8Bytes>>>,
    instances: Mutex<HashMap<Arc<str>, InstanceHandle>>,
    /// Bumped on every attach/detach; a grace timer only fires if the
    /// generation it saw is still current.
    generation: AtomicU64,
    next_auto_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding it;
    // the maps stay structurally valid, so keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Session {
    pub(crate) fn new(id: u64) -> Self {
        Self {
            id,
            token: format!("{:032x}", rand::random::<u128>()),
            out: Mutex::new(None),
            instances: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            next_auto_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn wire_id(&self) -> String {
        format!("s{}", self.id)
    }

    /// Sends a frame to the current connection, if any. A connection whose
    /// outbox is full is cut off (its client reconnects and resyncs) rather
    /// than slowing the instance down.
    pub(crate) fn send(&self, frame: Utf8Bytes) {
        let mut out = lock(&self.out);
        if let Some(tx) = out.as_ref() {
            match tx.try_send(frame) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(target: "fluxlive::session", session = self.id, "client reads too slowly; disconnecting it");
                    *out = None;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => *out = None,
            }
        }
    }

    /// Makes `tx` the connection of this session; returns the new generation.
    pub(crate) fn attach(&self, tx: mpsc::Sender<Utf8Bytes>) -> u64 {
        *lock(&self.out) = Some(tx);
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Detaches the connection of generation `gen` (no-op if a newer one attached).
    pub(crate) fn detach(&self, gen: u64) -> bool {
        let mut out = lock(&self.out);
        if self.generation.load(Ordering::Acquire) != gen {
            return false;
        }
        *out = None;
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn is_attached(&self) -> bool {
        lock(&self.out).is_some()
    }

    pub(crate) fn get(&self, id: &str) -> Option<InstanceHandle> {
        lock(&self.instances).get(id).cloned()
    }

    pub(crate) fn insert(&self, handle: InstanceHandle) -> bool {
        let mut map = lock(&self.instances);
        if map.contains_key(handle.id()) {
            return false;
        }
        map.insert(handle.id().clone(), handle);
        true
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        lock(&self.instances).contains_key(id)
    }

    pub(crate) fn remove(&self, id: &str) -> Option<InstanceHandle> {
        lock(&self.instances).remove(id)
    }

    pub(crate) fn drain(&self) -> Vec<InstanceHandle> {
        lock(&self.instances).drain().map(|(_, h)| h).collect()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.instances).len()
    }

    pub(crate) fn handles(&self) -> Vec<InstanceHandle> {
        lock(&self.instances).values().cloned().collect()
    }

    pub(crate) fn auto_id(&self, component: &str) -> String {
        let n = self.next_auto_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", component.to_ascii_lowercase())
    }
}

/// Constant-time comparison for resume tokens.
pub(crate) fn token_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
