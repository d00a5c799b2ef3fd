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
//! [`io::ErrorKind`], and by errno where std has no kind for the error
//! (`EPROTO`, `EHOSTDOWN`, `ENONET`...: see `is_connection_errno`), never by
//! the message.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::listener::Listener;

/// How long an accept error that is not about one connection (say, out of
/// file descriptors) pauses accepting: long enough not to spin (ten
/// attempts a second), short enough to serve again soon after descriptors
/// free up.
pub(super) const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A connection taken from the listener, with its places under the limits.
pub(super) struct Admitted<L: Listener> {
    pub(super) io: L::Io,
    pub(super) peer: L::Addr,
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
pub(super) struct Acceptor<L> {
    listener: L,
    connections: Arc<Semaphore>,
    handshakes: Arc<Semaphore>,
    errors: u64,
}

impl<L: Listener> Acceptor<L> {
    pub(super) fn new(listener: L, max_connections: usize, max_handshakes: usize) -> Self {
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
    /// Cancel-safe: no connection is accepted and lost (a [`Listener`]'s
    /// `accept` is cancel-safe; permits taken are given back).
    pub(super) async fn next(&mut self) -> Admitted<L> {
        loop {
            // The semaphores are never closed, so `acquire_owned` never fails.
            let Ok(connection) = self.connections.clone().acquire_owned().await else {
                return std::future::pending().await;
            };
            let Ok(handshake) = self.handshakes.clone().acquire_owned().await else {
                return std::future::pending().await;
            };
            match self.listener.accept().await {
                Ok((io, peer)) => {
                    return Admitted {
                        io,
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
///
/// Decided by [`io::ErrorKind`] where std names the error, and by errno
/// ([`is_connection_errno`]) where it does not: std maps several of the
/// errors Linux's accept(2) says to retry to `ErrorKind::Uncategorized`,
/// which no stable code can match.
fn is_connection_error(e: &io::Error) -> bool {
    let by_kind = matches!(
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
    );
    by_kind || e.raw_os_error().is_some_and(is_connection_errno)
}

/// The errors Linux's accept(2) says to treat like `EAGAIN` ("Linux
/// accept() passes already-pending network errors on the new socket as an
/// error code from accept(). [...] for reliable operation the application
/// should detect the network errors defined for the protocol after accept()
/// and treat them like EAGAIN by retrying": `ENETDOWN`, `EPROTO`,
/// `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`,
/// `ENETUNREACH`), plus the ones it lists for one connection: `ECONNABORTED`,
/// `EPERM` (a firewall rule) and `EINTR`. By number from `libc`, whose
/// constants follow each architecture (MIPS numbers them differently).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_connection_errno(errno: i32) -> bool {
    matches!(
        errno,
        libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::ECONNABORTED
            | libc::EPERM
            | libc::EINTR
    )
}

/// Elsewhere std's kinds cover the errors accept(2) documents for one
/// connection (`ECONNABORTED`, `EINTR`, Windows' `WSAECONNRESET`...).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn is_connection_errno(_errno: i32) -> bool {
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every errno Linux's accept(2) says to retry at once, by number: std
    /// gives several of them no kind of their own.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn linux_retry_errnos_are_about_one_connection() {
        for (name, errno) in [
            ("ENETDOWN", libc::ENETDOWN),
            ("EPROTO", libc::EPROTO),
            ("ENOPROTOOPT", libc::ENOPROTOOPT),
            ("EHOSTDOWN", libc::EHOSTDOWN),
            ("ENONET", libc::ENONET),
            ("EHOSTUNREACH", libc::EHOSTUNREACH),
            ("EOPNOTSUPP", libc::EOPNOTSUPP),
            ("ENETUNREACH", libc::ENETUNREACH),
            ("ECONNABORTED", libc::ECONNABORTED),
            ("EPERM", libc::EPERM),
            ("EINTR", libc::EINTR),
        ] {
            let e = io::Error::from_raw_os_error(errno);
            assert!(is_connection_error(&e), "{name} ({errno}, {e:?}) pauses");
        }
    }

    /// Out of descriptors or memory, and errors that are not the socket's
    /// at all: the same error would come back at once, so accepting pauses.
    #[cfg(unix)]
    #[test]
    fn resource_errnos_pause() {
        for (name, errno) in [
            ("EMFILE", libc::EMFILE),
            ("ENFILE", libc::ENFILE),
            ("ENOBUFS", libc::ENOBUFS),
            ("ENOMEM", libc::ENOMEM),
            ("EBADF", libc::EBADF),
            ("EINVAL", libc::EINVAL),
            ("ENOTSOCK", libc::ENOTSOCK),
            ("EFAULT", libc::EFAULT),
        ] {
            let e = io::Error::from_raw_os_error(errno);
            assert!(
                !is_connection_error(&e),
                "{name} ({errno}, {e:?}) retried at once"
            );
        }
    }

    /// Errors without an errno (a wrapped listener's) go by kind alone.
    #[test]
    fn kinds_without_errno() {
        for kind in [
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::Interrupted,
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::NetworkDown,
            io::ErrorKind::HostUnreachable,
        ] {
            assert!(is_connection_error(&io::Error::from(kind)), "{kind:?}");
        }
        for kind in [io::ErrorKind::OutOfMemory, io::ErrorKind::Other] {
            assert!(!is_connection_error(&io::Error::from(kind)), "{kind:?}");
        }
        assert!(!is_connection_error(&io::Error::other("anything")));
    }

    /// A limit of 0 would never accept: it counts as 1; a limit beyond
    /// what tokio's semaphore holds is its maximum (`Semaphore::new`
    /// panics above it).
    #[test]
    fn limits_become_permits() {
        assert_eq!(clamp_permits(0), 1);
        assert_eq!(clamp_permits(7), 7);
        assert_eq!(clamp_permits(usize::MAX), Semaphore::MAX_PERMITS);
    }

    /// The error's effect: one connection's error does not pause, any other
    /// does, and both are counted.
    #[cfg(unix)]
    #[test]
    fn accept_failed_counts_both() {
        let mut errors = 0;
        assert!(!accept_failed(
            &io::Error::from_raw_os_error(libc::ECONNABORTED),
            &mut errors
        ));
        assert!(accept_failed(
            &io::Error::from_raw_os_error(libc::EMFILE),
            &mut errors
        ));
        assert_eq!(errors, 2);
    }
}
