//! `graceful_tls::server::serve` against real clients over loopback TCP:
//! raw rustls HTTP/1.1 clients (to answer close_notify and see exactly what
//! arrives), hyper's HTTP/2 client, curl over HTTP/1.1 and HTTP/2, and
//! `axum::serve` over `GracefulListener`. Real time (real sockets), so every
//! time bound is generous; the verdicts come from the clients' own reads
//! and from the `DrainReport`.

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::apps::grpc as grpc_greeter;
use graceful_tls_testkit::{bounded, pairs, WAIT};

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use graceful_tls::server::{GracefulListener, Readiness};
use graceful_tls::{CancellationToken, CloseOutcome, Config, DrainReport, Ended};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const FLUSH: Duration = Duration::from_secs(1);

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    readiness: Readiness,
    report: JoinHandle<DrainReport>,
}

async fn start(drain_timeout: Duration, handshake_timeout: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (shutdown, readiness) = (CancellationToken::new(), Readiness::new());
    let serve = graceful_tls::server::serve(listener, pairs::server_config(Version::Tls13), {
        let readiness = readiness.clone();
        axum_app::app(move || readiness.is_draining())
    })
    .with_drain_timeout(drain_timeout)
    .with_handshake_timeout(handshake_timeout)
    .with_close_config(Config::default().with_flush_timeout(FLUSH))
    .with_readiness(&readiness)
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    Server {
        addr,
        shutdown,
        readiness,
        report: tokio::spawn(serve.into_future()),
    }
}

impl Server {
    /// Triggers the drain and returns the report and how long it took.
    async fn drain(self) -> (DrainReport, Duration) {
        let began = Instant::now();
        self.shutdown.cancel();
        let report = bounded("the server's report", WAIT, self.report)
            .await
            .expect("serve task");
        (report, began.elapsed())
    }
}

async fn send(tls: &mut Tls<TcpStream>, request: &str) {
    tls.write_all(request.as_bytes()).await.expect("send");
    tls.flush().await.expect("flush");
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n")
}

/// Reads one `content-length` response.
async fn read_response(tls: &mut Tls<TcpStream>) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end].lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|n| n.trim().parse::<usize>().expect("length"))
            });
            if let Some(length) = length {
                if bytes.len() >= end + 4 + length {
                    return text;
                }
            }
        }
        let n = bounded("a response", WAIT, tls.read(&mut buf))
            .await
            .expect("read response");
        assert!(n > 0, "connection ended mid-response: {text:?}");
        bytes.extend_from_slice(&buf[..n]);
    }
}

fn outcomes(report: &DrainReport) -> Vec<&'static str> {
    let mut names: Vec<_> = report
        .connections
        .iter()
        .map(|c| c.ended.as_str())
        .collect();
    names.sort();
    names
}

/// HTTP/1.1 keep-alive: a request in flight completes with its full body
/// and `connection: close`; an idle connection gets close_notify at once
/// (before the slow response is done); both clients answer with their
/// close_notify, and the report says `peer-confirmed` for both (hyper's
/// close no longer ends as `not-awaited`). Readiness flips to draining.
#[tokio::test]
async fn http1_in_flight_completes_idle_closes_at_once_peer_confirmed() {
    let server = start(Duration::from_secs(10), Duration::from_secs(10)).await;
    let mut busy = pairs::connect_alpn(server.addr, b"http/1.1").await;
    let mut idle = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut idle, &get("/")).await;
    assert!(read_response(&mut idle).await.ends_with("hello"));
    send(&mut busy, &get("/slow?ms=700")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let readiness = server.readiness.clone();
    assert!(!readiness.is_draining());
    let drain = tokio::spawn(server.drain());

    let idle_saw = bounded(
        "the idle client's close_notify",
        WAIT,
        peer_read_to_end(&mut idle),
    )
    .await;
    let idle_closed_at = Instant::now();
    assert!(
        matches!(&idle_saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{idle_saw:?}"
    );
    idle.shutdown().await.expect("idle answers close_notify");
    assert!(readiness.is_draining());

    let busy_saw = bounded(
        "the busy client's response",
        WAIT,
        peer_read_to_end(&mut busy),
    )
    .await;
    let busy_closed_at = Instant::now();
    let PeerSaw::CloseNotify(rest) = busy_saw else {
        panic!("no close_notify after the slow response: {busy_saw:?}");
    };
    let rest = String::from_utf8(rest).expect("utf-8");
    assert!(rest.starts_with("HTTP/1.1 200 OK"), "{rest:?}");
    assert!(rest.contains("connection: close"), "{rest:?}");
    assert!(rest.ends_with("done"), "{rest:?}");
    assert!(
        idle_closed_at < busy_closed_at,
        "the idle connection waited for the busy one"
    );
    busy.shutdown().await.expect("busy answers close_notify");

    let (report, _) = bounded("the drain", WAIT, drain).await.expect("drain");
    assert_eq!(
        outcomes(&report),
        ["peer-confirmed", "peer-confirmed"],
        "{report}"
    );
    assert_eq!(report.forced(), 0);
}

/// HTTP/2 with hyper's client: three requests in flight on one connection
/// when the drain begins (GOAWAY) all complete with their full bodies; the
/// connection then closes with close_notify, unforced.
#[tokio::test]
async fn http2_hyper_client_in_flight_streams_complete() {
    use http_body_util::{BodyExt, Empty};
    let server = start(Duration::from_secs(10), Duration::from_secs(10)).await;
    let tls = pairs::connect_alpn(server.addr, b"h2").await;
    let (sender, conn) = bounded(
        "the HTTP/2 handshake",
        WAIT,
        hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tls),
        ),
    )
    .await
    .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let mut requests = Vec::new();
    for _ in 0..3 {
        let mut sender = sender.clone();
        requests.push(tokio::spawn(async move {
            let request = hyper::Request::get("https://localhost/slow?ms=600")
                .body(Empty::<bytes::Bytes>::new())
                .expect("request");
            let response = sender.send_request(request).await.expect("response");
            assert_eq!(response.status(), 200);
            response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let drain = tokio::spawn(server.drain());
    for request in requests {
        let body = bounded("an HTTP/2 response", WAIT, request).await;
        assert_eq!(&body.expect("request task")[..], b"done");
    }
    drop(sender);
    let _ = bounded("the HTTP/2 connection's end", WAIT, conn).await;
    let (report, _) = bounded("the drain", WAIT, drain).await.expect("drain");
    assert_eq!(report.connections.len(), 1, "{report}");
    assert_eq!(report.forced(), 0, "{report}");
    let outcome = report.connections[0].ended.close_outcome();
    assert!(
        matches!(outcome, Some(o) if o.close_notify_flushed()),
        "{report}"
    );
}

/// `/stream` (HTTP/1.1 and HTTP/2) and an open WebSocket never finish: the
/// deadline cuts them, each with close_notify (the client reads a clean
/// TLS end, not a reset or a truncation), and the server returns within
/// `drain_timeout + flush_timeout`.
#[tokio::test]
async fn stream_and_websocket_cut_at_deadline_with_close_notify() {
    let drain_timeout = Duration::from_millis(500);
    let server = start(drain_timeout, Duration::from_secs(10)).await;
    let mut clients = Vec::new();
    for (alpn, request) in [
        (&b"http/1.1"[..], get("/stream")),
        (&b"http/1.1"[..], "GET /ws HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_owned()),
    ] {
        let mut tls = pairs::connect_alpn(server.addr, alpn).await;
        send(&mut tls, &request).await;
        let mut head = [0u8; 512];
        let n = bounded("a response head", WAIT, tls.read(&mut head))
            .await
            .expect("response head");
        let head = String::from_utf8_lossy(&head[..n]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.1 101"), "{head:?}");
        clients.push(tokio::spawn(async move { peer_read_to_end(&mut tls).await }));
    }
    // And /stream over HTTP/2, by curl below.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (report, took) = server.drain().await;
    for client in clients {
        let saw = bounded("a client's read to its end", WAIT, client)
            .await
            .expect("client");
        let PeerSaw::CloseNotify(rest) = &saw else {
            panic!("cut without close_notify: {saw:?}");
        };
        assert!(!rest.is_empty(), "ticks kept coming during the drain");
    }
    assert_eq!(report.connections.len(), 2, "{report}");
    assert_eq!(report.forced(), 2, "{report}");
    for conn in &report.connections {
        assert!(
            matches!(conn.ended.close_outcome(), Some(o) if o.close_notify_flushed()),
            "{report}"
        );
    }
    assert!(took >= drain_timeout, "cut before the deadline: {took:?}");
    assert!(took < drain_timeout + FLUSH, "took {took:?}");
}

/// Requests still half sent when the drain begins (a request head cut
/// mid-line, an upload that stops after 3 of its 100 bytes) hold nothing:
/// the deadline cuts them with close_notify, each gets a typed end in the
/// report (forced), and the drain keeps its bound.
#[tokio::test]
async fn half_sent_requests_are_cut_at_the_deadline_with_close_notify() {
    let drain_timeout = Duration::from_millis(500);
    let server = start(drain_timeout, Duration::from_secs(10)).await;
    let mut clients = Vec::new();
    for request in [
        "GET /slow?ms=1 HTTP/1.1\r\nhost: loc",
        "POST /upload HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\nabc",
    ] {
        let mut tls = pairs::connect_alpn(server.addr, b"http/1.1").await;
        send(&mut tls, request).await;
        clients.push(tokio::spawn(async move {
            let saw = peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            saw
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (report, took) = server.drain().await;
    for client in clients {
        let saw = bounded("a client's read to its end", WAIT, client)
            .await
            .expect("client");
        assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    }
    assert_eq!(report.connections.len(), 2, "{report}");
    assert_eq!(report.forced(), 2, "{report}");
    for conn in &report.connections {
        assert!(
            matches!(conn.ended.close_outcome(), Some(o) if o.close_notify_flushed()),
            "{report}"
        );
    }
    assert!(took >= drain_timeout, "cut before the deadline: {took:?}");
    assert!(took < drain_timeout + FLUSH, "took {took:?}");
}

/// A client that stalls mid-handshake blocks neither accepting (another
/// client is served meanwhile) nor the drain (it ends at the handshake
/// timeout, long before the drain timeout), and is reported
/// `handshake-timeout`; a plaintext HTTP request on the TLS port is
/// reported `handshake-failed`.
#[tokio::test]
async fn stalled_handshake_dropped_at_handshake_timeout_and_reported() {
    let handshake_timeout = Duration::from_millis(800);
    let server = start(Duration::from_secs(30), handshake_timeout).await;
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    // Half a ClientHello record header: the handshake cannot progress.
    stalled
        .write_all(&[0x16, 0x03, 0x01])
        .await
        .expect("partial hello");
    let mut plaintext = TcpStream::connect(server.addr).await.expect("connect");

    let mut other = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut other, &get("/")).await;
    assert!(read_response(&mut other).await.ends_with("hello"));
    other.shutdown().await.expect("close");
    drop(other);

    let (report, took) = tokio::join!(server.drain(), async {
        // After the drain began: the report lists connections that end
        // during the drain.
        tokio::time::sleep(Duration::from_millis(100)).await;
        plaintext
            .write_all(get("/").as_bytes())
            .await
            .expect("plaintext");
        let mut buf = [0u8; 64];
        let _ = bounded("the plaintext client's end", WAIT, plaintext.read(&mut buf)).await;
    })
    .0;
    // `other` may still be closing when the drain begins (peer-confirmed).
    let handshakes: Vec<_> = outcomes(&report)
        .into_iter()
        .filter(|name| name.starts_with("handshake"))
        .collect();
    assert_eq!(
        handshakes,
        ["handshake-failed", "handshake-timeout"],
        "{report}"
    );
    assert!(
        took < Duration::from_secs(10),
        "the stalled handshake held the drain: {took:?}"
    );
    let mut buf = [0u8; 16];
    assert!(
        matches!(
            bounded("the stalled client's end", WAIT, stalled.read(&mut buf)).await,
            Ok(0) | Err(_)
        ),
        "stalled client not dropped"
    );
}

/// curl over HTTP/1.1 and HTTP/2: the `/slow` response in flight completes,
/// and `/stream` is cut at the deadline with a close_notify that curl
/// reports reading (`TLS alert, close notify`).
#[tokio::test]
async fn curl_http1_and_http2_complete_or_see_close_notify() {
    // Generous for a loaded machine: curl starts and connects within the
    // first 750 ms, its /slow requests are still in flight when the drain
    // begins, and the drain deadline cuts only the streams.
    let server = start(Duration::from_millis(2500), Duration::from_secs(10)).await;
    let port = server.addr.port();
    let curl = move |protocol: &'static str, path: &'static str| {
        let mut command = tokio::process::Command::new("curl");
        command
            .args(["-sS", "-v", "-N", protocol, "--cacert"])
            .arg(graceful_tls_testkit::certs::dir().join("ca.pem"))
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .arg(format!("https://localhost:{port}{path}"));
        command.output()
    };
    let runs = tokio::spawn(async move {
        tokio::join!(
            curl("--http1.1", "/slow?ms=1500"),
            curl("--http2", "/slow?ms=1500"),
            curl("--http1.1", "/stream"),
            curl("--http2", "/stream"),
        )
    });
    tokio::time::sleep(Duration::from_millis(750)).await;
    let (report, _) = server.drain().await;
    let (slow1, slow2, stream1, stream2) = bounded("the curl runs", WAIT, runs)
        .await
        .expect("curl runs");
    for (name, run) in [("h1 slow", slow1), ("h2 slow", slow2)] {
        let run = run.expect("curl installed");
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "done",
            "{name}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    for (name, run) in [("h1 stream", stream1), ("h2 stream", stream2)] {
        let run = run.expect("curl installed");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            String::from_utf8_lossy(&run.stdout).contains("tick\n"),
            "{name}"
        );
        assert!(
            stderr.contains("TLS alert, close notify"),
            "{name}: {stderr}"
        );
    }
    assert_eq!(report.connections.len(), 4, "{report}");
    assert_eq!(report.forced(), 2, "{report}");
    assert_eq!(
        report.closed_with(CloseOutcome::FlushTimeout),
        0,
        "{report}"
    );
    // The cut ones were closed by us, with close_notify; the others end as
    // curl leaves (after an HTTP/2 GOAWAY curl may reset the socket first).
    for conn in report.connections.iter().filter(|c| c.forced) {
        assert!(matches!(conn.ended, Ended::Closed(_)), "{report}");
    }
}

/// axum as-is: `axum::serve` over `GracefulListener`. A keep-alive
/// connection that axum's graceful shutdown closes still ends with
/// close_notify.
#[tokio::test]
async fn axum_serve_over_graceful_listener_sends_close_notify() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let listener = GracefulListener::new(tcp, pairs::server_config(Version::Tls13))
        .with_handshake_timeout(Duration::from_secs(5));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(
        axum::serve(listener, axum_app::app(|| false))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .into_future(),
    );
    // A stalled handshake does not block the accept loop.
    let _stalled = TcpStream::connect(addr).await.expect("connect");
    let mut tls = pairs::connect_alpn(addr, b"http/1.1").await;
    send(&mut tls, &get("/")).await;
    assert!(read_response(&mut tls).await.ends_with("hello"));
    shutdown.cancel();
    let saw = bounded(
        "the client's close_notify",
        WAIT,
        peer_read_to_end(&mut tls),
    )
    .await;
    assert!(
        matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{saw:?}"
    );
    bounded("axum::serve's end", WAIT, server)
        .await
        .expect("server task")
        .expect("axum::serve");
}

/// gRPC with tonic's client: a call in flight when the drain begins
/// completes (HTTP/2 GOAWAY lets the stream finish); the connection then
/// closes with close_notify, unforced.
#[tokio::test]
async fn tonic_call_in_flight_completes() {
    use grpc_greeter::{Greeter, TextCodec, HELLO};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let serve = graceful_tls::server::serve(
        listener,
        pairs::server_config(Version::Tls13),
        tonic::service::Routes::new(Greeter),
    )
    .with_drain_timeout(Duration::from_secs(10))
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(serve.into_future());

    let connector = tower::service_fn(move |_uri: tonic::codegen::http::Uri| async move {
        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
            pairs::connect_alpn(addr, b"h2").await,
        ))
    });
    let channel = bounded(
        "the gRPC channel",
        WAIT,
        tonic::transport::Endpoint::from_static("https://localhost")
            .connect_with_connector(connector),
    )
    .await
    .expect("channel");
    let mut grpc = tonic::client::Grpc::new(channel);
    bounded("the gRPC client", WAIT, grpc.ready())
        .await
        .expect("ready");
    let call = tokio::spawn(async move {
        grpc.unary(
            tonic::Request::new("600".to_owned()),
            tonic::codegen::http::uri::PathAndQuery::from_static(HELLO),
            TextCodec,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    let answer = bounded("the gRPC call", WAIT, call)
        .await
        .expect("call task")
        .expect("call completes");
    assert_eq!(answer.into_inner(), "hello after 600 ms");
    let report = bounded("the server's report", WAIT, server)
        .await
        .expect("server");
    assert_eq!(report.connections.len(), 1, "{report}");
    assert_eq!(report.forced(), 0, "{report}");
}

/// Writes `request` into the socket within this one poll: the bytes are in
/// the server's receive queue (loopback) before the caller's next step.
fn send_now(tls: &mut Tls<TcpStream>, request: &str) {
    let mut send = std::pin::pin!(send(tls, request));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        std::future::Future::poll(send.as_mut(), &mut cx).is_ready(),
        "the request did not reach the socket in one step"
    );
}

/// The keep-alive race (hyper #3792, HAProxy #3472), made deterministic on
/// this current-thread runtime: a client's next request on an idle
/// keep-alive connection is in the server's socket, and in the same step
/// (no await between) the drain begins. The drain's wake-up reaches the
/// connection's task before tokio's I/O driver reports the socket readable
/// (the driver runs when no task is ready, or every 61 ticks), so hyper
/// has not read the request when the drain begins. It is answered, with
/// `connection: close`, then close_notify; an idle connection that sent
/// nothing still gets close_notify at once, with no byte before it.
/// Repeated: without the peek before hyper's graceful shutdown, the racing
/// request saw close_notify with no response in (nearly) every round.
#[tokio::test]
async fn http1_request_already_in_the_socket_when_the_drain_begins_is_answered() {
    const ROUNDS: usize = 20;
    let bound = Duration::from_secs(20);
    for round in 0..ROUNDS {
        let server = start(Duration::from_secs(10), Duration::from_secs(10)).await;
        let mut racing = pairs::connect_alpn(server.addr, b"http/1.1").await;
        let mut idle = pairs::connect_alpn(server.addr, b"http/1.1").await;
        for tls in [&mut racing, &mut idle] {
            send(tls, &get("/")).await;
            assert!(read_response(tls).await.ends_with("hello"));
        }
        // Both connections are idle: hyper wrote its response, then found
        // nothing to read.
        send_now(&mut racing, &get("/"));
        server.shutdown.cancel();

        let saw = tokio::time::timeout(bound, peer_read_to_end(&mut racing))
            .await
            .expect("the racing client's read is bounded by the drain");
        let PeerSaw::CloseNotify(rest) = saw else {
            panic!("round {round}: no close_notify: {saw:?}");
        };
        let rest = String::from_utf8(rest).expect("utf-8");
        assert!(
            rest.starts_with("HTTP/1.1 200 OK"),
            "round {round}: the request in the socket was not answered: {rest:?}"
        );
        assert!(
            rest.contains("connection: close"),
            "round {round}: {rest:?}"
        );
        assert!(rest.ends_with("hello"), "round {round}: {rest:?}");

        let saw = tokio::time::timeout(bound, peer_read_to_end(&mut idle))
            .await
            .expect("the idle client's read is bounded by the drain");
        assert!(
            matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
            "round {round}: {saw:?}"
        );
        racing
            .shutdown()
            .await
            .expect("racing answers close_notify");
        idle.shutdown().await.expect("idle answers close_notify");
        let report = tokio::time::timeout(bound, server.report)
            .await
            .expect("drain bounded")
            .expect("serve task");
        assert_eq!(report.forced(), 0, "round {round}: {report}");
        assert_eq!(report.connections.len(), 2, "round {round}: {report}");
    }
}

/// A plain hyper service's body of known size goes out with its length
/// (`content-length`, as hyper frames it), through the server's wrapper of
/// the body.
#[tokio::test]
async fn a_body_of_known_size_is_sent_with_its_length() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let service = hyper::service::service_fn(|_request| async {
        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"hello"),
        )))
    });
    let serve =
        graceful_tls::server::serve_hyper(listener, pairs::server_config(Version::Tls13), service)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(serve.into_future());
    let mut tls = pairs::connect_alpn(addr, b"http/1.1").await;
    send(&mut tls, &get("/")).await;
    let response = read_response(&mut tls).await;
    assert!(
        response.to_ascii_lowercase().contains("content-length: 5"),
        "{response:?}"
    );
    assert!(response.ends_with("hello"), "{response:?}");
    shutdown.cancel();
    let saw = bounded(
        "the client's close_notify",
        WAIT,
        peer_read_to_end(&mut tls),
    )
    .await;
    assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    let report = bounded("the server's report", WAIT, server)
        .await
        .expect("server");
    assert_eq!(report.connections.len(), 1, "{report}");
}
