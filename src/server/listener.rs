//! [`Listener`]: where [`serve_on`](super::serve_on) takes its connections
//! from. Implemented for tokio's `TcpListener` (what [`serve`](super::serve)
//! takes) and, on Unix, `UnixListener`; tests implement it over in-memory
//! pipes.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// A source of connections for [`serve_on`](super::serve_on) and
/// [`serve_hyper_on`](super::serve_hyper_on), as
/// `axum::serve::Listener` is for `axum::serve`: a TCP listener (what
/// [`serve`](super::serve) takes), a Unix socket listener, or anything
/// else that hands out byte streams, such as in-memory pipes in tests.
///
/// Accept errors are the server's to handle, not the listener's: each is
/// counted in the report (`accept-errors=`), and classified by its
/// [`io::ErrorKind`] (and errno, where std has no kind for it): an error
/// about one connection (`ConnectionAborted`, `ConnectionReset`,
/// `Interrupted`, a firewall's `PermissionDenied`...) is retried at once,
/// any other (out of file descriptors or memory) pauses accepting for
/// 100 ms. A listener of its own kind returns errors of those kinds; it
/// never has to retry or sleep itself.
///
/// What stays TCP only: a restart's handover (`Serve::with_handover`,
/// feature `restart`) passes the listening socket's descriptor to the next
/// process, so it exists only for `Serve` over a `TcpListener`.
///
/// ```
/// use std::io;
/// use std::net::SocketAddr;
/// use graceful_tls::server::Listener;
/// use tokio::io::DuplexStream;
/// use tokio::sync::mpsc;
///
/// /// Connections handed over by a test, one `DuplexStream` end each.
/// #[derive(Debug)]
/// struct Pipes(mpsc::Receiver<DuplexStream>);
///
/// impl Listener for Pipes {
///     type Io = DuplexStream;
///     type Addr = ();
///
///     async fn accept(&mut self) -> io::Result<(DuplexStream, ())> {
///         match self.0.recv().await {
///             Some(io) => Ok((io, ())),
///             // No more connections: wait for the server's drain.
///             None => std::future::pending().await,
///         }
///     }
///
///     fn local_addr(&self) -> io::Result<()> {
///         Ok(())
///     }
/// }
/// ```
pub trait Listener: Send + 'static {
    /// The byte stream of one connection, which the server handshakes and
    /// serves.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The address of a connection's peer, and of the listener.
    type Addr: Send + 'static;

    /// The next connection and its peer's address.
    ///
    /// # Errors
    ///
    /// What accepting met: the server counts it and classifies it by its
    /// kind (see the trait's docs), then accepts again.
    ///
    /// # Cancellation safety
    ///
    /// Must be cancel-safe: the server drops this future when its shutdown
    /// signal fires, and a connection it had taken would be lost (tokio's
    /// `TcpListener::accept` and `UnixListener::accept`, and a channel's
    /// `recv`, are).
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send;

    /// The address this listener accepts on.
    ///
    /// # Errors
    ///
    /// When the address cannot be read (the socket's own error).
    fn local_addr(&self) -> io::Result<Self::Addr>;

    /// The address the server reports the connection under
    /// ([`ConnectionReport::peer`](crate::ConnectionReport::peer)), if it
    /// has one as a [`SocketAddr`]. `None` by default.
    fn socket_addr(peer: &Self::Addr) -> Option<SocketAddr> {
        let _ = peer;
        None
    }

    /// Whether bytes the client sent wait unread in `io`'s receive queue,
    /// whatever the runtime's cached readiness says: a non-blocking peek of
    /// one byte. The server asks when its drain begins, so that a request
    /// already sent to an idle keep-alive connection, but not yet reported
    /// readable, is read and answered before hyper's graceful shutdown
    /// closes the connection (hyper #3792). The end of the stream and
    /// errors count as nothing waiting.
    ///
    /// `false` by default: right for streams whose reads see every byte
    /// once it is written (in-memory pipes), a small race otherwise.
    fn has_unread(io: &Self::Io) -> bool {
        let _ = io;
        false
    }
}

impl Listener for TcpListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    /// `TcpListener::accept`, with `TCP_NODELAY` set on the connection
    /// (its responses go out without waiting for the client's ACKs).
    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (tcp, peer) = TcpListener::accept(self).await?;
        let _ = tcp.set_nodelay(true);
        Ok((tcp, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }

    fn socket_addr(peer: &SocketAddr) -> Option<SocketAddr> {
        Some(*peer)
    }

    fn has_unread(io: &TcpStream) -> bool {
        peek(socket2::SockRef::from(io))
    }
}

#[cfg(unix)]
impl Listener for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
        tokio::net::UnixListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        tokio::net::UnixListener::local_addr(self)
    }

    fn has_unread(io: &Self::Io) -> bool {
        peek(socket2::SockRef::from(io))
    }
}

/// A non-blocking `MSG_PEEK` of one byte, which sees the kernel's queue
/// whatever tokio's cached readiness says. The end of the stream (0) and
/// errors count as nothing waiting: hyper learns of them by reading.
///
/// The TLS layer holds nothing hyper has not read when hyper waits:
/// tokio-rustls returns `Pending` only once rustls has no plaintext left
/// and the socket would block; a partial record in rustls waits for the
/// rest, which is in the socket (seen here) or not yet arrived.
fn peek(socket: socket2::SockRef<'_>) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit()];
    matches!(socket.peek(&mut byte), Ok(n) if n > 0)
}
