//! What [`GracefulStream`](crate::GracefulStream) needs from a TLS stream, and
//! its implementation for tokio-rustls.

use std::io::{self, Read as _};
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::{ConnectionCommon, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};

/// What the TLS layer holds for the reader right now, from
/// [`TlsBackend::read_buffered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buffered {
    /// This many bytes of already-decrypted plaintext were copied.
    Data(usize),
    /// No plaintext is buffered and the read direction is still open.
    Empty,
    /// No plaintext is buffered and the peer's close_notify was received.
    CloseNotify,
    /// No plaintext is buffered and the transport reached EOF without a
    /// close_notify.
    TransportEof,
}

/// A TLS stream that [`GracefulStream`](crate::GracefulStream) can drive.
///
/// The trait is public and not sealed so that other TLS stacks can be
/// plugged in; every method answers from the TLS library's state, never from
/// error messages. Implemented for tokio-rustls client and server streams and
/// for the [`tokio_rustls::TlsStream`] enum.
pub trait TlsBackend: AsyncRead + AsyncWrite + Unpin {
    /// Copies plaintext that the TLS layer has already decrypted into `buf`,
    /// without any transport I/O; when there is none, says whether the read
    /// direction is still open, ended by close_notify, or ended by a
    /// transport EOF without one. `buf` is never empty.
    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered;

    /// Queues close_notify behind any pending records without closing the
    /// transport; the next flush sends it. Must be idempotent and must do
    /// nothing after a fatal alert.
    fn queue_close_notify(&mut self);

    /// Shuts down the transport's write half directly, without flushing the
    /// TLS layer (used when close_notify could not be flushed in time).
    /// `NotConnected` counts as success.
    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Whether `error`, returned by this stream's `poll_read`, `poll_write`
    /// or `poll_flush`, is a failure of the TLS layer (invalid records, fatal
    /// alert) rather than of the transport. Decide by type, not message.
    fn is_tls_error(&self, error: &io::Error) -> bool;

    /// The negotiated protocol version, `None` while handshaking.
    fn protocol_version(&self) -> Option<ProtocolVersion>;
}

fn read_buffered<D>(conn: &mut ConnectionCommon<D>, buf: &mut [u8]) -> Buffered {
    // rustls' Reader is a state query: Ok(n) plaintext, Ok(0) close_notify
    // received, UnexpectedEof transport EOF seen without close_notify,
    // WouldBlock still open (docs of `impl Read for rustls::Reader`).
    match conn.reader().read(buf) {
        Ok(0) => Buffered::CloseNotify,
        Ok(n) => Buffered::Data(n),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Buffered::TransportEof,
        Err(_) => Buffered::Empty,
    }
}

fn shutdown_transport<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match Pin::new(io).poll_shutdown(cx) {
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
        other => other,
    }
}

fn is_rustls_error(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

macro_rules! rustls_backend {
    ($stream:ty) => {
        impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for $stream {
            fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
                read_buffered(self.get_mut().1, buf)
            }

            fn queue_close_notify(&mut self) {
                self.get_mut().1.send_close_notify();
            }

            fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                shutdown_transport(self.get_mut().0, cx)
            }

            fn is_tls_error(&self, error: &io::Error) -> bool {
                is_rustls_error(error)
            }

            fn protocol_version(&self) -> Option<ProtocolVersion> {
                self.get_ref().1.protocol_version()
            }
        }
    };
}

rustls_backend!(tokio_rustls::client::TlsStream<IO>);
rustls_backend!(tokio_rustls::server::TlsStream<IO>);

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for tokio_rustls::TlsStream<IO> {
    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
        match self {
            tokio_rustls::TlsStream::Client(s) => s.read_buffered(buf),
            tokio_rustls::TlsStream::Server(s) => s.read_buffered(buf),
        }
    }

    fn queue_close_notify(&mut self) {
        self.get_mut().1.send_close_notify();
    }

    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        shutdown_transport(self.get_mut().0, cx)
    }

    fn is_tls_error(&self, error: &io::Error) -> bool {
        is_rustls_error(error)
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.get_ref().1.protocol_version()
    }
}
