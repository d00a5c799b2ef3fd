//! [`HttpsStream`]: a `GracefulStream` as hyper sees a connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ConnectionInfo;
use crate::GracefulStream;

/// A connection made by an [`HttpsConnector`](super::HttpsConnector): a
/// [`GracefulStream`] over rustls over TCP, with hyper's I/O traits.
///
/// hyper closes it through `poll_shutdown` (close_notify, without waiting
/// for the server's) or drops it; a drop sends close_notify too (see
/// [Dropping](GracefulStream#dropping)). Either way the connector's end
/// hook learns the outcome.
#[derive(Debug)]
pub struct HttpsStream {
    io: TokioIo<GracefulStream<TlsStream<TcpStream>>>,
    info: ConnectionInfo,
}

impl HttpsStream {
    pub(super) fn new(stream: GracefulStream<TlsStream<TcpStream>>, info: ConnectionInfo) -> Self {
        HttpsStream {
            io: TokioIo::new(stream),
            info,
        }
    }

    /// Which connection this is.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The stream.
    pub fn get_ref(&self) -> &GracefulStream<TlsStream<TcpStream>> {
        self.io.inner()
    }

    /// The stream, mutably (e.g. to [`close`](GracefulStream::close) it
    /// when using the connector without hyper's pool).
    pub fn get_mut(&mut self) -> &mut GracefulStream<TlsStream<TcpStream>> {
        self.io.inner_mut()
    }
}

impl Connection for HttpsStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(self.info.clone());
        if self.info.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for HttpsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for HttpsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}
