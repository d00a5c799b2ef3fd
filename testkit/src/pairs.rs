//! Real rustls client/server pairs for the tests: in memory over
//! `tokio::io::duplex` and over loopback TCP.

use std::sync::Arc;

use crate::certs as configs;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};
use tokio::io::DuplexStream;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

/// The TLS versions every behaviour is tested with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

pub const VERSIONS: [Version; 2] = [Version::Tls12, Version::Tls13];

impl Version {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Version::Tls12 => &rustls::version::TLS12,
            Version::Tls13 => &rustls::version::TLS13,
        }
    }

    /// The version as graceful-tls reports it.
    pub fn tls(self) -> graceful_tls::TlsVersion {
        match self {
            Version::Tls12 => graceful_tls::TlsVersion::Tls12,
            Version::Tls13 => graceful_tls::TlsVersion::Tls13,
        }
    }

    pub fn protocol(self) -> rustls::ProtocolVersion {
        match self {
            Version::Tls12 => rustls::ProtocolVersion::TLSv1_2,
            Version::Tls13 => rustls::ProtocolVersion::TLSv1_3,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config(version: Version) -> Arc<ServerConfig> {
    let config = configs::server_config(
        provider(),
        &[version.rustls()],
        configs::SERVER_PEM,
        configs::SERVER_KEY,
    );
    Arc::new(config.expect("server config"))
}

pub fn client_config(version: Version) -> Arc<ClientConfig> {
    let config = configs::client_config(provider(), &[version.rustls()], configs::CA_PEM);
    Arc::new(config.expect("client config"))
}

/// Handshakes a client and a server over any pair of connected transports.
pub async fn handshake<IO>(
    version: Version,
    client_io: IO,
    server_io: IO,
) -> (client::TlsStream<IO>, server::TlsStream<IO>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let connector = TlsConnector::from(client_config(version));
    let acceptor = TlsAcceptor::from(server_config(version));
    let name = ServerName::try_from("localhost").expect("server name");
    let (client, server) = tokio::join!(
        connector.connect(name, client_io),
        acceptor.accept(server_io)
    );
    let client = client.expect("client handshake");
    let server = server.expect("server handshake");
    assert_eq!(
        client.get_ref().1.protocol_version(),
        Some(version.protocol())
    );
    (client, server)
}

/// An in-memory pair; `capacity` bounds each direction's buffer, so a small
/// value models a peer that stops reading.
pub async fn duplex_pair(
    version: Version,
    capacity: usize,
) -> (
    client::TlsStream<DuplexStream>,
    server::TlsStream<DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(capacity);
    handshake(version, a, b).await
}

/// A loopback TCP pair.
pub async fn tcp_pair(
    version: Version,
) -> (client::TlsStream<TcpStream>, server::TlsStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client_io, server_io) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let client_io = client_io.expect("connect");
    let (server_io, _) = server_io.expect("accept");
    handshake(version, client_io, server_io).await
}

/// Which end of the connection the `GracefulStream` under test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

pub const SIDES: [Side; 2] = [Side::Client, Side::Server];

/// Every side × version combination.
/// A TLS 1.3 client connection to a server on `addr` (verified as
/// `localhost`) offering one ALPN protocol (`b"h2"`, `b"http/1.1"`).
pub async fn connect_alpn(addr: std::net::SocketAddr, alpn: &[u8]) -> Tls<TcpStream> {
    let mut config = (*client_config(Version::Tls13)).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    Tls::from(tls)
}

pub fn cases() -> impl Iterator<Item = (Side, Version)> {
    SIDES
        .into_iter()
        .flat_map(|side| VERSIONS.into_iter().map(move |version| (side, version)))
}

pub type Tls<IO> = tokio_rustls::TlsStream<IO>;

fn orient<IO>(
    side: Side,
    client: client::TlsStream<IO>,
    server: server::TlsStream<IO>,
) -> (Tls<IO>, Tls<IO>) {
    match side {
        Side::Client => (client.into(), server.into()),
        Side::Server => (server.into(), client.into()),
    }
}

/// (ours, peer) in memory; `capacity` bounds each direction.
pub async fn duplex_sides(
    side: Side,
    version: Version,
    capacity: usize,
) -> (Tls<DuplexStream>, Tls<DuplexStream>) {
    let (client, server) = duplex_pair(version, capacity).await;
    orient(side, client, server)
}

/// (ours, peer) over loopback TCP.
pub async fn tcp_sides(side: Side, version: Version) -> (Tls<TcpStream>, Tls<TcpStream>) {
    let (client, server) = tcp_pair(version).await;
    orient(side, client, server)
}

/// What a bare peer saw when reading to the end.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerSaw {
    /// Everything it read, then the close_notify.
    CloseNotify(Vec<u8>),
    /// Everything it read, then a transport EOF without close_notify.
    Truncated(Vec<u8>),
    /// Another error.
    Error(std::io::ErrorKind),
}

/// Reads a bare stream to its end. The verdict comes from the peer's TLS
/// library, never from `Ok(0)` alone: rustls' `Ok(0)` only after
/// close_notify and `UnexpectedEof` with its reader state; OpenSSL's
/// `SSL_RECEIVED_SHUTDOWN` flag. So a truncation can never pass for a clean
/// close.
pub async fn peer_read_to_end<P>(peer: &mut P) -> PeerSaw
where
    P: tokio::io::AsyncRead + graceful_tls::TlsBackend + Unpin,
{
    use graceful_tls::backend::{Buffered, ErrorClass};
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match peer.read(&mut buf).await {
            Ok(0) if peer.received_close_notify() => return PeerSaw::CloseNotify(data),
            Ok(0) => return PeerSaw::Truncated(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => {
                let truncated = peer.classify_error(&e) == ErrorClass::TransportEof
                    || peer.read_buffered(&mut [0u8; 1]) == Buffered::TransportEof;
                return if truncated {
                    PeerSaw::Truncated(data)
                } else {
                    PeerSaw::Error(e.kind())
                };
            }
        }
    }
}

/// Deterministic test payload.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// Shuts the peer's transport write half without close_notify: a truncation.
pub async fn truncate<IO>(peer: &mut Tls<IO>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    peer.flush().await.expect("peer flush");
    peer.get_mut()
        .0
        .shutdown()
        .await
        .expect("peer transport shutdown");
}
