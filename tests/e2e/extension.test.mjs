// The browser extension in headless Chromium: the unpacked `dist/chrome`
// loads, its service worker runs, the content script relays a page's
// announce to the worker, DevTools creates the "fluxlive" panel, and the
// panel host tells the panel where the page's debug channel is, which the
// panel then opens. First against a small fake runtime (node http + ws,
// every case the host must tell apart), then against the real demo.
//
// Needs: `cargo xtask dist` (dist/chrome), `cargo build -p fluxlive-demo`,
// Chromium at /usr/bin/chromium (or $CHROMIUM), npm packages playwright-core
// and ws. Run: node --test tests/e2e/extension.test.mjs
// $FLUXLIVE_EXTENSION_DIR points at another unpacked build.
// The Firefox suite runs when Firefox is installed (`apt-get install
// firefox-esr`, or $FIREFOX), through WebDriver BiDi; skipped otherwise.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { chromium } from "playwright-core";
import WebSocket, { WebSocketServer } from "ws";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const EXTENSION = path.resolve(process.env.FLUXLIVE_EXTENSION_DIR ?? path.join(ROOT, "dist/chrome"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const DEMO = path.join(ROOT, "target/debug/fluxlive-demo");
const FIREFOX =
  process.env.FIREFOX ?? ["/usr/bin/firefox-esr", "/usr/bin/firefox"].find((f) => fs.existsSync(f)) ?? null;
/** A name outside the content script's matches, resolved to 127.0.0.1. */
const OTHER_HOST = "fluxlive.test";

// ---------------------------------------------------------------- helpers

/**
 * Polls `probe` until it returns something truthy; fails after `timeout`.
 * A probe that throws counts as "not yet" (a frame still loading); the last
 * error is reported on timeout.
 */
async function waitFor(what, probe, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let last;
  let lastError;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      lastError = undefined;
      if (last) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const saw = lastError ? `last error: ${lastError.message}` : `last saw ${JSON.stringify(last)}`;
  throw new Error(`timed out after ${timeout} ms waiting for ${what}; ${saw}`);
}

/** A raw Chrome DevTools Protocol client on the browser endpoint. */
async function connectCdp(wsUrl) {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.error) waiter.reject(new Error(`${waiter.method}: ${msg.error.message}`));
    else waiter.resolve(msg.result);
  });
  return {
    send(method, params = {}, sessionId = undefined) {
      const id = ++nextId;
      ws.send(JSON.stringify({ id, method, params, sessionId }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
    },
    close: () => ws.close(),
  };
}

/**
 * A page server that plays a fluxlive runtime's part in the extension's
 * eyes: it announces (or not) the way `client/live.js` does, and records
 * every debug-socket connection.
 */
async function startFakeRuntime() {
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  const connections = [];
  // `global: false` leaves `window.__FLUXLIVE__` unset, so only the relay
  // (not the eval probe) can learn of the runtime.
  const announce = (debug, { global = true } = {}) => `
    <script>
      const payload = { version: "0.1.0", protocol: 1, debug: ${debug} };
      let up = false;
      const announce = () => window.postMessage({ source: "fluxlive-page", type: "announce", payload }, "*");
      // Like the client: announce once the app socket is up, and on ping.
      setTimeout(() => { up = true; if (${global}) window.__FLUXLIVE__ = payload; announce(); }, 50);
      addEventListener("message", (e) => {
        if (e.source === window && e.data && e.data.source === "fluxlive-devtools"
            && e.data.type === "ping" && up) announce();
      });
    </script>`;
  const debugAt = (host) => `{ url: "ws://${host}:" + location.port + "/__live/debug", token: "${token}" }`;
  const pages = {
    "/": announce(debugAt("127.0.0.1")),
    "/channel-off": announce("null"),
    "/announce-only": announce(debugAt("127.0.0.1"), { global: false }),
    "/plain": "<p>no runtime here</p>",
    // The client announces only when the debug channel is on; live
    // components without an announce mean the channel is off.
    "/live-no-debug": '<div data-live-id="c1">a live component</div>',
    // Counts the content script's start-up pings.
    "/ping-log": `<script>
        window.pings = 0;
        addEventListener("message", (e) => {
          if (e.source === window && e.data && e.data.source === "fluxlive-devtools" && e.data.type === "ping") pings++;
        });
      </script>`,
    // A page pointing the panel at a non-loopback host: must be refused.
    "/elsewhere": announce(debugAt("evil.test")),
    // Spoofing attempts first, then a real announce whose url marks the end.
    "/spoof": `
      <iframe src="/spoof-frame"></iframe>
      <script>
        window.postMessage({ source: "not-fluxlive", type: "announce",
          payload: { debug: { url: "ws://127.0.0.1:1/wrong-source" } } }, "*");
        addEventListener("message", (e) => {
          if (e.data && e.data.from === "frame") {
            window.postMessage({ source: "fluxlive-page", type: "announce",
              payload: { debug: { url: "ws://127.0.0.1:1/after-spoof" } } }, "*");
          }
        });
      </script>`,
    "/spoof-frame": `<script>
        parent.postMessage({ source: "fluxlive-page", type: "announce",
          payload: { debug: { url: "ws://127.0.0.1:1/from-frame" } } }, "*");
        parent.postMessage({ from: "frame" }, "*");
      </script>`,
  };
  const server = http.createServer((req, res) => {
    const body = pages[new URL(req.url, "http://x").pathname];
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "text/html" });
    res.end(`<!doctype html><meta charset="utf-8"><title>fake runtime</title>${body ?? "not found"}`);
  });
  const wss = new WebSocketServer({ server, path: "/__live/debug" });
  wss.on("connection", (_ws, req) => {
    const url = new URL(req.url, "http://x");
    connections.push({ host: req.headers.host, token: url.searchParams.get("token"), origin: req.headers.origin });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return {
    token,
    port,
    connections,
    url: (p = "/", host = "127.0.0.1") => `http://${host}:${port}${p}`,
    close: () => new Promise((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.close(resolve);
    }),
  };
}

/** Chromium with the unpacked extension, DevTools opened on every tab. */
async function launchBrowser() {
  assert.ok(
    fs.existsSync(path.join(EXTENSION, "manifest.json")),
    `${EXTENSION}/manifest.json is missing: build the extension with \`cargo xtask dist\``,
  );
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "fluxlive-ext-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: false, // "--headless=new" below: the mode that runs extensions
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--disable-extensions-except=${EXTENSION}`,
      `--load-extension=${EXTENSION}`,
      "--auto-open-devtools-for-tabs",
      "--remote-debugging-port=0",
      `--host-resolver-rules=MAP ${OTHER_HOST} 127.0.0.1, MAP evil.test 127.0.0.1`,
    ],
  });
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker", { timeout: 10_000 }));
  const port = await waitFor("DevToolsActivePort", () => {
    try {
      return fs.readFileSync(path.join(userDataDir, "DevToolsActivePort"), "utf8").split("\n")[0];
    } catch {
      return null;
    }
  });
  const version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
  const cdp = await connectCdp(version.webSocketDebuggerUrl);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    worker,
    cdp,
    page,
    extensionId: new URL(worker.url()).host,
    // The newest worker: Chrome replaces it after a stop.
    relay: () => context.serviceWorkers().at(-1).evaluate(() => globalThis.fluxliveRelay.state()),
    relayLog: () => context.serviceWorkers().at(-1).evaluate(() => globalThis.fluxliveRelay.log.slice()),
    async close() {
      cdp.close();
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

async function targets(cdp) {
  return (await cdp.send("Target.getTargets")).targetInfos;
}

/**
 * Shows the fluxlive panel in the (auto-opened) DevTools window: each
 * Ctrl+] moves to the next panel; the extension's comes last. Returns a
 * CDP session in the panel page.
 */
async function openPanel(browser) {
  const { cdp, extensionId } = browser;
  const panelUrl = `chrome-extension://${extensionId}/panel.html`;
  const devtools = await waitFor("the DevTools window", async () =>
    (await targets(cdp)).find((t) => t.url.startsWith("devtools://devtools/")),
  );
  const { sessionId } = await cdp.send("Target.attachToTarget", { targetId: devtools.targetId, flatten: true });
  let panel;
  for (let press = 0; press < 40 && !panel; press++) {
    for (const type of ["rawKeyDown", "keyUp"]) {
      await cdp.send(
        "Input.dispatchKeyEvent",
        { type, modifiers: 2, key: "]", code: "BracketRight", windowsVirtualKeyCode: 221, nativeVirtualKeyCode: 221 },
        sessionId,
      );
    }
    // A panel's frame appears as its own target once the panel is shown.
    const deadline = Date.now() + 500;
    while (!panel && Date.now() < deadline) {
      panel = (await targets(cdp)).find((t) => t.url === panelUrl);
      if (!panel) await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(panel, `the fluxlive panel (${panelUrl}) never appeared in DevTools`);
  const attached = await cdp.send("Target.attachToTarget", { targetId: panel.targetId, flatten: true });
  return {
    async eval(expression) {
      const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, attached.sessionId);
      if (r.exceptionDetails) {
        const { text, exception } = r.exceptionDetails;
        throw new Error(`panel eval failed: ${exception?.description ?? text}`);
      }
      return r.result.value;
    },
    /** What the panel host last told the panel. */
    host() {
      return this.eval(
        "({ status: document.documentElement.dataset.fluxliveStatus ?? null, url: document.documentElement.dataset.fluxliveUrl ?? null })",
      );
    },
  };
}

// ------------------------------------------------- scripts alone, no browser

/** Copies a value out of another realm (deepStrictEqual compares prototypes). */
const plain = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

/**
 * Loads an extension script into a fresh context with a fake `chrome` API:
 * timers are recorded, never run, so nothing outlives the test.
 */
function loadScript(file, chrome, extra = {}) {
  const context = {
    chrome,
    console: { info() {}, warn() {}, error() {} },
    setTimeout: () => 0,
    clearTimeout() {},
    setInterval: () => 0,
    URL,
    ...extra,
  };
  context.globalThis = context;
  vm.runInNewContext(fs.readFileSync(path.join(ROOT, "extension", file), "utf8"), context, { filename: file });
  return context;
}

/** panel-host.js on inspected tab 7, its panel started, fed by `deliver`. */
function panelHost() {
  const posted = [];
  const toBackground = [];
  const fromBackground = [];
  const windowListeners = {};
  const dataset = {};
  const chrome = {
    devtools: {
      inspectedWindow: { tabId: 7, eval() {} },
      network: { onNavigated: { addListener() {} } },
    },
    runtime: {
      connect: () => ({
        onMessage: { addListener: (f) => fromBackground.push(f) },
        onDisconnect: { addListener() {} },
        postMessage: (m) => toBackground.push(plain(m)),
      }),
    },
  };
  const window = {
    addEventListener: (type, f) => (windowListeners[type] ??= []).push(f),
    postMessage: (m) => posted.push(plain(m)),
  };
  loadScript("panel-host.js", chrome, {
    window,
    document: { documentElement: { dataset } },
    location: { origin: "chrome-extension://abc" },
  });
  for (const f of windowListeners["fluxlive-panel-started"] ?? []) f();
  return {
    posted,
    toBackground,
    dataset,
    deliver: (msg) => fromBackground.forEach((f) => f(msg)),
    announce: (debug, pageUrl = "http://127.0.0.1:3000/") =>
      fromBackground.forEach((f) =>
        f({ source: "fluxlive-background", type: "runtime", tabId: 7, pageUrl, announce: { version: "0.1.0", protocol: 1, debug } }),
      ),
  };
}

describe("panel-host.js, alone", () => {
  test("registers with the background for the inspected tab", () => {
    const host = panelHost();
    assert.deepEqual(host.toBackground, [{ source: "fluxlive-panel", type: "init", tabId: 7 }]);
  });

  test("turns loopback debug URLs into absolute ws(s) URLs", () => {
    const cases = [
      ["ws://127.0.0.1:4000/__live/debug", "http://127.0.0.1:4000/", "ws://127.0.0.1:4000/__live/debug"],
      ["/__live/debug", "http://localhost:3000/app/page", "ws://localhost:3000/__live/debug"],
      ["https://127.0.0.1:8443/__live/debug", "https://127.0.0.1:8443/", "wss://127.0.0.1:8443/__live/debug"],
      ["ws://[::1]:4000/__live/debug", "http://[::1]:4000/", "ws://[::1]:4000/__live/debug"],
      ["ws://app.localhost:4000/d", "http://app.localhost:4000/", "ws://app.localhost:4000/d"],
      ["ws://127.8.9.10:1/d", "http://127.8.9.10:1/", "ws://127.8.9.10:1/d"],
    ];
    for (const [raw, page, want] of cases) {
      const host = panelHost();
      host.announce({ url: raw, token: "t" }, page);
      assert.deepEqual(host.posted, [{ source: "fluxlive-devtools", type: "connect", url: want, token: "t" }], raw);
      assert.equal(host.dataset.fluxliveStatus, "connect");
    }
  });

  test("refuses debug URLs that leave the machine or are not sockets", () => {
    for (const raw of [
      "ws://127.0.0.1.evil.test/d",
      "ws://localhost.evil.test/d",
      "ws://10.0.0.1:4000/d",
      "wss://example.com/__live/debug",
      "javascript:alert(1)",
      "file:///etc/passwd",
      "http://[::2]/d",
    ]) {
      const host = panelHost();
      host.announce({ url: raw, token: "t" });
      assert.deepEqual(host.posted, [{ source: "fluxlive-devtools", type: "no-runtime" }], raw);
      assert.equal(host.dataset.fluxliveRefused, raw);
    }
  });

  test("no debug info means channel-off; a token that is not a string is dropped", () => {
    const off = panelHost();
    off.announce(null);
    assert.deepEqual(off.posted, [{ source: "fluxlive-devtools", type: "channel-off" }]);
    const odd = panelHost();
    odd.announce({ url: "ws://127.0.0.1:1/d", token: { no: 1 } });
    assert.deepEqual(odd.posted, [{ source: "fluxlive-devtools", type: "connect", url: "ws://127.0.0.1:1/d" }]);
  });

  test("ignores other tabs, other sources, and repeats of the same answer", () => {
    const host = panelHost();
    const msg = { source: "fluxlive-background", type: "runtime", pageUrl: "http://127.0.0.1:1/", announce: { debug: { url: "ws://127.0.0.1:1/d" } } };
    host.deliver({ ...msg, tabId: 8 });
    host.deliver({ ...msg, tabId: 7, source: "fluxlive-content" });
    host.deliver(null);
    assert.deepEqual(host.posted, []);
    host.deliver({ ...msg, tabId: 7 });
    host.deliver({ ...msg, tabId: 7 });
    assert.equal(host.posted.length, 1);
  });
});

/** background.js with one panel port open on tab 7. */
function background() {
  const listeners = { connect: [], message: [] };
  const toPanel = [];
  const pings = [];
  const chrome = {
    runtime: {
      id: "ext-id",
      onConnect: { addListener: (f) => listeners.connect.push(f) },
      onMessage: { addListener: (f) => listeners.message.push(f) },
    },
    tabs: {
      sendMessage: (tabId, msg, opts, cb) => {
        pings.push(plain({ tabId, msg, opts }));
        cb({ source: "fluxlive-content", type: "pong" });
      },
      onRemoved: { addListener() {} },
    },
  };
  const ctx = loadScript("background.js", chrome);
  const connect = (sender) => {
    const port = { name: "fluxlive-panel", sender, posted: [], disconnected: false, onMessage: {}, onDisconnect: {} };
    port.onMessage.addListener = (f) => (port.send = f);
    port.onDisconnect.addListener = (f) => (port.close = f);
    port.postMessage = (m) => port.posted.push(plain(m));
    port.disconnect = () => (port.disconnected = true);
    listeners.connect.forEach((f) => f(port));
    return port;
  };
  const panel = connect({ id: "ext-id", url: "chrome-extension://ext-id/panel.html" });
  panel.send({ source: "fluxlive-panel", type: "init", tabId: 7 });
  return {
    panel,
    pings,
    connect,
    state: () => plain(ctx.fluxliveRelay.state()),
    log: () => plain(ctx.fluxliveRelay.log),
    fromContent: (msg, sender) => listeners.message.forEach((f) => f(msg, sender, () => {})),
  };
}

describe("background.js, alone", () => {
  const contentSender = { id: "ext-id", tab: { id: 7 }, frameId: 0, url: "http://127.0.0.1:3000/" };
  const announce = (payload) => ({ source: "fluxlive-content", type: "announce", url: "http://127.0.0.1:3000/", payload });

  test("a panel's init pings the tab's top frame", () => {
    const bg = background();
    assert.deepEqual(bg.pings, [{ tabId: 7, msg: { source: "fluxlive-background", type: "ping" }, opts: { frameId: 0 } }]);
    assert.deepEqual(bg.state().panels, { 7: 1 });
  });

  test("relays a top-frame announce to the tab's panels, keeping only known fields", () => {
    const bg = background();
    bg.fromContent(
      announce({ version: "0.1.0", protocol: 1, debug: { url: "ws://127.0.0.1:3000/__live/debug", token: "t", extra: 1 }, evil: "<x>" }),
      contentSender,
    );
    const want = { version: "0.1.0", protocol: 1, debug: { url: "ws://127.0.0.1:3000/__live/debug", token: "t" } };
    assert.deepEqual(bg.panel.posted, [
      { source: "fluxlive-background", type: "runtime", tabId: 7, pageUrl: "http://127.0.0.1:3000/", announce: want },
    ]);
    // A later panel on the same tab gets it from the cache.
    const late = bg.connect({ id: "ext-id" });
    late.send({ source: "fluxlive-panel", type: "init", tabId: 7 });
    assert.equal(late.posted[0].type, "runtime");
    assert.deepEqual(late.posted[0].announce, want);
  });

  test("drops messages from frames, other extensions, non-tabs and foreign sources", () => {
    const bg = background();
    const payload = { debug: { url: "ws://127.0.0.1:1/d" } };
    bg.fromContent(announce(payload), { ...contentSender, frameId: 3 });
    bg.fromContent(announce(payload), { ...contentSender, id: "other-extension" });
    bg.fromContent(announce(payload), { id: "ext-id", frameId: 0 });
    bg.fromContent({ ...announce(payload), source: "fluxlive-page" }, contentSender);
    bg.fromContent(announce({ debug: { url: "x".repeat(5000) } }), contentSender);
    // Only the last came from the tab's own content script; its oversized
    // URL is dropped, leaving a runtime with no usable debug channel.
    assert.equal(bg.log().length, 1);
    assert.deepEqual(bg.panel.posted.map((m) => m.announce), [{ version: null, protocol: null, debug: null }]);
  });

  test("a new document forgets the tab's runtime and tells its panels", () => {
    const bg = background();
    bg.fromContent(announce({ debug: { url: "ws://127.0.0.1:1/d" } }), contentSender);
    bg.fromContent({ source: "fluxlive-content", type: "page", url: "http://127.0.0.1:3000/next" }, { ...contentSender, url: "http://127.0.0.1:3000/next" });
    assert.deepEqual(bg.state().runtimes, {});
    assert.deepEqual(bg.panel.posted.at(-1), { source: "fluxlive-background", type: "page", tabId: 7, pageUrl: "http://127.0.0.1:3000/next" });
  });

  test("keys everything by tab: each panel hears only its own tab", () => {
    const bg = background();
    const other = bg.connect({ id: "ext-id" });
    other.send({ source: "fluxlive-panel", type: "init", tabId: 8 });
    assert.deepEqual(bg.state().panels, { 7: 1, 8: 1 });
    bg.fromContent(announce({ debug: { url: "ws://127.0.0.1:7/d" } }), contentSender);
    bg.fromContent(announce({ debug: { url: "ws://127.0.0.1:8/d" } }), { ...contentSender, tab: { id: 8 } });
    assert.deepEqual(bg.panel.posted.map((m) => m.announce.debug.url), ["ws://127.0.0.1:7/d"]);
    assert.deepEqual(other.posted.map((m) => m.announce.debug.url), ["ws://127.0.0.1:8/d"]);
    // A panel re-sending init cannot move to another tab.
    other.send({ source: "fluxlive-panel", type: "init", tabId: 7 });
    assert.deepEqual(bg.state().panels, { 7: 1, 8: 1 });
    // Closing a panel forgets it.
    other.close();
    assert.deepEqual(bg.state().panels, { 7: 1 });
  });

  test("a port from a content script cannot pose as a panel", () => {
    const bg = background();
    const fake = bg.connect({ id: "ext-id", tab: { id: 7 } });
    assert.equal(fake.disconnected, true);
    assert.deepEqual(bg.state().panels, { 7: 1 });
  });
});

// ------------------------------------------------------------------ tests

/** Mozilla's linter, when installed (`npm i -D addons-linter`, or $ADDONS_LINTER). */
const ADDONS_LINTER = process.env.ADDONS_LINTER ?? path.join(ROOT, "node_modules/.bin/addons-linter");
/** Known and accepted warnings, as `code file`. */
const ACCEPTED_LINTER_WARNINGS = new Set([
  // Firefox for Android has no DevTools panels to run in.
  "KEY_FIREFOX_ANDROID_UNSUPPORTED_BY_MIN_VERSION manifest.json",
  // wasm-bindgen's binding for Element.innerHTML, which Yew links for raw
  // HTML nodes; the panel renders no raw HTML.
  "UNSAFE_VAR_ASSIGNMENT panel.js",
]);

test(
  "the Firefox archive passes Mozilla's addons-linter",
  { skip: fs.existsSync(ADDONS_LINTER) ? false : `addons-linter not installed (${ADDONS_LINTER})` },
  async () => {
    const zip = path.join(path.dirname(EXTENSION), "fluxlive-firefox.zip");
    assert.ok(fs.existsSync(zip), `${zip} is missing: build it with \`cargo xtask dist\``);
    const child = spawn(ADDONS_LINTER, ["--output", "json", zip], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise((resolve) => child.on("close", resolve));
    const report = JSON.parse(out);
    assert.deepEqual(report.errors.map((e) => `${e.code}: ${e.message}`), []);
    const warnings = report.warnings.filter((w) => !ACCEPTED_LINTER_WARNINGS.has(`${w.code} ${w.file ?? "manifest.json"}`));
    assert.deepEqual(warnings.map((w) => `${w.code}: ${w.message} (${w.file ?? ""})`), []);
  },
);

describe("extension against a fake runtime", () => {
  let runtime;
  let browser;
  let panel;

  /** Opens `path` of the fake runtime and waits for the panel host to report `status`. */
  async function visit(path, status) {
    await browser.page.goto(runtime.url(path));
    await waitFor(status, async () => (await panel.host()).status === status);
  }

  before(async () => {
    runtime = await startFakeRuntime();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await runtime?.close();
  });

  test("the service worker runs the typed manifest with no permissions", async () => {
    assert.match(browser.worker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
    const manifest = await browser.worker.evaluate(() => chrome.runtime.getManifest());
    assert.equal(manifest.manifest_version, 3);
    assert.equal(manifest.devtools_page, "devtools.html");
    assert.deepEqual(manifest.permissions ?? [], []);
    assert.deepEqual(manifest.host_permissions ?? [], []);
    assert.ok(!manifest.content_scripts[0].matches.includes("<all_urls>"));
    assert.match(manifest.content_security_policy.extension_pages, /'wasm-unsafe-eval'/);
  });

  test("the content script relays the page's announce to the worker, keyed by tab", async () => {
    await browser.page.goto(runtime.url("/"));
    const state = await waitFor("the worker to hold the page's runtime", async () => {
      const s = await browser.relay();
      return Object.keys(s.runtimes).length === 1 ? s : null;
    });
    const [[tabId, entry]] = Object.entries(state.runtimes);
    assert.ok(Number.isInteger(Number(tabId)));
    assert.equal(entry.pageUrl, runtime.url("/"));
    assert.deepEqual(entry.announce, {
      version: "0.1.0",
      protocol: 1,
      debug: { url: `ws://127.0.0.1:${runtime.port}/__live/debug`, token: runtime.token },
    });
  });

  test("DevTools shows the panel, and the panel opens the page's debug channel", async () => {
    panel = await openPanel(browser);
    const host = await waitFor("the host to say connect", async () => {
      const h = await panel.host();
      return h.status === "connect" ? h : null;
    });
    assert.equal(host.url, `ws://127.0.0.1:${runtime.port}/__live/debug`);
    const conn = await waitFor("the panel's debug socket", () => runtime.connections[0]);
    assert.equal(conn.token, runtime.token);
    assert.equal(conn.origin, `chrome-extension://${browser.extensionId}`);
    const relay = await browser.relay();
    assert.deepEqual(Object.values(relay.panels), [1], "one panel registered for the tab");
  });

  test("after navigation the host reports channel-off, then no-runtime, then connects again", async () => {
    assert.ok(panel, "needs the panel from the previous test");
    await visit("/channel-off", "channel-off");
    await visit("/plain", "no-runtime");
    const before = runtime.connections.length;
    await visit("/", "connect");
    await waitFor("a new debug socket", () => runtime.connections.length > before);
  });

  test("an announce alone reaches the panel through the relay", async () => {
    assert.ok(panel, "needs the panel from the first tests");
    await visit("/plain", "no-runtime");
    const before = runtime.connections.length;
    await visit("/announce-only", "connect");
    await waitFor("a new debug socket", () => runtime.connections.length > before);
  });

  test("live components without an announce are reported as channel-off", async () => {
    assert.ok(panel, "needs the panel from the first tests");
    await visit("/plain", "no-runtime");
    await visit("/live-no-debug", "channel-off");
  });

  test("a non-loopback debug URL is refused, never connected to", async () => {
    assert.ok(panel, "needs the panel from the first tests");
    await visit("/plain", "no-runtime");
    const before = runtime.connections.length;
    await browser.page.goto(runtime.url("/elsewhere"));
    // The relay passes the announce on; the host turns it down.
    await waitFor("the relay to see it", async () =>
      (await browser.relayLog()).some((e) => e.debugUrl?.includes("evil.test")),
    );
    await waitFor("the host to refuse it", async () =>
      (await panel.eval("document.documentElement.dataset.fluxliveRefused ?? ''")).includes("evil.test"),
    );
    const host = await panel.host();
    assert.equal(host.status, "no-runtime");
    assert.equal(runtime.connections.length, before);
    assert.ok(runtime.connections.every((c) => !c.host.startsWith("evil.test")));
  });

  test("a page outside the content script's matches is found through inspectedWindow.eval", async () => {
    assert.ok(panel, "needs the panel from the first tests");
    await visit("/plain", "no-runtime");
    const logged = (await browser.relayLog()).length;
    const before = runtime.connections.length;
    await browser.page.goto(runtime.url("/", OTHER_HOST));
    const host = await waitFor("connect", async () => {
      const h = await panel.host();
      return h.status === "connect" ? h : null;
    });
    // The debug URL the page announced names 127.0.0.1, its real address.
    assert.equal(host.url, `ws://127.0.0.1:${runtime.port}/__live/debug`);
    await waitFor("a new debug socket", () => runtime.connections.length > before);
    const log = await browser.relayLog();
    assert.ok(
      log.slice(logged).every((e) => !e.pageUrl.includes(OTHER_HOST)),
      "no content script ran on the unmatched host",
    );
  });

  test("a stopped service worker is rebuilt by the open panel, which keeps its socket", async () => {
    assert.ok(panel, "needs the panel from the first tests");
    const debugUrl = `ws://127.0.0.1:${runtime.port}/__live/debug`;
    await browser.page.goto(runtime.url("/"));
    await waitFor("connect", async () => {
      const h = await panel.host();
      return h.status === "connect" && h.url === debugUrl;
    });
    await waitFor("the panel's socket", () => runtime.connections.at(-1)?.host === `127.0.0.1:${runtime.port}`);
    const sockets = runtime.connections.length;
    const { startedAt } = await browser.relay();
    // What Chrome does to an idle worker after 30 s, done now.
    const pageTarget = (await targets(browser.cdp)).find((t) => t.type === "page");
    const { sessionId } = await browser.cdp.send("Target.attachToTarget", { targetId: pageTarget.targetId, flatten: true });
    await browser.cdp.send("ServiceWorker.enable", {}, sessionId);
    await browser.cdp.send("ServiceWorker.stopAllWorkers", {}, sessionId);
    const rebuilt = await waitFor("a new worker holding the panel and the runtime again", async () => {
      const s = await browser.relay();
      const [entry] = Object.values(s.runtimes);
      return s.startedAt !== startedAt && Object.values(s.panels)[0] === 1 && entry?.announce.debug?.url === debugUrl
        ? s
        : null;
    });
    assert.ok(rebuilt.startedAt > startedAt);
    assert.equal((await panel.host()).status, "connect");
    assert.equal(runtime.connections.length, sockets, "the panel kept its debug socket");
  });

  test("messages from frames or with another source are not relayed", async () => {
    await browser.page.goto(runtime.url("/spoof"));
    // The frame's message and the marker announce reach the content script in
    // order, so once the marker is relayed the frame's was already judged.
    await waitFor("the marker announce", async () =>
      (await browser.relayLog()).some((e) => e.debugUrl?.endsWith("/after-spoof")),
    );
    const urls = (await browser.relayLog()).map((e) => e.debugUrl);
    assert.ok(!urls.some((u) => u?.endsWith("/from-frame")), `relayed a frame's message: ${urls}`);
    assert.ok(!urls.some((u) => u?.endsWith("/wrong-source")), `relayed a foreign source: ${urls}`);
  });
});

/** Runs the demo binary on a free loopback port; resolves once it listens. */
async function startDemo({ debug }) {
  assert.ok(fs.existsSync(DEMO), `${DEMO} is missing: build it with \`cargo build -p fluxlive-demo\``);
  const child = spawn(DEMO, ["--addr", "127.0.0.1:0", ...(debug ? ["--debug"] : [])], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, FLUXLIVE_DEBUG: "" },
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = await waitFor("the demo's listening line", () => {
    if (child.exitCode !== null) throw new Error(`the demo exited early (${child.exitCode}): ${out}`);
    return out.match(/listening on (http:\/\/\S+)/)?.[1];
  });
  let token = null;
  if (debug) {
    const devtools = await waitFor("the demo's devtools line", () => out.match(/devtools: (http:\/\/\S+)/)?.[1]);
    token = new URL(devtools).searchParams.get("token");
  }
  return {
    url,
    token,
    debugUrl: `ws://${new URL(url).host}/__live/debug`,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

describe("extension against the demo", () => {
  let demo;
  let quiet;
  let browser;
  let panel;

  before(async () => {
    demo = await startDemo({ debug: true });
    quiet = await startDemo({ debug: false });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    await quiet?.stop();
  });

  test("on a demo without its debug channel the panel shows the channel-off screen", async () => {
    await browser.page.goto(quiet.url);
    panel = await openPanel(browser);
    await waitFor("the host to say channel-off", async () => (await panel.host()).status === "channel-off");
    await waitFor("the panel's channel-off screen", () =>
      panel.eval(`document.querySelector('[data-testid="status-screen"]')?.dataset.state === "channel-off"`),
    );
  });

  test("on the debug demo the panel connects through the relay and lists its components", async () => {
    assert.ok(panel, "needs the panel from the previous test");
    await browser.page.goto(demo.url);
    await waitFor("the relay to hold the demo's runtime", async () => {
      const [entry] = Object.values((await browser.relay()).runtimes);
      return entry?.announce.debug?.url === demo.debugUrl && entry.announce.debug.token === demo.token;
    });
    const host = await waitFor("the host to say connect", async () => {
      const h = await panel.host();
      return h.status === "connect" ? h : null;
    });
    assert.equal(host.url, demo.debugUrl);
    await waitFor(
      "the panel to show connected",
      () => panel.eval(`document.querySelector('[data-testid="conn-status"]')?.dataset.state === "connected"`),
      15_000,
    );
    await waitFor("the hero counter in the panel's tree", () =>
      panel.eval(`!!document.querySelector('[data-testid="tree-instance"][data-id="hero"]')`),
    );
  });

  test("leaving for the quiet demo turns the connection pill to channel-off", async () => {
    assert.ok(panel, "needs the panel from the first test");
    await browser.page.goto(quiet.url);
    await waitFor("the host to say channel-off", async () => (await panel.host()).status === "channel-off");
    // Records from the debug demo stay on screen; the pill tells the state.
    await waitFor("the pill", () =>
      panel.eval(`document.querySelector('[data-testid="conn-status"]')?.dataset.state === "channel-off"`),
    );
  });
});

// ---------------------------------------------------------------- Firefox

/** A WebDriver BiDi session with a headless Firefox on a fresh profile. */
async function launchFirefox() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "fluxlive-ff-"));
  // A fixed moz-extension:// UUID, so the test knows the panel's origin.
  const uuid = "6f1c1d2e-1111-4a2b-9c3d-0123456789ab";
  fs.writeFileSync(
    path.join(profile, "user.js"),
    [
      `user_pref("extensions.webextensions.uuids", ${JSON.stringify(JSON.stringify({ "devtools@fluxlive.dev": uuid }))});`,
      "",
    ].join("\n"),
  );
  const child = spawn(
    FIREFOX,
    // System access lets the test open the DevTools toolbox from the browser
    // window's own scope, as a user clicking would.
    ["--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0", "--remote-allow-system-access", "about:blank"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const endpoint = await waitFor("Firefox's BiDi endpoint", () => stderr.match(/WebDriver BiDi listening on (ws:\/\/\S+)/)?.[1], 30_000);
  const ws = new WebSocket(`${endpoint}/session`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 0;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    const waiter = pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id);
    if (msg.type === "error") waiter.reject(new Error(`${waiter.method}: ${msg.error}: ${msg.message}`));
    else waiter.resolve(msg.result);
  });
  const send = (method, params = {}) => {
    const id = ++nextId;
    ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
  };
  await send("session.new", { capabilities: {} });
  const tab = (await send("browsingContext.getTree")).contexts[0].context;
  const window = (await send("browsingContext.getTree", { "moz:scope": "chrome" })).contexts[0].context;
  const evaluate = async (context, expression, scope = undefined) => {
    const r = await send("script.evaluate", {
      expression,
      target: { context },
      awaitPromise: true,
      ...(scope ? { "moz:scope": scope } : {}),
    });
    if (r.type === "exception") throw new Error(`evaluate failed: ${r.exceptionDetails.text}`);
    return r.result.value;
  };
  return {
    send,
    tab,
    origin: `moz-extension://${uuid}`,
    goto: (url) => send("browsingContext.navigate", { context: tab, url, wait: "complete" }),
    inPage: (expression) => evaluate(tab, expression),
    inBrowser: (expression) => evaluate(window, expression, "chrome"),
    async close() {
      ws.close();
      child.kill("SIGTERM");
      await exited;
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

describe("extension in Firefox", { skip: FIREFOX ? false : "Firefox is not installed (apt-get install firefox-esr, or $FIREFOX)" }, () => {
  const zip = path.join(path.dirname(EXTENSION), "fluxlive-firefox.zip");
  let runtime;
  let firefox;

  before(async () => {
    assert.ok(fs.existsSync(zip), `${zip} is missing: build it with \`cargo xtask dist\``);
    runtime = await startFakeRuntime();
    firefox = await launchFirefox();
  });

  after(async () => {
    await firefox?.close();
    await runtime?.close();
  });

  test("Firefox installs the zip as the add-on its manifest names", async () => {
    const installed = await firefox.send("webExtension.install", { extensionData: { type: "archivePath", path: zip } });
    assert.equal(installed.extension, "devtools@fluxlive.dev");
  });

  test("the content script runs on loopback pages", async () => {
    for (const host of ["127.0.0.1", "localhost"]) {
      await firefox.goto(runtime.url("/ping-log", host));
      await waitFor(`the content script's ping on ${host}`, () => firefox.inPage("window.pings > 0"));
    }
  });

  test("the DevTools panel starts and, through the relay, opens the page's debug channel", async () => {
    // No window.__FLUXLIVE__ on this page: only content script → background
    // → panel host can tell the panel where to connect.
    await firefox.goto(runtime.url("/announce-only"));
    const before = runtime.connections.length;
    // Open the toolbox on the tab and select the extension's panel: the
    // devtools page must have created it, and the wasm panel must start
    // under the extension CSP for a socket to arrive.
    const selected = await firefox.inBrowser(`(async () => {
      const { require } = ChromeUtils.importESModule("resource://devtools/shared/loader/Loader.sys.mjs");
      const { gDevTools } = require("devtools/client/framework/devtools");
      const toolbox = await gDevTools.showToolboxForTab(gBrowser.selectedTab, { toolId: "webconsole" });
      for (let i = 0; i < 100; i++) {
        const ids = [...toolbox.additionalToolDefinitions.values()]
          .map((d) => d.id)
          .filter((id) => id.startsWith("webext-devtools-panel-"));
        if (ids.length) {
          await toolbox.selectTool(ids[0]);
          return ids[0];
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    })()`);
    assert.ok(selected, "the fluxlive panel never appeared in the toolbox");
    const conn = await waitFor("the panel's debug socket", () => runtime.connections[before], 15_000);
    assert.equal(conn.token, runtime.token);
    assert.equal(conn.origin, firefox.origin);
    assert.equal(conn.host, `127.0.0.1:${runtime.port}`);
  });
});
