// live.d.ts compiles in strict mode and refuses the misuses listed in
// client/types/usage.ts (every `@ts-expect-error` line must be an error).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("live.d.ts type-checks its intended uses and rejects misuse", () => {
  const tsc = fileURLToPath(new URL("node_modules/typescript/bin/tsc", `file://${root}`));
  const args = ["--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--lib", "es2022,dom", "client/types/usage.ts"];
  const r = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: "utf8", timeout: 120000 });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
