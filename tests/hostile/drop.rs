//! Dropping instead of closing, against hostile peers: what the drop reads,
//! when it lets go of the transport, and that it never waits for the peer.

use std::time::Duration;

use graceful_tls::machine::WriteState;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::hostile::{close_until_pending, config, fill, wired, wrap};
use crate::pairs::{cases, pattern, peer_read_to_end, PeerSaw};
use graceful_tls_testkit::{guarded, HANG};

/// Bytes the peer sent that we never read are read by the drop before it
/// lets go of the transport (over TCP, unread bytes make the kernel send
/// RST instead of FIN): none is left unread, and the peer still gets our
/// data and close_notify.
#[test]
fn drop_reads_what_the_peer_sent_before_letting_go() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            w.peer.write_all(&pattern(10_000)).await.unwrap();
            w.peer.flush().await.unwrap();
            ours.write_all(b"bye").await.unwrap();
            drop(ours);
            let (_, read_at_drop) = w.our_tap.dropped().expect("the drop let go at once");
            assert_eq!(
                read_at_drop,
                w.peer_tap.written(),
                "{side:?} {version:?}: bytes left unread at the drop"
            );
            assert_eq!(
                peer_read_to_end(&mut w.peer).await,
                PeerSaw::CloseNotify(b"bye".to_vec())
            );
        }
    });
}

/// A stream dropped where no runtime runs (after its runtime shut down),
/// its close stuck behind a peer that stopped reading: the drop only
/// attempts the close, arming no timer and spawning nothing (neither exists
/// there), does not panic, and lets go of the transport.
#[test]
fn drop_outside_a_runtime_only_attempts() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    for (side, version) in cases() {
        let (ours, tap, peer) = runtime.block_on(async {
            let w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(300, 1000));
            fill(&mut ours).await;
            w.our_tap.vanish();
            (ours, w.our_tap, w.peer)
        });
        drop(ours);
        assert!(
            tap.dropped().is_some(),
            "{side:?} {version:?}: the transport was kept"
        );
        drop(peer);
    }
}

/// A vanished peer with our data pending: the drop's background finish lets
/// go of the transport at exactly 2 × flush_timeout (flush, then shutdown),
/// the documented bound.
#[test]
fn background_finish_lets_go_of_a_vanished_peer_at_its_bound() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(300, 1000));
            fill(&mut ours).await;
            w.our_tap.vanish();
            let dropped = Instant::now();
            drop(ours);
            assert!(w.our_tap.dropped().is_none(), "finished without waiting");
            tokio::time::sleep(Duration::from_secs(10)).await;
            let (released, _) = w.our_tap.dropped().expect("released");
            assert_eq!(
                released - dropped,
                Duration::from_millis(600),
                "{side:?} {version:?}"
            );
        }
    });
}

/// A drop while close() waits for the peer cuts the wait: the transport is
/// released at once (no background wait), and the peer had every byte and
/// our close_notify.
#[test]
fn drop_cuts_a_close_that_waits_for_the_peer() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = pattern(5000);
            ours.write_all(&sent).await.unwrap();
            assert_eq!(
                close_until_pending(&mut ours).await,
                WriteState::AwaitingPeer
            );
            let dropped = Instant::now();
            drop(ours);
            let (released, _) = w.our_tap.dropped().expect("released at once");
            assert_eq!(released, dropped, "{side:?} {version:?}");
            assert!(peer_read_to_end(&mut w.peer).await == PeerSaw::CloseNotify(sent));
        }
    });
}
