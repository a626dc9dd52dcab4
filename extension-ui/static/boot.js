// Loads the panel's wasm. A separate file (not an inline script) because
// extension pages forbid inline scripts.
import init from './panel.js';

init({ module_or_path: new URL('./panel_bg.wasm', import.meta.url) }).catch((err) => {
  document.body.textContent = 'fluxlive DevTools failed to start: ' + err;
});
