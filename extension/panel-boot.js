// Starts the Yew panel (wasm-bindgen `--target web` output, copied from
// dist/panel/). Extension pages forbid inline script, so the panel's own
// index.html bootstrap cannot be reused here; this file plays its part.
import init from "./panel.js";

init()
  .then(() => {
    window.dispatchEvent(new CustomEvent("fluxlive-panel-started"));
  })
  .catch((err) => {
    console.error("fluxlive: the panel failed to start:", err);
    const p = document.createElement("p");
    p.dataset.fluxliveBootError = "";
    p.textContent = `The fluxlive panel failed to start: ${err}`;
    document.body.append(p);
  });
