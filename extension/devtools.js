// The hidden page DevTools loads once per inspected tab: it only adds the
// "fluxlive" panel. The panel page (panel.html) does the rest.
"use strict";

const ext = globalThis.chrome ?? globalThis.browser;

ext.devtools.panels.create("fluxlive", "icons/icon-32.png", "panel.html", () => {
  // Read lastError so a failure is logged here, not as an unchecked error.
  if (ext.runtime.lastError) {
    console.error("fluxlive: cannot create the DevTools panel:", ext.runtime.lastError.message);
  }
});
