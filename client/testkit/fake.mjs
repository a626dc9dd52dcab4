// An in-memory WebSocket and a small reference server speaking the app
// protocol, so the client's connection logic can be tested without the Rust
// runtime (the real server is covered by server.test.mjs).

/** Polls `cond` until it is truthy or the deadline passes. */
export async function waitFor(cond, what = "condition", ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * A fake network. `net.WebSocket` is the constructor to inject into
 * `connect`; every socket it creates lands in `net.sockets`, and `net.server`
 * (when set) answers frames.
 */
export function fakeNet() {
  const net = { sockets: [], refuse: false, server: null };
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.readyState = 0;
      net.sockets.push(this);
      setTimeout(() => {
        if (this.readyState !== 0) return;
        if (net.refuse) return this._down(1006);
        this.readyState = 1;
        this.onopen?.({});
        net.server?.connected(this);
      }, 0);
    }
    send(s) {
      if (this.readyState !== 1) throw new Error("socket not open");
      const f = JSON.parse(s);
      // A client `batch` is recorded (and served) as its frames, in order; `batchesIn` counts them.
      const fs = f.t === "batch" ? f.frames : [f];
      if (f.t === "batch") this.batchesIn = (this.batchesIn || 0) + 1;
      this.wire = (this.wire || 0) + 1;
      for (const x of fs) {
        this.sent.push(x);
        net.server?.frame(this, x);
      }
    }
    close() {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      setTimeout(() => this._down(1000), 0);
    }
    /** Server side: deliver a frame to the client. */
    push(frame) {
      if (this.readyState === 1) this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }
    /** Server side: the network dies. */
    kill() {
      this._down(1006);
    }
    _down(code) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      net.server?.disconnected(this);
      this.onclose?.({ code });
    }
  }
  net.WebSocket = FakeWebSocket;
  net.last = () => net.sockets[net.sockets.length - 1];
  return net;
}

// A counter written the way the demo's Counter behaves.
const types = {
  Counter: {
    init: (p) => ({ count: p.start ?? 0, step: p.step ?? 1, label: p.label ?? "Counter" }),
    actions: {
      increment: (s) => ({ state: { ...s, count: s.count + s.step }, event: ["count-changed", { count: s.count + s.step }] }),
      decrement: (s) => ({ state: { ...s, count: s.count - s.step } }),
      reset: (s, _a, props) => ({ state: { ...s, count: props.start ?? 0 } }),
      explode: () => ({ error: "action_panicked" }),
      add: (s, [n]) => (typeof n !== "number" ? { error: "bad_args" } : { state: { ...s, count: s.count + n }, result: s.count + n }),
      noop: (s) => ({ state: s }),
      fail: () => ({ error: "action_failed", detail: { why: "asked to" } }),
    },
  },
  TodoList: {
    init: (p) => ({ title: p.title ?? "Todos", items: [], next_id: 1 }),
    actions: {
      add: (s, [text]) => {
        if (typeof text !== "string") return { error: "bad_args" };
        const t = text.trim();
        if (!t || t.length > 200) return { error: "action_failed", detail: { field: "text", message: t ? "at most 200 characters" : "must not be empty" } };
        return { state: { ...s, items: [...s.items, { id: s.next_id, text: t, done: false }], next_id: s.next_id + 1 }, result: s.next_id };
      },
      toggle: (s, [id]) => ({ state: { ...s, items: s.items.map((i) => (i.id === id ? { ...i, done: !i.done } : i)) } }),
      remove: (s, [id]) => ({ state: { ...s, items: s.items.filter((i) => i.id !== id) } }),
      clear_done: (s) => ({ state: { ...s, items: s.items.filter((i) => !i.done) } }),
    },
  },
};

/**
 * A reference server: sessions survive disconnects (until `restart()`),
 * each change sends `patch` then `reply`; frames of one tick are coalesced
 * into `batch` frames (`batching`, counted in `batches`); states carry a
 * fake signature and signed snapshots rebuild instances (`signing`).
 * Hooks: `dropPatches` (count of patches to lose), `hold` (stop answering
 * calls), `log` (every frame seen).
 */
export function miniServer(net) {
  let n = 0;
  const srv = {
    sessions: new Map(),
    conns: new Map(),
    dropPatches: 0,
    batching: true,
    batches: 0,
    signing: true,
    key: 1,
    hold: false,
    held: [],
    log: [],
    connected() {},
    disconnected(ws) {
      srv.conns.delete(ws);
    },
    /** Drops every session and socket; `newKey` also changes the signing key (old snapshots become invalid). */
    restart({ newKey = false } = {}) {
      if (newKey) srv.key++;
      srv.sessions.clear();
      for (const ws of [...net.sockets]) if (ws.readyState === 1) ws.kill();
    },
    frame(ws, f) {
      srv.log.push(f);
      // Frames sent in one tick go out together, as one `batch` when the client asked for it.
      const send = (x) => {
        if (ws._out) return ws._out.push(x);
        ws._out = [x];
        setTimeout(() => {
          const out = ws._out;
          ws._out = null;
          if (out.length > 1 && ws._batch) {
            srv.batches++;
            ws.push({ t: "batch", frames: out });
          } else for (const y of out) ws.push(y);
        }, 0);
      };
      // Stand-in for the HMAC: the runtime signs each state version.
      const sign = (i) => (srv.signing ? `sig${srv.key}:${i.id}:${i.version}:${JSON.stringify(i.state)}` : undefined);
      if (f.t === "hello") {
        ws._batch = (f.caps || []).includes("batch") && srv.batching;
        let sess = f.resume && srv.sessions.get(f.resume.session);
        const resumed = !!(sess && sess.token === f.resume.token);
        if (!resumed) {
          sess = { id: `s${++n}`, insts: new Map() };
          srv.sessions.set(sess.id, sess);
        }
        sess.token = `k${++n}`;
        srv.conns.set(ws, sess);
        const w = { t: "welcome", protocol: 1, session: sess.id, token: sess.token, resumed, grace_ms: 30000, max_frame: 65536 };
        if (resumed) w.instances = [...sess.insts.values()].map((i) => ({ id: i.id, type: i.type, version: i.version, state: i.state, sig: sign(i) }));
        if (srv.debug) w.debug = srv.debug;
        return send(w);
      }
      const sess = srv.conns.get(ws);
      if (!sess) return send({ t: "error", code: "bad_frame", message: "hello first" });
      const err = (code, extra = {}) => send({ t: "error", ref: f.ref, code, message: `${code} (test)`, ...extra });
      if (f.t === "mount") {
        const ty = types[f.type];
        if (!ty) return err("unknown_component", { type: f.type });
        const id = f.id ?? `i${++n}`;
        if (sess.insts.has(id)) return err("duplicate_id", { id });
        const inst = { id, type: f.type, version: 0, props: f.props || {}, state: ty.init(f.props || {}) };
        const snap = f.snapshot;
        const rehydrated = !!snap && srv.signing && snap.sig === sign({ id, ...snap });
        if (snap && !rehydrated) return err("bad_snapshot", { id, type: f.type });
        if (rehydrated) Object.assign(inst, { version: snap.version, state: snap.state });
        sess.insts.set(id, inst);
        const m = { t: "mounted", ref: f.ref, id, type: f.type, version: inst.version, state: inst.state, sig: sign(inst) };
        if (rehydrated) m.rehydrated = true;
        return send(m);
      }
      if (f.t === "batch_call") {
        // Runs each call through the plain call path and collects the outcomes.
        const results = [];
        for (const c of f.calls) {
          const i = sess.insts.get(c.id);
          const act = i && types[i.type].actions[c.method];
          if (!act) {
            results.push({ error: { code: i ? "unknown_method" : "not_mounted", message: "test", id: c.id, method: c.method } });
            continue;
          }
          const out = act(i.state, c.args, i.props);
          if (out.error) {
            results.push({ error: { code: out.error, message: "test", id: c.id, method: c.method, detail: out.detail } });
            continue;
          }
          if (out.state !== i.state) {
            const base = i.version++;
            i.state = out.state;
            send({ t: "patch", id: c.id, base, version: i.version, ops: [{ op: "replace", path: "", value: i.state }], sig: sign(i) });
          }
          results.push({ ok: out.result ?? null });
        }
        return send({ t: "batch_reply", ref: f.ref, results });
      }
      const inst = f.id != null && sess.insts.get(f.id);
      if (f.t === "call") {
        if (srv.hold) return srv.held.push(f);
        if (!inst) return err("not_mounted", { id: f.id, method: f.method });
        const act = types[inst.type].actions[f.method];
        if (!act) return err("unknown_method", { id: f.id, type: inst.type, method: f.method });
        // Idempotency: a seen key is answered with its first outcome, not applied again.
        inst.keys ??= new Map();
        if (f.key && inst.keys.has(f.key)) return send({ ...inst.keys.get(f.key), ref: f.ref });
        const keep = (x) => (f.key && inst.keys.set(f.key, x), x);
        const out = act(inst.state, f.args, inst.props);
        if (out.error) {
          keep({ t: "error", code: out.error, message: `${out.error} (test)`, id: f.id, type: inst.type, method: f.method, detail: out.detail });
          return err(out.error, { id: f.id, type: inst.type, method: f.method, detail: out.detail });
        }
        const ops = Object.keys(out.state)
          .filter((k) => out.state[k] !== inst.state[k])
          .map((k) => ({ op: "replace", path: `/${k}`, value: out.state[k] }));
        if (ops.length) {
          const base = inst.version++;
          inst.state = out.state;
          if (srv.dropPatches > 0) srv.dropPatches--;
          else send({ t: "patch", id: f.id, base, version: inst.version, ops, trace: f.trace, sig: sign(inst) });
        }
        if (out.event) send({ t: "event", id: f.id, name: out.event[0], data: out.event[1] });
        return send(keep({ t: "reply", ref: f.ref, id: f.id, result: out.result ?? null }));
      }
      if (f.t === "props") {
        if (!inst) return err("not_mounted", { id: f.id, method: "props" });
        inst.props = f.props;
        const next = { ...inst.state, ...(f.props.step != null && { step: f.props.step }), ...(f.props.label != null && { label: f.props.label }) };
        const ops = Object.keys(next)
          .filter((k) => next[k] !== inst.state[k])
          .map((k) => ({ op: "replace", path: `/${k}`, value: next[k] }));
        if (ops.length) {
          const base = inst.version++;
          inst.state = next;
          send({ t: "patch", id: f.id, base, version: inst.version, ops, sig: sign(inst) });
        }
        return send({ t: "reply", ref: f.ref, id: f.id, result: null });
      }
      if (f.t === "unmount") {
        if (!inst) return err("not_mounted", { id: f.id });
        sess.insts.delete(f.id);
        return send({ t: "unmounted", ref: f.ref, id: f.id });
      }
      if (f.t === "sync") {
        if (inst) send({ t: "state", id: f.id, version: inst.version, state: inst.state, sig: sign(inst) });
      }
    },
  };
  net.server = srv;
  return srv;
}
