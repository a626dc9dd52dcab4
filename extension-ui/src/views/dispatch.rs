//! Call an action on the selected instance by hand.

use crate::store::DispatchState;
use serde_json::Value;
use web_sys::{HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

/// Parses the arguments box: a JSON array, or one JSON value taken as the only argument.
pub fn parse_args(text: &str) -> Result<Vec<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(one) => Ok(vec![one]),
        Err(e) => Err(format!("arguments are not JSON: {e}")),
    }
}

/// Props of [`Dispatch`].
#[derive(Properties, PartialEq)]
pub struct DispatchProps {
    /// Instance.
    pub iid: u64,
    /// Callable actions.
    pub actions: Vec<String>,
    /// The last dispatch on this instance.
    pub last: Option<DispatchState>,
    /// Connected and live.
    pub enabled: bool,
    /// Call `(method, args)`.
    pub on_dispatch: Callback<(String, Vec<Value>)>,
}

/// The dispatch form.
#[function_component(Dispatch)]
pub fn dispatch(p: &DispatchProps) -> Html {
    let method = use_state(|| None::<String>);
    let args = use_state(|| "[]".to_owned());
    let error = use_state(|| None::<String>);
    let chosen = (*method)
        .clone()
        .or_else(|| p.actions.first().cloned())
        .unwrap_or_default();
    let onmethod = {
        let method = method.clone();
        Callback::from(move |e: Event| {
            method.set(Some(e.target_unchecked_into::<HtmlSelectElement>().value()))
        })
    };
    let onargs = {
        let args = args.clone();
        Callback::from(move |e: InputEvent| {
            args.set(e.target_unchecked_into::<HtmlTextAreaElement>().value())
        })
    };
    let oncall = {
        let args = args.clone();
        let error = error.clone();
        let cb = p.on_dispatch.clone();
        let chosen = chosen.clone();
        Callback::from(move |_: MouseEvent| match parse_args(&args) {
            Ok(a) => {
                error.set(None);
                cb.emit((chosen.clone(), a));
            }
            Err(e) => error.set(Some(e)),
        })
    };
    let result = p.last.as_ref().filter(|d| d.iid == p.iid).map(|d| match &d.result {
        None => html! { <div class="note" data-testid="dispatch-result" data-status="pending">{format!("{}(…) running", d.method)}</div> },
        Some(Ok(v)) => html! { <div class="note ok mono" data-testid="dispatch-result" data-status="ok">{format!("{} → {v}", d.method)}</div> },
        Some(Err(e)) => html! { <div class="note err mono" data-testid="dispatch-result" data-status="error">{format!("{} failed: {e}", d.method)}</div> },
    });
    html! {
        <section class="dispatch" data-testid="dispatch">
            <div class="section-title">{"Dispatch"}</div>
            <div class="dispatch-row">
                <select onchange={onmethod} data-testid="dispatch-method" disabled={!p.enabled}>
                    { for p.actions.iter().map(|a| html! { <option value={a.clone()} selected={*a == chosen}>{a}</option> }) }
                </select>
                <textarea class="mono" rows="1" value={(*args).clone()} oninput={onargs} data-testid="dispatch-args" placeholder="[arg, …]" />
                <button class="btn" onclick={oncall} disabled={!p.enabled || chosen.is_empty()} data-testid="dispatch-call">{"Call"}</button>
            </div>
            if let Some(e) = &*error { <div class="note err">{e}</div> }
            {result}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_are_an_array_or_one_value() {
        assert_eq!(parse_args("[1, \"a\"]"), Ok(vec![json!(1), json!("a")]));
        assert_eq!(parse_args("5"), Ok(vec![json!(5)]));
        assert_eq!(parse_args("  "), Ok(vec![]));
        assert!(parse_args("[1,").is_err());
    }
}
