//! A TLS client that reports how its connection ended.
//!
//! ```text
//! cargo run --features signals --example client -- --connect 127.0.0.1:4433 --server-name localhost \
//!     --ca testkit/certs/ca.pem --send hello --cancel-after-ms 500
//! ```
//!
//! It prints one line per event on stdout (flushed at once, so scripts can
//! read it live):
//!
//! ```text
//! handshake: Tls13 full     (or resumed; full-hrr after a HelloRetryRequest)
//! read: data 42
//! read: close-notify          (or abrupt-eof, cancelled, error: <message>)
//! close: peer-confirmed       (or another CloseOutcome, or error: <message>)
//! dropped                     (instead of the close line, with --drop)
//! ```
//!
//! Try it against OpenSSL (`-state` lines go to s_server's stderr):
//!
//! ```text
//! sleep 60 | openssl s_server -accept 4433 -cert testkit/certs/server.pem \
//!     -key testkit/certs/server.key -state -naccept 1
//! ```

mod common;

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::client::{Connector, SessionCache, SessionPolicy};
use graceful_tls::{CancellationToken, ReadOutcome, Signals};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const USAGE: &str = "\
usage: client --connect ADDR --server-name NAME --ca CA.pem [options]

  --connect ADDR               host:port or ip:port to dial
  --server-name NAME           name to verify the certificate for (and send as SNI)
  --ca CA.pem                  trust anchors (PEM)
  --send TEXT                  write TEXT and a newline after the handshake;
                               repeatable: each TEXT gets its own newline
  --cancel-after-ms N          fire the CancellationToken N ms after the
                               handshake (Ctrl-C fires it too)
  --send-after-cancel TEXT     after a `cancelled` read outcome, write TEXT and a
                               newline before closing
  --drop                       at the end, drop the stream without calling close()
  --flush-timeout-ms N         Config::flush_timeout
  --peer-close-timeout-ms N    Config::peer_close_timeout
  --tls12                      allow only TLS 1.2 (default: rustls defaults)
  --resume N                   run the whole connection (connect, send, read,
                               close) N times in a row with one session cache;
                               a run that fails does not stop the next
  --no-resume                  every connection does a full handshake
  --strict-sessions            forget the server's sessions after a truncation
                               or flush timeout too (default: after fatal
                               TLS errors only)
  -h, --help                   print this help

Prints `handshake: VERSION full|full-hrr|resumed`, `read: data N` per read, the terminal read
outcome (`read: close-notify|abrupt-eof|cancelled|error: MSG`), then
`close: OUTCOME` (or `close: error: MSG`), or `dropped` with --drop.
With --resume N, each run starts with `run: K` (1..N); the handshake line
says whether it resumed the previous run's session.
Exit code 0 when every connection was established (however it ended),
1 if a connect/handshake failed, 2 for bad arguments.";

#[derive(Debug, Default)]
struct Args {
    connect: String,
    server_name: String,
    ca: String,
    send: Vec<String>,
    cancel_after: Option<Duration>,
    send_after_cancel: Option<String>,
    drop: bool,
    tls: TlsOptions,
    /// `Some(N)` with --resume N.
    runs: Option<u64>,
    no_resume: bool,
    strict_sessions: bool,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let mut parsed = Args::default();
    let (mut connect, mut server_name, mut ca) = (None, None, None);
    while let Some(flag) = flags.next_flag() {
        if parsed.tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--connect" => connect = Some(flags.value(&flag)?),
            "--server-name" => server_name = Some(flags.value(&flag)?),
            "--ca" => ca = Some(flags.value(&flag)?),
            "--send" => parsed.send.push(flags.value(&flag)?),
            "--cancel-after-ms" => parsed.cancel_after = Some(flags.millis(&flag)?),
            "--send-after-cancel" => parsed.send_after_cancel = Some(flags.value(&flag)?),
            "--drop" => parsed.drop = true,
            "--resume" => parsed.runs = Some(flags.number(&flag)?),
            "--no-resume" => parsed.no_resume = true,
            "--strict-sessions" => parsed.strict_sessions = true,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    parsed.connect = common::required(connect, "--connect")?;
    parsed.server_name = common::required(server_name, "--server-name")?;
    parsed.ca = common::required(ca, "--ca")?;
    Ok(parsed)
}

/// Fires `token` on Ctrl-C (or SIGTERM). The handlers are installed before
/// this returns, so a Ctrl-C never kills the process instead.
fn cancel_on_signal(token: &CancellationToken) {
    match Signals::install() {
        Ok(signals) => {
            let token = token.clone();
            tokio::spawn(async move {
                signals.drain().await;
                token.cancel();
            });
        }
        Err(e) => eprintln!("client: cannot watch Ctrl-C: {e}"),
    }
}

/// Writes each text followed by a newline, then flushes. Failures are
/// reported on stderr; the read and the close that follow say how the
/// connection ended.
async fn send_lines<S>(stream: &mut S, texts: &[String])
where
    S: tokio::io::AsyncWrite + Unpin,
{
    if texts.is_empty() {
        return;
    }
    let mut bytes = Vec::new();
    for text in texts {
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
    }
    let result = async {
        stream.write_all(&bytes).await?;
        stream.flush().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("client: write failed: {e}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("client", USAGE),
    };
    let tls = match common::client_tls(&args.ca, &args.tls) {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("client: {message}");
            return ExitCode::from(2);
        }
    };
    // An IP address is accepted too; the certificate must then list it.
    let server_name = match ServerName::try_from(args.server_name.clone()) {
        Ok(name) => name,
        Err(_) => {
            eprintln!("client: invalid --server-name: {:?}", args.server_name);
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.connect.parse::<IpAddr>().is_ok() {
        eprintln!("client: --connect needs a port: {}:PORT", args.connect);
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }

    // One session cache for every run: later runs resume the session of
    // earlier ones, unless one of them ended badly (see SessionPolicy).
    let policy = if args.strict_sessions {
        SessionPolicy::Strict
    } else {
        SessionPolicy::FatalAlerts
    };
    let connector = Connector::new((*tls).clone(), SessionCache::new().with_policy(policy))
        .with_stream_config(args.tls.graceful_config());

    let token = CancellationToken::new();
    cancel_on_signal(&token);

    let mut code = ExitCode::SUCCESS;
    let runs = args.runs.unwrap_or(1);
    for run in 1..=runs {
        if token.is_cancelled() {
            break;
        }
        if args.runs.is_some() {
            say!("run: {run}");
        }
        if let Err(message) = run_once(&args, &connector, &server_name, &token).await {
            eprintln!("client: {message}");
            code = ExitCode::FAILURE;
        }
    }
    code
}

/// One whole connection: connect, send, read to the end, close (or drop).
/// `Err` only when no connection was established.
async fn run_once(
    args: &Args,
    connector: &Connector,
    server_name: &ServerName<'static>,
    token: &CancellationToken,
) -> Result<(), String> {
    // Each run gets its own token (a child: Ctrl-C still reaches it), so
    // that --cancel-after-ms cancels only this run.
    let token = token.child_token();
    // Connect to ADDR, but verify the certificate for (and send SNI) NAME.
    let connect = async {
        let tcp = TcpStream::connect(&args.connect)
            .await
            .map_err(|e| format!("connect to {} failed: {e}", args.connect))?;
        let name = server_name.clone();
        let connected = if args.no_resume {
            connector
                .connect_full_handshake(name, tcp, token.clone())
                .await
        } else {
            connector.connect(name, tcp, token.clone()).await
        };
        connected.map_err(|e| common::chain(&e))
    };
    let mut stream = tokio::select! {
        result = connect => result?,
        () = token.cancelled() => {
            return Err("cancelled before the handshake completed".to_owned());
        }
    };

    match (stream.protocol_version(), stream.handshake_kind()) {
        (Some(version), Some(kind)) => say!("handshake: {version:?} {kind}"),
        (Some(version), None) => say!("handshake: {version:?} unknown"),
        _ => say!("handshake: unknown"),
    }

    if let Some(delay) = args.cancel_after {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            token.cancel();
        });
    }

    send_lines(&mut stream, &args.send).await;

    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read_outcome(&mut buf).await {
            Ok(ReadOutcome::Data(n)) => say!("read: data {n}"),
            Ok(outcome) => {
                say!("read: {outcome}");
                if outcome == ReadOutcome::Cancelled {
                    if let Some(text) = &args.send_after_cancel {
                        // Cancelling a read leaves the TLS state intact:
                        // writing still works until close().
                        send_lines(&mut stream, std::slice::from_ref(text)).await;
                    }
                }
                break;
            }
            Err(e) => {
                say!("read: error: {}", common::chain(&e));
                break;
            }
        }
    }

    if args.drop {
        drop(stream);
        say!("dropped");
        // Dropping queues close_notify and makes one non-blocking attempt to
        // send it; whatever could not finish at once continues in a
        // background task on this runtime. Keep the runtime alive briefly so
        // that task can complete before main returns and the runtime (with
        // its tasks) is torn down.
        tokio::time::sleep(Duration::from_millis(200)).await;
    } else {
        match stream.close().await {
            Ok(outcome) => say!("close: {outcome}"),
            Err(e) => say!("close: error: {}", common::chain(&e)),
        }
    }
    Ok(())
}
