//! The panel's views. Each takes `*Props` and reports through `on*`
//! callbacks; only the app turns callbacks into store actions.

pub mod dispatch;
pub mod inspector;
pub mod json;
pub mod profiler;
pub mod sessions;
pub mod timeline;
pub mod travel;
pub mod tree;
