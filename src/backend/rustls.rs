//! [`TlsBackend`] for tokio-rustls client and server streams and the
//! `TlsStream` enum.

use std::io::{self, Read as _};
use std::task::{Context, Poll};

use rustls::{ConnectionCommon, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{shutdown_transport, Buffered, ErrorClass, HandshakeKind, TlsBackend, TlsVersion};

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

fn received_close_notify<D>(conn: &mut ConnectionCommon<D>) -> bool {
    // Processes nothing new (no I/O); reports rustls' record of the alert.
    conn.process_new_packets()
        .is_ok_and(|state| state.peer_has_closed())
}

fn classify_error(error: &io::Error) -> ErrorClass {
    // rustls' own failures travel as `rustls::Error` inside the io::Error.
    // tokio-rustls' truncation error is not one: the reader state
    // (`read_buffered`) identifies it.
    if is_rustls_error(error) {
        ErrorClass::Tls
    } else {
        ErrorClass::Transport
    }
}

/// Whether `error` (from a tokio-rustls stream or handshake, or a
/// `rustls::Error` itself) is a failure of rustls itself (a fatal alert sent
/// or received, a bad record, a rejected certificate), by type.
pub(crate) fn is_rustls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    error.is::<rustls::Error>()
        || error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .is_some_and(|inner| inner.is::<rustls::Error>())
}

fn handshake_kind(kind: Option<rustls::HandshakeKind>) -> Option<HandshakeKind> {
    Some(match kind? {
        rustls::HandshakeKind::Full => HandshakeKind::Full,
        rustls::HandshakeKind::FullWithHelloRetryRequest => {
            HandshakeKind::FullWithHelloRetryRequest
        }
        rustls::HandshakeKind::Resumed => HandshakeKind::Resumed,
    })
}

fn version(version: Option<ProtocolVersion>) -> Option<TlsVersion> {
    match version? {
        ProtocolVersion::TLSv1_0 => Some(TlsVersion::Tls10),
        ProtocolVersion::TLSv1_1 => Some(TlsVersion::Tls11),
        ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls12),
        ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls13),
        _ => None,
    }
}

macro_rules! rustls_backend {
    ($stream:ty) => {
        impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for $stream {
            fn is_handshake_complete(&self) -> bool {
                !self.get_ref().1.is_handshaking()
            }

            fn protocol_version(&self) -> Option<TlsVersion> {
                version(self.get_ref().1.protocol_version())
            }

            fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
                read_buffered(self.get_mut().1, buf)
            }

            fn received_close_notify(&mut self) -> bool {
                received_close_notify(self.get_mut().1)
            }

            fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Idempotent since rustls 0.23.7 (this crate's minimum).
                self.get_mut().1.send_close_notify();
                std::pin::Pin::new(self).poll_flush(cx)
            }

            fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                shutdown_transport(self.get_mut().0, cx)
            }

            fn classify_error(&self, error: &io::Error) -> ErrorClass {
                classify_error(error)
            }

            fn handshake_kind(&self) -> Option<HandshakeKind> {
                handshake_kind(self.get_ref().1.handshake_kind())
            }
        }
    };
}

rustls_backend!(tokio_rustls::client::TlsStream<IO>);
rustls_backend!(tokio_rustls::server::TlsStream<IO>);

/// Calls the same method on whichever stream the enum holds.
macro_rules! variant {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            tokio_rustls::TlsStream::Client(s) => s.$method($($arg),*),
            tokio_rustls::TlsStream::Server(s) => s.$method($($arg),*),
        }
    };
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for tokio_rustls::TlsStream<IO> {
    fn is_handshake_complete(&self) -> bool {
        variant!(self.is_handshake_complete())
    }

    fn protocol_version(&self) -> Option<TlsVersion> {
        variant!(self.protocol_version())
    }

    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
        variant!(self.read_buffered(buf))
    }

    fn received_close_notify(&mut self) -> bool {
        variant!(self.received_close_notify())
    }

    fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        variant!(self.poll_close_notify(cx))
    }

    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        variant!(self.poll_shutdown_transport(cx))
    }

    fn classify_error(&self, error: &io::Error) -> ErrorClass {
        variant!(self.classify_error(error))
    }

    fn handshake_kind(&self) -> Option<HandshakeKind> {
        variant!(self.handshake_kind())
    }
}
