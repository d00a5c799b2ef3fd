//! [`GracefulListener`]: an `axum::serve::Listener` whose connections are
//! [`GracefulStream`]s, for programs that keep `axum::serve`.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::{Config, GracefulStream};

/// The stream a [`GracefulListener`] yields.
pub type GracefulTlsStream = GracefulStream<TlsStream<TcpStream>>;

/// A handshake task's result: the stream, or nothing (failed, timed out).
type Handshaken = Option<(GracefulTlsStream, SocketAddr)>;

/// Implements `axum::serve::Listener` (feature `axum`): accepts TCP
/// connections, runs their TLS handshakes concurrently (each in a task of
/// its own, under a handshake timeout, so a stalled client never blocks
/// the accept loop, axum #3253), and hands axum each completed connection
/// as a [`GracefulStream`].
///
/// ```no_run
/// # async fn run(app: axum::Router, tls: std::sync::Arc<rustls::ServerConfig>) {
/// let signals = graceful_tls::Signals::install().unwrap(); // SIGINT/SIGTERM
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await.unwrap();
/// let listener = graceful_tls::server::GracefulListener::new(tcp, tls);
/// axum::serve(listener, app)
///     .with_graceful_shutdown(signals.drain())
///     .await
///     .unwrap();
/// # }
/// ```
///
/// Every connection then ends with close_notify: hyper's close goes
/// through `poll_shutdown`, and a connection axum drops sends close_notify
/// from its `Drop` (bounded, in the background). Accept errors never end
/// it: as in [`serve`](super::serve), errors about one connection are
/// retried at once, others (out of file descriptors...) pause accepting for
/// 100 ms; both are counted ([`accept_errors`](Self::accept_errors)) and
/// traced. At most [`with_max_handshakes`](Self::with_max_handshakes)
/// handshakes run at a time; beyond that, clients wait in the kernel's
/// queue. What this mode cannot do, because `axum::serve` owns the
/// connections: no drain deadline (an SSE stream or a WebSocket holds
/// `with_graceful_shutdown` forever), no wait for the client's
/// close_notify (connections close `not-awaited`), no connection limit, and
/// no report. [`serve`](super::serve) does all of them.
pub struct GracefulListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    config: Config,
    handshake_timeout: Duration,
    handshakes: JoinSet<Handshaken>,
    max_handshakes: usize,
    /// Set while accepting pauses after an error such as EMFILE.
    pause: Option<Pin<Box<Sleep>>>,
    accept_errors: u64,
}

impl GracefulListener {
    /// Accepts from `tcp`, handshakes with `tls` (offering `h2` and
    /// `http/1.1` by ALPN when `tls` offers nothing), handshake timeout
    /// [`Serve::DEFAULT_HANDSHAKE_TIMEOUT`](super::Serve::DEFAULT_HANDSHAKE_TIMEOUT),
    /// default [`Config`].
    pub fn new(tcp: TcpListener, tls: Arc<ServerConfig>) -> Self {
        GracefulListener {
            tcp,
            acceptor: TlsAcceptor::from(super::serve::offer_http_alpn(tls)),
            config: Config::default(),
            handshake_timeout: super::Serve::<()>::DEFAULT_HANDSHAKE_TIMEOUT,
            handshakes: JoinSet::new(),
            max_handshakes: super::Serve::<()>::DEFAULT_MAX_HANDSHAKES,
            pause: None,
            accept_errors: 0,
        }
    }

    /// At most `max` TLS handshakes at a time (default
    /// [`Serve::DEFAULT_MAX_HANDSHAKES`](super::Serve::DEFAULT_MAX_HANDSHAKES)):
    /// beyond that, accepting waits for one to finish. A limit of 0 counts
    /// as 1.
    pub fn with_max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max.max(1);
        self
    }

    /// How many accept errors the listener met so far (both kinds: see
    /// [`GracefulListener`]).
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors
    }

    /// Bounds each TLS handshake: a client that has not completed it by
    /// then is dropped (nothing to close: no TLS session yet).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The deadlines each connection closes within.
    pub fn with_close_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Takes what is ready: new TCP connections become handshake tasks;
    /// returns the first completed handshake.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(GracefulTlsStream, SocketAddr)> {
        loop {
            if let Some(pause) = &mut self.pause {
                if pause.as_mut().poll(cx).is_ready() {
                    self.pause = None;
                }
            }
            // At the handshake limit, a finished handshake makes room
            // (`poll_join_next` below wakes this task).
            if self.pause.is_none() && self.handshakes.len() < self.max_handshakes {
                match self.tcp.poll_accept(cx) {
                    Poll::Ready(Ok((tcp, peer))) => {
                        self.start_handshake(tcp, peer);
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        if super::accept::accept_failed(&e, &mut self.accept_errors) {
                            let pause = tokio::time::sleep(super::accept::ACCEPT_ERROR_PAUSE);
                            self.pause = Some(Box::pin(pause));
                        }
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            match self.handshakes.poll_join_next(cx) {
                Poll::Ready(Some(Ok(Some(connection)))) => return Poll::Ready(connection),
                // Failed, timed out (or, impossibly, panicked): next.
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let handshake = self.acceptor.accept(tcp);
        let (timeout, config) = (self.handshake_timeout, self.config);
        self.handshakes.spawn(async move {
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(tls)) => {
                    let stream = GracefulStream::with_config(tls, CancellationToken::new(), config);
                    Some((stream, peer))
                }
                Ok(Err(_)) | Err(_) => None,
            }
        });
    }
}

impl axum::serve::Listener for GracefulListener {
    type Io = GracefulTlsStream;
    type Addr = SocketAddr;

    /// Cancellation safe: pending handshakes live in the listener.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl fmt::Debug for GracefulListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulListener")
            .field("tcp", &self.tcp)
            .field("config", &self.config)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("handshaking", &self.handshakes.len())
            .field("max_handshakes", &self.max_handshakes)
            .field("accept_errors", &self.accept_errors)
            .finish_non_exhaustive()
    }
}
