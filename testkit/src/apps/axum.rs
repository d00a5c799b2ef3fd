//! The axum app of `examples/axum_server.rs`, shared with
//! `tests/server.rs`: `/`, `/slow?ms=N`, `/stream`, `/ws`, `/ready`,
//! `/upload`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

/// How often `/stream` and `/ws` send `tick`.
pub const TICK: Duration = Duration::from_millis(100);

/// The routes: `GET /` answers `hello`; `GET /slow?ms=N` answers `done`
/// after N ms; `GET /stream` sends `tick\n` every 100 ms until the
/// connection ends; `GET /ws` (WebSocket) sends a `tick` message every
/// 100 ms; `GET /ready` answers 200, or 503 once `draining()` says so
/// (`move || readiness.is_draining()` with a `graceful_tls::server::Readiness`);
/// `POST /upload` reads the whole body and answers its length.
pub fn app(draining: impl Fn() -> bool + Send + Sync + 'static) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/slow", get(slow))
        .route("/stream", get(stream))
        .route("/ws", get(ws))
        .route("/ready", get(ready))
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .with_state(Draining(Arc::new(draining)))
}

async fn slow(Query(query): Query<HashMap<String, String>>) -> (StatusCode, &'static str) {
    let Some(ms) = query.get("ms").and_then(|ms| ms.parse().ok()) else {
        return (StatusCode::BAD_REQUEST, "usage: /slow?ms=N");
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (StatusCode::OK, "done")
}

async fn stream() -> Body {
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(TICK).await;
        Some((Ok::<_, Infallible>("tick\n"), ()))
    });
    Body::from_stream(ticks)
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket| async move {
        loop {
            tokio::time::sleep(TICK).await;
            if socket.send(Message::Text("tick".into())).await.is_err() {
                return;
            }
        }
    })
}

/// Whether the server drains (for `/ready`).
#[derive(Clone)]
struct Draining(Arc<dyn Fn() -> bool + Send + Sync>);

async fn ready(State(draining): State<Draining>) -> (StatusCode, &'static str) {
    if (draining.0)() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        (StatusCode::OK, "ready")
    }
}
