//! The accept step of [`Serve`](super::Serve): waits for room under the
//! connection and handshake limits, accepts, and survives accept errors.
//!
//! An accept error never ends serving. Errors about one connection (it was
//! reset, aborted or refused before we took it, a firewall rule, a network
//! that went away) are retried at once: the next connection may be fine.
//! Any other error (out of file descriptors: `EMFILE`, `ENFILE`; out of
//! memory: `ENOBUFS`, `ENOMEM`; anything unknown) pauses accepting for
//! [`ACCEPT_ERROR_PAUSE`]: retrying at once would spin on the same error,
//! since the connection that triggered it stays in the kernel's queue until
//! a descriptor frees up. Both kinds are counted and traced. Decided by
//! [`io::ErrorKind`], never by the message.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long an accept error that is not about one connection (say, out of
/// file descriptors) pauses accepting: long enough not to spin (ten
/// attempts a second), short enough to serve again soon after descriptors
/// free up.
pub(super) const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A connection taken from the listener, with its places under the limits.
pub(super) struct Admitted {
    pub(super) tcp: TcpStream,
    pub(super) peer: SocketAddr,
    /// Held while the connection is handshaken and served.
    pub(super) connection: OwnedSemaphorePermit,
    /// Held while the TLS handshake runs.
    pub(super) handshake: OwnedSemaphorePermit,
}

pin_project_lite::pin_project! {
    /// A connection's TLS handshake, holding its place under
    /// `max_handshakes` ([`Admitted::handshake`]) until it completes or is
    /// dropped. A struct rather than `async move { let tls = accept.await;
    /// drop(place); tls }`: the block would hold the handshake, a whole TLS
    /// stream, twice (its capture and the awaited value).
    pub(super) struct Handshaking<F> {
        #[pin]
        handshake: F,
        place: Option<OwnedSemaphorePermit>,
    }
}

impl<F> Handshaking<F> {
    pub(super) fn new(handshake: F, place: OwnedSemaphorePermit) -> Self {
        Handshaking {
            handshake,
            place: Some(place),
        }
    }
}

impl<F: Future> Future for Handshaking<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let done = std::task::ready!(this.handshake.poll(cx));
        *this.place = None;
        Poll::Ready(done)
    }
}

/// The listener, the limits, and the accept errors seen so far.
pub(super) struct Acceptor {
    listener: TcpListener,
    connections: Arc<Semaphore>,
    handshakes: Arc<Semaphore>,
    errors: u64,
}

impl Acceptor {
    pub(super) fn new(
        listener: TcpListener,
        max_connections: usize,
        max_handshakes: usize,
    ) -> Self {
        Acceptor {
            listener,
            connections: Arc::new(Semaphore::new(clamp_permits(max_connections))),
            handshakes: Arc::new(Semaphore::new(clamp_permits(max_handshakes))),
            errors: 0,
        }
    }

    /// How many accept errors were seen (both kinds).
    pub(super) fn errors(&self) -> u64 {
        self.errors
    }

    /// The next connection, once there is room for it: while
    /// `max_connections` connections are served or `max_handshakes`
    /// handshakes run, nothing is accepted (clients wait in the kernel's
    /// queue, as its backlog allows). Accept errors are counted, traced and
    /// retried (see the module docs).
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: no connection is accepted and lost (tokio's `accept`
    /// is cancel-safe; permits taken are given back).
    pub(super) async fn next(&mut self) -> Admitted {
        loop {
            // The semaphores are never closed, so `acquire_owned` never fails.
            let Ok(connection) = self.connections.clone().acquire_owned().await else {
                return std::future::pending().await;
            };
            let Ok(handshake) = self.handshakes.clone().acquire_owned().await else {
                return std::future::pending().await;
            };
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    return Admitted {
                        tcp,
                        peer,
                        connection,
                        handshake,
                    }
                }
                Err(e) => {
                    if accept_failed(&e, &mut self.errors) {
                        drop((connection, handshake));
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                }
            }
        }
    }
}

/// Counts and traces an accept error; returns whether accepting should
/// pause for [`ACCEPT_ERROR_PAUSE`] (any error not about one connection).
/// Shared by [`Acceptor`] and `GracefulListener`.
pub(super) fn accept_failed(e: &io::Error, errors: &mut u64) -> bool {
    *errors = errors.saturating_add(1);
    let one_connection = is_connection_error(e);
    trace_accept_error(e, one_connection, *errors);
    !one_connection
}

/// A limit as semaphore permits: at least one (a zero limit would never
/// accept), at most what tokio's semaphore holds.
fn clamp_permits(limit: usize) -> usize {
    limit.clamp(1, Semaphore::MAX_PERMITS)
}

/// Accept errors about one connection (it was reset or aborted before we
/// took it, a firewall refused it, its network went away, a signal
/// interrupted the call): accept the next one at once. Any other error (out
/// of file descriptors or memory...) pauses accepting for a moment.
/// Decided by kind (Linux's accept(2) lists the errors to retry).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::TimedOut
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable
    )
}

/// Traces an accept error (a `debug` event for one connection's, a `warn`
/// for the others).
#[cfg(feature = "tracing")]
fn trace_accept_error(e: &io::Error, one_connection: bool, total: u64) {
    let kind = e.kind().to_string();
    let errno = e.raw_os_error().unwrap_or(0);
    if one_connection {
        tracing::debug!(
            target: "graceful_tls::server",
            error = %e, kind, errno, accept_errors = total,
            "accept error about one connection, accepting the next"
        );
    } else {
        tracing::warn!(
            target: "graceful_tls::server",
            error = %e, kind, errno, accept_errors = total,
            pause_ms = ACCEPT_ERROR_PAUSE.as_millis() as u64,
            "accept error (out of descriptors or memory?), pausing accepting"
        );
    }
}

#[cfg(not(feature = "tracing"))]
fn trace_accept_error(_e: &io::Error, _one_connection: bool, _total: u64) {}
