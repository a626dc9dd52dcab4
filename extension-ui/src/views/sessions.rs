//! Export the recording, import a session file, replay it on the server.

use crate::store::Source;
use fluxlive_protocol::debug::ReplayReport;
use gloo::file::callbacks::FileReader;
use gloo::file::File;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Sessions`].
#[derive(Properties, PartialEq)]
pub struct SessionsProps {
    /// Live or imported.
    pub source: Source,
    /// Connected to a runtime.
    pub connected: bool,
    /// A session text is loaded (imported or exported).
    pub has_session: bool,
    /// Records held.
    pub records: usize,
    /// Live records skipped while the import is shown.
    pub ignored_live: u64,
    /// Bytes received of an export in progress.
    #[prop_or_default]
    pub exporting: Option<usize>,
    /// Replay state.
    pub replay: Option<Option<Result<ReplayReport, String>>>,
    /// Export the server's recording.
    pub on_export: Callback<()>,
    /// The runtime offers OTLP/JSON export (`export:otlp-json`).
    #[prop_or_default]
    pub otlp: bool,
    /// Export the server's recording as an OpenTelemetry trace.
    #[prop_or_default]
    pub on_export_otlp: Callback<()>,
    /// A file was read: `(name, text)`.
    pub on_import: Callback<(String, String)>,
    /// Replay the loaded session on the server.
    pub on_replay: Callback<()>,
    /// Show the live runtime again.
    pub on_return: Callback<()>,
}

/// The sessions pane.
#[function_component(Sessions)]
pub fn sessions(p: &SessionsProps) -> Html {
    // The reader must live until it calls back.
    let reader = use_mut_ref(|| None::<FileReader>);
    let onchange = {
        let cb = p.on_import.clone();
        let reader = reader.clone();
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|l| l.get(0)) else {
                return;
            };
            let file = File::from(file);
            let name = file.name();
            let cb = cb.clone();
            let task = gloo::file::callbacks::read_as_text(&file, move |res| match res {
                Ok(text) => cb.emit((name, text)),
                Err(e) => cb.emit((name, format!("unreadable file: {e}"))),
            });
            *reader.borrow_mut() = Some(task);
            input.set_value("");
        })
    };
    let export = p.on_export.reform(|_: MouseEvent| ());
    let export_otlp = p.on_export_otlp.reform(|_: MouseEvent| ());
    let replay = p.on_replay.reform(|_: MouseEvent| ());
    let back = p.on_return.reform(|_: MouseEvent| ());
    let source = match &p.source {
        Source::Live => {
            html! { <span data-testid="session-source" data-source="live">{format!("live runtime · {} records held", p.records)}</span> }
        }
        Source::Imported { name, header } => html! {
            <span data-testid="session-source" data-source="imported">
                {format!("imported {name} · {} records · runtime {} ", header.records, header.runtime)}
                if p.ignored_live > 0 { <span class="dim">{format!("({} live records not shown)", p.ignored_live)}</span> }
            </span>
        },
    };
    let report = match &p.replay {
        None => Html::default(),
        Some(None) => {
            html! { <div class="note" data-testid="replay-report" data-status="running">{"replaying…"}</div> }
        }
        Some(Some(Err(e))) => {
            html! { <div class="note err" data-testid="replay-report" data-status="error">{e}</div> }
        }
        Some(Some(Ok(r))) => match &r.divergence {
            None => html! {
                <div class="note ok" data-testid="replay-report" data-status="match">
                    {format!("Replay matched: {} instances, {} actions, every diff identical", r.instances, r.actions)}
                </div>
            },
            Some(d) => html! {
                <div class="note err" data-testid="replay-report" data-status="diverged">
                    {format!("Diverged at record #{} ({}.{}): {}", d.seq, d.instance, d.method, d.message)}
                    <div class="mono">{format!("expected {}", d.expected)}</div>
                    <div class="mono">{format!("got      {}", d.got)}</div>
                </div>
            },
        },
    };
    html! {
        <div class="sessions" data-testid="sessions">
            <div class="kv"><b>{"Showing"}</b>{source}
                if matches!(p.source, Source::Imported { .. }) && p.connected {
                    <button class="btn small" onclick={back} data-testid="return-live">{"Back to live data"}</button>
                }
            </div>
            <div class="section-title">{"Export"}</div>
            <p class="dim">{"Download the runtime's recorded history as a session file (JSON Lines)."}</p>
            <button class="btn" onclick={export} disabled={!p.connected || p.exporting.is_some()} data-testid="export">{"Export session"}</button>
            if p.otlp {
                {" "}
                <button class="btn" onclick={export_otlp} disabled={!p.connected || p.exporting.is_some()} data-testid="export-otlp"
                    title="The recorded history as an OTLP/JSON trace body: curl -X POST -H 'Content-Type: application/json' --data @file http://collector:4318/v1/traces">
                    {"Export OpenTelemetry (OTLP/JSON)"}</button>
            }
            if let Some(bytes) = p.exporting { <span class="dim" data-testid="export-progress">{format!(" exporting… {bytes} bytes")}</span> }
            <div class="section-title">{"Import"}</div>
            <p class="dim">{"Browse a session file here, with no server."}</p>
            <input type="file" accept=".jsonl,.json,application/json" {onchange} data-testid="import-file" />
            <div class="section-title">{"Replay"}</div>
            <p class="dim">{"Re-run the loaded session on fresh instances on the server and compare every diff."}</p>
            <button class="btn" onclick={replay} disabled={!p.connected || !p.has_session} data-testid="replay">{"Replay on server"}</button>
            {report}
        </div>
    }
}
