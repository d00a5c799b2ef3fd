//! A drain against hostile peers mixed with well-behaved ones: flooding,
//! stalled, half-open and slow-handshake peers. `drain(timeout)` returns
//! within `timeout + flush_timeout` whatever they do (a close waiting for a
//! peer's close_notify is cut at the deadline too), every well-behaved peer
//! sees close_notify, and the report lists every connection.

use graceful_tls_testkit::drain::clients;
use graceful_tls_testkit::pairs;

use std::collections::HashMap;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use clients::{Kind, Saw};
use graceful_tls::{
    CloseOutcome, Config, ConnectionSet, Ended, GracefulStream, ReadOutcome, ShutdownSignal,
    TlsBackend,
};
use pairs::{peer_read_to_end, PeerSaw, Version, VERSIONS};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

/// Serves `P` with `pong` and `B` with 32 MiB (more than loopback buffers
/// take, so a peer that never reads blocks the write); ignores anything
/// else (a flood). Returns when the drain begins, unless it is writing.
async fn serve<S: TlsBackend>(
    stream: &mut GracefulStream<S>,
    signal: ShutdownSignal,
    big_write: tokio::sync::mpsc::UnboundedSender<()>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = stream.read_outcome(&mut buf) => read,
            () = signal.begun() => return,
        };
        let Ok(ReadOutcome::Data(n)) = read else {
            return;
        };
        let answer = match &buf[..n] {
            b"P" => stream.write_all(b"pong").await,
            b"B" => {
                let _ = big_write.send(());
                stream.write_all(&vec![0u8; 32 << 20]).await
            }
            _ => Ok(()),
        };
        if answer.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Real TCP, real clock, current-thread runtime (where a flood hurt most):
/// each kind of peer on a thread of its own. The peer wait (10 s) is far
/// longer than the drain's deadline (1 s): the deadline must cut it.
#[tokio::test]
async fn drain_over_tcp_with_flooding_stalled_half_open_and_slow_handshake_peers() {
    const TIMEOUT: Duration = Duration::from_secs(1);
    const FLUSH: Duration = Duration::from_millis(500);
    // Generous: the point is "bounded", not "punctual". Before the drain's
    // deadline cut waits for the peer, this drain took the 10 s peer wait.
    const SLACK: Duration = Duration::from_secs(2);
    let config = Config::default()
        .with_flush_timeout(FLUSH)
        .with_peer_close_timeout(Duration::from_secs(10));
    let mix = [
        (Kind::WellBehaved, 8),
        (Kind::Flood, 2),
        (Kind::Stalled, 2),
        (Kind::HalfOpen, 2),
        (Kind::SlowHandshake, 2),
    ];
    let total: usize = mix.iter().map(|(_, n)| n).sum();

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = listener.local_addr().expect("addr");
    let set = ConnectionSet::with_config(config);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (big_tx, mut big_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    for (i, kind) in mix
        .iter()
        .flat_map(|&(kind, n)| std::iter::repeat_n(kind, n))
        .enumerate()
    {
        let version = VERSIONS[i % 2];
        clients.push(clients::start(kind, server, version, ready_tx.clone()));
        let (tcp, peer) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        let acceptor = tokio_rustls::TlsAcceptor::from(pairs::server_config(version));
        let big = big_tx.clone();
        set.spawn_handshake(Some(peer), acceptor.accept(tcp), move |stream, signal| {
            Box::pin(serve(stream, signal, big))
        })
        .expect("accepted before the drain");
    }
    // Every client in its state, every stalled handler blocked in its write.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for _ in 0..total {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // Blocking receive on the runtime's thread is fine here: the
        // server's tasks only need to run once the clients are ready, and
        // yielding between tries lets them.
        loop {
            match ready_rx.try_recv() {
                Ok(_) => break,
                Err(_) if left.is_zero() => panic!("clients not ready in 20 s"),
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    for _ in 0..2 {
        big_rx.recv().await.expect("stalled handler writing");
    }
    assert_eq!(set.live(), total);

    let began = Instant::now();
    let report = set.drain(TIMEOUT).await;
    let took = began.elapsed();
    assert!(
        took <= TIMEOUT + FLUSH + SLACK,
        "drain took {took:?}, bound {:?}",
        TIMEOUT + FLUSH
    );
    assert_eq!(set.live(), 0, "no task may outlive the drain");
    assert_eq!(report.connections.len(), total, "{report:?}");

    let by_peer: HashMap<SocketAddr, _> = report
        .connections
        .iter()
        .map(|c| (c.peer.expect("peer address"), c))
        .collect();
    for client in clients {
        let entry = by_peer[&client.addr];
        let kind = client.kind;
        let flooded = client.sent.load(std::sync::atomic::Ordering::Relaxed);
        let saw = client.finish();
        let context = format!("{kind:?}: report {entry:?}, client saw {saw:?}");
        match kind {
            Kind::WellBehaved => {
                assert_eq!(saw, Saw::CloseNotify, "{context}");
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::PeerConfirmed)),
                    "{context}"
                );
                assert!(!entry.forced, "{context}");
                assert_eq!(entry.stats.written(), 4, "{context}");
            }
            // Handler done at once, close_notify sent, the wait for the
            // peer cut at the deadline.
            Kind::Flood | Kind::HalfOpen => {
                if kind == Kind::Flood {
                    assert!(flooded > 1 << 20, "{context}: flooded only {flooded} bytes");
                    assert!(
                        entry.stats.read() + entry.stats.discarded() > 0,
                        "{context}"
                    );
                }
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::PeerTimeout)),
                    "{context}"
                );
                assert!(entry.forced, "{context}");
            }
            Kind::Stalled => {
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::FlushTimeout)),
                    "{context}"
                );
                assert!(entry.forced, "{context}");
            }
            Kind::SlowHandshake => {
                assert!(
                    matches!(entry.ended, Ended::HandshakeCancelled),
                    "{context}"
                );
                assert!(entry.forced, "{context}");
            }
        }
    }
    assert_eq!(
        report.to_string(),
        "connections=16 forced=8 flush-timeout=2 handshake-cancelled=2 peer-confirmed=8 peer-timeout=4"
    );
}

/// A transport that writes one byte per 100 ms: a client that sends its
/// ClientHello byte by byte.
struct Trickle<IO> {
    io: IO,
    next: Pin<Box<Sleep>>,
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Trickle<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.next.as_mut().poll(cx));
        let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &buf[..buf.len().min(1)]))?;
        let at = Instant::now() + Duration::from_millis(100);
        self.next.as_mut().reset(at);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Trickle<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

/// The same mix in memory on the paused clock, where the bound is exact:
/// `drain` returns at `timeout + flush_timeout` to the millisecond, the
/// silent peers' waits cut at the deadline, the stalled ones at the flush
/// timeout after it.
#[tokio::test(start_paused = true)]
async fn drain_in_memory_returns_exactly_at_timeout_plus_flush() {
    const TIMEOUT: Duration = Duration::from_secs(5);
    const FLUSH: Duration = Duration::from_secs(3);
    let config = Config::default()
        .with_flush_timeout(FLUSH)
        .with_peer_close_timeout(Duration::from_secs(60));
    let set = ConnectionSet::with_config(config);
    let (big_tx, mut big_rx) = tokio::sync::mpsc::unbounded_channel();
    let register = |server, big: &tokio::sync::mpsc::UnboundedSender<()>| {
        let big = big.clone();
        set.spawn(server, None, move |stream, signal| {
            Box::pin(serve(stream, signal, big))
        })
        .expect("accepted")
    };
    let mut well_behaved = Vec::new();
    let mut silent = Vec::new();
    let mut ids: HashMap<u64, &str> = HashMap::new();
    for i in 0..6 {
        let version: Version = VERSIONS[i % 2];
        let (client, server) = pairs::duplex_pair(version, 64 * 1024).await;
        let id = register(server, &big_tx);
        let mut client: pairs::Tls<_> = client.into();
        match i % 3 {
            0 => {
                ids.insert(id, "well-behaved");
                well_behaved.push(tokio::spawn(async move {
                    let saw = peer_read_to_end(&mut client).await;
                    let _ = client.shutdown().await;
                    saw
                }));
            }
            1 => {
                // Half-open: holds its end, never reads, never answers.
                ids.insert(id, "half-open");
                silent.push(client);
            }
            _ => {
                ids.insert(id, "stalled");
                client.write_all(b"B").await.unwrap();
                client.flush().await.unwrap();
                silent.push(client);
            }
        }
    }
    // Two clients whose ClientHello trickles in, one byte per 100 ms.
    let mut slow = Vec::new();
    for version in VERSIONS {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let acceptor = tokio_rustls::TlsAcceptor::from(pairs::server_config(version));
        let big = big_tx.clone();
        let id = set
            .spawn_handshake(None, acceptor.accept(b), move |stream, signal| {
                Box::pin(serve(stream, signal, big))
            })
            .expect("accepted");
        ids.insert(id, "slow-handshake");
        let connector = tokio_rustls::TlsConnector::from(pairs::client_config(version));
        let trickle = Trickle {
            io: a,
            next: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        slow.push(tokio::spawn(async move {
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            connector.connect(name, trickle).await.is_ok()
        }));
    }
    for _ in 0..2 {
        big_rx.recv().await.expect("stalled handler writing");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let began = Instant::now();
    let report = set.drain(TIMEOUT).await;
    assert_eq!(began.elapsed(), TIMEOUT + FLUSH);
    assert_eq!(set.live(), 0);
    assert_eq!(report.connections.len(), 8);
    for conn in &report.connections {
        let kind = ids[&conn.id];
        let expected = match kind {
            "well-behaved" => "peer-confirmed",
            "half-open" => "peer-timeout",
            "stalled" => "flush-timeout",
            _ => "handshake-cancelled",
        };
        assert_eq!(conn.ended.as_str(), expected, "{kind}: {conn:?}");
        assert_eq!(conn.forced, kind != "well-behaved", "{kind}: {conn:?}");
        if kind == "half-open" {
            // Registered 300 ms before the drain, cut at its deadline.
            assert_eq!(conn.lifetime, Duration::from_millis(300) + TIMEOUT);
        }
    }
    for task in well_behaved {
        assert_eq!(task.await.unwrap(), PeerSaw::CloseNotify(b"".to_vec()));
    }
    for task in slow {
        assert!(!task.await.unwrap(), "the slow handshake cannot complete");
    }
    drop(silent);
}
