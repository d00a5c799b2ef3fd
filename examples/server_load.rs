//! Figures for `graceful_tls::server`: N keep-alive clients (half HTTP/1.1,
//! half HTTP/2 with hyper's client) each with a request in flight
//! (`/slow?ms=3000`, sent right after each handshake) when the drain begins. Prints the drain time, every
//! connection's verdict, and how many requests were lost (the aim is 0).
//!
//! ```text
//! cargo run --release --features axum --example server_load -- 1000
//! ```

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, Config};
use graceful_tls_testkit::apps;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

/// Long enough that every request is still in flight when the drain
/// begins, after all clients connected.
const SLOW: &str = "/slow?ms=3000";

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let options = common::TlsOptions::default();
    let server_tls = common::server_tls(
        &common::test_cert("server.pem"),
        &common::test_cert("server.key"),
        &options,
    )
    .expect("server tls");
    let client_tls =
        common::client_tls(&common::test_cert("ca.pem"), &options).expect("client tls");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(
        graceful_tls::server::serve(listener, server_tls, apps::axum::app(|| false))
            .with_drain_timeout(Duration::from_secs(10))
            .with_close_config(Config::default())
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    let mut clients = Vec::new();
    for i in 0..n {
        let mut config = (*client_tls).clone();
        let h2 = i % 2 == 1;
        config.alpn_protocols = vec![if h2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("handshake");
        clients.push(tokio::spawn(async move {
            if h2 {
                h2_client(tls).await
            } else {
                h1_client(tls).await
            }
        }));
    }
    // Let every request reach the server, then drain.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    shutdown.cancel();
    let report = server.await.expect("server");
    let drained = began.elapsed();
    let mut completed = 0;
    for client in clients {
        if client.await.unwrap_or(false) {
            completed += 1;
        }
    }
    println!(
        "clients={n} (http/1.1={}, h2={}) requests in flight={n} completed={completed} lost={}",
        n - n / 2,
        n / 2,
        n - completed
    );
    println!(
        "drain: {} ms from the signal (the last request sent had 2800 ms left)",
        drained.as_millis()
    );
    println!("summary: {report}");
}

use std::future::IntoFuture;

/// HTTP/1.1 keep-alive: one request, read to the close_notify, answer it.
async fn h1_client(mut tls: tokio_rustls::client::TlsStream<TcpStream>) -> bool {
    let request = format!("GET {SLOW} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    if tls.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut response = Vec::new();
    let complete = tls.read_to_end(&mut response).await.is_ok();
    let _ = tls.shutdown().await;
    complete && response.ends_with(b"done")
}

/// HTTP/2 with hyper's client: one request, its full body.
async fn h2_client(tls: tokio_rustls::client::TlsStream<TcpStream>) -> bool {
    let io = hyper_util::rt::TokioIo::new(tls);
    let Ok((mut sender, conn)) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await
    else {
        return false;
    };
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get(format!("https://localhost{SLOW}"))
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let ok = match sender.send_request(request).await {
        Ok(response) => response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .is_ok_and(|b| b == "done"),
        Err(_) => false,
    };
    drop(sender);
    let _ = conn.await;
    ok
}
