//! The record layer's "AEAD": each byte XORed with a mask, then a 16-byte
//! tag made of the record's sequence number and a 64-bit FNV-1a checksum
//! of the record's type and sealed bytes. It keeps what a real AEAD
//! guarantees to the code under test, and nothing that costs: a record that
//! is corrupted anywhere (the harness' transport flips bytes at random),
//! replayed, dropped or reordered fails to decrypt (`DecryptError`), as
//! with AES-GCM, and the records are as long as AES-GCM's (TLS 1.2 keeps
//! its 8-byte explicit nonce), so pipe capacities and segment sizes cut
//! them at the same places. (A fixed tag, as rustls' fuzzing provider has,
//! would let a corrupted body through: its fuzzers corrupt nothing.)
//!
//! Because the tag is predictable, the harness can forge valid records
//! ([`forge`]): a close_notify, an alert or a KeyUpdate that the sender's
//! rustls never sent, or application data after its close_notify. A forged
//! record takes the next sequence number of its direction and shifts the
//! sender's later records by one, so that they still decrypt: the forgery
//! looks as if the sender's own record layer had sent it. The bookkeeping
//! is per thread (each run is one current-thread runtime on one thread;
//! tests in parallel threads do not share it), per role (client, server):
//! the two configs' suites carry their role, so each encrypter knows whose
//! direction it serves.

use std::cell::RefCell;

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, InboundPlainMessage, Iv, KeyBlockShape, MessageDecrypter,
    MessageEncrypter, OutboundChunks, OutboundOpaqueMessage, OutboundPlainMessage, PrefixedPayload,
    Tls12AeadAlgorithm, Tls13AeadAlgorithm, UnsupportedOperationError,
};
use rustls::{ConnectionTrafficSecrets, ContentType, Error, ProtocolVersion};

/// Which side's records an encrypter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client's direction (client to server).
    Client,
    /// The server's direction.
    Server,
}

const TAG_LEN: usize = 16;
/// TLS 1.2's explicit nonce, as AES-GCM's: the sequence number.
const EXPLICIT_NONCE_LEN: usize = 8;
/// Every byte of a record's body is XORed with this.
const MASK: u8 = 0xa5;
/// What rustls asks of a TLS 1.3 suite's keys: AES-128's length (the keys
/// are never used, only their length is checked).
const KEY_LEN: usize = 16;

/// One direction's sequence numbers, as the receiver counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Direction {
    /// Added to rustls' own sequence number: how many records were forged
    /// into this direction (or, after a forged KeyUpdate, what makes the
    /// sender's next record number 0).
    shift: u64,
    /// The number the next record on the wire carries.
    next: u64,
}

thread_local! {
    static DIRECTIONS: RefCell<[Direction; 2]> = const { RefCell::new([Direction { shift: 0, next: 0 }; 2]) };
}

fn with_direction<T>(role: Role, f: impl FnOnce(&mut Direction) -> T) -> T {
    DIRECTIONS.with(|d| f(&mut d.borrow_mut()[role as usize]))
}

/// The TLS 1.3 algorithm of one role.
#[derive(Debug)]
pub(super) struct Xor13(pub(super) Role);

/// The TLS 1.2 algorithm of one role.
#[derive(Debug)]
pub(super) struct Xor12(pub(super) Role);

impl Tls13AeadAlgorithm for Xor13 {
    fn encrypter(&self, _key: AeadKey, _iv: Iv) -> Box<dyn MessageEncrypter> {
        Box::new(Encrypter::new(self.0, true))
    }

    fn decrypter(&self, _key: AeadKey, _iv: Iv) -> Box<dyn MessageDecrypter> {
        Box::new(Decrypter { tls13: true })
    }

    fn key_len(&self) -> usize {
        KEY_LEN
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: Iv,
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

impl Tls12AeadAlgorithm for Xor12 {
    fn encrypter(&self, _key: AeadKey, _iv: &[u8], _extra: &[u8]) -> Box<dyn MessageEncrypter> {
        Box::new(Encrypter::new(self.0, false))
    }

    fn decrypter(&self, _key: AeadKey, _iv: &[u8]) -> Box<dyn MessageDecrypter> {
        Box::new(Decrypter { tls13: false })
    }

    fn key_block_shape(&self) -> KeyBlockShape {
        KeyBlockShape {
            enc_key_len: KEY_LEN,
            fixed_iv_len: 4,
            explicit_nonce_len: EXPLICIT_NONCE_LEN,
        }
    }

    fn extract_keys(
        &self,
        _key: AeadKey,
        _iv: &[u8],
        _explicit: &[u8],
    ) -> Result<ConnectionTrafficSecrets, UnsupportedOperationError> {
        Err(UnsupportedOperationError)
    }
}

struct Encrypter {
    role: Role,
    tls13: bool,
}

impl Encrypter {
    /// A new key for this direction: rustls numbers its records from 0
    /// again, and so does the receiver; earlier forgeries no longer shift.
    fn new(role: Role, tls13: bool) -> Self {
        with_direction(role, |d| *d = Direction::default());
        Encrypter { role, tls13 }
    }
}

impl MessageEncrypter for Encrypter {
    fn encrypt(
        &mut self,
        msg: OutboundPlainMessage<'_>,
        seq: u64,
    ) -> Result<OutboundOpaqueMessage, Error> {
        let wire = with_direction(self.role, |d| {
            let wire = seq.wrapping_add(d.shift);
            d.next = wire.wrapping_add(1);
            wire
        });
        Ok(seal(self.tls13, msg.typ, msg.payload, wire))
    }

    fn encrypted_payload_len(&self, payload_len: usize) -> usize {
        if self.tls13 {
            payload_len + 1 + TAG_LEN
        } else {
            EXPLICIT_NONCE_LEN + payload_len + TAG_LEN
        }
    }
}

/// One record: header fields and the sealed payload.
fn seal<'a>(
    tls13: bool,
    typ: ContentType,
    body: impl Into<OutboundChunks<'a>>,
    seq: u64,
) -> OutboundOpaqueMessage {
    let body = body.into();
    let mut payload = PrefixedPayload::with_capacity(body.len() + EXPLICIT_NONCE_LEN + 1 + TAG_LEN);
    let outer = if tls13 {
        // TLSInnerPlaintext: the body, then its real content type; the
        // record says application data.
        payload.extend_from_chunks(&body);
        payload.extend_from_slice(&[u8::from(typ)]);
        mask(payload.as_mut());
        ContentType::ApplicationData
    } else {
        payload.extend_from_slice(&seq.to_be_bytes());
        payload.extend_from_chunks(&body);
        mask(&mut payload.as_mut()[EXPLICIT_NONCE_LEN..]);
        typ
    };
    let tag = tag(seq, outer, payload.as_ref());
    payload.extend_from_slice(&tag);
    OutboundOpaqueMessage::new(outer, ProtocolVersion::TLSv1_2, payload)
}

/// XORs every byte with [`MASK`], eight at a time: the fuzz binary counts
/// every loop iteration, and a flood seals megabytes a run.
fn mask(bytes: &mut [u8]) {
    let mut words = bytes.chunks_exact_mut(8);
    for word in &mut words {
        let masked = u64::from_ne_bytes(word.try_into().expect("8 bytes")) ^ WORD_MASK;
        word.copy_from_slice(&masked.to_ne_bytes());
    }
    words.into_remainder().iter_mut().for_each(|b| *b ^= MASK);
}

const WORD_MASK: u64 = u64::from_ne_bytes([MASK; 8]);

/// The tag of a record: its sequence number, then a 64-bit checksum of its
/// outer type and sealed bytes (what AES-GCM authenticates, less the
/// header's version and length, which rustls checks itself): FNV-1a's
/// step over 8-byte words (then the last bytes, then the length), so that
/// a change of any byte, or of the length, changes the checksum (each
/// step is a bijection of the running value for a given word).
fn tag(seq: u64, typ: ContentType, sealed: &[u8]) -> [u8; TAG_LEN] {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let step = |hash: u64, word: u64| (hash ^ word).wrapping_mul(PRIME);
    let mut hash = step(0xcbf2_9ce4_8422_2325, u64::from(u8::from(typ)));
    let mut words = sealed.chunks_exact(8);
    for word in &mut words {
        hash = step(hash, u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    for &byte in words.remainder() {
        hash = step(hash, u64::from(byte));
    }
    hash = step(hash, sealed.len() as u64);
    let mut tag = [0; TAG_LEN];
    tag[..8].copy_from_slice(&seq.to_be_bytes());
    tag[8..].copy_from_slice(&hash.to_be_bytes());
    tag
}

struct Decrypter {
    tls13: bool,
}

impl MessageDecrypter for Decrypter {
    fn decrypt<'a>(
        &mut self,
        mut msg: InboundOpaqueMessage<'a>,
        seq: u64,
    ) -> Result<InboundPlainMessage<'a>, Error> {
        let prefix = if self.tls13 { 0 } else { EXPLICIT_NONCE_LEN };
        let len = msg.payload.len();
        if len < prefix + TAG_LEN
            || msg.payload[len - TAG_LEN..] != tag(seq, msg.typ, &msg.payload[..len - TAG_LEN])
        {
            return Err(Error::DecryptError);
        }
        mask(&mut msg.payload[prefix..len - TAG_LEN]);
        if self.tls13 {
            msg.payload.truncate(len - TAG_LEN);
            msg.into_tls13_unpadded_message()
        } else {
            Ok(msg.into_plain_message_range(prefix..len - TAG_LEN))
        }
    }
}

/// What a forged record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// A close_notify alert (warning level).
    CloseNotify,
    /// A fatal alert (`internal_error`).
    FatalAlert,
    /// A TLS 1.3 KeyUpdate that asks the receiver to update too. The
    /// sender's later records are numbered from 0 again, as under its new
    /// key; the receiver answers with a KeyUpdate of its own, which the
    /// sender's rustls takes as any other.
    KeyUpdate,
    /// Application data: these bytes.
    Data,
}

/// A record from `role` that its receiver will decrypt and take as sent by
/// `role`, carrying `forgery` (`data` is the body of [`Forgery::Data`]).
/// The caller puts it on the wire right after everything the sender's
/// rustls has written, before anything it writes next.
pub fn forge(role: Role, tls13: bool, forgery: Forgery, data: &[u8]) -> Vec<u8> {
    let (typ, body): (ContentType, Vec<u8>) = match forgery {
        Forgery::CloseNotify => (ContentType::Alert, vec![1, 0]),
        Forgery::FatalAlert => (ContentType::Alert, vec![2, 80]),
        Forgery::KeyUpdate => (ContentType::Handshake, vec![24, 0, 0, 1, 1]),
        Forgery::Data => (ContentType::ApplicationData, data.to_vec()),
    };
    let seq = with_direction(role, |d| {
        let seq = d.next;
        if forgery == Forgery::KeyUpdate && tls13 {
            // rustls' next record is number `next - shift`; under the
            // receiver's new key it must be 0.
            d.shift = d.shift.wrapping_sub(seq);
            d.next = 0;
        } else {
            d.shift = d.shift.wrapping_add(1);
            d.next = seq.wrapping_add(1);
        }
        seq
    });
    seal(tls13, typ, body.as_slice(), seq).encode()
}
