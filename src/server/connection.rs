//! One HTTP connection: hyper-util's auto builder (HTTP/1.1 or HTTP/2,
//! with upgrades) over a [`LentStream`], its phases bounded by the
//! connection's own timers ([`PhaseWatch`]), wound down with hyper's own
//! graceful shutdown when the drain begins, after hyper has read what the
//! client had already sent.

use std::error::Error as StdError;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;

use super::listener::Listener;
use super::phase::{Action, Observed, PhaseWatch, Probe, ServerPhases};
use super::requests::{Requests, Tracked};
use super::timer::{now, ConnectionSleep};
use crate::drain::LentView;
use crate::{Cut, LentStream, ShutdownSignal};

/// The stream a served connection runs over: a TLS stream over one of
/// the listener's connections.
pub(super) type ServerIo<L> = LentStream<ServerIoInner<L>>;

/// The TLS stream inside [`ServerIo`].
type ServerIoInner<L> = TlsStream<<L as Listener>::Io>;

/// Serves one connection until the client leaves, hyper ends it, one of
/// the phase timeouts cuts it ([`PhaseWatch`]: no first request within the
/// header read timeout, no request in flight for the keep-alive timeout),
/// or the drain begins and hyper's graceful shutdown completes: HTTP/1.1
/// finishes the response in flight with `connection: close` (an idle
/// keep-alive connection closes at once), HTTP/2 sends GOAWAY and lets the
/// open streams finish. A connection that has not sent its first request
/// when the drain begins (or whose handshake completes during it) gets the
/// first-request grace: a request that comes within it is answered.
///
/// With ALPN `h2`, hyper serves HTTP/2 at once, without reading the first
/// bytes to detect the protocol. Otherwise (ALPN `http/1.1`, or none)
/// hyper-util's detection runs, since it is the only way hyper-util serves
/// HTTP/1.1 with upgrades (WebSocket); the first-request deadline bounds it.
///
/// The keep-alive race (hyper #3792): hyper's HTTP/1.1 graceful shutdown
/// closes an idle connection at once, without reading a request whose
/// bytes are already in the socket but not yet reported readable by
/// tokio's I/O driver (the drain's wake-up can come first). So when the
/// drain begins, the connection is polled again while the socket holds
/// unread bytes (a peek; a bounded number of rounds): hyper reads and
/// answers such a request, with `connection: close`, and only then shuts
/// down.
///
/// It never closes the TLS stream itself: when hyper is done (or cut) it
/// drops the IO, and the [`ConnectionSet`](crate::ConnectionSet)'s task
/// closes the stream (close_notify, bounded wait for the peer's), and
/// reports the cut, if any. The deadline drops this future wherever it is
/// stuck. `place` is the connection's place under `max_connections`, given
/// back when hyper is done or cut.
// Not an `async fn`: its arguments would be stored twice in the future
// (as arguments and as the body's locals), and the future lives as long as
// the connection (272 B per connection, benches/serve.rs `memory:`).
#[allow(clippy::manual_async_fn)]
pub(super) fn serve_connection<L, H, B>(
    io: ServerIo<L>,
    signal: ShutdownSignal,
    mut builder: auto::Builder<TokioExecutor>,
    service: H,
    place: OwnedSemaphorePermit,
    phases: Arc<ServerPhases>,
) -> impl Future<Output = ()> + Send
where
    L: Listener,
    H: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    async move {
        let mut watch = PhaseWatch::new(now(), phases.clone());
        let view = io.view();
        let h2 = view
            .with_stream(|s| s.get_ref().get_ref().1.alpn_protocol() == Some(b"h2"))
            .unwrap_or(false);
        let requests = Arc::new(Requests::default());
        let service = Tracked {
            inner: service,
            signal: signal.clone(),
            requests: requests.clone(),
            phases,
        };
        // `http2_only` changes the builder, which the connection borrows.
        // Assigned in place: a new binding would take a second builder's
        // room in the connection's future for its whole life.
        if h2 {
            builder = builder.http2_only();
        }
        let probe = SocketProbe::<L>(&view, PhantomData);
        // hyper's connection lives in this block: it (and the IO, so that
        // the set's task closes the stream) is dropped at its end, before
        // the place is given back.
        let ended = {
            let mut conn = pin!(if h2 {
                Http::H2 {
                    conn: builder.serve_connection(TokioIo::new(io), service),
                }
            } else {
                Http::Detect {
                    conn: builder.serve_connection_with_upgrades(TokioIo::new(io), service),
                }
            });
            let mut sleep: Option<ConnectionSleep> = None;
            // Polled until it fires: it wakes the connection when the drain
            // begins.
            let mut begun = pin!(signal.begun());
            let mut drain_begun = false;
            poll_fn(|cx| {
                loop {
                    drain_begun = drain_begun || begun.as_mut().poll(cx).is_ready();
                    requests.set_polling(true);
                    let polled = conn.as_mut().poll(cx);
                    requests.set_polling(false);
                    if let Poll::Ready(ended) = polled {
                        return Poll::Ready(Some(ended));
                    }
                    let (started, in_flight) = requests.counts();
                    let http2 = h2 || requests.http2();
                    requests.wake_on_idle(in_flight, http2, cx.waker());
                    let seen = Observed {
                        started,
                        in_flight,
                        drain_begun,
                        lame_duck: watch.lame_duck(),
                        http2,
                    };
                    match watch.step(now(), seen, &probe) {
                        Action::Wait(None) => return Poll::Pending,
                        Action::Wait(Some(deadline)) => {
                            let sleep = sleep.get_or_insert_with(|| ConnectionSleep::new(deadline));
                            sleep.reset(deadline);
                            if Pin::new(sleep).poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            // Passed since `now()` was read: step again.
                        }
                        // Takes effect when hyper is polled again.
                        Action::Shutdown => conn.as_mut().graceful_shutdown(),
                        // The cut, if any, is the watch's (`watch.cut()`).
                        Action::Drop(_) => return Poll::Ready(None),
                    }
                }
            })
            .await
        };
        // The watch's own cut (a silent client, an idle connection whose
        // GOAWAY hyper then finished) comes first; otherwise hyper's own
        // timeouts (a slow HTTP/1.1 head, an HTTP/2 ping not answered) are
        // cuts too.
        let hyper_timeout = matches!(&ended, Some(Err(e)) if e
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout));
        let http2 = h2 || requests.http2();
        let cut = watch
            .cut()
            .or_else(|| hyper_timeout.then(|| watch.hyper_timeout(http2, &probe)));
        if let Some(cut) = cut {
            view.mark_cut(cut);
        }
        match ended {
            // Every response sent: a client that now leaves without
            // close_notify truncated nothing (`client-left-complete`).
            Some(Ok(())) if requests.all_complete() => view.mark_exchange_complete(),
            // A protocol error (garbage instead of HTTP, a reset stream)
            // ends the connection; the report says how its TLS close went.
            Some(ended) => trace_http_error(ended),
            None => {
                if let Some(cut) = cut {
                    trace_cut(cut);
                }
            }
        }
        // A cut frees the place at once.
        drop(place);
    }
}

pin_project_lite::pin_project! {
    /// hyper-util's connection: HTTP/2 at once (ALPN `h2`), or the
    /// protocol detected from the first bytes (with upgrades).
    #[project = HttpProj]
    enum Http<D, H> {
        Detect { #[pin] conn: D },
        H2 { #[pin] conn: H },
    }
}

/// The two connection types' common surface.
trait HttpConnection: Future<Output = Result<(), Box<dyn StdError + Send + Sync>>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, E, B> HttpConnection for auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    E: auto::HttpServerConnExec<S::Future, B>,
    Self: Future<Output = Result<(), Box<dyn StdError + Send + Sync>>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::UpgradeableConnection::graceful_shutdown(self)
    }
}

impl<I, S, E, B> HttpConnection for auto::Connection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    E: auto::HttpServerConnExec<S::Future, B>,
    Self: Future<Output = Result<(), Box<dyn StdError + Send + Sync>>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::Connection::graceful_shutdown(self)
    }
}

impl<D: HttpConnection, H: HttpConnection> Future for Http<D, H> {
    type Output = Result<(), Box<dyn StdError + Send + Sync>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HttpProj::Detect { conn } => conn.poll(cx),
            HttpProj::H2 { conn } => conn.poll(cx),
        }
    }
}

impl<D: HttpConnection, H: HttpConnection> Http<D, H> {
    fn graceful_shutdown(self: Pin<&mut Self>) {
        match self.project() {
            HttpProj::Detect { conn } => conn.graceful_shutdown(),
            HttpProj::H2 { conn } => conn.graceful_shutdown(),
        }
    }
}

/// What the phase watch asks of the socket (through the listener's
/// [`Listener::has_unread`]) and the stream.
// `fn() -> L`: the probe is `Send` and `Sync` whatever `L` is.
struct SocketProbe<'a, L: Listener>(&'a LentView<ServerIoInner<L>>, PhantomData<fn() -> L>);

impl<L: Listener> Probe for SocketProbe<'_, L> {
    fn unread_in_socket(&self) -> bool {
        self.0
            .with_stream(|s| L::has_unread(s.get_ref().get_ref().0))
            == Some(true)
    }

    fn bytes_read(&self) -> u64 {
        self.0.with_stream(|s| s.stats().read()).unwrap_or(0)
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

#[cfg(feature = "tracing")]
fn trace_cut(cut: Cut) {
    tracing::debug!(target: "graceful_tls::server", cut = cut.as_str(), "connection cut");
}

#[cfg(not(feature = "tracing"))]
fn trace_cut(_cut: Cut) {}

#[cfg(not(feature = "tracing"))]
fn trace_http_error(_ended: Result<(), Box<dyn StdError + Send + Sync>>) {}
