//! The test certificates (`testkit/certs/`) and the one place where rustls
//! configs are built from PEM: the pairs, the fuzz harness, the examples
//! and the benches each pick their provider and versions here.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

/// The test CA (`ca.pem`).
pub const CA_PEM: &[u8] = include_bytes!("../certs/ca.pem");
/// The server's chain for `localhost` (`server.pem`), signed by the CA.
pub const SERVER_PEM: &[u8] = include_bytes!("../certs/server.pem");
/// The server's private key (`server.key`).
pub const SERVER_KEY: &[u8] = include_bytes!("../certs/server.key");

/// The folder of the test certificates (`testkit/certs`), for programs
/// that take file paths (`openssl s_server -cert`, the examples).
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs")
}

/// The path of one test certificate file (`ca.pem`, `server.pem`,
/// `server.key`), as a string for command lines.
pub fn path(name: &str) -> String {
    dir().join(name).to_string_lossy().into_owned()
}

/// A server config for a PEM certificate chain and private key.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse the certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate found in the chain".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("cannot load the private key: {e}"))?;
    ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate/key mismatch or unsupported key: {e}"))
}

/// A client config trusting the PEM certificates in `ca_pem`.
pub fn client_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    ca_pem: &[u8],
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| format!("cannot parse a CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no CA certificate found".into());
    }
    Ok(ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
