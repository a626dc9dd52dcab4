//! Drives `?bench=N` in the browser: ingest in chunks, time a filter pass
//! and the first render, then scroll the timeline to spread-out positions
//! and time each scroll-to-render.

use crate::bench::{on_scroll, synth, take_samples};
use crate::browser::{now, wasm_memory_bytes};
use crate::filter::TimelineFilter;
use crate::store::{Action, Model, Store};
use crate::window::scroll_for;
use gloo::timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::{UseReducerDispatcher, UseStateSetter};

const CHUNK: usize = 100_000;
const SCROLLS: usize = 20;

/// Starts the benchmark for `n` records; the report text goes to `report`.
pub fn start(
    n: usize,
    model: Rc<RefCell<Model>>,
    d: UseReducerDispatcher<Store>,
    report: UseStateSetter<Option<String>>,
) {
    report.set(Some(format!("bench: synthesizing {n} records…")));
    Timeout::new(100, move || {
        let mut ingest_ms = 0.0;
        let mut synth_ms = 0.0;
        let mut seq = 1u64;
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK);
            let t0 = now();
            let recs = synth(seq, k);
            let t1 = now();
            model.borrow_mut().ingest(&recs);
            ingest_ms += now() - t1;
            synth_ms += t1 - t0;
            seq += k as u64;
            left -= k;
        }
        let t0 = now();
        model.borrow_mut().apply(Action::SetFilter(TimelineFilter { errors_only: true, ..TimelineFilter::default() }));
        let errors = model.borrow().filtered.len();
        model.borrow_mut().apply(Action::SetFilter(TimelineFilter::default()));
        let filter_ms = now() - t0;
        let t0 = now();
        let profiled = {
            let m = model.borrow();
            crate::stats::profile(&m.log, |i| m.instances.get(i).map(|x| x.component.as_str()), 60).components.len()
        };
        let profile_ms = now() - t0;
        let (log_mb, rows) = {
            let m = model.borrow();
            (m.log.memory_bytes() as f64 / 1_048_576.0, m.log.len())
        };
        let head = format!(
            "bench: {rows} records ingested in {ingest_ms:.0} ms ({:.0} k records/s; synthesis {synth_ms:.0} ms not counted); \
             errors-only filter + reset {filter_ms:.0} ms ({errors} errors); profiler pass {profile_ms:.0} ms ({profiled} types); log {log_mb:.1} MiB; wasm memory {:.0} MiB",
            rows as f64 / ingest_ms.max(0.001),
            wasm_memory_bytes() / 1_048_576.0,
        );
        report.set(Some(format!("{head}; rendering…")));
        // The first render after ingest counts as one "scroll" sample.
        take_samples();
        on_scroll(now());
        d.dispatch(Action::Synthetic(Rc::new(Vec::new())));
        scroll_step(0, rows, head, report, None);
    })
    .forget();
}

fn scroll_step(
    i: usize,
    rows: usize,
    head: String,
    report: UseStateSetter<Option<String>>,
    first_render: Option<f64>,
) {
    Timeout::new(60, move || {
        // The first sample is the render right after ingest, not a scroll.
        let first_render = first_render.or_else(|| take_samples().first().copied());
        if i < SCROLLS {
            let list = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector("[data-testid=timeline-list]").ok().flatten())
                .and_then(|e| e.dyn_into::<web_sys::Element>().ok());
            if let Some(list) = list {
                // Spread the jumps over the whole list, never twice the same place.
                let target = (i * 7919 + 13) % rows.max(1);
                let view = f64::from(list.client_height());
                let top = scroll_for(rows, crate::views::timeline::ROW_H, view, target);
                list.set_scroll_top(top as i32);
            }
            scroll_step(i + 1, rows, head, report, first_render);
            return;
        }
        let mut samples = take_samples();
        samples.sort_by(f64::total_cmp);
        let first = samples.first().copied().unwrap_or(f64::NAN);
        let median = samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN);
        let max = samples.last().copied().unwrap_or(f64::NAN);
        report.set(Some(format!(
            "{head}; first render {:.1} ms; scroll → rendered: {} samples, median {median:.1} ms, max {max:.1} ms (fastest {first:.1} ms)",
            first_render.unwrap_or(f64::NAN),
            samples.len()
        )));
    })
    .forget();
}
