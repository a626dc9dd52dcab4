// "Components that talk", client side, against the in-memory reference
// server: frame coalescing, batch_call, debounce/throttle, optimistic
// updates, the offline queue (keys, pending count, status, persistence),
// named events and the page bus, and SSR attach.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, LiveError } from "../live.js";
import { batch, debounced, optimistic, persistQueue, throttled } from "../live-extras.js";
import { fakeNet, miniServer, waitFor } from "../testkit/fake.mjs";

const URL_ = "ws://127.0.0.1:1/__live/ws";
const fast = { minMs: 1, maxMs: 5 };

function setup(opts = {}, net = fakeNet(), srv = miniServer(net)) {
  const live = connect({ url: URL_, WebSocket: net.WebSocket, reconnect: fast, metrics: false, ...opts });
  return { net, srv, live };
}

const calls = (ws) => ws.sent.filter((f) => f.t === "call");

/** A Storage-like object backed by a Map. */
function memoryStorage() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), map: m };
}

test("calls made in one tick leave as one batch frame; a lone call goes out as itself", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const b = await live.mount("Counter", { start: 10 }, { id: "b" });
  const ws = net.last();
  const before = { wire: ws.wire, batches: ws.batchesIn || 0 };
  const results = await Promise.all([a.call("add", 1), b.call("add", 2), a.call("add", 3)]);
  assert.deepEqual(results, [1, 12, 4]);
  assert.equal(ws.wire - before.wire, 1, "three calls, one WebSocket message");
  assert.equal((ws.batchesIn || 0) - before.batches, 1);
  assert.deepEqual(calls(ws).slice(-3).map((f) => [f.id, f.args[0]]), [["a", 1], ["b", 2], ["a", 3]], "in call order");
  const w = ws.wire;
  assert.equal(await a.call("add", 1), 5);
  assert.equal(ws.wire - w, 1);
  assert.equal(ws.batchesIn, before.batches + 1, "a single frame is not wrapped");
  live.close();
});

test("batch() sends one batch_call and resolves once with {ok} or {error: LiveError} per call", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const t = await live.mount("TodoList", {}, { id: "t" });
  const out = await batch(live, [
    { handle: a, method: "add", args: [5] },
    { id: "t", method: "add", args: [""] },
    { handle: a, method: "nope" },
    { handle: t, method: "add", args: ["milk"] },
  ]);
  assert.equal(out.length, 4);
  assert.deepEqual(out[0], { ok: 5 });
  assert.ok(out[1].error instanceof LiveError);
  assert.equal(out[1].error.code, "action_failed");
  assert.equal(out[1].error.detail.field, "text");
  assert.equal(out[2].error.code, "unknown_method");
  assert.deepEqual(out[3], { ok: 1 });
  const sent = net.last().sent.filter((f) => f.t === "batch_call");
  assert.equal(sent.length, 1);
  assert.ok(sent[0].calls.every((c) => typeof c.key === "string"), "every call keyed");
  await waitFor(() => a.state.count === 5 && t.state.items.length === 1, "states follow the batch's patches");
  live.close();
});

test("debounced: only the last call of a burst is sent and every caller gets its result", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const add = debounced(a, 15);
  const ps = [add("add", 1), add("add", 2), add("add", 3)];
  assert.deepEqual(await Promise.all(ps), [3, 3, 3]);
  assert.deepEqual(calls(net.last()).map((f) => f.args), [[3]]);
  assert.equal(a.state.count, 3);
  live.close();
});

test("throttled: the first call goes at once, the last of the window at its end, the ones between are superseded", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const add = throttled(a, 30);
  const p1 = add("add", 1);
  const p2 = add("add", 2).catch((e) => e);
  const p3 = add("add", 3);
  assert.equal(await p1, 1);
  const e2 = await p2;
  assert.ok(e2 instanceof LiveError);
  assert.equal(e2.code, "superseded");
  assert.equal(await p3, 4);
  assert.deepEqual(calls(net.last()).map((f) => f.args[0]), [1, 3]);
  live.close();
});

test("optimistic: the guess shows at once, the server's patch replaces it (no double count)", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const seen = [];
  a.on("state", (s) => seen.push(s.count));
  srv.hold = true;
  const p = optimistic(a, "add", [1], (s) => ({ ...s, count: s.count + 1 }));
  assert.equal(a.state.count, 1, "shown before any answer");
  assert.deepEqual(seen, [1]);
  assert.equal(a.version, 0, "versions stay the server's");
  await waitFor(() => srv.held.length === 1, "call reached the server");
  srv.hold = false;
  srv.frame(net.last(), srv.held.pop());
  assert.equal(await p, 1);
  assert.equal(a.state.count, 1);
  assert.equal(a.version, 1);
  assert.ok(seen.every((c) => c === 1), `never showed a double count: ${seen}`);
  live.close();
});

test("optimistic: pending guesses are rebased on other patches, and a failed call rolls its guess back", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  srv.hold = true;
  const guess = optimistic(a, "fail", [], (s) => ({ ...s, count: s.count + 100 })).catch((e) => e);
  assert.equal(a.state.count, 100);
  await waitFor(() => srv.held.length === 1, "held");
  // Another change lands first: the guess stays on top of the new server state.
  srv.hold = false;
  await a.call("add", 5);
  assert.equal(a.state.count, 105);
  const seen = [];
  a.on("state", (s) => seen.push(s.count));
  srv.frame(net.last(), srv.held.pop());
  const e = await guess;
  assert.equal(e.code, "action_failed");
  assert.equal(a.state.count, 5, "rolled back to the server's state");
  assert.deepEqual(seen, [5], "one state event for the rollback");
  live.close();
});

test("offline: calls queue with keys, pending counts them, status says offline when the browser does", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const statuses = [];
  live.on("status", (s) => statuses.push(s));
  globalThis.navigator ??= {};
  const had = Object.getOwnPropertyDescriptor(globalThis.navigator, "onLine");
  Object.defineProperty(globalThis.navigator, "onLine", { value: false, configurable: true });
  try {
    net.refuse = true;
    net.last().kill();
    await waitFor(() => live.status === "offline", "offline");
    const ps = [1, 2, 3].map((n) => a.call("add", n));
    assert.equal(live.pending, 3);
  } finally {
    if (had) Object.defineProperty(globalThis.navigator, "onLine", had);
    else delete globalThis.navigator.onLine;
  }
  net.refuse = false;
  await waitFor(() => live.status === "open", "open again");
  await waitFor(() => live.pending === 0, "queue drained");
  assert.equal(a.state.count, 6);
  const keys = calls(net.last()).map((f) => f.key);
  assert.equal(new Set(keys).size, 3);
  assert.ok(keys.every((k) => /^[0-9a-f]{8}-\d+$/.test(k)));
  assert.ok(statuses.includes("offline"));
  assert.equal(srv.sessions.size, 1);
  live.close();
});

test("calls caught in flight by 20 socket kills apply exactly once, in order", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  // The server applies the call, then the socket dies before the reply leaves.
  let killNext = false;
  let applied = 0;
  const serve = srv.frame;
  srv.frame = (ws, f) => {
    serve(ws, f);
    if (f.t !== "call") return;
    applied++;
    if (killNext) {
      killNext = false;
      ws.kill();
    }
  };
  const results = [];
  for (let i = 0; i < 20; i++) {
    killNext = i % 2 === 0;
    await a.call("add", 1).then((r) => results.push(r));
    await waitFor(() => live.status === "open", "open");
  }
  assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(a.state.count, 20);
  assert.equal(applied, 30, "ten calls were seen twice, answered from their key the second time");
  live.close();
});

test("persistQueue: calls left unsent at page exit are sent by the next page, in order, with their keys", async () => {
  const net = fakeNet();
  const srv = miniServer(net);
  const storage = memoryStorage();
  const first = setup({}, net, srv).live;
  const a = await first.mount("Counter", {}, { id: "a" });
  const saver = persistQueue(first, storage, "q");
  assert.deepEqual(await saver.done, []);
  net.refuse = true;
  net.last().kill();
  await waitFor(() => first.status === "reconnecting", "reconnecting");
  for (const n of [1, 2, 3]) a.call("add", n).catch(() => {});
  saver.save(); // what `pagehide` does
  const stored = JSON.parse(storage.getItem("q"));
  assert.deepEqual(stored.map((f) => f.args[0]), [1, 2, 3]);
  first.close();
  // The reloaded page mounts its instances, then replays.
  net.refuse = false;
  const second = setup({}, net, srv).live;
  const b = await second.mount("Counter", {}, { id: "a" });
  const replay = persistQueue(second, storage, "q");
  assert.equal(storage.getItem("q"), null, "taken out of storage");
  const out = await replay.done;
  assert.deepEqual(out, [{ ok: 1 }, { ok: 3 }, { ok: 6 }]);
  assert.equal(b.state.count, 6);
  assert.deepEqual(calls(net.last()).map((f) => f.key), stored.map((f) => f.key));
  second.close();
});

test("named events reach handle.on(name), and live.on('event') sees every instance's events plus live.emit", async () => {
  const { live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const named = [];
  const bus = [];
  a.on("count-changed", (d) => named.push(d.count));
  live.on("event", (id, name, data) => bus.push([id, name, data]));
  await a.call("increment");
  live.emit("page-note", { x: 1 });
  assert.deepEqual(named, [1]);
  assert.deepEqual(bus, [["a", "count-changed", { count: 1 }], [null, "page-note", { x: 1 }]]);
  live.close();
});

/** Puts `#fluxlive-ssr` with `data` in a stub document for the duration of `fn`. */
async function withSsr(data, fn) {
  const had = globalThis.document;
  globalThis.document = { getElementById: (id) => (id === "fluxlive-ssr" ? { textContent: JSON.stringify(data) } : null) };
  try {
    return await fn();
  } finally {
    if (had === undefined) delete globalThis.document;
    else globalThis.document = had;
  }
}

function ssrSession(srv) {
  const inst = { id: "ssr-counter", type: "Counter", version: 3, props: { start: 7 }, state: { count: 7, step: 1, label: "SSR" } };
  srv.sessions.set("s-ssr", { id: "s-ssr", token: "tok", insts: new Map([[inst.id, inst]]) });
  const sig = `sig${srv.key}:${inst.id}:${inst.version}:${JSON.stringify(inst.state)}`;
  return { session: "s-ssr", token: "tok", instances: [{ id: inst.id, type: inst.type, version: inst.version, state: inst.state, sig }] };
}

test("SSR: connect() resumes the page's session and attach() returns its instance without mounting", async () => {
  const net = fakeNet();
  const srv = miniServer(net);
  const data = ssrSession(srv);
  const { live } = await withSsr(data, () => setup({}, net, srv));
  const h = await live.attach("ssr-counter");
  const ws = net.last();
  assert.deepEqual(ws.sent[0].resume, { session: "s-ssr", token: "tok" });
  assert.equal(ws.sent.filter((f) => f.t === "mount").length, 0, "no mount");
  assert.deepEqual([h.type, h.version, h.state.count], ["Counter", 3, 7]);
  assert.equal(await h.call("increment"), null);
  assert.equal(h.state.count, 8);
  const e = await live.attach("nope").catch((x) => x);
  assert.equal(e.code, "not_mounted");
  live.close();
});

test("SSR: when the session is gone the instance is rebuilt from its signed snapshot", async () => {
  const net = fakeNet();
  const srv = miniServer(net);
  const data = ssrSession(srv);
  srv.sessions.clear(); // the grace period ran out before the page connected
  const { live } = await withSsr(data, () => setup({}, net, srv));
  const h = await live.attach("ssr-counter");
  await waitFor(() => net.last().sent.some((f) => f.t === "mount"), "remount");
  const m = net.last().sent.find((f) => f.t === "mount");
  assert.equal(m.snapshot.version, 3);
  assert.equal(await h.call("add", 1), 8);
  live.close();
});

test("close() with frames still waiting for the end of the tick fails them without throwing later", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const ws = net.last();
  const sent = ws.sent.length;
  const p = a.call("add", 1).catch((e) => e);
  live.close();
  const e = await p;
  assert.equal(e.code, "closed");
  // The microtask that would have sent the frame ran and found no socket.
  await new Promise((r) => setImmediate(r));
  assert.equal(ws.sent.length, sent, "nothing sent after close");
});

test("a tick's frames that could exceed max_frame together go out one by one", async () => {
  const { net, live } = setup();
  const t = await live.mount("TodoList", {}, { id: "t" });
  const ws = net.last();
  const before = { wire: ws.wire, batches: ws.batchesIn || 0 };
  // 3 × ~12,000 chars: each fits in 64 KiB, together they might not (3 bytes per char worst case).
  const texts = ["a", "b", "c"].map((c) => c.repeat(12000));
  const out = await Promise.all(texts.map((x) => t.call("add", x).catch((e) => e.code)));
  assert.deepEqual(out, ["action_failed", "action_failed", "action_failed"], "too long for a todo, but sent");
  assert.equal(ws.wire - before.wire, 3);
  assert.equal((ws.batchesIn || 0) - before.batches, 0);
  live.close();
});
