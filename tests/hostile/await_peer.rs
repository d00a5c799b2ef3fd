//! Faults while close() waits for the peer's close_notify (ours is on the
//! wire). Each test drives close() into the AwaitPeer step first, then lets
//! the peer misbehave.

use std::time::Duration;

use graceful_tls::machine::WriteState;
use graceful_tls::{CloseOutcome, ReadOutcome};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::hostile::{
    alert, close_until_pending, config, corrupt_our_next_record, peer_close_notify, peer_garbage,
    peer_key_update, rustls_error, wired, wrap, Ours,
};
use crate::pairs::{cases, pattern, peer_read_to_end, PeerSaw, Side, Version};
use graceful_tls_testkit::{guarded, HANG};

/// Writes `len` bytes before close, then drives close() to AwaitPeer.
async fn awaiting(ours: &mut Ours, len: usize) -> Vec<u8> {
    let sent = pattern(len);
    ours.write_all(&sent).await.unwrap();
    assert_eq!(close_until_pending(ours).await, WriteState::AwaitingPeer);
    sent
}

/// The peer's close_notify cut after 10 of its bytes by a FIN: an
/// incomplete record is no close_notify, so PeerEof (not PeerConfirmed),
/// and later reads say AbruptEof.
#[test]
fn fin_inside_the_peers_close_notify_is_peer_eof() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = awaiting(&mut ours, 5000).await;
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                w.peer_tap.cut_after(10);
                peer_close_notify(&mut w.peer).await;
                (saw, w.peer)
            });
            let started = Instant::now();
            assert_eq!(
                ours.close().await.unwrap(),
                CloseOutcome::PeerEof,
                "{side:?} {version:?}"
            );
            assert_eq!(started.elapsed(), Duration::ZERO);
            assert!(peer.await.unwrap().0 == PeerSaw::CloseNotify(sent));
            assert_eq!(
                ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                ReadOutcome::AbruptEof
            );
        }
    });
}

/// An RST while we wait ends close() at that instant: a typed, sticky
/// transport error, long before the peer deadline.
#[test]
fn reset_during_the_wait_is_a_transport_error_at_once() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            awaiting(&mut ours, 5000).await;
            let tap = w.our_tap.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                tap.reset();
            });
            let started = Instant::now();
            let err = ours.close().await.unwrap_err();
            assert!(err.is_reset(), "{side:?} {version:?}: {err:?}");
            assert_eq!(started.elapsed(), Duration::from_millis(300));
            assert!(ours.close().await.unwrap_err().is_reset(), "sticky");
        }
    });
}

/// The peer takes everything, then answers our close_notify with garbage:
/// Error::Tls at that instant, and the peer had every byte first. (Our
/// rustls then queues a fatal alert after its close_notify, which the peer's
/// rustls ignores: rustls/rustls#959.)
#[test]
fn garbage_answer_is_a_tls_error() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = awaiting(&mut ours, 5000).await;
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                peer_garbage(&mut w.peer).await;
                (saw, w.peer)
            });
            let started = Instant::now();
            let err = ours.close().await.unwrap_err();
            assert!(
                rustls_error(&err).is_some(),
                "{side:?} {version:?}: {err:?}"
            );
            assert_eq!(started.elapsed(), Duration::from_millis(200));
            assert!(peer.await.unwrap().0 == PeerSaw::CloseNotify(sent));
        }
    });
}

/// The peer's rustls rejects our close_notify record (a flipped bit) with a
/// fatal bad_record_mac: close() reports that alert as Error::Tls, after
/// the peer had read every byte of our data.
#[test]
fn fatal_alert_answer_is_a_tls_error_naming_it() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = pattern(5000);
            ours.write_all(&sent).await.unwrap();
            // The peer reads our data first: the bad record comes alone.
            let mut got = vec![0u8; sent.len()];
            w.peer.read_exact(&mut got).await.unwrap();
            assert!(got == sent, "{side:?} {version:?}: the peer lost data");
            corrupt_our_next_record(&w.our_tap, &w.peer_tap);
            assert_eq!(
                close_until_pending(&mut ours).await,
                WriteState::AwaitingPeer
            );
            let peer = tokio::spawn(async move {
                let err = w.peer.read(&mut [0u8; 64]).await.unwrap_err();
                (err.kind(), w.peer)
            });
            let err = ours.close().await.unwrap_err();
            assert_eq!(alert(&err), Some(AlertDescription::BadRecordMac), "{err:?}");
            let (kind, _peer) = peer.await.unwrap();
            assert_eq!(
                kind,
                std::io::ErrorKind::InvalidData,
                "{side:?} {version:?}"
            );
        }
    });
}

/// A KeyUpdate request (and data under the new keys) after our
/// close_notify: rustls switches keys and reads on, so the close is
/// PeerConfirmed with the data discarded and counted. rustls queues its
/// KeyUpdate answer, but nothing is ever sent after close_notify, so the
/// answer never leaves (RFC 8446 §4.6.3 asks for it only before our next
/// application data, which never comes).
#[test]
fn key_update_after_our_close_notify_is_read_and_never_answered() {
    guarded(HANG, || async {
        for (side, version) in cases().filter(|(_, v)| *v == Version::Tls13) {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = awaiting(&mut ours, 5000).await;
            let sent_by_us = w.our_tap.written();
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                peer_key_update(&mut w.peer).await;
                w.peer.write_all(b"new keys!").await.unwrap();
                w.peer.shutdown().await.unwrap();
                saw
            });
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
            assert_eq!(ours.stats().discarded(), 9);
            assert!(
                peer.await.unwrap() == PeerSaw::CloseNotify(sent),
                "{side:?}"
            );
            assert_eq!(
                w.our_tap.written(),
                sent_by_us,
                "{side:?}: sent after close_notify"
            );
        }
    });
}

/// The server's two TLS 1.3 session tickets reach our client only during
/// its close (held until the peer read our close_notify): rustls stores
/// them and the close is PeerConfirmed.
#[test]
fn session_tickets_during_the_wait_are_taken() {
    guarded(HANG, || async {
        let mut w = wired(Side::Client, Version::Tls13, 64 * 1024).await;
        w.our_tap.hold();
        let mut ours = wrap(w.ours, config(500, 1000));
        let sent = awaiting(&mut ours, 5000).await;
        let tickets = |ours: &Ours| match ours.get_ref() {
            tokio_rustls::TlsStream::Client(s) => s.get_ref().1.tls13_tickets_received(),
            tokio_rustls::TlsStream::Server(_) => unreachable!("client"),
        };
        assert_eq!(tickets(&ours), 0);
        let tap = w.our_tap.clone();
        let peer = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut w.peer).await;
            tap.release();
            w.peer.shutdown().await.unwrap();
            saw
        });
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert_eq!(tickets(&ours), 2);
        assert!(peer.await.unwrap() == PeerSaw::CloseNotify(sent));
    });
}

/// 33 KeyUpdate requests with no data between them while we wait: rustls'
/// limit (32) makes it a typed TLS error at once, not a busy wait.
#[test]
fn key_update_flood_during_the_wait_is_a_tls_error() {
    guarded(HANG, || async {
        for side in [Side::Client, Side::Server] {
            let mut w = wired(side, Version::Tls13, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            awaiting(&mut ours, 100).await;
            let peer = tokio::spawn(async move {
                peer_read_to_end(&mut w.peer).await;
                for _ in 0..33 {
                    peer_key_update(&mut w.peer).await;
                }
                w.peer
            });
            let started = Instant::now();
            let err = ours.close().await.unwrap_err();
            assert_eq!(
                rustls_error(&err),
                Some(&rustls::Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::TooManyKeyUpdateRequests
                )),
                "{side:?}: {err:?}"
            );
            assert_eq!(started.elapsed(), Duration::ZERO);
            drop(peer.await.unwrap());
        }
    });
}

/// Records the peer encrypts after its own close_notify are dropped by
/// rustls: PeerConfirmed, only the data before the close_notify counted as
/// discarded, and reads say CloseNotify.
#[test]
fn data_after_the_peers_close_notify_is_ignored() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = awaiting(&mut ours, 5000).await;
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                w.peer.write_all(&pattern(1000)).await.unwrap();
                peer_close_notify(&mut w.peer).await;
                w.peer.write_all(&pattern(7000)).await.unwrap();
                w.peer.flush().await.unwrap();
                (saw, w.peer)
            });
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
            assert_eq!(ours.stats().discarded(), 1000, "{side:?} {version:?}");
            assert!(peer.await.unwrap().0 == PeerSaw::CloseNotify(sent));
            assert_eq!(
                ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                ReadOutcome::CloseNotify
            );
        }
    });
}

/// The peer's close_notify one byte per segment, 1 ms apart, read one byte
/// per read: PeerConfirmed exactly when the last byte lands (24 bytes in
/// TLS 1.3, 31 in TLS 1.2 AES-GCM).
#[test]
fn close_notify_byte_by_byte_is_confirmed() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            w.our_tap.read_max(1);
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = awaiting(&mut ours, 5000).await;
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                w.peer_tap.trickle_writes(Duration::from_millis(1));
                let before = w.peer_tap.written();
                peer_close_notify(&mut w.peer).await;
                (saw, w.peer_tap.written() - before, w.peer)
            });
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
            let (saw, len, _peer) = peer.await.unwrap();
            let expected_len = if version == Version::Tls13 { 24 } else { 31 };
            assert_eq!(len, expected_len, "{version:?}");
            assert_eq!(started.elapsed(), Duration::from_millis(expected_len - 1));
            assert!(saw == PeerSaw::CloseNotify(sent));
        }
    });
}

/// A close_notify trickled one byte per 100 ms cannot stretch the wait:
/// PeerTimeout exactly at peer_close_timeout.
#[test]
fn trickled_close_notify_cannot_stretch_the_wait() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            awaiting(&mut ours, 100).await;
            let peer = tokio::spawn(async move {
                peer_read_to_end(&mut w.peer).await;
                w.peer_tap.trickle_writes(Duration::from_millis(100));
                w.peer.get_mut().1.send_close_notify();
                // Our close gives up first: the rest of the trickle meets a
                // closed transport.
                let _ = w.peer.flush().await;
                w.peer
            });
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerTimeout);
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(1000),
                "{side:?} {version:?}"
            );
            drop(ours);
            drop(peer.await.unwrap());
        }
    });
}

/// The peer vanishes after our close_notify went out (no FIN, no RST, and
/// the FIN cannot leave either): only the timers end the close, at exactly
/// peer_close_timeout + flush_timeout, PeerTimeout.
#[test]
fn vanished_peer_costs_the_wait_plus_the_shutdown() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            awaiting(&mut ours, 5000).await;
            w.our_tap.vanish();
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerTimeout);
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(1500),
                "{side:?} {version:?}"
            );
            assert!(matches!(ours.close().await, Ok(CloseOutcome::PeerTimeout)));
        }
    });
}
