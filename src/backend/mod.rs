#![doc = include_str!("../docs/backend.md")]

use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

mod handshake;
#[cfg(feature = "openssl")]
mod openssl;
mod rustls;
mod version;

pub(crate) use self::rustls::is_rustls_error;
pub use handshake::HandshakeKind;
pub use version::TlsVersion;

/// What the TLS layer holds for the reader right now, from
/// [`TlsBackend::read_buffered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buffered {
    /// This many bytes of already-decrypted plaintext were copied.
    Data(usize),
    /// No plaintext is buffered, and the TLS layer does not know (without
    /// transport I/O) that the read direction ended.
    Empty,
    /// No plaintext is buffered and the peer's close_notify was received.
    CloseNotify,
    /// No plaintext is buffered and the transport reached EOF without a
    /// close_notify.
    TransportEof,
}

/// What an `io::Error` from a TLS stream means, from
/// [`TlsBackend::classify_error`]. Decided by the error's type and codes,
/// never by its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The TLS layer failed: invalid records, a fatal alert, a failed
    /// handshake.
    Tls,
    /// The transport failed (reset, broken pipe, timeout...), or the error
    /// is not the TLS layer's.
    Transport,
    /// The TLS layer reports, as an error, that the transport ended without
    /// close_notify (OpenSSL 3's `SSL_R_UNEXPECTED_EOF_WHILE_READING`): a
    /// truncation, not a failure.
    TransportEof,
}

/// A TLS stream that [`GracefulStream`](crate::GracefulStream) can drive.
///
/// Every method answers from the TLS library's own state or error types,
/// never from error messages. Implemented for tokio-rustls client and server
/// streams and the [`tokio_rustls::TlsStream`] enum, and, with the cargo
/// feature `openssl`, for `tokio_openssl::SslStream`.
///
/// **Not sealed**, on purpose: the crate promises to wrap any tokio TLS
/// stream, so a stack we do not ship (or a wrapper around one we do) can
/// implement it; [the backend guide](crate::backend#adding-a-backend)
/// shows how. Adding a required method would be a
/// breaking change, which is the price of that openness: the trait is kept
/// to what the state machine needs, and new methods come with a default (like
/// [`handshake_kind`](Self::handshake_kind)) so that existing
/// implementations keep compiling.
///
/// How [`GracefulStream`](crate::GracefulStream) uses it:
/// * reads go through `poll_read`; a read that returns no bytes, or an error,
///   is resolved by [`read_buffered`](Self::read_buffered),
///   [`classify_error`](Self::classify_error) and, for an empty read,
///   [`received_close_notify`](Self::received_close_notify);
/// * after cancellation only [`read_buffered`](Self::read_buffered) is
///   called, so no transport I/O happens;
/// * closing calls [`poll_close_notify`](Self::poll_close_notify) until it
///   is ready (never again afterwards, never after a fatal error), then
///   reads until the peer's close_notify, then
///   [`poll_shutdown_transport`](Self::poll_shutdown_transport). The
///   stream's own `poll_shutdown` is never called; its `poll_flush` only
///   when the user flushes.
pub trait TlsBackend: AsyncRead + AsyncWrite + Unpin {
    /// Whether the TLS handshake has completed.
    fn is_handshake_complete(&self) -> bool;

    /// The negotiated protocol version, `None` while handshaking.
    fn protocol_version(&self) -> Option<TlsVersion>;

    /// Copies plaintext that the TLS layer has already decrypted into `buf`,
    /// **without any transport I/O**; when there is none, says whether the
    /// TLS layer already knows that the read direction ended, and how.
    /// `buf` is never empty. [`Buffered::Empty`] is always a correct answer
    /// when the library cannot tell without I/O.
    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered;

    /// Whether the peer's close_notify was received. Called only after
    /// `poll_read` returned no bytes and
    /// [`read_buffered`](Self::read_buffered) said
    /// [`Empty`](Buffered::Empty): the read direction has ended, and this
    /// tells a clean end from a truncation. The transport is at its end, so
    /// an implementation may make one non-blocking read attempt to ask the
    /// TLS library.
    fn received_close_notify(&mut self) -> bool;

    /// Sends close_notify behind every record written so far and hands it
    /// to the transport (flushed), without closing the transport if the TLS
    /// library allows (see each implementation). `Pending` means "call
    /// again"; it is never called again once it returned `Ready(Ok(()))`, and
    /// never after a fatal TLS error.
    fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Shuts down the transport's write half directly, without the TLS
    /// layer (used after close_notify, or when it could not be flushed in
    /// time). `NotConnected` counts as success.
    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// What `error`, returned by this stream's `poll_read`, `poll_write` or
    /// `poll_flush`, means. Decide by type and error codes, not message.
    fn classify_error(&self, error: &io::Error) -> ErrorClass;

    /// Which sort of handshake established the connection, `None` while
    /// handshaking or when the TLS library cannot tell.
    ///
    /// Defaults to `None`, so that backends written before this method
    /// existed keep compiling; override it when the library knows (rustls:
    /// `CommonState::handshake_kind`, OpenSSL: `SSL_session_reused`).
    fn handshake_kind(&self) -> Option<HandshakeKind> {
        None
    }
}

/// Shuts `io`'s write half, counting `NotConnected` (already shut or reset
/// by the peer) as success.
fn shutdown_transport<IO: AsyncWrite + Unpin>(
    io: &mut IO,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match std::pin::Pin::new(io).poll_shutdown(cx) {
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
        other => other,
    }
}
