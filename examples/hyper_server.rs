//! An HTTP/1.1 server with hyper over `GracefulStream`, drained on SIGTERM:
//! keep-alive connections finish the response in flight, then close with
//! close_notify; idle ones close at once; the deadline forces the rest.
//!
//! ```text
//! cargo run --example hyper_server -- --listen 127.0.0.1:8443 \
//!     --cert tests/certs/server.pem --key tests/certs/server.key
//! curl --cacert tests/certs/ca.pem https://localhost:8443/slow   # answers after 2 s
//! ```
//!
//! Prints `listening: ADDR`, `conn ID: http: error: MSG` for failed
//! connections, and on SIGINT/SIGTERM `drain: begun, timeout N ms, L live`,
//! then `summary: connections=N REPORT` where REPORT is the drain report of
//! the connections live when it began. A second signal aborts.

mod common;
mod hyper_conn;

use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use common::{say, ArgsError, Flags, Signals, TlsOptions};
use graceful_tls::ConnectionSet;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USAGE: &str = "\
usage: hyper_server --listen ADDR --cert CERT.pem --key KEY.pem [options]

  --listen ADDR                address to bind (port 0: any)
  --cert CERT.pem              certificate chain (PEM)
  --key KEY.pem                private key (PEM)
  --slow-ms N                  how long /slow takes to answer (default 2000)
  --drain-timeout-ms N         on SIGINT/SIGTERM, let responses in flight
                               finish for N ms before forcing (default 5000);
                               a second signal forces at once
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2
  -h, --help                   print this help";

struct Args {
    listen: String,
    cert: String,
    key: String,
    slow: Duration,
    drain_timeout: Duration,
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let (mut listen, mut cert, mut key) = (None, None, None);
    let (mut slow, mut drain_timeout) = (Duration::from_secs(2), Duration::from_secs(5));
    let mut tls = TlsOptions::default();
    while let Some(flag) = flags.next_flag() {
        if tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--listen" => listen = Some(flags.value(&flag)?),
            "--cert" => cert = Some(flags.value(&flag)?),
            "--key" => key = Some(flags.value(&flag)?),
            "--slow-ms" => slow = flags.millis(&flag)?,
            "--drain-timeout-ms" => drain_timeout = flags.millis(&flag)?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    Ok(Args {
        listen: common::required(listen, "--listen")?,
        cert: common::required(cert, "--cert")?,
        key: common::required(key, "--key")?,
        slow,
        drain_timeout,
        tls,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("hyper_server", USAGE),
    };
    let acceptor = match common::server_tls(&args.cert, &args.key, &args.tls) {
        Ok(tls) => TlsAcceptor::from(tls),
        Err(message) => {
            eprintln!("hyper_server: {message}");
            return ExitCode::from(2);
        }
    };
    let (mut signals, listener) = match (Signals::new(), TcpListener::bind(&args.listen).await) {
        (Ok(signals), Ok(listener)) => (signals, listener),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("hyper_server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(local) = listener.local_addr() {
        say!("listening: {local}");
    }

    let set = ConnectionSet::with_config(args.tls.graceful_config());
    let mut connections = 0u64;
    loop {
        tokio::select! {
            () = signals.recv() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    connections += 1;
                    let (id, slow) = (connections, args.slow);
                    let _ = set.spawn_handshake(Some(peer), acceptor.accept(tcp), move |stream, signal| {
                        Box::pin(async move {
                            if let Err(e) = hyper_conn::serve(stream, signal, slow).await {
                                say!("conn {id}: http: error: {}", common::chain(&e));
                            }
                        })
                    });
                }
                Err(e) => {
                    eprintln!("hyper_server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);

    say!(
        "drain: begun, timeout {} ms, {} live",
        args.drain_timeout.as_millis(),
        set.live()
    );
    let mut drain = pin!(set.drain(args.drain_timeout));
    let report = tokio::select! {
        report = &mut drain => report,
        () = signals.recv() => {
            say!("drain: second signal, aborting");
            set.abort().await
        }
    };
    for conn in report.connections.iter().filter(|c| c.forced) {
        say!("conn {}: close: {} (forced)", conn.id, conn.ended);
    }
    say!("summary: connections={connections} drained: {report}");
    ExitCode::SUCCESS
}
