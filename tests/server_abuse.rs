//! `graceful_tls::server::serve` against abuse, over loopback TCP: accept
//! errors (out of descriptors, in a child process with a low
//! `RLIMIT_NOFILE`), the connection and handshake limits, slow and idle
//! HTTP/1.1 clients, HTTP/2 peers that stop answering pings, and many idle
//! connections at drain time. Timeouts are checked on tokio's paused clock
//! (it advances when every task waits, real sockets included); the tests
//! that need real time have generous bounds, and their verdicts come from
//! the clients' own reads and the `DrainReport`.

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::pairs;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use graceful_tls::server::Serve;
use graceful_tls::{CancellationToken, Config, Cut, DrainReport};
use pairs::{peer_read_to_end, PeerSaw, Tls, Version};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

type App = Serve<hyper_util::service::TowerToHyperService<axum::Router>>;

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    report: JoinHandle<DrainReport>,
}

async fn start(tune: impl FnOnce(App) -> App) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let serve = graceful_tls::server::serve(
        listener,
        pairs::server_config(Version::Tls13),
        axum_app::app(|| false),
    )
    .with_close_config(Config::default().with_flush_timeout(Duration::from_secs(1)))
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    Server {
        addr,
        shutdown,
        report: tokio::spawn(tune(serve).into_future()),
    }
}

impl Server {
    async fn drain(self) -> DrainReport {
        self.shutdown.cancel();
        self.report.await.expect("serve task")
    }
}

async fn send(tls: &mut Tls<TcpStream>, bytes: &[u8]) {
    tls.write_all(bytes).await.expect("send");
    tls.flush().await.expect("flush");
}

/// `future`, or a failure (not a hang) when `limit` passes first.
async fn within<F: std::future::Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .expect("timed out: the server did not end the connection")
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n";

/// Reads one response to `GET /` (the app answers `hello`).
async fn read_hello(tls: &mut Tls<TcpStream>) {
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
    assert!(bytes.starts_with(b"HTTP/1.1 200 OK"));
}

/// Slowloris: a client that sends part of its request head and then a
/// byte every second is cut at the header read timeout (30 s by default),
/// with close_notify, not a bare FIN; a complete head was never answered.
#[tokio::test(start_paused = true)]
async fn slow_head_is_cut_at_the_header_read_timeout_with_close_notify() {
    let server = start(|serve| serve).await;
    assert_eq!(
        Serve::<()>::DEFAULT_HEADER_READ_TIMEOUT,
        Duration::from_secs(30)
    );
    let mut stalled = pairs::connect_alpn(server.addr, b"http/1.1").await;
    let mut trickling = pairs::connect_alpn(server.addr, b"http/1.1").await;
    let began = Instant::now();
    send(&mut stalled, b"GET / HTTP/1.1\r\nhost: loc").await;
    let trickle = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nhost: localhost\r\nx-slow: "
            .iter()
            .cycle()
        {
            if trickling.write_all(&[*byte]).await.is_err() || trickling.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tokio::time::Instant::now() - began > Duration::from_secs(31) {
                break;
            }
        }
        peer_read_to_end(&mut trickling).await
    });
    let saw = peer_read_to_end(&mut stalled).await;
    assert!(
        began.elapsed() >= Duration::from_secs(30),
        "{:?}",
        began.elapsed()
    );
    assert!(
        matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{saw:?}"
    );
    let saw = within(Duration::from_secs(60), trickle)
        .await
        .expect("trickling client");
    assert!(
        matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{saw:?}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(35),
        "{:?}",
        began.elapsed()
    );
    let report = server.drain().await;
    assert_eq!(report.connections.len(), 0, "{report}");
}

/// An HTTP/1.1 keep-alive connection left idle after a response closes at
/// the keep-alive timeout, with close_notify; a shorter header read
/// timeout would have closed it sooner, a longer one does not keep it.
#[tokio::test(start_paused = true)]
async fn idle_keep_alive_closes_at_the_keep_alive_timeout() {
    let server = start(|serve| serve.with_keep_alive_timeout(Duration::from_secs(5))).await;
    let mut client = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut client, GET).await;
    read_hello(&mut client).await;
    let idle_from = Instant::now();
    let saw = within(Duration::from_secs(60), peer_read_to_end(&mut client)).await;
    let idle = idle_from.elapsed();
    assert!(
        matches!(&saw, PeerSaw::CloseNotify(rest) if rest.is_empty()),
        "{saw:?}"
    );
    assert!(
        idle >= Duration::from_secs(5) && idle < Duration::from_secs(6),
        "{idle:?}"
    );
    server.drain().await;
}

/// HTTP/2: a peer that stops reading (it never answers the server's
/// keep-alive pings) is ended within the keep-alive timeout plus hyper's
/// 20 s ping timeout; it still gets close_notify.
#[tokio::test(start_paused = true)]
async fn http2_peer_that_never_answers_pings_is_ended() {
    let server = start(|serve| serve.with_keep_alive_timeout(Duration::from_secs(5))).await;
    let mut client = pairs::connect_alpn(server.addr, b"h2").await;
    // The preface and an empty SETTINGS frame; then silence.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    send(&mut client, &hello).await;
    let began = Instant::now();
    // Reading does not answer the pings: this client never writes again.
    let saw = within(Duration::from_secs(120), peer_read_to_end(&mut client)).await;
    let lasted = began.elapsed();
    assert!(matches!(&saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    assert!(
        lasted >= Duration::from_secs(20) && lasted <= Duration::from_secs(26),
        "{lasted:?}"
    );
    // An HTTP/2 connection (ALPN h2) that never sent a request: hyper's
    // ping timeout, named as such.
    let report = server.drain().await;
    assert_eq!(report.cuts(Cut::PingTimeout), 1, "{report}");
}

/// The handshake limit: while one client stalls its handshake, a second is
/// not even accepted; it is served as soon as the first one's handshake
/// times out (10 s).
#[tokio::test(start_paused = true)]
async fn at_the_handshake_limit_accepting_waits() {
    let server = start(|serve| serve.with_max_handshakes(1)).await;
    second_client_waits_for_the_stalled_handshake(server.addr).await;
    let report = server.drain().await;
    assert_eq!(report.connections.len(), 1, "{report}");
}

/// With a handshake limit of 1 and a 10 s handshake timeout at `addr`: a
/// client that stalls its handshake holds off a second one, which is
/// served once the first one's handshake timed out (paused clock).
async fn second_client_waits_for_the_stalled_handshake(addr: SocketAddr) {
    let began = Instant::now();
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    // Let the server accept it first.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut client = within(
        Duration::from_secs(60),
        pairs::connect_alpn(addr, b"http/1.1"),
    )
    .await;
    let handshaken = began.elapsed();
    assert!(handshaken >= Duration::from_secs(10), "{handshaken:?}");
    send(&mut client, GET).await;
    read_hello(&mut client).await;
    let mut rest = Vec::new();
    let _ = stalled.read_to_end(&mut rest).await;
}

/// The same limit on `GracefulListener` (axum's own `serve`): the second
/// client is served only once the stalled one's handshake timed out.
#[tokio::test(start_paused = true)]
async fn graceful_listener_at_the_handshake_limit_accepting_waits() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let listener =
        graceful_tls::server::GracefulListener::new(tcp, pairs::server_config(Version::Tls13))
            .with_max_handshakes(1)
            .with_handshake_timeout(Duration::from_secs(10));
    assert_eq!(listener.accept_errors(), 0);
    let server = tokio::spawn(axum::serve(listener, axum_app::app(|| false)).into_future());
    second_client_waits_for_the_stalled_handshake(addr).await;
    server.abort();
}

/// The connection limit (real time): with one connection served, a second
/// client's handshake does not complete (it waits in the kernel's queue,
/// not accepted); when the first leaves, the second is served. Nothing is
/// refused or dropped.
#[tokio::test]
async fn at_the_connection_limit_accepting_waits() {
    let server = start(|serve| serve.with_max_connections(1)).await;
    let mut first = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut first, GET).await;
    read_hello(&mut first).await;
    let addr = server.addr;
    let second = tokio::spawn(async move {
        let mut second = pairs::connect_alpn(addr, b"http/1.1").await;
        send(&mut second, GET).await;
        read_hello(&mut second).await;
        second
    });
    // Not a timing verdict: whatever the delay, the second must wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "a second connection was served");
    // The first is still served meanwhile.
    send(&mut first, GET).await;
    read_hello(&mut first).await;
    first.shutdown().await.expect("close_notify");
    let saw = peer_read_to_end(&mut first).await;
    assert!(matches!(&saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    drop(first);
    let mut second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the second connection is served once the first left")
        .expect("second client");
    send(&mut second, GET).await;
    read_hello(&mut second).await;
    let report = server.drain().await;
    assert_eq!(report.connections.len(), 1, "{report}");
    assert_eq!(report.accept_errors, 0);
}

/// Many idle connections at drain time (1,000, or fewer if the descriptor
/// limit is lower; the benchmark does 10,000): every one gets
/// close_notify, the drain holds its bound, nothing is forced.
#[tokio::test]
async fn many_idle_connections_all_get_close_notify_within_the_bound() {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // Two descriptors a connection (client and server), and room to spare.
    let count = 1_000.min(limit.saturating_sub(200) / 2) as usize;
    assert!(count >= 100, "descriptor limit too low: {limit}");
    let drain_timeout = Duration::from_secs(10);
    let server = start(|serve| serve.with_drain_timeout(drain_timeout)).await;
    let mut clients = Vec::new();
    for i in 0..count {
        let addr = server.addr;
        let alpn: &[u8] = if i % 2 == 0 { b"http/1.1" } else { b"h2" };
        let mut client = pairs::connect_alpn(addr, alpn).await;
        if i % 2 == 0 {
            send(&mut client, GET).await;
            read_hello(&mut client).await;
        }
        clients.push(tokio::spawn(async move {
            let saw = peer_read_to_end(&mut client).await;
            let _ = client.shutdown().await;
            saw
        }));
    }
    let began = std::time::Instant::now();
    let report = server.drain().await;
    let took = began.elapsed();
    for client in clients {
        let saw = client.await.expect("client");
        assert!(matches!(&saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    }
    assert_eq!(report.connections.len(), count, "{report}");
    assert_eq!(report.forced(), 0, "{report}");
    assert!(
        took < drain_timeout + Duration::from_secs(1) + Duration::from_secs(5),
        "{took:?}"
    );
}

const CHILD: &str = "GRACEFUL_TLS_ACCEPT_ERRORS_CHILD";
/// The child's descriptor limit: a handful for the runtime and stdio, the
/// rest for connections.
const CHILD_NOFILE: u64 = 64;

/// Out of descriptors (real time, a child process with `RLIMIT_NOFILE` 64
/// and 150 clients): the server keeps serving what it accepted, does not
/// spin on `EMFILE` (its CPU time while saturated stays low), counts the
/// errors in its report, and answers a new client once the others left.
#[tokio::test]
async fn out_of_descriptors_backs_off_and_serves_again() {
    let exe = std::env::current_exe().expect("exe");
    let mut child = tokio::process::Command::new(exe)
        .args(["--exact", "accept_errors_child", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("child");
    let pid = child.id().expect("pid");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("child output");
        if let Some(addr) = line.strip_prefix("listening: ") {
            break addr.parse().expect("address");
        }
    };
    let mut clients = Vec::new();
    for _ in 0..150 {
        clients.push(tokio::spawn(async move {
            let mut client = pairs::connect_alpn(addr, b"http/1.1").await;
            send(&mut client, GET).await;
            read_hello(&mut client).await;
            // Hold the connection.
            std::future::pending::<()>().await;
        }));
    }
    // Saturated: more clients than descriptors.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let served = clients.iter().filter(|c| !c.is_finished()).count();
    assert_eq!(served, 150, "a client failed");
    let cpu_before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = cpu_ticks(pid) - cpu_before;
    eprintln!("server CPU while saturated: {cpu} ticks in 2 s");
    // USER_HZ is 100: 2 s of spinning would be 200 ticks.
    assert!(
        cpu < 40,
        "the server used {cpu} ticks of CPU in 2 s while saturated"
    );
    for client in &clients {
        client.abort();
    }
    for client in clients {
        let _ = client.await;
    }
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        let mut client = pairs::connect_alpn(addr, b"http/1.1").await;
        send(&mut client, GET).await;
        read_hello(&mut client).await;
    })
    .await;
    assert!(answered.is_ok(), "no answer once the clients left");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"stop\n").await.expect("stop");
    let mut errors = None;
    while let Some(line) = lines.next_line().await.expect("read") {
        if let Some(n) = line.strip_prefix("accept-errors: ") {
            errors = Some(n.parse::<u64>().expect("count"));
        }
        if let Some(summary) = line.strip_prefix("summary: ") {
            assert!(summary.contains(" accept-errors="), "{summary}");
        }
    }
    let status = child.wait().await.expect("child exit");
    assert!(status.success(), "{status}");
    let errors = errors.expect("the child reported");
    eprintln!("accept errors {errors}");
    assert!(errors > 0, "no accept error counted");
    // Backed off: at most ten a second (plus the per-connection retries).
    assert!(errors < 200, "{errors} accept errors: no back-off?");
}

/// utime + stime of process `pid`, in clock ticks (USER_HZ).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    // Fields 14 and 15 of stat(5), the 12th and 13th after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The server half of `out_of_descriptors_backs_off_and_serves_again`:
/// serves with a low descriptor limit until a line arrives on stdin, then
/// prints its report.
#[test]
#[ignore = "run by out_of_descriptors_backs_off_and_serves_again, in a child process"]
fn accept_errors_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    rlimit::setrlimit(rlimit::Resource::NOFILE, CHILD_NOFILE, hard).expect("setrlimit");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening: {}", listener.local_addr().expect("addr"));
        let stop = async {
            let mut line = String::new();
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let _ = stdin.read_line(&mut line).await;
        };
        let report = graceful_tls::server::serve(
            listener,
            pairs::server_config(Version::Tls13),
            axum_app::app(|| false),
        )
        .with_drain_timeout(Duration::from_secs(2))
        .with_graceful_shutdown(stop)
        .await;
        println!("summary: {report}");
        println!("accept-errors: {}", report.accept_errors);
    });
}

/// `Serve::on_end` sees every connection once, whenever and however it
/// ended: one cut by the header read timeout before the drain, one the
/// client closed, one the drain closed. The drain report still lists only
/// the connection live when the drain began, exactly as the hook saw it.
#[tokio::test(start_paused = true)]
async fn on_end_reports_every_connection_once() {
    use graceful_tls::ConnectionReport;
    use std::sync::{Arc, Mutex};

    let seen: Arc<Mutex<Vec<ConnectionReport>>> = Arc::default();
    let hook = seen.clone();
    let server = start(move |serve| {
        serve
            .with_header_read_timeout(Duration::from_secs(5))
            .on_end(move |conn| hook.lock().unwrap().push(conn.clone()))
    })
    .await;
    let seen_count = |n: usize| {
        let seen = seen.clone();
        within(Duration::from_secs(60), async move {
            while seen.lock().unwrap().len() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // Silent after its handshake: cut at the header read timeout.
    let mut silent = pairs::connect_alpn(server.addr, b"http/1.1").await;
    let saw = within(Duration::from_secs(60), peer_read_to_end(&mut silent)).await;
    assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    seen_count(1).await;

    // Served, then closed by the client (close_notify first).
    let mut leaving = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut leaving, GET).await;
    read_hello(&mut leaving).await;
    leaving.shutdown().await.expect("client close_notify");
    let saw = within(Duration::from_secs(60), peer_read_to_end(&mut leaving)).await;
    assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    seen_count(2).await;

    // Served, idle when the drain begins.
    let mut drained = pairs::connect_alpn(server.addr, b"http/1.1").await;
    send(&mut drained, GET).await;
    read_hello(&mut drained).await;
    let closing = tokio::spawn(async move { peer_read_to_end(&mut drained).await });
    let report = within(Duration::from_secs(60), server.drain()).await;
    let saw = closing.await.expect("client task");
    assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");

    // The drain returned after the hook saw its connection: no wait.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    let mut ids: Vec<u64> = seen.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each connection once: {seen:#?}");
    assert_eq!(
        seen[0].cut,
        Some(graceful_tls::Cut::HeaderTimeout),
        "{seen:#?}"
    );
    assert_eq!(seen[1].cut, None, "{seen:#?}");
    assert_eq!(report.connections.len(), 1, "{report:?}");
    assert_eq!(report.connections[0].to_string(), seen[2].to_string());
    assert_eq!(report.connections[0].id, seen[2].id);
    // The cut before the drain is still counted, as before.
    assert_eq!(
        report.cut_counts.get(&graceful_tls::Cut::HeaderTimeout),
        Some(&1),
        "{report:?}"
    );
}

/// A hook that panics on every call poisons nothing and loses no report:
/// the connections it panicked on still end normally and are in the drain
/// report, and later connections are still reported to it.
#[tokio::test(start_paused = true)]
async fn on_end_hook_that_panics_loses_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = start(move |serve| {
        serve.on_end(move |conn| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("a hook that panics (on connection {})", conn.id);
        })
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = pairs::connect_alpn(server.addr, b"http/1.1").await;
        send(&mut client, GET).await;
        read_hello(&mut client).await;
        clients.push(tokio::spawn(
            async move { peer_read_to_end(&mut client).await },
        ));
    }
    let report = within(Duration::from_secs(60), server.drain()).await;
    for client in clients {
        let saw = client.await.expect("client task");
        assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(report.connections.len(), 2, "{report:?}");
    assert!(
        report.connections.iter().all(|c| !c.panicked),
        "the hook's panic is not the handler's: {report:?}"
    );
}

/// The limits read back as set, and their defaults are the documented ones.
#[tokio::test]
async fn the_limits_read_back_as_set() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let serve = graceful_tls::server::serve(
        listener,
        pairs::server_config(Version::Tls13),
        axum_app::app(|| false),
    );
    assert_eq!(serve.max_connections(), 10_000);
    assert_eq!(serve.max_handshakes(), 1_024);
    assert_eq!(serve.header_read_timeout(), Duration::from_secs(30));
    assert_eq!(serve.keep_alive_timeout(), Duration::from_secs(60));
    assert_eq!(serve.first_request_grace(), Duration::from_secs(1));
    let serve = serve
        .with_max_connections(7)
        .with_max_handshakes(3)
        .with_header_read_timeout(Duration::from_secs(4))
        .with_keep_alive_timeout(Duration::from_secs(9))
        .with_first_request_grace(Duration::from_millis(1500));
    assert_eq!(serve.max_connections(), 7);
    assert_eq!(serve.max_handshakes(), 3);
    assert_eq!(serve.header_read_timeout(), Duration::from_secs(4));
    assert_eq!(serve.keep_alive_timeout(), Duration::from_secs(9));
    assert_eq!(serve.first_request_grace(), Duration::from_millis(1500));
}
