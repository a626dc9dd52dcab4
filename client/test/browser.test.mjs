// DevTools hooks in a real browser (headless Chromium): the announce message,
// highlight overlays, the element picker, and animation-frame timing. The
// socket is the in-memory fake (client/testkit/fake.mjs) served to the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { launch } from "../testkit/browser.mjs";

const files = {
  "/live.js": new URL("../live.js", import.meta.url),
  "/fake.mjs": new URL("../testkit/fake.mjs", import.meta.url),
};

const PAGE = `<!doctype html><meta charset="utf-8">
<style>body{margin:0;font:14px sans-serif} .c{margin:40px;padding:20px;width:200px;border:1px solid #ccc}</style>
<div class="c" id="ea"><b>A</b> <button id="btn-a">a</button></div>
<div class="c" id="eb"><span id="inner-b">B inner</span></div>
<p id="outside">not a component</p>
<script type="module">
  window.messages = [];
  window.addEventListener("message", (e) => window.messages.push(e.data));
  window.clicks = 0;
  document.getElementById("inner-b").addEventListener("click", () => window.clicks++);
  const { connect } = await import("/live.js");
  const { fakeNet, miniServer } = await import("/fake.mjs");
  const net = fakeNet();
  const srv = miniServer(net);
  srv.debug = { path: "/__live/debug", token: "tok-1" };
  window.net = net;
  window.live = connect({ url: "ws://127.0.0.1:9/__live/ws", WebSocket: net.WebSocket });
  window.a = await live.mount("Counter", {}, { id: "a", el: document.getElementById("ea") });
  window.b = await live.mount("Counter", {}, { id: "b", el: document.getElementById("eb") });
  window.ready = true;
</script>`;

let server;
let origin;
let browser;
let page;

before(async () => {
  server = createServer((req, res) => {
    const f = files[req.url];
    if (f) {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(readFileSync(f));
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end(PAGE);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await launch();
  page = await browser.page();
  await page.goto(origin + "/");
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

const push = (frame) => page.evaluate((f) => window.net.last().push(f), frame);
const sent = (t) => page.evaluate((t) => window.net.last().sent.filter((f) => f.t === t), t);

test("mount with el sets data-live-id on the element", async () => {
  assert.equal(await page.getAttribute("#ea", "data-live-id"), "a");
  assert.equal(await page.getAttribute("#eb", "data-live-id"), "b");
});

test("welcome.debug announces the runtime like React DevTools' hook, and answers pings", async () => {
  const expected = { version: "0.1.0", protocol: 1, debug: { url: "ws://127.0.0.1:9/__live/debug", token: "tok-1" } };
  assert.deepEqual(await page.evaluate(() => window.__FLUXLIVE__), expected);
  const announces = () => page.evaluate(() => window.messages.filter((m) => m?.source === "fluxlive-page" && m.type === "announce"));
  const first = await announces();
  assert.ok(first.length >= 1);
  assert.deepEqual(first[0].payload, expected);
  await page.evaluate(() => window.postMessage({ source: "fluxlive-devtools", type: "ping" }, "*"));
  await page.waitForFunction((n) => window.messages.filter((m) => m?.type === "announce").length > n, first.length, { timeout: 5000 });
  // Messages from other sources are not answered.
  const n = (await announces()).length;
  await page.evaluate(() => window.postMessage({ source: "someone-else", type: "ping" }, "*"));
  await page.evaluate(() => window.postMessage({ source: "fluxlive-devtools", type: "ping" }, "*"));
  await page.waitForFunction((n) => window.messages.filter((m) => m?.type === "announce").length === n + 1, n, { timeout: 5000 });
});

test("highlight draws a labelled overlay over the element until on:false", async () => {
  await push({ t: "highlight", id: "a", on: true, label: "Counter #a (v0)" });
  const ov = page.locator("[data-fluxlive-overlay]");
  assert.equal(await ov.count(), 1);
  assert.equal(await ov.textContent(), "Counter #a (v0)");
  const box = await ov.boundingBox();
  const el = await page.locator("#ea").boundingBox();
  for (const k of ["x", "y", "width", "height"]) assert.ok(Math.abs(box[k] - el[k]) < 1, `${k}: ${box[k]} vs ${el[k]}`);
  assert.equal(await ov.evaluate((e) => getComputedStyle(e).position), "fixed");
  assert.equal(await ov.evaluate((e) => getComputedStyle(e).pointerEvents), "none");
  await push({ t: "highlight", id: "a", on: false });
  assert.equal(await ov.count(), 0);
});

test("a highlight without on:false clears itself after about two seconds", async () => {
  await push({ t: "highlight", id: "b", on: true });
  const ov = page.locator("[data-fluxlive-overlay]");
  assert.equal(await ov.count(), 1);
  assert.equal(await ov.textContent(), "Counter #b");
  await page.waitForFunction(() => !document.querySelector("[data-fluxlive-overlay]"), null, { timeout: 5000 });
});

test("a highlight for an id not in the page draws nothing", async () => {
  await push({ t: "highlight", id: "zzz", on: true, label: "x" });
  assert.equal(await page.locator("[data-fluxlive-overlay]").count(), 0);
});

test("picker: hover outlines the closest component, click picks it and is swallowed", async () => {
  await push({ t: "picker", on: true });
  await page.hover("#inner-b");
  const ov = page.locator("[data-fluxlive-overlay]");
  await ov.waitFor({ timeout: 5000 });
  assert.equal(await ov.textContent(), "Counter #b");
  await page.click("#inner-b");
  assert.deepEqual(await sent("pick"), [{ t: "pick", id: "b" }]);
  assert.equal(await page.evaluate(() => window.clicks), 0, "the page's click handler did not run");
  assert.equal(await ov.count(), 0, "overlay removed when picking ends");
  // Picking has ended: clicks reach the page again.
  await page.click("#inner-b");
  assert.equal(await page.evaluate(() => window.clicks), 1);
});

test("picker: Escape cancels with pick {id: null}; picker off sends nothing", async () => {
  await push({ t: "picker", on: true });
  await page.keyboard.press("Escape");
  const picks = await sent("pick");
  assert.deepEqual(picks.at(-1), { t: "pick", id: null });
  await push({ t: "picker", on: true });
  await push({ t: "picker", on: false });
  await page.click("#inner-b");
  assert.equal((await sent("pick")).length, picks.length);
});

test("render reports measure up to the next animation frame", async () => {
  await page.evaluate(() => window.a.call("increment"));
  await page.waitForFunction(() => window.net.last().sent.some((f) => f.t === "renders" && f.items.length), null, { timeout: 5000 });
  const items = (await sent("renders")).flatMap((f) => f.items);
  const it = items.find((i) => i.id === "a");
  assert.equal(it.version, 1);
  assert.ok(it.frame_us >= it.apply_us + it.render_us, JSON.stringify(it));
  assert.ok(Math.abs(it.at_unix_us / 1000 - Date.now()) < 60000, "at_unix_us is wall-clock time");
});

test("in a hidden tab, reports are timed by a macrotask instead of waiting for a frame", async () => {
  await page.evaluate(() => {
    window.realRaf = window.requestAnimationFrame;
    window.rafCalls = 0;
    window.requestAnimationFrame = (fn) => (window.rafCalls++, window.realRaf(fn));
    Object.defineProperty(document, "hidden", { value: true, configurable: true });
  });
  const before = (await sent("renders")).flatMap((f) => f.items).length;
  await page.evaluate(() => window.b.call("increment"));
  await page.waitForFunction((n) => window.net.last().sent.filter((f) => f.t === "renders").flatMap((f) => f.items).length > n, before, { timeout: 5000 });
  assert.equal(await page.evaluate(() => window.rafCalls), 0);
  await page.evaluate(() => {
    delete document.hidden;
    window.requestAnimationFrame = window.realRaf;
  });
});
