//! The TLS stacks under test, behind one type: [`AnyTls`] delegates to a
//! tokio-rustls or a tokio-openssl stream, so that one suite drives every
//! backend and every mixed pair through the real `TlsBackend` impls.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use graceful_tls::backend::{Buffered, ErrorClass};
use graceful_tls::{TlsBackend, TlsVersion};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::pairs::{self, Side, Version};

/// A TLS library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Rustls,
    #[cfg(feature = "openssl")]
    OpenSsl,
}

/// Who is under test (`ours`, wrapped in `GracefulStream`) and who is the
/// bare peer.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub ours: Stack,
    pub peer: Stack,
}

/// A TLS stream of either stack. (Boxing the rustls variant would make the
/// test type differ from what users wrap; its size does not matter here.)
#[allow(clippy::large_enum_variant)]
pub enum AnyTls<IO> {
    Rustls(tokio_rustls::TlsStream<IO>),
    #[cfg(feature = "openssl")]
    OpenSsl(tokio_openssl::SslStream<IO>),
}

macro_rules! delegate {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyTls::Rustls($s) => $e,
            #[cfg(feature = "openssl")]
            AnyTls::OpenSsl($s) => $e,
        }
    };
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AnyTls<IO> {
    /// The transport, for writing garbage past the TLS layer.
    pub fn io_mut(&mut self) -> &mut IO {
        match self {
            AnyTls::Rustls(s) => s.get_mut().0,
            #[cfg(feature = "openssl")]
            AnyTls::OpenSsl(s) => s.get_mut(),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for AnyTls<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for AnyTls<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for AnyTls<IO> {
    fn is_handshake_complete(&self) -> bool {
        delegate!(self, s => s.is_handshake_complete())
    }
    fn protocol_version(&self) -> Option<TlsVersion> {
        delegate!(self, s => s.protocol_version())
    }
    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
        delegate!(self, s => s.read_buffered(buf))
    }
    fn received_close_notify(&mut self) -> bool {
        delegate!(self, s => s.received_close_notify())
    }
    fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_close_notify(cx))
    }
    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown_transport(cx))
    }
    fn classify_error(&self, error: &io::Error) -> ErrorClass {
        delegate!(self, s => s.classify_error(error))
    }
}

async fn connect<IO>(stack: Stack, version: Version, io: IO) -> AnyTls<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match stack {
        Stack::Rustls => {
            let connector = tokio_rustls::TlsConnector::from(pairs::client_config(version));
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            AnyTls::Rustls(
                connector
                    .connect(name, io)
                    .await
                    .expect("rustls connect")
                    .into(),
            )
        }
        #[cfg(feature = "openssl")]
        Stack::OpenSsl => AnyTls::OpenSsl(crate::openssl_stack::connect(version, io).await),
    }
}

async fn accept<IO>(stack: Stack, version: Version, io: IO) -> AnyTls<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match stack {
        Stack::Rustls => {
            let acceptor = tokio_rustls::TlsAcceptor::from(pairs::server_config(version));
            AnyTls::Rustls(acceptor.accept(io).await.expect("rustls accept").into())
        }
        #[cfg(feature = "openssl")]
        Stack::OpenSsl => AnyTls::OpenSsl(crate::openssl_stack::accept(version, io).await),
    }
}

impl Pair {
    /// Handshakes (ours, peer) over connected transports; `side` is ours.
    pub async fn handshake<IO>(
        self,
        side: Side,
        version: Version,
        a: IO,
        b: IO,
    ) -> (AnyTls<IO>, AnyTls<IO>)
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let (ours, peer) = match side {
            Side::Client => tokio::join!(
                connect(self.ours, version, a),
                accept(self.peer, version, b)
            ),
            Side::Server => {
                let (peer, ours) = tokio::join!(
                    connect(self.peer, version, b),
                    accept(self.ours, version, a)
                );
                (ours, peer)
            }
        };
        for stream in [&ours, &peer] {
            assert!(stream.is_handshake_complete());
            assert_eq!(stream.protocol_version(), Some(version.tls()));
        }
        (ours, peer)
    }

    /// (ours, peer) in memory; `capacity` bounds each direction.
    pub async fn duplex(
        self,
        side: Side,
        version: Version,
        capacity: usize,
    ) -> (AnyTls<DuplexStream>, AnyTls<DuplexStream>) {
        let (a, b) = tokio::io::duplex(capacity);
        self.handshake(side, version, a, b).await
    }

    /// (ours, peer) over loopback TCP.
    pub async fn tcp(self, side: Side, version: Version) -> (AnyTls<TcpStream>, AnyTls<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
        self.handshake(side, version, a.expect("connect"), b.expect("accept").0)
            .await
    }
}
