// Background relay (a service worker in Chrome, an event page script in
// Firefox). It keeps, per tab, the last runtime the tab's content script
// announced, and forwards announcements to the fluxlive panels open on that
// tab. It holds no other state: after the worker is stopped and restarted, a
// panel's next `init` re-asks the tab, so nothing depends on the cache.
//
// Messages in:
//   content script (runtime.sendMessage, sender.tab set):
//     {source:"fluxlive-content", type:"page", url}
//     {source:"fluxlive-content", type:"announce", url, payload}
//   panel host (runtime.connect port "fluxlive-panel", no sender.tab):
//     {source:"fluxlive-panel", type:"init", tabId}
//     {source:"fluxlive-panel", type:"keepalive"}
// Messages out:
//   to panels of a tab:
//     {source:"fluxlive-background", type:"runtime", tabId, pageUrl, announce}
//     {source:"fluxlive-background", type:"page", tabId, pageUrl}
//     {source:"fluxlive-background", type:"unreachable", tabId}
//   to a tab's content script (tabs.sendMessage, top frame):
//     {source:"fluxlive-background", type:"ping"}
"use strict";

const ext = globalThis.chrome ?? globalThis.browser;
const SOURCE = "fluxlive-background";
const PANEL_PORT = "fluxlive-panel";
const MAX_URL = 2048;
const MAX_TOKEN = 512;

/** tabId -> {pageUrl, announce} */
const runtimes = new Map();
/** tabId -> Set<Port> */
const panels = new Map();

/** The last relayed content-script messages, newest last (bounded). */
const log = [];
const LOG_MAX = 50;

/** Exposed for tests and for debugging from the worker's console. */
globalThis.fluxliveRelay = {
  runtimes,
  panels,
  log,
  /** When this worker instance started: a restart shows as a new value. */
  startedAt: Date.now(),
  state() {
    return {
      startedAt: this.startedAt,
      runtimes: Object.fromEntries(runtimes),
      panels: Object.fromEntries([...panels].map(([tab, ports]) => [tab, ports.size])),
    };
  },
};

function toPanels(tabId, msg) {
  for (const port of panels.get(tabId) ?? []) {
    try {
      port.postMessage(msg);
    } catch {
      // Closed between the check and the send; onDisconnect cleans up.
    }
  }
}

/** Keeps only the announce fields the panel uses, with their types checked. */
function cleanAnnounce(payload) {
  if (payload === null || typeof payload !== "object") return null;
  const out = {
    version: typeof payload.version === "string" ? payload.version.slice(0, 64) : null,
    protocol: Number.isInteger(payload.protocol) ? payload.protocol : null,
    debug: null,
  };
  const debug = payload.debug;
  if (debug !== null && typeof debug === "object" && typeof debug.url === "string" && debug.url.length <= MAX_URL) {
    out.debug = { url: debug.url };
    if (typeof debug.token === "string" && debug.token.length <= MAX_TOKEN) out.debug.token = debug.token;
  }
  return out;
}

function pingTab(tabId) {
  try {
    ext.tabs.sendMessage(tabId, { source: SOURCE, type: "ping" }, { frameId: 0 }, () => {
      if (ext.runtime.lastError) toPanels(tabId, { source: SOURCE, type: "unreachable", tabId });
    });
  } catch {
    toPanels(tabId, { source: SOURCE, type: "unreachable", tabId });
  }
}

ext.runtime.onConnect.addListener((port) => {
  if (port.name !== PANEL_PORT) return;
  // Panels live in DevTools: same extension, no tab. A content script has a
  // tab and must not pose as a panel.
  if (port.sender?.id !== ext.runtime.id || port.sender.tab) {
    port.disconnect();
    return;
  }
  let tabId = null;
  port.onMessage.addListener((msg) => {
    if (msg === null || typeof msg !== "object" || msg.source !== "fluxlive-panel") return;
    if (msg.type !== "init" || tabId !== null || !Number.isInteger(msg.tabId)) return;
    tabId = msg.tabId;
    if (!panels.has(tabId)) panels.set(tabId, new Set());
    panels.get(tabId).add(port);
    const known = runtimes.get(tabId);
    if (known) port.postMessage({ source: SOURCE, type: "runtime", tabId, ...known });
    // Ask the page again even when known: the cache may predate a restart
    // of the server (new token) that the page has not re-announced.
    pingTab(tabId);
  });
  port.onDisconnect.addListener(() => {
    const set = panels.get(tabId);
    if (!set) return;
    set.delete(port);
    if (set.size === 0) panels.delete(tabId);
  });
});

ext.runtime.onMessage.addListener((msg, sender) => {
  if (sender.id !== ext.runtime.id || !sender.tab || sender.frameId !== 0) return false;
  if (msg === null || typeof msg !== "object" || msg.source !== "fluxlive-content") return false;
  const tabId = sender.tab.id;
  const pageUrl = typeof sender.url === "string" ? sender.url : String(msg.url ?? "");
  const debugUrl = msg.payload?.debug?.url;
  log.push({ tabId, type: String(msg.type), pageUrl, debugUrl: typeof debugUrl === "string" ? debugUrl : null });
  if (log.length > LOG_MAX) log.shift();
  if (msg.type === "page") {
    runtimes.delete(tabId);
    toPanels(tabId, { source: SOURCE, type: "page", tabId, pageUrl });
  } else if (msg.type === "announce") {
    const announce = cleanAnnounce(msg.payload);
    if (!announce) return false;
    runtimes.set(tabId, { pageUrl, announce });
    toPanels(tabId, { source: SOURCE, type: "runtime", tabId, pageUrl, announce });
  }
  return false;
});

ext.tabs.onRemoved.addListener((tabId) => {
  runtimes.delete(tabId);
});
