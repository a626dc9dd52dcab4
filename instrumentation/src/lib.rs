//! The fluxlive flight recorder.
//!
//! The runtime holds a [`Recorder`] and pushes [`Event`]s from its hot path:
//! each push is a thread-local lookup, one atomic ticket and a move into a
//! lock-free per-thread ring ([`ringbuf`]); it never blocks, formats or
//! waits on a consumer, and costs one relaxed atomic load when recording is
//! off. A collector thread drains the rings in ticket order (so an
//! instance's events keep their order even when its actor moves between
//! threads), redacts and caps them into [`Record`]s with global sequence
//! numbers, appends them to a bounded history (the last N records, within
//! a byte budget) and wakes [`Subscription`]s. Nothing is lost silently: a
//! full ring and a lagging subscriber each produce a `Dropped` record whose
//! count explains the sequence gap.
//!
//! [`run_debug_session`] speaks the debug channel protocol
//! ([`fluxlive_protocol::debug`]) over any text stream and sink; the
//! runtime supplies a [`DebugOps`] and glues it to its WebSocket.
//!
//! [`Record`]: fluxlive_protocol::record::Record

pub mod clock;
mod codec;
mod collector;
mod convert;
mod debug_session;
mod error;
mod event;
mod fold;
mod history;
mod recorder;
mod redact;
mod ring;
mod slice_codec;
mod subscription;
mod wire;

pub use debug_session::{run_debug_session, DebugLimits, DebugOps, CAPABILITIES};

pub use error::StateAtError;
pub use event::{ActionMeta, DiffPart, Event, EventBody, InstanceKey, TypeMeta};
pub use history::state_in_records;
pub use recorder::{Recorder, RecorderBuilder};
pub use redact::{redact_args, redact_ops, redact_top, restore_redacted};
pub use subscription::{Subscription, MAX_BATCH};

pub use fluxlive_protocol::debug::{Filter, HistoryBounds};
pub use fluxlive_protocol::record::{CallSource, DropSite, TraceContext, UnmountReason};
pub use fluxlive_protocol::session::Session;
