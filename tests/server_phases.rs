//! The phase table of a served connection (`graceful_tls::server`'s docs,
//! "The phases of a served connection"), cell by cell, over loopback TCP
//! with real clients: raw rustls clients driven step by step (to stop a
//! handshake half-way, or to send half an HTTP/2 preface), hand-made
//! HTTP/2 frames where the server's frames must be seen, and hyper's
//! HTTP/2 client where a real client's behaviour matters (it answers
//! pings). Timeouts run on tokio's paused clock where they can; every
//! wait is bounded.

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::stepped::SteppedClient;
use graceful_tls_testkit::{certs, pairs};

use std::future::IntoFuture;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use graceful_tls::server::{Readiness, Serve};
use graceful_tls::{CancellationToken, Config, Cut, DrainReport};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

type App = Serve<hyper_util::service::TowerToHyperService<axum::Router>>;

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    readiness: Readiness,
    report: JoinHandle<DrainReport>,
}

/// A server offering TLS 1.2 and 1.3, with `h2` and `http/1.1` by ALPN.
async fn start(tune: impl FnOnce(App) -> App) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let readiness = Readiness::new();
    let tls = certs::server_config(
        Arc::new(rustls::crypto::ring::default_provider()),
        &[&rustls::version::TLS12, &rustls::version::TLS13],
        certs::SERVER_PEM,
        certs::SERVER_KEY,
    )
    .expect("server config");
    let serve = graceful_tls::server::serve(listener, Arc::new(tls), axum_app::app(|| false))
        .with_close_config(Config::default().with_flush_timeout(Duration::from_secs(1)))
        .with_readiness(&readiness)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    Server {
        addr,
        shutdown,
        readiness,
        report: tokio::spawn(tune(serve).into_future()),
    }
}

impl Server {
    async fn drain(self) -> DrainReport {
        self.shutdown.cancel();
        within(Duration::from_secs(120), self.report)
            .await
            .expect("serve task")
    }
}

/// `future`, or a failure (not a hang) when `limit` passes first.
async fn within<F: std::future::Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .expect("timed out: the server did not end the connection in time")
}

/// A TLS client over TCP, `alpn` offered if any.
async fn connect(addr: SocketAddr, version: Version, alpn: Option<&[u8]>) -> Tls<TcpStream> {
    let mut config = (*pairs::client_config(version)).clone();
    config.alpn_protocols = alpn.into_iter().map(<[u8]>::to_vec).collect();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    Tls::from(tls)
}

async fn send(tls: &mut Tls<TcpStream>, bytes: &[u8]) {
    tls.write_all(bytes).await.expect("send");
    tls.flush().await.expect("flush");
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n";

/// Reads one response to `GET /` (the app answers `hello`).
async fn read_hello(tls: &mut Tls<TcpStream>) -> String {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while !bytes.ends_with(b"hello") {
        let n = tls.read(&mut buf).await.expect("read response");
        assert!(
            n > 0,
            "ended mid-response: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(bytes).expect("utf-8")
}

fn assert_clean_end(saw: &PeerSaw, empty: bool) {
    match saw {
        PeerSaw::CloseNotify(rest) => assert!(
            !empty || rest.is_empty(),
            "bytes before close_notify: {rest:?}"
        ),
        other => panic!("no close_notify: {other:?}"),
    }
}

/// The HTTP/2 client preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame: 9-byte header, then the payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const GOAWAY: u8 = 0x7;

/// `GET https://localhost/` on stream 1, END_STREAM | END_HEADERS, in HPACK
/// with static-table indices only (no Huffman): `:method GET` (2),
/// `:scheme https` (7), `:path /` (4), `:authority` (1) literal.
fn h2_get() -> Vec<u8> {
    let mut block = vec![0x82, 0x87, 0x84, 0x41, 9];
    block.extend_from_slice(b"localhost");
    frame(HEADERS, 0x5, 1, &block)
}

/// The frame types in a run of HTTP/2 frames (a partial last frame is
/// ignored).
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

/// Phase "awaiting the first request", events "nothing arrives" and "a
/// partial head arrives": every silent client is cut at the header read
/// timeout with close_notify, whatever it negotiated: ALPN `http/1.1`,
/// ALPN `h2`, `h2` with half of the preface, no ALPN (protocol detection),
/// and half an HTTP/1.1 head; TLS 1.2 and 1.3. The server sends no
/// response byte (HTTP/2's own SETTINGS aside), and counts each cut as a
/// `header-timeout`.
#[tokio::test(start_paused = true)]
async fn silent_clients_are_cut_at_the_header_read_timeout() {
    let timeout = Duration::from_secs(10);
    let server = start(|serve| serve.with_header_read_timeout(timeout)).await;
    let mut clients = Vec::new();
    for version in [Version::Tls12, Version::Tls13] {
        for (alpn, sends) in [
            (Some(&b"http/1.1"[..]), &b""[..]),
            (Some(b"h2"), b""),
            (Some(b"h2"), &PREFACE[..12]),
            (None, b""),
            (None, &PREFACE[..12]),
            (Some(b"http/1.1"), b"GET / HTTP/1.1\r\nhost: loc"),
        ] {
            let mut tls = connect(server.addr, version, alpn).await;
            if !sends.is_empty() {
                send(&mut tls, sends).await;
            }
            clients.push((alpn == Some(b"h2"), tls));
        }
    }
    let began = Instant::now();
    for (h2, mut tls) in clients {
        let saw = within(Duration::from_secs(60), peer_read_to_end(&mut tls)).await;
        // An HTTP/2 server speaks first: its SETTINGS.
        assert_clean_end(&saw, !h2);
        if let PeerSaw::CloseNotify(rest) = &saw {
            assert!(frame_types(rest).iter().all(|&t| t == SETTINGS), "{rest:?}");
        }
    }
    let elapsed = began.elapsed();
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::HeaderTimeout), 12, "{report}");
    assert!(
        report.to_string().contains("header-timeouts=12"),
        "{report}"
    );
}

/// "Every silent client frees its place": with `max_connections` 4 and 4
/// silent clients, a fifth client waits in the listen queue and is served
/// within the header read timeout (plus scheduling slack).
#[tokio::test(start_paused = true)]
async fn silent_clients_hold_their_places_only_until_the_header_read_timeout() {
    let timeout = Duration::from_secs(10);
    let server = start(|serve| {
        serve
            .with_header_read_timeout(timeout)
            .with_max_connections(4)
    })
    .await;
    let mut silent = Vec::new();
    for alpn in [&b"h2"[..], b"http/1.1", b"h2", b"http/1.1"] {
        silent.push(connect(server.addr, Version::Tls13, Some(alpn)).await);
    }
    let began = Instant::now();
    // The fifth: its TCP connect succeeds (the kernel's queue), its
    // handshake waits until a place frees.
    let mut fifth = within(
        timeout + Duration::from_secs(2),
        connect(server.addr, Version::Tls13, Some(b"http/1.1")),
    )
    .await;
    send(&mut fifth, GET).await;
    within(Duration::from_secs(2), read_hello(&mut fifth)).await;
    let waited = began.elapsed();
    assert!(
        waited >= timeout && waited < timeout + Duration::from_secs(1),
        "{waited:?}"
    );
    drop(silent);
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::HeaderTimeout), 4, "{report}");
}

/// Phase "idle", HTTP/2: a connection without open streams gets GOAWAY,
/// then close_notify, at the keep-alive timeout (a raw client that sees
/// the frames), counted as an `idle-timeout`.
#[tokio::test(start_paused = true)]
async fn http2_without_open_streams_gets_goaway_then_close_notify_at_the_idle_timeout() {
    let idle = Duration::from_secs(5);
    let server = start(|serve| serve.with_keep_alive_timeout(idle)).await;
    let mut tls = connect(server.addr, Version::Tls13, Some(b"h2")).await;
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    hello.extend(h2_get());
    send(&mut tls, &hello).await;
    let sent = Instant::now();
    let saw = within(Duration::from_secs(60), peer_read_to_end(&mut tls)).await;
    let PeerSaw::CloseNotify(frames) = saw else {
        panic!("no close_notify: {saw:?}");
    };
    // The response, then GOAWAY (hyper follows it with a PING to measure
    // the round trip, which this client does not answer: the close bound,
    // `flush_timeout`, 1 s here, ends that wait), then close_notify.
    let types = frame_types(&frames);
    let response = types
        .iter()
        .position(|&t| t == HEADERS)
        .expect("no response");
    let goaway = types.iter().rposition(|&t| t == GOAWAY).expect("no GOAWAY");
    assert!(response < goaway, "{types:?}");
    let elapsed = sent.elapsed();
    assert!(
        elapsed >= idle && elapsed < idle + Duration::from_secs(2),
        "{elapsed:?}"
    );
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::IdleTimeout), 1, "{report}");
}

/// Phase "idle", HTTP/2, with hyper's client, which answers every ping:
/// answering pings does not keep an idle connection; it is ended at the
/// keep-alive timeout after its last response.
#[tokio::test(start_paused = true)]
async fn http2_client_that_only_answers_pings_is_cut_at_the_idle_timeout() {
    use http_body_util::{BodyExt, Empty};
    let idle = Duration::from_secs(5);
    let server = start(|serve| serve.with_keep_alive_timeout(idle)).await;
    let tls = connect(server.addr, Version::Tls13, Some(b"h2")).await;
    let (mut sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(1))
            .handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let request = hyper::Request::get("https://localhost/")
        .body(Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"hello");
    let done = Instant::now();
    let _ = within(Duration::from_secs(60), conn).await;
    let elapsed = done.elapsed();
    assert!(
        elapsed >= idle && elapsed < idle + Duration::from_secs(1),
        "{elapsed:?}"
    );
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::IdleTimeout), 1, "{report}");
}

/// Phase "idle", HTTP/1.1: a keep-alive connection with nothing more is
/// closed (close_notify) at the keep-alive timeout, counted as an
/// `idle-timeout`; phase "reading a request head" (a later head, half
/// sent): cut at the header read timeout, counted as a `header-timeout`.
#[tokio::test(start_paused = true)]
async fn http1_idle_and_slow_later_heads_are_cut_and_named() {
    let server = start(|serve| {
        serve
            .with_keep_alive_timeout(Duration::from_secs(5))
            .with_header_read_timeout(Duration::from_secs(8))
    })
    .await;
    let mut idle = connect(server.addr, Version::Tls13, Some(b"http/1.1")).await;
    let mut slow = connect(server.addr, Version::Tls12, Some(b"http/1.1")).await;
    for tls in [&mut idle, &mut slow] {
        send(tls, GET).await;
        read_hello(tls).await;
    }
    send(&mut slow, b"GET / HTTP/1.1\r\nhost:").await;
    let began = Instant::now();
    for tls in [&mut idle, &mut slow] {
        let saw = within(Duration::from_secs(60), peer_read_to_end(tls)).await;
        assert_clean_end(&saw, true);
    }
    // hyper times both with the shorter of the two.
    let elapsed = began.elapsed();
    assert!(
        elapsed >= Duration::from_secs(5) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::IdleTimeout), 1, "{report}");
    assert_eq!(report.cuts(Cut::HeaderTimeout), 1, "{report}");
}

/// Phases "accepted/handshaking", "awaiting the first request" and
/// "idle", events "the peer closes" (close_notify and FIN, or a bare FIN)
/// and "the peer resets": the connection ends at once and its place is
/// free: with `max_connections` 1, the next client is served right after.
#[tokio::test(start_paused = true)]
async fn a_peer_that_leaves_frees_its_place_at_once() {
    let server = start(|serve| serve.with_max_connections(1)).await;
    for leave in [
        "tcp-fin",
        "tcp-reset",
        "close_notify",
        "fin",
        "reset",
        "fin-after-request",
        "fin-mid-request",
    ] {
        if let Some(how) = leave.strip_prefix("tcp-") {
            // Before or during the handshake: a TCP connection that leaves.
            let tcp = TcpStream::connect(server.addr).await.expect("connect");
            if how == "reset" {
                socket2::SockRef::from(&tcp)
                    .set_linger(Some(Duration::ZERO))
                    .expect("linger");
            }
            drop(tcp);
        } else {
            let mut tls = connect(server.addr, Version::Tls13, Some(b"http/1.1")).await;
            if leave == "fin-after-request" {
                send(&mut tls, GET).await;
                read_hello(&mut tls).await;
            }
            if leave == "fin-mid-request" {
                // HTTP/1.1 reads nothing while the application works: the
                // end is seen once the response is written (3 s).
                send(
                    &mut tls,
                    b"GET /slow?ms=3000 HTTP/1.1\r\nhost: localhost\r\n\r\n",
                )
                .await;
            }
            match leave {
                "close_notify" => tls.shutdown().await.expect("close_notify"),
                "reset" => {
                    socket2::SockRef::from(tls.get_ref().0)
                        .set_linger(Some(Duration::ZERO))
                        .expect("linger");
                    drop(tls);
                }
                _ => drop(tls),
            }
        }
        let bound = if leave == "fin-mid-request" {
            Duration::from_secs(4)
        } else {
            Duration::from_secs(1)
        };
        let began = Instant::now();
        let mut next = within(
            bound + Duration::from_secs(1),
            connect(server.addr, Version::Tls13, Some(b"http/1.1")),
        )
        .await;
        send(&mut next, GET).await;
        within(Duration::from_secs(2), read_hello(&mut next)).await;
        assert!(began.elapsed() < bound, "{leave}: {:?}", began.elapsed());
        next.shutdown().await.expect("close_notify");
        drop(next);
    }
    let report = server.drain().await;
    assert_eq!(report.forced(), 0, "{report}");
    assert_eq!(report.cut_counts.values().sum::<u64>(), 0, "{report}");
}

/// Phase "handshaking", event "the drain begins": a connection accepted
/// before the drain whose handshake completes during it gets its first
/// request answered (with `connection: close`), then close_notify. TLS
/// 1.2, whose clients send the request only after the server's Finished,
/// and TLS 1.3; 20 rounds each, over real TCP. The client's last flight
/// (TLS 1.2: its key exchange and Finished; TLS 1.3: its Finished) is held
/// until the drain has begun, which an idle keep-alive connection proves
/// (it gets close_notify when the drain begins).
#[tokio::test]
async fn a_handshake_that_completes_during_the_drain_gets_its_first_request_answered() {
    const ROUNDS: usize = 20;
    for version in [Version::Tls12, Version::Tls13] {
        for round in 0..ROUNDS {
            let server = start(|serve| serve).await;
            let mut witness = connect(server.addr, Version::Tls13, Some(b"http/1.1")).await;
            send(&mut witness, GET).await;
            read_hello(&mut witness).await;

            let mut client = SteppedClient::connect(server.addr, version, b"http/1.1").await;
            client.flush().await; // ClientHello
                                  // The server's flight, up to the point where the client has
                                  // its own last flight ready.
            assert!(
                client.read_until(|tls| tls.wants_write()).await,
                "server left"
            );
            server.shutdown.cancel();
            let saw = within(Duration::from_secs(10), peer_read_to_end(&mut witness)).await;
            assert_clean_end(&saw, true);
            // Its close_notify answered: the drain need not wait for it.
            within(Duration::from_secs(10), witness.shutdown())
                .await
                .expect("the witness answers close_notify");
            assert!(server.readiness.is_draining());

            client.flush().await; // the last flight: the server's handshake completes
            assert!(
                within(
                    Duration::from_secs(10),
                    client.read_until(|tls| !tls.is_handshaking())
                )
                .await,
                "{version:?} round {round}: the server left during the handshake"
            );
            client.tls.writer().write_all(GET).expect("request");
            client.flush().await;
            let (response, close_notify) =
                within(Duration::from_secs(10), client.read_to_end()).await;
            let response = String::from_utf8_lossy(&response);
            assert!(
                response.starts_with("HTTP/1.1 200 OK") && response.ends_with("hello"),
                "{version:?} round {round}: not answered: {response:?}"
            );
            assert!(response.contains("connection: close"), "{response:?}");
            assert!(close_notify, "{version:?} round {round}: no close_notify");
            client.tls.send_close_notify();
            client.flush().await;
            let report = server.drain().await;
            assert_eq!(report.forced(), 0, "{version:?} round {round}: {report}");
            assert_eq!(report.connections.len(), 2, "{report}");
        }
    }
}

/// Phase "awaiting the first request", event "the drain begins", and
/// nothing comes: the client gets close_notify, with no byte before it,
/// at the end of the first-request grace (1 s by default), unforced; with
/// a drain deadline shorter than the grace, at the deadline (forced).
#[tokio::test(start_paused = true)]
async fn a_client_silent_through_the_grace_gets_close_notify_before_any_byte() {
    assert_eq!(
        Serve::<()>::DEFAULT_FIRST_REQUEST_GRACE,
        Duration::from_secs(1)
    );
    for (drain, bound, forced) in [
        (Duration::from_secs(20), Duration::from_secs(1), 0),
        (Duration::from_millis(300), Duration::from_millis(300), 1),
    ] {
        let server = start(|serve| serve.with_drain_timeout(drain)).await;
        let mut silent = connect(server.addr, Version::Tls12, Some(b"http/1.1")).await;
        let began = Instant::now();
        server.shutdown.cancel();
        let saw = within(Duration::from_secs(30), peer_read_to_end(&mut silent)).await;
        assert_clean_end(&saw, true);
        let elapsed = began.elapsed();
        assert!(
            elapsed >= bound && elapsed < bound + Duration::from_millis(100),
            "{elapsed:?}"
        );
        silent.shutdown().await.expect("close_notify");
        let report = within(Duration::from_secs(30), server.report)
            .await
            .expect("serve");
        assert_eq!(report.connections.len(), 1, "{report}");
        assert_eq!(report.forced(), forced, "{report}");
    }
}

/// Phase "reading a request head" (the first), event "the drain begins",
/// then the rest of the half-sent head arrives within the grace: answered.
/// On real time: tokio's paused clock jumps to the next timer before a
/// loopback write between two timers reaches the server.
#[tokio::test]
async fn a_first_head_completed_during_the_grace_is_answered() {
    let server = start(|serve| serve).await;
    let mut client = connect(server.addr, Version::Tls13, Some(b"http/1.1")).await;
    send(&mut client, &GET[..10]).await;
    server.shutdown.cancel();
    // Well inside the 1 s grace.
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut client, &GET[10..]).await;
    let saw = within(Duration::from_secs(30), peer_read_to_end(&mut client)).await;
    let PeerSaw::CloseNotify(rest) = saw else {
        panic!("no close_notify: {saw:?}");
    };
    let rest = String::from_utf8(rest).expect("utf-8");
    assert!(
        rest.starts_with("HTTP/1.1 200 OK") && rest.ends_with("hello"),
        "{rest:?}"
    );
    client.shutdown().await.expect("close_notify");
    let report = within(Duration::from_secs(30), server.report)
        .await
        .expect("serve");
    assert_eq!(report.forced(), 0, "{report}");
}
