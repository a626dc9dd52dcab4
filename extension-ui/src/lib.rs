//! The fluxlive DevTools panel, written with Yew.
//!
//! The same build runs as the standalone page the runtime serves at
//! `/__live/devtools` and inside the browser extension. Browser-free logic
//! (the record log, instance table, filters, statistics, the store) lives in
//! plain modules with host unit tests; [`bridge`] is the only code touching a
//! WebSocket or `postMessage`; [`views`] hold the Yew components and
//! [`app`] wires them together. The wasm entry point is [`start`].

pub mod app;
pub mod bench;
pub mod bench_run;
pub mod bridge;
pub mod browser;
pub mod compact;
pub mod connect;
pub mod describe;
pub mod filter;
pub mod instances;
pub mod log;
pub mod stats;
pub mod store;
pub mod views;
pub mod window;

/// Mounts the panel on the page's `<body>` (called by `panel.js` on load).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}
