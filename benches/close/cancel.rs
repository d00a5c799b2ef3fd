//! cancel_to_close_notify: time from `token.cancel()` on a connection whose
//! read is pending until the peer's read returns the close_notify (`Ok(0)`),
//! the crate (read_outcome → Cancelled → close) against the hand-rolled
//! alternative (`select!` on `token.cancelled()` and the read, then
//! `shutdown()`, then reading the peer's close_notify as `close()` does),
//! alternating connection by connection.

use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, GracefulStream, ReadOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::data_path::Ab;
use crate::tls::{Client, Loopback, Server};

/// Microseconds per connection: `bare` holds the hand-rolled samples.
pub async fn cancel_to_close_notify(per_variant: usize) -> Ab {
    let lb = Loopback::bind().await;
    let mut ab = Ab::default();
    for round in 0..per_variant {
        for graceful in crate::data_path::order(round) {
            let us = sample(&lb, graceful).await;
            if graceful {
                ab.graceful.push(us);
            } else {
                ab.bare.push(us);
            }
        }
    }
    ab
}

async fn sample(lb: &Loopback, graceful: bool) -> f64 {
    let (client, server) = lb.pair().await;
    let token = CancellationToken::new();
    let (received, at) = oneshot::channel();
    let peer = tokio::spawn(peer(client, received));
    let ours = if graceful {
        tokio::spawn(graceful_server(server, token.clone()))
    } else {
        tokio::spawn(handrolled_server(server, token.clone()))
    };
    // Let both reads reach Pending (the client also reads its tickets).
    tokio::time::sleep(Duration::from_millis(1)).await;
    let start = Instant::now();
    token.cancel();
    let end = at.await.expect("peer saw close_notify");
    ours.await.expect("server task");
    peer.await.expect("peer task");
    (end - start).as_secs_f64() * 1e6
}

/// Reads until close_notify, reports when it arrived, then answers with its
/// own close_notify.
async fn peer(mut client: Client, received: oneshot::Sender<Instant>) {
    let mut buf = [0u8; 1024];
    loop {
        match client.read(&mut buf).await {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => panic!("cancel_to_close_notify: peer saw {e} instead of close_notify"),
        }
    }
    let _ = received.send(Instant::now());
    let _ = client.shutdown().await;
}

async fn graceful_server(server: Server, token: CancellationToken) {
    let mut stream = GracefulStream::new(server, token);
    let mut buf = [0u8; 1024];
    loop {
        match stream.read_outcome(&mut buf).await.expect("read") {
            ReadOutcome::Data(_) => continue,
            ReadOutcome::Cancelled => break,
            other => panic!("cancel_to_close_notify: read ended with {other}"),
        }
    }
    stream.close().await.expect("close");
}

async fn handrolled_server(mut server: Server, token: CancellationToken) {
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            read = server.read(&mut buf) => match read {
                Ok(n) if n > 0 => continue,
                other => panic!("cancel_to_close_notify: read ended with {other:?}"),
            },
        }
    }
    server.shutdown().await.expect("shutdown");
    // Like close(), wait for the peer's close_notify before dropping: the
    // drop (and its syscalls) then stays out of the measured window, as in
    // the graceful variant.
    while let Ok(n) = server.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}
