//! Time travel for one instance: a slider over its recorded versions.

use gloo::timers::callback::Interval;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Props of [`Travel`].
#[derive(Properties, PartialEq)]
pub struct TravelProps {
    /// Instance.
    pub iid: u64,
    /// Recorded versions, oldest first.
    pub history: Rc<Vec<u64>>,
    /// Version shown (previewed or restored), `None` when live.
    pub at: Option<u64>,
    /// Held in the past on the server.
    pub travelling: bool,
    /// Commands can reach a runtime (otherwise the slider only previews).
    pub live: bool,
    /// Restore (live) or preview (offline) a version.
    pub on_travel: Callback<u64>,
    /// Leave time travel.
    pub on_back: Callback<()>,
}

/// The time-travel bar.
#[function_component(Travel)]
pub fn travel(p: &TravelProps) -> Html {
    let playing = use_state(|| false);
    let n = p.history.len();
    let pos =
        p.at.and_then(|v| p.history.iter().position(|&h| h == v))
            .unwrap_or(n.saturating_sub(1));
    let go = {
        let history = Rc::clone(&p.history);
        let cb = p.on_travel.clone();
        Rc::new(move |i: usize| {
            if let Some(&v) = history.get(i) {
                cb.emit(v);
            }
        })
    };
    {
        // Play steps forward every half second until the newest version.
        let playing = playing.clone();
        let go = Rc::clone(&go);
        use_effect_with((*playing, pos, n), move |&(on, pos, n)| {
            let timer = on.then(|| {
                Interval::new(500, move || {
                    if pos + 1 < n {
                        go(pos + 1);
                    } else {
                        playing.set(false);
                    }
                })
            });
            move || drop(timer)
        });
    }
    let onchange = {
        let go = Rc::clone(&go);
        Callback::from(move |e: Event| {
            let v = e.target_unchecked_into::<HtmlInputElement>().value();
            if let Ok(i) = v.parse::<usize>() {
                go(i);
            }
        })
    };
    let back = {
        let go = Rc::clone(&go);
        Callback::from(move |_: MouseEvent| go(pos.saturating_sub(1)))
    };
    let fwd = {
        let go = Rc::clone(&go);
        Callback::from(move |_: MouseEvent| go((pos + 1).min(n.saturating_sub(1))))
    };
    let play = {
        let playing = playing.clone();
        Callback::from(move |_: MouseEvent| playing.set(!*playing))
    };
    let to_live = {
        let cb = p.on_back.clone();
        let playing = playing.clone();
        Callback::from(move |_: MouseEvent| {
            playing.set(false);
            cb.emit(());
        })
    };
    let label = match p.at {
        Some(v) => format!("v{v} ({}/{n})", pos + 1),
        None => format!("live ({n} versions)"),
    };
    let disabled = n < 2;
    html! {
        <section class="travel" data-testid="travel" data-iid={p.iid.to_string()}>
            <div class="section-title">{"Time travel"}
                if !p.live { <span class="dim">{" (preview only: not connected)"}</span> }
            </div>
            <div class="travel-bar">
                <button class="btn small" onclick={back} disabled={disabled || pos == 0} data-testid="travel-back" title="Step back">{"◀"}</button>
                <button class="btn small" onclick={play} disabled={disabled} data-testid="travel-play" title="Play through the versions">{ if *playing { "Pause" } else { "Play" } }</button>
                <button class="btn small" onclick={fwd} disabled={disabled || pos + 1 >= n} data-testid="travel-forward" title="Step forward">{"▶"}</button>
                <input type="range" min="0" max={n.saturating_sub(1).to_string()} value={pos.to_string()} {onchange} disabled={disabled} data-testid="travel-slider" />
                <span class="mono" data-testid="travel-label">{label}</span>
                <button class="btn small" onclick={to_live} disabled={!p.travelling && p.at.is_none()} data-testid="travel-live">{"Back to live"}</button>
            </div>
        </section>
    }
}
