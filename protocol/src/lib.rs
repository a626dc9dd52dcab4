//! Wire types for fluxlive.
//!
//! This crate is the single source of truth for every frame that crosses a
//! socket: the app channel between the browser client and the runtime
//! ([`app`]), the debug channel between the runtime and the DevTools panel
//! ([`debug`]), and the recorded event model both of them carry ([`record`]).
//! It depends on serde alone so that the wasm panel can use it.
//!
//! The human-readable description of the same protocol lives in
//! `docs/protocol.md`; shared JSON test vectors in `protocol/vectors/` are
//! read by the Rust tests here and by the JavaScript client tests.

pub mod app;
pub mod debug;
pub mod error;
pub mod record;
pub mod session;

pub use app::{ClientFrame, ServerFrame};
pub use error::ErrorCode;
pub use json_patch::{Patch, PatchOperation};

/// Version of the app protocol spoken over `/__live/ws`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Version of the debug protocol spoken over `/__live/debug`.
pub const DEBUG_PROTOCOL_VERSION: u32 = 1;

/// The marker that replaces every redacted value in records, snapshots and exports.
pub const REDACTED: &str = "[redacted]";
