//! Real rustls over loopback TCP: TLS 1.3, AES-128-GCM only, ring provider,
//! the test certificates, `TCP_NODELAY` on every socket.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use graceful_tls_testkit::certs as configs;

pub type Client = tokio_rustls::client::TlsStream<TcpStream>;
pub type Server = tokio_rustls::server::TlsStream<TcpStream>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..ring::default_provider()
    })
}

pub fn acceptor() -> TlsAcceptor {
    let config = configs::server_config(
        provider(),
        &[&rustls::version::TLS13],
        configs::SERVER_PEM,
        configs::SERVER_KEY,
    );
    TlsAcceptor::from(Arc::new(config.expect("server config")))
}

pub fn connector() -> TlsConnector {
    let config = configs::client_config(provider(), &[&rustls::version::TLS13], configs::CA_PEM);
    TlsConnector::from(Arc::new(config.expect("client config")))
}

/// Client side of one connection to `addr`.
pub async fn connect(connector: &TlsConnector, addr: SocketAddr) -> std::io::Result<Client> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").expect("server name");
    connector.connect(name, tcp).await
}

/// Server side of one accepted connection.
pub async fn accept(acceptor: &TlsAcceptor, tcp: TcpStream) -> std::io::Result<Server> {
    tcp.set_nodelay(true)?;
    acceptor.accept(tcp).await
}

/// A listener that hands out connected (client, server) pairs.
pub struct Loopback {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl Loopback {
    pub async fn bind() -> Self {
        Loopback {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            acceptor: acceptor(),
            connector: connector(),
        }
    }

    pub async fn pair(&self) -> (Client, Server) {
        let addr = self.listener.local_addr().expect("addr");
        let (client, server) = tokio::join!(connect(&self.connector, addr), async {
            let (tcp, _) = self.listener.accept().await?;
            accept(&self.acceptor, tcp).await
        });
        let (client, server) = (client.expect("client"), server.expect("server"));
        let suite = server.get_ref().1.negotiated_cipher_suite().expect("suite");
        assert_eq!(suite.suite(), rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        (client, server)
    }
}
