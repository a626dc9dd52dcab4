//! Procedural macros for fluxlive components.
//!
//! * `#[live_component]` on an `impl` block turns the methods marked
//!   `#[action]` into the component's action table and wires the lifecycle
//!   hooks (`mount`, `on_mount`, `on_unmount`, `on_props_changed`).
//! * `#[derive(Live)]` on the state struct reads `#[live(server_only)]` and
//!   `#[live(redact)]` field markers.
//!
//! Both expand to an implementation of traits in the `fluxlive` crate; see
//! its documentation for the user-facing description.

mod component;
mod state;

use proc_macro::TokenStream;

/// Makes an `impl` block a live component. See the `fluxlive` crate docs.
#[proc_macro_attribute]
pub fn live_component(attr: TokenStream, item: TokenStream) -> TokenStream {
    component::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Reads `#[live(server_only)]` and `#[live(redact)]` field markers.
#[proc_macro_derive(Live, attributes(live))]
pub fn derive_live(item: TokenStream) -> TokenStream {
    state::expand(item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
