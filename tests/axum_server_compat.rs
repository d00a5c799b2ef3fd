//! `graceful_tls::server::GracefulAcceptor` in an axum-server program as
//! users write it (`axum_server::from_tcp(..).acceptor(..).handle(..)`,
//! axum-server's own `RustlsAcceptor`), against raw rustls HTTP/1.1
//! clients over loopback TCP, which answer close_notify and tell a
//! close_notify from a truncation by their TLS library's state.
//!
//! Real time (real sockets: a paused clock would jump the deadlines while
//! the runtime waits for the kernel), so every wait is bounded by a
//! generous `timeout`; the verdicts come from the clients' reads and the
//! `DrainReport`.

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::pairs;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use graceful_tls::server::GracefulAcceptor;
use graceful_tls::{Config, DrainReport};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The close deadlines of the set.
const FLUSH: Duration = Duration::from_secs(1);
/// axum-server's graceful-shutdown deadline, and the set's drain's.
const DEADLINE: Duration = Duration::from_millis(1200);
/// What no step of these tests may take.
const BOUND: Duration = Duration::from_secs(10);

/// An axum-server serving the testkit's axum app over rustls on a port of
/// its own; `acceptor` picks what wraps axum-server's TLS acceptor.
struct Server {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    serve: JoinHandle<std::io::Result<()>>,
}

fn listener() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    (listener, addr)
}

fn rustls_acceptor() -> RustlsAcceptor {
    RustlsAcceptor::new(RustlsConfig::from_config(pairs::server_config(
        Version::Tls13,
    )))
}

/// Serves with `GracefulAcceptor` around axum-server's `RustlsAcceptor`.
fn start_graceful() -> (Server, GracefulAcceptor<RustlsAcceptor>) {
    let (listener, addr) = listener();
    let acceptor = GracefulAcceptor::new(rustls_acceptor())
        .with_close_config(Config::default().with_flush_timeout(FLUSH));
    let handle = Handle::new();
    let serve = axum_server::from_tcp(listener)
        .expect("from_tcp")
        .acceptor(acceptor.clone())
        .handle(handle.clone())
        .serve(axum_app::app(|| false).into_make_service());
    let server = Server {
        addr,
        handle,
        serve: tokio::spawn(serve),
    };
    (server, acceptor)
}

/// Serves with axum-server's `RustlsAcceptor` alone: what users have today.
fn start_bare() -> Server {
    let (listener, addr) = listener();
    let handle = Handle::new();
    let serve = axum_server::from_tcp(listener)
        .expect("from_tcp")
        .acceptor(rustls_acceptor())
        .handle(handle.clone())
        .serve(axum_app::app(|| false).into_make_service());
    Server {
        addr,
        handle,
        serve: tokio::spawn(serve),
    }
}

async fn connect(addr: SocketAddr) -> Tls<TcpStream> {
    tokio::time::timeout(BOUND, pairs::connect_alpn(addr, b"http/1.1"))
        .await
        .expect("connect in time")
}

async fn send(tls: &mut Tls<TcpStream>, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("send");
    tls.flush().await.expect("flush");
}

/// Reads until `needle` arrived (a response's end, a first tick).
async fn read_until(tls: &mut Tls<TcpStream>, needle: &str) -> String {
    let read = async {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if text.contains(needle) {
                return text;
            }
            let n = tls.read(&mut buf).await.expect("read");
            assert!(n > 0, "connection ended before {needle:?}: {text:?}");
            bytes.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("read in time")
}

/// Reads to the end (bounded) and answers a close_notify with ours.
async fn read_to_end(tls: &mut Tls<TcpStream>) -> PeerSaw {
    let saw = tokio::time::timeout(BOUND, peer_read_to_end(tls))
        .await
        .expect("the server ended the connection in time");
    if matches!(saw, PeerSaw::CloseNotify(_)) {
        let _ = tls.shutdown().await;
    }
    saw
}

/// The three connections of the issue: a long request and a `/stream`
/// (both still running at the deadline) and an idle keep-alive connection.
struct Clients {
    slow: Tls<TcpStream>,
    stream: Tls<TcpStream>,
    idle: Tls<TcpStream>,
}

async fn clients(addr: SocketAddr) -> Clients {
    let mut idle = connect(addr).await;
    send(&mut idle, "/").await;
    assert!(read_until(&mut idle, "hello")
        .await
        .starts_with("HTTP/1.1 200"));
    let mut slow = connect(addr).await;
    send(&mut slow, "/slow?ms=60000").await;
    let mut stream = connect(addr).await;
    send(&mut stream, "/stream").await;
    read_until(&mut stream, "tick").await;
    Clients { slow, stream, idle }
}

/// The case: axum-server keeps its `Handle` and its deadline; the
/// idle keep-alive connection closes at once (axum-server's graceful
/// shutdown), the long request and the `/stream` are cut at the deadline.
/// All three end with close_notify, the report lists each (the idle one
/// unforced and confirmed by the client, the two others forced), within
/// the deadline plus the flush timeout; axum-server's `serve` returns.
#[tokio::test]
async fn handle_deadline_cuts_with_close_notify_and_reports_each() {
    let (server, acceptor) = start_graceful();
    let Clients {
        mut slow,
        mut stream,
        mut idle,
    } = clients(server.addr).await;
    assert_eq!(acceptor.connections().live(), 3);

    let began = Instant::now();
    let handle = server.handle.clone();
    let drain = tokio::spawn(async move { acceptor.graceful_shutdown(&handle, DEADLINE).await });

    let idle_saw = read_to_end(&mut idle).await;
    assert!(
        matches!(&idle_saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "idle: {idle_saw:?}"
    );
    assert!(
        began.elapsed() < DEADLINE,
        "the idle connection waited for the deadline"
    );
    let slow_saw = read_to_end(&mut slow).await;
    assert!(
        matches!(&slow_saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "slow: {slow_saw:?}"
    );
    let stream_saw = read_to_end(&mut stream).await;
    assert!(
        matches!(&stream_saw, PeerSaw::CloseNotify(_)),
        "stream: {stream_saw:?}"
    );
    assert!(began.elapsed() >= DEADLINE, "cut before the deadline");

    let report: DrainReport = tokio::time::timeout(BOUND, drain)
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
    assert_eq!(report.connections.len(), 3, "{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert_eq!(report.forced(), 2, "{report}");
    for connection in &report.connections {
        assert!(connection.peer.is_some(), "{connection}");
        assert!(connection.ended.close_outcome().is_some(), "{connection}");
    }
    let idle_report = report
        .connections
        .iter()
        .find(|c| !c.forced)
        .expect("the idle connection");
    assert_eq!(idle_report.ended.as_str(), "peer-confirmed", "{report}");

    tokio::time::timeout(BOUND, server.serve)
        .await
        .expect("axum-server's serve returned")
        .expect("serve task")
        .expect("serve");
}

/// The control: the same program with axum-server's `RustlsAcceptor`
/// alone. At the deadline axum-server drops the `/stream` connection: the
/// client sees a truncation, no close_notify (axum-server #114), which is
/// what the test above would catch.
#[tokio::test]
async fn without_the_acceptor_the_deadline_truncates() {
    let server = start_bare();
    let mut stream = connect(server.addr).await;
    send(&mut stream, "/stream").await;
    read_until(&mut stream, "tick").await;
    server
        .handle
        .graceful_shutdown(Some(Duration::from_millis(300)));
    let saw = read_to_end(&mut stream).await;
    assert!(matches!(saw, PeerSaw::Truncated(_)), "{saw:?}");
    tokio::time::timeout(BOUND, server.serve)
        .await
        .expect("serve returned")
        .expect("serve task")
        .expect("serve");
}

/// A connection whose handshake completes once the set drains is closed at
/// once with close_notify (axum-server's accept fails with
/// `ConnectionAborted`), and a set drained with no connection reports
/// none, at once.
#[tokio::test]
async fn a_connection_completed_during_the_drain_gets_close_notify() {
    let (server, acceptor) = start_graceful();
    // Only the set drains: axum-server still accepts and handshakes.
    let report = tokio::time::timeout(BOUND, acceptor.drain(DEADLINE))
        .await
        .expect("empty drain");
    assert_eq!(report.connections.len(), 0, "{report}");
    let mut late = connect(server.addr).await;
    let saw = read_to_end(&mut late).await;
    assert!(
        matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{saw:?}"
    );
    server.handle.shutdown();
    tokio::time::timeout(BOUND, server.serve)
        .await
        .expect("serve returned")
        .expect("serve task")
        .expect("serve");
}
