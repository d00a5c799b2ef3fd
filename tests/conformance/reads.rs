//! Typed read outcomes, decided by the TLS layer's state, on both sides and
//! both TLS versions, in memory and over TCP.

use graceful_tls::{CancellationToken, Error, GracefulStream, ReadOutcome, TlsBackend};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

use crate::pairs::{cases, pattern, Side, Version};
use crate::peer::{peer_read_to_end, truncate, PeerSaw};
use crate::stack::Pair;

/// Reads until a terminal outcome; returns the data and the outcome.
pub async fn read_all<S: TlsBackend>(
    stream: &mut GracefulStream<S>,
    buf_len: usize,
) -> (Vec<u8>, ReadOutcome) {
    let mut data = Vec::new();
    let mut buf = vec![0u8; buf_len];
    loop {
        match stream.read_outcome(&mut buf).await.expect("read") {
            ReadOutcome::Data(n) => {
                assert!(n > 0);
                data.extend_from_slice(&buf[..n]);
            }
            terminal => return (data, terminal),
        }
    }
}

pub async fn close_notify_after_all_data(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.duplex(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        let sent = pattern(100_000);
        let writer = tokio::spawn(async move {
            peer.write_all(&sent).await.unwrap();
            peer.shutdown().await.unwrap(); // close_notify + FIN
            (peer, sent)
        });
        let (data, outcome) = read_all(&mut ours, 7_000).await;
        let (_peer, sent) = writer.await.unwrap();
        assert_eq!(outcome, ReadOutcome::CloseNotify, "{side:?} {version:?}");
        assert!(data == sent, "{side:?} {version:?}: data differs");
        assert_eq!(ours.stats().read(), sent.len() as u64);
        // Sticky, without I/O.
        for _ in 0..3 {
            assert_eq!(
                ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                ReadOutcome::CloseNotify
            );
        }
    }
}

pub async fn abrupt_eof_after_all_data(pair: Pair) {
    for (side, version) in cases() {
        for buf_len in [1, 100, 16 * 1024, 200_000] {
            let (ours, mut peer) = pair.duplex(side, version, 256 * 1024).await;
            let mut ours = GracefulStream::new(ours, CancellationToken::new());
            let sent = pattern(50_000);
            peer.write_all(&sent).await.unwrap();
            truncate(&mut peer).await;
            let (data, outcome) = read_all(&mut ours, buf_len).await;
            assert_eq!(
                outcome,
                ReadOutcome::AbruptEof,
                "{side:?} {version:?} buf {buf_len}"
            );
            assert!(
                data == sent,
                "{side:?} {version:?} buf {buf_len}: data differs"
            );
            for _ in 0..3 {
                assert_eq!(
                    ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                    ReadOutcome::AbruptEof
                );
            }
        }
    }
}

pub async fn read_outcomes_over_tcp(pair: Pair) {
    for (side, version) in cases() {
        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"over tcp").await.unwrap();
        peer.shutdown().await.unwrap();
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"over tcp"[..], ReadOutcome::CloseNotify),
            "{side:?} {version:?}"
        );

        let (ours, mut peer) = pair.tcp(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"cut").await.unwrap();
        truncate(&mut peer).await;
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"cut"[..], ReadOutcome::AbruptEof),
            "{side:?} {version:?}"
        );
    }
}

/// An empty buffer reads nothing, does no I/O and is not an end.
pub async fn empty_buffer_is_data_zero(pair: Pair) {
    let (ours, mut peer) = pair.duplex(Side::Client, Version::Tls13, 1024).await;
    let mut ours = GracefulStream::new(ours, CancellationToken::new());
    assert_eq!(
        ours.read_outcome(&mut []).await.unwrap(),
        ReadOutcome::Data(0)
    );
    // Also on the data path (a read has waited on the transport, so the
    // stream watches its token): an empty buffer reads nothing and ends
    // nothing, and the stream reads on.
    let mut buf = [0u8; 8];
    for chunk in [&b"one"[..], b"two"] {
        peer.write_all(chunk).await.unwrap();
        peer.flush().await.unwrap();
        assert_eq!(
            ours.read_outcome(&mut buf).await.unwrap(),
            ReadOutcome::Data(3)
        );
        assert_eq!(&buf[..3], chunk);
        assert_eq!(
            ours.read_outcome(&mut []).await.unwrap(),
            ReadOutcome::Data(0)
        );
    }
}

/// Garbage from the peer is a typed TLS error, sticky, and nothing panics.
pub async fn garbage_is_a_typed_tls_error(pair: Pair) {
    let garbage: [&[u8]; 4] = [
        b"\x17\x03\x03\x00\x20this is not an encrypted record!",
        b"\x15\x03\x03\x00\x02\x02\x28", // plaintext fatal alert
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for (side, version) in cases() {
        for bytes in garbage {
            let (ours, mut peer) = pair.duplex(side, version, 64 * 1024).await;
            let mut ours = GracefulStream::new(ours, CancellationToken::new());
            peer.io_mut().write_all(bytes).await.unwrap();
            let first = ours.read_outcome(&mut [0u8; 1024]).await;
            let err = first.expect_err("garbage must fail");
            assert!(
                matches!(err, Error::Tls(_)),
                "{side:?} {version:?} {bytes:?}: {err:?}"
            );
            assert!(std::error::Error::source(&err).is_some());
            // Sticky for reads, writes and close; no close_notify after a fatal alert.
            assert!(matches!(
                ours.read_outcome(&mut [0u8; 8]).await,
                Err(Error::Tls(_))
            ));
            let write = ours.write(b"x").await.expect_err("write after TLS failure");
            assert!(matches!(Error::from_io(&write), Some(Error::Tls(_))));
            assert!(matches!(ours.close().await, Err(Error::Tls(_))));
            drop(ours);
            // The peer sees the fatal alert (an error), never a clean close.
            assert!(!matches!(
                peer_read_to_end(&mut peer).await,
                PeerSaw::CloseNotify(_)
            ));
        }
    }
}

/// Duplex that fails reads with `UnexpectedEof` once armed.
struct Failing {
    inner: DuplexStream,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl AsyncRead for Failing {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Failing {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A transport that itself raises `UnexpectedEof` is a transport error, not
/// a truncation: the TLS layer never saw an EOF.
pub async fn transport_unexpected_eof_is_not_a_truncation(pair: Pair) {
    for (side, version) in cases() {
        let (a, b) = tokio::io::duplex(4096);
        let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ours, _peer) = pair
            .handshake(
                side,
                version,
                Failing {
                    inner: a,
                    armed: armed.clone(),
                },
                Failing {
                    inner: b,
                    armed: Default::default(),
                },
            )
            .await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = ours
            .read_outcome(&mut [0u8; 64])
            .await
            .expect_err("transport error");
        assert!(
            matches!(&err, Error::Transport(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
            "{side:?} {version:?}: {err:?}"
        );
    }
}
