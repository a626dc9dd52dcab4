//! The selected instance: header, state (or a previewed past state) and props.

use super::json::JsonTree;
use super::tree::TreeItem;
use serde_json::Value;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// A past version being previewed: the version and its state (`None` while
/// loading, `Err` when it cannot be had).
pub type PreviewState = (u64, Option<Result<Rc<Value>, String>>);

/// Props of [`Inspector`].
#[derive(Properties, PartialEq)]
pub struct InspectorProps {
    /// The instance.
    pub item: TreeItem,
    /// Its current state, when known.
    pub state: Option<Rc<Value>>,
    /// Its mount props.
    pub props: Rc<Value>,
    /// A past state being previewed: `(version, state or why not)`.
    #[prop_or_default]
    pub preview: Option<PreviewState>,
    /// Ask for a fresh snapshot.
    pub on_refresh: Callback<()>,
}

/// The inspector.
#[function_component(Inspector)]
pub fn inspector(p: &InspectorProps) -> Html {
    let search = use_state(String::new);
    let oninput = {
        let search = search.clone();
        Callback::from(move |e: InputEvent| {
            search.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let item = &p.item;
    let state_view = match &p.preview {
        Some((v, Some(Ok(state)))) => html! {
            <>
                <div class="note travel">{format!("Previewing version {v} (live is v{})", item.version)}</div>
                <JsonTree value={Rc::clone(state)} search={(*search).clone()} testid={AttrValue::from("state-tree")} />
            </>
        },
        Some((v, Some(Err(e)))) => {
            html! { <div class="note err">{format!("version {v}: {e}")}</div> }
        }
        Some((v, None)) => html! { <div class="note">{format!("loading version {v}…")}</div> },
        None => match &p.state {
            Some(state) => {
                html! { <JsonTree value={Rc::clone(state)} search={(*search).clone()} testid={AttrValue::from("state-tree")} /> }
            }
            None => html! { <div class="note">{"state not known yet"}</div> },
        },
    };
    let refresh = p.on_refresh.reform(|_: MouseEvent| ());
    html! {
        <section class="inspector" data-testid="inspector" data-iid={item.iid.to_string()}>
            <div class="pane-head">
                <span class="ty">{&item.component}</span><span class="id">{format!("#{}", item.id)}</span>
                <span class="dim">{format!(" iid {} · conn {} · ", item.iid, item.conn)}</span>
                <span class="ver" data-testid="inspector-version">{format!("v{}", item.version)}</span>
                if item.live { <span class="badge live">{"live"}</span> } else { <span class="badge gone">{"gone"}</span> }
                if item.travelling { <span class="badge travel">{"time travel"}</span> }
                <span class="spacer" />
                <button class="btn small" onclick={refresh} title="Fetch every instance's state again">{"↻"}</button>
            </div>
            <div class="section-title">{"State"}
                <input class="search small" type="search" placeholder="Search state" value={(*search).clone()} {oninput} data-testid="state-search" />
            </div>
            {state_view}
            <div class="section-title">{"Props"}</div>
            <JsonTree value={Rc::clone(&p.props)} testid={AttrValue::from("props-tree")} />
        </section>
    }
}
