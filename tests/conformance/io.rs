//! The outcomes through tokio's `AsyncRead` / `AsyncWrite`: `read_to_end`,
//! `tokio::io::split`, `tokio_util::codec::Framed`.

use futures::{SinkExt, StreamExt};
use graceful_tls::{CancellationToken, Error, GracefulStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, LinesCodec};

use crate::pairs::{cases, Side, Version};
use crate::peer::{peer_read_to_end, truncate, PeerSaw};
use crate::stack::Pair;

pub async fn close_notify_is_eof_and_truncation_is_an_error(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"complete").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"complete");

        let (ours, mut peer) = pair.duplex(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"partial").await.unwrap();
        truncate(&mut peer).await;
        let mut got = Vec::new();
        let err = ours.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got, b"partial", "data before the error is delivered");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(
            matches!(Error::from_io(&err), Some(Error::AbruptEof)),
            "{err:?}"
        );
    }
}

pub async fn cancel_is_connection_aborted(pair: Pair) {
    let (ours, _peer) = pair.duplex(Side::Client, Version::Tls13, 64 * 1024).await;
    let token = CancellationToken::new();
    let mut ours = GracefulStream::new(ours, token.clone());
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        let err = ours.read(&mut buf).await.unwrap_err();
        (ours, err)
    });
    tokio::task::yield_now().await;
    token.cancel();
    let (_ours, err) = reader.await.unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
    assert!(matches!(Error::from_io(&err), Some(Error::Cancelled)));
}

/// `tokio::io::split`: the write half shuts down (close_notify) while the
/// read half keeps reading the peer's answer to the end.
pub async fn split_halves_half_close(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let ours = GracefulStream::new(ours, CancellationToken::new());
        let (mut rd, mut wr) = tokio::io::split(ours);
        let peer_task = tokio::spawn(async move {
            let saw = peer_read_to_end(&mut peer).await;
            peer.write_all(b"answer").await.unwrap();
            peer.shutdown().await.unwrap();
            saw
        });
        wr.write_all(b"question").await.unwrap();
        wr.shutdown().await.unwrap();
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"answer", "{side:?} {version:?}");
        assert_eq!(
            peer_task.await.unwrap(),
            PeerSaw::CloseNotify(b"question".to_vec())
        );
    }
}

/// `Framed` over the wrapper: lines both ways, `SinkExt::close` sends
/// close_notify, the peer's close_notify ends the stream of frames.
pub async fn framed_lines(pair: Pair) {
    let (ours, peer) = pair.duplex(Side::Client, Version::Tls13, 64 * 1024).await;
    let ours = GracefulStream::new(ours, CancellationToken::new());
    let mut ours = Framed::new(ours, LinesCodec::new());
    let mut peer = Framed::new(peer, LinesCodec::new());
    ours.send("ping").await.unwrap();
    assert_eq!(peer.next().await.unwrap().unwrap(), "ping");
    peer.send("pong").await.unwrap();
    assert_eq!(ours.next().await.unwrap().unwrap(), "pong");
    SinkExt::<&str>::close(&mut ours).await.unwrap();
    assert!(
        peer.next().await.is_none(),
        "close_notify ends the peer's frames"
    );
    SinkExt::<&str>::close(&mut peer).await.unwrap();
    assert!(
        ours.next().await.is_none(),
        "the peer's close_notify ends ours"
    );
}
