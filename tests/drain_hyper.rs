//! The hyper example's drain path: HTTP/1.1 keep-alive over `GracefulStream`
//! in a `ConnectionSet`. On the drain, a response in flight is completed
//! (`connection: close`) and then close_notify follows; idle keep-alive
//! connections get close_notify at once. Real rustls clients, paused clock.

use graceful_tls_testkit::apps::hyper_conn;
use graceful_tls_testkit::pairs;

use std::time::Duration;

use graceful_tls::{Config, ConnectionSet, Ended};
use pairs::{peer_read_to_end, PeerSaw, Tls, VERSIONS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const SLOW: Duration = Duration::from_secs(2);

/// Sends `GET path` on a keep-alive connection.
async fn send_get<IO: AsyncRead + AsyncWrite + Unpin>(tls: &mut Tls<IO>, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .expect("send request");
    tls.flush().await.expect("flush request");
}

/// Reads exactly one response (headers, then `content-length` bytes).
async fn read_response<IO: AsyncRead + AsyncWrite + Unpin>(tls: &mut Tls<IO>) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .expect("content-length")
                .trim()
                .parse()
                .expect("a number");
            if bytes.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tls.read(&mut buf).await.expect("read response");
        assert!(n > 0, "connection ended mid-response: {text:?}");
        bytes.extend_from_slice(&buf[..n]);
    }
}

/// 100 keep-alive clients: half idle after one request, half with a slow
/// request in flight when the drain begins. Every client gets every full
/// response and then close_notify; nothing is forced.
#[tokio::test(start_paused = true)]
async fn hyper_drain_finishes_responses_then_sends_close_notify() {
    let set = ConnectionSet::with_config(Config::default());
    let mut clients = Vec::new();
    for i in 0..100 {
        let (client, server) = pairs::duplex_pair(VERSIONS[i % 2], 64 * 1024).await;
        set.spawn(server, None, |stream, signal| {
            Box::pin(async move {
                hyper_conn::serve(stream, signal, SLOW).await.expect("http");
            })
        })
        .expect("registered");
        let in_flight = i % 2 == 1;
        clients.push(tokio::spawn(async move {
            let mut tls = Tls::from(client);
            send_get(&mut tls, "/").await;
            let first = read_response(&mut tls).await;
            assert!(first.starts_with("HTTP/1.1 200 OK"), "{first:?}");
            assert!(first.ends_with(hyper_conn::HELLO), "{first:?}");
            if in_flight {
                send_get(&mut tls, "/slow").await;
            }
            let rest = peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            (in_flight, rest)
        }));
    }
    // Let every request reach its server (the clock stands still meanwhile).
    tokio::time::sleep(Duration::from_millis(10)).await;
    let report = set.drain(Duration::from_secs(10)).await;
    assert_eq!(report.elapsed, SLOW - Duration::from_millis(10));
    assert_eq!(report.connections.len(), 100);
    assert_eq!(report.forced(), 0);
    assert!(report
        .connections
        .iter()
        .all(|c| matches!(c.ended, Ended::Closed(o) if o.close_notify_flushed())));
    for client in clients {
        let (in_flight, rest) = client.await.expect("client");
        let PeerSaw::CloseNotify(rest) = rest else {
            panic!("no close_notify after the responses: {rest:?}");
        };
        let rest = String::from_utf8(rest).expect("utf-8");
        if in_flight {
            assert!(rest.starts_with("HTTP/1.1 200 OK"), "{rest:?}");
            assert!(
                rest.to_ascii_lowercase().contains("connection: close"),
                "{rest:?}"
            );
            assert!(rest.ends_with(hyper_conn::HELLO), "{rest:?}");
        } else {
            assert_eq!(rest, "");
        }
    }
}
