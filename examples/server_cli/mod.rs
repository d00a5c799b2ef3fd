//! What the `graceful_tls::server` examples share (axum_server,
//! grpc_server, hyper_server): flags, the TLS config, the signals (the first
//! drains, a second aborts) and the summary line.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use graceful_tls::server::Serve;
use graceful_tls::{CancellationToken, DrainReport};
use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::common::{self, say, ArgsError, Flags, Signals, TlsOptions};

/// The flags every server example takes.
pub const FLAGS: &str = "\
  --listen ADDR                address to bind (port 0: any)
  --cert CERT.pem              certificate chain (PEM)
  --key KEY.pem                private key (PEM)
  --drain-timeout-ms N         on SIGINT/SIGTERM, let work in flight finish
                               for N ms, then cut what remains with
                               close_notify (default 20000); a second signal
                               aborts at once
  --handshake-timeout-ms N     drop clients that have not completed the TLS
                               handshake by then (default 10000)
  --max-connections N          serve at most N connections at once; beyond,
                               clients wait in the listen queue (default
                               10000)
  --header-read-timeout-ms N   HTTP/1.1: cut clients whose request head takes
                               longer (slowloris; default 30000)
  --keep-alive-timeout-ms N    HTTP/1.1: close idle keep-alive connections
                               then; HTTP/2: ping interval (default 60000)
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2
  -h, --help                   print this help

Prints `listening: ADDR`; on SIGINT/SIGTERM `drain: begun`, then one line
per connection the deadline cut, then `summary: connections=N [forced=K]
OUTCOME=COUNT...` for the connections live when the drain began (and
`accept-errors=N` if accepting failed, e.g. out of descriptors), and exits 0.";

pub struct Args {
    pub listen: String,
    pub cert: String,
    pub key: String,
    pub drain_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub tls: TlsOptions,
}

pub fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let (mut listen, mut cert, mut key) = (None, None, None);
    let mut drain_timeout = Serve::<()>::DEFAULT_DRAIN_TIMEOUT;
    let mut handshake_timeout = Serve::<()>::DEFAULT_HANDSHAKE_TIMEOUT;
    let mut max_connections = Serve::<()>::DEFAULT_MAX_CONNECTIONS;
    let mut header_read_timeout = Serve::<()>::DEFAULT_HEADER_READ_TIMEOUT;
    let mut keep_alive_timeout = Serve::<()>::DEFAULT_KEEP_ALIVE_TIMEOUT;
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
            "--header-read-timeout-ms" => header_read_timeout = flags.millis(&flag)?,
            "--keep-alive-timeout-ms" => keep_alive_timeout = flags.millis(&flag)?,
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
        header_read_timeout,
        keep_alive_timeout,
        tls,
    })
}

/// The TLS config, the bound listener and the signals, or why not.
pub async fn start(args: &Args) -> Result<(Arc<ServerConfig>, TcpListener, Shutdown), String> {
    let tls = common::server_tls(&args.cert, &args.key, &args.tls)?;
    let shutdown = Shutdown::install().map_err(|e| format!("cannot start: {e}"))?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", args.listen))?;
    if let Ok(local) = listener.local_addr() {
        say!("listening: {local}");
    }
    Ok((tls, listener, shutdown))
}

/// SIGINT/SIGTERM: the first fires `drain`, a second fires `abort`.
pub struct Shutdown {
    pub drain: CancellationToken,
    pub abort: CancellationToken,
}

impl Shutdown {
    fn install() -> std::io::Result<Shutdown> {
        let mut signals = Signals::new()?;
        let (drain, abort) = (CancellationToken::new(), CancellationToken::new());
        let (first, second) = (drain.clone(), abort.clone());
        tokio::spawn(async move {
            signals.recv().await;
            say!("drain: begun");
            first.cancel();
            signals.recv().await;
            say!("drain: second signal, aborting");
            second.cancel();
        });
        Ok(Shutdown { drain, abort })
    }
}

/// Prints the connections the deadline cut and the summary line.
pub fn print_report(report: &DrainReport) {
    for conn in report.connections.iter().filter(|c| c.forced) {
        say!("conn {}: close: {} (forced)", conn.id, conn.ended);
    }
    say!("summary: {report}");
}
