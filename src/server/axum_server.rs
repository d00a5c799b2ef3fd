//! [`GracefulAcceptor`]: an axum-server `Accept` whose connections are
//! [`GracefulStream`](crate::GracefulStream)s of a
//! [`ConnectionSet`], for programs that keep `axum_server::Server` and its
//! `Handle`.
//!
//! axum-server's `Handle::graceful_shutdown(Some(d))` stops accepting,
//! winds every connection down with hyper's graceful shutdown, and at `d`
//! drops what still runs: the TLS stream goes without close_notify, and
//! nothing says what was cut (axum-server issues #114, #116). Wrapped by
//! this acceptor, every connection is registered in a set, and the stream
//! axum-server serves is a [`HandedStream`] (see `handed.rs`): whether
//! axum-server is done with a connection or drops it at its deadline, the
//! set closes it with close_notify; the set's own drain, begun with the
//! same deadline, cuts what remains with close_notify within
//! `flush_timeout` and reports each connection.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ::axum_server::accept::Accept;
use ::axum_server::Handle;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::handed::{hand_over, HandedStream};
use crate::{Config, ConnectionSet, DrainReport, GracefulStream, Refused, TlsBackend};

/// What [`GracefulAcceptor`]'s `accept` returns.
type Accepting<T, Svc> =
    Pin<Box<dyn Future<Output = io::Result<(HandedStream<T>, Svc)>> + Send + 'static>>;

/// Implements axum-server's `Accept` (feature `axum-server`): wraps the TLS
/// acceptor a program already uses (`axum_server::tls_rustls::RustlsAcceptor`,
/// or any acceptor whose stream is a [`TlsBackend`]) and registers each
/// connection it completes in a [`ConnectionSet`], so that every connection
/// ends with close_notify (those axum-server drops at its deadline too) and
/// the drain reports each one.
///
/// What a program adds (the handshake stays the inner acceptor's, with its
/// handshake timeout and its `TlsInfo`):
///
/// ```no_run
/// # async fn run(app: axum::Router, config: axum_server::tls_rustls::RustlsConfig) {
/// # async fn shutdown_signal() {}
/// use std::time::Duration;
/// use axum_server::tls_rustls::RustlsAcceptor;
/// use graceful_tls::server::GracefulAcceptor;
///
/// let handle = axum_server::Handle::new();
/// // 1: axum-server's acceptor, wrapped (instead of `bind_rustls(addr, config)`)
/// let acceptor = GracefulAcceptor::new(RustlsAcceptor::new(config));
/// // 2: a clone for axum-server; this one drains
/// let server = axum_server::bind(std::net::SocketAddr::from(([0, 0, 0, 0], 8443)))
///     .acceptor(acceptor.clone())
///     .handle(handle.clone());
/// let server = tokio::spawn(server.serve(app.into_make_service()));
/// shutdown_signal().await;
/// // 3: instead of `handle.graceful_shutdown(Some(Duration::from_secs(20)))`
/// let report = acceptor.graceful_shutdown(&handle, Duration::from_secs(20)).await;
/// let _ = server.await;
/// println!("summary: {report}");
/// # }
/// ```
///
/// [`graceful_shutdown`](Self::graceful_shutdown) calls
/// `handle.graceful_shutdown(Some(d))` and drains the set with the same
/// deadline `d`: axum-server winds the connections down (hyper's graceful
/// shutdown: `connection: close`, GOAWAY), the set closes each one
/// axum-server is done with (close_notify, bounded wait for the client's),
/// and at `d` the set cuts what remains (long requests, streams,
/// WebSockets), each with close_notify by `flush_timeout` later, whichever
/// of the two deadlines fires first. It resolves to the [`DrainReport`],
/// within `d + flush_timeout`: the connections cut at `d` are `forced`
/// (`not-awaited`, or `peer-timeout` when axum-server's drop came first and
/// the set's deadline cut the wait for the client's close_notify). Programs that call `handle.graceful_shutdown`
/// themselves call [`drain`](Self::drain) with the same deadline at the
/// same moment instead.
///
/// Clones share the set: keep one to drain while axum-server owns another.
///
/// The TCP connections are `tokio::net::TcpStream`s (the peer's address is
/// in the report) or, on Unix, `UnixStream`s. Handshakes run in
/// axum-server's connection tasks, under the inner acceptor's timeout, and
/// axum-server drops those still running when its graceful shutdown
/// begins (no TLS session yet: nothing to close); they are not in the
/// report. A handshake that completes once the set drains is closed at
/// once with close_notify and fails axum-server's accept with
/// `ConnectionAborted` (its `accept_error_handler` sees it).
pub struct GracefulAcceptor<A> {
    inner: A,
    set: Arc<ConnectionSet>,
}

impl<A> GracefulAcceptor<A> {
    /// Wraps `inner` (e.g. `RustlsAcceptor::new(config)`); connections
    /// close with the default [`Config`].
    pub fn new(inner: A) -> Self {
        GracefulAcceptor {
            inner,
            set: Arc::new(ConnectionSet::new()),
        }
    }

    /// The deadlines each connection closes within (`flush_timeout`,
    /// `peer_close_timeout`). It makes a new, empty set: call it before
    /// the acceptor is cloned or used.
    pub fn with_close_config(mut self, config: Config) -> Self {
        self.set = Arc::new(ConnectionSet::with_config(config));
        self
    }

    /// The wrapped acceptor.
    pub fn get_ref(&self) -> &A {
        &self.inner
    }

    /// The set the connections are registered in (how many are live,
    /// whether it drains).
    pub fn connections(&self) -> &ConnectionSet {
        &self.set
    }

    /// Starts axum-server's graceful shutdown with deadline `timeout`
    /// (`handle.graceful_shutdown(Some(timeout))`) and drains the set with
    /// the same deadline (see [`drain`](Self::drain)); resolves to the
    /// report within `timeout + flush_timeout`.
    ///
    /// # Cancellation safety
    ///
    /// axum-server's shutdown and the set's drain both begin on the first
    /// poll. Dropping the future afterwards stops the set's deadline (as
    /// [`ConnectionSet::drain`]'s does); axum-server's still cuts the
    /// connections at `timeout`, and each still ends with close_notify.
    pub async fn graceful_shutdown<Addr>(
        &self,
        handle: &Handle<Addr>,
        timeout: Duration,
    ) -> DrainReport
    where
        Addr: ::axum_server::Address,
    {
        handle.graceful_shutdown(Some(timeout));
        self.drain(timeout).await
    }

    /// Drains the set: from now on, connections that complete their
    /// handshake are closed at once; connections axum-server is done with
    /// are closed (close_notify, bounded wait for the client's); at
    /// `timeout`, what axum-server still serves is taken back and cut, each
    /// with close_notify, by `flush_timeout` later. Resolves to the report
    /// of every connection live now.
    ///
    /// Call it when axum-server's graceful shutdown begins, with the same
    /// deadline ([`graceful_shutdown`](Self::graceful_shutdown) does both):
    /// the set does not see axum-server's `Handle`. Called later (say,
    /// after `serve` returned), it still closes every connection with
    /// close_notify, but reports only those not yet closed.
    ///
    /// # Cancellation safety
    ///
    /// As [`ConnectionSet::drain`]: dropping the future stops the deadline;
    /// the connections keep closing at their own pace.
    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        self.set.drain(timeout).await
    }

    /// Cuts every connection now, each with close_notify within
    /// `flush_timeout` (pair it with axum-server's `handle.shutdown()`);
    /// resolves to the report. Escalates a drain in progress.
    ///
    /// # Cancellation safety
    ///
    /// As [`ConnectionSet::abort`]: the abort happens on the first poll.
    pub async fn abort(&self) -> DrainReport {
        self.set.abort().await
    }
}

impl<A: Clone> Clone for GracefulAcceptor<A> {
    fn clone(&self) -> Self {
        GracefulAcceptor {
            inner: self.inner.clone(),
            set: self.set.clone(),
        }
    }
}

impl<A, Svc> Accept<TcpStream, Svc> for GracefulAcceptor<A>
where
    A: Accept<TcpStream, Svc>,
    A::Stream: TlsBackend + Send + 'static,
    A::Service: Send + 'static,
    A::Future: Send + 'static,
{
    type Stream = HandedStream<A::Stream>;
    type Service = A::Service;
    type Future = Accepting<A::Stream, A::Service>;

    fn accept(&self, tcp: TcpStream, service: Svc) -> Self::Future {
        let peer = tcp.peer_addr().ok();
        Box::pin(register(
            self.inner.accept(tcp, service),
            self.set.clone(),
            peer,
        ))
    }
}

#[cfg(unix)]
impl<A, Svc> Accept<tokio::net::UnixStream, Svc> for GracefulAcceptor<A>
where
    A: Accept<tokio::net::UnixStream, Svc>,
    A::Stream: TlsBackend + Send + 'static,
    A::Service: Send + 'static,
    A::Future: Send + 'static,
{
    type Stream = HandedStream<A::Stream>;
    type Service = A::Service;
    type Future = Accepting<A::Stream, A::Service>;

    fn accept(&self, unix: tokio::net::UnixStream, service: Svc) -> Self::Future {
        Box::pin(register(
            self.inner.accept(unix, service),
            self.set.clone(),
            None,
        ))
    }
}

/// Runs the inner acceptor (the TLS handshake), then registers the
/// connection in `set` and waits for the stream the set hands back (its
/// task starts at once: the handshake is done).
async fn register<T, Svc, F>(
    inner: F,
    set: Arc<ConnectionSet>,
    peer: Option<SocketAddr>,
) -> io::Result<(HandedStream<T>, Svc)>
where
    T: TlsBackend + Send + 'static,
    F: Future<Output = io::Result<(T, Svc)>>,
{
    let (tls, service) = inner.await?;
    let (deliver, delivered) = oneshot::channel();
    let handshake = std::future::ready(Ok::<T, std::convert::Infallible>(tls));
    let registered = hand_over(&set, peer, handshake, move |stream| {
        // Fails only if this future was dropped meanwhile (axum-server's
        // shutdown): the stream goes back to the set, which closes it.
        let _ = deliver.send(stream);
    });
    if let Err(refused) = registered {
        // The set drains: close_notify now (bounded, in the background:
        // dropping a cancelled `GracefulStream` sends it).
        let Ok(tls) = refused.into_inner().into_inner();
        let token = CancellationToken::new();
        token.cancel();
        drop(GracefulStream::with_config(tls, token, *set.config()));
        return Err(draining());
    }
    // Err only if the set forced before its task handed the stream over;
    // the set closed it.
    let stream = delivered.await.map_err(|_| draining())?;
    Ok((stream, service))
}

/// The error axum-server gets for a connection completed while the set
/// drains (or forced before it could be handed over): the stream is closed
/// with close_notify, axum-server should not serve it. Its source is
/// [`Refused`].
fn draining() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, Refused { inner: () })
}

impl<A: fmt::Debug> fmt::Debug for GracefulAcceptor<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulAcceptor")
            .field("inner", &self.inner)
            .field("set", &self.set)
            .finish()
    }
}
