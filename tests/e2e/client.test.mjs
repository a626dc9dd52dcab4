// Browser end-to-end tests of the demo page: headless Chromium (playwright-core)
// against the real demo binary, spawned on port 0 and killed at the end.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "../../client/testkit/browser.mjs";
import { startDemo, rawClient } from "../../client/testkit/demo.mjs";

let demo;
let browser;
let page;
const pageErrors = [];

before(async () => {
  demo = await startDemo({ debug: true });
  browser = await launch();
  page = await browser.page();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
  await page.goto(demo.url);
  await page.evaluate(() => window.ready.then(() => true));
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

const counters = () => page.locator(".counter");
const counts = () =>
  page.$$eval(".counter", (els) => els.map((el) => [el.getAttribute("data-live-id"), Number(el.querySelector("[data-role=count]").textContent)]));
const status = () => page.textContent("[data-role=status]");
/** Waits until the counter with this live id shows `n`. */
const countIs = (id, n) =>
  page.waitForFunction(([id, n]) => document.querySelector(`[data-live-id="${id}"] [data-role=count]`)?.textContent === String(n), [id, n], { timeout: 5000 });

test("the page mounts three counters and the todo list, each root tagged with its live id", async () => {
  assert.equal(await counters().count(), 3);
  const ids = (await counts()).map(([id]) => id);
  assert.equal(new Set(ids).size, 3);
  assert.ok(ids.includes("hero"));
  assert.equal(await page.getAttribute("#todo-card", "data-live-id"), "todos");
  assert.deepEqual((await page.evaluate(() => Object.keys(window.handles))).sort(), [...ids, "todos"].sort());
  assert.equal(await page.textContent('[data-live-id="hero"] [data-role=count]'), "10");
  assert.equal(await page.textContent('[data-live-id="hero"] [data-role=label]'), "Hero");
  assert.equal(await status(), "open");
});

test("clicking a counter's increment changes that counter only", async () => {
  for (const [id] of await counts()) {
    const before = Object.fromEntries(await counts());
    const step = await page.evaluate((id) => window.handles[id].state.step, id);
    await page.click(`[data-live-id="${id}"] [data-action=increment]`);
    await countIs(id, before[id] + step);
    const after = Object.fromEntries(await counts());
    for (const other of Object.keys(before)) if (other !== id) assert.equal(after[other], before[other], `${other} changed when ${id} was clicked`);
  }
  await page.click('[data-live-id="hero"] [data-action=decrement]');
  await countIs("hero", 10);
});

test("todo: add, toggle, remove, and a validation error shown under the input", async () => {
  const items = () => page.$$eval("[data-role=items] li", (lis) => lis.map((li) => [li.querySelector("[data-role=text]").textContent, li.classList.contains("done")]));
  await page.fill("[data-role=new-todo]", "buy milk");
  await page.click("#todo-card [data-action=add]");
  await page.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 1, null, { timeout: 5000 });
  assert.equal(await page.inputValue("[data-role=new-todo]"), "");
  await page.fill("[data-role=new-todo]", "walk <b>dog</b>");
  await page.press("[data-role=new-todo]", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 2, null, { timeout: 5000 });
  assert.deepEqual(await items(), [["buy milk", false], ["walk <b>dog</b>", false]], "text is shown as text, not markup");

  await page.click("[data-role=items] li:first-child [data-action=toggle]");
  await page.waitForFunction(() => document.querySelector("[data-role=items] li:first-child")?.classList.contains("done"), null, { timeout: 5000 });
  assert.equal(await page.textContent("[data-role=remaining]"), "1 left of 2");

  await page.click("[data-role=items] li:nth-child(2) [data-action=remove]");
  await page.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 1, null, { timeout: 5000 });
  assert.deepEqual(await items(), [["buy milk", true]]);

  // Empty text: the server refuses it and the page shows why under the input.
  await page.fill("[data-role=new-todo]", "");
  await page.click("#todo-card [data-action=add]");
  const err = page.locator("#todo-card [data-role=error]");
  await err.waitFor({ state: "visible", timeout: 5000 });
  assert.ok((await err.textContent()).length > 0);
  assert.equal(await page.getAttribute("[data-role=new-todo]", "aria-invalid"), "true");
  assert.equal(await page.locator("[data-role=items] li").count(), 1, "nothing was added");
  await page.fill("[data-role=new-todo]", "x");
  assert.equal(await err.isVisible(), false, "typing clears the error");

  await page.click("[data-action=clear-done]");
  await page.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 0, null, { timeout: 5000 });
});

test("action errors are listed; a panicking action leaves the count as it was", async () => {
  const before = await page.textContent('[data-live-id="hero"] [data-role=count]');
  await page.click('[data-live-id="hero"] [data-action=fail]');
  await page.waitForSelector('[data-role=errors] li[data-code="action_failed"]', { timeout: 5000 });
  await page.click('[data-live-id="hero"] [data-action=explode]');
  const li = await page.waitForSelector('[data-role=errors] li[data-code="action_panicked"]', { timeout: 5000 });
  assert.match(await li.textContent(), /explode/);
  assert.equal(await page.textContent('[data-live-id="hero"] [data-role=count]'), before);
  await page.click('[data-live-id="hero"] [data-action=increment]');
  await countIs("hero", Number(before) + 5);
});

test("dropping the connection: status shows reconnecting then open, every state survives, clicks work after", async () => {
  await page.fill("[data-role=new-todo]", "survive the drop");
  await page.press("[data-role=new-todo]", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 1, null, { timeout: 5000 });
  const snapshot = () => page.evaluate(() => Object.fromEntries(Object.entries(window.handles).map(([id, h]) => [id, { state: h.state, version: h.version }])));
  const before = await snapshot();
  const domBefore = await counts();

  await page.evaluate(() => {
    window.statusLog = [];
    window.live.on("status", (s) => window.statusLog.push(s));
    window.live._dropSocket();
  });
  await page.waitForFunction(() => window.live.status === "open", null, { timeout: 10000 });
  assert.deepEqual(await page.evaluate(() => window.statusLog), ["reconnecting", "open"]);
  assert.equal(await status(), "open");
  assert.deepEqual(await snapshot(), before);
  assert.deepEqual(await counts(), domBefore);
  assert.deepEqual(await page.$$eval("[data-role=items] [data-role=text]", (els) => els.map((e) => e.textContent)), ["survive the drop"]);

  const [id, n] = domBefore[0];
  const step = before[id].state.step;
  await page.click(`[data-live-id="${id}"] [data-action=increment]`);
  await countIs(id, n + step);
});

test("with --debug the page announces the debug channel and links the panel", async () => {
  const announce = await page.evaluate(() => window.__FLUXLIVE__);
  assert.equal(announce.protocol, 1);
  assert.equal(announce.debug.url, `ws://127.0.0.1:${demo.port}/__live/debug`);
  assert.equal(announce.debug.token, demo.token);
  const link = page.locator("[data-role=devtools-link]");
  assert.equal(await link.isVisible(), true);
  assert.equal(await link.getAttribute("href"), `/__live/devtools?token=${encodeURIComponent(demo.token)}`);
});

test("two tabs hold separate instances, even with the same id", async () => {
  const other = await browser.page();
  try {
    await other.goto(demo.url);
    await other.evaluate(() => window.ready.then(() => true));
    const mine = await page.textContent('[data-live-id="hero"] [data-role=count]');
    assert.equal(await other.textContent('[data-live-id="hero"] [data-role=count]'), "10");
    await other.click('[data-live-id="hero"] [data-action=increment]');
    await other.waitForFunction(() => document.querySelector('[data-live-id="hero"] [data-role=count]').textContent === "15", null, { timeout: 5000 });
    // A round trip in the first tab, so any stray patch would have arrived.
    await page.evaluate(() => window.handles.hero.call("add", 0));
    assert.equal(await page.textContent('[data-live-id="hero"] [data-role=count]'), mine);
  } finally {
    await other.close();
  }
});

/** A DevTools-panel stand-in on the real debug channel, with the page's origin. */
async function debugSocket() {
  const { url, token } = await page.evaluate(() => window.__FLUXLIVE__.debug);
  const dbg = await rawClient(`${url}?token=${encodeURIComponent(token)}`, demo.origin);
  await dbg.next((f) => f.t === "hello");
  let ref = 0;
  dbg.ask = async (cmd, pred = (f) => f.t !== "records") => {
    const r = ++ref;
    dbg.send({ ...cmd, ref: r });
    const answer = await dbg.next((f) => f.ref === r && pred(f));
    assert.notEqual(answer.t, "error", `${cmd.t}: ${answer.message}`);
    return answer;
  };
  const snap = await dbg.ask({ t: "snapshot" });
  dbg.iid = (id) => snap.instances.find((i) => i.id === id)?.iid;
  return dbg;
}

test("DevTools highlight and picker reach the page over the real debug channel", async () => {
  const dbg = await debugSocket();
  try {
    const iid = dbg.iid("hero");
    assert.ok(iid != null, "hero is in the snapshot");
    await dbg.ask({ t: "highlight", iid, on: true });
    const ov = page.locator("[data-fluxlive-overlay]");
    await ov.waitFor({ timeout: 5000 });
    assert.equal(await ov.textContent(), "Counter #hero");
    const box = await ov.boundingBox();
    const card = await page.locator('[data-live-id="hero"]').boundingBox();
    assert.ok(Math.abs(box.x - card.x) < 1 && Math.abs(box.width - card.width) < 1, "overlay covers the hero card");
    await dbg.ask({ t: "highlight", iid, on: false });
    await ov.waitFor({ state: "detached", timeout: 5000 });

    // Picker: a click on the hero's + button picks the hero and does not increment it.
    const before = await page.textContent('[data-live-id="hero"] [data-role=count]');
    await dbg.ask({ t: "picker", on: true });
    await page.waitForFunction(() => window.live._pick != null, null, { timeout: 5000 });
    await page.hover('[data-live-id="hero"] [data-action=increment]');
    await ov.waitFor({ timeout: 5000 });
    await page.click('[data-live-id="hero"] [data-action=increment]');
    const picked = await dbg.next((f) => f.t === "picked");
    assert.equal(picked.iid, iid);
    assert.equal(await page.textContent('[data-live-id="hero"] [data-role=count]'), before, "the click was swallowed");
    await ov.waitFor({ state: "detached", timeout: 5000 });
  } finally {
    dbg.close();
  }
});

test("time travel from DevTools shows the old state in the page at a newer version", async () => {
  const dbg = await debugSocket();
  try {
    const iid = dbg.iid("hero");
    const v0 = await page.evaluate(() => window.handles.hero.version);
    const c0 = Number(await page.textContent('[data-live-id="hero"] [data-role=count]'));
    await page.click('[data-live-id="hero"] [data-action=increment]');
    await countIs("hero", c0 + 5);
    await dbg.ask({ t: "time_travel", iid, version: v0 });
    await countIs("hero", c0);
    const v = await page.evaluate(() => window.handles.hero.version);
    assert.ok(v > v0 + 1, `version moved forward (${v0} -> ${v})`);
    await dbg.ask({ t: "back_to_live", iid });
    await countIs("hero", c0 + 5);
  } finally {
    dbg.close();
  }
});

test("the page's render reports arrive in the flight recorder", async () => {
  const dbg = await debugSocket();
  try {
    const iid = dbg.iid("hero");
    await dbg.ask({ t: "subscribe", filter: { instances: [iid], kinds: ["render", "client_span"] } });
    await page.click('[data-live-id="hero"] [data-action=increment]');
    const kinds = new Set();
    const deadline = Date.now() + 10000;
    while (!(kinds.has("render") && kinds.has("client_span")) && Date.now() < deadline) {
      const batch = await dbg.next((f) => f.t === "records", deadline - Date.now());
      for (const r of batch.records) {
        assert.equal(r.instance?.iid, iid);
        kinds.add(r.kind);
        if (r.kind === "render") assert.ok(Number.isInteger(r.frame_us) && r.frame_us >= r.apply_us);
      }
    }
    assert.deepEqual([...kinds].sort(), ["client_span", "render"]);
  } finally {
    dbg.close();
  }
});

test("the page keeps every state across a server restart (same FLUXLIVE_SECRET)", async () => {
  const env = { FLUXLIVE_SECRET: "e2e-secret-0123456789abcdef0123456789" };
  let srv = await startDemo({ env });
  const tab = await browser.page();
  try {
    await tab.goto(srv.url);
    await tab.evaluate(() => window.ready.then(() => true));
    await tab.click('[data-live-id="hero"] [data-action=increment]');
    await tab.fill("[data-role=new-todo]", "outlive the server");
    await tab.press("[data-role=new-todo]", "Enter");
    await tab.waitForFunction(() => document.querySelectorAll("[data-role=items] li").length === 1 && window.handles.hero.state.count === 15, null, { timeout: 5000 });
    const states = () => tab.evaluate(() => Object.fromEntries(Object.entries(window.handles).map(([id, h]) => [id, h.state])));
    const before = await states();

    await srv.stop();
    await tab.waitForFunction(() => window.live.status === "reconnecting", null, { timeout: 10000 });
    srv = await startDemo({ addr: `127.0.0.1:${srv.port}`, env });
    await tab.waitForFunction(() => window.live.status === "open", null, { timeout: 20000 });
    // One round trip after reopening: the remounts were answered.
    await tab.evaluate(() => window.handles.hero.call("add", 0));
    assert.deepEqual(await states(), before);
    assert.equal(await tab.textContent('[data-live-id="hero"] [data-role=count]'), "15");
    assert.deepEqual(await tab.$$eval("[data-role=items] [data-role=text]", (els) => els.map((e) => e.textContent)), ["outlive the server"]);
    await tab.click('[data-live-id="hero"] [data-action=increment]');
    await tab.waitForFunction(() => document.querySelector('[data-live-id="hero"] [data-role=count]').textContent === "20", null, { timeout: 5000 });
  } finally {
    await tab.close();
    await srv.stop();
  }
});

test("no uncaught errors in the page", () => {
  assert.deepEqual(pageErrors, []);
});
