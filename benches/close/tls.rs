//! Real rustls over loopback TCP: TLS 1.3, AES-128-GCM only, ring provider,
//! the test certificates, `TCP_NODELAY` on every socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub type Client = tokio_rustls::client::TlsStream<TcpStream>;
pub type Server = tokio_rustls::server::TlsStream<TcpStream>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..ring::default_provider()
    })
}

fn cert_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/certs")
}

pub fn acceptor() -> TlsAcceptor {
    let dir = cert_dir();
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("tests/certs/server.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse server.pem");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

pub fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_dir().join("ca.pem")).expect("ca.pem") {
        roots.add(cert.expect("parse ca.pem")).expect("add CA");
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
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
