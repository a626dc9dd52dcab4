// Reconnect delays: exponential, jittered, never outside [minMs, maxMs].
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay } from "../live.js";

const opts = { minMs: 100, maxMs: 5000 };

test("delays stay within [minMs, maxMs] for any attempt and any random draw", () => {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const r of [0, 0.25, 0.5, 0.999999, 1]) {
      const d = backoffDelay(attempt, opts, () => r);
      assert.ok(d >= opts.minMs && d <= opts.maxMs, `attempt ${attempt}, rand ${r}: ${d}`);
      assert.ok(Number.isFinite(d));
    }
  }
});

test("the ceiling doubles per attempt until maxMs", () => {
  const hi = (a) => backoffDelay(a, opts, () => 1);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map(hi), [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
});

test("jitter spreads clients over the upper half of the window", () => {
  const lo = backoffDelay(5, opts, () => 0);
  const hi = backoffDelay(5, opts, () => 1);
  assert.equal(lo, 1600);
  assert.equal(hi, 3200);
  const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(5, opts)));
  assert.ok(draws.size > 40, "Math.random jitter gives distinct delays");
});

test("defaults are 100 ms to 5 s", () => {
  assert.equal(backoffDelay(0, undefined, () => 0), 100);
  assert.equal(backoffDelay(100, undefined, () => 1), 5000);
});
