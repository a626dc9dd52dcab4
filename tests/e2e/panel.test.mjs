// Browser end-to-end tests of the DevTools panel (extension-ui, built into
// dist/panel/) against the real demo with its debug channel on: the demo page
// and the standalone panel page (/__live/devtools?token=…) side by side in
// headless Chromium. Build first: `cargo xtask panel` (or by hand, see
// docs/panel.md) and `cargo build -p fluxlive-demo`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { launch } from "../../client/testkit/browser.mjs";
import { startDemo } from "../../client/testkit/demo.mjs";

let demo;
let browser;
let app; // the demo page
let panel; // the DevTools panel page
const panelErrors = [];

const tid = (id) => `[data-testid="${id}"]`;
const countText = (id) => app.textContent(`[data-live-id="${id}"] [data-role=count]`);
/** Waits until the demo's counter `id` shows `n`. */
const countIs = (id, n, timeout = 5000) =>
  app.waitForFunction(([id, n]) => document.querySelector(`[data-live-id="${id}"] [data-role=count]`)?.textContent === String(n), [id, n], { timeout });
/** Number of records the panel holds (toolbar counter). */
const recordCount = async (page = panel) => Number((await page.textContent(tid("record-count"))).split(" ")[0]);

/** `/__live/devtools?token=…` → `/__live/devtools/?token=…`. */
const dirUrl = (u) => u.replace(/\/__live\/devtools\?/, "/__live/devtools/?");

async function openTab(page, name) {
  await page.click(tid(`tab-${name}`));
}

async function selectInstance(id) {
  await openTab(panel, "components");
  await panel.click(`${tid("tree-instance")}[data-id="${id}"]`);
  await panel.waitForSelector(`${tid("inspector")}`);
}

before(async () => {
  demo = await startDemo({ debug: true });
  browser = await launch();
  app = await browser.page();
  await app.goto(demo.url);
  await app.evaluate(() => window.ready.then(() => true));
  panel = await browser.page();
  panel.on("pageerror", (e) => panelErrors.push(String(e)));
  // The panel's assets are relative (the same files ship in the extension),
  // so it is opened at the directory URL; the next test checks that the URL
  // the demo prints works as printed.
  await panel.goto(dirUrl(demo.devtools));
  await panel.waitForSelector(`${tid("conn-status")}[data-state=connected]`, { timeout: 10000 });
  // The demo page's four instances arrive from the snapshot or the backfill.
  await panel.waitForSelector(`${tid("tree-instance")}[data-id="todos"]`, { timeout: 5000 });
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

test("the devtools URL the demo prints opens a working panel", async () => {
  const p = await browser.page();
  const failed = [];
  p.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await p.goto(demo.devtools);
  try {
    await p.waitForSelector(`${tid("conn-status")}[data-state=connected]`, { timeout: 5000 });
  } catch (e) {
    assert.fail(`${demo.devtools} did not start the panel (${failed.join(", ") || e.message}); relative assets need the URL to end in "/devtools/"`);
  } finally {
    await p.close();
  }
});

test("the tree lists the page's instances with live counts", async () => {
  const ids = await panel.$$eval(tid("tree-instance"), (els) => els.map((e) => e.dataset.id));
  for (const id of ["hero", "todos"]) assert.ok(ids.includes(id), `${id} missing from ${ids}`);
  assert.ok(ids.length >= 4, `${ids}`);
  assert.match(await panel.textContent(tid("live-count")), /^[4-9]\d* live$/);
  await panel.fill(tid("tree-filter"), "todo");
  assert.deepEqual(await panel.$$eval(tid("tree-instance"), (els) => els.map((e) => e.dataset.id)), ["todos"]);
  await panel.fill(tid("tree-filter"), "");
});

test("clicking a counter in the page shows the action and its diff in the timeline within a second", async () => {
  await openTab(panel, "timeline");
  const before = await recordCount();
  const row = `${tid("timeline-row")}[data-kind=action][data-method=increment]`;
  assert.equal(await panel.locator(row).count(), 0);
  const t0 = Date.now();
  await app.click('[data-live-id="hero"] [data-action=increment]');
  await panel.waitForSelector(row, { timeout: 1000 });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  assert.ok((await recordCount()) > before);
  await panel.click(row);
  const detail = panel.locator(tid("record-detail"));
  assert.equal(await detail.locator(tid("detail-method")).textContent(), "increment");
  const op = detail.locator(`${tid("diff-op")}[data-path="/count"]`);
  await op.waitFor({ timeout: 1000 });
  assert.equal(await op.locator(tid("diff-before")).textContent(), "10");
  assert.equal(await op.locator(tid("diff-after")).textContent(), "15");
  // Arrow keys move through the list; "Show in Components" selects the instance.
  const seq = Number(await detail.getAttribute("data-seq"));
  await panel.keyboard.press("ArrowUp");
  await panel.waitForFunction((s) => Number(document.querySelector('[data-testid="record-detail"]')?.dataset.seq) === s - 1, seq, { timeout: 1000 });
  await panel.keyboard.press("ArrowDown");
  await panel.waitForFunction((s) => Number(document.querySelector('[data-testid="record-detail"]')?.dataset.seq) === s, seq, { timeout: 1000 });
  await panel.click(tid("show-instance"));
  await panel.waitForSelector(`${tid("tree-instance")}.selected[data-id="hero"]`, { timeout: 1000 });
  await panel.waitForSelector(tid("inspector"));
});

test("timeline filters narrow the list by kind and errors", async () => {
  await openTab(panel, "timeline");
  await panel.selectOption(tid("filter-kind"), "diff");
  await panel.waitForFunction(() => [...document.querySelectorAll('[data-testid="timeline-row"]')].every((r) => r.dataset.kind === "diff"));
  assert.ok((await panel.locator(tid("timeline-row")).count()) >= 1);
  await panel.selectOption(tid("filter-kind"), "");
  await app.evaluate(() => window.handles.hero.call("fail").catch(() => null));
  await panel.check(tid("filter-errors"));
  const errRow = `${tid("timeline-row")}[data-method=fail]`;
  await panel.waitForSelector(errRow, { timeout: 2000 });
  const kinds = await panel.$$eval(tid("timeline-row"), (els) => els.map((e) => e.dataset.method));
  assert.ok(kinds.every((m) => m === "fail" || m === undefined), `${kinds}`);
  await panel.click(errRow);
  assert.match(await panel.textContent(tid("detail-error")), /action_failed/);
  await panel.uncheck(tid("filter-errors"));
});

test("selecting an instance shows its state and props, searchable", async () => {
  await selectInstance("hero");
  const state = panel.locator(tid("state-tree"));
  await panel.waitForFunction(() => /count: 15/.test(document.querySelector('[data-testid="state-tree"]')?.innerText ?? ""), null, { timeout: 2000 });
  assert.match(await state.innerText(), /label: "Hero"/);
  assert.match(await panel.locator(tid("props-tree")).innerText(), /start: 10/);
  await panel.fill(tid("state-search"), "step");
  assert.ok((await state.locator(".hit").count()) >= 1);
  await panel.fill(tid("state-search"), "");
});

test("selecting and hovering an instance outlines its element in the page", async () => {
  await selectInstance("hero");
  const overlayOn = async (id) => {
    await app.waitForFunction(
      (id) => {
        const el = document.querySelector(`[data-live-id="${id}"]`).getBoundingClientRect();
        return [...document.querySelectorAll("[data-fluxlive-overlay]")].some((o) => {
          const r = o.getBoundingClientRect();
          return r.width > 0 && Math.abs(r.left - el.left) < 6 && Math.abs(r.top - el.top) < 6 && Math.abs(r.width - el.width) < 12;
        });
      },
      id,
      { timeout: 2000 },
    );
  };
  // Re-select to send a fresh highlight (an earlier one may have timed out).
  await panel.click(`${tid("tree-instance")}[data-id="todos"]`);
  await overlayOn("todos");
  const other = await panel.$$eval(tid("tree-instance"), (els) => els.map((e) => e.dataset.id).find((id) => id.startsWith("counter") || (id !== "hero" && id !== "todos")));
  await panel.hover(`${tid("tree-instance")}[data-id="${other}"]`);
  await overlayOn(other);
  await panel.click(`${tid("tree-instance")}[data-id="hero"]`);
  await overlayOn("hero");
});

test("the picker selects the instance clicked in the page", async () => {
  await selectInstance("todos");
  await panel.click(tid("picker"));
  await panel.waitForSelector(`${tid("picker")}.on`);
  await app.click('[data-live-id="hero"] [data-role=count]');
  await panel.waitForSelector(`${tid("inspector")}`, { timeout: 2000 });
  await panel.waitForFunction(() => document.querySelector('[data-testid="tree-instance"].selected')?.dataset.id === "hero", null, { timeout: 2000 });
});

test("moving the time-travel slider changes the page and back to live restores it", async () => {
  await app.click('[data-live-id="hero"] [data-action=increment]');
  await countIs("hero", 20);
  await app.click('[data-live-id="hero"] [data-action=increment]');
  await countIs("hero", 25);
  await selectInstance("hero");
  const slider = panel.locator(tid("travel-slider"));
  await panel.waitForFunction(() => Number(document.querySelector('[data-testid="travel-slider"]').max) >= 3, null, { timeout: 2000 });
  await slider.fill("0");
  await countIs("hero", 10);
  assert.match(await panel.textContent(tid("travel-label")), /^v\d+ \(1\//);
  await slider.fill("1");
  await countIs("hero", 15);
  await panel.waitForSelector(`${tid("tree-instance")}[data-id="hero"] .badge.travel`, { timeout: 2000 });
  await panel.click(tid("travel-live"));
  await countIs("hero", 25);
  await panel.waitForFunction(() => !document.querySelector('[data-testid="tree-instance"][data-id="hero"] .badge.travel'), null, { timeout: 2000 });
});

test("dispatch calls an action on the selected instance and shows its result or error", async () => {
  await selectInstance("hero");
  await panel.selectOption(tid("dispatch-method"), "add");
  await panel.fill(tid("dispatch-args"), "[7]");
  await panel.click(tid("dispatch-call"));
  const result = panel.locator(`${tid("dispatch-result")}[data-status=ok]`);
  await result.waitFor({ timeout: 2000 });
  assert.match(await result.textContent(), /add → 32/);
  await countIs("hero", 32);
  await panel.selectOption(tid("dispatch-method"), "fail");
  await panel.fill(tid("dispatch-args"), "[]");
  await panel.click(tid("dispatch-call"));
  const err = panel.locator(`${tid("dispatch-result")}[data-status=error]`);
  await err.waitFor({ timeout: 2000 });
  assert.match(await err.textContent(), /action_failed/);
  assert.equal(await countText("hero"), "32");
});

test("pause stops recording and resume starts it again", async () => {
  await openTab(panel, "timeline");
  await panel.click(tid("record-toggle"));
  await panel.waitForSelector(`${tid("record-toggle")}[data-recording=false]`);
  await panel.waitForSelector(`${tid("conn-status")}:has-text("paused")`);
  await panel.click(tid("record-toggle"));
  await panel.waitForSelector(`${tid("record-toggle")}[data-recording=true]`);
});

let exported; // { path, text }

test("export downloads a session file; replay runs it on the server", async () => {
  await openTab(panel, "sessions");
  const [download] = await Promise.all([panel.waitForEvent("download", { timeout: 5000 }), panel.click(tid("export"))]).catch(async (e) => {
    const banner = await panel.locator(tid("error-banner")).textContent({ timeout: 100 }).catch(() => "no error shown");
    const progress = await panel.locator(tid("export-progress")).textContent({ timeout: 100 }).catch(() => "no export in progress");
    // Tell a stuck server apart from a panel that lost the answer: does a
    // new recorded event release the export?
    const late = panel.waitForEvent("download", { timeout: 5000 }).then(() => "it came once the page recorded another event").catch(() => "it never came");
    await app.click('[data-live-id="hero"] [data-action=increment]');
    assert.fail(`no download (${e.message.split("\n")[0]}); panel says: ${banner}; ${progress}; ${await late}`);
  });
  assert.match(download.suggestedFilename(), /\.jsonl$/);
  const path = await download.path();
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n").filter((l) => l.trim());
  const header = JSON.parse(lines[0]);
  assert.equal(header.format, "fluxlive-session");
  assert.equal(header.records, lines.length - 1);
  assert.ok(lines.some((l) => l.includes('"method":"increment"')));
  exported = { path, text, lines };
  await panel.click(tid("replay"));
  const report = panel.locator(tid("replay-report"));
  await panel.waitForFunction(() => ["match", "diverged"].includes(document.querySelector('[data-testid="replay-report"]')?.dataset.status), null, { timeout: 10000 });
  assert.match(await report.textContent(), /Replay matched|Diverged/);
});

test("the OpenTelemetry button downloads an OTLP/JSON trace of the recording", async () => {
  await openTab(panel, "sessions");
  const [download] = await Promise.all([panel.waitForEvent("download", { timeout: 10000 }), panel.click(tid("export-otlp"))]);
  assert.match(download.suggestedFilename(), /\.otlp\.json$/);
  const body = JSON.parse(readFileSync(await download.path(), "utf8"));
  const spans = body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
  assert.ok(spans.some((s) => s.name === "Counter.increment"), `spans: ${spans.map((s) => s.name).join(", ")}`);
  assert.ok(spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId)), "OTLP/JSON ids are hex");
});

test("an exported session imports into a panel with no server and shows the same records", async () => {
  assert.ok(exported, "export test must run first");
  const offline = await browser.page();
  const errors = [];
  offline.on("pageerror", (e) => errors.push(String(e)));
  const wsOpened = [];
  offline.on("websocket", (ws) => wsOpened.push(ws.url()));
  // No token and no ?ws=: the panel opens no socket at all.
  await offline.goto(`${demo.origin}/__live/devtools/`);
  await offline.waitForSelector(`${tid("status-screen")}[data-state=idle]`);
  await openTab(offline, "sessions");
  await offline.setInputFiles(tid("import-file"), exported.path);
  await offline.waitForSelector(`${tid("session-source")}[data-source=imported]`);
  const n = exported.lines.length - 1;
  assert.equal(await recordCount(offline), n);
  const seqs = exported.lines.slice(1).map((l) => JSON.parse(l).seq);
  await openTab(offline, "timeline");
  const shown = await offline.$$eval(tid("timeline-row"), (els) => els.map((e) => Number(e.dataset.seq)));
  assert.ok(shown.length > 0);
  for (const s of shown) assert.ok(seqs.includes(s), `row ${s} is not in the file`);
  // Same increments as the live panel held at export time.
  const incrementsInFile = exported.lines.filter((l) => l.includes('"kind":"action"') && l.includes('"method":"increment"')).length;
  await offline.selectOption(tid("filter-method"), "increment");
  assert.equal(await offline.textContent(tid("timeline-count")), `${incrementsInFile} of ${n} records`);
  // Time travel works offline as a preview rebuilt from the records.
  await openTab(offline, "components");
  await offline.click(`${tid("tree-instance")}[data-id="hero"]`);
  await offline.locator(tid("travel-slider")).fill("0");
  await offline.waitForFunction(() => /Previewing version/.test(document.querySelector('[data-testid="inspector"]').innerText));
  assert.match(await offline.locator(tid("state-tree")).innerText(), /count: 10/);
  await offline.click(tid("travel-live"));
  await offline.waitForFunction(() => !/Previewing version/.test(document.querySelector('[data-testid="inspector"]').innerText));
  assert.deepEqual(wsOpened, []);
  assert.equal(await offline.getAttribute(tid("conn-status"), "data-state"), "idle");
  assert.deepEqual(errors, []);
  await offline.close();
});

test("a session file larger than one frame goes to the server in parts and replays", async () => {
  const button = '[data-live-id="hero"] [data-action=increment]';
  const start = Number(await countText("hero"));
  await app.click(button);
  await app.waitForFunction((s) => Number(document.querySelector('[data-live-id="hero"] [data-role=count]')?.textContent) !== s, start, { timeout: 5000 });
  const step = Number(await countText("hero")) - start;
  // Enough recorded actions for an export of several 256 KiB parts (one
  // command may be 1 MiB).
  // Clicked in bursts of 100 (under the instance's mailbox of 256, which
  // answers `overloaded` past that), each waited for.
  const bursts = 25;
  const n = bursts * 100;
  for (let k = 1; k <= bursts; k++) {
    await app.evaluate((sel) => {
      const b = document.querySelector(sel);
      for (let i = 0; i < 100; i++) b.click();
    }, button);
    await countIs("hero", start + step * (100 * k + 1), 10000);
  }
  await openTab(panel, "sessions");
  const [download] = await Promise.all([panel.waitForEvent("download", { timeout: 20000 }), panel.click(tid("export"))]);
  const text = readFileSync(await download.path(), "utf8");
  assert.ok(text.length > 1024 * 1024, `the export is ${text.length} bytes: too small to need parts`);
  await panel.click(tid("replay"));
  await panel.waitForSelector(`${tid("replay-report")}[data-status=running]`, { timeout: 5000 });
  await panel.waitForFunction(() => document.querySelector('[data-testid="replay-report"]')?.dataset.status !== "running", null, { timeout: 60000 });
  const report = panel.locator(tid("replay-report"));
  const said = await report.textContent();
  assert.equal(await report.getAttribute("data-status"), "match", said);
  const actions = Number(/(\d+) actions/.exec(said)?.[1]);
  assert.ok(actions > n, `replayed ${actions} actions: ${said}`);
});

test("host-page messages switch the panel between status screens and a connection", async () => {
  const p = await browser.page();
  await p.goto(`${demo.origin}/__live/devtools/`);
  // The listener exists once the panel has rendered.
  await p.waitForSelector(`${tid("status-screen")}[data-state=idle]`);
  const post = (msg) => p.evaluate((m) => window.postMessage(m, "*"), msg);
  await post({ source: "fluxlive-devtools", type: "no-runtime" });
  await p.waitForSelector(`${tid("status-screen")}[data-state=no-runtime]:has-text("This page has no fluxlive runtime")`);
  await post({ source: "fluxlive-devtools", type: "channel-off" });
  await p.waitForSelector(`${tid("status-screen")}[data-state=channel-off]:has-text("FLUXLIVE_DEBUG=1")`);
  await post({ source: "someone-else", type: "no-runtime" });
  await post({ source: "fluxlive-devtools", type: "connect", url: `ws://127.0.0.1:${demo.port}/__live/debug`, token: demo.token });
  await p.waitForSelector(`${tid("conn-status")}[data-state=connected]`, { timeout: 5000 });
  await p.waitForSelector(`${tid("tree-instance")}[data-id="hero"]`, { timeout: 5000 });
  await p.close();
});

test("bench mode synthesizes records in the panel and reports its timings", async () => {
  const p = await browser.page();
  await p.goto(`${demo.origin}/__live/devtools/?bench=20000`);
  await p.waitForFunction(() => /scroll → rendered: \d+ samples/.test(document.querySelector('[data-testid="bench-report"]')?.textContent ?? ""), null, { timeout: 30000 });
  assert.equal(await recordCount(p), 20000);
  assert.match(await p.textContent(tid("bench-report")), /20000 records ingested in \d+ ms/);
  // The bench scrolled away from the end: "newest" jumps back and follows.
  await p.click(tid("follow-newest"));
  await p.waitForFunction(() => [...document.querySelectorAll('[data-testid="timeline-row"]')].some((r) => r.dataset.seq === "20000"), null, { timeout: 2000 });
  await p.waitForSelector(tid("follow-newest"), { state: "detached", timeout: 2000 });
  await p.close();
});

test("when the runtime goes away the panel says so, keeps its records, and reconnects to a new one", async () => {
  const held = await recordCount();
  const { port, token } = demo;
  await demo.stop();
  await panel.waitForSelector(`${tid("conn-status")}[data-state=reconnecting]`, { timeout: 5000 });
  assert.equal(await recordCount(), held);
  // A new runtime on the same address with the same token (a restart).
  const saved = { d: process.env.FLUXLIVE_DEBUG, t: process.env.FLUXLIVE_DEBUG_TOKEN };
  process.env.FLUXLIVE_DEBUG = "dev";
  process.env.FLUXLIVE_DEBUG_TOKEN = token;
  try {
    demo = await startDemo({ addr: `127.0.0.1:${port}`, debug: true });
  } finally {
    for (const [k, v] of [["FLUXLIVE_DEBUG", saved.d], ["FLUXLIVE_DEBUG_TOKEN", saved.t]]) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  await panel.waitForSelector(`${tid("conn-status")}[data-state=connected]`, { timeout: 10000 });
  // A different runtime start: the old records are dropped, not mixed in.
  await panel.waitForFunction((held) => Number(document.querySelector('[data-testid="record-count"]').textContent.split(" ")[0]) < held, held, { timeout: 5000 });
  await app.reload();
  await app.evaluate(() => window.ready.then(() => true));
  await openTab(panel, "components");
  await panel.waitForSelector(`${tid("tree-instance")}[data-id="hero"]`, { timeout: 5000 });
});

test("the panel page raised no errors", () => {
  assert.deepEqual(panelErrors, []);
});
