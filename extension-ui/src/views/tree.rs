//! The component tree: connections, then the instances each one mounted.

use std::collections::BTreeMap;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// One instance as the tree shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeItem {
    /// Instance number.
    pub iid: u64,
    /// Client-visible id.
    pub id: String,
    /// Component type.
    pub component: String,
    /// Owning connection.
    pub conn: u64,
    /// Current version.
    pub version: u64,
    /// Still mounted.
    pub live: bool,
    /// Held in the past by time travel.
    pub travelling: bool,
}

/// True when `item` passes the tree's filter text.
pub fn passes(item: &TreeItem, filter: &str) -> bool {
    let f = filter.trim().to_lowercase();
    f.is_empty()
        || item.id.to_lowercase().contains(&f)
        || item.component.to_lowercase().contains(&f)
}

/// Props of [`Tree`].
#[derive(Properties, PartialEq)]
pub struct TreeProps {
    /// Every instance.
    pub items: Rc<Vec<TreeItem>>,
    /// Selected instance.
    pub selected: Option<u64>,
    /// Filter text.
    pub filter: AttrValue,
    /// Filter text changed.
    pub on_filter: Callback<String>,
    /// An instance was clicked.
    pub on_select: Callback<u64>,
    /// Pointer entered (`true`) or left an instance.
    pub on_hover: Callback<(u64, bool)>,
}

/// The tree.
#[function_component(Tree)]
pub fn tree(p: &TreeProps) -> Html {
    let mut groups: BTreeMap<u64, Vec<&TreeItem>> = BTreeMap::new();
    for item in p.items.iter().filter(|i| passes(i, &p.filter)) {
        groups.entry(item.conn).or_default().push(item);
    }
    let live = p.items.iter().filter(|i| i.live).count();
    let oninput = {
        let cb = p.on_filter.clone();
        Callback::from(move |e: InputEvent| {
            cb.emit(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    html! {
        <div class="tree" data-testid="tree">
            <div class="pane-head">
                <input class="search" type="search" placeholder="Filter components" value={p.filter.clone()} {oninput} data-testid="tree-filter" />
                <span class="count" data-testid="live-count" title="live instances">{format!("{live} live")}</span>
            </div>
            <div class="tree-body">
                if groups.is_empty() {
                    <div class="empty">{ if p.items.is_empty() { "No components yet" } else { "Nothing matches the filter" } }</div>
                }
                { for groups.into_iter().map(|(conn, items)| {
                    let live_here = items.iter().filter(|i| i.live).count();
                    html! {
                        <div class="tree-conn" key={conn}>
                            <div class="tree-conn-head" data-testid="tree-connection">
                                {format!("connection #{conn}")}<span class="dim">{format!(" · {live_here}/{} live", items.len())}</span>
                            </div>
                            { for items.into_iter().map(|item| instance_row(item, p)) }
                        </div>
                    }
                }) }
            </div>
        </div>
    }
}

fn instance_row(item: &TreeItem, p: &TreeProps) -> Html {
    let iid = item.iid;
    let onclick = p.on_select.reform(move |_: MouseEvent| iid);
    let onmouseenter = p.on_hover.reform(move |_: MouseEvent| (iid, true));
    let onmouseleave = p.on_hover.reform(move |_: MouseEvent| (iid, false));
    let selected = p.selected == Some(iid);
    html! {
        <div key={iid} class={classes!("tree-item", selected.then_some("selected"), (!item.live).then_some("gone"))}
            data-testid="tree-instance" data-iid={iid.to_string()} data-id={item.id.clone()}
            {onclick} {onmouseenter} {onmouseleave}>
            <span class="ty">{&item.component}</span>
            <span class="id">{format!("#{}", item.id)}</span>
            <span class="ver">{format!("v{}", item.version)}</span>
            if item.travelling { <span class="badge travel">{"travel"}</span> }
            if !item.live { <span class="badge gone">{"gone"}</span> }
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_id_or_type_case_insensitively() {
        let item = TreeItem {
            iid: 1,
            id: "hero".into(),
            component: "Counter".into(),
            conn: 1,
            version: 1,
            live: true,
            travelling: false,
        };
        assert!(passes(&item, ""));
        assert!(passes(&item, "HER"));
        assert!(passes(&item, "count"));
        assert!(!passes(&item, "todo"));
    }
}
