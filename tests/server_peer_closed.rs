//! `serve`'s report for clients that leave. One that closes first and
//! leaves: hyper's
//! HTTP/2 client closes its connection as soon as the drain's GOAWAY leaves
//! it idle, sending its close_notify and closing its socket without waiting
//! for ours. The server's close_notify then meets a reset. The report says
//! `peer-closed-and-left` (the client's clean end), not `transport-error`.
//! One that leaves without close_notify after every exchange completed
//! (curl after its last HTTP/2 stream): `client-left-complete`. One that
//! leaves mid-exchange: still `transport-error`.
//! Real loopback TCP and real time; every wait is bounded.

use std::future::IntoFuture;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use graceful_tls::{CancellationToken, CloseOutcome, Config, Ended};
use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::pairs::{self, Version};
use http_body_util::{BodyExt, Empty};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Every wait of the test is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

/// The client's TLS stream, whose socket closes with an RST when hyper
/// drops it, after its close_notify and FIN: a client that leaves at once.
/// Without it the RST comes only when the server's bytes reach a socket
/// the client already closed with some of them unread, which is timing.
struct LeavesWithReset(tokio_rustls::client::TlsStream<TcpStream>);

impl Drop for LeavesWithReset {
    fn drop(&mut self) {
        // SO_LINGER 0: close() sends RST at once (and never blocks).
        let _ = self.0.get_ref().0.set_zero_linger();
    }
}

impl AsyncRead for LeavesWithReset {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for LeavesWithReset {
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

/// One HTTP/2 request, then the drain: hyper's client sends close_notify
/// and leaves as soon as GOAWAY leaves it idle. The server read the
/// client's close_notify before its own met the reset, so the connection is
/// reported `peer-closed-and-left`, unforced; before, it was
/// `transport-error`.
#[tokio::test]
async fn http2_client_that_leaves_after_goaway_is_peer_closed_and_left() {
    for round in 0..3 {
        let (addr, shutdown, server) = serving().await;
        let tls = pairs::connect_alpn(addr, b"h2").await;
        let tls = match tls {
            tokio_rustls::TlsStream::Client(tls) => tls,
            tokio_rustls::TlsStream::Server(_) => unreachable!("connect_alpn is a client"),
        };
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(LeavesWithReset(tls)),
        )
        .await
        .expect("h2 handshake");
        let conn = tokio::spawn(conn);
        let request = hyper::Request::get("https://localhost/")
            .body(Empty::<bytes::Bytes>::new())
            .expect("request");
        let response = tokio::time::timeout(BOUND, sender.send_request(request))
            .await
            .expect("response within the bound")
            .expect("response");
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.expect("body");
        assert_eq!(&body.to_bytes()[..], b"hello");
        drop(sender);

        shutdown.cancel();
        let _ = tokio::time::timeout(BOUND, conn)
            .await
            .expect("the client leaves after GOAWAY");
        let report = tokio::time::timeout(BOUND, server)
            .await
            .expect("the drain ends within the bound")
            .expect("serve task");
        assert_eq!(report.connections.len(), 1, "round {round}: {report}");
        assert_eq!(report.forced(), 0, "round {round}: {report}");
        let ended = &report.connections[0].ended;
        assert!(
            matches!(ended, Ended::Closed(CloseOutcome::PeerClosedAndLeft)),
            "round {round}: {ended} ({report})"
        );
        assert_eq!(ended.as_str(), "peer-closed-and-left");
        assert!(
            report.to_string().contains("peer-closed-and-left=1"),
            "round {round}: {report}"
        );
    }
}

/// A server on loopback draining at `shutdown`; its report when awaited.
async fn serving() -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<graceful_tls::DrainReport>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let serve = graceful_tls::server::serve(
        listener,
        pairs::server_config(Version::Tls13),
        axum_app::app(|| false),
    )
    .with_drain_timeout(BOUND)
    .with_close_config(Config::default().with_flush_timeout(Duration::from_secs(1)))
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    (addr, shutdown, tokio::spawn(serve.into_future()))
}

/// Issue 27: curl (HTTP/2 and HTTP/1.1) with a request in flight when the
/// drain begins gets its whole response, then exits without a
/// close_notify; its kernel sends a FIN, or a reset when our close_notify
/// reaches the closed socket. Every exchange was complete, so the summary
/// says `client-left-complete`: no `transport-error`, no `peer-eof`.
#[tokio::test]
async fn curl_leaving_after_a_complete_drain_is_client_left_complete() {
    for round in 0..3 {
        let (addr, shutdown, server) = serving().await;
        let curl = move |protocol: &'static str| {
            tokio::process::Command::new("curl")
                .args(["-sS", protocol, "--cacert"])
                .arg(graceful_tls_testkit::certs::dir().join("ca.pem"))
                .arg("--resolve")
                .arg(format!("localhost:{}:127.0.0.1", addr.port()))
                .arg(format!("https://localhost:{}/slow?ms=1500", addr.port()))
                .output()
        };
        let runs = tokio::spawn(async move { tokio::join!(curl("--http2"), curl("--http1.1")) });
        // curl connects within 750 ms even on a loaded machine; its
        // request is still in flight when the drain begins.
        tokio::time::sleep(Duration::from_millis(750)).await;
        shutdown.cancel();
        let (h2, h1) = tokio::time::timeout(BOUND, runs)
            .await
            .expect("curl bounded")
            .expect("curl task");
        for run in [h2, h1] {
            let run = run.expect("curl installed");
            assert_eq!(
                String::from_utf8_lossy(&run.stdout),
                "done",
                "round {round}"
            );
        }
        let report = tokio::time::timeout(BOUND, server)
            .await
            .expect("drain bounded")
            .expect("serve task");
        assert_eq!(report.connections.len(), 2, "round {round}: {report}");
        assert_eq!(report.forced(), 0, "round {round}: {report}");
        assert_eq!(report.failed(), 0, "round {round}: {report}");
        for connection in &report.connections {
            assert!(connection.exchange_complete, "{connection}");
            assert!(
                matches!(
                    connection.outcome(),
                    "client-left-complete" | "peer-confirmed" | "peer-closed-and-left"
                ),
                "round {round}: {connection}"
            );
        }
        let summary = report.to_string();
        assert!(
            !summary.contains("transport-error") && !summary.contains("peer-eof"),
            "round {round}: {summary}"
        );
    }
}

/// A client that leaves mid-exchange (a reset while its request is in the
/// application's hands) is still a failure, `transport-error`, and so is
/// one that leaves before any request (or `peer-eof` on a FIN): only
/// complete exchanges make `client-left-complete`.
#[tokio::test]
async fn a_client_that_leaves_mid_exchange_is_still_a_failure() {
    use tokio::io::AsyncWriteExt;
    let (addr, shutdown, server) = serving().await;
    // Mid-exchange: a request the application answers in 1.5 s, and a
    // reset once the drain has begun.
    let mut busy = pairs::connect_alpn(addr, b"http/1.1").await;
    busy.write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("send");
    busy.flush().await.expect("flush");
    // No request: connects, then leaves with a bare FIN during the drain.
    let silent = pairs::connect_alpn(addr, b"http/1.1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    busy.get_ref().0.set_zero_linger().expect("linger");
    drop(busy);
    drop(silent);
    let report = tokio::time::timeout(BOUND, server)
        .await
        .expect("drain bounded")
        .expect("serve task");
    assert_eq!(report.connections.len(), 2, "{report}");
    // The silent client's socket holds unread session tickets, so its
    // close is a reset too (a FIN otherwise: `peer-eof`).
    for connection in &report.connections {
        assert!(!connection.exchange_complete, "{connection}");
        assert!(
            matches!(connection.outcome(), "transport-error" | "peer-eof"),
            "{connection}"
        );
    }
    assert_eq!(
        report.failed() + report.closed_with(CloseOutcome::PeerEof),
        2,
        "{report}"
    );
}

/// A client that leaves cleanly (close_notify) before sending any request
/// (here during the drain) made no exchange: hyper's connection ends without an error, and the
/// connection is still not `exchange_complete`.
#[tokio::test]
async fn a_client_that_leaves_before_any_request_completed_no_exchange() {
    use tokio::io::AsyncWriteExt;
    let (addr, shutdown, server) = serving().await;
    let mut silent = pairs::connect_alpn(addr, b"http/1.1").await;
    // It leaves during the drain (the report lists the connections that
    // end during it), within its first-request grace.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    tokio::time::timeout(BOUND, silent.shutdown())
        .await
        .expect("close_notify bounded")
        .expect("close_notify");
    let saw = tokio::time::timeout(BOUND, pairs::peer_read_to_end(&mut silent))
        .await
        .expect("the server's close_notify bounded");
    assert!(matches!(saw, pairs::PeerSaw::CloseNotify(_)), "{saw:?}");
    let report = tokio::time::timeout(BOUND, server)
        .await
        .expect("drain bounded")
        .expect("serve task");
    assert_eq!(report.connections.len(), 1, "{report}");
    let connection = &report.connections[0];
    assert!(!connection.exchange_complete, "{connection}");
    assert_eq!(connection.outcome(), "peer-closed-first", "{connection}");
}
