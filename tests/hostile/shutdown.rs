//! Faults while close() shuts the transport's write half (the outcome is
//! decided by then). Over TCP this step is immediate; in memory a transport
//! whose shutdown cannot finish (its FIN waits behind bytes the peer never
//! takes, or the peer vanished) or fails must not change the outcome nor
//! hold the close past flush_timeout.

use std::time::Duration;

use graceful_tls::machine::WriteState;
use graceful_tls::CloseOutcome;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::hostile::transport::ShutdownFault;
use crate::hostile::{close_until_pending, config, wired, wrap};
use crate::pairs::{cases, pattern, peer_read_to_end, PeerSaw};
use graceful_tls_testkit::{guarded, HANG};

/// A shutdown that never finishes costs exactly flush_timeout and keeps the
/// decided outcome: close() after the peer confirmed says PeerConfirmed,
/// `AsyncWriteExt::shutdown` succeeds, and the peer had every byte.
#[test]
fn stuck_shutdown_is_bounded_and_keeps_the_outcome() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            for via_poll_shutdown in [false, true] {
                let mut w = wired(side, version, 64 * 1024).await;
                w.our_tap.shutdown_fault(ShutdownFault::Stuck);
                let mut ours = wrap(w.ours, config(400, 1000));
                let sent = pattern(5000);
                ours.write_all(&sent).await.unwrap();
                let peer = tokio::spawn(async move {
                    let saw = peer_read_to_end(&mut w.peer).await;
                    w.peer.shutdown().await.unwrap();
                    saw
                });
                let started = Instant::now();
                if via_poll_shutdown {
                    ours.shutdown().await.unwrap();
                    assert_eq!(ours.close().await.unwrap(), CloseOutcome::NotAwaited);
                } else {
                    assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
                }
                assert_eq!(
                    started.elapsed(),
                    Duration::from_millis(400),
                    "{side:?} {version:?}"
                );
                assert!(peer.await.unwrap() == PeerSaw::CloseNotify(sent));
            }
        }
    });
}

/// An RST while the shutdown waits changes nothing that was decided: the
/// close ends at that instant with its outcome (NotAwaited), and the peer
/// had every byte and our close_notify.
#[test]
fn reset_during_shutdown_keeps_the_outcome() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            w.our_tap.shutdown_fault(ShutdownFault::Stuck);
            let mut ours = wrap(w.ours, config(400, 0));
            let sent = pattern(5000);
            ours.write_all(&sent).await.unwrap();
            assert_eq!(
                close_until_pending(&mut ours).await,
                WriteState::ShuttingDown(CloseOutcome::NotAwaited)
            );
            let saw = peer_read_to_end(&mut w.peer).await;
            let tap = w.our_tap.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tap.reset();
            });
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::NotAwaited);
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(50),
                "{side:?} {version:?}"
            );
            assert!(saw == PeerSaw::CloseNotify(sent));
        }
    });
}
