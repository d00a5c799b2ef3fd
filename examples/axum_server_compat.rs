//! An axum app served by axum-server, as axum-server programs are written
//! (`Server::acceptor(..)`, `Handle::graceful_shutdown(Some(deadline))`),
//! with `graceful_tls::server::GracefulAcceptor` around axum-server's own
//! `RustlsAcceptor`: on SIGINT/SIGTERM axum-server winds the connections
//! down, and at the deadline every connection it would drop gets
//! close_notify; the drain prints one line per connection it cut and the
//! `summary:` line, as the other server examples do. A second signal
//! aborts (close_notify on everything at once).
//!
//! ```text
//! cargo run --features axum-server --example axum_server_compat -- --listen 127.0.0.1:8443 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key --drain-timeout-ms 5000
//! curl -N --http2 --cacert testkit/certs/ca.pem https://localhost:8443/stream
//! ```
//!
//! The routes are `examples/axum_server.rs`' (`/`, `/slow?ms=N`,
//! `/stream`, `/ws`, `/ready`, `POST /upload`).

mod common;
mod server_cli;

use std::process::ExitCode;
use std::time::Duration;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::server::GracefulAcceptor;
use graceful_tls::Signals;
use graceful_tls_testkit::apps;

const USAGE: &str = "\
usage: axum_server_compat --listen ADDR --cert CERT.pem --key KEY.pem [options]

  --listen ADDR               address to bind (port 0: any)
  --cert CERT.pem             certificate chain (PEM)
  --key KEY.pem               private key (PEM)
  --drain-timeout-ms N        on SIGINT/SIGTERM, axum-server's graceful
                              shutdown deadline and the drain's (default
                              20000); a second signal aborts at once
  --handshake-timeout-ms N    RustlsAcceptor's handshake timeout (default
                              10000)
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
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let (mut listen, mut cert, mut key) = (None, None, None);
    let mut drain_timeout = Duration::from_secs(20);
    let mut handshake_timeout = Duration::from_secs(10);
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
        tls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("axum_server_compat", USAGE),
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("axum_server_compat: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let tls = common::server_tls(&args.cert, &args.key, &args.tls)?;
    // RustlsConfig::from_config takes the ALPN list as it is.
    let mut tls = std::sync::Arc::unwrap_or_clone(tls);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let signals = Signals::install().map_err(|e| format!("cannot start: {e}"))?;
    let listener = std::net::TcpListener::bind(&args.listen)
        .map_err(|e| format!("cannot bind {}: {e}", args.listen))?;
    if let Ok(local) = listener.local_addr() {
        say!("listening: {local}");
    }

    // The one change to an axum-server program: its TLS acceptor, wrapped.
    let rustls = RustlsAcceptor::new(RustlsConfig::from_config(std::sync::Arc::new(tls)))
        .handshake_timeout(args.handshake_timeout);
    let acceptor = GracefulAcceptor::new(rustls).with_close_config(args.tls.graceful_config());
    let handle = Handle::new();

    // The first signal: axum-server's graceful shutdown and the drain, one
    // deadline; a second: axum-server's shutdown and the abort.
    let drain = {
        let (acceptor, handle) = (acceptor.clone(), handle.clone());
        let drain_timeout = args.drain_timeout;
        tokio::spawn(async move {
            signals.drain().await;
            say!("drain: begun");
            tokio::select! {
                report = acceptor.graceful_shutdown(&handle, drain_timeout) => report,
                _ = signals.abort() => {
                    say!("drain: second signal, aborting");
                    handle.shutdown();
                    acceptor.abort().await
                }
            }
        })
    };

    // `/ready` answers 503 once the drain began.
    let ready = acceptor.clone();
    let app = apps::axum::app(move || ready.connections().is_draining());
    let server = axum_server::from_tcp(listener)
        .map_err(|e| format!("cannot serve: {e}"))?
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service());
    say!("ready: pid {}", std::process::id());
    server.await.map_err(|e| format!("serve: {e}"))?;
    let report = drain.await.map_err(|e| format!("drain: {e}"))?;
    server_cli::print_report(&report);
    Ok(())
}
