//! The app: wires the store to the bridge and the views, and lays out the
//! toolbar, tabs and status screens.

use crate::bridge::Bridge;
use crate::browser;
use crate::connect::{launch, Plan};
use crate::describe::fmt_us;
use crate::store::{Action, ConnStatus, Effect, Model, Source, Store};
use crate::views::dispatch::Dispatch;
use crate::views::inspector::Inspector;
use crate::views::profiler::Profiler;
use crate::views::sessions::Sessions;
use crate::views::timeline::Timeline;
use crate::views::travel::Travel;
use crate::views::tree::{Tree, TreeItem};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Components,
    Timeline,
    Profiler,
    Sessions,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Components, Tab::Timeline, Tab::Profiler, Tab::Sessions];

    fn label(self) -> &'static str {
        match self {
            Tab::Components => "Components",
            Tab::Timeline => "Timeline",
            Tab::Profiler => "Profiler",
            Tab::Sessions => "Sessions",
        }
    }

    fn testid(self) -> &'static str {
        match self {
            Tab::Components => "tab-components",
            Tab::Timeline => "tab-timeline",
            Tab::Profiler => "tab-profiler",
            Tab::Sessions => "tab-sessions",
        }
    }
}

/// The panel.
#[function_component(App)]
pub fn app() -> Html {
    let store = use_reducer(Store::default);
    let tab = use_state(|| Tab::Components);
    let tree_filter = use_state(String::new);
    let bench_report = use_state(|| None::<String>);
    let bridge = {
        let d = store.dispatcher();
        use_memo((), move |_| {
            Bridge::new(Callback::from(move |a| d.dispatch(a)))
        })
    };

    {
        let bridge = Rc::clone(&bridge);
        let d = store.dispatcher();
        let model = Rc::clone(&store.model);
        let bench_report = bench_report.clone();
        let tab = tab.clone();
        use_effect_with((), move |_| {
            let start = launch(&browser::href());
            match start.plan {
                Plan::Connect(url) => bridge.connect(url),
                Plan::WaitForHost => d.dispatch(Action::Status(ConnStatus::WaitingForHost)),
                Plan::Offline => {}
            }
            if let Some(n) = start.bench {
                tab.set(Tab::Timeline);
                crate::bench_run::start(n, model, d, bench_report.setter());
            }
            let listener = bridge.listen_host();
            move || drop(listener)
        });
    }
    {
        // Effects queued by the reducer run after the render that showed them.
        let bridge = Rc::clone(&bridge);
        let model = Rc::clone(&store.model);
        let d = store.dispatcher();
        use_effect_with(store.generation, move |_| {
            let effects = model.borrow_mut().take_effects();
            for e in effects {
                match e {
                    Effect::Send(cmd) => {
                        if let Err(err) = bridge.send(&cmd) {
                            tracing::warn!(%err, "command not sent");
                            d.dispatch(Action::Failed(format!("command not sent: {err}")));
                        }
                    }
                    Effect::Disconnect(why) => bridge.close(ConnStatus::Closed(why)),
                    Effect::Download { name, text } => {
                        if let Err(err) = browser::download(&name, &text) {
                            tracing::warn!(%err, "download failed");
                            d.dispatch(Action::Failed(format!("download of {name} failed: {err}")));
                        }
                    }
                }
            }
        });
    }

    let dispatch = |f: fn(()) -> Action| {
        let d = store.dispatcher();
        Callback::from(move |_: MouseEvent| d.dispatch(f(())))
    };
    let model = store.model.borrow();
    let body = match status_screen(&model) {
        Some(screen)
            if model.log.is_empty()
                && matches!(model.source, Source::Live)
                && *tab != Tab::Sessions =>
        {
            screen
        }
        _ => match *tab {
            Tab::Components => components_tab(&store, &model, &tree_filter),
            Tab::Timeline => {
                let d = store.dispatcher();
                let d2 = store.dispatcher();
                let d3 = store.dispatcher();
                let tab = tab.clone();
                let on_show_instance = Callback::from(move |iid| {
                    d3.dispatch(Action::Select(Some(iid)));
                    tab.set(Tab::Components);
                });
                html! { <Timeline store={(*store).clone()} on_filter={Callback::from(move |f| d.dispatch(Action::SetFilter(f)))}
                on_select={Callback::from(move |s| d2.dispatch(Action::SelectRecord(s)))} {on_show_instance} /> }
            }
            Tab::Profiler => {
                let d = store.dispatcher();
                let tab = tab.clone();
                let on_open = Callback::from(move |seq| {
                    d.dispatch(Action::SelectRecord(Some(seq)));
                    tab.set(Tab::Timeline);
                });
                html! { <Profiler store={(*store).clone()} {on_open} /> }
            }
            Tab::Sessions => sessions_tab(&store, &model),
        },
    };
    let tabs = Tab::ALL.iter().map(|&t| {
        let active = *tab == t;
        let tab = tab.clone();
        let onclick = Callback::from(move |_: MouseEvent| tab.set(t));
        html! { <button class={classes!("tab", active.then_some("active"))} {onclick} data-testid={t.testid()}>{t.label()}</button> }
    });
    let live = model.live();
    let picker = {
        let d = store.dispatcher();
        let on = !model.picking;
        Callback::from(move |_: MouseEvent| d.dispatch(Action::Picker(on)))
    };
    let record_toggle = if model.recording {
        dispatch(|_| Action::Pause)
    } else {
        dispatch(|_| Action::Resume)
    };
    let error = model.last_error.clone().map(|e| {
        html! { <div class="banner err" data-testid="error-banner">{e}<button class="btn small" onclick={dispatch(|_| Action::DismissError)}>{"✕"}</button></div> }
    });
    let dropped = model.dropped.max(model.dropped_in_log);
    html! {
        <div class="app">
            <header class="toolbar">
                <button class={classes!("btn", "icon", model.picking.then_some("on"))} onclick={picker} disabled={!live} title="Pick a component in the page" data-testid="picker">{icon(PICK)}</button>
                <button class={classes!("btn", "icon", (!model.recording).then_some("on"))} onclick={record_toggle} disabled={!live}
                    title={ if model.recording { "Pause recording" } else { "Resume recording" } } data-testid="record-toggle"
                    data-recording={model.recording.to_string()}>
                    { icon(if model.recording { PAUSE } else { RECORD }) }
                </button>
                <button class="btn icon" onclick={dispatch(|_| Action::Clear)} title="Clear records" data-testid="clear">{icon(CLEAR)}</button>
                <div class="tabs">{ for tabs }</div>
                <span class="spacer" />
                <span class="stat" data-testid="record-count">{format!("{} records", model.log.len())}</span>
                <span class={classes!("stat", (dropped > 0).then_some("warn"))} data-testid="dropped" title="records lost (ring full or slow panel)">{format!("{dropped} dropped")}</span>
                { status_pill(&model) }
            </header>
            {error}
            if let Some(r) = &*bench_report { <div class="banner" data-testid="bench-report">{r}</div> }
            <main class="body">{body}</main>
        </div>
    }
}

/// Toolbar icon paths (16×16 viewBox).
const PICK: &str = "M8 1v3M8 12v3M1 8h3M12 8h3M8 5.5a2.5 2.5 0 1 0 0 5a2.5 2.5 0 1 0 0-5";
const PAUSE: &str = "M5 3v10M11 3v10";
const RECORD: &str = "M8 3.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9";
const CLEAR: &str = "M8 2a6 6 0 1 0 0 12a6 6 0 1 0 0-12M3.8 3.8l8.4 8.4";

fn icon(path: &'static str) -> Html {
    html! {
        <svg class="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
            <path d={path} fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" />
        </svg>
    }
}

fn status_pill(model: &Model) -> Html {
    let (class, text) = match (&model.source, &model.status) {
        (Source::Imported { name, .. }, _) => ("imported", format!("file: {name}")),
        (_, ConnStatus::Connected) => (
            if model.recording { "ok" } else { "paused" },
            if model.recording {
                "connected".to_owned()
            } else {
                "connected · paused".to_owned()
            },
        ),
        (_, ConnStatus::Connecting) => ("wait", "connecting…".to_owned()),
        (_, ConnStatus::Reconnecting { attempt, delay_ms }) => (
            "wait",
            format!(
                "reconnecting (attempt {attempt}, in {})",
                fmt_us(u64::from(*delay_ms) * 1000)
            ),
        ),
        (_, ConnStatus::Closed(why)) => ("bad", format!("closed: {why}")),
        (_, ConnStatus::Idle) => ("idle", "not connected".to_owned()),
        (_, ConnStatus::WaitingForHost) => ("wait", "waiting for the page".to_owned()),
        (_, ConnStatus::NoRuntime) => ("idle", "no runtime".to_owned()),
        (_, ConnStatus::ChannelOff) => ("bad", "debug channel off".to_owned()),
    };
    let state = match &model.status {
        ConnStatus::Connected => "connected",
        ConnStatus::Connecting => "connecting",
        ConnStatus::Reconnecting { .. } => "reconnecting",
        ConnStatus::Closed(_) => "closed",
        ConnStatus::Idle => "idle",
        ConnStatus::WaitingForHost => "waiting",
        ConnStatus::NoRuntime => "no-runtime",
        ConnStatus::ChannelOff => "channel-off",
    };
    html! { <span class={classes!("pill", class)} data-testid="conn-status" data-state={state}>{text}</span> }
}

fn status_screen(model: &Model) -> Option<Html> {
    let (title, text, testid) = match &model.status {
        ConnStatus::NoRuntime => ("This page has no fluxlive runtime", "Open a page served by a fluxlive app, or import a session file from the Sessions tab.".to_owned(), "no-runtime"),
        ConnStatus::ChannelOff => (
            "The page's debug channel is off",
            "Enable it with FLUXLIVE_DEBUG=1 or LiveConfig::debug, then reload the page.".to_owned(),
            "channel-off",
        ),
        ConnStatus::WaitingForHost => ("Waiting for the page…", "Looking for a fluxlive runtime in the inspected page.".to_owned(), "waiting"),
        ConnStatus::Idle => (
            "Not connected",
            "Open this panel from a runtime (/__live/devtools?token=…) or with ?ws=<debug url>&token=<token>, or import a session file from the Sessions tab.".to_owned(),
            "idle",
        ),
        ConnStatus::Connecting => ("Connecting…", String::new(), "connecting"),
        ConnStatus::Reconnecting { attempt, delay_ms } => (
            "Connection lost",
            format!("Reconnecting: attempt {attempt}, next try in {delay_ms} ms."),
            "reconnecting",
        ),
        ConnStatus::Closed(why) => ("Connection closed", why.clone(), "closed"),
        ConnStatus::Connected => return None,
    };
    Some(html! {
        <div class="status-screen" data-testid="status-screen" data-state={testid}>
            <h2>{title}</h2>
            <p>{text}</p>
        </div>
    })
}

fn components_tab(
    store: &UseReducerHandle<Store>,
    model: &Model,
    tree_filter: &UseStateHandle<String>,
) -> Html {
    let items: Rc<Vec<TreeItem>> = Rc::new(
        model
            .instances
            .list()
            .iter()
            .map(|i| TreeItem {
                iid: i.iid,
                id: i.id.clone(),
                component: i.component.clone(),
                conn: i.conn,
                version: i.version,
                live: i.live,
                travelling: i.travelling,
            })
            .collect(),
    );
    let on_filter = {
        let f = tree_filter.clone();
        Callback::from(move |s: String| f.set(s))
    };
    let on_select = {
        let d = store.dispatcher();
        Callback::from(move |iid| d.dispatch(Action::Select(Some(iid))))
    };
    let on_hover = {
        let d = store.dispatcher();
        Callback::from(move |(iid, on)| d.dispatch(Action::Hover(iid, on)))
    };
    let selected = model.selected.and_then(|iid| model.instances.by_iid(iid));
    let detail = match (selected, model.selected) {
        (Some(inst), _) => {
            let item = items.iter().find(|i| i.iid == inst.iid).cloned();
            let preview = model
                .preview
                .as_ref()
                .filter(|p| p.iid == inst.iid)
                .map(|p| (p.version, p.state.clone().map(|s| s.map(Rc::new))));
            // A gone instance can only be previewed.
            let live = model.live() && inst.live;
            let iid = inst.iid;
            let on_travel = {
                let d = store.dispatcher();
                Callback::from(move |v| {
                    d.dispatch(if live {
                        Action::TimeTravel(iid, v)
                    } else {
                        Action::Preview(iid, v)
                    })
                })
            };
            let on_back = {
                let d = store.dispatcher();
                Callback::from(move |_| {
                    d.dispatch(if live {
                        Action::BackToLive(iid)
                    } else {
                        Action::EndPreview
                    })
                })
            };
            let on_dispatch = {
                let d = store.dispatcher();
                Callback::from(move |(method, args)| {
                    d.dispatch(Action::Dispatch { iid, method, args })
                })
            };
            let on_refresh = {
                let d = store.dispatcher();
                Callback::from(move |_| d.dispatch(Action::Refresh))
            };
            let travel_at = preview.as_ref().map(|p| p.0);
            item.map(|item| {
                html! {
                    <div class="detail">
                        <Inspector item={item} state={inst.state.clone().map(Rc::new)} props={Rc::new(inst.props.clone())} preview={preview} {on_refresh} />
                        <Travel iid={iid} history={Rc::new(inst.history.clone())} at={travel_at} travelling={inst.travelling} live={live} {on_travel} {on_back} />
                        <Dispatch iid={iid} actions={model.actions_of(&inst.component)} last={model.dispatch.clone()} enabled={live} {on_dispatch} />
                    </div>
                }
            })
            .unwrap_or_default()
        }
        (None, Some(iid)) => {
            html! { <div class="detail empty">{format!("Instance {iid} is not known to the panel yet")}</div> }
        }
        (None, None) => {
            html! { <div class="detail empty">{"Select a component (or use the picker in the toolbar to click one in the page)"}</div> }
        }
    };
    html! {
        <div class="split">
            <Tree items={items} selected={model.selected} filter={AttrValue::from((**tree_filter).clone())} {on_filter} {on_select} {on_hover} />
            {detail}
        </div>
    }
}

fn sessions_tab(store: &UseReducerHandle<Store>, model: &Model) -> Html {
    let d = store.dispatcher();
    let on_export = {
        let d = d.clone();
        Callback::from(move |_| d.dispatch(Action::Export))
    };
    let on_export_otlp = {
        let d = d.clone();
        Callback::from(move |_| d.dispatch(Action::ExportOtlp))
    };
    let on_import = {
        let d = d.clone();
        Callback::from(move |(name, text): (String, String)| {
            d.dispatch(Action::Import {
                name,
                text: text.into(),
            })
        })
    };
    let on_replay = {
        let d = d.clone();
        Callback::from(move |_| d.dispatch(Action::Replay))
    };
    let on_return = Callback::from(move |_| d.dispatch(Action::ReturnToLive));
    html! {
        <Sessions source={model.source.clone()} connected={model.connected()} has_session={model.session_text.is_some()}
            records={model.log.len()} ignored_live={model.ignored_live} replay={model.replay.clone()}
            exporting={model.exporting()} otlp={model.can_export_otlp()}
            {on_export} {on_export_otlp} {on_import} {on_replay} {on_return} />
    }
}
