//! Dropping without close() still delivers close_notify, within bounds.

use std::time::Duration;

use graceful_tls::{CancellationToken, Config, GracefulStream};
use tokio::io::AsyncWriteExt;

use crate::pairs::{cases, pattern, Side, Version};
use crate::peer::{peer_read_to_end, truncate, PeerSaw};
use crate::stack::Pair;

pub async fn drop_sends_close_notify(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        ours.write_all(b"then dropped").await.unwrap();
        drop(ours);
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"then dropped".to_vec()),
            "{side:?} {version:?}"
        );
    }
}

pub async fn drop_sends_close_notify_over_tcp(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        ours.write_all(b"tcp drop").await.unwrap();
        // The peer's session tickets (TLS 1.3) sit unread in our socket: the
        // drop drains them so the kernel sends FIN, not RST.
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(ours);
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"tcp drop".to_vec()),
            "{side:?} {version:?}"
        );
    }
}

/// The transport cannot take everything at once: the drop hands the rest to
/// a background task, which delivers data and close_notify once the peer
/// reads again.
pub async fn drop_finishes_in_background(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        let sent = pattern(200_000);
        let writer = tokio::spawn(async move {
            ours.write_all(&sent).await.unwrap();
            drop(ours); // pending TLS records are still buffered in rustls
            sent
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let saw = peer_read_to_end(&mut peer).await;
        let sent = writer.await.unwrap();
        assert!(saw == PeerSaw::CloseNotify(sent), "{side:?} {version:?}");
    }
}

/// A peer that never reads cannot keep a dropped stream alive: after the
/// flush timeout the background task gives up and releases the transport.
pub async fn drop_with_stalled_peer_is_bounded(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Client, Version::Tls13, 1024).await;
    let config = Config::default().with_flush_timeout(Duration::from_millis(500));
    let mut ours = GracefulStream::with_config(ours, CancellationToken::new(), config);
    let _ =
        tokio::time::timeout(Duration::from_millis(10), ours.write_all(&pattern(100_000))).await;
    drop(ours);
    // Long after the flush timeout, the peer finds the transport gone
    // without a close_notify (it never read, so it could not get one).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let saw = peer_read_to_end(&mut peer).await;
    assert!(!matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
}

/// Outside any runtime the drop makes its non-blocking attempt and does not
/// panic.
pub fn drop_outside_a_runtime(pair: Pair) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (ours, mut peer) = runtime.block_on(async {
        let (ours, peer) = pair.duplex(Side::Server, Version::Tls12, 64 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        ours.write_all(b"no runtime").await.unwrap();
        (ours, peer)
    });
    std::thread::spawn(move || drop(ours))
        .join()
        .expect("drop must not panic");
    let saw = runtime.block_on(peer_read_to_end(&mut peer));
    assert_eq!(saw, PeerSaw::CloseNotify(b"no runtime".to_vec()));
}

/// `into_inner` hands the stream back and sends nothing.
pub async fn into_inner_sends_nothing(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Client, Version::Tls13, 64 * 1024).await;
    let ours = GracefulStream::new(ours, CancellationToken::new());
    let mut inner = ours.into_inner();
    inner.write_all(b"raw").await.unwrap();
    truncate(&mut inner).await;
    assert_eq!(
        peer_read_to_end(&mut peer).await,
        PeerSaw::Truncated(b"raw".to_vec())
    );
}

/// Bytes the peer sent that we never read turn the kernel's close into an
/// RST, which can overtake our close_notify on a real network. The drop
/// drains them without blocking first; either way the peer must get
/// close_notify. (On Linux loopback the close_notify survives the RST, so
/// this pins the outcome, not the drain itself.)
pub async fn drop_with_unread_peer_data_still_delivers_close_notify(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(&pattern(10_000)).await.unwrap();
        peer.flush().await.unwrap();
        // Let the peer's bytes reach our socket's receive buffer (loopback).
        tokio::time::sleep(Duration::from_millis(50)).await;
        ours.write_all(b"bye").await.unwrap();
        drop(ours);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            peer_read_to_end(&mut peer).await,
            PeerSaw::CloseNotify(b"bye".to_vec()),
            "{side:?} {version:?}"
        );
    }
}
