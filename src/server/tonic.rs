//! [`GracefulIncoming`] and [`IncomingDrain`]: the connections for tonic's
//! own `Server::serve_with_incoming_shutdown`, and a drain with a deadline
//! and a report.
//!
//! tonic's `Server` (its layers, interceptors, health and reflection
//! services) stops accepting on its shutdown signal and gives every
//! connection hyper's graceful shutdown (GOAWAY), then waits for them all,
//! with no deadline: one stuck stream holds it forever (tonic #1820, hyper
//! #4170). Here the connections come from a [`ConnectionSet`]: the accept
//! loop (a task of its own, under the same limits as
//! [`serve`](super::serve)) registers each TCP connection, its TLS
//! handshake runs in the set's task (concurrently, under the handshake
//! timeout), and tonic gets the stream as an [`IncomingStream`] (a
//! [`HandedStream`], see `handed.rs`). [`IncomingDrain::drain`] fires
//! tonic's shutdown signal and drains the set: calls in flight finish, the
//! set closes each connection tonic is done with (close_notify, bounded
//! wait for the client's), and at the deadline it takes back and cuts
//! what remains, each with close_notify; tonic's `serve` then returns too.

use std::convert::Infallible;
use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tonic::transport::server::{Connected, TcpConnectInfo};
use futures_core::Stream;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::accept::{Acceptor, Admitted, Handshaking};
use super::handed::{hand_over, HandedStream};
use crate::drain::race::{race, Race};
use crate::{Config, ConnectionSet, DrainReport};

/// The connections for tonic's `Server::serve_with_incoming_shutdown`
/// (feature `tonic`): a `Stream` of [`IncomingStream`]s, each a TLS
/// connection registered in a [`ConnectionSet`] that
/// [`IncomingDrain`] drains.
///
/// What a program adds (tonic's builder, layers and services stay as they
/// are):
///
/// ```no_run
/// # async fn run(tls: std::sync::Arc<rustls::ServerConfig>, routes: tonic::service::Routes) {
/// use std::time::Duration;
/// use graceful_tls::server::GracefulIncoming;
///
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:50051").await.unwrap();
/// let incoming = GracefulIncoming::new(tcp, tls); // 1
/// let drain = incoming.drain_handle();
/// let server = tokio::spawn(
///     tonic::transport::Server::builder()
///         .add_routes(routes)
///         // 2: instead of `serve_with_shutdown(addr, signal)`
///         .serve_with_incoming_shutdown(incoming, drain.signal()),
/// );
/// tokio::signal::ctrl_c().await.ok();
/// let report = drain.drain(Duration::from_secs(20)).await; // 3
/// let _ = server.await;
/// println!("summary: {report}");
/// # }
/// ```
///
/// Accepting runs in a task of its own, started on the first poll, under
/// the same limits as [`serve`](super::serve): at most
/// [`with_max_connections`](Self::with_max_connections) connections and
/// [`with_max_handshakes`](Self::with_max_handshakes) handshakes at a time
/// (beyond that, clients wait in the kernel's queue), accept errors
/// counted in the report and survived. Each handshake runs in the set's
/// task, concurrently, under
/// [`with_handshake_timeout`](Self::with_handshake_timeout). When `tls`
/// offers no ALPN protocols, `h2` and `http/1.1` are offered. Accepting
/// stops when the drain begins or when tonic drops the stream, which
/// closes the listening socket.
///
/// The stream never yields an error (`Infallible`).
pub struct GracefulIncoming {
    /// Connections whose handshake completed, from the set's tasks.
    connections: mpsc::UnboundedReceiver<IncomingStream>,
    /// Kept for the accept loop (the senders' side), until the first poll.
    accepting: Option<Accepting>,
    set: Arc<ConnectionSet>,
    /// Fired when the drain begins: tonic's shutdown signal, and the end of
    /// accepting.
    begun: CancellationToken,
    local_addr: io::Result<std::net::SocketAddr>,
}

/// What the accept loop needs, until it starts.
struct Accepting {
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    deliver: mpsc::UnboundedSender<IncomingStream>,
    config: Config,
    handshake_timeout: Duration,
    max_connections: usize,
    max_handshakes: usize,
}

/// Drains a [`GracefulIncoming`]'s connections (feature `tonic`): gives
/// tonic its shutdown signal ([`signal`](Self::signal)), then bounds what
/// tonic's graceful shutdown waits for. Clones share the set.
#[derive(Clone)]
pub struct IncomingDrain {
    set: Arc<ConnectionSet>,
    begun: CancellationToken,
}

impl GracefulIncoming {
    /// Accepts from `listener`, handshakes with `tls`; the defaults of
    /// [`serve`](super::serve): handshake timeout
    /// [`Serve::DEFAULT_HANDSHAKE_TIMEOUT`](super::Serve::DEFAULT_HANDSHAKE_TIMEOUT),
    /// [`Serve::DEFAULT_MAX_CONNECTIONS`](super::Serve::DEFAULT_MAX_CONNECTIONS),
    /// [`Serve::DEFAULT_MAX_HANDSHAKES`](super::Serve::DEFAULT_MAX_HANDSHAKES),
    /// default [`Config`].
    pub fn new(listener: TcpListener, tls: Arc<ServerConfig>) -> Self {
        let (deliver, connections) = mpsc::unbounded_channel();
        let local_addr = listener.local_addr();
        let accepting = Accepting {
            listener,
            tls,
            deliver,
            config: Config::default(),
            handshake_timeout: super::Serve::<()>::DEFAULT_HANDSHAKE_TIMEOUT,
            max_connections: super::Serve::<()>::DEFAULT_MAX_CONNECTIONS,
            max_handshakes: super::Serve::<()>::DEFAULT_MAX_HANDSHAKES,
        };
        let set = Arc::new(accepting.new_set());
        GracefulIncoming {
            connections,
            accepting: Some(accepting),
            set,
            begun: CancellationToken::new(),
            local_addr,
        }
    }

    /// Bounds each TLS handshake, from the TCP accept: a client that has
    /// not completed it by then is dropped (`handshake-timeout` in the
    /// report).
    pub fn with_handshake_timeout(self, timeout: Duration) -> Self {
        self.configure(|accepting| accepting.handshake_timeout = timeout)
    }

    /// At most `max` connections at a time (handshaking or served, until
    /// tonic drops them); beyond that, clients wait in the listen queue.
    pub fn with_max_connections(self, max: usize) -> Self {
        self.configure(|accepting| accepting.max_connections = max)
    }

    /// At most `max` TLS handshakes at a time.
    pub fn with_max_handshakes(self, max: usize) -> Self {
        self.configure(|accepting| accepting.max_handshakes = max)
    }

    /// The deadlines each connection closes within (`flush_timeout`,
    /// `peer_close_timeout`).
    pub fn with_close_config(self, config: Config) -> Self {
        self.configure(|accepting| accepting.config = config)
    }

    /// The drain of this stream's connections. Take it once configured
    /// (the `with_*` methods make a new, empty set).
    pub fn drain_handle(&self) -> IncomingDrain {
        IncomingDrain {
            set: self.set.clone(),
            begun: self.begun.clone(),
        }
    }

    /// The listening socket's address.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`] when the stream was made.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.local_addr {
            Ok(addr) => Ok(*addr),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// Changes a setting before accepting starts, and makes the set anew
    /// with it (a set's config is fixed when it is made). After the first
    /// poll, settings no longer change anything.
    fn configure(mut self, change: impl FnOnce(&mut Accepting)) -> Self {
        if let Some(accepting) = &mut self.accepting {
            change(accepting);
            self.set = Arc::new(accepting.new_set());
        }
        self
    }
}

impl Accepting {
    fn new_set(&self) -> ConnectionSet {
        ConnectionSet::with_config(self.config).with_handshake_timeout(self.handshake_timeout)
    }

    /// Accepts until the drain begins or tonic drops the stream (no one
    /// receives any more), registering each connection in `set`; then
    /// closes the listener and counts the accept errors in the set's
    /// report.
    async fn run(self, set: Arc<ConnectionSet>, stop: CancellationToken) {
        let Accepting {
            listener,
            tls,
            deliver,
            max_connections,
            max_handshakes,
            ..
        } = self;
        let tls = TlsAcceptor::from(super::serve::offer_http_alpn(tls));
        let mut acceptor = Acceptor::new(listener, max_connections, max_handshakes);
        loop {
            let stopped = race(stop.cancelled(), deliver.closed());
            let admitted = match race(stopped, acceptor.next()).await {
                Race::First(_) => break,
                Race::Second(admitted) => admitted,
            };
            let Admitted {
                io: tcp,
                peer,
                connection,
                handshake,
            } = admitted;
            // `TCP_NODELAY` is set (`Listener for TcpListener`).
            let handshake = Handshaking::new(tls.accept(tcp), handshake);
            let deliver = deliver.clone();
            // Refused only once the drain began: the handshake, never
            // polled, is dropped with its TCP connection.
            let _ = hand_over(&set, Some(peer), handshake, move |stream| {
                // tonic's own connect info of the TCP socket, which
                // `request.remote_addr()` and `local_addr()` find. The
                // stream is in the set's hands here (its handler just got
                // it), so `None` cannot happen; a stream without it is
                // dropped, and the set closes it.
                let info = stream.with_stream(|tls| tls.get_ref().get_ref().0.connect_info());
                if let Some(info) = info {
                    // Fails when tonic dropped the stream (its shutdown
                    // began): the connection, dropped, goes back to the
                    // set, which closes it with close_notify.
                    let _ = deliver.send(IncomingStream {
                        stream,
                        info,
                        _place: connection,
                    });
                }
            });
        }
        let errors = acceptor.errors();
        drop(acceptor);
        set.note_accept_errors(errors);
    }
}

impl Stream for GracefulIncoming {
    type Item = Result<IncomingStream, Infallible>;

    /// Starts accepting on the first poll (a task of its own); then yields
    /// each connection whose handshake completed. Ends once accepting
    /// stopped (the drain began) and no handshake is left.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(accepting) = self.accepting.take() {
            let stop = self.begun.child_token();
            tokio::spawn(accepting.run(self.set.clone(), stop));
        }
        self.connections.poll_recv(cx).map(|next| next.map(Ok))
    }
}

impl IncomingDrain {
    /// The shutdown signal to give tonic's
    /// `serve_with_incoming_shutdown`: resolves when [`drain`](Self::drain)
    /// (or [`abort`](Self::abort)) begins. tonic then stops accepting and
    /// gives each connection hyper's graceful shutdown (GOAWAY).
    pub fn signal(&self) -> WaitForCancellationFutureOwned {
        self.begun.clone().cancelled_owned()
    }

    /// Drains: fires [`signal`](Self::signal) (tonic stops accepting and
    /// sends GOAWAY; calls in flight finish), closes each connection tonic
    /// is done with (close_notify, bounded wait for the client's), and at
    /// `timeout` takes back and cuts whatever tonic still serves (a stuck
    /// stream, a long call), each with close_notify, by `flush_timeout`
    /// later. Resolves to the report of every connection live when it
    /// began, within `timeout + flush_timeout`; tonic's `serve` returns
    /// once its connection tasks see their streams closed.
    ///
    /// # Cancellation safety
    ///
    /// As [`ConnectionSet::drain`]: the drain begins on the first poll;
    /// dropping the future stops its deadline (tonic's graceful shutdown
    /// then waits as long as it would without this crate). Call
    /// [`abort`](Self::abort) to force.
    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        self.begun.cancel();
        self.set.drain(timeout).await
    }

    /// Fires [`signal`](Self::signal) and cuts every connection now, each
    /// with close_notify within `flush_timeout`; resolves to the report.
    /// Escalates a drain in progress (a second SIGTERM).
    ///
    /// # Cancellation safety
    ///
    /// As [`ConnectionSet::abort`]: the abort happens on the first poll.
    pub async fn abort(&self) -> DrainReport {
        self.begun.cancel();
        self.set.abort().await
    }

    /// The set the connections are registered in (how many are live,
    /// whether it drains).
    pub fn connections(&self) -> &ConnectionSet {
        &self.set
    }
}

/// One connection of a [`GracefulIncoming`] (feature `tonic`): a
/// [`HandedStream`] over `TlsStream<TcpStream>` that implements tonic's
/// `Connected` with `TcpConnectInfo`, so that `request.remote_addr()` and
/// `local_addr()` work. It holds the connection's place under
/// `max_connections` until tonic drops it.
///
/// No TLS info reaches requests: tonic's `TlsConnectInfo` (what
/// `request.peer_certs()` reads) has private fields, and tonic looks for
/// it only when one of its own TLS features is on, while
/// `request.remote_addr()` looks for `TcpConnectInfo` whatever the
/// features: so the address it is. The TLS session is at hand here
/// ([`get_ref`](Self::get_ref), then
/// [`HandedStream::with_stream`]), for a program that wraps the stream.
pub struct IncomingStream {
    stream: HandedStream<TlsStream<TcpStream>>,
    info: TcpConnectInfo,
    _place: OwnedSemaphorePermit,
}

impl IncomingStream {
    /// The connection's stream.
    pub fn get_ref(&self) -> &HandedStream<TlsStream<TcpStream>> {
        &self.stream
    }
}

impl Connected for IncomingStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for IncomingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for IncomingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// A flush, as [`HandedStream`]'s: the set closes the stream once
    /// tonic drops it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl fmt::Debug for GracefulIncoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulIncoming")
            .field("local_addr", &self.local_addr)
            .field("accepting", &self.accepting.is_none())
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IncomingDrain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingDrain")
            .field("set", &self.set)
            .field("begun", &self.begun.is_cancelled())
            .finish()
    }
}

impl fmt::Debug for IncomingStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingStream")
            .field("stream", &self.stream)
            .field("remote_addr", &self.info.remote_addr())
            .finish_non_exhaustive()
    }
}
