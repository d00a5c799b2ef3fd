//! The data path: bulk throughput and 64-byte round trips, with both ends
//! bare tokio-rustls (A) or both ends wrapped in `GracefulStream` (B), driven
//! by the same code through `AsyncRead`/`AsyncWrite`.

use std::time::Instant;

use graceful_tls::{CancellationToken, GracefulStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::tls::Loopback;

const WRITE: usize = 16 * 1024;
pub const PING: usize = 64;

/// Per-round figures of the baseline and the crate.
#[derive(Debug, Clone, Default)]
pub struct Ab {
    pub bare: Vec<f64>,
    pub graceful: Vec<f64>,
}

/// MB/s (10^6 bytes per second) of `total` bytes in 16 KiB writes, one
/// direction (server to client), per round.
pub async fn bulk(total: usize, rounds: usize) -> Ab {
    let lb = Loopback::bind().await;
    let mut ab = Ab::default();
    // Warm-up (allocator, page cache, TCP), not counted.
    let (client, server) = lb.pair().await;
    transfer(server, client, total / 4).await;
    for round in 0..rounds {
        for graceful in order(round) {
            let (client, server) = lb.pair().await;
            if graceful {
                let mbps = transfer(wrap(server), wrap(client), total).await;
                ab.graceful.push(mbps);
            } else {
                ab.bare.push(transfer(server, client, total).await);
            }
        }
    }
    ab
}

/// Which variant goes first alternates by round (A B, B A, ...), so that
/// neither always runs on a machine the other has just warmed or loaded.
pub fn order(round: usize) -> [bool; 2] {
    [round % 2 == 1, round % 2 == 0]
}

fn wrap<S: graceful_tls::TlsBackend + Send + 'static>(s: S) -> GracefulStream<S> {
    GracefulStream::new(s, CancellationToken::new())
}

async fn transfer<W, R>(writer: W, mut reader: R, total: usize) -> f64
where
    W: AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + Unpin,
{
    let start = Instant::now();
    let writing = tokio::spawn(write_bulk(writer, total));
    read_bulk(&mut reader, total).await;
    let secs = start.elapsed().as_secs_f64();
    drop(writing.await.expect("writer task"));
    total as f64 / secs / 1e6
}

/// Mean microseconds per 64-byte request/response round trip, per round.
pub async fn pingpong(iters: usize, rounds: usize) -> Ab {
    let lb = Loopback::bind().await;
    let mut ab = Ab::default();
    for round in 0..rounds {
        for graceful in order(round) {
            let (client, server) = lb.pair().await;
            if graceful {
                let us = round_trips(wrap(client), wrap(server), iters).await;
                ab.graceful.push(us);
            } else {
                ab.bare.push(round_trips(client, server, iters).await);
            }
        }
    }
    ab
}

/// `n` round trips of one variant and nothing else (after the handshake and
/// 200 warm-up round trips), for profilers: the difference between two `n`
/// is what the round trips cost.
pub async fn profile(graceful: bool, n: usize) {
    let lb = Loopback::bind().await;
    let (client, server) = lb.pair().await;
    if graceful {
        round_trips(wrap(client), wrap(server), n).await;
    } else {
        round_trips(client, server, n).await;
    }
}

/// `mib` MiB one way in 16 KiB writes with one variant and nothing else
/// (after the handshake and a 1 MiB warm-up on the same connection), for
/// instruction counts: the difference between two sizes is what the bytes
/// cost.
pub async fn profile_bulk(graceful: bool, mib: usize) {
    let lb = Loopback::bind().await;
    let (client, server) = lb.pair().await;
    let total = mib << 20;
    if graceful {
        bulk_on(wrap(server), wrap(client), total).await;
    } else {
        bulk_on(server, client, total).await;
    }
}

async fn bulk_on<W, R>(writer: W, mut reader: R, total: usize)
where
    W: AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + Unpin,
{
    const WARM_UP: usize = 1 << 20;
    let writing = tokio::spawn(write_bulk(writer, WARM_UP + total));
    read_bulk(&mut reader, WARM_UP + total).await;
    drop(writing.await.expect("writer task"));
}

async fn write_bulk<W: AsyncWrite + Unpin>(mut writer: W, total: usize) -> W {
    let chunk = vec![0x5a_u8; WRITE];
    for _ in 0..total / WRITE {
        writer.write_all(&chunk).await.expect("bulk write");
    }
    writer.flush().await.expect("bulk flush");
    writer
}

async fn read_bulk<R: AsyncRead + Unpin>(reader: &mut R, total: usize) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < total {
        let n = reader.read(&mut buf).await.expect("bulk read");
        assert!(n > 0, "bulk: stream ended after {got} bytes");
        got += n;
    }
}

async fn round_trips<C, S>(mut client: C, server: S, iters: usize) -> f64
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let echo = tokio::spawn(echo(server));
    let mut msg = [7u8; PING];
    for _ in 0..200 {
        ping(&mut client, &mut msg).await;
    }
    let start = Instant::now();
    for _ in 0..iters {
        ping(&mut client, &mut msg).await;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / iters as f64;
    drop(client);
    echo.await.expect("echo task");
    us
}

/// One round trip: write 64 bytes, read the 64-byte answer.
pub async fn ping<C: AsyncRead + AsyncWrite + Unpin>(client: &mut C, msg: &mut [u8; PING]) {
    client.write_all(msg).await.expect("ping write");
    client.flush().await.expect("ping flush");
    client.read_exact(msg).await.expect("pong read");
}

/// Answers every 64-byte message until the peer goes away.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut server: S) {
    let mut msg = [0u8; PING];
    while server.read_exact(&mut msg).await.is_ok() {
        if server.write_all(&msg).await.is_err() || server.flush().await.is_err() {
            return;
        }
    }
}
