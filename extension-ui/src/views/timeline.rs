//! The timeline: every record, filtered, in a windowed list (only the rows on
//! screen exist in the DOM), with the opened record's details beside it.

use super::json::JsonTree;
use crate::bench;
use crate::browser;
use crate::describe::{fmt_ts, fmt_us, kind_from_name, kind_name, summary};
use crate::filter::TimelineFilter;
use crate::log::{Row, NONE};
use crate::store::{Model, Store};
use crate::window::{scroll_for, window};
use fluxlive_protocol::record::{CallSource, Outcome, RecordBody, RecordKind};
use serde_json::Value;
use std::rc::Rc;
use web_sys::{Element, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Height of one row, px (must match `.tl-row` in panel.css).
pub const ROW_H: f64 = 20.0;

/// Props of [`Timeline`].
#[derive(Properties, PartialEq)]
pub struct TimelineProps {
    /// The store.
    pub store: Store,
    /// Filter changed.
    pub on_filter: Callback<TimelineFilter>,
    /// A record was opened (by sequence number) or closed.
    pub on_select: Callback<Option<u64>>,
    /// Show an instance in the Components tab.
    pub on_show_instance: Callback<u64>,
}

/// The timeline.
#[function_component(Timeline)]
pub fn timeline(p: &TimelineProps) -> Html {
    let model = p.store.model.borrow();
    html! {
        <div class="timeline" data-testid="timeline">
            { filter_bar(&model, &p.on_filter) }
            <div class="tl-split">
                <RowList store={p.store.clone()} on_select={p.on_select.clone()} />
                { detail(&model, &p.on_show_instance) }
            </div>
        </div>
    }
}

/// Writes one select's value into a filter.
type FilterEdit = Rc<dyn Fn(&mut TimelineFilter, String)>;

fn filter_bar(model: &Model, on_filter: &Callback<TimelineFilter>) -> Html {
    let f = model.filter.clone();
    let set = |change: FilterEdit| {
        let f = f.clone();
        let cb = on_filter.clone();
        Callback::from(move |e: Event| {
            let mut next = f.clone();
            change(
                &mut next,
                e.target_unchecked_into::<HtmlSelectElement>().value(),
            );
            cb.emit(next);
        })
    };
    let none_if_empty = |v: String| (!v.is_empty()).then_some(v);
    let on_inst = set(Rc::new(|f, v| f.iid = v.parse().ok()));
    let on_type = set(Rc::new(move |f, v| f.component = none_if_empty(v)));
    let on_method = set(Rc::new(move |f, v| f.method = none_if_empty(v)));
    let on_kind = set(Rc::new(|f, v| f.kind = kind_from_name(&v)));
    let on_errors = {
        let f = f.clone();
        let cb = on_filter.clone();
        Callback::from(move |e: Event| {
            let mut next = f.clone();
            next.errors_only = e.target_unchecked_into::<HtmlInputElement>().checked();
            cb.emit(next);
        })
    };
    let clear = {
        let cb = on_filter.clone();
        Callback::from(move |_: MouseEvent| cb.emit(TimelineFilter::default()))
    };
    let insts = model.instances.list();
    html! {
        <div class="filter-bar">
            <select onchange={on_inst} data-testid="filter-instance" title="Instance">
                <option value="" selected={f.iid.is_none()}>{"all instances"}</option>
                { for insts.iter().map(|i| html! {
                    <option value={i.iid.to_string()} selected={f.iid == Some(i.iid)}>{format!("{}#{}", i.component, i.id)}</option>
                }) }
            </select>
            <select onchange={on_type} data-testid="filter-type" title="Component type">
                <option value="" selected={f.component.is_none()}>{"all types"}</option>
                { for model.instances.components.names().iter().map(|c| html! {
                    <option value={c.clone()} selected={f.component.as_ref() == Some(c)}>{c}</option>
                }) }
            </select>
            <select onchange={on_method} data-testid="filter-method" title="Action">
                <option value="" selected={f.method.is_none()}>{"all actions"}</option>
                { for model.log.action_names().map(|m| html! {
                    <option value={m.to_owned()} selected={f.method.as_deref() == Some(m)}>{m}</option>
                }) }
            </select>
            <select onchange={on_kind} data-testid="filter-kind" title="Record kind">
                <option value="" selected={f.kind.is_none()}>{"all kinds"}</option>
                { for Model::kinds().iter().map(|&k| html! {
                    <option value={kind_name(k)} selected={f.kind == Some(k)}>{kind_name(k)}</option>
                }) }
            </select>
            <label class="check"><input type="checkbox" checked={f.errors_only} onchange={on_errors} data-testid="filter-errors" />{"errors only"}</label>
            if !f.is_empty() { <button class="btn small" onclick={clear}>{"clear filter"}</button> }
            <span class="spacer" />
            <span class="dim" data-testid="timeline-count">{format!("{} of {} records", model.filtered.len(), model.log.len())}</span>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct RowListProps {
    store: Store,
    on_select: Callback<Option<u64>>,
}

/// The windowed list: a spacer as tall as every row, with only the visible
/// rows drawn inside it.
#[function_component(RowList)]
fn row_list(p: &RowListProps) -> Html {
    let scroll = use_state(|| (0.0_f64, 600.0_f64));
    let follow = use_state(|| true);
    let list_ref = use_node_ref();
    let model = p.store.model.borrow();
    let n = model.filtered.len();
    let (scroll_top, view_h) = *scroll;
    let win = window(n, ROW_H, view_h, scroll_top, 10);

    let onscroll = {
        let scroll = scroll.clone();
        let follow = follow.clone();
        Callback::from(move |e: Event| {
            bench::on_scroll(browser::now());
            let el = e.target_unchecked_into::<Element>();
            let top = f64::from(el.scroll_top());
            let h = f64::from(el.client_height());
            let at_bottom = top + h >= f64::from(el.scroll_height()) - ROW_H * 2.0;
            scroll.set((top, h.max(ROW_H)));
            follow.set(at_bottom);
        })
    };
    {
        // Keep the newest record in view while the user is at the bottom.
        let list_ref = list_ref.clone();
        let follow = *follow;
        let scroll = scroll.clone();
        use_effect_with((n, follow), move |&(_, follow)| {
            if let Some(el) = list_ref.cast::<Element>() {
                let h = f64::from(el.client_height());
                if h > 0.0 && (h - scroll.1).abs() > 0.5 {
                    scroll.set((scroll.0, h));
                }
                if follow {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    use_effect(|| bench::on_commit(browser::now()));

    let onkeydown = {
        let store = p.store.clone();
        let on_select = p.on_select.clone();
        let list_ref = list_ref.clone();
        Callback::from(move |e: KeyboardEvent| {
            let delta: i64 = match e.key().as_str() {
                "ArrowDown" => 1,
                "ArrowUp" => -1,
                "PageDown" => 25,
                "PageUp" => -25,
                "Home" => i64::MIN / 2,
                "End" => i64::MAX / 2,
                "Escape" => {
                    on_select.emit(None);
                    return;
                }
                _ => return,
            };
            e.prevent_default();
            let m = store.model.borrow();
            let Some(next) = step(
                m.filtered.len(),
                m.selected_seq.and_then(|s| m.filtered_position(s)),
                delta,
            ) else {
                return;
            };
            let Some(seq) = m
                .filtered
                .get(next)
                .and_then(|&i| m.log.row(i))
                .map(|r| r.seq)
            else {
                return;
            };
            let n = m.filtered.len();
            drop(m);
            on_select.emit(Some(seq));
            if let Some(el) = list_ref.cast::<Element>() {
                let view = f64::from(el.client_height());
                let w = window(n, ROW_H, view, f64::from(el.scroll_top()), 0);
                let shown = (view / ROW_H).floor() as usize;
                if next <= w.first || next + 1 >= w.first + shown {
                    let top = scroll_for(n, ROW_H, view, next.saturating_sub(shown / 2));
                    el.set_scroll_top(top as i32);
                }
            }
        })
    };

    let rows: Vec<Html> = (win.first..win.first + win.count)
        .filter_map(|i| model.filtered.get(i).map(|&idx| (i, idx)))
        .map(|(i, idx)| {
            row_html(
                &model,
                idx,
                i,
                win.top_px + (i - win.first) as f64 * ROW_H,
                &p.on_select,
            )
        })
        .collect();
    let jump = {
        let follow = follow.clone();
        let list_ref = list_ref.clone();
        Callback::from(move |_: MouseEvent| {
            follow.set(true);
            if let Some(el) = list_ref.cast::<Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        })
    };
    html! {
        <div class="tl-wrap">
            <div class="tl-list" ref={list_ref} {onscroll} {onkeydown} tabindex="0" data-testid="timeline-list">
                <div class="tl-spacer" style={format!("height:{}px", win.total_px)}>
                    { for rows }
                </div>
                if n == 0 { <div class="empty">{ if model.log.is_empty() { "No records yet" } else { "No record matches the filter" } }</div> }
            </div>
            if !*follow && n > 0 {
                <button class="btn small tl-follow" onclick={jump} data-testid="follow-newest" title="Scroll to the newest record and follow">{"↓ newest"}</button>
            }
        </div>
    }
}

/// The list position after moving `delta` rows from `current` in a list of
/// `n` (from the first or last row when nothing is selected).
pub fn step(n: usize, current: Option<usize>, delta: i64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let last = (n - 1) as i64;
    Some(match current {
        Some(c) => (c as i64).saturating_add(delta).clamp(0, last) as usize,
        None if delta > 0 => 0,
        None => n - 1,
    })
}

/// A call source's wire name.
fn source_name(source: CallSource) -> String {
    match serde_json::to_value(source) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn instance_label(model: &Model, row: &Row) -> String {
    if row.inst == NONE {
        return if row.conn != 0 {
            format!("conn {}", row.conn)
        } else {
            String::new()
        };
    }
    model
        .instances
        .get(row.inst)
        .map(|i| format!("{}#{}", i.component, i.id))
        .unwrap_or_default()
}

fn row_html(
    model: &Model,
    idx: u32,
    pos: usize,
    top: f64,
    on_select: &Callback<Option<u64>>,
) -> Html {
    let Some(row) = model.log.row(idx) else {
        return Html::default();
    };
    let seq = row.seq;
    let selected = model.selected_seq == Some(seq);
    let onclick = on_select.reform(move |_: MouseEvent| if selected { None } else { Some(seq) });
    let body = model.log.body(idx);
    let text = body.as_ref().map(summary).unwrap_or_default();
    // Actions not from the page's client (devtools, replay, events, timers…).
    let source = match &body {
        Some(RecordBody::Action(a)) if a.source != CallSource::Client => {
            Some(source_name(a.source))
        }
        _ => None,
    };
    let dur = match row.kind {
        RecordKind::Action | RecordKind::Diff | RecordKind::Render | RecordKind::ClientSpan => {
            fmt_us(u64::from(row.dur_us))
        }
        _ => String::new(),
    };
    let kind = kind_name(row.kind);
    let method =
        (row.kind == RecordKind::Action).then(|| model.log.names.name(row.name).to_owned());
    html! {
        <div key={seq} class={classes!("tl-row", (pos % 2 == 1).then_some("odd"), selected.then_some("selected"), row.is_error().then_some("error"))}
            style={format!("top:{top}px")} {onclick}
            data-testid="timeline-row" data-seq={seq.to_string()} data-kind={kind} data-method={method}>
            <span class="c-seq">{seq}</span>
            <span class="c-ts">{fmt_ts(row.ts_us)}</span>
            <span class={classes!("c-kind", format!("k-{kind}"))}>{kind}</span>
            <span class="c-inst">{instance_label(model, row)}</span>
            <span class="c-sum">
                if let Some(src) = source { <span class="badge">{src}</span> }
                {text}
            </span>
            <span class={classes!("c-dur", row.is_slow().then_some("slow"))} title={row.is_slow().then_some("slow action")}>
                {dur}{ if row.is_slow() { " ⚠" } else { "" } }
            </span>
        </div>
    }
}

/// The diff that an action produced: same instance, right after it.
fn diff_of_action(model: &Model, idx: u32) -> Option<u32> {
    let row = model.log.row(idx)?;
    let inst = model.instances.get(row.inst)?;
    let pos = inst.rows.iter().position(|&r| r == idx)?;
    // The runtime records an action when it ends, so its diff (and emits)
    // usually come just before it; look a few records either way.
    let lo = pos.saturating_sub(16);
    let hi = (pos + 17).min(inst.rows.len());
    inst.rows[lo..hi].iter().copied().find(|&r| {
        model
            .log
            .row(r)
            .is_some_and(|d| d.kind == RecordKind::Diff && d.version == row.version)
    })
}

fn detail(model: &Model, on_show_instance: &Callback<u64>) -> Html {
    let Some(seq) = model.selected_seq else {
        return html! { <div class="tl-detail empty">{"Select a record to see its details"}</div> };
    };
    let Some(idx) = model.log.index_of_seq(seq) else {
        return html! { <div class="tl-detail empty">{"That record is no longer held"}</div> };
    };
    let Some(row) = model.log.row(idx) else {
        return Html::default();
    };
    let body = model.log.body(idx);
    let mut parts = vec![html! {
        <div class="pane-head">
            <span class={classes!("c-kind", format!("k-{}", kind_name(row.kind)))}>{kind_name(row.kind)}</span>
            <span>{format!(" #{seq} at {}s · {}", fmt_ts(row.ts_us), instance_label(model, row))}</span>
            <span class="spacer" />
            if let Some(iid) = model.instances.get(row.inst).map(|i| i.iid) {
                <button class="btn small" onclick={on_show_instance.reform(move |_: MouseEvent| iid)} data-testid="show-instance">{"Show in Components"}</button>
            }
        </div>
    }];
    match &body {
        Some(RecordBody::Action(a)) => {
            let outcome = match &a.outcome {
                Outcome::Ok { result } => {
                    html! { <div class="kv"><b>{"result"}</b><JsonTree value={Rc::new(result.clone())} /></div> }
                }
                Outcome::Err { code, message } => {
                    html! { <div class="kv err" data-testid="detail-error"><b>{"error"}</b><span class="mono">{format!("{code}: {message}")}</span></div> }
                }
            };
            parts.push(html! {
                <>
                    <div class="kv"><b>{"method"}</b><span class="mono" data-testid="detail-method">{&a.method}</span></div>
                    <div class="kv"><b>{"args"}</b><JsonTree value={Rc::new(a.args.clone())} />
                        if a.args_truncated { <span class="dim">{" (truncated)"}</span> }</div>
                    <div class="kv"><b>{"duration"}</b><span class={classes!("mono", row.is_slow().then_some("slow"))}>{fmt_us(a.dur_us)}{ if row.is_slow() { " — slow" } else { "" } }</span></div>
                    <div class="kv"><b>{"source"}</b><span class="mono">{source_name(a.source)}</span></div>
                    {outcome}
                    if let Some(t) = &a.trace { <div class="kv"><b>{"trace"}</b><span class="mono">{t.traceparent()}</span></div> }
                </>
            });
            match diff_of_action(model, idx) {
                Some(d) => parts.push(diff_view(model, d)),
                None if a.version_after == a.version_before => {
                    parts.push(html! { <div class="note">{"No state change"}</div> })
                }
                None => parts.push(html! { <div class="note">{"Its diff is not held"}</div> }),
            }
        }
        Some(RecordBody::Diff(_)) => parts.push(diff_view(model, idx)),
        _ => {}
    }
    if let Some(b) = body {
        let v = serde_json::to_value(&b).unwrap_or(Value::Null);
        parts.push(html! { <><div class="section-title">{"Record"}</div><JsonTree value={Rc::new(v)} open_depth={1} /></> });
    }
    html! { <div class="tl-detail" data-testid="record-detail" data-seq={seq.to_string()}>{ for parts }</div> }
}

/// A diff as a table of changed paths with their values before and after.
fn diff_view(model: &Model, idx: u32) -> Html {
    let (Some(row), Some(RecordBody::Diff(d))) = (model.log.row(idx), model.log.body(idx)) else {
        return Html::default();
    };
    let before = model.instances.state_at(&model.log, row.inst, d.base);
    let after = model.instances.state_at(&model.log, row.inst, d.version);
    let at = |s: &Option<Value>, path: &str| -> String {
        match s.as_ref().map(|s| s.pointer(path)) {
            Some(Some(v)) => v.to_string(),
            Some(None) => "—".into(),
            None => "?".into(),
        }
    };
    let ops: Vec<(String, String)> = d
        .ops
        .0
        .iter()
        .filter_map(|op| serde_json::to_value(op).ok())
        .map(|v| {
            let op = v.get("op").and_then(Value::as_str).unwrap_or("").to_owned();
            let path = v
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (op, path)
        })
        .collect();
    html! {
        <div class="diff" data-testid="diff-view">
            <div class="section-title">{format!("Diff v{} → v{} · {} B · {}", d.base, d.version, d.bytes, fmt_us(d.diff_us + d.encode_us))}</div>
            <table class="diff-table">
                <tr><th>{"op"}</th><th>{"path"}</th><th>{"before"}</th><th>{"after"}</th></tr>
                { for ops.iter().map(|(op, path)| html! {
                    <tr data-testid="diff-op" data-path={path.clone()}>
                        <td class="mono">{op}</td><td class="mono">{path}</td>
                        <td class="mono before" data-testid="diff-before">{at(&before, path)}</td>
                        <td class="mono after" data-testid="diff-after">{at(&after, path)}</td>
                    </tr>
                }) }
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::step;

    #[test]
    fn keyboard_steps_stay_in_the_list() {
        assert_eq!(step(0, None, 1), None);
        assert_eq!(step(10, None, 1), Some(0));
        assert_eq!(step(10, None, -1), Some(9));
        assert_eq!(step(10, Some(3), 1), Some(4));
        assert_eq!(step(10, Some(3), -25), Some(0));
        assert_eq!(step(10, Some(3), i64::MAX / 2), Some(9));
        assert_eq!(step(10, Some(9), 1), Some(9));
    }
}
