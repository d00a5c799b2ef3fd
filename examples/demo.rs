//! graceful-tls end to end: six ways a TLS connection ends, over loopback TCP.
//!
//! The side under test is a `GracefulStream` client; the other side is a bare
//! tokio-rustls server stream that knows nothing of this crate and simply
//! reports what reached it. Every wait is bounded: the demo takes ~1.5 s.
//!
//! ```text
//! cargo run --example demo             # rustls' default versions (TLS 1.3)
//! cargo run --example demo -- --tls12  # TLS 1.2 only
//! ```

mod common;

use std::fmt::Display;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, Config, Error, GracefulStream, ReadOutcome};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

/// The side under test.
type Client = GracefulStream<client::TlsStream<TcpStream>>;
/// The observer: a bare tokio-rustls stream, never wrapped.
type Peer = server::TlsStream<TcpStream>;

/// Bound for waits that should end on their own long before.
const PATIENCE: Duration = Duration::from_secs(3);

/// One line of the table.
struct Row {
    scenario: &'static str,
    read: String,
    close: String,
    took: Duration,
    peer: String,
    note: String,
}

impl Row {
    fn new(
        scenario: &'static str,
        read: impl Into<String>,
        (close, took): (String, Duration),
        peer: String,
        note: impl Into<String>,
    ) -> Self {
        let (read, note) = (read.into(), note.into());
        Row {
            scenario,
            read,
            close,
            took,
            peer,
            note,
        }
    }
}

/// A loopback TLS server and client config, one fresh connection per scenario.
struct Demo {
    listener: TcpListener,
    connector: TlsConnector,
    acceptor: TlsAcceptor,
    negotiated: OnceLock<graceful_tls::TlsVersion>,
}

impl Demo {
    async fn new(tls12: bool) -> Self {
        let options = common::TlsOptions {
            tls12,
            ..Default::default()
        };
        let server = common::server_tls(
            &common::test_cert("server.pem"),
            &common::test_cert("server.key"),
            &options,
        )
        .expect("server config from testkit/certs");
        let client =
            common::client_tls(&common::test_cert("ca.pem"), &options).expect("client config");
        Demo {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            connector: TlsConnector::from(client),
            acceptor: TlsAcceptor::from(server),
            negotiated: OnceLock::new(),
        }
    }

    /// A fresh connection: the wrapped client and the bare server-side peer.
    async fn connect(&self, config: Config) -> (Client, Peer) {
        let addr = self.listener.local_addr().expect("local addr");
        let (client, peer) = within("connect and handshake", async {
            let (tcp, accepted) = tokio::join!(TcpStream::connect(addr), self.listener.accept());
            let (tcp, (accepted, _)) = (tcp.expect("connect"), accepted.expect("accept"));
            // Without TCP_NODELAY, Nagle holds close_notify back until the peer
            // acknowledges our last write, which a delayed ACK makes ~40 ms.
            tcp.set_nodelay(true).expect("TCP_NODELAY");
            accepted.set_nodelay(true).expect("TCP_NODELAY");
            let name = ServerName::try_from("localhost").expect("server name");
            let (connect, accept) = (
                self.connector.connect(name, tcp),
                self.acceptor.accept(accepted),
            );
            tokio::join!(connect, accept)
        })
        .await;
        let client = client.expect("client handshake");
        let client = GracefulStream::with_config(client, CancellationToken::new(), config);
        if let Some(version) = client.protocol_version() {
            let _ = self.negotiated.set(version);
        }
        (client, peer.expect("server handshake"))
    }
}

/// The shared peer observer: reads until the stream ends, then says how many
/// bytes arrived and how it ended.
async fn observe(peer: &mut Peer) -> String {
    let (mut bytes, mut buf) = (0, vec![0u8; 64 * 1024]);
    let reading = async {
        loop {
            match peer.read(&mut buf).await {
                Ok(0) => return "close_notify".to_string(),
                Ok(n) => bytes += n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return "eof without close_notify (truncation)".to_string()
                }
                Err(e) => return format!("error: {:?}", e.kind()),
            }
        }
    };
    let end = timeout(PATIENCE, reading).await;
    let end = end.unwrap_or_else(|_| "nothing (timed out)".into());
    format!("{bytes} B, then {end}")
}

/// A well-behaved peer: observes, then answers with its own close_notify.
async fn observe_and_answer(peer: &mut Peer) -> String {
    let seen = observe(peer).await;
    let _ = timeout(PATIENCE, peer.shutdown()).await;
    seen
}

/// Awaits `fut`, panicking rather than hanging if it takes over [`PATIENCE`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let result = timeout(PATIENCE, fut).await;
    result.unwrap_or_else(|_| panic!("{what} took over {PATIENCE:?}"))
}

async fn send(client: &mut Client, message: &[u8]) {
    within("write", client.write_all(message))
        .await
        .expect("write");
}

fn show<T: Display>(result: Result<T, Error>) -> String {
    result.map_or_else(
        |e| format!("error: {}", common::chain(&e)),
        |o| o.to_string(),
    )
}

/// Closes and measures how long it took (bounded by the stream's Config).
async fn timed_close(client: &mut Client) -> (String, Duration) {
    let started = Instant::now();
    let outcome = client.close().await;
    (show(outcome), started.elapsed())
}

/// 1. The client writes and closes; the peer reads everything and answers
///    with its own close_notify.
async fn clean_close(demo: &Demo) -> Row {
    let (mut client, mut peer) = demo.connect(Config::default()).await;
    let client_side = async {
        send(&mut client, b"GET / HTTP/1.1\r\n\r\n").await;
        timed_close(&mut client).await
    };
    let (closed, seen) = tokio::join!(client_side, observe_and_answer(&mut peer));
    Row::new("1. clean close", "-", closed, seen, "")
}

/// 2. The peer answers, then ends TCP without close_notify.
async fn peer_truncation(demo: &Demo) -> Row {
    let (mut client, mut peer) = demo.connect(Config::default()).await;
    let peer_side = async {
        let _ = timeout(PATIENCE, peer.write_all(b"HTTP/1.1 200 OK\r\n\r\npartial")).await;
        // FIN on the TCP socket underneath, bypassing TLS; reading goes on.
        let _ = timeout(PATIENCE, peer.get_mut().0.shutdown()).await;
        observe(&mut peer).await
    };
    let client_side = async {
        let (mut buf, mut reads) = ([0u8; 4096], Vec::new());
        loop {
            let read = within("read", client.read_outcome(&mut buf)).await;
            reads.push(show(read.clone()));
            if !matches!(read, Ok(ReadOutcome::Data(_))) {
                break (reads.join(", "), timed_close(&mut client).await);
            }
        }
    };
    let ((read, closed), seen) = tokio::join!(client_side, peer_side);
    let note = "peer shut down its TCP write half";
    Row::new("2. peer truncation", read, closed, seen, note)
}

/// 3. A read is pending when the token is cancelled; the client still says
///    goodbye and closes properly.
async fn cancel_mid_read(demo: &Demo) -> Row {
    let (mut client, mut peer) = demo.connect(Config::default()).await;
    let token = client.token().clone();
    let client_side = async {
        let (mut buf, started) = ([0u8; 4096], Instant::now());
        let cancel_soon = async {
            sleep(Duration::from_millis(100)).await;
            token.cancel();
        };
        let reading = async { tokio::join!(client.read_outcome(&mut buf), cancel_soon).0 };
        let read = show(within("read", reading).await);
        let read = format!("{read} after {:.0?}", started.elapsed());
        send(&mut client, b"bye").await;
        (read, timed_close(&mut client).await)
    };
    let ((read, closed), seen) = tokio::join!(client_side, observe_and_answer(&mut peer));
    let note = "wrote \"bye\" after the cancel";
    Row::new("3. cancel mid-read", read, closed, seen, note)
}

/// 4. The client writes and drops the stream without calling close().
async fn drop_without_close(demo: &Demo) -> Row {
    let (mut client, mut peer) = demo.connect(Config::default()).await;
    send(&mut client, b"fire and forget").await;
    let started = Instant::now();
    drop(client);
    let closed = ("dropped".into(), started.elapsed());
    let seen = observe(&mut peer).await;
    let note = "took = the drop itself";
    Row::new("4. drop without close", "-", closed, seen, note)
}

/// 5. The peer never reads: once the TCP buffers are full, nothing more can
///    be written, close_notify included.
async fn stalled_peer(demo: &Demo) -> Row {
    let config = Config::default().with_flush_timeout(Duration::from_millis(500));
    let (mut client, mut peer) = demo.connect(config).await;
    let chunk = vec![0x5a; 64 * 1024];
    // Writes block once the buffers are full: give them 300 ms.
    let writing = async { while client.write_all(&chunk).await.is_ok() {} };
    let _ = timeout(Duration::from_millis(300), writing).await;
    let mib = client.stats().written() as f64 / (1024.0 * 1024.0);
    let closed = timed_close(&mut client).await;
    drop(client);
    // Only now does the peer look at what reached it.
    let seen = observe(&mut peer).await;
    let note = format!("wrote {mib:.1} MiB; peer read only after the close");
    Row::new("5. stalled peer", "-", closed, seen, note)
}

/// 6. The peer reads everything but never sends close_notify, and keeps the
///    socket open until the client's close returned.
async fn silent_peer(demo: &Demo) -> Row {
    let config = Config::default().with_peer_close_timeout(Duration::from_millis(300));
    let (mut client, mut peer) = demo.connect(config).await;
    let client_side = async {
        send(&mut client, b"anyone there?").await;
        timed_close(&mut client).await
    };
    let (closed, seen) = tokio::join!(client_side, observe(&mut peer));
    Row::new("6. silent peer", "-", closed, seen, "peer never shuts down")
}

fn print_table(rows: [Row; 6]) {
    let header = "scenario|client read|client close|close took|peer saw|note";
    let mut table = vec![header.split('|').map(String::from).collect::<Vec<_>>()];
    for r in rows {
        let took = format!("{:.1?}", r.took);
        table.push(vec![
            r.scenario.into(),
            r.read,
            r.close,
            took,
            r.peer,
            r.note,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| table.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    table.insert(1, widths.iter().map(|&w| "-".repeat(w)).collect());
    for row in &table {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line += &format!("{cell:<width$} | ");
        }
        println!("{}", line.trim_end_matches([' ', '|']));
    }
}

#[tokio::main]
async fn main() {
    let tls12 = std::env::args().skip(1).any(|arg| arg == "--tls12");
    let demo = Demo::new(tls12).await;
    let rows = [
        clean_close(&demo).await,
        peer_truncation(&demo).await,
        cancel_mid_read(&demo).await,
        drop_without_close(&demo).await,
        stalled_peer(&demo).await,
        silent_peer(&demo).await,
    ];
    match demo.negotiated.get() {
        Some(version) => println!("negotiated TLS version: {version:?}\n"),
        None => println!("negotiated TLS version: unknown\n"),
    }
    print_table(rows);
}
