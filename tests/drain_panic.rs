//! `ConnectionSet`: a panicking handler still gets its connection closed and
//! reported.

use graceful_tls_testkit::{bounded, pairs, WAIT};

use std::time::Duration;

use graceful_tls::{CloseOutcome, ConnectionSet, Ended};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use tokio::io::AsyncWriteExt;

/// Two connections, one whose handler panics: both end with close_notify.
/// `lent`: the handlers get the stream lent by value (`spawn_lent`, whose
/// handler's future the task holds inline) rather than borrowed (`spawn`).
/// Returns the report and what each peer saw.
async fn drain_with_a_panicking_handler(lent: bool) -> (graceful_tls::DrainReport, Vec<PeerSaw>) {
    let set = ConnectionSet::new();
    let mut peers = Vec::new();
    for panics in [false, true] {
        let (client, server) = pairs::duplex_pair(Version::Tls13, 16 * 1024).await;
        if lent {
            let handshake = std::future::ready(Ok::<_, std::io::Error>(server));
            set.spawn_lent(None, handshake, move |mut stream, signal| async move {
                stream.write_all(b"hello").await.unwrap();
                signal.begun().await;
                assert!(!panics, "handler bug (expected by the test)");
            })
            .unwrap();
        } else {
            set.spawn(server, None, move |stream, signal| {
                Box::pin(async move {
                    stream.write_all(b"hello").await.unwrap();
                    signal.begun().await;
                    assert!(!panics, "handler bug (expected by the test)");
                })
            })
            .unwrap();
        }
        peers.push(tokio::spawn(async move {
            let mut tls = Tls::from(client);
            let saw = peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            saw
        }));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let report = bounded("the drain", WAIT, set.drain(Duration::from_secs(5))).await;
    let mut saw = Vec::new();
    for peer in peers {
        saw.push(
            bounded("a peer's read to its end", WAIT, peer)
                .await
                .unwrap(),
        );
    }
    (report, saw)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_caught_closed_and_reported() {
    check_caught_closed_and_reported(drain_with_a_panicking_handler(false).await);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_lent_handler_is_caught_closed_and_reported() {
    check_caught_closed_and_reported(drain_with_a_panicking_handler(true).await);
}

/// Both peers got the data and close_notify, and the report marks the
/// second connection (only) as panicked, closed gracefully.
fn check_caught_closed_and_reported((report, saw): (graceful_tls::DrainReport, Vec<PeerSaw>)) {
    for saw in saw {
        assert_eq!(saw, PeerSaw::CloseNotify(b"hello".to_vec()));
    }
    // Ids count from 1 in registration order: the second one panicked.
    let mut panicked: Vec<(u64, bool)> = report
        .connections
        .iter()
        .map(|c| (c.id, c.panicked))
        .collect();
    panicked.sort();
    assert_eq!(panicked, [(1, false), (2, true)]);
    assert!(report
        .connections
        .iter()
        .all(|c| matches!(c.ended, Ended::Closed(CloseOutcome::PeerConfirmed)) && !c.forced));
}
