//! One HTTP connection: hyper-util's auto builder (HTTP/1.1 or HTTP/2,
//! with upgrades) over a [`LentStream`], wound down with hyper's own
//! graceful shutdown when the drain begins, after hyper has read what the
//! client had already sent.

use std::error::Error as StdError;
use std::future::{poll_fn, Future};
use std::mem::MaybeUninit;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONNECTION};
use hyper::service::Service;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;

use crate::drain::race::{race, Race};
use crate::drain::LentView;
use crate::{LentStream, ShutdownSignal};

/// The stream a served connection runs over.
pub(super) type ServerIo = LentStream<TlsStream<TcpStream>>;

/// How many times the connection is polled again, once the drain began,
/// while the client's bytes still wait unread in the socket, before
/// hyper's graceful shutdown runs anyway. Bytes that were waiting when the
/// drain began are read in the first round in which tokio's I/O driver
/// reports the socket readable (hyper then reads until the socket is
/// empty); more rounds are only needed while more keeps arriving (an
/// upload, a client that pipelines without pause). The bound keeps such a
/// client from holding off HTTP/2's GOAWAY; HTTP/1.1 responses say
/// `connection: close` from the drain on anyway ([`CloseOnDrain`]).
const READ_ROUNDS: u32 = 8;

/// Serves one connection until the client leaves, hyper ends it, or the
/// drain begins and hyper's graceful shutdown completes: HTTP/1.1 finishes
/// the response in flight with `connection: close` (an idle keep-alive
/// connection closes at once), HTTP/2 sends GOAWAY and lets the open
/// streams finish. A connection that has not sent its first bytes yet
/// closes at once too.
///
/// The keep-alive race (hyper #3792): hyper's HTTP/1.1 graceful shutdown
/// closes an idle connection at once, without reading a request whose
/// bytes are already in the socket but not yet reported readable by
/// tokio's I/O driver (the drain's wake-up can come first). So when the
/// drain begins, the connection is polled again while the socket holds
/// unread bytes (a peek; at most [`READ_ROUNDS`] rounds): hyper reads and
/// answers such a request, with `connection: close`, and only then shuts
/// down.
///
/// It never closes the TLS stream itself: when hyper is done it drops the
/// IO, and the [`ConnectionSet`](crate::ConnectionSet)'s task closes the
/// stream (close_notify, bounded wait for the peer's). The deadline drops
/// this future wherever it is stuck. `place` is the connection's place
/// under `max_connections`, given back when hyper is done.
// Not an `async fn`: its arguments would be stored twice in the future
// (as arguments and as the body's locals), and the future lives as long as
// the connection (272 B per connection, benches/serve.rs `memory:`).
#[allow(clippy::manual_async_fn)]
pub(super) fn serve_connection<H, B>(
    io: ServerIo,
    signal: ShutdownSignal,
    builder: auto::Builder<TokioExecutor>,
    service: H,
    place: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send
where
    H: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    async move {
        let view = io.view();
        let service = CloseOnDrain {
            inner: service,
            signal: signal.clone(),
        };
        let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
        let ended = match race(conn.as_mut(), signal.begun()).await {
            Race::First(ended) => ended,
            Race::Second(()) => match read_what_waits(conn.as_mut(), &view).await {
                Some(ended) => ended,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            },
        };
        // A protocol error (garbage instead of HTTP, a reset stream) ends the
        // connection; the report says how its TLS close went.
        trace_http_error(ended);
        drop(place);
    }
}

/// Polls `conn` while the client's bytes wait unread in the socket (at most
/// [`READ_ROUNDS`] times): `Some` if the connection ended meanwhile, `None`
/// once nothing waits.
///
/// Never a busy loop: it only waits after `conn` returned `Pending`, which
/// registered a wake-up (hyper's read on the socket, whose readiness the
/// driver reports for bytes that arrived; or the service's progress).
async fn read_what_waits<F: Future>(
    mut conn: Pin<&mut F>,
    view: &LentView<ServerIoInner>,
) -> Option<F::Output> {
    let mut rounds = 0;
    poll_fn(|cx: &mut Context<'_>| {
        if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(ended));
        }
        if rounds < READ_ROUNDS
            && view.with_stream(|s| unread_in_socket(s.get_ref().get_ref().0)) == Some(true)
        {
            rounds += 1;
            return Poll::Pending;
        }
        Poll::Ready(None)
    })
    .await
}

/// The TLS stream inside [`ServerIo`].
type ServerIoInner = TlsStream<TcpStream>;

/// Whether the client's bytes wait in the socket's receive queue: a
/// non-blocking `MSG_PEEK` of one byte, which sees the kernel's queue
/// whatever tokio's cached readiness says. The end of the stream (0) and
/// errors count as nothing waiting: hyper learns of them by reading.
///
/// The TLS layer holds nothing hyper has not read when hyper waits:
/// tokio-rustls returns `Pending` only once rustls has no plaintext left
/// and the socket would block; a partial record in rustls waits for the
/// rest, which is in the socket (seen here) or not yet arrived.
fn unread_in_socket(tcp: &TcpStream) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit()];
    matches!(socket2::SockRef::from(tcp).peek(&mut byte), Ok(n) if n > 0)
}

/// Wraps the application's service: the response to an HTTP/1.x request
/// that reached the service once the drain had begun says `connection:
/// close`, so that hyper closes the connection after it. Hyper's graceful
/// shutdown does the same for a request it is busy with when it runs, but a
/// request read after the drain began (see [`read_what_waits`]) can be
/// answered within the same poll in which hyper reads it, before the
/// graceful shutdown runs. HTTP/2 responses and `101 Switching Protocols`
/// are left alone.
///
/// Decided when the request reaches the service (one atomic load), not
/// when its response is ready: the response future would otherwise hold a
/// clone of the signal, a reference count shared by every connection,
/// taken and dropped per request.
#[derive(Clone)]
struct CloseOnDrain<S> {
    inner: S,
    signal: ShutdownSignal,
}

impl<S, B> Service<Request<Incoming>> for CloseOnDrain<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = CloseOnDrainFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let http1 = matches!(request.version(), Version::HTTP_10 | Version::HTTP_11);
        CloseOnDrainFuture {
            close: http1 && self.signal.is_begun(),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`CloseOnDrain`]'s response future.
    struct CloseOnDrainFuture<F> {
        #[pin]
        inner: F,
        // HTTP/1.x, and the drain had begun.
        close: bool,
    }
}

impl<F, B, E> Future for CloseOnDrainFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        if *this.close && response.status() != StatusCode::SWITCHING_PROTOCOLS {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
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
