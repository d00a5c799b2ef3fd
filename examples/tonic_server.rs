//! A tonic service on tonic's own `Server` (its builder and a tower layer,
//! as tonic programs are written), fed by
//! `graceful_tls::server::GracefulIncoming`: TLS handshakes under the
//! handshake timeout and limits, and on SIGINT/SIGTERM a drain with a
//! deadline. tonic's graceful shutdown sends GOAWAY and lets calls in
//! flight finish; at the deadline whatever still runs (a server stream)
//! is cut with close_notify. Prints one line per connection the deadline
//! cut and the `summary:` line, as the other server examples do; a second
//! signal aborts.
//!
//! ```text
//! cargo run --features tonic --example tonic_server -- --listen 127.0.0.1:50051 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key --drain-timeout-ms 5000
//! ```
//!
//! The service is the testkit's hand-written `demo.Greeter` (no protoc):
//! `Hello` answers after the requested milliseconds, `Ticks` streams a
//! message every 100 ms until the client goes away; `tests/tonic_server.rs`
//! calls both with tonic's client.

mod common;
mod server_cli;

use std::process::ExitCode;
use std::time::Duration;

use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::server::GracefulIncoming;
use graceful_tls::Signals;
use graceful_tls_testkit::apps;

const USAGE: &str = "\
usage: tonic_server --listen ADDR --cert CERT.pem --key KEY.pem [options]

  --listen ADDR               address to bind (port 0: any)
  --cert CERT.pem             certificate chain (PEM)
  --key KEY.pem               private key (PEM)
  --drain-timeout-ms N        on SIGINT/SIGTERM, let calls in flight finish
                              for N ms, then cut what remains with
                              close_notify (default 20000); a second signal
                              aborts at once
  --handshake-timeout-ms N    drop clients that have not completed the TLS
                              handshake by then (default 10000)
  --max-connections N         serve at most N connections at once (default
                              10000)
  --request-timeout-ms N      the tower timeout layer on every call's
                              response head (default 30000)
  --flush-timeout-ms N        Config::flush_timeout
  --peer-close-timeout-ms N   Config::peer_close_timeout
  --tls12                     allow only TLS 1.2
  -h, --help                  print this help

Prints `listening: ADDR`, `ready: pid N`; on SIGINT/SIGTERM `drain: begun`,
then one line per connection the deadline cut and `summary: connections=N
[forced=K] OUTCOME=COUNT...`, and exits 0.";

struct Args {
    listen: String,
    cert: String,
    key: String,
    drain_timeout: Duration,
    handshake_timeout: Duration,
    max_connections: usize,
    request_timeout: Duration,
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let (mut listen, mut cert, mut key) = (None, None, None);
    let mut drain_timeout = Duration::from_secs(20);
    let mut handshake_timeout = Duration::from_secs(10);
    let mut max_connections = 10_000;
    let mut request_timeout = Duration::from_secs(30);
    let mut tls = TlsOptions::default();
    while let Some(flag) = flags.next_flag() {
        if tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--listen" => listen = Some(flags.value(&flag)?),
            "--cert" => cert = Some(flags.value(&flag)?),
            "--key" => key = Some(flags.value(&flag)?),
            "--drain-timeout-ms" => drain_timeout = flags.millis(&flag)?,
            "--handshake-timeout-ms" => handshake_timeout = flags.millis(&flag)?,
            "--max-connections" => {
                max_connections = usize::try_from(flags.number(&flag)?).unwrap_or(usize::MAX)
            }
            "--request-timeout-ms" => request_timeout = flags.millis(&flag)?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    Ok(Args {
        listen: common::required(listen, "--listen")?,
        cert: common::required(cert, "--cert")?,
        key: common::required(key, "--key")?,
        drain_timeout,
        handshake_timeout,
        max_connections,
        request_timeout,
        tls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("tonic_server", USAGE),
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tonic_server: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let tls = common::server_tls(&args.cert, &args.key, &args.tls)?;
    let signals = Signals::install().map_err(|e| format!("cannot start: {e}"))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", args.listen))?;
    if let Ok(local) = listener.local_addr() {
        say!("listening: {local}");
    }

    let incoming = GracefulIncoming::new(listener, tls)
        .with_handshake_timeout(args.handshake_timeout)
        .with_max_connections(args.max_connections)
        .with_close_config(args.tls.graceful_config());
    let drain = incoming.drain_handle();

    // The first signal drains (tonic's signal fires with it); a second
    // aborts.
    let drained = {
        let drain = drain.clone();
        let drain_timeout = args.drain_timeout;
        tokio::spawn(async move {
            signals.drain().await;
            say!("drain: begun");
            tokio::select! {
                report = drain.drain(drain_timeout) => report,
                _ = signals.abort() => {
                    say!("drain: second signal, aborting");
                    drain.abort().await
                }
            }
        })
    };

    let server = tonic::transport::Server::builder()
        .layer(tower::timeout::TimeoutLayer::new(args.request_timeout))
        .add_routes(tonic::service::Routes::new(apps::grpc::Greeter))
        .serve_with_incoming_shutdown(incoming, drain.signal());
    say!("ready: pid {}", std::process::id());
    server.await.map_err(|e| format!("serve: {e}"))?;
    let report = drained.await.map_err(|e| format!("drain: {e}"))?;
    server_cli::print_report(&report);
    Ok(())
}
