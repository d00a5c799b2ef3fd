//! What the `graceful_tls::server` examples share (axum_server,
//! grpc_server, hyper_server): flags, the TLS config, the signals (the first
//! drains, a second aborts) and the summary line.
#![allow(dead_code)]

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use graceful_tls::server::Serve;
use graceful_tls::{CancellationToken, DrainReport, Signals};
use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::common::{self, say, ArgsError, Flags, TlsOptions};

#[cfg(all(feature = "restart", unix))]
mod restart;

/// The flags every server example takes.
pub const FLAGS: &str = "\
  --listen ADDR                address to bind (port 0: any); may be left out
                               when a socket is passed (systemd socket
                               activation, or a restart's handover)
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
  --header-read-timeout-ms N   cut clients whose first request (counted from
                               the handshake) or HTTP/1.1 request head takes
                               longer: silent clients, slowloris (default
                               30000)
  --keep-alive-timeout-ms N    close connections idle that long (HTTP/1.1
                               keep-alive; HTTP/2 without open streams, after
                               GOAWAY); HTTP/2 ping interval (default 60000)
  --first-request-grace-ms N   when the drain begins, connections that have
                               not sent their first request may still send
                               it for N ms; it is answered (default 1000)
  --lame-duck-ms N             on the first SIGINT/SIGTERM, keep serving for
                               N ms with readiness failing (/ready: 503),
                               HTTP/1.1 responses saying connection: close
                               and HTTP/2 connections getting GOAWAY after
                               their next request; then drain (default 0)
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2
  --pid-file PATH              write the pid there once serving
  --restart-timeout-ms N       (feature restart) on SIGHUP, start the file now
                               at this program's path with the listening
                               socket; wait N ms for it to serve
                               (default 30000), then drain; if it fails,
                               serve on; if it dies during the drain,
                               serve again
  --restart-stop-grace-ms N    (feature restart) a successor abandoned (not
                               ready in time, or SIGTERM during the
                               handover) gets SIGTERM, then SIGKILL after N
                               ms (default 25000)
  --restart-probation-ms N     (feature restart) after a handover, watch the
                               successor for N ms at least, even when the
                               drain ended sooner (default 5000)
  --spawn-when-serving PROGRAM run PROGRAM (no arguments) as a child once
                               serving, its output on ours: what a child of
                               the server inherits (e.g. `env`)
  -h, --help                   print this help

Prints `listening: ADDR`, `ready: pid N` once serving, `restart: handed
over to pid N` after a handover (then drains as on SIGTERM; `restart:
successor pid N died, serving again` if it dies meanwhile); on SIGINT/SIGTERM `drain: begun`, then one line
per connection the deadline cut, then `summary: connections=N [forced=K]
OUTCOME=COUNT...` for the connections live when the drain began (and
`accept-errors=N` if accepting failed, e.g. out of descriptors, and
`header-timeouts=N idle-timeouts=N ping-timeouts=N` for the connections the
timeouts cut since serving began), and exits 0.";

pub struct Args {
    pub listen: Option<String>,
    pub pid_file: Option<String>,
    pub restart_timeout: Duration,
    pub restart_stop_grace: Duration,
    pub restart_probation: Duration,
    pub spawn_when_serving: Option<String>,
    pub cert: String,
    pub key: String,
    pub drain_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub first_request_grace: Duration,
    pub lame_duck: Duration,
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
    let mut first_request_grace = Serve::<()>::DEFAULT_FIRST_REQUEST_GRACE;
    let mut lame_duck = Duration::ZERO;
    let mut tls = TlsOptions::default();
    let (mut pid_file, mut restart_timeout) = (None, Duration::from_secs(30));
    let (mut restart_stop_grace, mut spawn_when_serving) = (Duration::from_secs(25), None);
    let mut restart_probation = Duration::from_secs(5);
    while let Some(flag) = flags.next_flag() {
        if tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--listen" => listen = Some(flags.value(&flag)?),
            "--cert" => cert = Some(flags.value(&flag)?),
            "--key" => key = Some(flags.value(&flag)?),
            "--pid-file" => pid_file = Some(flags.value(&flag)?),
            "--restart-timeout-ms" => restart_timeout = flags.millis(&flag)?,
            "--restart-stop-grace-ms" => restart_stop_grace = flags.millis(&flag)?,
            "--restart-probation-ms" => restart_probation = flags.millis(&flag)?,
            "--spawn-when-serving" => spawn_when_serving = Some(flags.value(&flag)?),
            "--drain-timeout-ms" => drain_timeout = flags.millis(&flag)?,
            "--handshake-timeout-ms" => handshake_timeout = flags.millis(&flag)?,
            "--max-connections" => {
                max_connections = usize::try_from(flags.number(&flag)?).unwrap_or(usize::MAX)
            }
            "--header-read-timeout-ms" => header_read_timeout = flags.millis(&flag)?,
            "--keep-alive-timeout-ms" => keep_alive_timeout = flags.millis(&flag)?,
            "--first-request-grace-ms" => first_request_grace = flags.millis(&flag)?,
            "--lame-duck-ms" => lame_duck = flags.millis(&flag)?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    Ok(Args {
        listen,
        pid_file,
        restart_timeout,
        restart_stop_grace,
        restart_probation,
        spawn_when_serving,
        cert: common::required(cert, "--cert")?,
        key: common::required(key, "--key")?,
        drain_timeout,
        handshake_timeout,
        max_connections,
        header_read_timeout,
        keep_alive_timeout,
        first_request_grace,
        lame_duck,
        tls,
    })
}

/// Runs a server example's `serve` on a multi-threaded tokio runtime (as
/// `#[tokio::main]` would), after taking what a restart or systemd passed
/// (feature restart): that removes variables from the environment, which
/// must happen before the runtime's threads start (they may read it).
pub fn run<F: Future<Output = ExitCode>>(serve: impl FnOnce() -> F) -> ExitCode {
    #[cfg(all(feature = "restart", unix))]
    restart::take_before_runtime();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            ExitCode::from(2)
        }
    }
}

/// The TLS config, the bound listener and the signals, or why not.
pub async fn start(args: &Args) -> Result<(Arc<ServerConfig>, TcpListener, Shutdown), String> {
    let tls = common::server_tls(&args.cert, &args.key, &args.tls)?;
    // Before binding: a signal from now on drains, none kills us.
    let signals = Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    #[cfg_attr(not(all(feature = "restart", unix)), allow(unused_mut))]
    let mut shutdown = Shutdown::new(signals);
    let listener = listener(args).await?;
    if let Ok(local) = listener.local_addr() {
        say!("listening: {local}");
    }
    #[cfg(all(feature = "restart", unix))]
    restart::watch(args, &listener, &mut shutdown);
    shutdown.announce();
    if let Some(path) = &args.pid_file {
        write_pid_file(path).map_err(|e| format!("cannot write --pid-file {path}: {e}"))?;
    }
    say!("ready: pid {}", std::process::id());
    #[cfg(all(feature = "restart", unix))]
    restart::ready(&shutdown);
    if let Some(program) = &args.spawn_when_serving {
        spawn_when_serving(program);
    }
    Ok((tls, listener, shutdown))
}

/// The socket passed to us (feature restart), or the one `--listen` binds.
async fn listener(args: &Args) -> Result<TcpListener, String> {
    #[cfg(all(feature = "restart", unix))]
    if let Some(listener) = restart::inherited()? {
        return Ok(listener);
    }
    let listen = common::required(args.listen.clone(), "--listen")
        .map_err(|_| "--listen ADDR is required (no socket was passed)".to_owned())?;
    TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot bind {listen}: {e}"))
}

/// Runs `program` as a child, its output on ours; reaped in the background.
fn spawn_when_serving(program: &str) {
    match tokio::process::Command::new(program).spawn() {
        Ok(mut child) => {
            tokio::spawn(async move { child.wait().await });
        }
        Err(e) => say!("spawn: cannot run {program}: {e}"),
    }
}

/// Writes our pid to `path` through a temporary file and a rename, so that
/// a reader never sees a half-written pid.
fn write_pid_file(path: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.{}.tmp", std::process::id());
    std::fs::write(&tmp, format!("{}\n", std::process::id()))?;
    std::fs::rename(&tmp, path)
}

/// The signals (`graceful_tls::Signals`: the first drains, a second
/// aborts), each announced on stdout before the server acts on it.
pub struct Shutdown {
    signals: Signals,
    /// Fires on the first signal once `drain: begun` is out (feature
    /// restart: and systemd was told `STOPPING=1`, so that a quick drain
    /// cannot exit first). A restart's handover drains through
    /// `Serve::with_handover` instead, which may serve again.
    begin: CancellationToken,
    /// Fires on the second signal once `drain: second signal, aborting` is
    /// out.
    abort: CancellationToken,
    #[cfg(all(feature = "restart", unix))]
    notifier: graceful_tls::server::Notifier,
    #[cfg(all(feature = "restart", unix))]
    handover: Option<graceful_tls::server::Handover>,
    #[cfg(all(feature = "restart", unix))]
    stop_grace: Duration,
}

impl Shutdown {
    fn new(signals: Signals) -> Shutdown {
        Shutdown {
            signals,
            begin: CancellationToken::new(),
            abort: CancellationToken::new(),
            #[cfg(all(feature = "restart", unix))]
            notifier: graceful_tls::server::Notifier::disabled(),
            #[cfg(all(feature = "restart", unix))]
            handover: None,
            #[cfg(all(feature = "restart", unix))]
            stop_grace: Duration::ZERO,
        }
    }

    /// Says each signal on stdout, then passes it on to the server: the
    /// lines come before anything the drain or the abort prints.
    fn announce(&self) {
        let (signals, begin, abort) =
            (self.signals.clone(), self.begin.clone(), self.abort.clone());
        #[cfg(all(feature = "restart", unix))]
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            signals.drain().await;
            say!("drain: begun");
            #[cfg(all(feature = "restart", unix))]
            if let Err(e) = notifier.stopping() {
                say!("notify: cannot send STOPPING=1: {e}");
            }
            begin.cancel();
            signals.abort().await;
            say!("drain: second signal, aborting");
            abort.cancel();
        });
    }
}

impl Shutdown {
    /// After the drain: lets a handover that SIGTERM interrupted stop its
    /// would-be successor (SIGTERM, then SIGKILL after the stop grace) and
    /// say so; bounded by the grace and a few seconds.
    pub async fn settle(&self) {
        #[cfg(all(feature = "restart", unix))]
        if let Some(handover) = &self.handover {
            let bound = self.stop_grace + Duration::from_secs(6);
            if tokio::time::timeout(bound, handover.finished())
                .await
                .is_ok()
            {
                say!("restart: finished");
            }
        }
    }
}

/// Applies the flags and the signals to a server: its limits, timeouts and
/// close deadlines, the drain on the first signal (or a restart's
/// handover, feature restart), the abort on the second.
pub fn configure<H>(serve: Serve<H>, args: &Args, shutdown: &Shutdown) -> Serve<H> {
    #[cfg(all(feature = "restart", unix))]
    let serve = match &shutdown.handover {
        Some(handover) => serve.with_handover(handover),
        None => serve,
    };
    serve
        .with_handshake_timeout(args.handshake_timeout)
        .with_max_connections(args.max_connections)
        .with_header_read_timeout(args.header_read_timeout)
        .with_keep_alive_timeout(args.keep_alive_timeout)
        .with_first_request_grace(args.first_request_grace)
        .with_lame_duck(args.lame_duck)
        .with_drain_timeout(args.drain_timeout)
        .with_close_config(args.tls.graceful_config())
        .with_graceful_shutdown(shutdown.begin.clone().cancelled_owned())
        .abort_on(shutdown.abort.clone().cancelled_owned())
}

/// Prints the connections the deadline cut and the summary line.
pub fn print_report(report: &DrainReport) {
    for conn in report.connections.iter().filter(|c| c.forced) {
        say!("conn {}: close: {} (forced)", conn.id, conn.ended);
    }
    // Connections that could not be closed with close_notify, and why.
    for conn in &report.connections {
        if !conn.forced && conn.ended.close_outcome().is_none() {
            say!(
                "conn {}: {} ({:?} after {:?})",
                conn.id,
                conn.ended,
                conn.stats,
                conn.lifetime
            );
        }
    }
    say!("summary: {report}");
}
