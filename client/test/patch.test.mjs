// The patch applier against the shared vectors (protocol/vectors/patches.json),
// which the Rust test protocol/tests/vectors.rs runs through json_patch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { applyPatch, parsePointer, jsonEqual, LiveError } from "../live.js";

const vectors = JSON.parse(readFileSync(new URL("../../protocol/vectors/patches.json", import.meta.url), "utf8"));

test("vectors cover every op, '-' append and pointer escapes", () => {
  const ops = new Set(vectors.flatMap((v) => v.ops.map((o) => o.op)));
  for (const op of ["add", "remove", "replace", "move", "copy", "test"]) assert.ok(ops.has(op), op);
  const paths = vectors.flatMap((v) => v.ops.flatMap((o) => [o.path, o.from ?? ""]));
  for (const s of ["/-", "~0", "~1"]) assert.ok(paths.some((p) => p.includes(s)), s);
});

for (const v of vectors) {
  test(`patch vector: ${v.name}`, () => {
    const before = structuredClone(v.before);
    if (v.error) {
      assert.throws(() => applyPatch(before, v.ops), (e) => e instanceof LiveError && e.code === "bad_patch");
    } else {
      assert.deepEqual(applyPatch(before, v.ops), v.after);
    }
    // The input is never mutated: a failing patch leaves the state as it was.
    assert.deepEqual(before, v.before);
  });
}

test("unchanged subtrees keep their identity, changed ones do not", () => {
  const doc = { a: { x: 1 }, b: { y: [1, 2] } };
  const out = applyPatch(doc, [{ op: "replace", path: "/b/y/0", value: 5 }]);
  assert.equal(out.a, doc.a);
  assert.notEqual(out.b, doc.b);
  assert.deepEqual(doc.b.y, [1, 2]);
});

test("a __proto__ key is data, never a prototype", () => {
  const out = applyPatch({}, [{ op: "add", path: "/__proto__", value: { polluted: true } }]);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal({}.polluted, undefined);
  assert.deepEqual(Object.keys(out), ["__proto__"]);
});

test("pointers unescape ~1 before ~0", () => {
  assert.deepEqual(parsePointer("/a~1b/~01/~0"), ["a/b", "~1", "~"]);
  assert.deepEqual(parsePointer(""), []);
  assert.throws(() => parsePointer("a"), LiveError);
});

test("values added by a patch are copies, not shared with the ops", () => {
  const value = { n: [1] };
  const out = applyPatch({}, [{ op: "add", path: "/v", value }]);
  value.n.push(2);
  assert.deepEqual(out.v, { n: [1] });
});

test("jsonEqual compares structure, not key order", () => {
  assert.ok(jsonEqual({ a: [1, { b: null }], c: "x" }, { c: "x", a: [1, { b: null }] }));
  assert.ok(!jsonEqual({ a: [1] }, { a: { 0: 1 } }));
  assert.ok(!jsonEqual({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!jsonEqual(null, {}));
});
