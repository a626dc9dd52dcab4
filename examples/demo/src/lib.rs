//! The fluxlive demo as a library, so tests, benchmarks and the binary
//! share one app: counters, a todo list, a shared chat and a
//! server-rendered page.

pub mod components;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use components::{Chat, Counter, TodoList};
use fluxlive::{Live, LiveBuilder};

const INDEX: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE: &str = include_str!("../static/style.css");
const CHAT_HTML: &str = include_str!("../static/chat.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const SSR_HTML: &str = include_str!("../static/ssr.html");
const SSR_JS: &str = include_str!("../static/ssr.js");

/// A runtime builder with every demo component registered.
pub fn builder() -> LiveBuilder {
    Live::builder()
        .component::<Counter>()
        .component::<TodoList>()
        .component::<Chat>()
}

/// The demo page, its static files and the runtime's routes.
pub fn app(live: &Live) -> Router {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/chat", get(|| async { Html(CHAT_HTML) }))
        .route("/ssr", get(ssr_page).with_state(live.clone()))
        .route("/static/{file}", get(static_file))
        .merge(live.router())
}

/// A page whose counter is rendered on the server; the page script attaches
/// to that instance instead of mounting one.
async fn ssr_page(State(live): State<Live>) -> Response {
    let mut page = live.ssr();
    let props = serde_json::json!({ "start": 3, "step": 2, "label": "Server-rendered" });
    match page.mount::<Counter>("ssr-counter", props).await {
        Ok(counter) => Html(
            SSR_HTML
                .replace("<!--counter-->", &counter)
                .replace("<!--hydration-->", &page.hydration()),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "server-side render failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server-side render failed",
            )
                .into_response()
        }
    }
}

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, ct) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "chat.js" => (CHAT_JS, "text/javascript; charset=utf-8"),
        "ssr.js" => (SSR_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}
