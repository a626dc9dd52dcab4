// Bundle budget (docs/DESIGN targets): live.js must stay within 8 KB gzip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 8 * 1024;

test("client/live.js is at most 8 KB gzip", () => {
  const src = readFileSync(new URL("../live.js", import.meta.url));
  // zlib's default level, as most servers use: stricter than `gzip -9`.
  const gz = gzipSync(src).length;
  console.log(`live.js: ${src.length} bytes, ${gz} bytes gzip (budget ${BUDGET})`);
  assert.ok(gz <= BUDGET, `live.js is ${gz} bytes gzip, over the ${BUDGET}-byte budget`);
});

test("client/live.js has no imports (dependency-free, no build step)", () => {
  const src = readFileSync(new URL("../live.js", import.meta.url), "utf8");
  assert.doesNotMatch(src, /^\s*import\s/m);
  assert.doesNotMatch(src, /\brequire\(/);
});

// Optional features (live-extras.js) have their own budget: a page that uses
// none of them pays nothing, one that uses all pays at most this much more.
const EXTRAS_BUDGET = 3 * 1024;

test("client/live-extras.js is at most 3 KB gzip and imports only live.js", () => {
  const src = readFileSync(new URL("../live-extras.js", import.meta.url));
  const gz = gzipSync(src).length;
  console.log(`live-extras.js: ${src.length} bytes, ${gz} bytes gzip (budget ${EXTRAS_BUDGET})`);
  assert.ok(gz <= EXTRAS_BUDGET, `live-extras.js is ${gz} bytes gzip, over the ${EXTRAS_BUDGET}-byte budget`);
  const imports = [...String(src).matchAll(/^\s*import\s.*from\s+"([^"]+)"/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ["./live.js"]);
});
