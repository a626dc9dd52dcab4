// Optional fluxlive client features, kept out of live.js to hold its 8 KB
// budget: batch calls, optimistic updates, debounce/throttle, and an offline
// queue that survives a reload. Dependency-free; budget 3 KB gzip
// (test/size.test.mjs). API docs: live-extras.d.ts.

import { LiveError, jsonEqual, traceparent } from "./live.js";

/**
 * Sends several calls as one `batch_call`; resolves once with one outcome per
 * call, in order: `{ok: result}` or `{error: LiveError}`. Rejects only when
 * the whole request fails (e.g. `closed`).
 */
export function batch(live, items) {
  const calls = items.map((c) => ({ id: c.handle?.id ?? c.id, method: c.method, args: c.args || [], key: String(c.key ?? live._key()) }));
  return live._request({ t: "batch_call", calls }, {}).then((rs) =>
    rs.map((x) => (x.error ? { error: new LiveError(x.error.code, x.error.message, x.error) } : { ok: x.ok })),
  );
}

// Recomputes the shown state after the set of guesses changed.
function reshow(h, opt) {
  const old = h.state;
  h._opt = opt;
  h._put(h._srv);
  if (!jsonEqual(old, h.state)) h._emit("state", h.state, h);
}

/**
 * Calls `method` and shows `guess(state)` at once. The server's patch for
 * this call (matched by trace id) replaces the guess; other patches are
 * rebased under the guesses still pending; an error rolls the guess back.
 * Either way `state` listeners fire when what is shown changes.
 */
export function optimistic(handle, method, args, guess, opts = {}) {
  const trace = opts.traceparent || traceparent();
  const tid = trace.slice(3, 35);
  // A guess that throws on a rebased state is dropped rather than breaking the handle.
  const safe = (s) => {
    try {
      return guess(s);
    } catch (e) {
      console.error("fluxlive: optimistic guess failed", e);
      return s;
    }
  };
  safe.t = tid;
  if (handle.mounted) reshow(handle, handle._opt.concat(safe));
  const done = () => reshow(handle, handle._opt.filter((x) => x.t !== tid));
  return handle.invoke(method, args, { ...opts, traceparent: trace }).then(
    (r) => (done(), r),
    (e) => {
      done();
      throw e;
    },
  );
}

/**
 * A function with `handle.call`'s signature that sends only the last call
 * made within `ms` of quiet. Every promise of one burst settles with the
 * sent call's outcome (superseded calls get the same result or error).
 */
export function debounced(handle, ms) {
  let timer = null;
  let waiters = [];
  let last = null;
  return (method, ...args) => {
    last = [method, args];
    clearTimeout(timer);
    const p = new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    timer = setTimeout(() => {
      const ws = waiters;
      waiters = [];
      handle.invoke(last[0], last[1]).then(
        (r) => ws.forEach((w) => w.resolve(r)),
        (e) => ws.forEach((w) => w.reject(e)),
      );
    }, ms);
    return p;
  };
}

/**
 * A function with `handle.call`'s signature that sends at most one call per
 * `ms`: the first at once, then the latest one made during the window at its
 * end. A call dropped in favour of a later one rejects with code `superseded`.
 */
export function throttled(handle, ms) {
  let open = true;
  let next = null;
  const fire = (method, args) => {
    open = false;
    setTimeout(() => {
      open = true;
      if (next) {
        const n = next;
        next = null;
        fire(n.method, n.args).then(n.resolve, n.reject);
      }
    }, ms);
    return handle.invoke(method, args);
  };
  return (method, ...args) => {
    if (open) return fire(method, args);
    next?.reject(new LiveError("superseded", "a later throttled call replaced this one", { id: handle.id, method }));
    return new Promise((resolve, reject) => (next = { method, args, resolve, reject }));
  };
}

/**
 * Keeps the calls not yet answered (queued offline or in flight) in `storage`
 * under `name` when the page goes away, and sends those stored by a previous
 * page now, in order, with their original keys. Call it after mounting the
 * instances they target (same ids). Resolves with their outcomes, like `batch`.
 */
export function persistQueue(live, storage = globalThis.sessionStorage, name = `fluxlive:${globalThis.location?.pathname ?? ""}`) {
  let saved = [];
  try {
    saved = JSON.parse(storage.getItem(name) || "[]");
  } catch (e) {
    console.error("fluxlive: unreadable saved queue dropped", e);
  }
  storage.removeItem(name);
  const save = () => {
    const calls = [...live._pending.values(), ...live._queue].map((r) => r.frame).filter((f) => f.t === "call");
    const keep = calls.map(({ id, method, args, trace, key }) => ({ id, method, args, trace, key }));
    if (keep.length) storage.setItem(name, JSON.stringify(keep));
    else storage.removeItem(name);
  };
  globalThis.addEventListener?.("pagehide", save);
  const sent = saved.map((f) =>
    live._request({ t: "call", ...f }, {}).then(
      (ok) => ({ ok }),
      (error) => ({ error }),
    ),
  );
  return { save, done: Promise.all(sent) };
}
