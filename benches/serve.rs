//! The serving path, side by side: the same axum `Router` served by
//! `graceful_tls::server::serve` and by the loop users write by hand
//! (tokio-rustls' acceptor, then hyper-util's auto builder, one task per
//! connection), and for the load cases also by that loop with `serve`'s
//! default timeouts and keep-alive pings (`hand-timed`); interleaved (who
//! goes first rotates), on loopback.
//!
//! `cargo bench --bench serve --all-features` (full) or
//! `... -- --quick`. Each server runs in a child process (this binary
//! re-executed with `--serve-child KIND`, tokio's multi-thread runtime),
//! so that its resident memory is its own; the load generator is in this
//! process, in Rust (hyper's client connections over tokio-rustls, one
//! request at a time per connection, keep-alive): no external tool. TLS 1.3
//! with ring. Method and figures: docs/serving-bench.md.
//!
//! Prints one line per figure and writes `target/bench/serve.json`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use graceful_tls_testkit::pairs::{self, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

#[path = "close/alloc.rs"]
mod alloc;
#[path = "serve/chart.rs"]
mod chart;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

const CHILD_ARG: &str = "--serve-child";

/// `--server-cpus LIST`: the CPUs the servers run on (`taskset -c LIST`);
/// start the bench itself with `taskset -c OTHERS` to keep the load
/// generator off them.
static SERVER_CPUS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
const SMALL: &[u8] = b"Hello, World!";
const BIG_LEN: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Graceful,
    Hand,
    /// The hand loop with the protections `serve` has on by default and
    /// the plain hand loop has not: a hyper timer (hyper-util's
    /// `TokioTimer`), HTTP/1.1's 30 s header read timeout, HTTP/2
    /// keep-alive pings every 60 s. Against it, the ratio shows what
    /// graceful-tls itself costs; against `Hand`, what the defaults cost as
    /// well (load cases only).
    HandTimed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Graceful => "graceful",
            Kind::Hand => "hand",
            Kind::HandTimed => "hand-timed",
        }
    }
}

fn app() -> axum::Router {
    use axum::routing::get;
    let big = Bytes::from(vec![b'x'; BIG_LEN]);
    axum::Router::new()
        .route("/", get(|| async { SMALL }))
        .route("/big", get(move || std::future::ready(big.clone())))
}

/// The server half: serves until stdin closes. Commands on stdin:
/// `count` opens a heap window, `heap` closes it and prints the live heap
/// bytes it gained and the allocation calls (`heap: N CALLS`).
fn child(kind: &str) {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Named threads, so that a profiler tells the two servers apart
    // (`perf report --sort comm`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(format!("{kind}-rt"))
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening: {}", listener.local_addr().expect("addr"));
        let stop = async {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match line.as_str() {
                    "count" => alloc::start(),
                    "heap" => {
                        let window = alloc::stop();
                        println!("heap: {} {}", window.live_bytes, window.calls)
                    }
                    _ => {}
                }
            }
        };
        let tls = pairs::server_config(Version::Tls13);
        match kind {
            "graceful" => {
                graceful_tls::server::serve(listener, tls, app())
                    .with_graceful_shutdown(stop)
                    .with_drain_timeout(Duration::from_secs(1))
                    .await;
            }
            _ => {
                tokio::select! {
                    () = stop => {}
                    () = serve_by_hand(listener, tls, kind == "hand-timed") => {}
                }
            }
        }
    });
}

/// What users write today: tokio-rustls' acceptor, hyper-util's auto
/// builder, a task per connection; `timed`: with `serve`'s default
/// timeouts and keep-alive pings ([`Kind::HandTimed`]).
async fn serve_by_hand(listener: TcpListener, tls: Arc<rustls::ServerConfig>, timed: bool) {
    let mut tls = (*tls).clone();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let service = hyper_util::service::TowerToHyperService::new(app());
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if timed {
        type Serve = graceful_tls::server::Serve<()>;
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Serve::DEFAULT_HEADER_READ_TIMEOUT);
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Serve::DEFAULT_KEEP_ALIVE_TIMEOUT);
    }
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (acceptor, service, builder) = (acceptor.clone(), service.clone(), builder.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
        });
    }
}

struct Child {
    process: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    addr: SocketAddr,
}

impl Child {
    async fn start(kind: Kind) -> Child {
        let exe = std::env::current_exe().expect("exe");
        // `--server-cpus LIST`: the server on those CPUs (`taskset -c`).
        let mut command = match SERVER_CPUS.get() {
            Some(cpus) => {
                let mut c = tokio::process::Command::new("taskset");
                c.arg("-c").arg(cpus).arg(exe);
                c
            }
            None => tokio::process::Command::new(exe),
        };
        let mut process = command
            .args([CHILD_ARG, kind.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let mut lines = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let line = lines.next_line().await.expect("read").expect("listening");
        let addr = line
            .strip_prefix("listening: ")
            .expect("listening line")
            .parse()
            .expect("addr");
        Child {
            process,
            lines,
            addr,
        }
    }

    async fn command(&mut self, command: &str) {
        let stdin = self.process.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("command");
        stdin.flush().await.expect("flush");
    }

    /// The live heap bytes gained since `count`.
    async fn heap(&mut self) -> i64 {
        self.command("heap").await;
        let line = self
            .lines
            .next_line()
            .await
            .expect("read")
            .expect("heap line");
        let figures = line.strip_prefix("heap: ").expect("heap");
        let bytes = figures.split(' ').next().expect("bytes");
        bytes.parse().expect("bytes")
    }

    /// CPU time the server process has used so far (all its threads, user
    /// and system), in nanoseconds: the sum of its threads'
    /// `/proc/PID/task/TID/schedstat` (nanosecond resolution).
    fn cpu_ns(&self) -> u64 {
        let pid = self.process.id().expect("pid");
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
        tasks
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
                stat.split(' ').next()?.parse::<u64>().ok()
            })
            .sum()
    }

    fn rss_kib(&self) -> u64 {
        let pid = self.process.id().expect("pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("VmRSS")
    }

    async fn stop(mut self) {
        drop(self.process.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.process.wait()).await;
    }
}

fn connector(alpn: &[u8], resume: bool) -> TlsConnector {
    let mut config = (*pairs::client_config(Version::Tls13)).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    if !resume {
        config.resumption = rustls::client::Resumption::disabled();
    }
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(addr: SocketAddr, connector: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let name = ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    proto: Proto,
    connections: usize,
    big: bool,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{} c={} {}",
            if self.proto == Proto::H1 {
                "http1"
            } else {
                "http2"
            },
            self.connections,
            if self.big { "256KiB" } else { "13B" }
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Server CPU time (all threads, user + system) per request, in µs.
    cpu_us: f64,
}

/// `case.connections` keep-alive connections, one request at a time each,
/// for `length`; requests per second, latency percentiles and the server's
/// CPU time per request.
async fn load(child: &Child, case: Case, length: Duration) -> Load {
    let addr = child.addr;
    let alpn: &[u8] = if case.proto == Proto::H1 {
        b"http/1.1"
    } else {
        b"h2"
    };
    let connector = connector(alpn, true);
    let path = if case.big { "/big" } else { "/" };
    let start = Arc::new(tokio::sync::Barrier::new(case.connections + 1));
    let mut tasks = Vec::new();
    for _ in 0..case.connections {
        let (connector, start) = (connector.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            let tls = tls_connect(addr, &connector).await;
            let io = TokioIo::new(tls);
            let mut sender = Sender::new(case.proto, io).await;
            // Warm the connection up.
            sender.get(path).await;
            start.wait().await;
            let begun = Instant::now();
            let mut latencies = Vec::with_capacity(1024);
            while begun.elapsed() < length {
                let sent = Instant::now();
                sender.get(path).await;
                latencies.push(sent.elapsed().as_micros() as u32);
            }
            latencies
        }));
    }
    start.wait().await;
    let begun = Instant::now();
    let cpu_before = child.cpu_ns();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client"));
    }
    let took = begun.elapsed();
    let cpu = child.cpu_ns() - cpu_before;
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)] as f64;
    Load {
        rps: all.len() as f64 / took.as_secs_f64(),
        p50_us: at(0.50),
        p99_us: at(0.99),
        cpu_us: cpu as f64 / 1e3 / all.len() as f64,
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn new(proto: Proto, io: TokioIo<TlsStream<TcpStream>>) -> Sender {
        match proto {
            Proto::H1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(io)
                    .await
                    .expect("http1");
                tokio::spawn(conn);
                Sender::H1(sender)
            }
            Proto::H2 => {
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .expect("http2");
                tokio::spawn(conn);
                Sender::H2(sender)
            }
        }
    }

    async fn get(&mut self, path: &str) {
        let request = hyper::Request::get(format!("https://localhost{path}"))
            .header("host", "localhost")
            .body(Empty::new())
            .expect("request");
        let response = match self {
            Sender::H1(sender) => {
                sender.ready().await.expect("ready");
                sender.send_request(request).await
            }
            Sender::H2(sender) => {
                sender.ready().await.expect("ready");
                sender.send_request(request).await
            }
        }
        .expect("response");
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.expect("body");
        let len = body.to_bytes().len();
        assert!(len == SMALL.len() || len == BIG_LEN, "{len}");
    }
}

/// New connections per second, each: TCP connect, TLS handshake (full, or
/// resumed from a ticket of the previous connection), one HTTP/1.1
/// request, close_notify. Returns the rate and the share resumed.
async fn connections_per_second(addr: SocketAddr, resume: bool, length: Duration) -> (f64, f64) {
    const LOOPS: usize = 16;
    let connector = connector(b"http/1.1", resume);
    let mut tasks = Vec::new();
    let begun = Instant::now();
    for _ in 0..LOOPS {
        let connector = connector.clone();
        tasks.push(tokio::spawn(async move {
            let (mut done, mut resumed) = (0u64, 0u64);
            while begun.elapsed() < length {
                let mut tls = tls_connect(addr, &connector).await;
                one_request(&mut tls).await;
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    resumed += 1;
                }
                let _ = tls.shutdown().await;
                done += 1;
            }
            (done, resumed)
        }));
    }
    let (mut done, mut resumed) = (0, 0);
    for task in tasks {
        let (d, r) = task.await.expect("loop");
        done += d;
        resumed += r;
    }
    let took = begun.elapsed().as_secs_f64();
    (done as f64 / took, resumed as f64 / done.max(1) as f64)
}

/// Resident memory per idle connection: `n` HTTP/1.1 connections that
/// each made one request and stay open, idle.
async fn rss_per_idle_connection(child: &mut Child, n: usize) -> (f64, f64) {
    let connector = connector(b"http/1.1", true);
    // Warm the server up, then measure from there.
    for _ in 0..64 {
        let mut tls = tls_connect(child.addr, &connector).await;
        one_request(&mut tls).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = child.rss_kib();
    child.command("count").await;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(128));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (connector, semaphore, addr) = (connector.clone(), semaphore.clone(), child.addr);
        tasks.push(tokio::spawn(async move {
            let permit = semaphore.acquire_owned().await.expect("permit");
            let mut tls = tls_connect(addr, &connector).await;
            one_request(&mut tls).await;
            drop(permit);
            tls
        }));
    }
    let mut idle = Vec::with_capacity(n);
    for task in tasks {
        idle.push(task.await.expect("idle client"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = child.rss_kib();
    let heap = child.heap().await;
    drop(idle);
    (
        (after.saturating_sub(before) as f64 * 1024.0) / n as f64,
        heap as f64 / n as f64,
    )
}

async fn one_request(tls: &mut TlsStream<TcpStream>) {
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(SMALL) {
        let n = tls.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_ARG) {
        return child(args.get(i + 1).map(String::as_str).unwrap_or("graceful"));
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only load|handshakes|memory`: one part of the run.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    if let Some(cpus) = args
        .iter()
        .position(|a| a == "--server-cpus")
        .and_then(|i| args.get(i + 1))
    {
        let _ = SERVER_CPUS.set(cpus.clone());
    }
    // `--case "http1 c=512 13B"`: one load case (with `--only load`).
    let only_case = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1).cloned());
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024) as usize;
    let (length, rounds, idle) = if quick {
        (Duration::from_secs(2), 1, 2_000)
    } else {
        (Duration::from_secs(3), 5, 10_000)
    };
    // `--rounds N`, `--seconds S`: how many interleaved rounds per case
    // (each round runs both servers once), and how long each run lasts.
    let number = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1)?.parse::<u64>().ok())
    };
    let rounds = number("--rounds").map_or(rounds, |n| n.max(1) as usize);
    let length = number("--seconds").map_or(length, |s| Duration::from_secs(s.max(1)));
    // `--idle N`: how many idle connections the memory figure holds.
    let idle = args
        .iter()
        .position(|a| a == "--idle")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(idle)
        .min(limit.saturating_sub(300));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // The chart's bars: (label, graceful ÷ hand).
    let (mut rps_bars, mut p99_bars, mut cpu_bars, mut other_bars) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut json = String::from("{\n  \"bench\": \"serve\",\n  \"load_generator\": \"in-process Rust (hyper client connections over tokio-rustls)\",\n");
    let _ = writeln!(json, "  \"quick\": {quick},\n  \"seconds_per_run\": {},\n  \"rounds\": {rounds},\n  \"cases\": [", length.as_secs());
    runtime.block_on(async {
        let mut cases = Vec::new();
        for proto in [Proto::H1, Proto::H2] {
            for connections in [64, 512] {
                for big in [false, true] {
                    cases.push(Case { proto, connections, big });
                }
            }
        }
        let mut first = true;
        let cases = cases
            .into_iter()
            .filter(|case| runs("load") && only_case.as_deref().is_none_or(|c| case.name() == c));
        for case in cases {
            let (mut graceful, mut hand, mut timed) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                // Who goes first rotates.
                let mut order = [Kind::Graceful, Kind::Hand, Kind::HandTimed];
                order.rotate_left(round % 3);
                for kind in order {
                    let child = Child::start(kind).await;
                    let figures = load(&child, case, length).await;
                    child.stop().await;
                    match kind {
                        Kind::Graceful => graceful.push(figures),
                        Kind::Hand => hand.push(figures),
                        Kind::HandTimed => timed.push(figures),
                    }
                }
            }
            let pick = |runs: &[Load], f: fn(&Load) -> f64| median(runs.iter().map(f).collect());
            // The ratio of each round's two runs, which ran back to back,
            // then the median over rounds: what disturbs this shared
            // machine for a while (another VM, a build) mostly hits both
            // runs of a round, or one round out of several, where a ratio
            // of the two sides' medians can pair a quiet run of one side
            // with a disturbed run of the other.
            let paired = |other: &[Load], f: fn(&Load) -> f64| {
                median(graceful.iter().zip(other).map(|(g, h)| f(g) / f(h)).collect())
            };
            let ratios = |other: &[Load]| Load {
                rps: paired(other, |l| l.rps),
                p50_us: paired(other, |l| l.p50_us),
                p99_us: paired(other, |l| l.p99_us),
                cpu_us: paired(other, |l| l.cpu_us),
            };
            let (ratio, vs_timed) = (ratios(&hand), ratios(&timed));
            let t = Load {
                rps: pick(&timed, |l| l.rps),
                p50_us: pick(&timed, |l| l.p50_us),
                p99_us: pick(&timed, |l| l.p99_us),
                cpu_us: pick(&timed, |l| l.cpu_us),
            };
            let (g, h) = (
                Load {
                    rps: pick(&graceful, |l| l.rps),
                    p50_us: pick(&graceful, |l| l.p50_us),
                    p99_us: pick(&graceful, |l| l.p99_us),
                    cpu_us: pick(&graceful, |l| l.cpu_us),
                },
                Load {
                    rps: pick(&hand, |l| l.rps),
                    p50_us: pick(&hand, |l| l.p50_us),
                    p99_us: pick(&hand, |l| l.p99_us),
                    cpu_us: pick(&hand, |l| l.cpu_us),
                },
            );
            println!(
                "serve {}: graceful rps={:.0} p50={:.0}us p99={:.0}us cpu={:.2}us/req | hand rps={:.0} p50={:.0}us p99={:.0}us cpu={:.2}us/req | ratio rps={:.3} p50={:.3} p99={:.3} cpu={:.3}",
                case.name(), g.rps, g.p50_us, g.p99_us, g.cpu_us, h.rps, h.p50_us, h.p99_us, h.cpu_us,
                ratio.rps, ratio.p50_us, ratio.p99_us, ratio.cpu_us
            );
            println!(
                "serve {} vs hand-timed: hand-timed rps={:.0} p50={:.0}us p99={:.0}us cpu={:.2}us/req | ratio rps={:.3} p50={:.3} p99={:.3} cpu={:.3}",
                case.name(), t.rps, t.p50_us, t.p99_us, t.cpu_us,
                vs_timed.rps, vs_timed.p50_us, vs_timed.p99_us, vs_timed.cpu_us
            );
            let _ = write!(
                json,
                "{}    {{\"case\": \"{}\", \"graceful\": {{\"rps\": {:.1}, \"p50_us\": {:.0}, \"p99_us\": {:.0}, \"cpu_us_per_request\": {:.3}}}, \"hand\": {{\"rps\": {:.1}, \"p50_us\": {:.0}, \"p99_us\": {:.0}, \"cpu_us_per_request\": {:.3}}}, \"rps_ratio\": {:.4}, \"p50_ratio\": {:.4}, \"p99_ratio\": {:.4}, \"cpu_ratio\": {:.4}, \"ratio_of_medians\": {{\"rps\": {:.4}, \"p99\": {:.4}, \"cpu\": {:.4}}}, \"hand_timed\": {{\"rps\": {:.1}, \"p50_us\": {:.0}, \"p99_us\": {:.0}, \"cpu_us_per_request\": {:.3}}}, \"vs_hand_timed\": {{\"rps_ratio\": {:.4}, \"p50_ratio\": {:.4}, \"p99_ratio\": {:.4}, \"cpu_ratio\": {:.4}}}}}",
                if first { "" } else { ",\n" },
                case.name(), g.rps, g.p50_us, g.p99_us, g.cpu_us, h.rps, h.p50_us, h.p99_us, h.cpu_us,
                ratio.rps, ratio.p50_us, ratio.p99_us, ratio.cpu_us,
                g.rps / h.rps, g.p99_us / h.p99_us, g.cpu_us / h.cpu_us,
                t.rps, t.p50_us, t.p99_us, t.cpu_us,
                vs_timed.rps, vs_timed.p50_us, vs_timed.p99_us, vs_timed.cpu_us
            );
            first = false;
            // Short: eight labels share a panel.
            let label = case
                .name()
                .replace("http", "h")
                .replace("c=", "")
                .replace("KiB", "K");
            rps_bars.push((label.clone(), ratio.rps));
            p99_bars.push((label.clone(), ratio.p99_us));
            cpu_bars.push((label, ratio.cpu_us));
        }
        json.push_str("\n  ],\n");
        for resume in [false, true].into_iter().filter(|_| runs("handshakes")) {
            let (mut graceful, mut hand, mut share) = (Vec::new(), Vec::new(), 0.0);
            for round in 0..rounds {
                let order = if round % 2 == 0 {
                    [Kind::Graceful, Kind::Hand]
                } else {
                    [Kind::Hand, Kind::Graceful]
                };
                for kind in order {
                    let child = Child::start(kind).await;
                    let (rate, resumed) = connections_per_second(child.addr, resume, length).await;
                    child.stop().await;
                    share = resumed;
                    match kind {
                        Kind::Graceful => graceful.push(rate),
                        Kind::Hand => hand.push(rate),
                        Kind::HandTimed => unreachable!("handshakes compare graceful and hand"),
                    }
                }
            }
            let ratio = median(graceful.iter().zip(&hand).map(|(g, h)| g / h).collect());
            let (g, h) = (median(graceful), median(hand));
            let name = if resume { "resumed" } else { "full" };
            other_bars.push((format!("conns {name}"), ratio));
            println!(
                "handshakes {name} (+1 request, close_notify): graceful {g:.0}/s | hand {h:.0}/s | ratio {ratio:.3} (resumed share {share:.2})"
            );
            let _ = writeln!(
                json,
                "  \"handshakes_{name}\": {{\"graceful_per_s\": {g:.1}, \"hand_per_s\": {h:.1}, \"ratio\": {ratio:.4}, \"resumed_share\": {share:.3}}},"
            );
        }
        if !runs("memory") {
            json.push_str("  \"idle_memory\": null\n}\n");
            return;
        }
        let (mut rss, mut heap) = (Vec::new(), Vec::new());
        for kind in [Kind::Graceful, Kind::Hand] {
            let mut child = Child::start(kind).await;
            let (r, h) = rss_per_idle_connection(&mut child, idle).await;
            child.stop().await;
            rss.push(r);
            heap.push(h);
        }
        println!(
            "memory: {idle} idle TLS connections (HTTP/1.1, one request each): resident graceful {:.0} B/conn | hand {:.0} B/conn | ratio {:.3}; live heap graceful {:.0} B/conn | hand {:.0} B/conn | ratio {:.3}",
            rss[0], rss[1], rss[0] / rss[1], heap[0], heap[1], heap[0] / heap[1]
        );
        let _ = write!(
            json,
            "  \"idle_memory\": {{\"connections\": {idle}, \"graceful_rss_bytes_per_conn\": {:.0}, \"hand_rss_bytes_per_conn\": {:.0}, \"rss_ratio\": {:.4}, \"graceful_heap_bytes_per_conn\": {:.0}, \"hand_heap_bytes_per_conn\": {:.0}, \"heap_ratio\": {:.4}}}\n}}\n",
            rss[0], rss[1], rss[0] / rss[1], heap[0], heap[1], heap[0] / heap[1]
        );
        other_bars.push(("idle RSS".into(), rss[0] / rss[1]));
        other_bars.push(("idle heap".into(), heap[0] / heap[1]));
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("serve.json");
    std::fs::write(&path, json).expect("write serve.json");
    println!("wrote {}", path.display());
    let panels: Vec<chart::Panel> = [
        ("requests per second (higher is better)", true, rps_bars),
        (
            "server CPU time per request (lower is better)",
            false,
            cpu_bars,
        ),
        ("p99 latency (lower is better)", false, p99_bars),
        (
            "new connections/s (higher is better), memory (lower is better)",
            true,
            other_bars,
        ),
    ]
    .into_iter()
    .filter(|(_, _, bars)| !bars.is_empty())
    .map(|(title, higher_is_better, bars)| chart::Panel {
        title: title.to_string(),
        higher_is_better,
        bars,
    })
    .collect();
    if panels.is_empty() {
        return;
    }
    let svg = dir.join("serve.svg");
    chart::render(&panels, &svg);
    println!("wrote {}", svg.display());
    // A full run (every part, every case) refreshes the README's chart.
    if !quick && only.is_none() && only_case.is_none() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve-bench.svg");
        std::fs::copy(&svg, &docs).expect("copy the chart to docs/serve-bench.svg");
        println!("wrote {}", docs.display());
    }
}
