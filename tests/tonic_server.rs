//! `graceful_tls::server::{GracefulIncoming, IncomingDrain}` under tonic's
//! own `Server` (with a tower layer, as users build it), against tonic's
//! client over loopback TCP. Each client connection is watched: whether
//! its reads ended with the server's close_notify or with a truncation,
//! decided by rustls' state, never by `Ok(0)` alone.
//!
//! Real time (real sockets), every wait bounded by a generous `timeout`.

use graceful_tls_testkit::apps::grpc::{Greeter, TextCodec, HELLO, TICKS};
use graceful_tls_testkit::pairs;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use graceful_tls::server::{GracefulIncoming, IncomingDrain};
use graceful_tls::{Config, DrainReport, TlsBackend};
use pairs::{Tls, Version};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::codegen::http::uri::PathAndQuery;

const FLUSH: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_millis(1500);
const BOUND: Duration = Duration::from_secs(10);

/// How a client connection's reads ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still open, or dropped by the client before the end.
    Open,
    /// `Ok(0)` after the server's close_notify.
    CloseNotify,
    /// EOF without close_notify, or another read error.
    Truncated,
}

/// A client TLS stream that records how its reads ended.
struct Watched {
    tls: Tls<TcpStream>,
    end: Arc<Mutex<End>>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tls).poll_read(cx, buf);
        let end = match &polled {
            Poll::Ready(Ok(())) if buf.filled().len() == before => {
                if self.tls.received_close_notify() {
                    End::CloseNotify
                } else {
                    End::Truncated
                }
            }
            Poll::Ready(Err(_)) => End::Truncated,
            _ => return polled,
        };
        let mut seen = self.end.lock().unwrap();
        if *seen == End::Open {
            *seen = end;
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

/// tonic's `Server`, with a tower timeout layer longer than any call here,
/// over a `GracefulIncoming`.
struct Server {
    addr: SocketAddr,
    drain: IncomingDrain,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = GracefulIncoming::new(listener, pairs::server_config(Version::Tls13))
        .with_handshake_timeout(Duration::from_secs(5))
        .with_close_config(Config::default().with_flush_timeout(FLUSH));
    let drain = incoming.drain_handle();
    let serve = tonic::transport::Server::builder()
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(60)))
        .add_routes(tonic::service::Routes::new(Greeter))
        .serve_with_incoming_shutdown(incoming, drain.signal());
    Server {
        addr,
        drain,
        serve: tokio::spawn(serve),
    }
}

/// A tonic client on a connection of its own; returns how its reads ended.
async fn client(
    addr: SocketAddr,
) -> (
    tonic::client::Grpc<tonic::transport::Channel>,
    Arc<Mutex<End>>,
) {
    let end = Arc::new(Mutex::new(End::Open));
    let watched = end.clone();
    let connector = tower::service_fn(move |_uri: tonic::codegen::http::Uri| {
        let end = watched.clone();
        async move {
            let tls = pairs::connect_alpn(addr, b"h2").await;
            Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(Watched { tls, end }))
        }
    });
    let endpoint = tonic::transport::Endpoint::from_static("https://localhost");
    let channel = tokio::time::timeout(BOUND, endpoint.connect_with_connector(connector))
        .await
        .expect("connected in time")
        .expect("channel");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    (grpc, end)
}

/// The case: a unary call in flight when the drain begins
/// completes (GOAWAY lets it finish); a server stream, which only a
/// deadline ends, is cut at the deadline with close_notify. The report
/// lists both, the stream forced, neither failed, within the deadline plus
/// the flush timeout; tonic's `serve` returns (it has no deadline of its
/// own: without the drain it would wait for the stream forever).
#[tokio::test]
async fn unary_in_flight_completes_stream_cut_with_close_notify() {
    let server = start().await;
    let (mut unary, unary_end) = client(server.addr).await;
    let (mut streaming, stream_end) = client(server.addr).await;

    let mut ticks = streaming
        .server_streaming(
            tonic::Request::new(String::new()),
            PathAndQuery::from_static(TICKS),
            TextCodec,
        )
        .await
        .expect("stream starts")
        .into_inner();
    let first = tokio::time::timeout(BOUND, ticks.message())
        .await
        .expect("first tick in time");
    assert_eq!(first.expect("tick").as_deref(), Some("tick 1"));
    let call = tokio::spawn(async move {
        unary
            .unary(
                tonic::Request::new("600".to_owned()),
                PathAndQuery::from_static(HELLO),
                TextCodec,
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.drain.connections().live(), 2);

    let began = Instant::now();
    let drain = server.drain.clone();
    let drained = tokio::spawn(async move { drain.drain(DEADLINE).await });

    let answer = tokio::time::timeout(BOUND, call)
        .await
        .expect("call in time")
        .expect("call task")
        .expect("the call in flight completes");
    assert_eq!(answer.into_inner(), "hello after 600 ms");
    assert!(began.elapsed() < DEADLINE);

    // The stream keeps ticking until the deadline, then ends.
    let ended = tokio::time::timeout(BOUND, async {
        loop {
            match ticks.message().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the stream ended in time");
    assert!(ended.is_err(), "a cut stream is an error to the client");
    assert!(began.elapsed() >= DEADLINE, "cut before the deadline");

    let report: DrainReport = tokio::time::timeout(BOUND, drained)
        .await
        .expect("drained in time")
        .expect("drain task");
    for connection in &report.connections {
        eprintln!("{connection}");
    }
    eprintln!("summary: {report}");
    assert!(
        report.elapsed <= DEADLINE + FLUSH + Duration::from_millis(500),
        "{:?}",
        report.elapsed
    );
    assert_eq!(report.connections.len(), 2, "{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert_eq!(report.forced(), 1, "{report}");
    for connection in &report.connections {
        assert!(connection.peer.is_some(), "{connection}");
        // Every close outcome means our close_notify was sent (and
        // flushed): peer-confirmed, peer-closed-first, not-awaited...
        assert!(connection.ended.close_outcome().is_some(), "{connection}");
    }

    tokio::time::timeout(BOUND, server.serve)
        .await
        .expect("tonic's serve returned")
        .expect("serve task")
        .expect("serve");

    // The cut stream's client read our close_notify; the unary client,
    // which closes its side once GOAWAY leaves it idle, never saw a
    // truncation.
    drop(ticks);
    drop(streaming);
    assert_eq!(*stream_end.lock().unwrap(), End::CloseNotify);
    assert_ne!(*unary_end.lock().unwrap(), End::Truncated);
}

/// `abort` (a second signal) cuts everything at once, with close_notify,
/// within the flush timeout, and tonic's `serve` returns.
#[tokio::test]
async fn abort_cuts_at_once() {
    let server = start().await;
    let (mut streaming, stream_end) = client(server.addr).await;
    let mut ticks = streaming
        .server_streaming(
            tonic::Request::new(String::new()),
            PathAndQuery::from_static(TICKS),
            TextCodec,
        )
        .await
        .expect("stream starts")
        .into_inner();
    let first = tokio::time::timeout(BOUND, ticks.message()).await;
    assert!(matches!(first, Ok(Ok(Some(_)))), "{first:?}");

    let began = Instant::now();
    let report = tokio::time::timeout(BOUND, server.drain.abort())
        .await
        .expect("aborted in time");
    assert!(began.elapsed() < FLUSH + Duration::from_millis(500));
    assert_eq!(report.connections.len(), 1, "{report}");
    assert_eq!(report.forced(), 1, "{report}");
    assert!(
        report.connections[0].ended.close_outcome().is_some(),
        "{report}"
    );
    tokio::time::timeout(BOUND, server.serve)
        .await
        .expect("tonic's serve returned")
        .expect("serve task")
        .expect("serve");
    let _ = tokio::time::timeout(BOUND, ticks.message()).await;
    assert_eq!(*stream_end.lock().unwrap(), End::CloseNotify);
}
