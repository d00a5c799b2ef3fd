//! A test-only rustls `CryptoProvider` whose crypto costs nothing, for the
//! fuzz harness: a handshake over it runs rustls' whole state machine
//! (every message built, framed, parsed, checked for order) with constant
//! hashes, HMACs, key exchange and signatures ([`primitives`]) and an XOR
//! "AEAD" with a real sequence number and a fixed tag ([`record`]). The idea
//! is rustls' own `rustls-fuzzing-provider` (rustls PR #2267); this one is
//! written from rustls 0.23's provider traits.
//!
//! It protects nothing: never use it outside tests.
//!
//! The suites claim the names of TLS13_AES_128_GCM_SHA256 and
//! TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (records as long as theirs), the
//! key exchange X25519's and the signature Ed25519's. The client and the
//! server configs each carry the suites of their role, so that a forged
//! record ([`forge`]) knows whose sequence numbers it takes.

mod primitives;
mod record;

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::tls12::PrfUsingHmac;
use rustls::crypto::tls13::HkdfUsingHmac;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{
    CipherSuite, CipherSuiteCommon, ClientConfig, ServerConfig, SupportedCipherSuite,
    SupportedProtocolVersion, Tls12CipherSuite, Tls13CipherSuite,
};

use primitives::{AcceptAll, HASH, HMAC, KEYS, KX, RANDOM, SCHEME};
pub use record::{forge, Forgery, Role};
use record::{Xor12, Xor13};

static HKDF: HkdfUsingHmac<'static> = HkdfUsingHmac(&HMAC);
static PRF: PrfUsingHmac<'static> = PrfUsingHmac(&HMAC);

const fn common(suite: CipherSuite) -> CipherSuiteCommon {
    CipherSuiteCommon {
        suite,
        hash_provider: &HASH,
        confidentiality_limit: u64::MAX,
    }
}

macro_rules! suites {
    ($role:expr, $tls13:ident, $tls12:ident) => {
        static $tls13: Tls13CipherSuite = Tls13CipherSuite {
            common: common(CipherSuite::TLS13_AES_128_GCM_SHA256),
            hkdf_provider: &HKDF,
            aead_alg: &Xor13($role),
            quic: None,
        };
        static $tls12: Tls12CipherSuite = Tls12CipherSuite {
            common: common(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
            prf_provider: &PRF,
            kx: rustls::crypto::KeyExchangeAlgorithm::ECDHE,
            sign: &[SCHEME],
            aead_alg: &Xor12($role),
        };
    };
}

suites!(Role::Client, CLIENT_TLS13, CLIENT_TLS12);
suites!(Role::Server, SERVER_TLS13, SERVER_TLS12);

/// The provider for one role's config.
pub fn provider(role: Role) -> CryptoProvider {
    let (tls13, tls12) = match role {
        Role::Client => (&CLIENT_TLS13, &CLIENT_TLS12),
        Role::Server => (&SERVER_TLS13, &SERVER_TLS12),
    };
    CryptoProvider {
        cipher_suites: vec![
            SupportedCipherSuite::Tls13(tls13),
            SupportedCipherSuite::Tls12(tls12),
        ],
        kx_groups: vec![&KX],
        // Only used to verify certificates with webpki, which neither side
        // does: the client's verifier accepts everything, the server asks
        // for no client certificate.
        signature_verification_algorithms: WebPkiSupportedAlgorithms {
            all: &[],
            mapping: &[],
        },
        secure_random: &RANDOM,
        key_provider: &KEYS,
    }
}

/// A client and a server config for one TLS version over this provider:
/// the client verifies nothing, the server presents a certificate that is
/// a few fixed bytes. The client never resumes; the server's session
/// storage is rustls' default (the fuzz harness replaces it).
pub fn configs(version: &'static SupportedProtocolVersion) -> (ClientConfig, ServerConfig) {
    (client_config(version), server_config(&[version]))
}

/// The client config of [`configs`].
pub fn client_config(version: &'static SupportedProtocolVersion) -> ClientConfig {
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(AcceptAll);
    let mut client = ClientConfig::builder_with_provider(Arc::new(provider(Role::Client)))
        .with_protocol_versions(&[version])
        .expect("fake provider: client versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    client
}

/// The server config of [`configs`], offering every version of `versions`.
pub fn server_config(versions: &[&'static SupportedProtocolVersion]) -> ServerConfig {
    let cert = CertificateDer::from(b"a certificate nobody checks".to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(b"a fixed key".to_vec()));
    ServerConfig::builder_with_provider(Arc::new(provider(Role::Server)))
        .with_protocol_versions(versions)
        .expect("fake provider: server versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("fake provider: server certificate")
}

#[cfg(test)]
mod tests;
