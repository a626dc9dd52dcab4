// useLive (client/react.js) with real React 18 in headless Chromium, under
// StrictMode, against the in-memory reference server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { launch } from "../testkit/browser.mjs";

const files = {
  "/live.js": new URL("../live.js", import.meta.url),
  "/react.js": new URL("../react.js", import.meta.url),
  "/fake.mjs": new URL("../testkit/fake.mjs", import.meta.url),
  "/umd/react.js": new URL("../../node_modules/react/umd/react.development.js", import.meta.url),
  "/umd/react-dom.js": new URL("../../node_modules/react-dom/umd/react-dom.development.js", import.meta.url),
};

const PAGE = `<!doctype html><meta charset="utf-8">
<div id="root"></div>
<script src="/umd/react.js"></script>
<script src="/umd/react-dom.js"></script>
<script type="module">
  const { connect } = await import("/live.js");
  const { createUseLive } = await import("/react.js");
  const { fakeNet, miniServer } = await import("/fake.mjs");
  const net = fakeNet();
  window.srv = miniServer(net);
  window.net = net;
  const live = connect({ url: "ws://127.0.0.1:9/__live/ws", WebSocket: net.WebSocket, metrics: false });
  window.live = live;
  const useLive = createUseLive(React);
  const h = React.createElement;
  window.renders = {};
  function Counter({ name, id, type = "Counter", start }) {
    const { state, call, error } = useLive(live, type, { start }, { id });
    window.renders[name] = (window.renders[name] || 0) + 1;
    if (error) return h("p", { id: name, "data-error": error.code }, error.code);
    if (!state) return h("p", { id: name }, "loading");
    return h("button", { id: name, onClick: () => call("increment") }, String(state.count));
  }
  function App() {
    const [showB, setShowB] = React.useState(true);
    const [startC, setStartC] = React.useState(7);
    window.setShowB = setShowB;
    window.setStartC = setStartC;
    return h(React.Fragment, null,
      h(Counter, { name: "a", id: "a", start: 1 }),
      showB && h(Counter, { name: "b", id: "b", start: 5 }),
      h(Counter, { name: "c", start: startC }),
      h(Counter, { name: "bad", type: "Nope" }));
  }
  ReactDOM.createRoot(document.getElementById("root")).render(h(React.StrictMode, null, h(App)));
</script>`;

let server;
let browser;
let page;

before(async () => {
  server = createServer((req, res) => {
    const f = files[req.url];
    res.writeHead(200, { "content-type": f ? "text/javascript" : "text/html" });
    res.end(f ? readFileSync(f) : PAGE);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  browser = await launch();
  page = await browser.page();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => ["a", "b", "c"].every((n) => /^\d+$/.test(document.getElementById(n)?.textContent ?? "")), null, { timeout: 10000 });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => server?.close(r));
});

const log = (t) => page.evaluate((t) => window.srv.log.filter((f) => f.t === t), t);
/** Instance ids the server holds for this page's session. */
const held = () => page.evaluate(() => [...window.srv.sessions.get(window.live.session).insts.keys()].sort());
const text = (id) => page.textContent(`#${id}`);

test("StrictMode's double effect reuses an id'd instance: one mount, no duplicate_id", async () => {
  assert.equal(await text("a"), "1");
  assert.equal(await text("b"), "5");
  const mounts = await log("mount");
  assert.equal(mounts.filter((m) => m.id === "a").length, 1);
  assert.equal(mounts.filter((m) => m.id === "b").length, 1);
  assert.equal(await page.getAttribute("#bad", "data-error"), "unknown_component");
});

test("an instance without an id is mounted per effect and the discarded one unmounted", async () => {
  await page.waitForFunction(() => {
    const ids = [...window.srv.sessions.get(window.live.session).insts.keys()];
    return ids.length === 3;
  }, null, { timeout: 5000 });
  const ids = await held();
  assert.ok(ids.includes("a") && ids.includes("b"));
  assert.equal(await text("c"), "7");
});

test("a click re-renders only the component whose instance changed", async () => {
  const before = await page.evaluate(() => ({ ...window.renders }));
  await page.click("#a");
  await page.waitForFunction(() => document.getElementById("a").textContent === "2", null, { timeout: 5000 });
  const after = await page.evaluate(() => ({ ...window.renders }));
  assert.ok(after.a > before.a);
  assert.equal(after.b, before.b);
  assert.equal(after.c, before.c);
});

test("unrendering a component unmounts its instance", async () => {
  await page.evaluate(() => window.setShowB(false));
  await page.waitForFunction(() => !window.srv.sessions.get(window.live.session).insts.has("b"), null, { timeout: 5000 });
  assert.deepEqual((await log("unmount")).filter((f) => f.id === "b").length, 1);
  assert.equal(await page.locator("#b").count(), 0);
});

test("new props remount; equal props by value do not", async () => {
  const mountsBefore = (await log("mount")).length;
  await page.evaluate(() => window.setStartC(7)); // same value: nothing
  await page.evaluate(() => window.setShowB(false)); // re-render with equal inline props
  assert.equal((await log("mount")).length, mountsBefore);
  await page.evaluate(() => window.setStartC(40));
  await page.waitForFunction(() => document.getElementById("c").textContent === "40", null, { timeout: 5000 });
  await page.waitForFunction(() => window.srv.sessions.get(window.live.session).insts.size === 2, null, { timeout: 5000 });
});
