//! `serve`'s report for a client that closes first and leaves: hyper's
//! HTTP/2 client closes its connection as soon as the drain's GOAWAY leaves
//! it idle, sending its close_notify and closing its socket without waiting
//! for ours. The server's close_notify then meets a reset. The report says
//! `peer-closed-and-left` (the client's clean end), not `transport-error`.
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
        let server = tokio::spawn(serve.into_future());

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
