//! What the bare peer does and sees, by its TLS library's own verdict.

use graceful_tls::{Buffered, ErrorClass, TlsBackend};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::stack::AnyTls;

/// What a bare peer saw when reading to the end.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerSaw {
    /// Everything it read, then the close_notify.
    CloseNotify(Vec<u8>),
    /// Everything it read, then a transport EOF without close_notify.
    Truncated(Vec<u8>),
    /// Another error.
    Error(std::io::ErrorKind),
}

/// Reads a bare stream to its end. The verdict comes from the peer's TLS
/// library: rustls' `Ok(0)` only after close_notify and `UnexpectedEof` with
/// its reader state; OpenSSL's `SSL_RECEIVED_SHUTDOWN` flag.
pub async fn peer_read_to_end<IO>(peer: &mut AnyTls<IO>) -> PeerSaw
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut data = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match peer.read(&mut buf).await {
            Ok(0) if peer.received_close_notify() => return PeerSaw::CloseNotify(data),
            Ok(0) => return PeerSaw::Truncated(data),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) => {
                let truncated = peer.classify_error(&e) == ErrorClass::TransportEof
                    || peer.read_buffered(&mut [0u8; 1]) == Buffered::TransportEof;
                return if truncated {
                    PeerSaw::Truncated(data)
                } else {
                    PeerSaw::Error(e.kind())
                };
            }
        }
    }
}

/// Shuts the peer's transport write half without close_notify: a truncation.
pub async fn truncate<IO>(peer: &mut AnyTls<IO>)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    peer.flush().await.expect("peer flush");
    peer.io_mut()
        .shutdown()
        .await
        .expect("peer transport shutdown");
}
