//! close(): every outcome, deadlines in paused time, idempotence, refused
//! writes and byte-exact delivery before close_notify.

use std::time::Duration;

use graceful_tls::{CancellationToken, CloseOutcome, Config, Error, GracefulStream, ReadOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::pairs::{cases, pattern, Side, Version};
use crate::peer::{peer_read_to_end, truncate, PeerSaw};
use crate::stack::Pair;

fn config(flush_ms: u64, peer_ms: u64) -> Config {
    Config::default()
        .with_flush_timeout(Duration::from_millis(flush_ms))
        .with_peer_close_timeout(Duration::from_millis(peer_ms))
}

pub async fn peer_confirmed_with_every_byte_first(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours =
            GracefulStream::with_config(ours, CancellationToken::new(), config(3000, 1000));
        let sent = pattern(300_000);
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.shutdown().await.unwrap(); // answer with our own close_notify
            saw
        });
        // Written without an explicit flush: close() must deliver it before close_notify.
        ours.write_all(&sent).await.unwrap();
        let started = Instant::now();
        assert_eq!(
            ours.close().await.unwrap(),
            CloseOutcome::PeerConfirmed,
            "{side:?} {version:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "did not wait the full peer timeout"
        );
        assert_eq!(
            peer_task.await.unwrap(),
            PeerSaw::CloseNotify(sent),
            "{side:?} {version:?}"
        );
        // Idempotent, and the read side saw the confirmation.
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert_eq!(
            ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
            ReadOutcome::CloseNotify
        );
    }
}

pub async fn peer_confirmed_over_tcp_byte_exact(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        let sent = pattern(4 * 1024 * 1024 + 17);
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.shutdown().await.unwrap();
            saw
        });
        for chunk in sent.chunks(16 * 1024 + 3) {
            ours.write_all(chunk).await.unwrap();
        }
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
        assert!(
            peer_task.await.unwrap() == PeerSaw::CloseNotify(sent),
            "{side:?} {version:?}"
        );
        assert_eq!(ours.stats().written(), 4 * 1024 * 1024 + 17);
    }
}

pub async fn peer_closed_first_then_we_answer(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"last words").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            ours.read_outcome(&mut buf).await.unwrap(),
            ReadOutcome::Data(10)
        );
        assert_eq!(
            ours.read_outcome(&mut buf).await.unwrap(),
            ReadOutcome::CloseNotify
        );
        // Half-close: we may still write after the peer's close_notify.
        ours.write_all(b"reply after your close").await.unwrap();
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerClosedFirst);
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"reply after your close".to_vec()),
            "{side:?} {version:?}"
        );
    }
}

pub async fn zero_peer_timeout_does_not_wait(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours = GracefulStream::with_config(ours, CancellationToken::new(), config(3000, 0));
        ours.write_all(b"bye").await.unwrap();
        let started = Instant::now();
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::NotAwaited);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"bye".to_vec())
        );
    }
}

/// A peer that reads everything but never answers: close returns exactly at
/// the peer deadline, and the peer did get close_notify.
pub async fn silent_peer_times_out(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours =
            GracefulStream::with_config(ours, CancellationToken::new(), config(3000, 700));
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            (saw, peer) // keep the transport open, never answer
        });
        let started = Instant::now();
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerTimeout);
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(700),
            "{side:?} {version:?}"
        );
        let (saw, _peer) = peer_task.await.unwrap();
        assert_eq!(saw, PeerSaw::CloseNotify(Vec::new()));
    }
}

/// A peer that stops reading: close returns at the flush deadline (plus the
/// shutdown step, immediate in memory) instead of hanging.
pub async fn stalled_peer_flush_timeout(pair: Pair) {
    for (side, version) in cases() {
        let (ours, peer) = pair.duplex(side, version, 1024).await;
        let mut ours =
            GracefulStream::with_config(ours, CancellationToken::new(), config(500, 1000));
        // Fill the pipe: the write blocks once the peer's buffer is full.
        let big = pattern(256 * 1024);
        let _ = tokio::time::timeout(Duration::from_millis(10), ours.write_all(&big)).await;
        let started = Instant::now();
        assert_eq!(
            ours.close().await.unwrap(),
            CloseOutcome::FlushTimeout,
            "{side:?} {version:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert!(!CloseOutcome::FlushTimeout.close_notify_flushed());
        // The transport's write half was shut anyway, and writes stay refused.
        let err = ours.write(b"more").await.unwrap_err();
        assert!(matches!(Error::from_io(&err), Some(Error::Closed)));
        drop(peer);
    }
}

pub async fn peer_eof_instead_of_close_notify(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            truncate(&mut peer).await; // like Go/.NET: FIN without close_notify
            saw
        });
        assert_eq!(
            ours.close().await.unwrap(),
            CloseOutcome::PeerEof,
            "{side:?} {version:?}"
        );
        assert_eq!(peer_task.await.unwrap(), PeerSaw::CloseNotify(Vec::new()));
        assert_eq!(
            ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
            ReadOutcome::AbruptEof
        );
    }
}

/// Plaintext the peer sends while close waits is discarded, counted, and
/// never silently lost: read + discarded == sent.
pub async fn data_during_close_is_counted(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Server, Version::Tls13, 64 * 1024).await;
    let mut ours = GracefulStream::new(ours, CancellationToken::new());
    peer.write_all(&pattern(20_000)).await.unwrap();
    peer.flush().await.unwrap();
    let mut buf = [0u8; 1000];
    assert!(matches!(
        ours.read_outcome(&mut buf).await.unwrap(),
        ReadOutcome::Data(_)
    ));
    let peer_task = tokio::spawn(async move {
        let saw = peer_read_to_end(&mut peer).await;
        peer.shutdown().await.unwrap();
        saw
    });
    assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
    let stats = ours.stats();
    assert_eq!(stats.read() + stats.discarded(), 20_000, "{stats:?}");
    assert!(stats.discarded() > 0);
    assert_eq!(peer_task.await.unwrap(), PeerSaw::CloseNotify(Vec::new()));
}

pub async fn writes_after_close_are_refused(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours = GracefulStream::with_config(ours, CancellationToken::new(), config(3000, 0));
        ours.write_all(b"before").await.unwrap();
        ours.close().await.unwrap();
        let err = ours.write_all(b"after").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert!(
            matches!(Error::from_io(&err), Some(Error::Closed)),
            "{err:?}"
        );
        // The peer got exactly what came before close_notify.
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"before".to_vec())
        );
    }
}

/// `AsyncWriteExt::shutdown` closes without waiting for the peer; the read
/// direction keeps working (half-close), and close() afterwards reports the
/// same close.
pub async fn shutdown_is_a_half_close(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 16 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        ours.write_all(b"request").await.unwrap();
        ours.shutdown().await.unwrap();
        assert!(ours.write_all(b"x").await.is_err());
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"request".to_vec())
        );
        peer.write_all(b"response").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"response", "{side:?} {version:?}");
        assert_eq!(ours.close().await.unwrap(), CloseOutcome::NotAwaited);
    }
}

/// close() is cancellation safe: dropping its future mid-wait and calling
/// again resumes, with close_notify sent once.
pub async fn close_resumes_after_its_future_is_dropped(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Client, Version::Tls13, 16 * 1024).await;
    let mut ours = GracefulStream::with_config(ours, CancellationToken::new(), config(3000, 1000));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), ours.close())
            .await
            .is_err()
    );
    let peer_task = tokio::spawn(async move {
        let saw = peer_read_to_end(&mut peer).await;
        peer.shutdown().await.unwrap();
        saw
    });
    assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
    assert_eq!(peer_task.await.unwrap(), PeerSaw::CloseNotify(Vec::new()));
}

/// A reset during close is a typed transport error, sticky.
pub async fn reset_during_close_is_a_transport_error(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        // Make the peer's kernel answer with RST: close with unread data pending.
        ours.write_all(&pattern(10_000)).await.unwrap();
        ours.flush().await.unwrap();
        peer.io_mut().set_zero_linger().unwrap();
        drop(peer);
        let result = ours.close().await;
        match &result {
            Err(e @ Error::Transport(_)) => assert!(e.is_reset(), "{e:?}"),
            // The RST may arrive after our close_notify and FIN went out.
            Ok(CloseOutcome::PeerEof) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(format!("{:?}", ours.close().await), format!("{result:?}"));
    }
}
