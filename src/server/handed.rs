//! [`HandedStream`]: a connection of a [`ConnectionSet`] handed to a server
//! this crate does not run (axum-server's `Server`, tonic's `Server`),
//! while the set keeps the right to close it.
//!
//! The set runs each connection in a task of its own ([`ConnectionSet::spawn_lent`]):
//! the handshake, then a handler that gets the stream as a [`LentStream`],
//! then the close. Here the handler does not serve the connection: it
//! hands the stream to the server (through a channel the server's accept
//! side waits on) and waits until the server drops it. So, as with
//! [`serve`](super::serve):
//!
//! * while the server holds the stream, its `poll_shutdown` only flushes
//!   (hyper's close): once the server drops the stream, the set's task
//!   closes it, close_notify then a bounded wait for the peer's;
//! * a server that drops a connection mid-exchange (axum-server at its
//!   graceful-shutdown deadline) drops the stream the same way: the set
//!   closes it with close_notify all the same;
//! * at the set's own deadline, the set takes the stream back from the
//!   server and closes it with close_notify within `flush_timeout`; the
//!   server's later reads and writes fail ([`Error::Closed`](crate::Error::Closed)).
//!
//! Why the handler waits for the drop rather than returning at once: a
//! returned handler turns the lent stream's `poll_shutdown` into a full
//! close, so hyper's connection (and the server's count of live
//! connections, which its graceful shutdown waits on) would stay alive for
//! the wait for the peer's close_notify. Waiting instead lets the server
//! forget the connection as soon as hyper is done, and the close runs in
//! the set's task.
//!
//! [`ConnectionSet`]: crate::ConnectionSet
//! [`ConnectionSet::spawn_lent`]: crate::ConnectionSet::spawn_lent

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::{ConnectionSet, GracefulStream, LentStream, Refused, TlsBackend};

/// A connection's stream, handed by a [`ConnectionSet`](crate::ConnectionSet)
/// to a server that this crate does not run: what `GracefulAcceptor`
/// (feature `axum-server`) gives axum-server, and what `IncomingStream`
/// (feature `tonic`) wraps for tonic. `AsyncRead + AsyncWrite + Unpin +
/// Send + 'static`.
///
/// `poll_shutdown` only flushes: when the server drops the stream, the set
/// closes it (close_notify, then a bounded wait for the peer's), whether
/// the server was done with the connection or cut it. At the set's
/// deadline the set takes the stream back and closes it; every later poll
/// fails with [`Error::Closed`](crate::Error::Closed).
pub struct HandedStream<S: TlsBackend> {
    lent: LentStream<S>,
    /// Dropped with the stream: ends the set's handler for this
    /// connection, so that the set's task closes the stream.
    _served: oneshot::Sender<()>,
}

impl<S: TlsBackend> HandedStream<S> {
    /// Runs `f` on the stream (to read its TLS session: ALPN, SNI, the
    /// peer's certificates), if the set has not taken it back.
    pub fn with_stream<R>(&self, f: impl FnOnce(&GracefulStream<S>) -> R) -> Option<R> {
        self.lent.with_stream(f)
    }
}

/// Registers a connection in `set`: its handshake runs in the set's task
/// (under the set's handshake timeout, cut at its deadline); once it
/// completes, `deliver` gets the stream, in that task. If `deliver` drops
/// it (its receiver is gone), the set closes the stream at once, with
/// close_notify.
///
/// # Errors
///
/// [`Refused`] once the set drains, with the handshake, not polled.
pub(super) fn hand_over<S, E, F, D>(
    set: &ConnectionSet,
    peer: Option<SocketAddr>,
    handshake: F,
    deliver: D,
) -> Result<u64, Refused<F>>
where
    S: TlsBackend + Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = Result<S, E>> + Send + 'static,
    D: FnOnce(HandedStream<S>) + Send + 'static,
{
    set.spawn_lent(peer, handshake, move |lent, _signal| {
        // The server winds the connection down itself (hyper's graceful
        // shutdown, on the server's own signal); the handler only waits
        // for the server to drop the stream.
        let (served, dropped) = oneshot::channel::<()>();
        deliver(HandedStream {
            lent,
            _served: served,
        });
        async move {
            // Err once the sender is dropped: the only way it resolves.
            let _ = dropped.await;
        }
    })
}

impl<S: TlsBackend> AsyncRead for HandedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lent).poll_read(cx, buf)
    }
}

impl<S: TlsBackend> AsyncWrite for HandedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lent).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lent).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.lent.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lent).poll_flush(cx)
    }

    /// A flush: the set closes the stream once the server drops it (the
    /// handler is still running, so the lent stream's `poll_shutdown`
    /// flushes).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lent).poll_shutdown(cx)
    }
}

impl<S: TlsBackend> fmt::Debug for HandedStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandedStream")
            .field("lent", &self.lent)
            .finish_non_exhaustive()
    }
}
