//! Deadline arithmetic under hostile timing: each step's deadline counts
//! from that step's own start, and "no deadline" (`Duration::MAX`) neither
//! overflows nor expires early.

use std::time::Duration;

use graceful_tls::{CloseOutcome, Config};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::hostile::transport::ShutdownFault;
use crate::hostile::{config, fill, wired, wrap};
use crate::pairs::{cases, peer_read_to_end, PeerSaw, Side, Version};
use graceful_tls_testkit::{guarded, HANG};

/// The flush waits 400 ms (the peer reads late), then the peer wait waits
/// in full, then the shutdown: each deadline counts from its own step's
/// start, so close() ends at exactly 400 + peer_close_timeout +
/// flush_timeout (and the peer had every byte).
#[test]
fn each_step_deadline_counts_from_its_own_start() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(1000, 700));
            let sent = fill(&mut ours).await;
            let tap = w.our_tap.clone();
            let peer = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                let saw = peer_read_to_end(&mut w.peer).await;
                // Our FIN cannot leave either from now on.
                tap.shutdown_fault(ShutdownFault::Stuck);
                (saw, w.peer)
            });
            let started = Instant::now();
            let closed = tokio::time::timeout(Duration::from_secs(3600), ours.close()).await;
            let outcome = closed.expect("a deadline was re-armed forever").unwrap();
            assert_eq!(outcome, CloseOutcome::PeerTimeout, "{side:?} {version:?}");
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(400 + 700 + 1000),
                "{side:?} {version:?}"
            );
            assert!(peer.await.unwrap().0 == PeerSaw::CloseNotify(sent));
        }
    });
}

/// `Duration::MAX` timeouts mean "no deadline": close() neither panics nor
/// overflows, waits for a peer that answers after an hour
/// (PeerConfirmed), and against a peer that never answers ends only at the
/// far-future saturation (about 30 years of paused time).
#[test]
fn duration_max_timeouts_neither_overflow_nor_expire_early() {
    guarded(HANG, || async {
        let max = Config::default()
            .with_flush_timeout(Duration::MAX)
            .with_peer_close_timeout(Duration::MAX);
        let hour = Duration::from_secs(3600);
        let mut w = wired(Side::Client, Version::Tls13, 64 * 1024).await;
        let mut ours = wrap(w.ours, max);
        ours.write_all(b"patience").await.unwrap();
        let peer = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut w.peer).await;
            tokio::time::sleep(hour).await;
            w.peer.shutdown().await.unwrap();
            saw
        });
        let started = Instant::now();
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert_eq!(started.elapsed(), hour);
        assert_eq!(
            peer.await.unwrap(),
            PeerSaw::CloseNotify(b"patience".to_vec())
        );

        let year = Duration::from_secs(365 * 24 * 3600);
        for (side, version) in cases() {
            let w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, max);
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerTimeout);
            let waited = started.elapsed();
            assert!(
                waited > 29 * year && waited < 31 * year,
                "{side:?} {version:?}: waited {waited:?}"
            );
            drop(w.peer);
        }
    });
}

/// A drain's force bounds every step that comes after it by `forced_at +
/// flush_timeout`. Here the handler's close began its flush when the drain
/// signalled, before the force; the peer vanished, so that flush times out
/// after the force, and the shutdown step that follows would otherwise get
/// a whole flush_timeout of its own. The drain returns at exactly
/// `timeout + flush_timeout`.
#[test]
fn a_drain_force_bounds_the_steps_after_it() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 1024).await;
            let set = graceful_tls::ConnectionSet::with_config(config(1000, 10_000));
            let tap = w.our_tap.clone();
            let (filled_tx, filled) = tokio::sync::oneshot::channel();
            set.spawn(w.ours, None, move |stream, signal| {
                Box::pin(async move {
                    fill(stream).await;
                    tap.vanish();
                    let _ = filled_tx.send(());
                    signal.begun().await;
                    let _ = stream.close().await;
                })
            })
            .expect("admitted");
            filled.await.expect("handler filled the transport");
            let started = Instant::now();
            let report = set.drain(Duration::from_millis(500)).await;
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(500 + 1000),
                "{side:?} {version:?}: {report}"
            );
            assert_eq!(report.connections.len(), 1, "{report}");
            assert_eq!(report.forced(), 1, "{report}");
            drop(w.peer);
        }
    });
}
