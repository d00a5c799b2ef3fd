//! mass_close: N idle server connections, one parent token cancelled; how
//! long until every peer has seen the end of its connection, and how many
//! saw a truncation. Baseline: each connection `select!`s on its token and
//! drops the bare tokio-rustls stream. The crate: each connection's
//! `read_outcome` returns `Cancelled`, then `close()`.
//!
//! The peers stand in for remote clients, but here they share the server's
//! two cores. So in the main figure they answer each close_notify with their
//! own only once every peer has seen its end: their answers (and the server
//! reading them) still happen, after the clock stops, and no longer bill the
//! peers' CPU time to the server. A second graceful run has the peers answer
//! at once, to show what that sharing costs.
//!
//! The peers live in a child process (this binary, `--mass-close-peer ADDR
//! N`) so each process holds N sockets, not 2N. The child reports each peer's
//! verdict by rustls' state: `Ok(0)` is close_notify, `UnexpectedEof` a
//! truncation, anything else an error. The parent's clock stops when it reads
//! the child's `done` line.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, Config, GracefulStream, ReadOutcome};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::ChildStdout;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::timeout;

use crate::tls::{self, Server};

pub const PEER_ARG: &str = "--mass-close-peer";
const LIMIT: Duration = Duration::from_secs(120);

/// One run: milliseconds until every peer saw its end, the peers' verdicts,
/// and (graceful) the servers' close outcomes.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub ms: f64,
    pub clean: usize,
    pub truncated: usize,
    pub other: usize,
    pub outcomes: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, Default)]
pub struct Mass {
    pub connections: usize,
    pub bare: Vec<Run>,
    /// Peers answer once all have seen their end (the main figure).
    pub graceful: Vec<Run>,
    /// Peers answer each close_notify at once.
    pub graceful_answering: Vec<Run>,
}

/// One kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    Graceful,
    GracefulAnswering,
}

/// `wanted`, or fewer if the descriptor limit (raised to the hard limit)
/// cannot hold that many sockets plus a margin.
pub fn connections_that_fit(wanted: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024) as usize;
    let fit = limit.saturating_sub(200).min(wanted);
    if fit < wanted {
        eprintln!("mass_close: RLIMIT_NOFILE is {limit}: {fit} connections instead of {wanted}");
    }
    fit
}

pub async fn mass_close(connections: usize, rounds: usize) -> Mass {
    let mut mass = Mass {
        connections,
        ..Mass::default()
    };
    for round in 0..rounds {
        let mut variants = [Variant::Bare, Variant::Graceful, Variant::GracefulAnswering];
        variants.rotate_left(round % 3);
        for variant in variants {
            let result = run(variant, connections).await;
            match variant {
                Variant::Bare => mass.bare.push(result),
                Variant::Graceful => mass.graceful.push(result),
                Variant::GracefulAnswering => mass.graceful_answering.push(result),
            }
        }
    }
    mass
}

async fn run(variant: Variant, n: usize) -> Run {
    let answer = if variant == Variant::GracefulAnswering {
        "at-once"
    } else {
        "after-all"
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .args([PEER_ARG, &addr.to_string(), &n.to_string(), answer])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the peer process");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let token = CancellationToken::new();
    let acceptor = tls::acceptor();
    let ready = Arc::new(AtomicUsize::new(0));
    let mut conns = tokio::task::JoinSet::new();
    for _ in 0..n {
        let accepted = timeout(LIMIT, listener.accept()).await;
        let (tcp, _) = accepted.expect("accept in time").expect("accept");
        let (acceptor, token, ready) = (acceptor.clone(), token.child_token(), ready.clone());
        conns.spawn(async move {
            let tls = tls::accept(&acceptor, tcp).await.expect("server handshake");
            if variant == Variant::Bare {
                bare_conn(tls, token, &ready).await
            } else {
                graceful_conn(tls, token, &ready).await
            }
        });
    }
    expect_line(&mut lines, "ready").await;
    while ready.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Let every read reach Pending and the peers read their tickets.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    token.cancel();
    let done = expect_line(&mut lines, "done").await;
    let ms = start.elapsed().as_secs_f64() * 1e3;

    let mut result = Run {
        ms,
        ..Run::default()
    };
    for field in done.split_whitespace().skip(1) {
        let (key, value) = field.split_once('=').expect("key=value");
        let value = value.parse().expect("count");
        match key {
            "clean" => result.clean = value,
            "truncated" => result.truncated = value,
            _ => result.other += value,
        }
    }
    while let Some(outcome) = timeout(LIMIT, conns.join_next())
        .await
        .expect("servers end")
    {
        *result
            .outcomes
            .entry(outcome.expect("conn task"))
            .or_default() += 1;
    }
    let status = timeout(LIMIT, child.wait()).await.expect("peer exits");
    assert!(
        status.expect("peer status").success(),
        "peer process failed"
    );
    result
}

async fn expect_line(lines: &mut Lines<BufReader<ChildStdout>>, word: &str) -> String {
    let line = timeout(LIMIT, lines.next_line()).await;
    let line = line.expect("peer process answers in time").expect("read");
    let line = line.unwrap_or_else(|| panic!("peer process ended before `{word}`"));
    assert!(line.starts_with(word), "peer process said {line:?}");
    line
}

async fn graceful_conn(tls: Server, token: CancellationToken, ready: &AtomicUsize) -> &'static str {
    // Deferred answers arrive after every peer has read: allow for that.
    let config = Config::default().with_peer_close_timeout(LIMIT);
    let mut stream = GracefulStream::with_config(tls, token, config);
    ready.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 1024];
    // Plaintext is discarded; any end (Cancelled, here) goes on to close.
    while let Ok(ReadOutcome::Data(_)) = stream.read_outcome(&mut buf).await {}
    match stream.close().await {
        Ok(outcome) => outcome.as_str(),
        Err(_) => "error",
    }
}

async fn bare_conn(mut tls: Server, token: CancellationToken, ready: &AtomicUsize) -> &'static str {
    ready.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            _ = token.cancelled() => return "dropped",
            read = tls.read(&mut buf) => match read {
                Ok(n) if n > 0 => continue,
                _ => return "read-ended",
            },
        }
    }
}

/// The child process: connects `N` clients to `ADDR`, prints `ready`, reads
/// each to its end, prints `done clean=C truncated=T other=E` once all have
/// ended, and answers every close_notify with its own: `at-once`, or
/// `after-all` have ended.
pub fn peer_main(args: &[String]) {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("mass_close peer process: {info}");
        std::process::exit(1);
    }));
    let addr: SocketAddr = args[0].parse().expect("ADDR");
    let n: usize = args[1].parse().expect("N");
    let at_once = args[2] == "at-once";
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let connector = tls::connector();
        let handshakes = Arc::new(Semaphore::new(64));
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let (verdict_tx, mut verdict_rx) = mpsc::unbounded_channel();
        let (all_ended, all_ended_rx) = watch::channel(at_once);
        let mut peers = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (connector, handshakes) = (connector.clone(), handshakes.clone());
            let (ready_tx, verdict_tx) = (ready_tx.clone(), verdict_tx.clone());
            let mut all_ended = all_ended_rx.clone();
            peers.spawn(async move {
                let permit = handshakes.acquire().await.expect("semaphore");
                let mut tls = tls::connect(&connector, addr).await.expect("peer connect");
                drop(permit);
                let _ = ready_tx.send(());
                let mut buf = [0u8; 1024];
                let verdict = loop {
                    match tls.read(&mut buf).await {
                        Ok(0) => break "clean",
                        Ok(_) => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            break "truncated"
                        }
                        Err(_) => break "other",
                    }
                };
                let _ = verdict_tx.send(verdict);
                let _ = all_ended.wait_for(|ended| *ended).await;
                if verdict == "clean" {
                    let _ = tls.shutdown().await;
                }
            });
        }
        for _ in 0..n {
            ready_rx.recv().await.expect("peer ready");
        }
        say("ready");
        let mut counts = BTreeMap::from([("clean", 0), ("truncated", 0), ("other", 0)]);
        for _ in 0..n {
            *counts
                .entry(verdict_rx.recv().await.expect("verdict"))
                .or_default() += 1;
        }
        say(&format!(
            "done clean={} truncated={} other={}",
            counts["clean"], counts["truncated"], counts["other"]
        ));
        let _ = all_ended.send(true);
        while peers.join_next().await.is_some() {}
    });
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}
