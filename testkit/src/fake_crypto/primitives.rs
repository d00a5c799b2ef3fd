//! The handshake's primitives, all constant: a hash and an HMAC whose output
//! never depends on their input, "randomness" that is a fixed byte, a key
//! exchange whose shared secret is fixed, a signature that is fixed bytes,
//! and a verifier that accepts every certificate and signature.
//!
//! rustls still runs its whole handshake state machine over them (every
//! message is built, framed, parsed and checked for order); only the
//! arithmetic is gone. Two peers that use them agree on every secret, since
//! every secret is the same constant.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    hash, hmac, ActiveKeyExchange, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{Signer, SigningKey};
use rustls::{DigitallySignedStruct, Error, NamedGroup, SignatureAlgorithm, SignatureScheme};

/// SHA-256's output length: what rustls sizes its secrets and `Finished`
/// messages by for the suites we claim.
const OUT_LEN: usize = 32;

/// The hash: always the same 32 bytes.
#[derive(Debug)]
pub(super) struct ConstantHash;

pub(super) static HASH: ConstantHash = ConstantHash;

impl hash::Hash for ConstantHash {
    fn start(&self) -> Box<dyn hash::Context> {
        Box::new(ConstantHash)
    }

    fn hash(&self, _data: &[u8]) -> hash::Output {
        hash::Output::new(&[0x48; OUT_LEN])
    }

    fn output_len(&self) -> usize {
        OUT_LEN
    }

    fn algorithm(&self) -> rustls::crypto::hash::HashAlgorithm {
        rustls::crypto::hash::HashAlgorithm::SHA256
    }
}

impl hash::Context for ConstantHash {
    fn fork_finish(&self) -> hash::Output {
        hash::Output::new(&[0x48; OUT_LEN])
    }

    fn fork(&self) -> Box<dyn hash::Context> {
        Box::new(ConstantHash)
    }

    fn finish(self: Box<Self>) -> hash::Output {
        hash::Output::new(&[0x48; OUT_LEN])
    }

    fn update(&mut self, _data: &[u8]) {}
}

/// The HMAC: always the same 32 bytes, whatever the key and message. The
/// TLS 1.3 key schedule (HKDF) and the TLS 1.2 PRF are built on it by
/// rustls, so every traffic secret, key and IV is a constant too.
#[derive(Debug)]
pub(super) struct ConstantHmac;

pub(super) static HMAC: ConstantHmac = ConstantHmac;

impl hmac::Hmac for ConstantHmac {
    fn with_key(&self, _key: &[u8]) -> Box<dyn hmac::Key> {
        Box::new(ConstantHmac)
    }

    fn hash_output_len(&self) -> usize {
        OUT_LEN
    }
}

impl hmac::Key for ConstantHmac {
    fn sign_concat(&self, _first: &[u8], _middle: &[&[u8]], _last: &[u8]) -> hmac::Tag {
        hmac::Tag::new(&[0x4d; OUT_LEN])
    }

    fn tag_len(&self) -> usize {
        OUT_LEN
    }
}

/// "Randomness": a fixed byte, so that a run replays byte for byte. It must
/// not make a TLS 1.3 server random look like a HelloRetryRequest (a fixed
/// SHA-256 value) or a downgrade sentinel; a repeated 0x52 is neither.
#[derive(Debug)]
pub(super) struct FixedRandom;

pub(super) static RANDOM: FixedRandom = FixedRandom;

impl SecureRandom for FixedRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        buf.fill(0x52);
        Ok(())
    }
}

/// The key exchange, under X25519's name (which both TLS 1.2's ECDHE and
/// TLS 1.3 accept; rustls checks no key share's form, the group does): a
/// fixed public key, and a fixed shared secret whatever the peer sent.
#[derive(Debug)]
pub(super) struct FixedKx;

pub(super) static KX: FixedKx = FixedKx;

const PUBLIC_KEY: [u8; 32] = [0x4b; 32];

impl SupportedKxGroup for FixedKx {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(FixedKx))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for FixedKx {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        // The one check a real group makes that a peer can fail: the key's
        // length. Forged handshakes are not in the vocabulary, so this only
        // keeps the two sides honest with each other.
        if peer_pub_key.len() != PUBLIC_KEY.len() {
            return Err(Error::PeerMisbehaved(
                rustls::PeerMisbehaved::InvalidKeyShare,
            ));
        }
        Ok(SharedSecret::from(vec![0x53; 32]))
    }

    fn pub_key(&self) -> &[u8] {
        &PUBLIC_KEY
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// The one signature scheme of the provider: Ed25519's name, which both TLS
/// versions allow for ECDHE_ECDSA suites and TLS 1.3 (its signatures are
/// fixed-length, like ours).
pub(super) const SCHEME: SignatureScheme = SignatureScheme::ED25519;

/// The server's key: signs with 64 fixed bytes.
#[derive(Debug)]
pub(super) struct FixedKey;

impl SigningKey for FixedKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SCHEME)
            .then(|| Box::new(FixedKey) as Box<dyn Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

impl Signer for FixedKey {
    fn sign(&self, _message: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(vec![0x5a; 64])
    }

    fn scheme(&self) -> SignatureScheme {
        SCHEME
    }
}

/// Loads every private key as [`FixedKey`]: the bytes are never looked at.
#[derive(Debug)]
pub(super) struct FixedKeys;

pub(super) static KEYS: FixedKeys = FixedKeys;

impl KeyProvider for FixedKeys {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        Ok(Arc::new(FixedKey))
    }
}

/// The client's verifier: every certificate and signature is accepted. The
/// close paths under test begin after the handshake; the real-crypto path of
/// the harness keeps the real verification covered.
#[derive(Debug)]
pub(super) struct AcceptAll;

impl ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SCHEME]
    }
}
