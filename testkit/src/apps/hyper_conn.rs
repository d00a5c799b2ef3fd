//! One HTTP/1.1 connection served by hyper over a `GracefulStream`, which
//! honours a `ConnectionSet` drain with hyper's own `graceful_shutdown`.
//! Serving hyper by hand over `ConnectionSet::spawn` (`graceful_tls::server`
//! does this for you, and also waits for the client's close_notify); used by
//! `tests/drain_hyper.rs`.

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use graceful_tls::{GracefulStream, ShutdownSignal, TlsBackend};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What `/` answers.
pub const HELLO: &str = "hello from graceful-tls\n";

/// `/` answers [`HELLO`] at once; `/slow` after `slow` (on tokio's clock).
async fn answer(
    request: Request<Incoming>,
    slow: Duration,
) -> Result<Response<String>, Infallible> {
    if request.uri().path() == "/slow" {
        tokio::time::sleep(slow).await;
    }
    Ok(Response::new(HELLO.to_owned()))
}

/// Serves HTTP/1.1 keep-alive requests until the peer leaves or the drain
/// begins. On the drain, hyper's `graceful_shutdown` lets the response in
/// flight finish (with `connection: close`), then hyper shuts the stream
/// down: close_notify. Idle keep-alive connections close at once.
pub async fn serve<S: TlsBackend>(
    stream: &mut GracefulStream<S>,
    signal: ShutdownSignal,
    slow: Duration,
) -> Result<(), hyper::Error> {
    let service = service_fn(move |request| answer(request, slow));
    let mut conn = pin!(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        result = conn.as_mut() => return result,
        () = signal.begun() => {}
    }
    conn.as_mut().graceful_shutdown();
    conn.await
}
