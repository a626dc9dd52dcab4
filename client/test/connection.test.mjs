// Connection behaviour against an in-memory socket and reference server:
// frame order, ref matching, versions and gaps, listeners, errors,
// reconnect/resume/remount, offline queue, and batched reports.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, LiveError, traceparent } from "../live.js";
import { fakeNet, miniServer, waitFor } from "../testkit/fake.mjs";

const vectors = JSON.parse(readFileSync(new URL("../../protocol/vectors/frames.json", import.meta.url), "utf8"));
const URL_ = "ws://127.0.0.1:1/__live/ws";
const fast = { minMs: 1, maxMs: 5 };

function setup(opts = {}) {
  const net = fakeNet();
  const srv = miniServer(net);
  const live = connect({ url: URL_, WebSocket: net.WebSocket, reconnect: fast, ...opts });
  return { net, srv, live };
}

const sentOfType = (ws, t) => ws.sent.filter((f) => f.t === t);

test("hello goes first and mounts are pipelined behind it, before welcome", async () => {
  const { net, live } = setup();
  const p1 = live.mount("Counter", { start: 1 }, { id: "a" });
  const p2 = live.mount("Counter", {});
  const ws = await waitFor(() => net.sockets[0]?.sent.length >= 3 && net.sockets[0], "three frames");
  assert.deepEqual(ws.sent.map((f) => f.t), ["hello", "mount", "mount"]);
  assert.deepEqual(ws.sent[0], { t: "hello", protocol: 1, caps: ["batch"] });
  assert.deepEqual(ws.sent[1], { t: "mount", type: "Counter", props: { start: 1 }, id: "a", ref: 1 });
  assert.equal(ws.sent[2].ref, 2);
  const [a, b] = await Promise.all([p1, p2]);
  assert.equal(a.id, "a");
  assert.equal(a.type, "Counter");
  assert.deepEqual(a.state, { count: 1, step: 1, label: "Counter" });
  assert.equal(a.version, 0);
  assert.match(b.id, /^i\d+$/);
  assert.equal(live.status, "open");
  live.close();
});

test("every frame the client sends matches the shared vectors' shape", async () => {
  // Keys a client frame may carry, per type, as the Rust types accept them.
  const allowed = new Map();
  for (const v of vectors.filter((v) => v.dir === "client")) {
    const s = allowed.get(v.frame.t) ?? new Set();
    for (const k of Object.keys(v.frame)) s.add(k);
    allowed.set(v.frame.t, s);
  }
  const { net, live } = setup();
  const h = await live.mount("Counter", {}, { id: "c" });
  await h.call("increment");
  await h.invoke("add", [2], { key: "k1" });
  await h.unmount();
  net.server.dropPatches = 0;
  await waitFor(() => sentOfType(net.sockets[0], "renders").length > 0, "a renders frame");
  for (const f of net.sockets[0].sent) {
    const keys = allowed.get(f.t);
    assert.ok(keys, `unknown frame type ${f.t}`);
    for (const k of Object.keys(f)) assert.ok(keys.has(k), `${f.t}.${k} is not in the vectors`);
  }
  live.close();
});

test("every server frame in the vectors is consumed without throwing", async () => {
  const { net, live } = setup();
  const errors = [];
  live.on("error", (e) => errors.push(e.code));
  await live.mount("Counter", {}, { id: "hero" });
  for (const v of vectors.filter((v) => v.dir === "server" && v.frame.t !== "welcome")) net.last().push(v.frame);
  // Errors without a pending ref and without a known instance reach live.on("error").
  assert.ok(errors.includes("protocol_mismatch"));
  assert.ok(errors.includes("internal"));
  live.close();
});

test("calls resolve with their own result even when answers interleave", async () => {
  const { live } = setup();
  const a = await live.mount("Counter", { start: 0 }, { id: "a" });
  const b = await live.mount("Counter", { start: 100 }, { id: "b" });
  const results = await Promise.all([a.call("add", 1), b.call("add", 2), a.call("add", 3), b.call("add", 4)]);
  assert.deepEqual(results, [1, 102, 4, 106]);
  assert.equal(a.state.count, 4);
  assert.equal(a.version, 2);
  assert.equal(b.state.count, 106);
  live.close();
});

test("only the changed instance's state listeners fire; an unchanged state fires nothing", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const b = await live.mount("Counter", {}, { id: "b" });
  const seen = [];
  a.on("state", (s, h) => seen.push(["a", s.count, h === a]));
  const unbindB = b.on("state", (s) => seen.push(["b", s.count]));
  await a.call("increment");
  assert.deepEqual(seen, [["a", 1, true]]);
  await a.call("noop"); // no patch sent
  net.last().push({ t: "state", id: "a", version: a.version, state: { ...a.state } });
  assert.deepEqual(seen, [["a", 1, true]]);
  unbindB();
  await b.call("increment");
  assert.deepEqual(seen, [["a", 1, true]]);
  assert.equal(b.state.count, 1);
  live.close();
});

test("events reach the emitting instance's listeners", async () => {
  const { live } = setup();
  const a = await live.mount("Counter", { step: 3 }, { id: "a" });
  const b = await live.mount("Counter", {}, { id: "b" });
  const ev = [];
  a.on("event", (name, data) => ev.push(["a", name, data]));
  b.on("event", (name, data) => ev.push(["b", name, data]));
  await a.call("increment");
  await waitFor(() => ev.length === 1, "event");
  assert.deepEqual(ev, [["a", "count-changed", { count: 3 }]]);
  live.close();
});

test("a patch whose base is not the current version triggers one sync, then state catches up", async () => {
  const { net, srv, live } = setup();
  const h = await live.mount("Counter", {}, { id: "a" });
  const states = [];
  h.on("state", (s) => states.push(s.count));
  srv.dropPatches = 1;
  await h.call("increment"); // v1 lost
  assert.equal(h.version, 0);
  await h.call("increment"); // base 1 != 0 -> sync
  await h.call("increment"); // gap again while syncing: no second sync
  await waitFor(() => h.version === 3, "version 3");
  assert.equal(h.state.count, 3);
  const syncs = sentOfType(net.last(), "sync");
  assert.deepEqual(syncs, [{ t: "sync", id: "a" }]);
  assert.equal(states.at(-1), 3);
  live.close();
});

test("stale and duplicate patches are ignored; a patch that does not apply asks for a sync", async () => {
  const { net, live } = setup();
  const h = await live.mount("Counter", {}, { id: "a" });
  await h.call("increment");
  const ws = net.last();
  ws.push({ t: "patch", id: "a", base: 0, version: 1, ops: [{ op: "replace", path: "/count", value: 99 }] });
  assert.equal(h.state.count, 1);
  assert.equal(sentOfType(ws, "sync").length, 0);
  ws.push({ t: "patch", id: "a", base: 1, version: 2, ops: [{ op: "remove", path: "/nope" }] });
  assert.equal(h.version, 1, "failed patch leaves the version");
  assert.equal(sentOfType(ws, "sync").length, 1);
  await waitFor(() => h._syncing === false, "sync answered");
  live.close();
});

test("server errors reject with LiveError carrying code, component, method and detail", async () => {
  const { live } = setup();
  const h = await live.mount("Counter", {}, { id: "a" });
  const err = await h.call("fail").catch((e) => e);
  assert.ok(err instanceof LiveError);
  assert.equal(err.code, "action_failed");
  assert.equal(err.component, "Counter");
  assert.equal(err.method, "fail");
  assert.deepEqual(err.detail, { why: "asked to" });
  assert.equal((await h.call("fly").catch((e) => e)).code, "unknown_method");
  assert.equal((await h.call("add", "x").catch((e) => e)).code, "bad_args");
  assert.equal((await live.mount("Nope").catch((e) => e)).code, "unknown_component");
  assert.equal((await live.mount("Counter", {}, { id: "a" }).catch((e) => e)).code, "duplicate_id");
  live.close();
});

test("error frames without a ref go to the handle by id, else to live", async () => {
  const { net, live } = setup();
  const h = await live.mount("Counter", {}, { id: "a" });
  const onH = [];
  const onLive = [];
  h.on("error", (e) => onH.push(e.code));
  live.on("error", (e) => onLive.push(e.code));
  net.last().push({ t: "error", code: "overloaded", message: "busy", id: "a" });
  net.last().push({ t: "error", code: "internal", message: "oops" });
  net.last().push("not json");
  assert.deepEqual(onH, ["overloaded"]);
  assert.deepEqual(onLive, ["internal", "bad_frame"]);
  live.close();
});

test("unmount frees the handle; later calls reject locally with not_mounted", async () => {
  const { net, live } = setup();
  const h = await live.mount("Counter", {}, { id: "a" });
  await h.unmount();
  assert.equal(h.mounted, false);
  const e = await h.call("increment").catch((x) => x);
  assert.equal(e.code, "not_mounted");
  assert.equal(sentOfType(net.last(), "call").length, 0);
  live.close();
});

test("status goes connecting -> open -> reconnecting -> open, and closed at the end", async () => {
  const { net, live } = setup();
  const seen = [live.status];
  live.on("status", (s) => seen.push(s));
  await live.mount("Counter", {}, { id: "a" });
  net.last().kill();
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  live.close();
  assert.deepEqual(seen, ["connecting", "open", "reconnecting", "open", "closed"]);
});

test("resume keeps state: listeners fire only where the version moved while away", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const b = await live.mount("Counter", {}, { id: "b" });
  await a.call("increment");
  const fired = [];
  a.on("state", () => fired.push("a"));
  b.on("state", (s) => fired.push(["b", s.count]));
  const first = net.last();
  // Change b on the server while the client is away.
  srv.sessions.get(live.session).insts.get("b").state = { count: 42, step: 1, label: "Counter" };
  srv.sessions.get(live.session).insts.get("b").version = 5;
  first.kill();
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  const hello = net.last().sent[0];
  assert.equal(hello.t, "hello");
  assert.equal(hello.resume.session, live.session);
  assert.equal(sentOfType(net.last(), "mount").length, 0, "no remount on resume");
  assert.deepEqual(fired, [["b", 42]]);
  assert.equal(a.state.count, 1);
  assert.equal(b.version, 5);
  assert.equal(await a.call("add", 10), 11);
  live.close();
});

test("a restarted server (not resumed) gets every handle remounted with its type, props and id", async () => {
  const { net, srv, live } = setup();
  srv.signing = false; // no signed snapshot to rebuild from: state restarts from props
  const a = await live.mount("Counter", { start: 5, step: 2 }, { id: "a" });
  const b = await live.mount("Counter", {});
  await a.call("increment");
  assert.equal(a.state.count, 7);
  srv.restart();
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  const mounts = sentOfType(net.last(), "mount");
  assert.deepEqual(
    mounts.map((m) => [m.type, m.props, m.id]),
    [["Counter", { start: 5, step: 2 }, "a"], ["Counter", {}, b.id]],
  );
  await waitFor(() => a.version === 0, "remounted");
  assert.equal(a.state.count, 5);
  assert.equal(await a.call("add", 1), 6);
  live.close();
});

test("calls made while offline wait, go out after the remount, and resolve", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  net.refuse = true;
  srv.restart();
  await waitFor(() => live.status === "reconnecting", "reconnecting");
  const p = a.call("add", 3);
  await waitFor(() => net.sockets.length >= 3, "a few refused attempts");
  net.refuse = false;
  assert.equal(await p, 3);
  const sent = net.last().sent.map((f) => f.t);
  assert.deepEqual(sent.slice(0, 3), ["hello", "mount", "call"]);
  live.close();
});

test("retry: false: calls in flight when the socket dies reject with connection_lost", async () => {
  const { net, srv, live } = setup({ retry: false });
  const a = await live.mount("Counter", {}, { id: "a" });
  srv.hold = true;
  const p = a.call("increment");
  await waitFor(() => srv.held.length === 1, "call reached the server");
  net.last().kill();
  const e = await p.catch((x) => x);
  assert.ok(e instanceof LiveError);
  assert.equal(e.code, "connection_lost");
  live.close();
});

test("the offline queue is bounded", async () => {
  const { net, live } = setup({ queueMax: 2 });
  const a = await live.mount("Counter", {}, { id: "a" });
  net.refuse = true;
  net.last().kill();
  const p1 = a.call("increment");
  const p2 = a.call("increment");
  const e = await a.call("increment").catch((x) => x);
  assert.equal(e.code, "queue_full");
  live.close();
  assert.equal((await p1.catch((x) => x)).code, "closed");
  assert.equal((await p2.catch((x) => x)).code, "closed");
});

test("_dropSocket reconnects and resumes", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  await a.call("add", 4);
  live._dropSocket();
  assert.equal(live.status, "reconnecting");
  await waitFor(() => live.status === "open", "open again");
  assert.ok(net.last().sent[0].resume);
  assert.equal(a.state.count, 4);
  assert.equal(await a.call("add", 1), 5);
  live.close();
});

test("calls carry a W3C traceparent, random or the one given", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const tp = traceparent();
  assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  await a.call("increment");
  await a.call("increment");
  await a.invoke("add", [1], { traceparent: tp });
  const traces = sentOfType(net.last(), "call").map((c) => c.trace);
  assert.match(traces[0], /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.notEqual(traces[0], traces[1]);
  assert.equal(traces[2], tp);
  live.close();
});

test("renders and spans are batched into few frames, one item per applied patch", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const n = 40;
  for (let i = 0; i < n; i++) await a.call("increment");
  await a.call("fail").catch(() => {});
  await waitFor(() => {
    const r = sentOfType(net.last(), "renders");
    return r.reduce((k, f) => k + f.items.length, 0) === n && r.reduce((k, f) => k + (f.spans?.length ?? 0), 0) === n + 1;
  }, "all reports");
  const frames = sentOfType(net.last(), "renders");
  // 81 reports flush at 64 pending: never one frame per render.
  assert.ok(frames.length <= 3, `${frames.length} renders frames`);
  const items = frames.flatMap((f) => f.items);
  assert.deepEqual(items.map((i) => i.version), Array.from({ length: n }, (_, i) => i + 1));
  for (const it of items) {
    assert.equal(it.id, "a");
    for (const k of ["apply_us", "render_us", "frame_us", "at_unix_us"]) assert.ok(Number.isInteger(it[k]) && it[k] >= 0, k);
    assert.match(it.trace, /^00-/);
  }
  const spans = frames.flatMap((f) => f.spans ?? []);
  const calls = sentOfType(net.last(), "call");
  assert.deepEqual(spans.map((s) => s.trace), calls.map((c) => c.trace));
  assert.equal(spans.at(-1).error, "action_failed");
  assert.equal(spans.at(-1).method, "fail");
  assert.ok(spans.every((s) => Number.isInteger(s.dur_us) && s.start_unix_us > 1.7e15));
  live.close();
});

test("metrics: false sends no renders frames", async () => {
  const { net, live } = setup({ metrics: false });
  const a = await live.mount("Counter", {}, { id: "a" });
  for (let i = 0; i < 70; i++) await a.call("increment");
  assert.equal(sentOfType(net.last(), "renders").length, 0);
  live.close();
});

test("a frame over the server's max_frame is refused locally", async () => {
  const { net, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const e = await a.call("add", "x".repeat(70000)).catch((x) => x);
  assert.equal(e.code, "frame_too_large");
  assert.equal(sentOfType(net.last(), "call").length, 0);
  live.close();
});

test("reconnect gives up after maxAttempts and rejects what waited", async () => {
  const { net, live } = setup({ reconnect: { ...fast, maxAttempts: 3 } });
  const a = await live.mount("Counter", {}, { id: "a" });
  net.refuse = true;
  net.last().kill();
  const p = a.call("increment").catch((x) => x);
  await waitFor(() => live.status === "closed", "closed");
  assert.equal(net.sockets.length, 4);
  assert.equal((await p).code, "closed");
});

test("reconnect: false closes for good on the first loss", async () => {
  const { net, live } = setup({ reconnect: false });
  await live.mount("Counter", {}, { id: "a" });
  net.last().kill();
  assert.equal(live.status, "closed");
  assert.equal(net.sockets.length, 1);
});

test("an unmount made offline resolves even when the restarted server never had the instance", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const b = await live.mount("Counter", {}, { id: "b" });
  net.refuse = true;
  srv.restart();
  await waitFor(() => live.status === "reconnecting", "reconnecting");
  const gone = a.unmount();
  net.refuse = false;
  await gone;
  await waitFor(() => live.status === "open", "open");
  // Only b came back.
  assert.deepEqual(sentOfType(net.last(), "mount").map((m) => m.id), ["b"]);
  assert.equal(await b.call("add", 2), 2);
  live.close();
});

test("a restarted server rebuilds each instance from the signed snapshot the client sends", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", { start: 5, step: 2 }, { id: "a" });
  await a.call("increment");
  await a.call("increment");
  const t = await live.mount("TodoList", {}, { id: "t" });
  await t.call("add", "milk");
  const before = { a: [a.state, a.version], t: [t.state, t.version] };
  let fired = 0;
  a.on("state", () => fired++);
  srv.restart();
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  const mounts = sentOfType(net.last(), "mount");
  assert.deepEqual(mounts.map((m) => [m.id, m.snapshot?.version]), [["a", 2], ["t", 1]]);
  assert.deepEqual(mounts[0].snapshot.state, before.a[0]);
  await waitFor(() => sentOfType(net.last(), "mount").length === 2 && a.version === 2 && t.version === 1, "rehydrated");
  assert.deepEqual([a.state, a.version], before.a);
  assert.deepEqual([t.state, t.version], before.t);
  assert.equal(fired, 0, "nothing changed, nothing fired");
  assert.equal(await a.call("add", 1), 10);
  live.close();
});

test("a patch without a signature forgets the old one (it would sign a stale version)", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  assert.ok(a._sig);
  srv.signing = false;
  await a.call("increment");
  srv.restart();
  srv.signing = true;
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  assert.equal(sentOfType(net.last(), "mount")[0].snapshot, undefined);
  live.close();
});

test("server batch frames are unpacked in order: the patch lands before the reply resolves", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  const n = srv.batches;
  assert.equal(await a.call("add", 3), 3);
  assert.ok(srv.batches > n, "patch and reply came as one batch");
  // By hand: a batch with a patch and the reply of a pending call.
  srv.hold = true;
  const p = a.call("add", 1);
  await waitFor(() => srv.held.length === 1, "held");
  const ref = srv.held[0].ref;
  net.last().push({ t: "batch", frames: [
    { t: "patch", id: "a", base: a.version, version: a.version + 1, ops: [{ op: "replace", path: "/count", value: 4 }] },
    { t: "reply", ref, id: "a", result: 4 },
  ] });
  assert.equal(await p, 4);
  assert.equal(a.state.count, 4);
  live.close();
});

test("without the batch capability the server sends single frames", async () => {
  const { srv, live } = setup();
  srv.batching = false;
  const a = await live.mount("Counter", {}, { id: "a" });
  await a.call("add", 3);
  assert.equal(srv.batches, 0);
  live.close();
});

test("setProps sends a props frame, resolves like a call, and later remounts use the new props", async () => {
  const { net, srv, live } = setup();
  srv.signing = false;
  const a = await live.mount("Counter", { start: 1, step: 1 }, { id: "a" });
  assert.equal(await a.setProps({ start: 1, step: 4, label: "Four" }), null);
  assert.deepEqual(sentOfType(net.last(), "props").map(({ t, id, props }) => ({ t, id, props })), [{ t: "props", id: "a", props: { start: 1, step: 4, label: "Four" } }]);
  assert.equal(a.state.step, 4);
  assert.deepEqual(a.props, { start: 1, step: 4, label: "Four" });
  srv.restart();
  await waitFor(() => live.status === "open" && net.sockets.length === 2, "reopen");
  assert.deepEqual(sentOfType(net.last(), "mount")[0].props, { start: 1, step: 4, label: "Four" });
  live.close();
});

test("a snapshot the new server refuses (bad_snapshot) falls back to a plain remount from props", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", { start: 5 }, { id: "a" });
  await a.call("increment");
  const errors = [];
  a.on("error", (e) => errors.push(e.code));
  srv.restart({ newKey: true });
  await waitFor(() => live.status === "open" && sentOfType(net.last(), "mount").length === 2, "two mounts");
  const [first, second] = sentOfType(net.last(), "mount");
  assert.ok(first.snapshot);
  assert.equal(second.snapshot, undefined);
  assert.deepEqual(second.props, { start: 5 });
  await waitFor(() => a.version === 0, "remounted from props");
  assert.equal(a.state.count, 5);
  assert.deepEqual(errors, ["bad_snapshot"], "the refusal is reported on the handle");
  assert.equal(await a.call("add", 1), 6);
  live.close();
});

test("calls made offline wait for refused snapshots to be remounted from props, then succeed", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", { start: 5 }, { id: "a" });
  await a.call("increment");
  net.refuse = true;
  srv.restart({ newKey: true });
  await waitFor(() => live.status === "reconnecting", "reconnecting");
  const p = a.call("add", 1);
  net.refuse = false;
  assert.equal(await p, 6);
  // Render reports may go out at any point; requests keep their order.
  const order = net.last().sent.filter((f) => f.t !== "renders").map((f) => (f.t === "mount" ? `mount${f.snapshot ? "+snapshot" : ""}` : f.t));
  assert.deepEqual(order.slice(0, 4), ["hello", "mount+snapshot", "mount", "call"]);
  live.close();
});

test("calls caught in flight are resent (by default) with the same key after the resume and resolve", async () => {
  const { net, srv, live } = setup();
  const a = await live.mount("Counter", {}, { id: "a" });
  srv.hold = true;
  const p = a.call("add", 2);
  await waitFor(() => srv.held.length === 1, "call reached the server");
  const key = srv.held[0].key;
  assert.match(key, /^[0-9a-f]{8}-\d+$/);
  srv.hold = false;
  net.last().kill();
  assert.equal(await p, 2);
  const resent = sentOfType(net.last(), "call");
  assert.equal(resent.length, 1);
  assert.equal(resent[0].key, key, "same idempotency key");
  assert.equal(resent[0].trace, srv.held[0].trace, "same trace");
  // With retry: false the same situation rejects: see "calls in flight ... connection_lost".
  live.close();
});

test("retry: false: calls in flight still reject after earlier reconnects (keys sent anyway)", async () => {
  const { net, srv, live } = setup({ retry: false });
  const a = await live.mount("Counter", {}, { id: "a" });
  for (let i = 0; i < 2; i++) {
    srv.hold = true;
    const p = a.call("increment").catch((e) => e);
    await waitFor(() => srv.held.length === i + 1, "call reached the server");
    net.last().kill();
    assert.equal((await p).code, "connection_lost", `round ${i}`);
    await waitFor(() => live.status === "open", "open again");
  }
  assert.equal(new Set(srv.held.map((c) => c.key)).size, 2, "every call has its own key");
  live.close();
});
