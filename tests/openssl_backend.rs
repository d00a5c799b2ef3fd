//! tokio-openssl specifics that the generic suite (`tests/conformance.rs`)
//! cannot see: reads after cancellation never touch the transport, and the
//! handshake state and version come from OpenSSL.
#![cfg(feature = "openssl")]

use graceful_tls_testkit::pairs;
#[path = "conformance/openssl_stack.rs"]
mod openssl_stack;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use graceful_tls::{CancellationToken, GracefulStream, ReadOutcome, TlsBackend, TlsVersion};
use pairs::{pattern, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// A duplex end that counts the reads OpenSSL makes on it.
struct CountingReads {
    inner: DuplexStream,
    reads: Arc<AtomicUsize>,
}

impl AsyncRead for CountingReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingReads {
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
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// After the token fires, the plaintext OpenSSL already decrypted
/// (`SSL_pending`) is returned, then `Cancelled`, and the transport is not
/// read once more, although more records wait in it.
#[tokio::test]
async fn reads_after_cancel_never_touch_the_transport() {
    for version in [Version::Tls12, Version::Tls13] {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let reads = Arc::new(AtomicUsize::new(0));
        let client_io = CountingReads {
            inner: a,
            reads: reads.clone(),
        };
        let (client, mut server) = tokio::join!(
            openssl_stack::connect(version, client_io),
            openssl_stack::accept(version, b)
        );
        let token = CancellationToken::new();
        let mut client = GracefulStream::new(client, token.clone());
        let sent = pattern(100_000);
        server.write_all(&sent).await.unwrap();
        server.flush().await.unwrap();

        let mut buf = [0u8; 100];
        let mut received = Vec::new();
        match client.read_outcome(&mut buf).await.unwrap() {
            ReadOutcome::Data(n) => received.extend_from_slice(&buf[..n]),
            other => panic!("{other:?}"),
        }
        let reads_before_cancel = reads.load(Ordering::SeqCst);
        token.cancel();
        loop {
            match client.read_outcome(&mut buf).await.unwrap() {
                ReadOutcome::Data(n) => received.extend_from_slice(&buf[..n]),
                ReadOutcome::Cancelled => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(
            received.len() > 100,
            "{version:?}: buffered plaintext returned"
        );
        assert!(received.len() < sent.len());
        assert_eq!(received, sent[..received.len()]);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            reads_before_cancel,
            "{version:?}: no transport read after the cancel"
        );
    }
}

/// Before the handshake OpenSSL reports it incomplete and no version; after
/// it, the version negotiated.
#[tokio::test]
async fn handshake_state_and_version_come_from_openssl() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let ssl = openssl::ssl::Ssl::new(
        openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls())
            .unwrap()
            .build()
            .as_ref(),
    )
    .unwrap();
    let fresh = tokio_openssl::SslStream::new(ssl, a).unwrap();
    assert!(!fresh.is_handshake_complete());
    assert_eq!(fresh.protocol_version(), None);
    drop((fresh, b));

    let (a, b) = tokio::io::duplex(64 * 1024);
    let (client, server) = tokio::join!(
        openssl_stack::connect(Version::Tls12, a),
        openssl_stack::accept(Version::Tls12, b)
    );
    for stream in [&client, &server] {
        assert!(stream.is_handshake_complete());
        assert_eq!(stream.protocol_version(), Some(TlsVersion::Tls12));
    }
}
