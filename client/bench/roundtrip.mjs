// Client benchmark against the real demo server (run: npm run bench:client).
// Prints, for the same server in the same run:
//   * raw protocol round trip (hand-written frames over `ws`, hello.caps
//     ["batch"] like the client) vs the client's `h.call` round trip (trace,
//     patch apply, listeners, span report), and raw without the batch cap;
//   * pipelined throughput with 8 calls in flight, client vs raw;
//   * bursts of 64 calls made in one tick: the client's one `batch` frame
//     per burst vs the same calls as 64 WebSocket messages vs one `batch_call`;
//   * patch-apply cost for a 1,000-item state.
import { performance } from "node:perf_hooks";
import { connect, applyPatch } from "../live.js";
import { batch } from "../live-extras.js";
import { startDemo, wsFor, rawClient } from "../testkit/demo.mjs";

const N = Number(process.env.N || 300);
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const fmt = (us) => `${us.toFixed(0)} µs`;

async function rawRoundTrips(demo, caps) {
  const c = await rawClient(demo.wsUrl, demo.origin);
  c.send({ t: "hello", protocol: 1, caps });
  await c.next((f) => f.t === "welcome");
  c.send({ t: "mount", ref: 1, type: "Counter", props: {}, id: "raw" });
  await c.next((f) => f.ref === 1);
  const lat = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    c.send({ t: "call", ref: i + 2, id: "raw", method: "increment", args: [] });
    await c.next((f) => f.t === "reply" && f.ref === i + 2);
    lat.push((performance.now() - t0) * 1000);
    c.inbox.length = 0; // patches and events
  }
  const t0 = performance.now();
  let ref = N + 10;
  let done = 0;
  const inflight = 8;
  await new Promise((resolve) => {
    const pump = () => {
      c.send({ t: "call", ref: ref++, id: "raw", method: "increment", args: [] });
    };
    const loop = async () => {
      while (done < N) {
        await c.next((f) => f.t === "reply");
        done++;
        // Drop patches and events, keep replies that already arrived.
        for (let i = c.inbox.length - 1; i >= 0; i--) if (c.inbox[i].t !== "reply") c.inbox.splice(i, 1);
        if (done + inflight <= N) pump();
      }
      resolve();
    };
    for (let i = 0; i < inflight; i++) pump();
    loop();
  });
  const rate = N / ((performance.now() - t0) / 1000);
  c.close();
  return { lat, rate };
}

async function clientRoundTrips(demo) {
  const live = connect({ url: demo.wsUrl, WebSocket: wsFor(demo.origin) });
  const h = await live.mount("Counter", {}, { id: "lib" });
  let renders = 0;
  h.on("state", () => renders++);
  const lat = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await h.call("increment");
    lat.push((performance.now() - t0) * 1000);
  }
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next++ < N) await h.call("increment");
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const rate = N / ((performance.now() - t0) / 1000);
  const ok = h.state.count === 2 * N && renders === 2 * N;
  live.close();
  return { lat, rate, ok };
}

/** Median time per burst of 64 `add(1)` calls, three ways, on one connection. */
async function bursts(demo) {
  const sent = [];
  const live = connect({ url: demo.wsUrl, WebSocket: wsFor(demo.origin, sent), metrics: false });
  const h = await live.mount("Counter", {}, { id: "burst" });
  const B = 64;
  const R = Math.max(10, Math.round(N / 10));
  const time = async (fn) => {
    const xs = [];
    for (let i = 0; i < R; i++) {
      const t0 = performance.now();
      await fn();
      xs.push((performance.now() - t0) * 1000);
    }
    return pct(xs, 50);
  };
  const tick = () => Promise.all(Array.from({ length: B }, () => h.call("add", 1)));
  // One WebSocket message per call: wait for each frame's microtask flush before the next call.
  const separate = async () => {
    const ps = [];
    for (let i = 0; i < B; i++) {
      ps.push(h.call("add", 1));
      await null;
    }
    await Promise.all(ps);
  };
  const bc = () => batch(live, Array.from({ length: B }, () => ({ handle: h, method: "add", args: [1] })));
  await time(tick);
  const before = sent.batches;
  const r = { tick: await time(tick), batchesPerBurst: (sent.batches - before) / R, separate: await time(separate), batchCall: await time(bc) };
  r.ok = h.state.count === B * R * 4;
  live.close();
  return r;
}

function patchCost() {
  const items = Array.from({ length: 1000 }, (_, i) => ({ id: i, text: `item ${i}`, done: false }));
  let state = { title: "T", items, next_id: 1000 };
  const ops = (i) => [{ op: "replace", path: `/items/${i % 1000}/done`, value: true }, { op: "replace", path: "/next_id", value: 1000 + i }];
  const M = 20000;
  const t0 = performance.now();
  for (let i = 0; i < M; i++) state = applyPatch(state, ops(i));
  return ((performance.now() - t0) * 1000) / M;
}

const demo = await startDemo();
try {
  // Warm both paths (JIT, server allocations) before measuring.
  await rawRoundTrips(demo, ["batch"]);
  const raw = await rawRoundTrips(demo, ["batch"]);
  const lib = await clientRoundTrips(demo);
  // Without `batch`, patch, event and reply leave in separate writes: shows the cost of Nagle's
  // algorithm when the server does not set TCP_NODELAY.
  const single = await rawRoundTrips(demo, []);
  console.log(`calls per path: ${N} sequential, then ${N} with 8 in flight`);
  console.log(`round trip  raw    p50 ${fmt(pct(raw.lat, 50))}  p99 ${fmt(pct(raw.lat, 99))}`);
  console.log(`round trip  client p50 ${fmt(pct(lib.lat, 50))}  p99 ${fmt(pct(lib.lat, 99))}  (${(pct(lib.lat, 50) / pct(raw.lat, 50)).toFixed(2)}x raw)`);
  console.log(`throughput  raw    ${raw.rate.toFixed(0)} calls/s (8 in flight)`);
  console.log(`throughput  client ${lib.rate.toFixed(0)} calls/s (8 in flight, ${(lib.rate / raw.rate).toFixed(2)}x raw)`);
  console.log(`round trip  raw, no batch cap p50 ${fmt(pct(single.lat, 50))}  p99 ${fmt(pct(single.lat, 99))}; ${single.rate.toFixed(0)} calls/s (8 in flight)`);
  console.log(`state consistent after run: ${lib.ok}`);
  const b = await bursts(demo);
  console.log(`burst of 64 calls in one tick: p50 ${fmt(b.tick)} (${b.batchesPerBurst} batch frame per burst)`);
  console.log(`burst of 64 calls, one message each: p50 ${fmt(b.separate)}`);
  console.log(`batch_call of 64 calls: p50 ${fmt(b.batchCall)}; states consistent: ${b.ok}`);
  console.log(`applyPatch, 2 ops on a 1,000-item state: ${patchCost().toFixed(2)} µs each`);
} finally {
  await demo.stop();
}
