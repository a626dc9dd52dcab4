//! The profiler: per-component costs, the slowest records, and a chart of
//! action and render time over the recording.

use crate::describe::{fmt_ts, fmt_us};
use crate::stats::{profile, Profile, Summary};
use crate::store::Store;
use yew::prelude::*;

/// Props of [`Profiler`].
#[derive(Properties, PartialEq)]
pub struct ProfilerProps {
    /// The store.
    pub store: Store,
    /// Open a record in the timeline.
    pub on_open: Callback<u64>,
}

const BUCKETS: usize = 60;

/// `len` rounded down to a step of 1/128 of the next power of two (under 1.6 %
/// of `len`, and the same step across a whole power-of-two range so the
/// rounded value only moves forward): the profile is recomputed when it changes.
pub fn refresh_point(len: usize) -> usize {
    let step = (len.next_power_of_two() / 128).max(1);
    len - len % step
}

/// The profiler.
#[function_component(Profiler)]
pub fn profiler(p: &ProfilerProps) -> Html {
    let model = p.store.model.borrow();
    let key = (
        refresh_point(model.log.len()),
        model.log.rows().first().map(|r| r.seq),
    );
    let prof = {
        let model_rc = p.store.model.clone();
        // A full pass over the rows, so redone only when the log grew ~1.6 %
        // (or was cleared): a live stream into a million rows stays smooth.
        use_memo(key, move |_| {
            let m = model_rc.borrow();
            profile(
                &m.log,
                |i| m.instances.get(i).map(|x| x.component.as_str()),
                BUCKETS,
            )
        })
    };
    let slow_list = |title: &str, rows: &[u32], testid: &'static str| {
        html! {
            <div class="slowest" data-testid={testid}>
                <div class="section-title">{title.to_owned()}</div>
                if rows.is_empty() { <div class="empty">{"none recorded"}</div> }
                { for rows.iter().filter_map(|&i| model.log.row(i).map(|r| (i, *r))).map(|(_, r)| {
                    let seq = r.seq;
                    let onclick = p.on_open.reform(move |_: MouseEvent| seq);
                    let who = model.instances.get(r.inst).map(|x| format!("{}#{}", x.component, x.id)).unwrap_or_default();
                    let name = model.log.names.name(r.name).to_owned();
                    html! {
                        <div class="slow-row" {onclick} title="open in timeline">
                            <span class="c-dur">{fmt_us(u64::from(r.dur_us))}</span>
                            <span class="c-inst">{who}</span>
                            <span class="c-sum">{ if name.is_empty() { format!("v{}", r.version) } else { name } }</span>
                            <span class="dim">{format!("#{seq}")}</span>
                        </div>
                    }
                }) }
            </div>
        }
    };
    html! {
        <div class="profiler" data-testid="profiler">
            { cost_table(&prof) }
            { chart(&prof) }
            <div class="slow-lists">
                { slow_list("Slowest actions", &prof.slowest_actions, "slowest-actions") }
                { slow_list("Slowest renders", &prof.slowest_renders, "slowest-renders") }
            </div>
        </div>
    }
}

fn cells(s: &Summary) -> Html {
    if s.count == 0 {
        return html! { <><td>{"0"}</td><td /><td /><td /></> };
    }
    html! {
        <>
            <td>{s.count}</td>
            <td>{fmt_us(u64::from(s.p50))}</td>
            <td>{fmt_us(u64::from(s.p95))}</td>
            <td>{fmt_us(u64::from(s.max))}</td>
        </>
    }
}

fn cost_table(prof: &Profile) -> Html {
    html! {
        <table class="cost-table" data-testid="profiler-table">
            <tr>
                <th rowspan="2">{"component"}</th>
                <th colspan="4">{"actions"}</th><th colspan="4">{"server diff + encode"}</th><th colspan="4">{"client render"}</th>
            </tr>
            <tr>
                { for (0..3).map(|_| html! { <><th>{"n"}</th><th>{"p50"}</th><th>{"p95"}</th><th>{"max"}</th></> }) }
            </tr>
            if prof.components.is_empty() { <tr><td colspan="13" class="empty">{"no component records yet"}</td></tr> }
            { for prof.components.iter().map(|c| html! {
                <tr data-testid="profiler-row" data-component={c.component.clone()}>
                    <td class="ty">{&c.component}</td>
                    {cells(&c.actions)}{cells(&c.diffs)}{cells(&c.renders)}
                </tr>
            }) }
        </table>
    }
}

fn chart(prof: &Profile) -> Html {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let max = prof
        .buckets
        .iter()
        .map(|b| b.action_us.max(b.render_us))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bw = W / prof.buckets.len().max(1) as f64;
    html! {
        <div class="chart">
            <div class="section-title">{format!("Action and render time per {} (max {})", fmt_us(prof.bucket_us), fmt_us(max as u64))}
                <span class="legend a">{"actions"}</span><span class="legend r">{"renders"}</span></div>
            <svg viewBox={format!("0 0 {W} {H}")} preserveAspectRatio="none" data-testid="profiler-chart" class="chart-svg">
                { for prof.buckets.iter().enumerate().map(|(i, b)| {
                    let x = i as f64 * bw;
                    let ha = b.action_us as f64 / max * (H - 4.0);
                    let hr = b.render_us as f64 / max * (H - 4.0);
                    let title = format!("{}s: {} actions ({}), {} renders ({})", fmt_ts(b.start_us), b.actions, fmt_us(b.action_us), b.renders, fmt_us(b.render_us));
                    html! {
                        <g>
                            <title>{title}</title>
                            <rect class="bar-a" x={format!("{:.1}", x + 0.5)} y={format!("{:.1}", H - ha)} width={format!("{:.1}", (bw / 2.0 - 0.5).max(0.5))} height={format!("{ha:.1}")} />
                            <rect class="bar-r" x={format!("{:.1}", x + bw / 2.0)} y={format!("{:.1}", H - hr)} width={format!("{:.1}", (bw / 2.0 - 0.5).max(0.5))} height={format!("{hr:.1}")} />
                        </g>
                    }
                }) }
            </svg>
            <div class="chart-axis mono">
                <span>{prof.buckets.first().map(|b| format!("{}s", fmt_ts(b.start_us))).unwrap_or_default()}</span>
                <span>{prof.buckets.last().map(|b| format!("{}s", fmt_ts(b.start_us + prof.bucket_us))).unwrap_or_default()}</span>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::refresh_point;

    #[test]
    fn small_logs_refresh_on_every_record_large_ones_per_percent() {
        assert_eq!(refresh_point(0), 0);
        assert_eq!(refresh_point(57), 57);
        assert_eq!(refresh_point(127), 127);
        // 1,000,000 rounds up to 2^20, so the step is 8192
        assert_eq!(refresh_point(1_000_000), 999_424);
        assert_eq!(refresh_point(1_007_615), 999_424);
        assert_eq!(refresh_point(1_007_616), 1_007_616);
        let mut last = 0;
        for len in (0..3_000_000).step_by(997) {
            let p = refresh_point(len);
            assert!(
                p >= last && p <= len && len - p <= len / 60 + 1,
                "{len} -> {p}"
            );
            last = p;
        }
    }
}
