//! A TLS client that reports how its connection ended.
//!
//! ```text
//! cargo run --example client -- --connect 127.0.0.1:4433 --server-name localhost \
//!     --ca tests/certs/ca.pem --send hello --cancel-after-ms 500
//! ```
//!
//! It prints one line per event on stdout (flushed at once, so scripts can
//! read it live):
//!
//! ```text
//! handshake: Tls13
//! read: data 42
//! read: close-notify          (or abrupt-eof, cancelled, error: <message>)
//! close: peer-confirmed       (or another CloseOutcome, or error: <message>)
//! dropped                     (instead of the close line, with --drop)
//! ```
//!
//! Try it against OpenSSL (`-state` lines go to s_server's stderr):
//!
//! ```text
//! sleep 60 | openssl s_server -accept 4433 -cert tests/certs/server.pem \
//!     -key tests/certs/server.key -state -naccept 1
//! ```

use std::io::Write as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use graceful_tls::{CancellationToken, Config, GracefulStream, ReadOutcome};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

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
  -h, --help                   print this help

Prints `handshake: VERSION`, `read: data N` per read, the terminal read
outcome (`read: close-notify|abrupt-eof|cancelled|error: MSG`), then
`close: OUTCOME` (or `close: error: MSG`), or `dropped` with --drop.
Exit code 0 when the connection was established (however it ended),
1 for connect/handshake failures, 2 for bad arguments.";

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
    connect: String,
    server_name: String,
    ca: String,
    send: Vec<String>,
    cancel_after: Option<Duration>,
    send_after_cancel: Option<String>,
    drop: bool,
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
    fn millis(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<Duration, ArgsError> {
        let text = value(args, flag)?;
        text.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| ArgsError::Bad(format!("{flag}: not a number of milliseconds: {text:?}")))
    }

    let mut parsed = Args::default();
    let (mut connect, mut server_name, mut ca) = (None, None, None);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--connect" => connect = Some(value(&mut args, &flag)?),
            "--server-name" => server_name = Some(value(&mut args, &flag)?),
            "--ca" => ca = Some(value(&mut args, &flag)?),
            "--send" => parsed.send.push(value(&mut args, &flag)?),
            "--cancel-after-ms" => parsed.cancel_after = Some(millis(&mut args, &flag)?),
            "--send-after-cancel" => parsed.send_after_cancel = Some(value(&mut args, &flag)?),
            "--drop" => parsed.drop = true,
            "--flush-timeout-ms" => parsed.flush_timeout = Some(millis(&mut args, &flag)?),
            "--peer-close-timeout-ms" => {
                parsed.peer_close_timeout = Some(millis(&mut args, &flag)?)
            }
            "--tls12" => parsed.tls12 = true,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    parsed.connect = connect.ok_or_else(|| ArgsError::Bad("--connect is required".into()))?;
    parsed.server_name =
        server_name.ok_or_else(|| ArgsError::Bad("--server-name is required".into()))?;
    parsed.ca = ca.ok_or_else(|| ArgsError::Bad("--ca is required".into()))?;
    Ok(parsed)
}

fn tls_config(args: &Args) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&args.ca)
        .map_err(|e| format!("cannot read {}: {e}", args.ca))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot parse {}: {e}", args.ca))?;
        roots
            .add(cert)
            .map_err(|e| format!("bad CA certificate in {}: {e}", args.ca))?;
    }
    if roots.is_empty() {
        return Err(format!("no certificate found in {}", args.ca));
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()));
    let builder = if args.tls12 {
        builder.with_protocol_versions(&[&rustls::version::TLS12])
    } else {
        builder.with_safe_default_protocol_versions()
    }
    .map_err(|e| format!("TLS configuration: {e}"))?;
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
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

/// Fires `token` on Ctrl-C. The handler is installed before this returns,
/// so a Ctrl-C never kills the process instead.
fn cancel_on_ctrl_c(token: &CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::interrupt()) {
            Ok(mut interrupt) => {
                let token = token.clone();
                tokio::spawn(async move {
                    interrupt.recv().await;
                    token.cancel();
                });
            }
            Err(e) => eprintln!("client: cannot watch Ctrl-C: {e}"),
        }
    }
    #[cfg(not(unix))]
    {
        let token = token.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                token.cancel();
            }
        });
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
        Err(ArgsError::Help) => {
            say!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(ArgsError::Bad(message)) => {
            eprintln!("client: {message}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tls = match tls_config(&args) {
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

    let token = CancellationToken::new();
    cancel_on_ctrl_c(&token);

    // Connect to ADDR, but verify the certificate for (and send SNI) NAME.
    let connect = async {
        let tcp = TcpStream::connect(&args.connect)
            .await
            .map_err(|e| format!("connect to {} failed: {e}", args.connect))?;
        TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {} failed: {e}", args.connect))
    };
    let tls_stream = tokio::select! {
        result = connect => match result {
            Ok(stream) => stream,
            Err(message) => {
                eprintln!("client: {message}");
                return ExitCode::FAILURE;
            }
        },
        () = token.cancelled() => {
            eprintln!("client: cancelled before the handshake completed");
            return ExitCode::FAILURE;
        }
    };

    let mut stream = GracefulStream::with_config(tls_stream, token.clone(), graceful_config(&args));
    match stream.protocol_version() {
        Some(version) => say!("handshake: {version:?}"),
        None => say!("handshake: unknown"),
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
                say!("read: error: {e}");
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
            Err(e) => say!("close: error: {e}"),
        }
    }
    ExitCode::SUCCESS
}
