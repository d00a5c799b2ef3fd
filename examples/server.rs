//! A TLS server that drains its connections gracefully and reports how each
//! one ended.
//!
//! ```text
//! cargo run --features signals --example server -- --listen 127.0.0.1:4433 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key --reply hi
//! ```
//!
//! It prints, one line each and flushed at once:
//!
//! ```text
//! listening: 127.0.0.1:4433
//! conn 1: handshake: Tls13
//! conn 1: read: data 6
//! conn 1: read: close-notify          (or abrupt-eof, cancelled, error: <message>)
//! conn 1: close: peer-closed-first    (or another CloseOutcome, or error: <message>)
//! drain: begun, timeout 5000 ms, 3 live
//! conn 2: close: flush-timeout (forced)
//! summary: connections=3 forced=1 flush-timeout=1 peer-closed-first=1 peer-confirmed=1
//! ```
//!
//! Every connection runs in a [`ConnectionSet`]. SIGINT or SIGTERM drains it
//! (`--drain-timeout-ms`, default 5000): each connection's pending read ends
//! with `cancelled`, it sends close_notify and waits (bounded) for the
//! peer's; at the deadline whatever is left is forced (handler dropped,
//! close_notify sent without waiting, bounded by the flush timeout). A
//! second signal aborts: everything is forced at once.
//!
//! Try it against OpenSSL (`-state` lines go to s_client's stderr):
//!
//! ```text
//! openssl s_client -connect 127.0.0.1:4433 -servername localhost \
//!     -CAfile testkit/certs/ca.pem -state -ign_eof
//! ```

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::{
    ConnectionSet, DrainReport, Ended, GracefulStream, ReadOutcome, ShutdownSignal, Signals,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "\
usage: server --listen ADDR --cert CERT.pem --key KEY.pem [options]

  --listen ADDR                address to bind, e.g. 127.0.0.1:4433 (port 0: any)
  --cert CERT.pem              certificate chain (PEM)
  --key KEY.pem                private key (PEM)
  --reply TEXT                 write TEXT and a newline to each client after
                               the handshake
  --close-after-ms N           start a graceful close of each connection N ms
                               after its handshake
  --max-conns N                accept N connections, then exit once all ended
  --drain-timeout-ms N         on SIGINT/SIGTERM, let connections close for N ms
                               before forcing them (default 5000); a second
                               signal forces them at once
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2 (default: rustls defaults)
  -h, --help                   print this help

Prints `listening: ADDR`, then per connection `conn ID: handshake: VERSION`,
`conn ID: read: data N`, `conn ID: read: TERMINAL` and `conn ID: close:
OUTCOME`; connections forced by the drain deadline print `conn ID: close:
OUTCOME (forced)`. On SIGINT/SIGTERM (or after --max-conns connections ended)
it prints `summary: connections=N [forced=K] OUTCOME=COUNT...` (close
outcomes; `tls-error`/`transport-error` for failed closes, `handshake-failed`,
`handshake-cancelled`) and exits 0.";

#[derive(Debug, Default)]
struct Args {
    listen: String,
    cert: String,
    key: String,
    reply: Option<String>,
    close_after: Option<Duration>,
    max_conns: Option<u64>,
    drain_timeout: Duration,
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let mut parsed = Args {
        drain_timeout: Duration::from_secs(5),
        ..Args::default()
    };
    let (mut listen, mut cert, mut key) = (None, None, None);
    while let Some(flag) = flags.next_flag() {
        if parsed.tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--listen" => listen = Some(flags.value(&flag)?),
            "--cert" => cert = Some(flags.value(&flag)?),
            "--key" => key = Some(flags.value(&flag)?),
            "--reply" => parsed.reply = Some(flags.value(&flag)?),
            "--close-after-ms" => parsed.close_after = Some(flags.millis(&flag)?),
            "--drain-timeout-ms" => parsed.drain_timeout = flags.millis(&flag)?,
            "--max-conns" => match flags.number(&flag)? {
                0 => return Err(ArgsError::Bad("--max-conns must be at least 1".into())),
                n => parsed.max_conns = Some(n),
            },
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    parsed.listen = common::required(listen, "--listen")?;
    parsed.cert = common::required(cert, "--cert")?;
    parsed.key = common::required(key, "--key")?;
    Ok(parsed)
}

/// How the connections ended that closed themselves (the drain's report
/// adds the ones it forced), and how many did.
#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<&'static str, u64>,
    ended: u64,
}

/// Everything a connection needs, shared by all connections.
struct Shared {
    reply: Option<String>,
    close_after: Option<Duration>,
    tally: Mutex<Tally>,
    /// Bumped whenever a connection ends, so `main` can wait for all.
    ended: watch::Sender<u64>,
}

impl Shared {
    fn record(&self, name: &'static str) {
        let mut tally = self.tally.lock().unwrap();
        *tally.outcomes.entry(name).or_default() += 1;
        tally.ended += 1;
        self.ended.send_replace(tally.ended);
    }
}

/// Serves one connection: optional reply, read until the peer ends, the
/// connection's --close-after-ms timer fires or the drain begins; then
/// close and report.
async fn serve(
    id: u64,
    stream: &mut GracefulStream<TlsStream<TcpStream>>,
    signal: ShutdownSignal,
    shared: Arc<Shared>,
) {
    match stream.protocol_version() {
        Some(version) => say!("conn {id}: handshake: {version:?}"),
        None => say!("conn {id}: handshake: unknown"),
    }
    if let Some(reply) = &shared.reply {
        let result = async {
            stream.write_all(format!("{reply}\n").as_bytes()).await?;
            stream.flush().await
        }
        .await;
        if let Err(e) = result {
            eprintln!("server: conn {id}: write failed: {e}");
        }
    }

    // Both the timer and the drain cancel this connection's own token: the
    // pending read ends with `cancelled` (read_outcome is cancellation safe,
    // so racing it loses nothing), and we close.
    let mut close_timer = pin!(async {
        match shared.close_after {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
    });
    let token = stream.token().clone();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let result = tokio::select! {
            result = stream.read_outcome(&mut buf) => result,
            () = &mut close_timer, if !token.is_cancelled() => {
                token.cancel();
                continue;
            }
            () = signal.begun(), if !token.is_cancelled() => {
                token.cancel();
                continue;
            }
        };
        match result {
            Ok(ReadOutcome::Data(n)) => say!("conn {id}: read: data {n}"),
            Ok(outcome) => {
                say!("conn {id}: read: {outcome}");
                break;
            }
            Err(e) => {
                say!("conn {id}: read: error: {}", common::chain(&e));
                break;
            }
        }
    }

    let ended = match stream.close().await {
        Ok(outcome) => {
            say!("conn {id}: close: {outcome}");
            Ended::Closed(outcome)
        }
        Err(e) => {
            say!("conn {id}: close: error: {}", common::chain(&e));
            Ended::Failed(e)
        }
    };
    shared.record(ended.as_str());
}

/// Registers an accepted TCP connection: handshake and `serve` run in the
/// set. Handshake failures are printed and counted here.
fn register(
    set: &ConnectionSet,
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    id: u64,
    shared: &Arc<Shared>,
) {
    let _ = tcp.set_nodelay(true);
    let handshake = {
        let (accept, shared) = (acceptor.accept(tcp), shared.clone());
        async move {
            accept.await.inspect_err(|e| {
                say!("conn {id}: handshake: error: {e}");
                shared.record("handshake-failed");
            })
        }
    };
    let shared = shared.clone();
    let registered = set.spawn_handshake(Some(peer), handshake, move |stream, signal| {
        Box::pin(serve(id, stream, signal, shared))
    });
    // The set refuses only once a drain began, and main stops accepting first.
    debug_assert_eq!(registered.ok(), Some(id));
}

/// Prints what the drain forced (the rest printed their own close line) and
/// the summary.
fn print_summary(connections: u64, report: Option<&DrainReport>, shared: &Shared) {
    let mut outcomes = shared.tally.lock().unwrap().outcomes.clone();
    let mut forced = 0;
    for conn in report
        .iter()
        .flat_map(|r| &r.connections)
        .filter(|c| c.forced)
    {
        forced += 1;
        *outcomes.entry(conn.ended.as_str()).or_default() += 1;
        say!("conn {}: close: {} (forced)", conn.id, conn.ended);
    }
    let mut line = format!("summary: connections={connections}");
    if forced > 0 {
        line.push_str(&format!(" forced={forced}"));
    }
    for (outcome, count) in outcomes {
        line.push_str(&format!(" {outcome}={count}"));
    }
    say!("{line}");
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("server", USAGE),
    };
    let tls = match common::server_tls(&args.cert, &args.key, &args.tls) {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("server: {message}");
            return ExitCode::from(2);
        }
    };
    // Before binding: a signal from now on drains (a second aborts), none
    // kills us.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("server: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("server: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => say!("listening: {local}"),
        Err(e) => {
            eprintln!("server: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    }

    let acceptor = TlsAcceptor::from(tls);
    let set = ConnectionSet::with_config(args.tls.graceful_config());
    let shared = Arc::new(Shared {
        reply: args.reply.clone(),
        close_after: args.close_after,
        tally: Mutex::default(),
        ended: watch::Sender::new(0),
    });
    let mut connections = 0u64;
    let mut ended = shared.ended.subscribe();
    let mut first_signal = pin!(signals.drain());

    // Accept until a signal arrives, or until --max-conns connections were
    // accepted and all of them ended on their own.
    let signalled = loop {
        let accepted_all = args.max_conns.filter(|max| connections >= *max);
        let all_ended = async {
            match accepted_all {
                Some(max) => {
                    let _ = ended.wait_for(|n| *n >= max).await;
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut first_signal => break true,
            () = all_ended => break false,
            accepted = listener.accept(), if args.max_conns.is_none_or(|max| connections < max) => {
                match accepted {
                    Ok((tcp, peer)) => {
                        connections += 1;
                        register(&set, &acceptor, tcp, peer, connections, &shared);
                    }
                    Err(e) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        eprintln!("server: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    drop(listener);

    let report = if signalled {
        say!(
            "drain: begun, timeout {} ms, {} live",
            args.drain_timeout.as_millis(),
            set.live()
        );
        let mut drain = pin!(set.drain(args.drain_timeout));
        tokio::select! {
            report = &mut drain => Some(report),
            () = signals.abort() => {
                say!("drain: second signal, aborting");
                Some(set.abort().await)
            }
        }
    } else {
        None
    };
    print_summary(connections, report.as_ref(), &shared);
    ExitCode::SUCCESS
}
