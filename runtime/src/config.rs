//! Runtime settings, set with builder methods on [`LiveBuilder`](crate::LiveBuilder).

use std::time::Duration;

/// Settings of one runtime.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest app frame accepted, in bytes; bigger frames get `frame_too_large`.
    pub max_frame: usize,
    /// How long a disconnected session's instances are kept for resume.
    pub grace: Duration,
    /// Capacity of each instance's mailbox; a full mailbox answers `overloaded`.
    pub mailbox: usize,
    /// Capacity of each connection's outbox; a client that falls this far
    /// behind is disconnected (it reconnects and resyncs).
    pub outbox: usize,
    /// How long a new socket may take to send its first frame.
    pub hello_timeout: Duration,
    /// Most instances one connection may hold.
    pub max_instances_per_session: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame: 64 * 1024,
            grace: Duration::from_secs(30),
            mailbox: 256,
            outbox: 1024,
            hello_timeout: Duration::from_secs(10),
            max_instances_per_session: 1024,
        }
    }
}
