//! The fluxlive demo as a library, so tests, benchmarks and the binary
//! share one app: counters and a todo list.

pub mod components;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use components::{Counter, TodoList};
use fluxlive::{Live, LiveBuilder};

const INDEX: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STYLE: &str = include_str!("../static/style.css");

/// A runtime builder with every demo component registered.
pub fn builder() -> LiveBuilder {
    Live::builder()
        .component::<Counter>()
        .component::<TodoList>()
}

/// The demo page, its static files and the runtime's routes.
pub fn app(live: &Live) -> Router {
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/static/{file}", get(static_file))
        .merge(live.router())
}

async fn static_file(Path(file): Path<String>) -> Response {
    let (body, ct) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}
