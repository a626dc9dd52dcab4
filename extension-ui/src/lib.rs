//! The fluxlive DevTools panel, written with Yew.
//!
//! The same build runs as the standalone page the runtime serves at
//! `/__live/devtools` and inside the browser extension. Browser-free logic
//! (the record log, instance table, filters, statistics, the store) is in
//! plain modules with host unit tests; [`bridge`] is the only code touching a
//! WebSocket or `postMessage`.

pub mod connect;
pub mod filter;
pub mod instances;
pub mod log;
pub mod stats;
pub mod store;
pub mod window;
