//! tokio-rustls specifics that the generic suite (`tests/conformance.rs`)
//! cannot express: the verdict must come from rustls' state even when the
//! stream reports a truncation as a plain EOF.

use graceful_tls_testkit::pairs;

use graceful_tls::{CancellationToken, GracefulStream, ReadOutcome, TlsBackend};
use pairs::*;
use tokio::io::AsyncWriteExt;

/// Reads until a terminal outcome; returns the data and the outcome.
async fn read_all<S: TlsBackend>(
    stream: &mut GracefulStream<S>,
    buf_len: usize,
) -> (Vec<u8>, ReadOutcome) {
    let mut data = Vec::new();
    let mut buf = vec![0u8; buf_len];
    loop {
        match stream.read_outcome(&mut buf).await.expect("read") {
            ReadOutcome::Data(n) => data.extend_from_slice(&buf[..n]),
            terminal => return (data, terminal),
        }
    }
}

/// A TLS stream that reports every read error of kind `UnexpectedEof` as a
/// plain EOF (`Ok(0)`), as tokio-rustls releases before 0.26.6 could after
/// batching data with a truncation. The outcome must still come from rustls'
/// state: `AbruptEof`, never `CloseNotify`.
mod eof_as_ok {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use graceful_tls::backend::{Buffered, ErrorClass};
    use graceful_tls::{TlsBackend, TlsVersion};
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

    /// Delegates every question to the wrapped stream: this is also the
    /// shape of a backend for a wrapper type (see `graceful_tls::backend`,
    /// "Adding a backend").
    impl<S: TlsBackend> TlsBackend for EofAsOk<S> {
        fn is_handshake_complete(&self) -> bool {
            self.0.is_handshake_complete()
        }
        fn protocol_version(&self) -> Option<TlsVersion> {
            self.0.protocol_version()
        }
        fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
            self.0.read_buffered(buf)
        }
        fn received_close_notify(&mut self) -> bool {
            self.0.received_close_notify()
        }
        fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_close_notify(cx)
        }
        fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.poll_shutdown_transport(cx)
        }
        fn classify_error(&self, error: &io::Error) -> ErrorClass {
            self.0.classify_error(error)
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
