//! Zero-downtime restarts (feature `restart`) with real processes over
//! loopback TCP: `examples/axum_server` hands its listening socket over on
//! SIGHUP while keep-alive HTTP/1.1 and HTTP/2 clients send requests without
//! pause; a failing successor leaves the old process serving; the socket
//! can come from socket activation.
//!
//! The clients follow `connection: close` and GOAWAY by reconnecting, as
//! real clients do. They retry a request once, and only when the server
//! closed the connection with close_notify before any byte of the response
//! (the keep-alive race, hyper #3792: the server closed an idle keep-alive
//! connection while the request was still on its way; one already in the
//! server's socket is answered). Anything else counts as a failure.
#![cfg(unix)]

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, GracefulStream};
use graceful_tls_testkit::pairs::Version;
use graceful_tls_testkit::stepped::SteppedClient;
use graceful_tls_testkit::{certs, interop};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use interop::{Out, Proc};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The drain deadline of every generation.
const DRAIN_MS: u64 = 3000;
/// How long any one wait for the server may take.
const WAIT: Duration = Duration::from_secs(30);

/// The generations of one server: the first process and every successor
/// (found in `ready: pid N` lines); all killed on drop.
struct Server {
    proc: Proc,
    addr: SocketAddr,
    pid_file: PathBuf,
    _dir: TempDir,
}

impl Server {
    fn start(binary: &Path, dir: TempDir, extra: &[&str]) -> Server {
        Server::start_with(binary, dir, extra, &[])
    }

    fn start_with(binary: &Path, dir: TempDir, extra: &[&str], env: &[(&str, &Path)]) -> Server {
        let port = interop::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let pid_file = dir.0.join("pid");
        let mut cmd = Command::new(binary);
        cmd.args(["--listen", &addr.to_string()])
            .args(["--cert", &certs::path("server.pem")])
            .args(["--key", &certs::path("server.key")])
            .args(["--drain-timeout-ms", &DRAIN_MS.to_string()])
            .arg("--pid-file")
            .arg(&pid_file)
            .args(extra)
            .envs(env.iter().copied());
        let proc = Proc::spawn("axum_server", cmd);
        let server = Server {
            proc,
            addr,
            pid_file,
            _dir: dir,
        };
        server.wait_count("ready: pid", 1);
        server
    }

    fn lines(&self, prefix: &str) -> Vec<String> {
        self.proc
            .texts(Out::Stdout)
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// Waits until `n` stdout lines start with `prefix`.
    fn wait_count(&self, prefix: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.lines(prefix).len() < n {
            assert!(
                Instant::now() < deadline,
                "no {n} lines {prefix:?} within {WAIT:?}\n{}",
                self.proc.transcript()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The serving generation's pid (from the pid file).
    fn pid(&self) -> u32 {
        let text = std::fs::read_to_string(&self.pid_file).expect("pid file");
        text.trim().parse().expect("a pid")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill {signal} failed");
    }

    /// Every generation's pid.
    fn pids(&self) -> Vec<u32> {
        self.lines("ready: pid ")
            .iter()
            .filter_map(|l| l["ready: pid ".len()..].trim().parse().ok())
            .collect()
    }

    /// The `summary:` lines' connection counts and outcome names.
    fn summaries(&self) -> Vec<(usize, Vec<String>)> {
        self.lines("summary: ")
            .iter()
            .map(|line| {
                let mut count = 0;
                let mut outcomes = Vec::new();
                for field in line["summary: ".len()..].split_whitespace() {
                    let (name, value) = field.split_once('=').unwrap_or((field, ""));
                    match name {
                        "connections" => count = value.parse().unwrap_or(usize::MAX),
                        // Not outcomes: life-long counters.
                        "forced" | "refused" | "accept-errors" => {}
                        name if graceful_tls::Cut::ALL
                            .iter()
                            .any(|c| c.count_name() == name) => {}
                        other => outcomes.push(other.to_owned()),
                    }
                }
                (count, outcomes)
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A directory of its own under the target's temporary directory, removed
/// on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "graceful-tls-restart-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Outcomes that mean close_notify was sent.
const CLOSED: &[&str] = &[
    "peer-confirmed",
    "peer-closed-first",
    "not-awaited",
    "peer-timeout",
    "peer-eof",
];

fn tls(alpn: &[u8]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = std::fs::read(certs::path("ca.pem")).expect("ca.pem");
    let mut config =
        certs::client_config(provider, rustls::DEFAULT_VERSIONS, &ca).expect("client config");
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    connections: AtomicU64,
    retried: AtomicU64,
    failures: Mutex<Vec<String>>,
    /// (when it was sent, how long it took)
    latencies: Mutex<Vec<(Instant, Duration)>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
    }
}

/// A client stream that counts the plaintext bytes it read and remembers
/// whether the server ended it with close_notify (tokio-rustls returns a
/// clean end of stream only then; a TCP end without it is an error).
struct Counted<S> {
    inner: S,
    read: Arc<AtomicU64>,
    close_notify: Arc<AtomicBool>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = buf.filled().len() - before;
            if n == 0 && buf.remaining() > 0 {
                self.close_notify.store(true, Ordering::SeqCst);
            }
            self.read.fetch_add(n as u64, Ordering::SeqCst);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The clients' connections are `GracefulStream`s: when hyper drops one
/// (after `connection: close`, after GOAWAY), it still ends with
/// close_notify and waits (bounded) for the server's. (A plain
/// tokio-rustls stream dropped by hyper's HTTP/2 client right after GOAWAY
/// makes the server's close_notify meet a reset, which its report then
/// counts as `peer-closed-and-left`: the client's doing, not a lost
/// request.)
type Stream = Counted<GracefulStream<tokio_rustls::client::TlsStream<TcpStream>>>;

struct Conn {
    io: Stream,
    read: Arc<AtomicU64>,
    close_notify: Arc<AtomicBool>,
}

async fn connect(addr: SocketAddr, alpn: &[u8]) -> io::Result<Conn> {
    let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio::time::timeout(WAIT, tls(alpn).connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))??;
    let (read, close_notify) = (Arc::default(), Arc::default());
    Ok(Conn {
        io: Counted {
            inner: GracefulStream::new(tls, CancellationToken::new()),
            read: Arc::clone(&read),
            close_notify: Arc::clone(&close_notify),
        },
        read,
        close_notify,
    })
}

fn get(path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(format!("https://localhost{path}"))
        .body(Empty::new())
        .unwrap()
}

/// Something kept alive until the final drain (a parked connection).
type Parked = Box<dyn std::any::Any + Send>;

/// An HTTP/1.1 keep-alive client: `GET /` without pause until `stop`, then
/// parks its connection (returned) so that the last drain reports it.
async fn h1_client(addr: SocketAddr, stop: CancellationToken, tally: Arc<Tally>) -> Option<Parked> {
    let mut retrying = false;
    'connect: loop {
        if stop.is_cancelled() {
            return None;
        }
        let conn = match connect(addr, b"http/1.1").await {
            Ok(conn) => conn,
            Err(e) => {
                tally.fail(format!("h1 connect: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tally.connections.fetch_add(1, Ordering::SeqCst);
        let (read, close_notify) = (conn.read, conn.close_notify);
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(TokioIo::new(conn.io)).await {
                Ok(pair) => pair,
                Err(e) => {
                    tally.fail(format!("h1 handshake: {e}"));
                    continue;
                }
            };
        let driver = tokio::spawn(connection);
        loop {
            if stop.is_cancelled() {
                return Some(Box::new((sender, driver)));
            }
            if sender.ready().await.is_err() {
                // Closed between requests: nothing was sent.
                continue 'connect;
            }
            let before = read.load(Ordering::SeqCst);
            let sent = Instant::now();
            match sender.send_request(get("/")).await {
                Ok(response) => {
                    retrying = false;
                    let close = response
                        .headers()
                        .get(hyper::header::CONNECTION)
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                    let status = response.status();
                    match response.into_body().collect().await.map(|b| b.to_bytes()) {
                        Ok(body) if status == 200 && body == "hello" => {
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                            tally.latencies.lock().unwrap().push((sent, sent.elapsed()));
                        }
                        Ok(_) => tally.fail(format!("h1: wrong answer {status}")),
                        Err(e) => tally.fail(format!("h1: body cut: {e}")),
                    }
                    if close {
                        continue 'connect;
                    }
                }
                Err(e) => {
                    // Retry-safe only if the server ended the connection with
                    // close_notify before any byte of the response.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let untouched = read.load(Ordering::SeqCst) == before
                        && close_notify.load(Ordering::SeqCst);
                    if untouched && !retrying {
                        retrying = true;
                        tally.retried.fetch_add(1, Ordering::SeqCst);
                    } else {
                        tally.fail(format!(
                            "h1: request failed (retry={retrying}, untouched={untouched}): {e}"
                        ));
                    }
                    continue 'connect;
                }
            }
        }
    }
}

/// An HTTP/2 client: `GET /` without pause on one connection until GOAWAY
/// closes it, then a new one; parks its connection at `stop`.
async fn h2_client(addr: SocketAddr, stop: CancellationToken, tally: Arc<Tally>) -> Option<Parked> {
    let mut retrying = false;
    'connect: loop {
        if stop.is_cancelled() {
            return None;
        }
        let conn = match connect(addr, b"h2").await {
            Ok(conn) => conn,
            Err(e) => {
                tally.fail(format!("h2 connect: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tally.connections.fetch_add(1, Ordering::SeqCst);
        let (mut sender, connection) = match hyper::client::conn::http2::handshake(
            TokioExecutor::new(),
            TokioIo::new(conn.io),
        )
        .await
        {
            Ok(pair) => pair,
            Err(e) => {
                tally.fail(format!("h2 handshake: {e}"));
                continue;
            }
        };
        let driver = tokio::spawn(connection);
        loop {
            if stop.is_cancelled() {
                return Some(Box::new((sender, driver)));
            }
            if sender.ready().await.is_err() {
                // GOAWAY received or the connection closed: nothing sent.
                continue 'connect;
            }
            let sent = Instant::now();
            match sender.send_request(get("/")).await {
                Ok(response) => {
                    retrying = false;
                    let status = response.status();
                    match response.into_body().collect().await.map(|b| b.to_bytes()) {
                        Ok(body) if status == 200 && body == "hello" => {
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                            tally.latencies.lock().unwrap().push((sent, sent.elapsed()));
                        }
                        Ok(_) => tally.fail(format!("h2: wrong answer {status}")),
                        Err(e) => tally.fail(format!("h2: body cut: {e}")),
                    }
                }
                // A stream the server never processed (past GOAWAY's last
                // stream id, or never sent): safe to retry (RFC 9113 §6.8,
                // §8.7).
                Err(e) if unprocessed(&e) && !retrying => {
                    retrying = true;
                    tally.retried.fetch_add(1, Ordering::SeqCst);
                    continue 'connect;
                }
                Err(e) => {
                    tally.fail(format!("h2: request failed (retry={retrying}): {e:?}"));
                    continue 'connect;
                }
            }
        }
    }
}

/// Whether an HTTP/2 request failed without the server processing it: it
/// was never sent, or GOAWAY's last stream id left it out (h2 fails those
/// streams with the GOAWAY itself; streams the server did take fail
/// otherwise if the connection breaks).
fn unprocessed(e: &hyper::Error) -> bool {
    if e.is_canceled() {
        return true;
    }
    let h2 = std::error::Error::source(e).and_then(|s| s.downcast_ref::<h2::Error>());
    h2.is_some_and(|h2| {
        h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR)
    })
}

/// Requests/s and p99 latency of the requests sent in `[from, to)`.
fn figures(tally: &Tally, from: Instant, to: Instant) -> (f64, Duration, usize) {
    let mut lat: Vec<Duration> = tally
        .latencies
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .map(|(_, d)| *d)
        .collect();
    lat.sort();
    let n = lat.len();
    let p99 = lat
        .get((n * 99 / 100).min(n.saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    (n as f64 / (to - from).as_secs_f64(), p99, n)
}

/// Sends `request` on a new HTTP/1.1 connection and reads until the server
/// ends it: the bytes, and whether the end was close_notify.
async fn raw_exchange(addr: SocketAddr, request: &str) -> (String, io::Result<()>) {
    let mut conn = connect(addr, b"http/1.1").await.expect("connect");
    conn.io.write_all(request.as_bytes()).await.expect("send");
    let mut bytes = Vec::new();
    let end = tokio::time::timeout(WAIT, conn.io.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no end")))
        .map(|_| ());
    (String::from_utf8_lossy(&bytes).into_owned(), end)
}

/// Five restarts under a load of keep-alive HTTP/1.1 and HTTP/2 clients:
/// every request answered, a `/slow` in flight completes on the old
/// process, a `/stream` is cut at its deadline with close_notify, and the
/// generations' reports account for every connection, each closed with
/// close_notify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_restarts_under_load_lose_nothing() {
    let binary = interop::example_all_features("axum_server");
    let server = Server::start(&binary, TempDir::new("load"), &[]);
    let addr = server.addr;
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let mut clients = Vec::new();
    let h1_clients = std::env::var("RESTART_H1_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4);
    for i in 0..6 {
        let (stop, tally) = (stop.clone(), Arc::clone(&tally));
        clients.push(tokio::spawn(async move {
            if i < h1_clients {
                h1_client(addr, stop, tally).await
            } else {
                h2_client(addr, stop, tally).await
            }
        }));
    }
    let steady_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady_to = Instant::now();

    // In flight at the first handover: a slow request and a stream.
    let slow = tokio::spawn(raw_exchange(
        addr,
        "GET /slow?ms=1500 HTTP/1.1\r\nhost: localhost\r\n\r\n",
    ));
    let stream = tokio::spawn(raw_exchange(
        addr,
        "GET /stream HTTP/1.1\r\nhost: localhost\r\n\r\n",
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let restarts_from = Instant::now();
    for n in 1..=5 {
        let server = &server;
        tokio::task::block_in_place(|| {
            server.signal("-HUP");
            server.wait_count("restart: handed over to pid", n);
            server.wait_count("ready: pid", n + 1);
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let restarts_to = Instant::now();
    let (slow_bytes, slow_end) = slow.await.unwrap();
    let (stream_bytes, stream_end) = stream.await.unwrap();
    stop.cancel();
    let mut parked = Vec::new();
    for client in clients {
        parked.push(client.await.unwrap());
    }
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("summary:", 6);
    });
    drop(parked);

    let transcript = server.proc.transcript();
    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failures: {failures:#?}\n{transcript}");
    assert!(
        slow_bytes.contains("200 OK") && slow_bytes.ends_with("done"),
        "{slow_bytes}\n{transcript}"
    );
    assert!(slow_end.is_ok(), "/slow: no close_notify: {slow_end:?}");
    assert!(stream_bytes.contains("tick"), "{stream_bytes}");
    assert!(
        stream_end.is_ok(),
        "/stream: cut without close_notify: {stream_end:?}"
    );
    let summaries = server.summaries();
    assert_eq!(summaries.len(), 6, "{transcript}");
    // Every connection ended with close_notify, except HTTP/2 connections
    // whose client left first: hyper's HTTP/2 client closes the connection
    // as soon as GOAWAY leaves it without streams; our client stream then
    // sends close_notify and closes without waiting for the server's (as a
    // drop does), so the server's close_notify meets a reset after it read
    // the client's, which it reports as `peer-closed-and-left` (it was
    // `transport-error` before issue 24). A client whose own close_notify
    // did not get out before its socket closed, after every exchange was
    // complete, is `client-left-complete` (issue 27), also no failure.
    // Counted and printed, not hidden; a `transport-error` fails the test.
    let mut client_left_first = 0;
    for (_, outcomes) in &summaries {
        for outcome in outcomes {
            if outcome == "peer-closed-and-left" || outcome == "client-left-complete" {
                client_left_first += 1;
                continue;
            }
            assert!(
                CLOSED.contains(&outcome.as_str()),
                "{outcome} is not a close_notify end\n{transcript}"
            );
        }
    }
    let cut = server
        .lines("summary: ")
        .iter()
        .filter(|l| l.contains(" forced=1 "))
        .count();
    assert_eq!(
        cut, 1,
        "the first generation cut /stream at its deadline\n{transcript}"
    );
    let reported: usize = summaries.iter().map(|(n, _)| n).sum();
    let connections = tally.connections.load(Ordering::SeqCst) as usize + 2;
    assert_eq!(
        reported, connections,
        "every connection reported once\n{transcript}"
    );

    let (rps, p99, n) = figures(&tally, steady_from, steady_to);
    let (rps_r, p99_r, n_r) = figures(&tally, restarts_from, restarts_to);
    println!(
        "figures: steady {rps:.0} req/s p99 {p99:?} ({n} requests); during 5 restarts {rps_r:.0} req/s p99 {p99_r:?} ({n_r} requests); errors {}; retried {}; connections {connections}; clients that left first (peer-closed-and-left, client-left-complete) {client_left_first}",
        failures.len(),
        tally.retried.load(Ordering::SeqCst),
    );
}

/// Issue 24: a connection accepted before a restart's handover whose TLS
/// handshake completes during the old process's drain gets its first
/// request answered (with `connection: close`, then close_notify), in 20
/// of 20 handovers. TLS 1.2, whose clients send the request only after the
/// server's Finished: the client's last flight is held until the old
/// process says it drains, so the handshake completes in the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_completing_during_a_restart_get_their_first_request_answered() {
    const ROUNDS: usize = 20;
    let binary = interop::example_all_features("axum_server");
    let server = Server::start(&binary, TempDir::new("handshake-during-restart"), &[]);
    for round in 1..=ROUNDS {
        let mut client = SteppedClient::connect(server.addr, Version::Tls12, b"http/1.1").await;
        client.flush().await; // ClientHello
        let flight = tokio::time::timeout(WAIT, client.read_until(|tls| tls.wants_write()));
        assert!(
            flight.await.expect("server's flight"),
            "round {round}: server left"
        );
        tokio::task::block_in_place(|| {
            server.signal("-HUP");
            server.wait_count("restart: handed over to pid", round);
            server.wait_count("drain: begun", round);
            server.wait_count("ready: pid", round + 1);
        });
        client.flush().await; // the last flight: completes during the drain
        let done = tokio::time::timeout(WAIT, client.read_until(|tls| !tls.is_handshaking()));
        assert!(
            done.await.expect("handshake"),
            "round {round}: left mid-handshake"
        );
        std::io::Write::write_all(
            &mut client.tls.writer(),
            b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n",
        )
        .expect("request");
        client.flush().await;
        let (response, close_notify) = tokio::time::timeout(WAIT, client.read_to_end())
            .await
            .expect("response bounded by the drain");
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 200 OK") && response.ends_with("hello"),
            "round {round}: not answered: {response:?}\n{}",
            server.proc.transcript()
        );
        assert!(response.contains("connection: close"), "{response:?}");
        assert!(close_notify, "round {round}: no close_notify");
    }
}

/// A successor that exits at once, then one that never becomes ready,
/// leaves the old process serving without losing a request; a later
/// signal with the real binary back in place hands over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_successor_leaves_the_old_process_serving() {
    let dir = TempDir::new("fail");
    let binary = dir.0.join("axum_server");
    std::fs::copy(interop::example_all_features("axum_server"), &binary).expect("copy");
    let deploy = |contents: &[u8]| {
        // As a deploy does: a new file renamed over the path.
        let tmp = binary.with_extension("new");
        std::fs::write(&tmp, contents).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::rename(&tmp, &binary).unwrap();
    };
    let real = std::fs::read(&binary).unwrap();
    let server = Server::start(&binary, dir, &["--restart-timeout-ms", "1500"]);
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let client = tokio::spawn(h1_client(server.addr, stop.clone(), Arc::clone(&tally)));
    tokio::time::sleep(Duration::from_millis(300)).await;

    deploy(b"#!/bin/sh\nexit 3\n");
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: failed", 1);
    });
    deploy(b"#!/bin/sh\nexec sleep 60\n");
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: failed", 2);
    });
    let before = tally.ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tally.ok.load(Ordering::SeqCst) > before,
        "the old process serves on"
    );
    deploy(&real);
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: handed over to pid", 1);
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let parked = client.await.unwrap();
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("summary:", 2);
    });
    drop(parked);
    let transcript = server.proc.transcript();
    let failed = server.lines("restart: failed");
    assert!(failed[0].contains("exited"), "{transcript}");
    assert!(failed[1].contains("not ready"), "{transcript}");
    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failures: {failures:#?}\n{transcript}");
    let reported: usize = server.summaries().iter().map(|(n, _)| n).sum();
    assert_eq!(
        reported,
        tally.connections.load(Ordering::SeqCst) as usize,
        "{transcript}"
    );
}

/// Socket activation as systemd does it (fd 3, `LISTEN_PID` = the server's
/// pid, set by a shell that then `exec`s the server), with `--listen` left
/// out; then bad input: a `LISTEN_PID` of another process (ignored, with a
/// warning), an fd 3 that is a file, and mismatched names (typed errors,
/// exit 2, no panic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activation_from_the_environment() {
    let binary = interop::example_all_features("axum_server");
    activated(&binary).await;
    bad_input(&binary);
}

/// The socket passed on stdin, moved to fd 3 by the shell.
async fn activated(binary: &Path) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=https; exec 3<&0 0</dev/null; exec "$0" "$@""#)
        .arg(binary)
        .args(["--cert", &certs::path("server.pem")])
        .args(["--key", &certs::path("server.key")])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(listener)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("sh");
    let (bytes, end) = raw_exchange(
        addr,
        "GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = tokio::task::block_in_place(|| child.wait_with_output()).expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        bytes.ends_with("hello") && end.is_ok(),
        "{bytes} {end:?}\n{stdout}"
    );
    assert!(
        stdout.contains("ready: pid") && stdout.contains("summary: "),
        "{stdout}"
    );
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bad_input(binary: &Path) {
    let run = |script: &str, extra: &[&str]| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(binary)
            .args(["--cert", &certs::path("server.pem")])
            .args(["--key", &certs::path("server.key")])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sh");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // An fd 3 that is a file.
    let (status, stderr, _) = run(
        r#"export LISTEN_PID=$$ LISTEN_FDS=1; exec 3</dev/null; exec "$0" "$@""#,
        &[],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a listening TCP socket"), "{stderr}");
    // Names that do not match the count.
    let (status, stderr, _) = run(
        r#"export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=a:b; exec 3</dev/null; exec "$0" "$@""#,
        &[],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("LISTEN_FDNAMES"), "{stderr}");
    // Another process's variables: ignored with a warning; without
    // --listen the server then says what it needs.
    let (status, stderr, _) = run(r#"export LISTEN_PID=1 LISTEN_FDS=1; exec "$0" "$@""#, &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("warning: LISTEN_PID=1") && stderr.contains("--listen"),
        "{stderr}"
    );
}

/// `systemd-socket-activate` (Debian's systemd package), where installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_socket_activate_where_installed() {
    let Ok(tool) = which("systemd-socket-activate") else {
        eprintln!("systemd-socket-activate is not installed: skipped");
        return;
    };
    let binary = interop::example_all_features("axum_server");
    let port = interop::free_port();
    let dir = TempDir::new("activate");
    let pid_file = dir.0.join("pid");
    let mut cmd = Command::new(tool);
    cmd.args(["-l", &format!("127.0.0.1:{port}")])
        .arg(&binary)
        .args(["--cert", &certs::path("server.pem")])
        .args(["--key", &certs::path("server.key")])
        .arg("--pid-file")
        .arg(&pid_file);
    let mut proc = Proc::spawn("systemd-socket-activate axum_server", cmd);
    proc.wait_line(Out::Stderr, WAIT, |l| l.starts_with("Listening on"))
        .unwrap_or_else(|| panic!("no Listening line\n{}", proc.transcript()));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The first connection makes it start the server.
    let (bytes, end) = raw_exchange(
        addr,
        "GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        bytes.ends_with("hello") && end.is_ok(),
        "{bytes} {end:?}\n{}",
        proc.transcript()
    );
    proc.wait_line(Out::Stdout, WAIT, |l| l.starts_with("ready: pid"))
        .unwrap_or_else(|| panic!("not ready\n{}", proc.transcript()));
    proc.terminate();
    assert!(
        proc.wait_exit(WAIT).is_some_and(|s| s.success()),
        "{}",
        proc.transcript()
    );
    assert!(
        proc.contains(Out::Stdout, "summary: connections="),
        "{}",
        proc.transcript()
    );
}

fn which(name: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

/// With `NOTIFY_SOCKET` set (as systemd does for `Type=notify`): `READY=1`
/// once serving; on SIGHUP `RELOADING=1` with `MONOTONIC_USEC`, then
/// `MAINPID=<new>` with `READY=1`; the successor's SIGTERM drain sends
/// `STOPPING=1` to the same socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_notifications() {
    let binary = interop::example_all_features("axum_server");
    let dir = TempDir::new("notify");
    let mut systemd = FakeSystemd::bind(dir.0.join("notify.sock"));
    let socket_path = systemd.path.clone();
    let server = Server::start_with(&binary, dir, &[], &[("NOTIFY_SOCKET", &socket_path)]);
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: handed over to pid", 1);
        server.wait_count("ready: pid", 2);
        server.signal("-TERM");
        server.wait_count("summary:", 2);
    });
    let messages = systemd.messages();
    let pids = server.pids();
    let transcript = server.proc.transcript();
    assert_eq!(
        messages.first().map(String::as_str),
        Some("READY=1\n"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("RELOADING=1\nMONOTONIC_USEC=")
            && messages[1]
                .trim_end()
                .rsplit('=')
                .next()
                .is_some_and(|n| n.parse::<u64>().is_ok()),
        "{messages:?}"
    );
    assert_eq!(
        messages[2],
        format!("MAINPID={}\nREADY=1\n", pids[1]),
        "{messages:?}\n{transcript}"
    );
    assert_eq!(
        messages.last().map(String::as_str),
        Some("STOPPING=1\n"),
        "{messages:?}"
    );
    assert_eq!(messages.len(), 4, "{messages:?}");
}

/// A SIGHUP during a handover starts no second one; a SIGTERM during a
/// handover drains as usual (the would-be successor is told to stop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_during_a_handover() {
    let dir = TempDir::new("during");
    let never_ready = dir.0.join("never-ready");
    std::fs::write(
        &never_ready,
        "#!/bin/sh\necho \"successor: pid $$\"\nexec sleep 60\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &never_ready,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let binary = interop::example_all_features("axum_server");
    // The example restarts the file now at its own path: a script that
    // never becomes ready, deployed over the copy it was started from.
    let copy = dir.0.join("axum_server");
    std::fs::copy(&binary, &copy).unwrap();
    let server = Server::start(&copy, dir, &["--restart-timeout-ms", "20000"]);
    std::fs::rename(&never_ready, &copy).unwrap();
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: started pid", 1);
        server.signal("-HUP");
        server.wait_count("restart: signal ignored", 1);
        server.signal("-TERM");
        server.wait_count("summary:", 1);
    });
    let transcript = server.proc.transcript();
    assert_eq!(
        server.lines("restart: started pid").len(),
        1,
        "{transcript}"
    );
    assert!(
        server.lines("restart: failed")[0].contains("stopping during the handover"),
        "{transcript}"
    );
    let mut server = server;
    assert!(
        server.proc.wait_exit(WAIT).is_some_and(|s| s.success()),
        "{transcript}"
    );
}

/// The other server examples share the flags and the handover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_and_grpc_servers_restart_too() {
    for name in ["hyper_server", "grpc_server"] {
        let binary = interop::example_all_features(name);
        let server = Server::start(&binary, TempDir::new(name), &[]);
        tokio::task::block_in_place(|| {
            server.signal("-HUP");
            server.wait_count("restart: handed over to pid", 1);
            server.wait_count("summary:", 1);
            server.signal("-TERM");
            server.wait_count("summary:", 2);
        });
        let pids = server.pids();
        assert_eq!(pids.len(), 2, "{}", server.proc.transcript());
        assert_ne!(pids[0], pids[1]);
    }
}

/// Starts a copy of `axum_server` in a directory of its own, then puts
/// `script` at the copy's path: the successor a SIGHUP starts is the
/// script (a restart runs the file now at the program's path).
fn start_with_successor(name: &str, script: &str, extra: &[&str], env: &[(&str, &Path)]) -> Server {
    let dir = TempDir::new(name);
    let copy = dir.0.join("axum_server");
    std::fs::copy(interop::example_all_features("axum_server"), &copy).expect("copy");
    let script_path = dir.0.join("successor");
    std::fs::write(&script_path, script).unwrap();
    std::fs::set_permissions(
        &script_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let server = Server::start_with(&copy, dir, extra, env);
    std::fs::rename(&script_path, &copy).unwrap();
    server
}

/// The pid in the first stdout line `prefix N`.
fn pid_after(server: &Server, prefix: &str) -> u32 {
    server.wait_count(prefix, 1);
    let line = &server.lines(prefix)[0];
    line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`: its
/// messages, read by a thread until `STOPPING=1` (or 30 s of silence).
struct FakeSystemd {
    path: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl FakeSystemd {
    fn bind(path: PathBuf) -> FakeSystemd {
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        socket.set_read_timeout(Some(WAIT)).unwrap();
        let messages = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let messages = Arc::clone(&messages);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.recv(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let stop = text.contains("STOPPING=1");
                    messages.lock().unwrap().push(text);
                    if stop {
                        return;
                    }
                }
            })
        };
        FakeSystemd {
            path,
            messages,
            reader: Some(reader),
        }
    }

    /// Every message, once `STOPPING=1` came (bounded by the read timeout).
    fn messages(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.messages.lock().unwrap().clone()
    }
}

/// Variables that pass a handover or systemd's sockets: none may reach a
/// child of a server.
const PASSING: &[&str] = &["LISTEN_", "GRACEFUL_TLS_", "NOTIFY_SOCKET="];

/// A handover with `TMPDIR` pointing at a fresh directory leaves it empty
/// (the readiness channel is a socket pair, not a path), and neither
/// generation passes a handover or systemd variable to its own children:
/// each runs `env` once serving (`--spawn-when-serving`), under a
/// `NOTIFY_SOCKET` as systemd sets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_leaves_no_path_and_no_variables() {
    let dir = TempDir::new("nopath");
    let tmp = dir.0.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut systemd = FakeSystemd::bind(dir.0.join("notify.sock"));
    let binary = interop::example_all_features("axum_server");
    let notify = systemd.path.clone();
    let server = Server::start_with(
        &binary,
        dir,
        &["--spawn-when-serving", "env"],
        &[("TMPDIR", &tmp), ("NOTIFY_SOCKET", &notify)],
    );
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: handed over to pid", 1);
        server.wait_count("ready: pid", 2);
        // Both generations' `env`.
        server.wait_count("PATH=", 2);
    });
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    let transcript = server.proc.transcript();
    assert!(left.is_empty(), "{left:?} in TMPDIR\n{transcript}");
    let env = server.proc.texts(Out::Stdout);
    let leaked: Vec<_> = env
        .iter()
        .filter(|l| PASSING.iter().any(|p| l.starts_with(p)))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}\n{transcript}");
    // The successor still notifies systemd itself (STOPPING=1 on SIGTERM).
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("summary:", 2);
    });
    let messages = systemd.messages();
    let pids = server.pids();
    assert!(
        messages.contains(&format!("MAINPID={}\nREADY=1\n", pids[1])),
        "{messages:?}"
    );
    assert_eq!(messages.last().map(String::as_str), Some("STOPPING=1\n"));
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{left:?} in TMPDIR");
}

/// A `READY=1` on the readiness channel from a process other than the
/// successor (here a child of the successor, which inherited the channel)
/// is ignored and reported: the old process keeps serving and does not
/// drain; the successor, never ready itself, is abandoned at the timeout.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_from_another_process_is_ignored() {
    let script = "#!/bin/bash\n\
        echo \"successor: pid $$\"\n\
        bash -c \"echo child: pid \\$\\$; printf 'READY=1\\n' >&$GRACEFUL_TLS_READY_FD\"\n\
        exec sleep 60\n";
    let server = start_with_successor(
        "foreign",
        script,
        &[
            "--restart-timeout-ms",
            "1500",
            "--restart-stop-grace-ms",
            "500",
        ],
        &[],
    );
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let client = tokio::spawn(h1_client(server.addr, stop.clone(), Arc::clone(&tally)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: ignored READY=1 from pid", 1);
    });
    let before = tally.ok.load(Ordering::SeqCst);
    tokio::task::block_in_place(|| server.wait_count("restart: failed", 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let transcript = server.proc.transcript();
    assert!(
        tally.ok.load(Ordering::SeqCst) > before,
        "the old process serves on\n{transcript}"
    );
    let successor = pid_after(&server, "successor: pid ");
    let child = pid_after(&server, "child: pid ");
    let ignored = &server.lines("restart: ignored READY=1 from pid")[0];
    assert_eq!(
        ignored,
        &format!("restart: ignored READY=1 from pid {child}, not the successor pid {successor}"),
        "{transcript}"
    );
    assert!(
        server.lines("restart: handed over").is_empty(),
        "{transcript}"
    );
    assert!(server.lines("drain: begun").is_empty(), "{transcript}");
    assert!(
        server.lines("restart: failed")[0].contains("not ready"),
        "{transcript}"
    );
    stop.cancel();
    let parked = client.await.unwrap();
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("summary:", 1);
    });
    drop(parked);
    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failures: {failures:#?}\n{transcript}");
}

/// The successor says `READY=1`, then dies half a second later (SIGKILL,
/// without accepting anything) while the old process drains: the old process accepts again
/// on the same socket, says so, tells systemd `MAINPID=` its own pid, and
/// its clients (keep-alive HTTP/1.1 and HTTP/2, reconnecting as the drain
/// tells them) lose no request. One report covers both rounds of
/// accepting. A later SIGHUP hands over to the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successor_dying_after_ready_loses_nothing() {
    let script = "#!/bin/bash\n\
        echo \"successor: pid $$\"\n\
        printf 'READY=1\\n' >&$GRACEFUL_TLS_READY_FD\n\
        sleep 0.5\n\
        kill -KILL $$\n";
    let dir = TempDir::new("lost-notify");
    let mut systemd = FakeSystemd::bind(dir.0.join("notify.sock"));
    let notify = systemd.path.clone();
    let server = start_with_successor("lost", script, &[], &[("NOTIFY_SOCKET", &notify)]);
    let addr = server.addr;
    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let mut clients = Vec::new();
    for i in 0..4 {
        let (stop, tally) = (stop.clone(), Arc::clone(&tally));
        clients.push(tokio::spawn(async move {
            if i < 2 {
                h1_client(addr, stop, tally).await
            } else {
                h2_client(addr, stop, tally).await
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::block_in_place(|| {
        server.signal("-HUP");
        server.wait_count("restart: handed over to pid", 1);
        server.wait_count("restart: successor pid", 1);
    });
    let resumed = tally.ok.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let transcript = server.proc.transcript();
    assert!(
        tally.ok.load(Ordering::SeqCst) > resumed,
        "served again\n{transcript}"
    );
    let successor = pid_after(&server, "successor: pid ");
    let lost = &server.lines("restart: successor pid")[0];
    assert!(
        lost.starts_with(&format!("restart: successor pid {successor} died"))
            && lost.ends_with("serving again"),
        "{transcript}"
    );
    stop.cancel();
    let mut parked = Vec::new();
    for client in clients {
        parked.push(client.await.unwrap());
    }
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("summary:", 1);
    });
    drop(parked);
    let transcript = server.proc.transcript();
    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failures: {failures:#?}\n{transcript}");
    // One process, one report: both rounds' connections.
    let summaries = server.summaries();
    assert_eq!(summaries.len(), 1, "{transcript}");
    assert_eq!(
        summaries[0].0,
        tally.connections.load(Ordering::SeqCst) as usize,
        "every connection of both rounds reported\n{transcript}"
    );
    let old = server.pids()[0];
    let messages = systemd.messages();
    let main_pids: Vec<_> = messages
        .iter()
        .filter(|m| m.starts_with("MAINPID="))
        .cloned()
        .collect();
    assert_eq!(
        main_pids,
        [
            format!("MAINPID={successor}\nREADY=1\n"),
            format!("MAINPID={old}\nREADY=1\n")
        ],
        "{messages:?}\n{transcript}"
    );
    let slowest = tally
        .latencies
        .lock()
        .unwrap()
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    println!(
        "figures: {} requests answered, slowest once sent {slowest:?} (new connections wait in the queue while nobody accepts), {} retried, {} connections, 0 lost",
        tally.ok.load(Ordering::SeqCst),
        tally.retried.load(Ordering::SeqCst),
        tally.connections.load(Ordering::SeqCst)
    );
}

/// A would-be successor that ignores SIGTERM, abandoned because the old
/// process is stopping (SIGTERM during the handover): it is killed after
/// the stop grace and reaped before `Handover::finished` resolves (the
/// example prints `restart: finished` then).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_successor_is_gone_when_finished() {
    let script = "#!/bin/sh\n\
        echo \"successor: pid $$\"\n\
        trap '' TERM\n\
        exec sleep 60\n";
    let server = start_with_successor(
        "abandoned",
        script,
        &[
            "--restart-timeout-ms",
            "20000",
            "--restart-stop-grace-ms",
            "500",
        ],
        &[],
    );
    let successor = tokio::task::block_in_place(|| {
        server.signal("-HUP");
        pid_after(&server, "successor: pid ")
    });
    let started = Instant::now();
    tokio::task::block_in_place(|| {
        server.signal("-TERM");
        server.wait_count("restart: finished", 1);
    });
    let alive = Path::new(&format!("/proc/{successor}")).exists();
    let transcript = server.proc.transcript();
    assert!(!alive, "successor {successor} still there\n{transcript}");
    assert_eq!(
        server.lines("restart: abandoned successor pid"),
        [format!(
            "restart: abandoned successor pid {successor} killed (SIGKILL)"
        )],
        "{transcript}"
    );
    println!(
        "figures: abandoned successor gone {:?} after SIGTERM (grace 500 ms)",
        started.elapsed()
    );
    let mut server = server;
    assert!(
        server.proc.wait_exit(WAIT).is_some_and(|s| s.success()),
        "{transcript}"
    );
}
