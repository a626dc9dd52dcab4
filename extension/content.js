// Content script: a relay only, between the page and the background worker.
// It runs in the extension's isolated world, reads nothing from the page but
// the messages the fluxlive client posts to its own window, and injects no
// code into the page.
//
//   page  --window.postMessage {source:"fluxlive-page", type:"announce"}-->  here
//   here  --runtime.sendMessage {source:"fluxlive-content", ...}-->  background
//   background --tabs.sendMessage {source:"fluxlive-background", type:"ping"}--> here
//   here  --window.postMessage {source:"fluxlive-devtools", type:"ping"}-->  page
"use strict";

(() => {
  const ext = globalThis.chrome ?? globalThis.browser;
  const FROM_PAGE = "fluxlive-page";
  const FROM_BACKGROUND = "fluxlive-background";
  const SOURCE = "fluxlive-content";
  const TO_PAGE = "fluxlive-devtools";
  const pageOrigin = location.origin === "null" ? "*" : location.origin;

  function toBackground(msg) {
    try {
      ext.runtime.sendMessage(msg, () => {
        // No panel listening is normal; reading lastError keeps it quiet.
        void ext.runtime.lastError;
      });
    } catch {
      // The extension was reloaded or removed: this relay is orphaned.
    }
  }

  function pingPage() {
    window.postMessage({ source: TO_PAGE, type: "ping" }, pageOrigin);
  }

  // A new document: whatever runtime the tab had before is gone.
  toBackground({ source: SOURCE, type: "page", url: location.href });

  window.addEventListener("message", (event) => {
    // Only the page's own window; never frames or other windows.
    if (event.source !== window) return;
    const data = event.data;
    if (data === null || typeof data !== "object" || data.source !== FROM_PAGE) return;
    if (data.type !== "announce") return;
    toBackground({ source: SOURCE, type: "announce", url: location.href, payload: data.payload });
  });

  ext.runtime.onMessage.addListener((msg, sender, sendResponse) => {
    if (sender.id !== ext.runtime.id || msg === null || typeof msg !== "object") return false;
    if (msg.source !== FROM_BACKGROUND || msg.type !== "ping") return false;
    pingPage();
    // Answering tells the background this tab has a relay (no answer means
    // the panel must look for the runtime another way).
    sendResponse({ source: SOURCE, type: "pong" });
    return false;
  });

  // Injected into an already-loaded page (Firefox does this on install): ask
  // a client that is already running to announce itself again.
  pingPage();
})();
