//! A TLS server that closes every connection gracefully and reports how each
//! one ended.
//!
//! ```text
//! cargo run --example server -- --listen 127.0.0.1:4433 \
//!     --cert tests/certs/server.pem --key tests/certs/server.key --reply hi
//! ```
//!
//! It prints, one line each and flushed at once:
//!
//! ```text
//! listening: 127.0.0.1:4433
//! conn 1: handshake: TLSv1_3
//! conn 1: read: data 6
//! conn 1: read: close-notify          (or abrupt-eof, cancelled, error: <message>)
//! conn 1: close: peer-closed-first    (or another CloseOutcome, or error: <message>)
//! summary: connections=1 peer-closed-first=1
//! ```
//!
//! SIGINT or SIGTERM cancels every connection through one parent
//! [`CancellationToken`]: pending reads end with `cancelled`, each connection
//! sends close_notify and waits (bounded) for the peer's, and the server exits
//! once all of them have finished closing.
//!
//! Try it against OpenSSL (`-state` lines go to s_client's stderr):
//!
//! ```text
//! openssl s_client -connect 127.0.0.1:4433 -servername localhost \
//!     -CAfile tests/certs/ca.pem -state -ign_eof
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use graceful_tls::{CancellationToken, Config, GracefulStream, ReadOutcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
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
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2 (default: rustls defaults)
  -h, --help                   print this help

Prints `listening: ADDR`, then per connection `conn ID: handshake: VERSION`,
`conn ID: read: data N`, `conn ID: read: TERMINAL` and `conn ID: close:
OUTCOME`. On SIGINT/SIGTERM (or after --max-conns connections) it closes every
connection, then prints `summary: connections=N OUTCOME=COUNT...` (close
outcomes; `error` for failed closes and failed handshakes,
`handshake-cancelled` for handshakes cut short by shutdown) and exits 0.";

/// Prints one line on stdout and flushes it, ignoring a closed stdout.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}

#[derive(Debug, Default)]
struct Args {
    listen: String,
    cert: String,
    key: String,
    reply: Option<String>,
    close_after: Option<Duration>,
    max_conns: Option<u64>,
    flush_timeout: Option<Duration>,
    peer_close_timeout: Option<Duration>,
    tls12: bool,
}

/// What `parse_args` wants `main` to do instead of running.
enum ArgsError {
    Help,
    Bad(String),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, ArgsError> {
        args.next()
            .ok_or_else(|| ArgsError::Bad(format!("{flag} needs a value")))
    }
    fn number(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<u64, ArgsError> {
        let text = value(args, flag)?;
        text.parse::<u64>()
            .map_err(|_| ArgsError::Bad(format!("{flag}: not a number: {text:?}")))
    }

    let mut parsed = Args::default();
    let (mut listen, mut cert, mut key) = (None, None, None);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--listen" => listen = Some(value(&mut args, &flag)?),
            "--cert" => cert = Some(value(&mut args, &flag)?),
            "--key" => key = Some(value(&mut args, &flag)?),
            "--reply" => parsed.reply = Some(value(&mut args, &flag)?),
            "--close-after-ms" => {
                parsed.close_after = Some(Duration::from_millis(number(&mut args, &flag)?))
            }
            "--max-conns" => match number(&mut args, &flag)? {
                0 => return Err(ArgsError::Bad("--max-conns must be at least 1".into())),
                n => parsed.max_conns = Some(n),
            },
            "--flush-timeout-ms" => {
                parsed.flush_timeout = Some(Duration::from_millis(number(&mut args, &flag)?))
            }
            "--peer-close-timeout-ms" => {
                parsed.peer_close_timeout = Some(Duration::from_millis(number(&mut args, &flag)?))
            }
            "--tls12" => parsed.tls12 = true,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    parsed.listen = listen.ok_or_else(|| ArgsError::Bad("--listen is required".into()))?;
    parsed.cert = cert.ok_or_else(|| ArgsError::Bad("--cert is required".into()))?;
    parsed.key = key.ok_or_else(|| ArgsError::Bad("--key is required".into()))?;
    Ok(parsed)
}

fn tls_config(args: &Args) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&args.cert)
        .map_err(|e| format!("cannot read {}: {e}", args.cert))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse {}: {e}", args.cert))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", args.cert));
    }
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .map_err(|e| format!("cannot load private key {}: {e}", args.key))?;
    let builder =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()));
    let builder = if args.tls12 {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .map_err(|e| format!("TLS configuration: {e}"))?;
    let config = builder
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate/key mismatch or unsupported key: {e}"))?;
    Ok(Arc::new(config))
}

fn graceful_config(args: &Args) -> Config {
    let mut config = Config::default();
    if let Some(timeout) = args.flush_timeout {
        config = config.flush_timeout(timeout);
    }
    if let Some(timeout) = args.peer_close_timeout {
        config = config.peer_close_timeout(timeout);
    }
    config
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this
/// returns (not on first poll), so a signal sent right after `listening:` is
/// printed is never lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Everything a connection task needs, shared by all connections.
struct Shared {
    acceptor: TlsAcceptor,
    config: Config,
    reply: Option<String>,
    close_after: Option<Duration>,
}

/// Serves one connection to its end and returns the summary key of how it
/// ended: the close outcome's name, or `error`.
async fn serve(id: u64, tcp: TcpStream, shared: Arc<Shared>, token: CancellationToken) -> String {
    let tls = tokio::select! {
        result = shared.acceptor.accept(tcp) => match result {
            Ok(tls) => tls,
            Err(e) => {
                say!("conn {id}: handshake: error: {e}");
                return "error".into();
            }
        },
        () = token.cancelled() => {
            say!("conn {id}: handshake: cancelled");
            return "handshake-cancelled".into();
        }
    };
    let mut stream = GracefulStream::with_config(tls, token.clone(), shared.config);
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

    // --close-after-ms: cancel this connection's own (child) token when the
    // timer fires. The pending read then ends with `cancelled`; read_outcome
    // is cancellation safe, so racing it against the timer loses nothing.
    let mut close_timer = pin!(async {
        match shared.close_after {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
    });
    let mut timer_fired = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let result = tokio::select! {
            result = stream.read_outcome(&mut buf) => result,
            () = &mut close_timer, if !timer_fired => {
                timer_fired = true;
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
                say!("conn {id}: read: error: {e}");
                break;
            }
        }
    }

    match stream.close().await {
        Ok(outcome) => {
            say!("conn {id}: close: {outcome}");
            outcome.as_str().into()
        }
        Err(e) => {
            say!("conn {id}: close: error: {e}");
            "error".into()
        }
    }
}

/// Counts how connections ended.
#[derive(Default)]
struct Tally {
    connections: u64,
    outcomes: BTreeMap<String, u64>,
}

impl Tally {
    fn record(&mut self, joined: Result<String, tokio::task::JoinError>) {
        let key = joined.unwrap_or_else(|e| {
            eprintln!("server: connection task failed: {e}");
            "error".into()
        });
        *self.outcomes.entry(key).or_default() += 1;
    }

    fn summary(&self) -> String {
        let mut line = format!("summary: connections={}", self.connections);
        for (outcome, count) in &self.outcomes {
            line.push_str(&format!(" {outcome}={count}"));
        }
        line
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(ArgsError::Help) => {
            say!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(message)) => {
            eprintln!("server: {message}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tls = match tls_config(&args) {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("server: {message}");
            return ExitCode::from(2);
        }
    };
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("server: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut shutdown = pin!(shutdown);
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("server: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let local: SocketAddr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("server: cannot read the bound address: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!("listening: {local}");

    let shared = Arc::new(Shared {
        acceptor: TlsAcceptor::from(tls),
        config: graceful_config(&args),
        reply: args.reply.clone(),
        close_after: args.close_after,
    });
    // Every connection watches a child of this token: cancelling it ends all
    // pending reads, and each connection then closes gracefully.
    let parent = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut tally = Tally::default();
    let mut shutting_down = false;

    // Accept until a signal arrives or --max-conns connections were accepted,
    // reaping finished connections as we go.
    while args.max_conns.is_none_or(|max| tally.connections < max) {
        tokio::select! {
            () = &mut shutdown => {
                shutting_down = true;
                parent.cancel();
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    tally.connections += 1;
                    let id = tally.connections;
                    tasks.spawn(serve(id, tcp, shared.clone(), parent.child_token()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    eprintln!("server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(joined) = tasks.join_next() => tally.record(joined),
        }
    }
    drop(listener);

    // Wait for every connection to finish closing. A signal now (e.g. while
    // waiting for the last --max-conns connections) cancels them all.
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(joined) => tally.record(joined),
                None => break,
            },
            () = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                parent.cancel();
            }
        }
    }
    say!("{}", tally.summary());
    ExitCode::SUCCESS
}
