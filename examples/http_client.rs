//! HTTPS requests through hyper-util's pooled `Client` and
//! `graceful_tls::client::HttpsConnector`: every pooled connection ends with
//! close_notify, and how each one ended is printed.
//!
//! ```text
//! cargo run --features hyper-client --example http_client -- \
//!     --url https://localhost:4433/ --ca testkit/certs/ca.pem \
//!     --connect-to 127.0.0.1:4433 --requests 3
//! ```
//!
//! Output (one line per event, flushed at once):
//!
//! ```text
//! handshake: Tls13 full              (per new connection: full, full-hrr or resumed)
//! status: 200                        (per request; `request N: error: MSG` if it failed)
//! connection 1: peer-closed-first    (at exit, per connection, by id: its outcome)
//! ```
//!
//! Against `openssl s_server -www` (one request per connection, closed by
//! the server with close_notify), the second and later connections resume:
//!
//! ```text
//! sleep 60 | openssl s_server -accept 4433 -cert testkit/certs/server.pem \
//!     -key testkit/certs/server.key -www
//! ```

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::client::{ConnectionInfo, HttpsConnector};
use graceful_tls::ConnectionReport;
use hyper::body::{Body, Incoming};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

const USAGE: &str = "\
usage: http_client --url URL --ca CA.pem [--connect-to ADDR] [--requests N]

  --url URL            https URL to GET (its host is verified and sent as SNI)
  --ca CA.pem          trust anchors (PEM)
  --connect-to ADDR    dial ip:port instead of the URL's host
  --requests N         how many GETs, one after the other (default 1)
  --tls12              allow only TLS 1.2
  -h, --help           print this help

Prints `handshake: VERSION full|full-hrr|resumed` per new connection,
`status: CODE` per request (or `request N: error: MSG`), and at exit
`connection N: OUTCOME` per connection. Exit code 0 if every request got a
response, 1 otherwise, 2 for bad arguments.";

/// How long the exit waits for connections to report their end.
const END_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Args {
    url: String,
    ca: String,
    connect_to: Option<SocketAddr>,
    requests: u64,
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let mut parsed = Args {
        requests: 1,
        ..Args::default()
    };
    let (mut url, mut ca) = (None, None);
    while let Some(flag) = flags.next_flag() {
        if parsed.tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--url" => url = Some(flags.value(&flag)?),
            "--ca" => ca = Some(flags.value(&flag)?),
            "--connect-to" => {
                let text = flags.value(&flag)?;
                let addr = text
                    .parse()
                    .map_err(|_| ArgsError::Bad(format!("--connect-to: not ip:port: {text:?}")))?;
                parsed.connect_to = Some(addr);
            }
            "--requests" => parsed.requests = flags.number(&flag)?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    parsed.url = common::required(url, "--url")?;
    parsed.ca = common::required(ca, "--ca")?;
    Ok(parsed)
}

/// Reads a response body to its end.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, hyper::Error> {
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Some(data) = frame?.data_ref() {
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("http_client", USAGE),
    };
    let uri: Uri = match args.url.parse() {
        Ok(uri) => uri,
        Err(e) => return ArgsError::Bad(format!("--url: {e}")).exit("http_client", USAGE),
    };
    let tls = match common::client_tls(&args.ca, &args.tls) {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("http_client: {message}");
            return ExitCode::from(2);
        }
    };

    let (ends_tx, mut ends) = mpsc::unbounded_channel::<ConnectionReport>();
    let mut connector = HttpsConnector::new(tls).on_end(move |end| {
        let _ = ends_tx.send(end.clone());
    });
    if let Some(addr) = args.connect_to {
        connector = connector.connect_to(addr);
    }
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);

    let mut code = ExitCode::SUCCESS;
    let mut seen = BTreeSet::new();
    for n in 1..=args.requests {
        let response = match client.get(uri.clone()).await {
            Ok(response) => response,
            Err(e) => {
                say!("request {n}: error: {}", common::chain(&e));
                code = ExitCode::FAILURE;
                continue;
            }
        };
        if let Some(info) = response.extensions().get::<ConnectionInfo>() {
            if seen.insert(info.id) {
                let version = info.version.map(|v| format!("{v:?}"));
                let kind = info.handshake.map(|k| k.to_string());
                say!(
                    "handshake: {} {}",
                    version.as_deref().unwrap_or("unknown"),
                    kind.as_deref().unwrap_or("unknown")
                );
            }
        }
        say!("status: {}", response.status().as_u16());
        if let Err(e) = read_body(response.into_body()).await {
            say!("request {n}: body error: {}", common::chain(&e));
            code = ExitCode::FAILURE;
        }
    }

    // Dropping the client drops its pool: idle connections are shut down
    // (close_notify) and each reports its end.
    drop(client);
    let mut ended = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + END_WAIT;
    while ended.len() < seen.len() {
        match tokio::time::timeout_at(deadline, ends.recv()).await {
            Ok(Some(end)) => {
                ended.insert(end.id, end);
            }
            _ => break,
        }
    }
    // Connections that ended before (the server closed them) were reported
    // already; take those too.
    while let Ok(end) = ends.try_recv() {
        ended.insert(end.id, end);
    }
    for (id, end) in &ended {
        say!("connection {id}: {}", end.ended);
    }
    for id in seen.iter().filter(|id| !ended.contains_key(id)) {
        say!("connection {id}: no end reported within {END_WAIT:?}");
    }
    code
}
