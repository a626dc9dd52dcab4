//! The recorder's clock.
//!
//! A recorded action reads the clock five times (start, serialize, diff,
//! encode, end) on the app's own thread. `std::time::Instant::now` is a
//! vDSO `clock_gettime`, about 25 ns a read on the 2-vCPU VM of
//! `docs/benchmarks.md`: 0.12 µs per action, a fifth of what recording
//! cost there. [`quanta`] reads the CPU's time-stamp counter directly
//! (about 10 ns) when the TSC is invariant, and falls back to the OS
//! monotonic clock where it is not, so timestamps stay monotonic either
//! way.

/// A monotonic instant on the recorder's clock: every `Instant` handed to
/// the recorder (an action's `started`, [`Recorder::record_at`]'s `at`)
/// comes from here, never from `std::time::Instant`.
///
/// The first read in a process calibrates the counter against the OS clock
/// (about 0.6 ms); a recorder takes its start instant when it is built, so
/// no recorded event pays for that.
///
/// [`Recorder::record_at`]: crate::Recorder::record_at
pub use quanta::Instant;
