//! `Serve::with_lame_duck` over loopback TCP with real clients: between
//! the shutdown signal and the drain, readiness fails and the server keeps
//! serving new connections, while HTTP/1.1 responses say `connection:
//! close` and HTTP/2 connections get GOAWAY after their next request; the
//! drain's bound then holds. Real time (a 2 s lame duck, room for the
//! checks on a loaded machine): tokio's paused clock would jump past the
//! lame duck before a loopback write reaches the server. Every wait is
//! bounded.

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::pairs;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use graceful_tls::server::Readiness;
use graceful_tls::{CancellationToken, Config};
use http_body_util::{BodyExt, Empty};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LAME_DUCK: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_secs(2);
const FLUSH: Duration = Duration::from_millis(500);
const BOUND: Duration = Duration::from_secs(10);

async fn get(tls: &mut Tls<TcpStream>, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("send");
    tls.flush().await.expect("flush");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(BOUND, tls.read(&mut buf))
            .await
            .expect("response bounded")
            .expect("read");
        assert!(n > 0, "ended mid-response: {text:?}");
        bytes.extend_from_slice(&buf[..n]);
    }
}

/// A lame duck of 2 s: readiness fails at once; a connection made during
/// it is served (200, `connection: close`), `/ready` answers 503; a
/// keep-alive HTTP/1.1 connection from before gets `connection: close` on
/// its next response; an HTTP/2 connection gets GOAWAY after its next
/// request (hyper's client then stops sending on it); after the lame duck
/// the listener is closed, and the report comes within `lame_duck +
/// drain_timeout + flush_timeout` of the signal.
/// A TLS client that offers no ALPN: the server tells HTTP/2 from its
/// preface.
async fn connect_without_alpn(addr: std::net::SocketAddr) -> Tls<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls =
        tokio_rustls::TlsConnector::from(pairs::client_config(Version::Tls13)).connect(name, tcp);
    Tls::from(
        tokio::time::timeout(BOUND, tls)
            .await
            .expect("handshake bounded")
            .expect("handshake"),
    )
}

#[tokio::test]
async fn a_lame_duck_keeps_serving_and_sends_clients_away() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (shutdown, readiness) = (CancellationToken::new(), Readiness::new());
    let serve = graceful_tls::server::serve(listener, pairs::server_config(Version::Tls13), {
        let readiness = readiness.clone();
        axum_app::app(move || readiness.is_draining())
    })
    .with_lame_duck(LAME_DUCK)
    .with_drain_timeout(DRAIN)
    .with_close_config(Config::default().with_flush_timeout(FLUSH))
    .with_readiness(&readiness)
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(serve.into_future());

    // Before the signal: a keep-alive HTTP/1.1 client and an HTTP/2 one.
    let mut h1 = pairs::connect_alpn(addr, b"http/1.1").await;
    assert!(get(&mut h1, "/ready").await.starts_with("HTTP/1.1 200"));
    let (mut h2, h2_conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(pairs::connect_alpn(addr, b"h2").await),
    )
    .await
    .expect("h2 handshake");
    let h2_conn = tokio::spawn(h2_conn);
    let h2_get = |sender: &mut hyper::client::conn::http2::SendRequest<Empty<bytes::Bytes>>| {
        sender.send_request(
            hyper::Request::get("https://localhost/")
                .body(Empty::new())
                .expect("request"),
        )
    };
    let response = h2_get(&mut h2).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    // HTTP/2 without ALPN (prior knowledge over TLS): the same.
    let (mut detected, detected_conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(connect_without_alpn(addr).await),
    )
    .await
    .expect("h2 handshake without ALPN");
    let detected_conn = tokio::spawn(detected_conn);
    let response = tokio::time::timeout(BOUND, h2_get(&mut detected))
        .await
        .expect("response bounded")
        .expect("h2 response");
    assert_eq!(response.status(), 200);

    let signalled = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(BOUND, async {
        while !readiness.is_draining() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("readiness fails at once");

    // During the lame duck: a new connection is served, told to close,
    // and sees readiness failing.
    let mut fresh = pairs::connect_alpn(addr, b"http/1.1").await;
    let ready = get(&mut fresh, "/ready").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(ready.contains("connection: close"), "{ready}");
    assert!(
        matches!(peer_read_to_end(&mut fresh).await, PeerSaw::CloseNotify(rest) if rest.is_empty())
    );
    // The keep-alive connection from before: served, told to close.
    let answer = get(&mut h1, "/").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    // HTTP/2: its next request is answered, then GOAWAY ends the
    // connection for new streams.
    let response = h2_get(&mut h2).await.expect("h2 response in the lame duck");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(&body.to_bytes()[..], b"hello");
    tokio::time::timeout(BOUND, h2_conn)
        .await
        .expect("GOAWAY ends the HTTP/2 connection")
        .expect("h2 task")
        .expect("h2 connection ends cleanly");
    let response = tokio::time::timeout(BOUND, h2_get(&mut detected))
        .await
        .expect("response bounded")
        .expect("h2 response without ALPN in the lame duck");
    assert_eq!(response.status(), 200);
    tokio::time::timeout(BOUND, detected_conn)
        .await
        .expect("GOAWAY ends the HTTP/2 connection without ALPN")
        .expect("h2 task")
        .expect("h2 connection ends cleanly");
    assert!(
        signalled.elapsed() < LAME_DUCK,
        "the checks ran after the lame duck"
    );

    let report = tokio::time::timeout(BOUND, server)
        .await
        .expect("serve bounded")
        .expect("serve task");
    let took = signalled.elapsed();
    assert!(
        took >= LAME_DUCK,
        "the drain began before the lame duck ended: {took:?}"
    );
    assert!(
        took < LAME_DUCK + DRAIN + FLUSH + Duration::from_millis(500),
        "{took:?}"
    );
    assert_eq!(report.forced(), 0, "{report}");
    // After it: nobody accepts.
    let after = TcpStream::connect(addr).await;
    assert!(after.is_err(), "still accepting after the drain");
}
