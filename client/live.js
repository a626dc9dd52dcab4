// fluxlive browser client: server-held component state mirrored through
// versioned RFC 6902 patches. Protocol: docs/protocol.md; API: live.d.ts.
// No dependencies, no build step, 8 KB gzip (test/size.test.mjs); optional
// features live in live-extras.js.

export const VERSION = "0.1.0";
export const PROTOCOL = 1;

const QUEUE_MAX = 256; // calls kept while offline
const REPORT_MAX = 64; // render/span reports that force a flush
const REPORT_MS = 250; // at most one `renders` frame per this interval
const REPORT_KEEP = 1024; // reports kept while offline, oldest dropped first
const HIGHLIGHT_MS = 2000;
const OVERLAY = "data-fluxlive-overlay";

export class LiveError extends Error {
  constructor(code, message, f = {}) {
    super(message || code);
    this.name = "LiveError";
    this.code = code;
    this.id = f.id;
    this.component = f.type ?? f.component;
    this.method = f.method;
    this.detail = f.detail;
  }
}

const fromFrame = (f) => new LiveError(f.code, f.message, f);

// ---- RFC 6902 ----------------------------------------------------------
// Copy-on-write: a failing op leaves the old state intact (atomic patch),
// changed subtrees get new identities (cheap change detection).

const isObj = (v) => v !== null && typeof v === "object";

export function jsonEqual(a, b) {
  if (a === b) return true;
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || !jsonEqual(a[k], b[k])) return false;
  return true;
}

const bad = (m) => new LiveError("bad_patch", m);

export function parsePointer(p) {
  if (p === "") return [];
  if (typeof p !== "string" || p[0] !== "/") throw bad(`bad pointer ${p}`);
  return p.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function index(arr, tok, allowEnd) {
  if (allowEnd && tok === "-") return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(tok)) throw bad(`bad array index ${tok}`);
  const i = +tok;
  if (i > arr.length || (!allowEnd && i === arr.length)) throw bad(`index ${tok} out of bounds`);
  return i;
}

function child(node, tok) {
  if (Array.isArray(node)) return node[index(node, tok, false)];
  if (isObj(node) && Object.hasOwn(node, tok)) return node[tok];
  throw bad(`no such path ${tok}`);
}

function put(obj, k, v) {
  // A plain assignment to "__proto__" would change the prototype.
  if (k === "__proto__") Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

// Rebuilds `node` with `leaf(parentCopy, lastToken)` applied at the end of `toks`.
function edit(node, toks, i, leaf) {
  if (!isObj(node)) throw bad("path goes through a scalar");
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  const tok = toks[i];
  if (i === toks.length - 1) leaf(copy, tok);
  else if (Array.isArray(copy)) {
    const j = index(copy, tok, false);
    copy[j] = edit(copy[j], toks, i + 1, leaf);
  } else put(copy, tok, edit(child(copy, tok), toks, i + 1, leaf));
  return copy;
}

function get(doc, toks) {
  for (const t of toks) doc = child(doc, t);
  return doc;
}

const clone = (v) => (isObj(v) ? JSON.parse(JSON.stringify(v)) : v);

function add(doc, toks, v) {
  if (!toks.length) return v;
  return edit(doc, toks, 0, (p, t) => {
    if (Array.isArray(p)) p.splice(index(p, t, true), 0, v);
    else put(p, t, v);
  });
}

function remove(doc, toks) {
  if (!toks.length) throw bad("cannot remove the root");
  return edit(doc, toks, 0, (p, t) => {
    if (Array.isArray(p)) p.splice(index(p, t, false), 1);
    else if (Object.hasOwn(p, t)) delete p[t];
    else throw bad(`no such path ${t}`);
  });
}

function replace(doc, toks, v) {
  if (!toks.length) return v;
  return edit(doc, toks, 0, (p, t) => {
    if (Array.isArray(p)) p[index(p, t, false)] = v;
    else if (Object.hasOwn(p, t)) put(p, t, v);
    else throw bad(`no such path ${t}`);
  });
}

export function applyPatch(doc, ops) {
  for (const op of ops) {
    const path = parsePointer(op.path);
    switch (op.op) {
      case "add":
        doc = add(doc, path, clone(op.value));
        break;
      case "remove":
        doc = remove(doc, path);
        break;
      case "replace":
        doc = replace(doc, path, clone(op.value));
        break;
      case "move": {
        const from = parsePointer(op.from);
        if (op.from === op.path) break;
        if (op.path.startsWith(op.from + "/")) throw bad("cannot move a value into itself");
        const v = get(doc, from);
        doc = add(remove(doc, from), path, v);
        break;
      }
      case "copy":
        doc = add(doc, path, clone(get(doc, parsePointer(op.from))));
        break;
      case "test":
        if (!jsonEqual(get(doc, path), op.value)) throw bad(`test failed at ${op.path}`);
        break;
      default:
        throw bad(`unknown op ${op.op}`);
    }
  }
  return doc;
}

// ---- helpers -------------------------------------------------------------

export function backoffDelay(attempt, { minMs = 100, maxMs = 5000 } = {}, rand = Math.random) {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  // "Equal jitter": never ~0, yet clients spread out.
  return Math.max(minMs, Math.min(maxMs, cap / 2 + (rand() * cap) / 2));
}

function hex(n) {
  // getRandomValues exists in every browser (secure context or not) and in node >= 19.
  const b = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export const traceparent = () => `00-${hex(16)}-${hex(8)}-01`;

const perf = globalThis.performance;
const now = () => (perf ? perf.now() : Date.now());
const unixUs = () => Math.round(perf?.timeOrigin ? (perf.timeOrigin + perf.now()) * 1000 : Date.now() * 1000);
const us = (ms) => Math.max(0, Math.round(ms * 1000));
// Hidden tabs get no animation frames.
const nextFrame = (fn) => (globalThis.requestAnimationFrame && !globalThis.document?.hidden ? requestAnimationFrame(fn) : setTimeout(fn, 0));
const hasDom = () => typeof document !== "undefined";

function emit(set, args) {
  for (const fn of [...set]) {
    try {
      fn(...args);
    } catch (e) {
      // A failing listener must not stop the others or the connection.
      console.error("fluxlive listener failed", e);
    }
  }
}

function listen(map, ev, fn) {
  let s = map.get(ev);
  if (!s) map.set(ev, (s = new Set()));
  s.add(fn);
  return () => s.delete(fn);
}

// ---- handle ------------------------------------------------------------

class Handle {
  constructor(live, type, props, m) {
    this._live = live;
    this._l = new Map();
    this._opt = [];
    this._syncing = false;
    this.type = type;
    this.props = props;
    this.id = m.id;
    this._put(m.state);
    this.version = m.version;
    this.shared = !!m.shared;
    this.mounted = true;
    this._sig = m.sig;
  }

  on(ev, fn) {
    return listen(this._l, ev, fn);
  }

  _emit(ev, ...args) {
    const s = this._l.get(ev);
    if (s) emit(s, args);
  }

  call(method, ...args) {
    return this.invoke(method, args);
  }

  invoke(method, args = [], opts = {}) {
    if (!this.mounted) return this._notMounted();
    const trace = opts.traceparent || traceparent();
    const frame = { t: "call", id: this.id, method, args, trace, key: String(opts.key ?? this._live._key()) };
    return this._live._request(frame, { span: { trace, id: this.id, method, start: now(), at: unixUs() } });
  }

  // Shown state = server state + optimistic guesses (live-extras.js), in call order.
  _put(s) {
    this._srv = s;
    this.state = this._opt.reduce((a, g) => g(a), s);
  }

  setProps(props) {
    if (!this.mounted) return this._notMounted();
    // Kept once accepted: a remount uses what the server agreed to.
    return this._live._request({ t: "props", id: this.id, props }, { ok: () => (this.props = props) });
  }

  unmount() {
    if (!this.mounted) return Promise.resolve();
    this._gone();
    return this._live._request({ t: "unmount", id: this.id }, { unmount: true });
  }

  _notMounted() {
    return Promise.reject(new LiveError("not_mounted", `${this.type} ${this.id} is not mounted`, this));
  }

  _gone() {
    this.mounted = false;
    if (this._live._handles.get(this.id) === this) this._live._handles.delete(this.id);
  }

  // Sets a full state; fires listeners only if something changed.
  _set(state, version, t0, trace, sig) {
    const same = version === this.version && jsonEqual(state, this._srv);
    this.version = version;
    this._sig = sig;
    this._syncing = false;
    if (!same) {
      this._put(state);
      this._live._rendered(this, t0, trace);
    }
  }
}

// ---- connection --------------------------------------------------------

class Live {
  constructor(o) {
    this._url = o.url || `${globalThis.location?.protocol === "https:" ? "wss" : "ws"}://${globalThis.location?.host}/__live/ws`;
    this._WS = o.WebSocket || globalThis.WebSocket;
    this._rc = o.reconnect === false ? false : { minMs: 100, maxMs: 5000, maxAttempts: Infinity, ...o.reconnect };
    this._queueMax = o.queueMax ?? QUEUE_MAX;
    this._metrics = o.metrics !== false;
    this._retry = o.retry !== false;
    this._kp = hex(4);
    this._kn = 0;
    this._ob = null;
    this._ready = new Promise((r) => (this._onReady = r));
    // Server-rendered page: resume the session that already holds its instances.
    const el = o.ssr !== false && globalThis.document?.getElementById("fluxlive-ssr");
    if (el) {
      try {
        const d = JSON.parse(el.textContent);
        this._resume = { session: d.session, token: d.token };
        this._ssr = d.instances || [];
      } catch (e) {
        console.error("fluxlive: bad #fluxlive-ssr data", e);
      }
    }
    this._l = new Map();
    this._handles = new Map();
    this._pending = new Map();
    this._queue = [];
    this._ref = 0;
    this._ws = null;
    this._flowing = false;
    this._gate = 0;
    this._resume ??= null;
    this._attempt = 0;
    this._closed = false;
    this._reports = { items: [], spans: [] };
    this._timer = null;
    this._frameWait = [];
    this._overlays = new Map();
    this.status = "connecting";
    this.session = null;
    this.maxFrame = Infinity;
    this.droppedReports = 0;
    this._onMsg = (e) => {
      const d = e.data;
      if (e.source === globalThis.window && d?.source === "fluxlive-devtools" && d.type === "ping") this._announce();
    };
    this._open();
  }

  on(ev, fn) {
    return listen(this._l, ev, fn);
  }

  _emit(ev, ...args) {
    const s = this._l.get(ev);
    if (s) emit(s, args);
  }

  _setStatus(s) {
    if (this.status !== s) {
      this.status = s;
      this._emit("status", s);
    }
  }

  get pending() {
    return this._queue.length + this._pending.size;
  }

  _key() {
    return `${this._kp}-${++this._kn}`;
  }

  emit(name, data) {
    this._emit("event", null, name, data);
  }

  attach(id) {
    return this._ready.then(() => this._handles.get(id) || Promise.reject(new LiveError("not_mounted", `no instance ${id} on this page`, { id })));
  }

  mount(type, props = {}, opts = {}) {
    const frame = { t: "mount", type, props };
    if (opts.id != null) frame.id = String(opts.id);
    return this._request(frame, { type, props, el: opts.el });
  }

  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._backoff);
    clearTimeout(this._timer);
    const err = new LiveError("closed", "connection closed");
    for (const r of this._queue) r.reject(err);
    this._queue = [];
    this._failPending(err);
    if (this._ws) {
      this._detach();
      try {
        this._ws.close(1000);
      } catch {}
      this._ws = null;
    }
    for (const h of this._handles.values()) h.mounted = false;
    this._handles.clear();
    globalThis.removeEventListener?.("message", this._onMsg);
    this._picker(false);
    for (const k of [...this._overlays.keys()]) this._unoverlay(k);
    this._setStatus("closed");
  }

  _dropSocket() {
    const ws = this._ws;
    if (!ws) return;
    this._lost();
    try {
      ws.close(4000, "dropped");
    } catch {}
  }

  _open() {
    if (this._closed) return;
    let ws;
    try {
      ws = new this._WS(this._url);
    } catch (e) {
      this._emit("error", new LiveError("connection_lost", String(e?.message || e)));
      return this._reconnect();
    }
    this._ws = ws;
    ws.onopen = () => {
      const hello = { t: "hello", protocol: PROTOCOL, caps: ["batch"] };
      if (this._resume) hello.resume = this._resume;
      this._raw(hello);
      // A resume waits for `welcome` to know whether to remount first.
      if (!this._resume) this._startFlow();
    };
    ws.onmessage = (e) => this._frame(e.data);
    ws.onclose = () => this._lost();
    ws.onerror = () => {}; // `close` follows and does the work
  }

  _detach() {
    const ws = this._ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  }

  _lost() {
    if (!this._ws) return;
    this._detach();
    this._ws = null;
    this._ob = null;
    this._flowing = false;
    this._gate = 0;
    this._failPending(new LiveError("connection_lost", "connection lost"), true);
    for (const h of this._handles.values()) h._syncing = false;
    this._reconnect();
  }

  _reconnect() {
    if (this._closed) return;
    if (this._rc === false || this._attempt >= this._rc.maxAttempts) return this.close();
    this._setStatus(globalThis.navigator?.onLine === false ? "offline" : "reconnecting");
    this._backoff = setTimeout(() => this._open(), backoffDelay(this._attempt++, this._rc));
  }

  _failPending(err, lost) {
    const p = this._pending;
    const again = [];
    this._pending = new Map();
    for (const r of p.values()) {
      // The handle is already gone locally; a resumed session unmounts it again.
      if (r.unmount) r.resolve();
      // Keyed calls are safe to resend: the server applies a key once.
      else if (lost && this._retry && (r.frame.key || r.frame.calls)) again.push(r);
      else this._finish(r, err);
    }
    this._queue.unshift(...again);
  }

  _raw(frame) {
    try {
      this._ws.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      return false;
    }
  }

  _request(frame, r) {
    return new Promise((resolve, reject) => {
      Object.assign(r, { frame, resolve, reject });
      if (this._closed) return reject(new LiveError("closed", "connection closed"));
      if (this._flowing) this._send(r);
      else if (this._queue.length >= this._queueMax) reject(new LiveError("queue_full", "offline queue full"));
      else this._queue.push(r);
    });
  }

  _send(r) {
    this._ref = this._ref >= 0xffffffff ? 1 : this._ref + 1;
    r.frame.ref = this._ref;
    const s = JSON.stringify(r.frame);
    if (s.length * 3 > this.maxFrame && new TextEncoder().encode(s).length > this.maxFrame) {
      return this._finish(r, new LiveError("frame_too_large", `frame of ${s.length} chars exceeds ${this.maxFrame} bytes`, r.frame));
    }
    this._pending.set(this._ref, r);
    // Frames made in one tick leave as one `batch` frame.
    if (this._ob) return this._ob.push(s);
    this._ob = [s];
    queueMicrotask(() => {
      const b = this._ob;
      const ws = this._ws;
      this._ob = null;
      if (!b || !ws) return; // closed since
      const j = `{"t":"batch","frames":[${b.join(",")}]}`;
      if (b.length < 2 || j.length * 3 > this.maxFrame) b.forEach((x) => ws.send(x));
      else ws.send(j);
    });
  }

  _startFlow() {
    this._flowing = true;
    const q = this._queue;
    this._queue = [];
    for (const r of q) this._send(r);
    this._flush();
  }

  _finish(r, err, result) {
    if (r.span) {
      const s = r.span;
      this._report("spans", { trace: s.trace, id: s.id, method: s.method, start_unix_us: s.at, dur_us: us(now() - s.start), ...(err && { error: err.code }) });
    }
    if (err) return r.reject(err);
    r.ok?.(result);
    r.resolve(result);
  }

  _take(f) {
    if (f.ref == null) return null;
    const r = this._pending.get(f.ref);
    this._pending.delete(f.ref);
    return r || null;
  }

  _frame(data) {
    const t0 = now();
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return this._emit("error", new LiveError("bad_frame", "frame is not JSON"));
    }
    if (f.t === "batch") for (const x of f.frames || []) this._on(x, t0);
    else this._on(f, t0);
  }

  _on(f, t0) {
    const h = f.id != null ? this._handles.get(f.id) : null;
    switch (f.t) {
      case "welcome":
        return this._welcome(f, t0);
      case "mounted": {
        const r = this._take(f);
        if (!r) return;
        if (r.remount) {
          r.remount._set(f.state, f.version, t0, null, f.sig);
          return this._remounted(r);
        }
        const nh = new Handle(this, f.type, r.props, f);
        this._handles.set(nh.id, nh);
        if (r.el?.setAttribute) r.el.setAttribute("data-live-id", nh.id);
        return r.resolve(nh);
      }
      case "reply":
      case "batch_reply": {
        const r = this._take(f);
        return r && this._finish(r, null, f.t === "reply" ? f.result : f.results);
      }
      case "unmounted": {
        const r = this._take(f);
        if (r) r.resolve();
        if (h) {
          h._gone();
          h._emit("unmounted", h);
        }
        return;
      }
      case "error": {
        const r = this._take(f);
        const err = fromFrame(f);
        if (r?.remount) {
          if (f.code === "bad_snapshot" && r.frame.snapshot) {
            r.remount._sig = null;
            this._remount(r.remount);
          }
          r.remount._emit("error", err);
          return this._remounted(r);
        }
        // An unmount queued offline may find the instance gone: fine.
        if (r?.unmount && f.code === "not_mounted") return r.resolve();
        if (r) return this._finish(r, err);
        return h ? h._emit("error", err) : this._emit("error", err);
      }
      case "patch":
        if (!h || f.version <= h.version) return; // stale or duplicate
        if (f.base !== h.version) return this._sync(h);
        try {
          h._srv = applyPatch(h._srv, f.ops);
        } catch (e) {
          return this._sync(h);
        }
        if (f.trace) h._opt = h._opt.filter((g) => g.t !== f.trace.slice(3, 35));
        h._put(h._srv);
        h.version = f.version;
        h._sig = f.sig;
        return this._rendered(h, t0, f.trace);
      case "state":
        if (h && f.version >= h.version) h._set(f.state, f.version, t0, null, f.sig);
        return;
      case "event":
        if (h) {
          h._emit("event", f.name, f.data);
          if (!/^(state|event|error|unmounted)$/.test(f.name)) h._emit(f.name, f.data);
        }
        return this._emit("event", f.id, f.name, f.data);
      case "highlight":
        return this._highlight(f.id, f.on, f.label);
      case "picker":
        return this._picker(f.on);
    }
  }

  _sync(h) {
    // One sync in flight per instance; later gaps wait for its `state`.
    if (h._syncing) return;
    h._syncing = true;
    this._raw({ t: "sync", id: h.id });
  }

  _welcome(f, t0) {
    const resuming = this._resume != null;
    this.session = f.session;
    this._resume = { session: f.session, token: f.token };
    this.maxFrame = f.max_frame || Infinity;
    this.graceMs = f.grace_ms;
    this._attempt = 0;
    this._debug = f.debug || null;
    for (const i of this._ssr || []) if (!this._handles.has(i.id)) this._handles.set(i.id, new Handle(this, i.type, {}, i));
    this._ssr = null;
    if (resuming) {
      const held = new Map((f.resumed ? f.instances || [] : []).map((i) => [i.id, i]));
      for (const h of [...this._handles.values()]) {
        const s = f.resumed ? held.get(h.id) : null;
        if (s) {
          held.delete(h.id);
          if (s.version !== h.version) h._set(s.state, s.version, t0, null, s.sig);
          else h._sig = s.sig ?? h._sig;
        } else this._remount(h);
      }
      // Held by the server, unknown here (unmount or mount lost in flight).
      if (f.resumed) for (const id of held.keys()) this._send({ frame: { t: "unmount", id }, resolve() {}, reject() {}, unmount: true });
      if (!this._gate) this._startFlow();
    }
    this._setStatus("open");
    this._onReady();
    if (this._debug) this._announce();
  }

  _remount(h) {
    const frame = { t: "mount", type: h.type, props: h.props, id: h.id };
    if (h._sig) frame.snapshot = { version: h.version, state: h._srv, sig: h._sig };
    // Calls wait for a snapshot's outcome: if refused, a plain remount follows.
    if (frame.snapshot) this._gate++;
    this._send({ frame, remount: h, resolve() {}, reject() {} });
  }

  _remounted(r) {
    if (r.frame.snapshot && --this._gate === 0 && !this._flowing) this._startFlow();
  }

  // ---- measurements ----

  _rendered(h, t0, trace) {
    const t1 = now();
    h._emit("state", h.state, h);
    const t2 = now();
    if (!this._metrics) return;
    const item = { id: h.id, version: h.version, apply_us: us(t1 - t0), render_us: us(t2 - t1), frame_us: 0, at_unix_us: unixUs() - us(t2 - t0) };
    if (trace) item.trace = trace;
    // One frame callback measures every render before it.
    if (this._frameWait.push([item, t0]) === 1) {
      nextFrame(() => {
        const t3 = now();
        for (const [it, s] of this._frameWait.splice(0)) {
          it.frame_us = us(t3 - s);
          this._report("items", it);
        }
      });
    }
  }

  _report(kind, x) {
    if (!this._metrics) return;
    const r = this._reports;
    r[kind].push(x);
    if (r[kind].length > REPORT_KEEP) {
      r[kind].shift();
      this.droppedReports++;
    }
    if (r.items.length + r.spans.length >= REPORT_MAX) this._flush();
    else if (!this._timer) this._timer = setTimeout(() => this._flush(), REPORT_MS);
  }

  _flush() {
    clearTimeout(this._timer);
    this._timer = null;
    const r = this._reports;
    if (!this._flowing || r.items.length + r.spans.length === 0) return;
    this._reports = { items: [], spans: [] };
    const frame = { t: "renders", items: r.items };
    if (r.spans.length) frame.spans = r.spans;
    this._raw(frame);
  }

  // ---- DevTools hooks ----

  _announce() {
    const w = globalThis.window;
    if (!w || !this._debug) return;
    const payload = {
      version: VERSION,
      protocol: PROTOCOL,
      debug: { url: new URL(this._debug.path, new URL(this._url, w.location?.href)).href.replace(/^http/, "ws"), token: this._debug.token ?? null },
    };
    w.__FLUXLIVE__ = payload;
    w.removeEventListener("message", this._onMsg);
    w.addEventListener("message", this._onMsg);
    w.postMessage({ source: "fluxlive-page", type: "announce", payload }, "*");
  }

  _overlay(key, el, label) {
    let o = this._overlays.get(key);
    if (!o) {
      o = document.createElement("div");
      o.setAttribute(OVERLAY, key);
      o.style.cssText = "position:fixed;z-index:2147483647;pointer-events:none;box-sizing:border-box;border:2px solid #e5484d;background:rgba(229,72,77,.12);border-radius:3px";
      const t = document.createElement("span");
      t.style.cssText = "position:absolute;left:-2px;bottom:100%;padding:1px 6px;font:12px/1.5 ui-monospace,monospace;background:#e5484d;color:#fff;white-space:nowrap;border-radius:3px 3px 0 0";
      o.appendChild(t);
      document.body.appendChild(o);
      this._overlays.set(key, o);
    }
    const b = el.getBoundingClientRect();
    Object.assign(o.style, { left: `${b.left}px`, top: `${b.top}px`, width: `${b.width}px`, height: `${b.height}px` });
    o.firstChild.textContent = label;
    clearTimeout(o._t);
    return o;
  }

  _unoverlay(key) {
    const o = this._overlays.get(key);
    if (!o) return;
    clearTimeout(o._t);
    o.remove();
    this._overlays.delete(key);
  }

  _highlight(id, on, label) {
    if (!hasDom()) return;
    const key = `h:${id}`;
    const el = on && document.querySelector(`[data-live-id="${CSS.escape(id)}"]`);
    if (!el) return this._unoverlay(key);
    const h = this._handles.get(id);
    const o = this._overlay(key, el, label || (h ? `${h.type} #${id}` : id));
    o._t = setTimeout(() => this._unoverlay(key), HIGHLIGHT_MS);
  }

  _picker(on) {
    if (!hasDom()) return;
    const p = this._pick;
    if (p) {
      for (const [ev, fn] of p) document.removeEventListener(ev, fn, true);
      this._pick = null;
      this._unoverlay("pick");
    }
    if (!on || this._closed) return;
    const target = (e) => e.target?.closest?.("[data-live-id]");
    const done = (id) => {
      this._picker(false);
      this._raw({ t: "pick", id });
    };
    this._pick = [
      ["mouseover", (e) => {
        const el = target(e);
        if (!el) return this._unoverlay("pick");
        const id = el.getAttribute("data-live-id");
        const h = this._handles.get(id);
        this._overlay("pick", el, h ? `${h.type} #${id}` : id);
      }],
      ["click", (e) => {
        const el = target(e);
        if (!el) return;
        e.preventDefault();
        e.stopPropagation();
        done(el.getAttribute("data-live-id"));
      }],
      ["keydown", (e) => {
        if (e.key === "Escape") done(null);
      }],
    ];
    for (const [ev, fn] of this._pick) document.addEventListener(ev, fn, true);
  }
}

export function connect(opts = {}) {
  return new Live(opts);
}
