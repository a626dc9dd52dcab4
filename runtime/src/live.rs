//! [`Live`]: the handle users build, mount on a router and query.

use crate::component::Component;
use crate::config::Config;
use crate::debug::{DebugConfig, DebugSettings};
use crate::instance::{CallMsg, Factory, Msg, ReplyTo, TypedFactory};
use crate::runtime::Runtime;
use crate::signing::Signer;
use crate::ActionError;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use fluxlive_instrumentation::Recorder;
use fluxlive_protocol::record::CallSource;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A fluxlive runtime: registered component types, live sessions and
/// instances, and the recorder. Cheap to clone.
#[derive(Clone)]
pub struct Live {
    pub(crate) rt: Arc<Runtime>,
}

/// Live counts, for health checks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Open WebSocket connections.
    pub connections: usize,
    /// Sessions held (connected or within their grace period).
    pub sessions: usize,
    /// Live instances.
    pub instances: usize,
    /// Instances mounted since start.
    pub total_mounted: u64,
    /// Patch frames encoded since start: one per state change, however
    /// many connections share the instance.
    pub patches_encoded: u64,
}

/// Converts an exported session to another file format (see
/// [`LiveBuilder::export_format`]).
pub type ExportFormat =
    Arc<dyn Fn(&fluxlive_protocol::session::Session) -> Result<String, String> + Send + Sync>;

/// Builds a [`Live`].
pub struct LiveBuilder {
    config: Config,
    factories: HashMap<&'static str, Arc<dyn Factory>>,
    recorder: Option<Recorder>,
    debug: Option<DebugConfig>,
    secret: Option<Vec<u8>>,
    rehydration: bool,
    snapshot_max_age: Duration,
    export_formats: HashMap<String, ExportFormat>,
}

impl Live {
    /// Starts building a runtime.
    pub fn builder() -> LiveBuilder {
        LiveBuilder {
            config: Config::default(),
            factories: HashMap::new(),
            recorder: None,
            debug: None,
            secret: None,
            rehydration: true,
            snapshot_max_age: Duration::from_secs(24 * 3600),
            export_formats: HashMap::new(),
        }
    }

    /// The routes: `/__live/ws`, `/__live/client.js`, and — when the debug
    /// channel is on — `/__live/debug` and `/__live/devtools`.
    ///
    /// Serve the router with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so the debug
    /// channel can check that peers are loopback; without it the debug
    /// channel refuses every peer.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let mut r = Router::new()
            .route(crate::WS_PATH, get(ws_upgrade))
            .route(crate::CLIENT_PATH, get(client_js))
            .route("/__live/live.js", get(client_js))
            .route("/__live/live-extras.js", get(client_extras_js));
        if self.rt.debug.is_some() {
            r = crate::debug::routes(r);
        }
        r.with_state(self.clone())
    }

    /// Live counts.
    pub fn stats(&self) -> Stats {
        Stats {
            connections: self.rt.connections.load(Ordering::Relaxed),
            sessions: self.rt.session_count(),
            instances: self.rt.instance_count(),
            total_mounted: self.rt.total_mounted.load(Ordering::Relaxed),
            patches_encoded: self.rt.patches_encoded.sum(),
        }
    }

    /// The recorder (disabled unless recording was turned on).
    pub fn recorder(&self) -> &Recorder {
        &self.rt.recorder
    }

    /// The debug channel token, when the channel is on.
    pub fn debug_token(&self) -> Option<&str> {
        self.rt.debug.as_ref().map(|d| d.token.as_str())
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.rt.config
    }

    /// Calls an action on a live instance by its global number, as the
    /// DevTools dispatch command does.
    pub async fn dispatch(
        &self,
        iid: u64,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, ActionError> {
        call_iid(&self.rt, iid, method, args, CallSource::Debug).await
    }
}

pub(crate) async fn call_iid(
    rt: &Arc<Runtime>,
    iid: u64,
    method: &str,
    args: Vec<Value>,
    source: CallSource,
) -> Result<Value, ActionError> {
    let gone = || ActionError::NotLive {
        iid,
        method: method.to_owned(),
    };
    let h = rt.instance(iid).ok_or_else(gone)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    h.shared
        .tx
        .send(Msg::Call(Box::new(CallMsg {
            method: method.to_owned(),
            args,
            trace: None,
            source,
            reply: ReplyTo::Channel(tx),
            key: None,
            hops: 0,
        })))
        .await
        .map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

impl LiveBuilder {
    /// Registers a component type under its name.
    pub fn component<C: Component>(mut self) -> Self {
        self.factories
            .insert(C::NAME, Arc::new(TypedFactory::<C>::new()));
        self
    }

    /// The key that signs client-held states for rehydration. Without one
    /// (and without `FLUXLIVE_SECRET`), a random key is made per start:
    /// rehydration then works within one process but not across restarts.
    pub fn secret(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(key.into());
        self
    }

    /// Offers another session export format on the debug channel (`export`
    /// with `format: name`, announced as the `export:<name>` capability), e.g.
    /// `.export_format("otlp-json", |s| Ok(fluxlive_otel::session_to_otlp_json(s)))`.
    pub fn export_format(
        mut self,
        name: impl Into<String>,
        convert: impl Fn(&fluxlive_protocol::session::Session) -> Result<String, String>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.export_formats.insert(name.into(), Arc::new(convert));
        self
    }

    /// Signed rehydration on (default) or off.
    pub fn rehydration(mut self, on: bool) -> Self {
        self.rehydration = on;
        self
    }

    /// Oldest signed state accepted for rehydration (default 24 h).
    pub fn snapshot_max_age(mut self, d: Duration) -> Self {
        self.snapshot_max_age = d;
        self
    }

    /// Largest app frame accepted (default 64 KiB).
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// How long a disconnected session is kept for resume (default 30 s).
    pub fn grace(mut self, d: Duration) -> Self {
        self.config.grace = d;
        self
    }

    /// Capacity of each instance's mailbox (default 256).
    pub fn mailbox(mut self, n: usize) -> Self {
        self.config.mailbox = n.max(1);
        self
    }

    /// Capacity of each connection's outbox (default 1024 frames).
    pub fn outbox(mut self, n: usize) -> Self {
        self.config.outbox = n.max(1);
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Records into this recorder (default: disabled, unless the debug
    /// channel is on, which turns on a default recorder).
    pub fn recorder(mut self, rec: Recorder) -> Self {
        self.recorder = Some(rec);
        self
    }

    /// Turns the debug channel on with these settings.
    pub fn debug(mut self, cfg: DebugConfig) -> Self {
        self.debug = Some(cfg);
        self
    }

    /// Turns the debug channel on when `FLUXLIVE_DEBUG` is `1`/`true`
    /// (token from `FLUXLIVE_DEBUG_TOKEN`, random otherwise).
    pub fn debug_from_env(mut self) -> Self {
        if let Some(cfg) = DebugConfig::from_env() {
            self.debug = Some(cfg);
        }
        self
    }

    /// Builds the runtime. Must be called inside a tokio runtime when a
    /// recorder is enabled.
    pub fn build(self) -> Live {
        let debug = self.debug.map(DebugSettings::from);
        let recorder = match (self.recorder, &debug) {
            (Some(r), _) => r,
            (None, Some(_)) => Recorder::builder().build(),
            (None, None) => Recorder::disabled(),
        };
        for f in self.factories.values() {
            recorder.register_type(f.meta());
        }
        let signer = self.rehydration.then(|| {
            let key = self
                .secret
                .or_else(|| std::env::var("FLUXLIVE_SECRET").ok().filter(|s| !s.is_empty()).map(String::into_bytes))
                .unwrap_or_else(|| {
                    tracing::warn!(
                        target: "fluxlive::config",
                        "no rehydration secret configured (LiveBuilder::secret or FLUXLIVE_SECRET): using a random key, so clients cannot rehydrate across a server restart"
                    );
                    rand::random::<[u8; 32]>().to_vec()
                });
            Signer::new(key, self.snapshot_max_age)
        });
        Live {
            rt: Arc::new(Runtime::new(
                self.config,
                self.factories,
                recorder,
                debug,
                signer,
                self.export_formats,
            )),
        }
    }
}

/// Serves `app` on `listener` the way fluxlive wants: with peer addresses
/// (the debug channel checks them) and `TCP_NODELAY` on every connection
/// (a patch, an event and a reply leave as separate small writes; without
/// it Nagle's algorithm holds them back for tens of milliseconds).
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// fluxlive::serve(listener, app).await
/// # }
/// ```
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    serve_until(listener, app, std::future::pending()).await
}

/// [`serve`] until `shutdown` completes, then finish open requests.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(target: "fluxlive::ws", error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The peer address, when the server was started with connect info.
pub(crate) struct Peer(pub(crate) Option<SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

async fn ws_upgrade(
    State(live): State<Live>,
    Peer(peer): Peer,
    ws: WebSocketUpgrade,
) -> impl IntoResponse {
    let rt = live.rt.clone();
    // The hard limit sits well above `max_frame`, so oversized frames up to
    // it get a `frame_too_large` error and the connection lives on; beyond
    // it the socket closes with 1009. Small buffers keep idle sessions cheap;
    // the write buffer lets the frames queued at one flush (patch, event,
    // reply) leave in one `send` instead of three (the writer always flushes).
    let hard = rt.config.max_frame.saturating_mul(4).max(1024);
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| crate::ws::serve(rt, socket, peer))
}

async fn client_js() -> impl IntoResponse {
    javascript(crate::CLIENT_JS)
}

async fn client_extras_js() -> impl IntoResponse {
    javascript(crate::CLIENT_EXTRAS_JS)
}

fn javascript(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
