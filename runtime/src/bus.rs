//! The event bus between components: global events that instances subscribe
//! to (handlers run through the subscriber's mailbox, like actions), and
//! dependencies (an instance reacts when another one's state changes).
//! Both end when the instance ends. Dependency cycles are refused when
//! declared, so a change can never ping-pong forever.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Why a bus request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The handler is not a `#[handler]` or `#[action]` of the component.
    #[error("{component} has no handler `{handler}` (mark a method #[handler] or #[action])")]
    UnknownHandler {
        /// Component type.
        component: &'static str,
        /// Handler asked for.
        handler: String,
    },
    /// No instance with that id is reachable from this one.
    #[error("no instance `{0}` on this connection or among shared instances")]
    UnknownTarget(String),
    /// The dependency would close a cycle.
    #[error("dependency cycle refused: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// Used outside a running instance (e.g. during replay).
    #[error("the event bus is not available here")]
    Unavailable,
}

#[derive(Default)]
pub(crate) struct Bus {
    inner: Mutex<Inner>,
    /// Set by the first dependency ever declared. Every changed state asks
    /// for its dependents; until an app declares one, that question must
    /// not take a lock every instance on every core shares.
    any_dependents: AtomicBool,
}

#[derive(Default)]
struct Inner {
    /// event name → (subscriber iid, handler)
    subs: HashMap<String, Vec<(u64, &'static str)>>,
    /// target iid → (dependent iid, handler)
    dependents: HashMap<u64, Vec<(u64, &'static str)>>,
    /// dependent iid → targets (for cycle checks and cleanup)
    targets: HashMap<u64, HashSet<u64>>,
}

impl Bus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscribe(&self, event: &str, iid: u64, handler: &'static str) {
        let mut g = self.lock();
        let list = g.subs.entry(event.to_owned()).or_default();
        if !list.contains(&(iid, handler)) {
            list.push((iid, handler));
        }
    }

    pub(crate) fn subscribers(&self, event: &str) -> Vec<(u64, &'static str)> {
        self.lock().subs.get(event).cloned().unwrap_or_default()
    }

    /// Declares that `dependent` reacts to `target`'s changes. `name` turns
    /// an iid into a readable name for the cycle report.
    pub(crate) fn depend(
        &self,
        dependent: u64,
        target: u64,
        handler: &'static str,
        name: impl Fn(u64) -> String,
    ) -> Result<(), BusError> {
        let mut g = self.lock();
        if let Some(path) = path_between(&g.targets, target, dependent) {
            let mut names: Vec<String> = vec![name(dependent)];
            names.extend(path.iter().map(|i| name(*i)));
            return Err(BusError::Cycle(names));
        }
        let list = g.dependents.entry(target).or_default();
        if !list.contains(&(dependent, handler)) {
            list.push((dependent, handler));
        }
        // Set under the lock: a reader that sees it takes the lock and
        // then sees the edge.
        self.any_dependents.store(true, Ordering::Release);
        g.targets.entry(dependent).or_default().insert(target);
        Ok(())
    }

    pub(crate) fn dependents(&self, target: u64) -> Vec<(u64, &'static str)> {
        if !self.any_dependents.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.lock()
            .dependents
            .get(&target)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets everything about an instance that ended.
    pub(crate) fn remove(&self, iid: u64) {
        let mut g = self.lock();
        for list in g.subs.values_mut() {
            list.retain(|(i, _)| *i != iid);
        }
        g.subs.retain(|_, l| !l.is_empty());
        g.dependents.remove(&iid);
        for list in g.dependents.values_mut() {
            list.retain(|(i, _)| *i != iid);
        }
        g.targets.remove(&iid);
        for set in g.targets.values_mut() {
            set.remove(&iid);
        }
    }
}

/// A path `from → … → to` following dependent→target edges, if any.
fn path_between(targets: &HashMap<u64, HashSet<u64>>, from: u64, to: u64) -> Option<Vec<u64>> {
    let mut stack = vec![(from, vec![from])];
    let mut seen = HashSet::new();
    while let Some((node, path)) = stack.pop() {
        if node == to {
            return Some(path);
        }
        if !seen.insert(node) {
            continue;
        }
        for next in targets.get(&node).into_iter().flatten() {
            let mut p = path.clone();
            p.push(*next);
            stack.push((*next, p));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cycles_are_refused_with_their_path() {
        let bus = Bus::default();
        let name = |i: u64| format!("#{i}");
        assert_eq!(bus.depend(1, 2, "h", name), Ok(()));
        assert_eq!(bus.depend(2, 3, "h", name), Ok(()));
        let err = bus.depend(3, 1, "h", name).unwrap_err();
        assert_eq!(
            err,
            BusError::Cycle(vec!["#3".into(), "#1".into(), "#2".into(), "#3".into()])
        );
        assert_eq!(
            bus.depend(1, 1, "h", name),
            Err(BusError::Cycle(vec!["#1".into(), "#1".into()]))
        );
        assert_eq!(bus.dependents(2), vec![(1, "h")]);
        bus.remove(2);
        assert!(bus.dependents(2).is_empty());
        // With 2 gone the chain is broken: 3 → 1 is fine now.
        assert_eq!(bus.depend(3, 1, "h", name), Ok(()));
    }

    #[test]
    fn subscriptions_end_with_the_instance() {
        let bus = Bus::default();
        bus.subscribe("chat", 1, "on_chat");
        bus.subscribe("chat", 2, "on_chat");
        bus.subscribe("chat", 2, "on_chat");
        assert_eq!(bus.subscribers("chat").len(), 2);
        bus.remove(1);
        assert_eq!(bus.subscribers("chat"), vec![(2, "on_chat")]);
    }
}
