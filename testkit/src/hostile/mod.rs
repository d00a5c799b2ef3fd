//! The hostile-peer kit of `tests/hostile.rs`: what its in-memory cells
//! share (a rustls pair over [`Wire`]s, the configs, a close driven to a
//! chosen step before the fault, and the peer's moves that rustls offers
//! no single call for), and the peers themselves:
//!
//! * [`transport`]: fault-injecting in-memory transports ([`Wire`], [`Tap`]);
//! * [`pump`]: a deterministic flooding peer that runs inside our
//!   transport's polls (floods on the paused clock);
//! * [`thread_peer`]: blocking rustls peers on threads of their own, over
//!   real TCP and the real clock.

pub mod pump;
pub mod thread_peer;
pub mod transport;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use graceful_tls::machine::WriteState;
use graceful_tls::{CancellationToken, Config, Error, GracefulStream, TlsBackend};
use rustls::AlertDescription;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use self::transport::{Tap, Wire};
use crate::pairs::{handshake, pattern, Side, Tls, Version};

pub type Ours = GracefulStream<Tls<Wire>>;

/// An established pair over wires: our stream (not yet wrapped), the bare
/// peer, and each end's tap.
pub struct Wired {
    pub ours: Tls<Wire>,
    pub peer: Tls<Wire>,
    pub our_tap: Arc<Tap>,
    pub peer_tap: Arc<Tap>,
}

/// Handshakes a pair over wires of `capacity` bytes each way; `side` is
/// our end.
pub async fn wired(side: Side, version: Version, capacity: usize) -> Wired {
    let ((a, a_tap), (b, b_tap)) = Wire::pair(capacity);
    let (client, server) = handshake(version, a, b).await;
    let (client, server): (Tls<Wire>, Tls<Wire>) = (client.into(), server.into());
    match side {
        Side::Client => Wired {
            ours: client,
            peer: server,
            our_tap: a_tap,
            peer_tap: b_tap,
        },
        Side::Server => Wired {
            ours: server,
            peer: client,
            our_tap: b_tap,
            peer_tap: a_tap,
        },
    }
}

/// Deadlines in milliseconds.
pub fn config(flush_ms: u64, peer_ms: u64) -> Config {
    Config::default()
        .with_flush_timeout(Duration::from_millis(flush_ms))
        .with_peer_close_timeout(Duration::from_millis(peer_ms))
}

/// Wraps our end with a fresh token.
pub fn wrap(ours: Tls<Wire>, config: Config) -> Ours {
    GracefulStream::with_config(ours, CancellationToken::new(), config)
}

/// Writes a pattern until the transport and rustls' buffer take no more:
/// the next flush has to wait for the peer. Returns what was accepted.
pub async fn fill<S: TlsBackend>(ours: &mut GracefulStream<S>) -> Vec<u8> {
    let chunk = pattern(4096);
    let mut sent = Vec::new();
    loop {
        let wrote = poll_fn(|cx| Poll::Ready(Pin::new(&mut *ours).poll_write(cx, &chunk))).await;
        match wrote {
            Poll::Ready(Ok(n)) => sent.extend_from_slice(&chunk[..n]),
            Poll::Ready(Err(e)) => panic!("write while filling: {e}"),
            Poll::Pending => return sent,
        }
        assert!(sent.len() < 64 << 20, "the transport never filled up");
    }
}

/// Polls `close()` once, which must not finish, and returns the step it
/// stopped at: the fault a test injects next hits that step.
pub async fn close_until_pending<S: TlsBackend>(ours: &mut GracefulStream<S>) -> WriteState {
    let first = poll_fn(|cx| Poll::Ready(ours.poll_close(cx))).await;
    assert!(first.is_pending(), "close finished at once: {first:?}");
    ours.state().write_state()
}

/// The rustls error inside `Error::Tls`.
pub fn rustls_error(error: &Error) -> Option<&rustls::Error> {
    match error {
        Error::Tls(e) => e.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The alert the peer sent, if `error` is one.
pub fn alert(error: &Error) -> Option<AlertDescription> {
    match rustls_error(error)? {
        rustls::Error::AlertReceived(description) => Some(*description),
        _ => None,
    }
}

/// Queues the peer's close_notify and flushes it (no FIN).
pub async fn peer_close_notify(peer: &mut Tls<Wire>) {
    peer.get_mut().1.send_close_notify();
    peer.flush().await.expect("peer flush");
}

/// Makes the peer send a TLS 1.3 KeyUpdate (update_requested).
pub async fn peer_key_update(peer: &mut Tls<Wire>) {
    let refreshed = match peer {
        tokio_rustls::TlsStream::Client(s) => s.get_mut().1.refresh_traffic_keys(),
        tokio_rustls::TlsStream::Server(s) => s.get_mut().1.refresh_traffic_keys(),
    };
    refreshed.expect("refresh_traffic_keys (TLS 1.3 only)");
    peer.flush().await.expect("peer flush");
}

/// Garbage where a record should be: a header announcing application data,
/// then bytes no key decrypts.
pub const GARBAGE: &[u8] = b"\x17\x03\x03\x00\x20this is not an encrypted record!";

/// Sends garbage past the peer's TLS layer.
pub async fn peer_garbage(peer: &mut Tls<Wire>) {
    peer.get_mut().0.write_all(GARBAGE).await.expect("garbage");
}

/// Arms the peer's wire so that the next record we send arrives with a bit
/// flipped in its body: the peer's rustls rejects it with a fatal
/// `bad_record_mac`, which it sends us, encrypted.
pub fn corrupt_our_next_record(wired_our_tap: &Tap, peer_tap: &Tap) {
    // Byte 6 of a record: past the 5-byte header, inside the explicit nonce
    // (TLS 1.2) or the ciphertext (TLS 1.3).
    peer_tap.corrupt_inbound_at(wired_our_tap.written() + 6);
}

/// A peer that drains its transport raw (no TLS) until EOF or error, and
/// counts: a peer that stays connected after its TLS layer failed.
pub async fn drain_raw(peer: &mut Tls<Wire>) -> u64 {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        match peer.get_mut().0.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}
