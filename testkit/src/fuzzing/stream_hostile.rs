//! The hostile peer of the stream target (issue 11): it floods, writes
//! invalid TLS, provokes a fatal alert, updates keys, splits its
//! close_notify, or lets the network vanish. Each operation records in the
//! [`Ledger`] what it did, so that the checks know what our side may report.

use std::cell::RefCell;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::stream_check::Ledger;
use super::stream_peer::{peer_read, peer_write, Tls};
use super::transport::{Side, Wire};
use crate::fake_crypto::{self, Forgery, Role};

/// One record's worth of plaintext: the unit of a flood.
const RECORD: usize = 16 * 1024;

/// A flood sends at most this many pipe-fulls: from a 300-byte pipe up, that
/// is more than the 64 KiB our close discards in one poll.
const FLOOD_WINDOWS: usize = 256;

/// Our rustls accepts this many KeyUpdates in a row, then fails the
/// connection (`PeerMisbehaved::TooManyKeyUpdateRequests`, rustls' temper
/// counter, as BoringSSL's `kMaxKeyUpdates`); the peer's rustls counts our
/// answers the same way.
const KEY_UPDATES_ALLOWED: u32 = 32;

/// Bytes that are not valid TLS at this point of a connection, and whether
/// rustls must fail on them (`strict`).
pub(super) const GARBAGE: [(&str, &[u8], bool); 7] = [
    (
        "unknown content type",
        &[0x63, 0x03, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef],
        true,
    ),
    (
        "application data that does not decrypt",
        &[
            0x17, 0x03, 0x03, 0x00, 0x20, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c,
            0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c,
            0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c, 0x5c,
        ],
        true,
    ),
    (
        "a record longer than TLS allows",
        &[0x17, 0x03, 0x03, 0x48, 0x01, 0x00, 0x00, 0x00],
        true,
    ),
    ("plaintext HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true),
    (
        "an unencrypted close_notify",
        &[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00],
        true,
    ),
    (
        "an unencrypted fatal alert",
        &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        true,
    ),
    // TLS 1.3 lets a peer send a plaintext ChangeCipherSpec for middlebox
    // compatibility, and rustls tolerates a couple of them: noise that may
    // pass.
    (
        "an unencrypted ChangeCipherSpec",
        &[0x14, 0x03, 0x03, 0x00, 0x01, 0x01],
        false,
    ),
];

/// The index in [`GARBAGE`] of the unencrypted close_notify.
const FORGED_CLOSE_NOTIFY: usize = 4;

/// A bogus application-data record, for [`provoke_alert`] when nothing is
/// in flight to corrupt.
const BOGUS_RECORD: [u8; 27] = [
    0x17, 0x03, 0x03, 0x00, 0x16, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
    0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
];

/// [`PeerOp::Flood`](super::stream_vocab::PeerOp::Flood): writes and never reads,
/// moving the paused clock after each record. The amount is finite, so a
/// flood never keeps the runtime busy forever; the clock steps let our
/// deadlines pass while the data still comes. Through a tiny pipe it sends
/// at most [`FLOOD_WINDOWS`] pipe-fulls (a 320 KiB flood through 64 bytes
/// took 0.7 s of the fuzzer's time).
pub(super) async fn flood(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>, n: u8) {
    let windows = (wire.capacity() * FLOOD_WINDOWS).div_ceil(RECORD);
    let records = (5 + usize::from(n % 16)).min(windows);
    let step = Duration::from_millis(u64::from(n / 16) * 5);
    for _ in 0..records {
        if !peer_write(peer, ledger, RECORD).await {
            return;
        }
        if !step.is_zero() {
            {
                let mut l = ledger.borrow_mut();
                l.max_jump = l.max_jump.max(step);
                l.clock_moved_in_close |= l.close_began;
            }
            tokio::time::advance(step).await;
        }
    }
}

/// [`PeerOp::Garbage`](super::stream_vocab::PeerOp::Garbage): flushes what its
/// TLS layer holds (so the garbage lands between records), then writes
/// bytes that are not TLS past it.
pub(super) async fn garbage(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>, n: u8) {
    let kind = usize::from(n) % GARBAGE.len();
    let (_, bytes, strict) = GARBAGE[kind];
    let _ = peer.flush().await;
    let mut l = ledger.borrow_mut();
    if strict && l.peer_garbage_at.is_none() {
        l.peer_garbage_at = Some(l.peer_tx + l.peer_tx_maybe);
        l.garbage_before_cn = !l.peer_cn_queued;
        l.forged_close_notify = kind == FORGED_CLOSE_NOTIFY;
    }
    wire.inject(Side::Peer, bytes);
}

/// [`PeerOp::ProvokeAlert`](super::stream_vocab::PeerOp::ProvokeAlert): spoils
/// the last byte we have in flight to the peer (or, with nothing in flight,
/// injects a record that cannot decrypt), then the peer reads until its
/// read direction ends. rustls fails on the bad record and sends a fatal
/// alert; once it has written everything it had, the alert is in the pipe.
pub(super) async fn provoke_alert(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>) {
    if ledger.borrow().peer_end.is_some() {
        return;
    }
    if !wire.flip_last(Side::Ours) {
        wire.inject(Side::Ours, &BOGUS_RECORD);
    }
    while !peer_read(peer, ledger, RECORD).await {}
    let failed_tls = matches!(
        ledger.borrow().peer_end,
        Some(super::stream_check::PeerSaw::Error(
            std::io::ErrorKind::InvalidData
        ))
    );
    let facts = wire.facts(Side::Peer);
    if failed_tls && !peer.get_ref().1.wants_write() && !facts.silent && !facts.writer_closed {
        let mut l = ledger.borrow_mut();
        if !l.peer_alert_sent {
            l.peer_alert_sent = true;
            l.peer_cn_before_alert = l.peer_cn_queued;
        }
    }
}

/// [`PeerOp::KeyUpdate`](super::stream_vocab::PeerOp::KeyUpdate): TLS 1.3 only
/// (rustls refuses it under TLS 1.2: nothing is sent).
pub(super) async fn key_update(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>) {
    let queued = match peer {
        tokio_rustls::TlsStream::Client(s) => s.get_mut().1.refresh_traffic_keys(),
        tokio_rustls::TlsStream::Server(s) => s.get_mut().1.refresh_traffic_keys(),
    };
    if queued.is_err() {
        return;
    }
    {
        let mut l = ledger.borrow_mut();
        l.key_updates += 1;
        // One our close must read through: before the peer's close_notify.
        l.key_update_in_close |= l.closing() && !l.peer_cn_queued;
        // Past rustls' limit either side may fail, legitimately; counting
        // all of them (not only those in a row) errs on the lenient side.
        if l.key_updates > KEY_UPDATES_ALLOWED {
            wire.mark_faulted();
        }
    }
    let _ = peer.flush().await;
}

/// [`PeerOp::Forge`](super::stream_vocab::PeerOp::Forge): flushes what the
/// peer's rustls has written, then puts a record its rustls never wrote
/// after it. The ledger takes a forged close_notify as the peer's
/// close_notify (what the peer writes after it is data after close_notify,
/// which we must not deliver), a forged fatal alert as invalid TLS (our
/// side must fail on it, and deliver nothing from past it), a TLS 1.3
/// KeyUpdate as the peer's own, and a TLS 1.2 one as invalid TLS.
pub(super) async fn forge(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>, n: u8) {
    if !ledger.borrow().fake_crypto {
        return;
    }
    let (role, version) = match peer {
        tokio_rustls::TlsStream::Client(s) => (Role::Client, s.get_ref().1.protocol_version()),
        tokio_rustls::TlsStream::Server(s) => (Role::Server, s.get_ref().1.protocol_version()),
    };
    let tls13 = version == Some(rustls::ProtocolVersion::TLSv1_3);
    // Every record the peer's rustls sealed must be on the wire first: the
    // forgery takes the next sequence number.
    if peer.flush().await.is_err() || peer.get_ref().1.wants_write() {
        return;
    }
    let forgery = [
        Forgery::CloseNotify,
        Forgery::FatalAlert,
        Forgery::KeyUpdate,
    ][usize::from(n % 3)];
    let record = fake_crypto::forge(role, tls13, forgery, &[]);
    let invalid = forgery == Forgery::FatalAlert || (forgery == Forgery::KeyUpdate && !tls13);
    let mut l = ledger.borrow_mut();
    if invalid {
        // As any strict garbage: a fault, our rustls fails on it.
        if l.peer_garbage_at.is_none() {
            l.peer_garbage_at = Some(l.peer_tx + l.peer_tx_maybe);
            l.garbage_before_cn = !l.peer_cn_queued;
        }
        l.forged_invalid = true;
        wire.inject(Side::Peer, &record);
        return;
    }
    if !wire.deliver(Side::Peer, &record) {
        return;
    }
    match forgery {
        Forgery::CloseNotify => {
            l.peer_cn_queued = true;
            l.peer_cn_flushed = true;
            l.forged_cn_valid = true;
        }
        _ => {
            l.key_updates += 1;
            l.key_update_in_close |= l.closing() && !l.peer_cn_queued;
            l.forged_key_update = true;
            if l.key_updates > KEY_UPDATES_ALLOWED {
                wire.mark_faulted();
            }
        }
    }
}

/// [`PeerOp::CloseNotifySplit`](super::stream_vocab::PeerOp::CloseNotifySplit):
/// queues close_notify, takes every TLS byte the peer's rustls has to send
/// (what it had pending, then the alert), and writes them past tokio-rustls
/// in tiny chunks with time between them, so that our side sees the record
/// in pieces. If the step ends first, the rest arrives at once.
pub(super) async fn close_notify_split(
    peer: &mut Tls,
    wire: &Wire,
    ledger: &RefCell<Ledger>,
    n: u8,
) {
    let chunk = 1 + usize::from(n % 4);
    let gap = Duration::from_millis(u64::from((n / 4) % 64));
    peer.get_mut().1.send_close_notify();
    ledger.borrow_mut().peer_cn_queued = true;
    let mut out = Vec::new();
    let taken = match peer {
        tokio_rustls::TlsStream::Client(s) => drain_tls(s.get_mut().1, &mut out),
        tokio_rustls::TlsStream::Server(s) => drain_tls(s.get_mut().1, &mut out),
    };
    if taken.is_err() {
        return;
    }
    let io = peer.get_mut().0;
    let mut rest = InFlight {
        wire,
        ledger,
        bytes: out,
        sent: 0,
    };
    while rest.sent < rest.bytes.len() {
        let end = rest.bytes.len().min(rest.sent + chunk);
        match io.write(&rest.bytes[rest.sent..end]).await {
            Ok(n) if n > 0 => rest.sent += n,
            _ => {
                // Lost with the transport: nothing more will arrive, and
                // rustls no longer has them for a later flush to send.
                rest.sent = rest.bytes.len();
                ledger.borrow_mut().peer_cn_lost = true;
                return;
            }
        }
        if rest.sent == rest.bytes.len() {
            let mut l = ledger.borrow_mut();
            l.peer_cn_flushed = true;
            l.split_cn = true;
        } else if !gap.is_zero() && rest.sent == end {
            tokio::time::sleep(gap).await;
        }
    }
}

/// The pieces of a split close_notify not written yet: if the operation is
/// cancelled (its step's time is up), they arrive at once, as the TCP
/// segments already sent would.
struct InFlight<'a> {
    wire: &'a Wire,
    ledger: &'a RefCell<Ledger>,
    bytes: Vec<u8>,
    sent: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.sent < self.bytes.len() {
            let delivered = self.wire.deliver(Side::Peer, &self.bytes[self.sent..]);
            let mut l = self.ledger.borrow_mut();
            l.peer_cn_flushed |= delivered;
            l.peer_cn_lost |= !delivered;
        }
    }
}

fn drain_tls<D>(conn: &mut rustls::ConnectionCommon<D>, out: &mut Vec<u8>) -> std::io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    Ok(())
}
