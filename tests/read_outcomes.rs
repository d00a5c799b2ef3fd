//! Typed read outcomes, decided by rustls' state, on both sides and both
//! TLS versions, in memory and over TCP.

mod common;

use common::*;
use graceful_tls::{CancellationToken, Error, GracefulStream, ReadOutcome};
use tokio::io::AsyncWriteExt;

/// Reads until a terminal outcome; returns the data and the outcome.
async fn read_all<S: graceful_tls::TlsBackend>(
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

#[tokio::test]
async fn close_notify_after_all_data() {
    for (side, version) in cases() {
        let (ours, mut peer) = duplex_sides(side, version, 64 * 1024).await;
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

#[tokio::test]
async fn abrupt_eof_after_all_data() {
    for (side, version) in cases() {
        for buf_len in [1, 100, 16 * 1024, 200_000] {
            let (ours, mut peer) = duplex_sides(side, version, 256 * 1024).await;
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

#[tokio::test]
async fn read_outcomes_over_tcp() {
    for (side, version) in cases() {
        let (ours, mut peer) = tcp_sides(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"over tcp").await.unwrap();
        peer.shutdown().await.unwrap();
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"over tcp"[..], ReadOutcome::CloseNotify)
        );

        let (ours, mut peer) = tcp_sides(side, version).await;
        let mut ours = GracefulStream::new(ours, CancellationToken::new());
        peer.write_all(b"cut").await.unwrap();
        truncate(&mut peer).await;
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"cut"[..], ReadOutcome::AbruptEof)
        );
    }
}

/// An empty buffer reads nothing, does no I/O and is not an end.
#[tokio::test]
async fn empty_buffer_is_data_zero() {
    let (ours, _peer) = duplex_sides(Side::Client, Version::Tls13, 1024).await;
    let mut ours = GracefulStream::new(ours, CancellationToken::new());
    assert_eq!(
        ours.read_outcome(&mut []).await.unwrap(),
        ReadOutcome::Data(0)
    );
}

/// Garbage from the peer is a typed TLS error, sticky, and nothing panics.
#[tokio::test]
async fn garbage_is_a_typed_tls_error() {
    let garbage: [&[u8]; 4] = [
        b"\x17\x03\x03\x00\x20this is not an encrypted record!",
        b"\x15\x03\x03\x00\x02\x02\x28", // plaintext fatal alert
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for (side, version) in cases() {
        for bytes in garbage {
            let (ours, mut peer) = duplex_sides(side, version, 64 * 1024).await;
            let mut ours = GracefulStream::new(ours, CancellationToken::new());
            peer.get_mut().0.write_all(bytes).await.unwrap();
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

/// A transport that itself raises `UnexpectedEof` is a transport error, not
/// a truncation: rustls never saw an EOF.
#[tokio::test]
async fn transport_unexpected_eof_is_not_a_truncation() {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

    /// Duplex that fails reads with `UnexpectedEof` once armed.
    struct Failing {
        inner: DuplexStream,
        armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }
    impl AsyncRead for Failing {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
                return Poll::Ready(Err(std::io::ErrorKind::UnexpectedEof.into()));
            }
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }
    impl AsyncWrite for Failing {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    let (a, b) = tokio::io::duplex(4096);
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (client, _server) = handshake(
        Version::Tls13,
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
    let mut ours = GracefulStream::new(client, CancellationToken::new());
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = ours
        .read_outcome(&mut [0u8; 64])
        .await
        .expect_err("transport error");
    assert!(
        matches!(&err, Error::Transport(e) if e.kind() == std::io::ErrorKind::UnexpectedEof),
        "{err:?}"
    );
}

/// A TLS stream that reports every read error of kind `UnexpectedEof` as a
/// plain EOF (`Ok(0)`), as tokio-rustls releases before 0.26.6 could after
/// batching data with a truncation. The outcome must still come from rustls'
/// state: `AbruptEof`, never `CloseNotify`.
mod eof_as_ok {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use graceful_tls::{Buffered, TlsBackend};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct EofAsOk<S>(pub S);

    impl<S: AsyncRead + Unpin> AsyncRead for EofAsOk<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match Pin::new(&mut self.0).poll_read(cx, buf) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Poll::Ready(Ok(()))
                }
                other => other,
            }
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for EofAsOk<S> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    impl<S: TlsBackend> TlsBackend for EofAsOk<S> {
        fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
            self.0.read_buffered(buf)
        }
        fn queue_close_notify(&mut self) {
            self.0.queue_close_notify()
        }
        fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_shutdown_transport(cx)
        }
        fn is_tls_error(&self, error: &io::Error) -> bool {
            self.0.is_tls_error(error)
        }
        fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
            self.0.protocol_version()
        }
    }
}

#[tokio::test]
async fn eof_reported_as_ok_zero_is_still_a_truncation() {
    for (side, version) in cases() {
        let (ours, mut peer) = duplex_sides(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(eof_as_ok::EofAsOk(ours), CancellationToken::new());
        peer.write_all(b"cut short").await.unwrap();
        truncate(&mut peer).await;
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"cut short"[..], ReadOutcome::AbruptEof),
            "{side:?} {version:?}"
        );

        // And a real close_notify through the same backend is still clean.
        let (ours, mut peer) = duplex_sides(side, version, 64 * 1024).await;
        let mut ours = GracefulStream::new(eof_as_ok::EofAsOk(ours), CancellationToken::new());
        peer.write_all(b"whole").await.unwrap();
        peer.shutdown().await.unwrap();
        let (data, outcome) = read_all(&mut ours, 4096).await;
        assert_eq!(
            (data.as_slice(), outcome),
            (&b"whole"[..], ReadOutcome::CloseNotify)
        );
    }
}
