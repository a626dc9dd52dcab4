//! The only code that touches a WebSocket or `postMessage`: the debug socket
//! (with reconnects and backoff) and the extension host page's messages.

use crate::connect::{parse_host_message, with_token, HostMessage};
use crate::store::{Action, ConnStatus};
use fluxlive_protocol::debug::{HubFrame, PanelCommand};
use gloo::events::EventListener;
use gloo::timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};
use yew::Callback;

/// `source` of the panel's own messages to its host page.
pub const READY_SOURCE: &str = "fluxlive-panel";

/// First reconnect delay, ms; doubled per failed attempt up to [`MAX_DELAY_MS`].
const FIRST_DELAY_MS: u32 = 250;
/// Longest reconnect delay, ms.
const MAX_DELAY_MS: u32 = 5_000;

/// The delay before reconnect attempt `attempt` (1-based).
pub fn backoff_ms(attempt: u32) -> u32 {
    FIRST_DELAY_MS
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_DELAY_MS)
}

/// Why a command could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No open socket.
    #[error("the debug socket is not open")]
    NotOpen,
    /// The browser refused the frame.
    #[error("the browser refused to send: {0}")]
    Refused(String),
}

struct Handlers {
    _open: Closure<dyn FnMut(Event)>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

struct Inner {
    url: Option<String>,
    ws: Option<WebSocket>,
    handlers: Option<Handlers>,
    retry: Option<Timeout>,
    attempt: u32,
    /// Bumped per socket so a late event from an old socket is ignored.
    generation: u32,
    on_action: Callback<Action>,
}

/// The debug connection.
#[derive(Clone)]
pub struct Bridge {
    inner: Rc<RefCell<Inner>>,
}

impl PartialEq for Bridge {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Bridge {
    /// A bridge that reports socket states and frames as store actions.
    pub fn new(on_action: Callback<Action>) -> Self {
        Self {
            inner: Rc::new(RefCell::new(Inner {
                url: None,
                ws: None,
                handlers: None,
                retry: None,
                attempt: 0,
                generation: 0,
                on_action,
            })),
        }
    }

    /// Connects to `url` (closing any current socket), reconnecting on loss.
    pub fn connect(&self, url: String) {
        self.shut();
        {
            let mut inner = self.inner.borrow_mut();
            inner.url = Some(url);
            inner.attempt = 0;
        }
        open(&self.inner);
    }

    /// Closes the socket for good and reports `status`.
    pub fn close(&self, status: ConnStatus) {
        self.shut();
        self.inner.borrow_mut().url = None;
        let cb = self.inner.borrow().on_action.clone();
        cb.emit(Action::Status(status));
    }

    fn shut(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.generation = inner.generation.wrapping_add(1);
        inner.retry = None;
        if let Some(ws) = inner.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        inner.handlers = None;
    }

    /// Sends a command.
    pub fn send(&self, cmd: &PanelCommand) -> Result<(), SendError> {
        let inner = self.inner.borrow();
        let ws = inner
            .ws
            .as_ref()
            .filter(|ws| ws.ready_state() == WebSocket::OPEN)
            .ok_or(SendError::NotOpen)?;
        let text = serde_json::to_string(cmd).map_err(|e| SendError::Refused(e.to_string()))?;
        ws.send_with_str(&text)
            .map_err(|e| SendError::Refused(format!("{e:?}")))
    }

    /// Listens for the extension host page's messages (`connect`,
    /// `no-runtime`, `channel-off`), then posts `{source: "fluxlive-panel",
    /// type: "ready"}` so a host that spoke before the listener existed
    /// repeats itself. The listener stops when dropped.
    pub fn listen_host(&self) -> Option<EventListener> {
        let window = web_sys::window()?;
        let bridge = self.clone();
        let listener = EventListener::new(&window, "message", move |e| {
            let Some(e) = e.dyn_ref::<MessageEvent>() else {
                return;
            };
            let Some(json) = js_sys::JSON::stringify(&e.data())
                .ok()
                .and_then(|s| s.as_string())
            else {
                return;
            };
            match parse_host_message(&json) {
                Some(HostMessage::Connect { url, token }) => {
                    let url = with_token(&url, token.as_deref());
                    let same = bridge.inner.borrow().url.as_deref() == Some(url.as_str());
                    if !same {
                        tracing::info!(%url, "host page named the debug socket");
                        bridge.connect(url);
                    }
                }
                Some(HostMessage::NoRuntime) => bridge.close(ConnStatus::NoRuntime),
                Some(HostMessage::ChannelOff) => bridge.close(ConnStatus::ChannelOff),
                None => {}
            }
        });
        let ready = js_sys::Object::new();
        let set = |k: &str, v: &str| js_sys::Reflect::set(&ready, &k.into(), &v.into());
        if set("source", READY_SOURCE)
            .and_then(|_| set("type", "ready"))
            .is_ok()
        {
            let origin = window.location().origin().unwrap_or_else(|_| "*".into());
            // Some pages (file://) have an opaque origin that postMessage refuses.
            let target = if origin == "null" {
                "*"
            } else {
                origin.as_str()
            };
            if let Err(e) = window.post_message(&ready, target) {
                tracing::debug!(?e, "could not announce readiness to the host page");
            }
        }
        Some(listener)
    }
}

fn emit(inner: &Rc<RefCell<Inner>>, action: Action) {
    // Clone the callback first: the store may call back into the bridge.
    let cb = inner.borrow().on_action.clone();
    cb.emit(action);
}

fn open(inner: &Rc<RefCell<Inner>>) {
    let Some(url) = inner.borrow().url.clone() else {
        return;
    };
    emit(inner, Action::Status(ConnStatus::Connecting));
    let ws = match WebSocket::new(&url) {
        Ok(ws) => ws,
        Err(e) => {
            tracing::warn!(?e, "cannot open the debug socket");
            schedule_retry(inner);
            return;
        }
    };
    let generation = inner.borrow().generation;
    let weak = Rc::downgrade(inner);
    let live =
        move |w: &Weak<RefCell<Inner>>| w.upgrade().filter(|i| i.borrow().generation == generation);
    let on_open = {
        let weak = weak.clone();
        Closure::<dyn FnMut(Event)>::new(move |_| {
            if let Some(inner) = live(&weak) {
                inner.borrow_mut().attempt = 0;
                emit(&inner, Action::Status(ConnStatus::Connected));
            }
        })
    };
    let on_message = {
        let weak = weak.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(inner) = live(&weak) else { return };
            let Some(text) = e.data().as_string() else {
                emit(
                    &inner,
                    Action::BadFrame("binary frame on the debug socket".into()),
                );
                return;
            };
            match serde_json::from_str::<HubFrame>(&text) {
                Ok(frame) => emit(&inner, Action::Frame(Box::new(frame))),
                Err(err) => emit(&inner, Action::BadFrame(err.to_string())),
            }
        })
    };
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        let Some(inner) = live(&weak) else { return };
        tracing::info!(code = e.code(), reason = %e.reason(), "debug socket closed");
        {
            let mut i = inner.borrow_mut();
            i.ws = None;
            i.handlers = None;
        }
        schedule_retry(&inner);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let mut i = inner.borrow_mut();
    i.ws = Some(ws);
    i.handlers = Some(Handlers {
        _open: on_open,
        _message: on_message,
        _close: on_close,
    });
}

fn schedule_retry(inner: &Rc<RefCell<Inner>>) {
    let attempt = {
        let mut i = inner.borrow_mut();
        i.attempt += 1;
        i.attempt
    };
    let delay_ms = backoff_ms(attempt);
    emit(
        inner,
        Action::Status(ConnStatus::Reconnecting { attempt, delay_ms }),
    );
    let weak = Rc::downgrade(inner);
    let generation = inner.borrow().generation;
    let timer = Timeout::new(delay_ms, move || {
        if let Some(inner) = weak
            .upgrade()
            .filter(|i| i.borrow().generation == generation)
        {
            inner.borrow_mut().retry = None;
            open(&inner);
        }
    });
    inner.borrow_mut().retry = Some(timer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_ms(1), 250);
        assert_eq!(backoff_ms(2), 500);
        assert_eq!(backoff_ms(3), 1_000);
        assert_eq!(backoff_ms(6), 5_000);
        assert_eq!(backoff_ms(1_000), 5_000);
    }
}
