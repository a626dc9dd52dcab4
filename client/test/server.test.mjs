// The client against the real runtime: the demo binary (target/debug/fluxlive-demo,
// built by `cargo build -p fluxlive-demo`, or FLUXLIVE_DEMO_BIN), spawned on port 0.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { connect, LiveError } from "../live.js";
import { startDemo, wsFor, rawClient } from "../testkit/demo.mjs";
import { waitFor } from "../testkit/fake.mjs";

let demo;
const opened = [];

before(async () => {
  demo = await startDemo();
});

after(async () => {
  for (const l of opened) l.close();
  await demo?.stop();
});

/** A connection to the demo whose sent frames and unexpected errors are recorded. */
function open(opts = {}) {
  const sent = [];
  const errors = [];
  const live = connect({ url: demo.wsUrl, WebSocket: wsFor(demo.origin, sent), reconnect: { minMs: 20, maxMs: 200 }, ...opts });
  live.on("error", (e) => errors.push(e));
  opened.push(live);
  return { live, sent, errors };
}

const codeOf = (p) =>
  p.then(
    () => "resolved",
    (e) => {
      assert.ok(e instanceof LiveError, `not a LiveError: ${e}`);
      return e.code;
    },
  );

test("the runtime serves this checkout's client/live.js at /__live/client.js", async () => {
  const { readFileSync } = await import("node:fs");
  const res = await fetch(new URL("/__live/client.js", demo.url));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /javascript/);
  const served = await res.text();
  const local = readFileSync(new URL("../live.js", import.meta.url), "utf8");
  // The runtime embeds the file at compile time: a mismatch means a stale demo binary.
  assert.ok(served === local, "served client differs from client/live.js: rebuild with `cargo build -p fluxlive-demo`");
});

test("mount returns the initial state built from props", async () => {
  const { live, errors } = open();
  const hero = await live.mount("Counter", { start: 10, step: 5, label: "Hero" }, { id: "hero" });
  assert.equal(hero.id, "hero");
  assert.equal(hero.type, "Counter");
  assert.deepEqual(hero.state, { count: 10, step: 5, label: "Hero" });
  const other = await live.mount("Counter", {});
  assert.ok(typeof other.id === "string" && other.id.length > 0 && other.id !== "hero", `server-chosen id ${other.id}`);
  assert.equal(typeof other.state.count, "number");
  const todos = await live.mount("TodoList", { title: "T" }, { id: "todos" });
  assert.equal(todos.state.title, "T");
  assert.deepEqual(todos.state.items, []);
  assert.equal(live.status, "open");
  assert.deepEqual(errors, []);
});

test("a call resolves with its result after its patch was applied", async () => {
  const { live, errors } = open();
  const h = await live.mount("Counter", { start: 10, step: 5 }, { id: "c" });
  const v0 = h.version;
  assert.equal(await h.call("add", 7), 17);
  // The patch precedes the reply: state is current when the promise resolves.
  assert.equal(h.state.count, 17);
  assert.equal(h.version, v0 + 1);
  assert.equal(await h.call("increment"), null);
  assert.equal(h.state.count, 22);
  await h.call("decrement");
  await h.call("decrement");
  assert.equal(h.state.count, 12);
  assert.equal(h.version, v0 + 4);
  await h.call("reset");
  assert.equal(h.state.count, 10);
  assert.deepEqual(errors, []);
});

test("an action that changes nothing sends no patch and fires nothing", async () => {
  const { live } = open();
  const h = await live.mount("Counter", { start: 3 }, { id: "c" });
  let fired = 0;
  h.on("state", () => fired++);
  await h.call("reset"); // already at start
  assert.equal(fired, 0);
  assert.equal(h.version, 0);
});

test("increment emits count-changed to the instance's event listeners", async () => {
  const { live } = open();
  const h = await live.mount("Counter", { start: 1, step: 2 }, { id: "c" });
  const events = [];
  h.on("event", (name, data) => events.push([name, data]));
  await h.call("increment");
  await waitFor(() => events.length === 1, "count-changed");
  assert.deepEqual(events, [["count-changed", { count: 3 }]]);
});

test("only the changed instance's listeners fire", async () => {
  const { live } = open();
  const a = await live.mount("Counter", {}, { id: "a" });
  const b = await live.mount("Counter", {}, { id: "b" });
  const t = await live.mount("TodoList", {}, { id: "t" });
  const fired = [];
  a.on("state", () => fired.push("a"));
  b.on("state", () => fired.push("b"));
  t.on("state", () => fired.push("t"));
  await b.call("increment");
  await b.call("increment");
  await t.call("add", "milk");
  assert.deepEqual(fired, ["b", "b", "t"]);
  assert.equal(a.version, 0);
});

test("bad_args, unknown_method, unknown_component and duplicate_id reject with LiveError", async () => {
  const { live } = open();
  const h = await live.mount("Counter", {}, { id: "c" });
  const e = await h.call("add", "seven").catch((x) => x);
  assert.equal(e.code, "bad_args");
  assert.equal(e.component, "Counter");
  assert.equal(e.method, "add");
  assert.equal(await codeOf(h.call("add")), "bad_args");
  assert.equal(await codeOf(h.call("fly")), "unknown_method");
  assert.equal(await codeOf(live.mount("Nope", {})), "unknown_component");
  assert.equal(await codeOf(live.mount("Counter", {}, { id: "c" })), "duplicate_id");
  assert.equal(await codeOf(live.mount("Counter", { start: "x" })), "bad_props");
  assert.deepEqual(h.state.count, 0, "failed calls changed nothing");
  assert.equal(h.version, 0);
});

test("not_mounted: calling an id this connection never mounted", async () => {
  const { live } = open();
  const h = await live.mount("Counter", {}, { id: "mine" });
  const raw = await rawClient(demo.wsUrl, demo.origin);
  try {
    raw.send({ t: "hello", protocol: 1 });
    await raw.next((f) => f.t === "welcome");
    // Another connection's instance is invisible here.
    raw.send({ t: "call", ref: 1, id: "mine", method: "increment", args: [] });
    const err = await raw.next((f) => f.ref === 1);
    assert.equal(err.t, "error");
    assert.equal(err.code, "not_mounted");
  } finally {
    raw.close();
  }
  assert.equal(h.version, 0, "the other connection's instance is untouched");
});

test("action_failed carries the validation detail", async () => {
  const { live } = open();
  const t = await live.mount("TodoList", {}, { id: "t" });
  const e = await t.call("add", "").catch((x) => x);
  assert.equal(e.code, "action_failed");
  assert.equal(e.component, "TodoList");
  assert.equal(e.method, "add");
  assert.equal(e.detail?.field, "text");
  assert.equal(typeof e.detail?.message, "string");
  assert.equal((await t.call("add", "x".repeat(201)).catch((x) => x)).detail?.field, "text");
  assert.equal(await codeOf(live.mount("Counter", {}).then((c) => c.call("fail"))), "action_failed");
  assert.deepEqual(t.state.items, []);
});

test("action_panicked rolls the state back and the instance lives on", async () => {
  const { live, errors } = open();
  const h = await live.mount("Counter", { start: 5 }, { id: "c" });
  await h.call("increment");
  const before = { state: h.state, version: h.version };
  const e = await h.call("explode").catch((x) => x);
  assert.equal(e.code, "action_panicked");
  assert.equal(e.method, "explode");
  assert.deepEqual(h.state, before.state);
  assert.equal(h.version, before.version);
  // The server's copy is the same: the next patch applies on our version.
  assert.equal(await h.call("add", 1), 7);
  assert.equal(h.version, before.version + 1);
  assert.deepEqual(errors, []);
});

test("todo add, toggle, remove and clear_done", async () => {
  const { live } = open();
  const t = await live.mount("TodoList", { title: "Shop" }, { id: "t" });
  const a = await t.call("add", "milk");
  const b = await t.call("add", "eggs");
  assert.notEqual(a, b);
  assert.deepEqual(t.state.items.map((i) => [i.id, i.text, i.done]), [[a, "milk", false], [b, "eggs", false]]);
  await t.call("toggle", a);
  assert.equal(t.state.items.find((i) => i.id === a).done, true);
  await t.call("clear_done");
  assert.deepEqual(t.state.items.map((i) => i.id), [b]);
  await t.call("remove", b);
  assert.deepEqual(t.state.items, []);
});

test("unmount frees the instance on the server", async () => {
  const { live } = open();
  const h = await live.mount("Counter", { start: 1 }, { id: "u" });
  await h.unmount();
  assert.equal(h.mounted, false);
  // The id is free again, with fresh state.
  const again = await live.mount("Counter", { start: 2 }, { id: "u" });
  assert.equal(again.state.count, 2);
});

test("reconnect after a dropped socket resumes the session with state intact", async () => {
  const { live, sent, errors } = open();
  const a = await live.mount("Counter", { start: 1 }, { id: "a" });
  const t = await live.mount("TodoList", {}, { id: "t" });
  await a.call("add", 41);
  await t.call("add", "milk");
  const snapshot = { a: [a.state, a.version], t: [t.state, t.version] };
  const session = live.session;
  const statuses = [];
  live.on("status", (s) => statuses.push(s));
  let fired = 0;
  a.on("state", () => fired++);
  live._dropSocket();
  // Made while offline: waits in the queue and goes out after the resume.
  const queued = a.call("add", 1);
  await waitFor(() => live.status === "open", "open again", 10000);
  const hellos = sent.filter((f) => f.t === "hello");
  assert.equal(hellos.length, 2);
  assert.deepEqual(hellos[1].resume?.session, session);
  assert.equal(live.session, session, "same session after resume");
  assert.equal(sent.filter((f) => f.t === "mount").length, 2, "nothing remounted");
  assert.deepEqual(statuses.slice(0, 2), ["reconnecting", "open"]);
  assert.deepEqual([t.state, t.version], snapshot.t);
  assert.equal(await queued, 43);
  assert.equal(a.version, snapshot.a[1] + 1);
  assert.equal(fired, 1, "only the queued call's change fired");
  assert.deepEqual(errors, []);
});

test("retry: false: calls in flight when the socket drops reject with connection_lost (or complete)", async () => {
  const { live } = open({ retry: false });
  const a = await live.mount("Counter", {}, { id: "a" });
  const p = a.call("increment");
  live._dropSocket();
  const r = await codeOf(p);
  assert.equal(r, "connection_lost");
  await waitFor(() => live.status === "open", "open again", 10000);
  // Whether it ran or not, client and server agree afterwards.
  const n = await a.call("add", 0);
  assert.equal(a.state.count, n);
});

test("calls caught by dropped sockets take effect exactly once (idempotency keys, resent by default)", async () => {
  const { live, sent } = open();
  const a = await live.mount("Counter", { step: 1 }, { id: "a" });
  const rounds = 12;
  for (let i = 0; i < rounds; i++) {
    const p = a.call("increment");
    await Promise.resolve(); // the call's frame leaves at the end of the tick
    live._dropSocket(); // the call may or may not have reached the server
    await p;
    await waitFor(() => live.status === "open", "open again", 10000);
  }
  assert.equal(await a.call("add", 0), rounds, "the server applied each call once");
  assert.equal(a.state.count, rounds);
  const keys = sent.filter((f) => f.t === "call" && f.method === "increment").map((f) => f.key);
  assert.ok(keys.length >= rounds * 2 - 1, "in-flight calls were resent");
  assert.equal(new Set(keys).size, rounds, "with their original keys");
});

test("render and span reports are accepted by the server", async () => {
  const { live, sent, errors } = open();
  const a = await live.mount("Counter", {}, { id: "a" });
  for (let i = 0; i < 70; i++) await a.call("increment");
  await waitFor(() => sent.filter((f) => f.t === "renders").length >= 1, "renders sent");
  const r = sent.find((f) => f.t === "renders");
  assert.ok(r.items.length > 0 && r.items.length <= 64);
  assert.ok(r.spans.length > 0);
  // Give the server a chance to complain: one more round trip after the reports.
  await a.call("add", 0);
  assert.deepEqual(errors, []);
  assert.equal(live.status, "open");
});

/** Mounts three instances on a server of its own, changes them, restarts the server on the same port. */
async function acrossRestart(env) {
  let srv = await startDemo({ env });
  const sent = [];
  const live = connect({ url: srv.wsUrl, WebSocket: wsFor(srv.origin, sent), reconnect: { minMs: 20, maxMs: 200 } });
  opened.push(live);
  const errors = [];
  const hero = await live.mount("Counter", { start: 10, step: 5, label: "Hero" }, { id: "hero" });
  const anon = await live.mount("Counter", { start: 3 });
  const todos = await live.mount("TodoList", {}, { id: "todos" });
  for (const h of [hero, anon, todos]) h.on("error", (e) => errors.push(e));
  await hero.call("increment");
  await todos.call("add", "survive a restart");
  const snap = () => ({ hero: [hero.state, hero.version], anon: [anon.state, anon.version], todos: [todos.state, todos.version] });
  const before = snap();
  await srv.stop();
  await waitFor(() => live.status === "reconnecting", "reconnecting");
  srv = await startDemo({ addr: `127.0.0.1:${srv.port}`, env });
  await waitFor(() => live.status === "open", "open on the new server", 15000);
  assert.ok(sent.filter((f) => f.t === "hello").at(-1).resume, "it tried to resume first");
  const remounts = sent.filter((f) => f.t === "mount").slice(3);
  // Every handle comes back with its type, props and id, first with its signed state.
  assert.deepEqual(
    remounts.slice(0, 3).map((m) => [m.type, m.props, m.id, !!m.snapshot?.sig]).sort(),
    [["Counter", { start: 10, step: 5, label: "Hero" }, "hero", true], ["Counter", { start: 3 }, anon.id, true], ["TodoList", {}, "todos", true]].sort(),
  );
  // The answers: one call after the remounts proves they were all processed.
  assert.equal(await anon.call("add", 0), anon.state.count);
  return { live, srv, sent, errors, hero, anon, todos, before, after: snap(), remounts: () => sent.filter((f) => f.t === "mount").slice(3) };
}

test("a restarted server with the same secret rebuilds every instance from its signed state: nothing lost", async () => {
  const r = await acrossRestart({ FLUXLIVE_SECRET: "test-secret-0123456789abcdef0123456789" });
  try {
    assert.deepEqual(r.after, r.before, "no state lost across the restart");
    assert.deepEqual(r.errors, []);
    assert.equal(r.remounts().length, 3, "no fallback remount");
    assert.equal(await r.hero.call("add", 1), 16);
    assert.equal(r.hero.version, r.before.hero[1] + 1);
  } finally {
    r.live.close();
    await r.srv.stop();
  }
});

test("a restarted server with a new key refuses the snapshots: handles are remounted from props", async () => {
  const r = await acrossRestart({ FLUXLIVE_SECRET: "" });
  try {
    const fallback = r.remounts().slice(3);
    assert.deepEqual(fallback.map((m) => [m.id, m.snapshot]).sort(), [["hero", undefined], [r.anon.id, undefined], ["todos", undefined]].sort());
    // Each handle reports the refusal to its error listeners.
    assert.deepEqual(r.errors.map((e) => [e.code, e.id]).sort(), [["bad_snapshot", "hero"], ["bad_snapshot", r.anon.id], ["bad_snapshot", "todos"]].sort());
    assert.equal(r.hero.state.count, 10);
    assert.deepEqual(r.todos.state.items, []);
    assert.equal(await r.hero.call("add", 1), 11);
  } finally {
    r.live.close();
    await r.srv.stop();
  }
});

test("every frame the server sends has only fields the shared vectors know", async () => {
  const { readFileSync } = await import("node:fs");
  const vectors = JSON.parse(readFileSync(new URL("../../protocol/vectors/frames.json", import.meta.url), "utf8"));
  const known = new Map();
  for (const v of vectors.filter((v) => v.dir === "server")) {
    const s = known.get(v.frame.t) ?? new Set();
    for (const k of Object.keys(v.frame)) s.add(k);
    known.set(v.frame.t, s);
  }
  const raw = await rawClient(demo.wsUrl, demo.origin);
  try {
    raw.send({ t: "hello", protocol: 1 });
    raw.send({ t: "mount", ref: 1, type: "Counter", props: { start: 1 }, id: "v" });
    raw.send({ t: "call", ref: 2, id: "v", method: "increment", args: [], trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    raw.send({ t: "call", ref: 3, id: "v", method: "fail", args: [] });
    raw.send({ t: "sync", id: "v" });
    raw.send({ t: "unmount", ref: 4, id: "v" });
    await raw.next((f) => f.t === "unmounted" && f.ref === 4);
    const got = raw.inbox.concat([{ t: "unmounted", ref: 4, id: "v" }]);
    const types = new Set(got.map((f) => f.t));
    for (const t of ["welcome", "mounted", "patch", "event", "reply", "error", "state"]) assert.ok(types.has(t), `no ${t} frame seen`);
    for (const f of got) {
      const keys = known.get(f.t);
      assert.ok(keys, `server sent an unknown frame type ${f.t}`);
      for (const k of Object.keys(f)) assert.ok(keys.has(k), `${f.t}.${k} is not in protocol/vectors/frames.json`);
    }
    // Order on one instance: patch, then the reply it caused.
    const iPatch = got.findIndex((f) => f.t === "patch");
    const iReply = got.findIndex((f) => f.t === "reply" && f.ref === 2);
    assert.ok(iPatch >= 0 && iPatch < iReply, "patch precedes its reply");
    assert.equal(got.find((f) => f.t === "patch").base + 1, got.find((f) => f.t === "patch").version);
  } finally {
    raw.close();
  }
});
