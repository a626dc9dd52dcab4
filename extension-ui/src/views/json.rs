//! An expandable JSON tree with search: matching keys and values are marked
//! and the branches holding them open by themselves.

use serde_json::Value;
use std::rc::Rc;
use yew::prelude::*;

/// True when `needle` (lower case) occurs in a key or scalar under `v`.
pub fn contains_match(v: &Value, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    match v {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.to_lowercase().contains(needle) || contains_match(v, needle)),
        Value::Array(items) => items.iter().any(|v| contains_match(v, needle)),
        other => scalar_text(other).to_lowercase().contains(needle),
    }
}

/// Children drawn per container until "more" is clicked.
pub const CHILDREN_SHOWN: usize = 200;

/// A scalar as JSON text (strings quoted).
pub fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("[…{}]", a.len()),
        Value::Object(o) => format!("{{…{}}}", o.len()),
        other => other.to_string(),
    }
}

fn scalar_class(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "j-str",
        Value::Number(_) => "j-num",
        Value::Bool(_) => "j-bool",
        Value::Null => "j-null",
        _ => "j-more",
    }
}

/// Props of [`JsonTree`].
#[derive(Properties, PartialEq)]
pub struct JsonTreeProps {
    /// The value shown.
    pub value: Rc<Value>,
    /// Search text (case-insensitive); empty for none.
    #[prop_or_default]
    pub search: String,
    /// Levels open at first.
    #[prop_or(2)]
    pub open_depth: u32,
    /// `data-testid` of the tree.
    #[prop_or_default]
    pub testid: Option<AttrValue>,
}

/// A JSON value as a tree.
#[function_component(JsonTree)]
pub fn json_tree(p: &JsonTreeProps) -> Html {
    let needle = p.search.to_lowercase();
    html! {
        <div class="json" data-testid={p.testid.clone()}>
            <JsonNode name={None::<AttrValue>} value={Rc::clone(&p.value)} depth={0} open_depth={p.open_depth} needle={needle} />
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct NodeProps {
    name: Option<AttrValue>,
    value: Rc<Value>,
    depth: u32,
    open_depth: u32,
    needle: String,
}

#[function_component(JsonNode)]
fn json_node(p: &NodeProps) -> Html {
    let toggled = use_state(|| None::<bool>);
    let show_all = use_state(|| false);
    let key_hit = p
        .name
        .as_ref()
        .is_some_and(|n| !p.needle.is_empty() && n.to_lowercase().contains(&p.needle));
    let key = p.name.as_ref().map(|n| {
        html! { <><span class={classes!("j-key", key_hit.then_some("hit"))}>{n.to_string()}</span><span class="j-punct">{": "}</span></> }
    });
    let len = match &*p.value {
        Value::Object(m) => m.len(),
        Value::Array(a) => a.len(),
        _ => {
            let text = scalar_text(&p.value);
            let hit = !p.needle.is_empty() && text.to_lowercase().contains(&p.needle);
            let pad = if p.depth == 0 { 0 } else { p.depth * 12 + 12 };
            return html! {
                <div class="j-row" style={format!("padding-left:{pad}px")}>
                    {key}<span class={classes!(scalar_class(&p.value), hit.then_some("hit"))}>{text}</span>
                </div>
            };
        }
    };
    let open = toggled.unwrap_or(p.depth < p.open_depth || contains_match(&p.value, &p.needle));
    let onclick = {
        let toggled = toggled.clone();
        Callback::from(move |_| toggled.set(Some(!open)))
    };
    let summary = scalar_text(&p.value);
    // Huge containers show their first children only, on request more.
    let limit = if *show_all {
        usize::MAX
    } else {
        CHILDREN_SHOWN
    };
    let children: Vec<(String, Value)> = if open {
        match &*p.value {
            Value::Object(m) => m
                .iter()
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Value::Array(a) => a
                .iter()
                .take(limit)
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect(),
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let more = {
        let show_all = show_all.clone();
        Callback::from(move |_: MouseEvent| show_all.set(true))
    };
    html! {
        <>
            <div class="j-row j-branch" style={format!("padding-left:{}px", p.depth * 12)} {onclick}>
                <span class="j-caret">{ if open { "▾ " } else { "▸ " } }</span>{key}
                <span class="j-more">{summary}</span>
            </div>
            { for children.into_iter().map(|(k, v)| html! {
                <JsonNode key={k.clone()} name={Some(AttrValue::from(k.clone()))} value={Rc::new(v)} depth={p.depth + 1} open_depth={p.open_depth} needle={p.needle.clone()} />
            }) }
            if open && len > limit {
                <div class="j-row j-branch j-more" style={format!("padding-left:{}px", p.depth * 12 + 24)} onclick={more}>
                    {format!("… {} more", len - limit)}
                </div>
            }
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn search_finds_keys_and_nested_values() {
        let v = json!({"title": "Groceries", "items": [{"id": 1, "text": "Milk", "done": false}]});
        assert!(contains_match(&v, "milk"));
        assert!(contains_match(&v, "done"));
        assert!(contains_match(&v, "false"));
        assert!(!contains_match(&v, "bread"));
        assert!(!contains_match(&v, ""));
    }

    #[test]
    fn scalar_text_quotes_strings_and_summarizes_containers() {
        assert_eq!(scalar_text(&json!("a")), "\"a\"");
        assert_eq!(scalar_text(&json!(3)), "3");
        assert_eq!(scalar_text(&json!([1, 2])), "[…2]");
        assert_eq!(scalar_text(&json!({"a": 1})), "{…1}");
    }
}
