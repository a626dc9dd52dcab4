// React bindings for the fluxlive client. React is not a dependency: pass
// your React in once, `const useLive = createUseLive(React)`.

const shared = new WeakMap(); // live -> Map(id -> {promise, users, timer})

// Instances with an explicit id are shared by every component that asks for
// that id, and unmounted a macrotask after the last one lets go: React's
// StrictMode (mount, unmount, mount) then reuses the instance instead of
// racing a second `mount` of the same id against the first (`duplicate_id`).
function acquire(live, type, props, id) {
  let byId = shared.get(live);
  if (!byId) shared.set(live, (byId = new Map()));
  let e = byId.get(id);
  if (!e) {
    e = { promise: live.mount(type, props, { id }), users: 0, timer: null };
    byId.set(id, e);
    e.promise.catch(() => byId.get(id) === e && byId.delete(id));
  }
  clearTimeout(e.timer);
  e.users++;
  return {
    promise: e.promise,
    release() {
      if (--e.users > 0) return;
      e.timer = setTimeout(() => {
        if (byId.get(id) === e) byId.delete(id);
        e.promise.then((h) => h.unmount()).catch(() => {});
      }, 0);
    },
  };
}

function own(live, type, props) {
  const promise = live.mount(type, props);
  return { promise, release: () => promise.then((h) => h.unmount()).catch(() => {}) };
}

/**
 * Builds the `useLive` hook for the given React.
 *
 * `useLive(live, type, props, {id})` mounts the instance while the component
 * is mounted and returns `{state, version, handle, error, call}`; the
 * component re-renders on each state change of that instance only.
 */
export function createUseLive(React) {
  const { useEffect, useState, useCallback } = React;
  return function useLive(live, type, props = {}, opts = {}) {
    const [snap, setSnap] = useState({ state: null, version: null, handle: null, error: null });
    const id = opts.id == null ? null : String(opts.id);
    // Props are compared by value so an inline object literal does not remount every render.
    const propsKey = JSON.stringify(props);
    useEffect(() => {
      let active = true;
      let unbind = null;
      const lease = id == null ? own(live, type, props) : acquire(live, type, props, id);
      lease.promise.then(
        (h) => {
          if (!active) return;
          const show = () => setSnap({ state: h.state, version: h.version, handle: h, error: null });
          show();
          unbind = h.on("state", show);
        },
        (error) => active && setSnap({ state: null, version: null, handle: null, error }),
      );
      return () => {
        active = false;
        unbind?.();
        lease.release();
      };
      // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [live, type, propsKey, id]);
    const handle = snap.handle;
    const call = useCallback(
      (method, ...args) => (handle ? handle.call(method, ...args) : Promise.reject(new Error(`${type} is not mounted yet`))),
      [handle, type],
    );
    return { ...snap, call };
  };
}
