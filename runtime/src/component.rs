//! The component model: what `#[live_component]` and `#[derive(Live)]`
//! implement, and the context an action receives.

use crate::ctx::Ctx;
use crate::error::ActionError;
use fluxlive_instrumentation::TypeMeta;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// A live component: server-side state plus the actions a client may call.
///
/// Implemented by `#[live_component]` on an `impl` block; you never write it
/// by hand. The state type must also derive `Serialize`, `Deserialize` and
/// [`Live`](crate::Live).
pub trait Component: LiveState + Serialize + DeserializeOwned + Send + 'static {
    /// What `mount` takes ([`NoProps`] when it takes nothing).
    type Props: DeserializeOwned + Send + 'static;
    /// The registered type name clients mount.
    const NAME: &'static str;
    /// Shared type (`#[live_component(shared)]`): every connection that
    /// mounts the same id (the shared key) gets the same instance.
    const SHARED: bool = false;
    /// Methods the event bus may call: `#[handler]`s and `#[action]`s.
    const HANDLERS: &'static [&'static str] = &[];

    /// Static description used by the recorder (actions, redacted fields).
    fn meta() -> &'static TypeMeta;

    /// Builds the instance from its props (the user's `mount`).
    fn create(props: Self::Props, ctx: &mut Ctx) -> Result<Self, ActionError>;

    /// Runs after mount (the user's `on_mount`).
    fn mounted<'a>(&'a mut self, ctx: &'a mut Ctx) -> Step<'a> {
        let _ = ctx;
        Step::Ready(Ok(Value::Null))
    }

    /// Runs before the instance is freed (the user's `on_unmount`).
    fn unmounting<'a>(&'a mut self, ctx: &'a mut Ctx) -> Step<'a> {
        let _ = ctx;
        Step::Ready(Ok(Value::Null))
    }

    /// Runs when the client sends new props (the user's `on_props_changed`).
    fn props_changed<'a>(&'a mut self, props: Self::Props, ctx: &'a mut Ctx) -> Step<'a> {
        let _ = (props, ctx);
        Step::Ready(Ok(Value::Null))
    }

    /// Calls the action named `method` with JSON arguments.
    fn dispatch<'a>(&'a mut self, method: &str, args: Vec<Value>, ctx: &'a mut Ctx) -> Step<'a>;
}

/// Server-side rendering of a component's state, for
/// [`Live::ssr`](crate::Live::ssr). With maud: `html! { … }.into_string()`.
pub trait Render {
    /// The component's HTML for its current state (without the wrapper
    /// element, which the runtime adds with `data-live-id`).
    fn render(&self) -> String;
}

/// Field markers of a state struct, from `#[derive(Live)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a live state: add `#[derive(Live)]` to it",
    label = "the state struct needs `#[derive(Serialize, Deserialize, Live)]`"
)]
pub trait LiveState {
    /// Top-level keys that never leave the server (`#[live(server_only)]`).
    const SERVER_ONLY: &'static [&'static str];
    /// Top-level keys shown as `"[redacted]"` in records and exports (`#[live(redact)]`).
    const REDACTED: &'static [&'static str];
}

/// The result of running an action or hook: ready at once (a plain `fn`),
/// or a future (an `async fn`). Sync actions never allocate a future.
pub enum Step<'a> {
    /// Finished.
    Ready(Result<Value, ActionError>),
    /// Still running.
    Pending(Pin<Box<dyn Future<Output = Result<Value, ActionError>> + Send + 'a>>),
}

impl Step<'_> {
    /// Awaits the step.
    pub async fn finish(self) -> Result<Value, ActionError> {
        match self {
            Step::Ready(r) => r,
            Step::Pending(f) => f.await,
        }
    }
}

/// Props of a component whose `mount` takes none: accepts `null`, `{}` or nothing.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
pub struct NoProps {}

/// Internals used by the generated code. Not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::error::ActionError;
    use serde::{de::DeserializeOwned, Serialize};
    pub use serde_json::Value;

    /// Positional argument decoder for one call.
    pub struct Args {
        component: &'static str,
        method: &'static str,
        names: &'static [&'static str],
        types: &'static [&'static str],
        values: std::vec::IntoIter<Value>,
        index: usize,
    }

    impl Args {
        /// Checks the argument count.
        pub fn new(
            component: &'static str,
            method: &'static str,
            args: Vec<Value>,
            names: &'static [&'static str],
            types: &'static [&'static str],
        ) -> Result<Self, ActionError> {
            if args.len() > names.len() {
                return Err(ActionError::BadArgs {
                    component,
                    method: method.into(),
                    reason: format!(
                        "takes {} argument{} ({}), got {}",
                        names.len(),
                        if names.len() == 1 { "" } else { "s" },
                        signature(names, types),
                        args.len()
                    ),
                });
            }
            Ok(Self {
                component,
                method,
                names,
                types,
                values: args.into_iter(),
                index: 0,
            })
        }

        /// Decodes the next argument. A missing trailing argument decodes
        /// from `null`, so `Option<T>` parameters are optional.
        #[allow(clippy::should_implement_trait)]
        pub fn next<T: DeserializeOwned>(&mut self) -> Result<T, ActionError> {
            let i = self.index;
            self.index += 1;
            let name = self.names.get(i).copied().unwrap_or("?");
            let ty = self.types.get(i).copied().unwrap_or("?");
            match self.values.next() {
                Some(v) => serde_json::from_value(v).map_err(|e| ActionError::BadArgs {
                    component: self.component,
                    method: self.method.into(),
                    reason: format!("argument {} `{name}: {ty}`: {e}", i + 1),
                }),
                None => serde_json::from_value(Value::Null).map_err(|_| ActionError::BadArgs {
                    component: self.component,
                    method: self.method.into(),
                    reason: format!(
                        "missing argument {} `{name}: {ty}` (takes {})",
                        i + 1,
                        signature(self.names, self.types)
                    ),
                }),
            }
        }
    }

    fn signature(names: &[&str], types: &[&str]) -> String {
        names
            .iter()
            .zip(types)
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Serializes an action's return value.
    pub fn ok_value<T: Serialize>(
        component: &'static str,
        method: &'static str,
        v: T,
    ) -> Result<Value, ActionError> {
        serde_json::to_value(v).map_err(|e| ActionError::Output {
            component,
            method: method.into(),
            reason: e.to_string(),
        })
    }

    /// Wraps an action's error for the detail probe.
    pub struct DetailProbe<'a, E>(pub &'a E);

    /// Detail of an error that implements `Serialize`.
    pub trait ViaSerialize {
        /// The serialized error.
        fn detail(&self) -> Option<Value>;
    }
    impl<E: Serialize> ViaSerialize for DetailProbe<'_, E> {
        fn detail(&self) -> Option<Value> {
            serde_json::to_value(self.0).ok()
        }
    }

    /// Fallback for errors that do not implement `Serialize`.
    pub trait ViaNothing {
        /// Always `None`.
        fn detail(&self) -> Option<Value>;
    }
    impl<E> ViaNothing for &DetailProbe<'_, E> {
        fn detail(&self) -> Option<Value> {
            None
        }
    }
}
