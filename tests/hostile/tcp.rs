//! Faults that only a real socket shows: the kernel's own reset, a peer
//! that holds a connection and does nothing, a close_notify split across
//! TCP segments. Real clock, generous bounds.

use std::time::{Duration, Instant};

use graceful_tls::machine::WriteState;
use graceful_tls::{CancellationToken, CloseOutcome, GracefulStream, ReadOutcome};
use tokio::io::AsyncWriteExt;

use crate::flood::{fill_until_stuck, SLACK};
use crate::hostile::thread_peer::{connect, Act};
use crate::hostile::{close_until_pending, config};
use crate::pairs::VERSIONS;
use graceful_tls_testkit::{guarded_live, HANG};

/// The peer closes with our bytes unread (its kernel sends RST) while our
/// flush waits: close() ends with a typed reset long before flush_timeout.
#[test]
fn kernel_reset_during_flush_is_a_typed_reset() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Flood).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(10_000, 1000));
            fill_until_stuck(&mut ours).await;
            assert_eq!(
                close_until_pending(&mut ours).await,
                WriteState::Flushing { await_peer: true }
            );
            peer.stop();
            let started = Instant::now();
            let err = ours.close().await.unwrap_err();
            assert!(err.is_reset(), "{version:?}: {err:?}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ended by the deadline"
            );
        }
    });
}

/// A peer that holds the socket and does nothing (no FIN, no RST): only
/// the peer deadline ends close(), with PeerTimeout.
#[test]
fn half_open_peer_ends_at_the_peer_deadline() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Hold).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(300, 200));
            ours.write_all(b"into the void").await.unwrap();
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerTimeout);
            let elapsed = started.elapsed();
            let wait = Duration::from_millis(200);
            assert!(
                elapsed >= wait && elapsed <= wait + SLACK,
                "{version:?}: {elapsed:?}"
            );
            drop(ours);
            peer.stop();
        }
    });
}

/// The peer's close_notify arrives one byte per TCP segment: our reads
/// deliver every byte of its data, then CloseNotify.
#[test]
fn close_notify_split_across_segments_is_close_notify() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::TrickleCloseNotify(3000)).await;
            let mut ours = GracefulStream::new(tls, CancellationToken::new());
            let mut buf = [0u8; 1024];
            let mut got = 0;
            let end = loop {
                match ours.read_outcome(&mut buf).await.unwrap() {
                    ReadOutcome::Data(n) => got += n,
                    end => break end,
                }
            };
            assert_eq!((got, end), (3000, ReadOutcome::CloseNotify), "{version:?}");
            assert_eq!(peer.sent.load(std::sync::atomic::Ordering::Relaxed), 3000);
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerClosedFirst);
            drop(ours);
            peer.stop();
        }
    });
}

/// The kernel's own reset after the peer's close_notify: the peer sends
/// close_notify, we read it, then it closes its socket with our data
/// unread (its kernel sends RST) without waiting for ours. Our close_notify
/// then meets the reset: `PeerClosedAndLeft`, not a transport error.
#[test]
fn kernel_reset_after_the_peers_close_notify_is_peer_closed_and_left() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::CloseNotifyThenLeave).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(2000, 1000));
            // Bytes the peer never reads: its close turns into an RST.
            ours.write_all(&[0x42; 4096]).await.unwrap();
            ours.flush().await.unwrap();
            let mut buf = [0u8; 1024];
            let end = tokio::time::timeout(SLACK, ours.read_outcome(&mut buf))
                .await
                .expect("the peer's close_notify within the slack")
                .unwrap();
            assert_eq!(end, ReadOutcome::CloseNotify, "{version:?}");
            peer.stop();
            // Wait until the RST has arrived: the socket turns readable with
            // the error (peek consumes nothing).
            let reset = tokio::time::timeout(SLACK, ours.get_ref().get_ref().0.peek(&mut buf))
                .await
                .expect("the peer's RST within the slack");
            assert!(reset.is_err(), "{version:?}: {reset:?}");
            let started = Instant::now();
            assert_eq!(
                ours.close().await.unwrap(),
                CloseOutcome::PeerClosedAndLeft,
                "{version:?}"
            );
            assert!(started.elapsed() < SLACK, "{version:?}: at once");
            assert_eq!(
                ours.read_outcome(&mut buf).await.unwrap(),
                ReadOutcome::CloseNotify
            );
        }
    });
}
