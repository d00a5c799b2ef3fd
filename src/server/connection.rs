//! One HTTP connection: hyper-util's auto builder (HTTP/1.1 or HTTP/2,
//! with upgrades) over a [`LentStream`], wound down with hyper's own
//! graceful shutdown when the drain begins.

use std::error::Error as StdError;
use std::pin::pin;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;

use crate::drain::race::{race, Race};
use crate::{LentStream, ShutdownSignal};

/// The stream a served connection runs over.
pub(super) type ServerIo = LentStream<TlsStream<TcpStream>>;

/// Serves one connection until the client leaves, hyper ends it, or the
/// drain begins and hyper's graceful shutdown completes: HTTP/1.1 finishes
/// the response in flight with `connection: close` (an idle keep-alive
/// connection closes at once), HTTP/2 sends GOAWAY and lets the open
/// streams finish. A connection that has not sent its first bytes yet
/// closes at once too.
///
/// It never closes the TLS stream itself: when hyper is done it drops the
/// IO, and the [`ConnectionSet`](crate::ConnectionSet)'s task closes the
/// stream (close_notify, bounded wait for the peer's). The deadline drops
/// this future wherever it is stuck. `place` is the connection's place
/// under `max_connections`, given back when hyper is done.
pub(super) async fn serve_connection<H, B>(
    io: ServerIo,
    signal: ShutdownSignal,
    builder: auto::Builder<TokioExecutor>,
    service: H,
    place: OwnedSemaphorePermit,
) where
    H: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    let ended = match race(conn.as_mut(), signal.begun()).await {
        Race::First(ended) => ended,
        Race::Second(()) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    // A protocol error (garbage instead of HTTP, a reset stream) ends the
    // connection; the report says how its TLS close went.
    trace_http_error(ended);
    drop(place);
}

#[cfg(feature = "tracing")]
fn trace_http_error(ended: Result<(), Box<dyn StdError + Send + Sync>>) {
    if let Err(e) = ended {
        // Typed: hyper's own timeout errors (HTTP/1.1's header read
        // timeout, HTTP/2's keep-alive ping timeout).
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            tracing::debug!(target: "graceful_tls::server", error = %e, "http timeout (header read or keep-alive)");
        } else {
            tracing::debug!(target: "graceful_tls::server", error = %e, "http connection error");
        }
    }
}

#[cfg(not(feature = "tracing"))]
fn trace_http_error(_ended: Result<(), Box<dyn StdError + Send + Sync>>) {}
