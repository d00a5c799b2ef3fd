//! Real rustls client/server configs for the stream harness (ring provider,
//! the test certificates compiled in), built once per TLS version.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

const CA: &[u8] = include_bytes!("../../tests/certs/ca.pem");
const CERT: &[u8] = include_bytes!("../../tests/certs/server.pem");
const KEY: &[u8] = include_bytes!("../../tests/certs/server.key");

type Configs = (Arc<ClientConfig>, Arc<ServerConfig>);

/// The client and server configs for TLS 1.3 (`tls13`) or TLS 1.2.
pub(crate) fn configs(tls13: bool) -> Configs {
    static TLS12: OnceLock<Configs> = OnceLock::new();
    static TLS13: OnceLock<Configs> = OnceLock::new();
    let (cell, version) = if tls13 {
        (&TLS13, &rustls::version::TLS13)
    } else {
        (&TLS12, &rustls::version::TLS12)
    };
    cell.get_or_init(|| build(version)).clone()
}

fn build(version: &'static rustls::SupportedProtocolVersion) -> Configs {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<_, _>>()
        .expect("server.pem");
    let key = PrivateKeyDer::from_pem_slice(KEY).expect("server.key");
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .expect("protocol version")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server cert");
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA) {
        roots.add(cert.expect("ca.pem")).expect("add CA");
    }
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .expect("protocol version")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(client), Arc::new(server))
}
