//! Load for `ConnectionSet`: N rustls clients over loopback TCP against an
//! in-process server, then one drain; prints how long it took and what each
//! side saw.
//!
//! ```text
//! cargo run --release --example drain_load -- --connections 5000 --stalled 100
//! ```
//!
//! Every client sends a request and reads its echo; `--stalled` of them then
//! ask for a large answer that they never read. Then the server drains with
//! `--drain-timeout-ms` (default 2000): every client that reads must see
//! close_notify; stalled ones are forced at the deadline and closed within
//! `--flush-timeout-ms` (default 1000).

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{say, ArgsError, Flags, TlsOptions};
use graceful_tls::{ConnectionSet, ReadOutcome};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const USAGE: &str = "\
usage: drain_load [--connections N] [--stalled N] [--drain-timeout-ms N]
                  [--flush-timeout-ms N] [--peer-close-timeout-ms N] [--tls12]";

/// What a stalled client asks for (and never reads).
const BIG: usize = 4 << 20;

struct Args {
    connections: usize,
    stalled: usize,
    drain_timeout: Duration,
    tls: TlsOptions,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let mut flags = Flags::new(args);
    let mut parsed = Args {
        connections: 1000,
        stalled: 0,
        drain_timeout: Duration::from_secs(2),
        tls: TlsOptions {
            flush_timeout: Some(Duration::from_secs(1)),
            ..TlsOptions::default()
        },
    };
    while let Some(flag) = flags.next_flag() {
        if parsed.tls.parse(&flag, &mut flags)? {
            continue;
        }
        match flag.as_str() {
            "--connections" => parsed.connections = flags.number(&flag)? as usize,
            "--stalled" => parsed.stalled = flags.number(&flag)? as usize,
            "--drain-timeout-ms" => parsed.drain_timeout = flags.millis(&flag)?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Bad(format!("unknown argument: {other:?}"))),
        }
    }
    Ok(parsed)
}

/// Echoes each request; a request starting with `B` gets [`BIG`] bytes.
/// Stops reading when the drain begins.
fn register(set: &ConnectionSet, acceptor: &TlsAcceptor, tcp: TcpStream) {
    let registered = set.spawn_handshake(None, acceptor.accept(tcp), |stream, signal| {
        Box::pin(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let read = tokio::select! {
                    read = stream.read_outcome(&mut buf) => read,
                    () = signal.begun() => return,
                };
                let Ok(ReadOutcome::Data(n)) = read else {
                    return;
                };
                let answer = match buf[0] {
                    b'B' => vec![b'x'; BIG],
                    _ => buf[..n].to_vec(),
                };
                if stream.write_all(&answer).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
        })
    });
    assert!(registered.is_ok(), "no drain yet");
}

/// A client: request, echo, then (unless stalled) read to the end and
/// answer close_notify. Returns whether it saw close_notify.
async fn client(
    connector: TlsConnector,
    addr: std::net::SocketAddr,
    stalled: bool,
    ready: tokio::sync::mpsc::Sender<()>,
    connecting: Arc<tokio::sync::Semaphore>,
) -> bool {
    // At most a few hundred handshakes in flight: more would overflow the
    // listen backlog (the kernel then resets connections).
    let permit = connecting.acquire_owned().await.expect("semaphore open");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    tls.read_exact(&mut buf).await.expect("echo");
    drop(permit);
    if stalled {
        tls.write_all(b"BIG").await.expect("write");
        let _ = ready.send(()).await;
        // Never read again; keep the socket open until the process ends.
        std::future::pending::<()>().await;
    }
    let _ = ready.send(()).await;
    let mut sink = vec![0u8; 16 * 1024];
    loop {
        match tls.read(&mut sink).await {
            Ok(0) => {
                let _ = tls.shutdown().await;
                return true;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("drain_load", USAGE),
    };
    let certs = |name| common::test_cert(name);
    let server = common::server_tls(&certs("server.pem"), &certs("server.key"), &args.tls);
    let client_tls = common::client_tls(&certs("ca.pem"), &args.tls);
    let (server, client_tls) = (
        server.expect("server config"),
        client_tls.expect("client config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let set = Arc::new(ConnectionSet::with_config(args.tls.graceful_config()));

    let acceptor = TlsAcceptor::from(server);
    let accept_set = set.clone();
    let accepting = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accept");
            let _ = tcp.set_nodelay(true);
            register(&accept_set, &acceptor, tcp);
        }
    });

    let started = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(64);
    let connector = TlsConnector::from(client_tls);
    let connecting = Arc::new(tokio::sync::Semaphore::new(100));
    let mut clients = Vec::new();
    for i in 0..args.connections {
        let stalled = i < args.stalled;
        let task = client(
            connector.clone(),
            addr,
            stalled,
            ready_tx.clone(),
            connecting.clone(),
        );
        clients.push((stalled, tokio::spawn(task)));
    }
    for _ in 0..args.connections {
        ready_rx.recv().await.expect("client ready");
    }
    accepting.abort();
    say!(
        "setup: {} connections ({} stalled) in {:?}, live {}",
        args.connections,
        args.stalled,
        started.elapsed(),
        set.live()
    );

    let began = Instant::now();
    let report = set.drain(args.drain_timeout).await;
    let took = began.elapsed();
    let mut saw_close_notify = 0;
    for (stalled, task) in clients {
        if stalled {
            task.abort();
        } else if task.await.unwrap_or(false) {
            saw_close_notify += 1;
        }
    }
    say!("drain: {took:?} (timeout {:?})", args.drain_timeout);
    say!("report: {report}");
    say!(
        "clients that read: {saw_close_notify}/{} saw close_notify",
        args.connections - args.stalled
    );
    ExitCode::SUCCESS
}
