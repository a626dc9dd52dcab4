// Panel host: finds the inspected page's fluxlive runtime and tells the
// panel (the Yew app started by panel-boot.js in this same window) where its
// debug channel is, with one of:
//   {source:"fluxlive-devtools", type:"connect", url, token}
//   {source:"fluxlive-devtools", type:"channel-off"}
//   {source:"fluxlive-devtools", type:"no-runtime"}
//
// Where it looks, in order:
//   1. the background relay (port "fluxlive-panel"), fed by the content
//      script on loopback pages: pushes each announce as it happens;
//   2. devtools.inspectedWindow.eval("window.__FLUXLIVE__"), for pages the
//      content script does not run on, or when nothing was announced in time.
// The current answer is mirrored on <html data-fluxlive-status> (and
// data-fluxlive-url; a refused debug URL on data-fluxlive-refused) for tests
// and for anyone debugging the extension.
"use strict";

(() => {
  const ext = globalThis.chrome ?? globalThis.browser;
  const SOURCE = "fluxlive-devtools";
  const FROM_BACKGROUND = "fluxlive-background";
  /** Wait this long for an announce before probing the page directly. */
  const ANNOUNCE_WAIT_MS = 1000;
  /** Direct probes before concluding there is no runtime. */
  const PROBES = 4;
  const PROBE_EVERY_MS = 250;
  /** Messages keep the Chrome service worker (idle after 30 s) awake. */
  const KEEPALIVE_MS = 20000;
  /** Consecutive failed reconnects to the background before giving up. */
  const MAX_RECONNECTS = 10;

  if (!ext?.devtools?.inspectedWindow) {
    // Opened as a plain tab (moz-extension://…/panel.html, for debugging the
    // panel): there is no inspected page; the panel shows its own waiting
    // screen.
    console.info("fluxlive: panel.html opened outside DevTools; no page to inspect");
    return;
  }
  const tabId = ext.devtools.inspectedWindow.tabId;
  let status = null;
  let panelStarted = false;
  let generation = 0;
  let waitTimer = null;
  let port = null;
  let reconnects = 0;

  function tell(msg) {
    const same = status !== null && JSON.stringify(status) === JSON.stringify(msg);
    status = msg;
    document.documentElement.dataset.fluxliveStatus = msg.type;
    if (msg.url) document.documentElement.dataset.fluxliveUrl = msg.url;
    else delete document.documentElement.dataset.fluxliveUrl;
    // An unchanged answer was already acted on (the panel reconnects by
    // itself); only changes are news.
    if (!same && panelStarted) window.postMessage(msg, location.origin);
  }

  function isLoopback(host) {
    return (
      host === "localhost" ||
      host.endsWith(".localhost") ||
      host === "[::1]" ||
      /^127(\.\d{1,3}){3}$/.test(host)
    );
  }

  /**
   * The debug socket URL from an announce, absolute and ws(s):, or null. The
   * debug channel accepts loopback peers only, so a non-loopback URL can only
   * come from a page pointing the panel somewhere else: refused.
   */
  function debugUrl(raw, pageUrl) {
    let url;
    try {
      url = new URL(raw, pageUrl || undefined);
    } catch {
      return null;
    }
    if (url.protocol === "http:") url.protocol = "ws:";
    else if (url.protocol === "https:") url.protocol = "wss:";
    if (url.protocol !== "ws:" && url.protocol !== "wss:") return null;
    if (!isLoopback(url.hostname)) return null;
    return url.href;
  }

  function fromAnnounce(announce, pageUrl) {
    if (announce === null || typeof announce !== "object") return { source: SOURCE, type: "no-runtime" };
    const debug = announce.debug;
    if (debug === null || typeof debug !== "object" || typeof debug.url !== "string") {
      return { source: SOURCE, type: "channel-off" };
    }
    const url = debugUrl(debug.url, pageUrl);
    if (url === null) {
      document.documentElement.dataset.fluxliveRefused = debug.url;
      console.warn("fluxlive: ignoring a runtime whose debug channel is not on a loopback address:", debug.url);
      return { source: SOURCE, type: "no-runtime" };
    }
    const msg = { source: SOURCE, type: "connect", url };
    if (typeof debug.token === "string") msg.token = debug.token;
    return msg;
  }

  function announced(announce, pageUrl) {
    generation += 1;
    clearTimeout(waitTimer);
    tell(fromAnnounce(announce, pageUrl));
  }

  /** A new document or a fresh start: give it time to announce, then probe. */
  function expectAnnounce(delay) {
    generation += 1;
    const gen = generation;
    clearTimeout(waitTimer);
    waitTimer = setTimeout(() => probe(gen, PROBES), delay);
  }

  /**
   * Runs in the inspected page. The client sets `__FLUXLIVE__` only when the
   * debug channel is on; a page that has live components or loads the client
   * without it has a runtime whose channel is off.
   */
  const PROBE_EXPR = `(() => {
    const f = window.__FLUXLIVE__;
    const announce = f && typeof f === "object"
      ? JSON.parse(JSON.stringify({ version: f.version, protocol: f.protocol, debug: f.debug ?? null }))
      : null;
    const live = !!document.querySelector('[data-live-id], script[src*="/__live/client.js"]');
    return { announce, live, href: location.href };
  })()`;

  function probe(gen, left) {
    ext.devtools.inspectedWindow.eval(PROBE_EXPR, (result, exception) => {
      if (gen !== generation) return;
      const found = result !== null && typeof result === "object" && !exception ? result : {};
      if (found.announce && typeof found.announce === "object") {
        announced(found.announce, typeof found.href === "string" ? found.href : "");
      } else if (left > 1) {
        waitTimer = setTimeout(() => probe(gen, left - 1), PROBE_EVERY_MS);
      } else if (found.live === true) {
        tell({ source: SOURCE, type: "channel-off" });
      } else {
        tell({ source: SOURCE, type: "no-runtime" });
      }
    });
  }

  function onBackground(msg) {
    reconnects = 0;
    if (msg === null || typeof msg !== "object" || msg.source !== FROM_BACKGROUND || msg.tabId !== tabId) return;
    if (msg.type === "runtime") announced(msg.announce, msg.pageUrl);
    else if (msg.type === "page") expectAnnounce(ANNOUNCE_WAIT_MS);
    else if (msg.type === "unreachable") expectAnnounce(0);
  }

  function connectBackground() {
    try {
      port = ext.runtime.connect({ name: "fluxlive-panel" });
    } catch (err) {
      // The extension was reloaded under this panel: only the eval probe
      // is left until DevTools is reopened.
      console.warn("fluxlive: no background relay:", err);
      port = null;
      expectAnnounce(0);
      return;
    }
    port.onMessage.addListener(onBackground);
    port.onDisconnect.addListener(() => {
      void ext.runtime.lastError;
      port = null;
      // The Chrome worker was stopped (or the extension reloaded): reconnect,
      // which restarts it, and ask again.
      if (reconnects < MAX_RECONNECTS) {
        reconnects += 1;
        setTimeout(connectBackground, 100 * reconnects);
      }
    });
    port.postMessage({ source: "fluxlive-panel", type: "init", tabId });
  }

  setInterval(() => {
    if (port) port.postMessage({ source: "fluxlive-panel", type: "keepalive" });
  }, KEEPALIVE_MS);

  // Covers pages without the content script too.
  ext.devtools.network.onNavigated.addListener(() => expectAnnounce(ANNOUNCE_WAIT_MS));

  // The panel registers its message listener in an effect that may run a
  // little after its start function returns, so the current answer is
  // repeated a few times; the panel ignores a connect to the URL it already
  // uses, so the repeats are harmless.
  function repeatToPanel() {
    for (const delay of [0, 50, 250, 1000]) {
      setTimeout(() => {
        if (status) window.postMessage(status, location.origin);
      }, delay);
    }
  }

  window.addEventListener("fluxlive-panel-started", () => {
    panelStarted = true;
    repeatToPanel();
  });

  // The panel may ask for the current answer again (e.g. after it reset).
  window.addEventListener("message", (event) => {
    if (event.source !== window) return;
    const data = event.data;
    if (data === null || typeof data !== "object" || data.source !== "fluxlive-panel" || data.type !== "ready") return;
    panelStarted = true;
    repeatToPanel();
  });

  connectBackground();
  expectAnnounce(ANNOUNCE_WAIT_MS);
})();
