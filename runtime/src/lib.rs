//! # fluxlive
//!
//! Server-driven live components for axum, instrumented end to end.
//!
//! A component is a Rust struct whose state lives on the server; the
//! browser mounts instances, calls their actions over one WebSocket and
//! receives versioned JSON patches.
//!
//! ```
//! use fluxlive::{live_component, Ctx, Live};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Default, Live)]
//! pub struct Counter {
//!     count: i64,
//!     #[live(server_only)]
//!     audit: Vec<String>,
//! }
//!
//! #[derive(Deserialize, Default)]
//! pub struct CounterProps {
//!     #[serde(default)]
//!     start: i64,
//! }
//!
//! #[live_component]
//! impl Counter {
//!     fn mount(props: CounterProps, _ctx: &mut Ctx) -> Self {
//!         Counter { count: props.start, audit: Vec::new() }
//!     }
//!
//!     #[action]
//!     fn increment(&mut self, ctx: &mut Ctx) {
//!         self.count += 1;
//!         self.audit.push(format!("increment by {}", ctx.id()));
//!         ctx.emit("count-changed", serde_json::json!({ "count": self.count }));
//!     }
//!
//!     #[action]
//!     fn add(&mut self, n: i64) -> i64 {
//!         self.count += n;
//!         self.count
//!     }
//! }
//!
//! let live = Live::builder().component::<Counter>().build();
//! let app: axum::Router = axum::Router::new().merge(live.router());
//! # let _ = app;
//! ```
//!
//! In the page: `import { connect } from "/__live/client.js"`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`component`] | the [`Component`] trait the macros implement, [`Step`], [`NoProps`] |
//! | [`ctx`] | [`Ctx`], what an action can do besides changing its state |
//! | [`error`] | [`ActionError`] and [`Rejection`], each with a stable code |
//! | [`config`] | [`Config`] |
//! | `debug` | the DevTools debug channel (`/__live/debug`) |

pub mod bus;
pub mod component;
pub mod config;
pub mod ctx;
mod debug;
pub mod error;
mod instance;
mod live;
mod replay;
mod runtime;
mod session;
pub mod signing;
mod ssr;
pub mod testing;
mod visible;
mod ws;

pub use bus::BusError;
pub use component::{Component, LiveState, NoProps, Render, Step};
pub use config::Config;
pub use ctx::Ctx;
pub use debug::DebugConfig;
pub use error::{ActionError, Rejection};
pub use fluxlive_instrumentation::{ActionMeta, Recorder, TypeMeta};
pub use fluxlive_macros::{live_component, Live};
pub use fluxlive_protocol as protocol;
pub use live::{serve, serve_until, ExportFormat, Live, LiveBuilder, Stats};
pub use replay::ReplayError;
pub use signing::SnapshotError;
pub use ssr::{SsrError, SsrPage};

#[doc(hidden)]
pub use component::__private;

/// Path of the app WebSocket.
pub const WS_PATH: &str = "/__live/ws";
/// Path of the browser client script.
pub const CLIENT_PATH: &str = "/__live/client.js";
/// Path of the debug WebSocket (when enabled).
pub const DEBUG_PATH: &str = "/__live/debug";
/// Path of the standalone DevTools panel (when the debug channel is enabled).
pub const DEVTOOLS_PATH: &str = "/__live/devtools";

/// The browser client, served at [`CLIENT_PATH`] (and at `/__live/live.js`,
/// the name `live-extras.js` imports it by).
pub const CLIENT_JS: &str = include_str!("../../client/live.js");
/// Optional client helpers (`batch`, `optimistic`, `debounced`, `throttled`,
/// `persistQueue`), served at `/__live/live-extras.js`.
pub const CLIENT_EXTRAS_JS: &str = include_str!("../../client/live-extras.js");
