//! Cancellation: a pending read returns `Cancelled` promptly with the TLS
//! state intact (the Boost.Asio scenario), and no decrypted plaintext is
//! lost.

use std::time::Duration;

use graceful_tls::{CancellationToken, CloseOutcome, GracefulStream, ReadOutcome};
use tokio::io::AsyncWriteExt;

use crate::pairs::{cases, pattern, Side, Version};
use crate::peer::{peer_read_to_end, PeerSaw};
use crate::stack::Pair;

/// The user quits while a read is pending: the read returns `Cancelled`,
/// the same stream writes and closes cleanly, and the peer reads the data
/// written after the cancel, then close_notify (not "bad record mac").
pub async fn cancel_pending_read_then_write_and_close(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let parent = CancellationToken::new();
        let mut ours = GracefulStream::new(ours, parent.child_token());
        let canceller = {
            let parent = parent.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                parent.cancel();
            })
        };
        let started = tokio::time::Instant::now();
        let outcome = ours.read_outcome(&mut [0u8; 1024]).await.unwrap();
        assert_eq!(outcome, ReadOutcome::Cancelled, "{side:?} {version:?}");
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(250),
            "cancelled promptly"
        );
        canceller.await.unwrap();
        // Sticky.
        assert_eq!(
            ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
            ReadOutcome::Cancelled
        );

        ours.write_all(b"written after cancel").await.unwrap();
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.shutdown().await.unwrap();
            saw
        });
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert_eq!(
            peer_task.await.unwrap(),
            PeerSaw::CloseNotify(b"written after cancel".to_vec()),
            "{side:?} {version:?}"
        );
    }
}

/// The same over TCP, with the read pending inside `tokio::select!` style
/// usage: the read future is dropped and re-created freely.
pub async fn cancel_over_tcp(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let token = CancellationToken::new();
        let mut ours = GracefulStream::new(ours, token.clone());
        for _ in 0..3 {
            let timed =
                tokio::time::timeout(Duration::from_millis(5), ours.read_outcome(&mut [0u8; 64]))
                    .await;
            assert!(timed.is_err(), "nothing to read yet");
        }
        token.cancel();
        assert_eq!(
            ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
            ReadOutcome::Cancelled
        );
        ours.write_all(b"tcp bye").await.unwrap();
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.shutdown().await.unwrap();
            saw
        });
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert_eq!(
            peer_task.await.unwrap(),
            PeerSaw::CloseNotify(b"tcp bye".to_vec())
        );
    }
}

/// Plaintext already decrypted when the token fires is returned as `Data`
/// before `Cancelled`, without transport I/O; what was still encrypted in
/// flight is read and counted as discarded by close(). Nothing vanishes:
/// read + discarded == sent.
pub async fn decrypted_plaintext_is_delivered_before_cancelled(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 256 * 1024).await;
        let token = CancellationToken::new();
        let mut ours = GracefulStream::new(ours, token.clone());
        let sent = pattern(100_000);
        peer.write_all(&sent).await.unwrap();
        peer.flush().await.unwrap();

        let mut received = Vec::new();
        let mut buf = [0u8; 100];
        // One small read makes rustls decrypt at least a whole record.
        match ours.read_outcome(&mut buf).await.unwrap() {
            ReadOutcome::Data(n) => received.extend_from_slice(&buf[..n]),
            other => panic!("{other:?}"),
        }
        token.cancel();
        let mut after_cancel = 0;
        loop {
            match ours.read_outcome(&mut buf).await.unwrap() {
                ReadOutcome::Data(n) => {
                    received.extend_from_slice(&buf[..n]);
                    after_cancel += n;
                }
                ReadOutcome::Cancelled => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(
            after_cancel > 0,
            "{side:?} {version:?}: buffered plaintext was not returned"
        );
        assert!(received.len() < sent.len(), "no transport I/O after cancel");
        assert_eq!(received, sent[..received.len()], "in order, no gaps");

        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.shutdown().await.unwrap();
            saw
        });
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        let stats = ours.stats();
        assert_eq!(
            stats.read() + stats.discarded(),
            sent.len() as u64,
            "{stats:?}"
        );
        assert_eq!(peer_task.await.unwrap(), PeerSaw::CloseNotify(Vec::new()));
    }
}

/// A token cancelled before the read starts: no transport I/O at all.
pub async fn already_cancelled_token(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Client, Version::Tls13, 16 * 1024).await;
    let token = CancellationToken::new();
    token.cancel();
    let mut ours = GracefulStream::new(ours, token);
    peer.write_all(b"unread").await.unwrap();
    peer.flush().await.unwrap();
    assert_eq!(
        ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
        ReadOutcome::Cancelled
    );
}

/// Terminal outcomes win over a later cancellation.
pub async fn close_notify_stays_after_cancel(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Server, Version::Tls12, 16 * 1024).await;
    let token = CancellationToken::new();
    let mut ours = GracefulStream::new(ours, token.clone());
    peer.shutdown().await.unwrap();
    assert_eq!(
        ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
        ReadOutcome::CloseNotify
    );
    token.cancel();
    assert_eq!(
        ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
        ReadOutcome::CloseNotify
    );
}

/// A read that waited in one task, then waits in another: the token wakes
/// the task that is reading now, not the one that gave up.
pub async fn cancel_wakes_the_task_reading_now(pair: Pair) {
    let (ours, _peer) = pair.duplex(Side::Server, Version::Tls13, 16 * 1024).await;
    let token = CancellationToken::new();
    let mut ours = GracefulStream::new(ours, token.clone());
    let mut buf = [0u8; 64];
    assert!(futures::poll!(Box::pin(ours.read_outcome(&mut buf))).is_pending());
    let reader = tokio::spawn(async move { ours.read_outcome(&mut [0u8; 64]).await });
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(!reader.is_finished());
    token.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(5), reader).await;
    let outcome = outcome.expect("the reading task was woken").unwrap();
    assert_eq!(outcome.unwrap(), ReadOutcome::Cancelled);
}
