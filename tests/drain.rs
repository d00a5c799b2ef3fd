//! `ConnectionSet`: draining hundreds of connections against real rustls
//! peers, with a deadline (paused clock) and a report checked against what
//! each peer saw.

use graceful_tls_testkit::pairs;
use graceful_tls_testkit::{bounded, drain, WAIT};

use std::collections::HashMap;
use std::time::Duration;

use drain::{register, run_peer, Peer, Request};
use graceful_tls::{CloseOutcome, Config, ConnectionSet, Ended, HandshakeKind};
use pairs::{pattern, PeerSaw, VERSIONS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const DEADLINE: Duration = Duration::from_secs(5);
const FLUSH: Duration = Duration::from_secs(3);

fn config() -> Config {
    Config::default()
        .with_flush_timeout(FLUSH)
        .with_peer_close_timeout(Duration::from_secs(1))
}

/// A fast request (2 s of work), a slow one (beyond the deadline) and a big
/// answer that a stalled peer never reads.
const FAST: Request = Request {
    work: Duration::from_secs(2),
    len: 3000,
};
const SLOW: Request = Request {
    work: Duration::from_secs(60),
    len: 10,
};
const BIG: Request = Request {
    work: Duration::ZERO,
    len: 1 << 20,
};

/// One connection under test: its id in the set, what its peer does, and
/// the peer's task.
struct Conn {
    id: u64,
    peer: Peer,
    task: JoinHandle<PeerSaw>,
}

/// Registers `kinds.len()` in-memory connections (TLS 1.2 and 1.3
/// alternating) and starts their peers; waits until every request was
/// received by its handler.
async fn start(set: &ConnectionSet, kinds: &[Peer], unstall: &watch::Receiver<bool>) -> Vec<Conn> {
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let mut conns = Vec::new();
    for (i, &peer) in kinds.iter().enumerate() {
        let version = VERSIONS[i % 2];
        // 16 KiB per direction: a peer that stops reading blocks the writer.
        let (client, server) = pairs::duplex_pair(version, 16 * 1024).await;
        let id = register(set, server, &started_tx);
        let task = tokio::spawn(run_peer(peer, client.into(), unstall.clone()));
        conns.push(Conn { id, peer, task });
    }
    let requests = kinds.iter().filter(|p| **p != Peer::Idle).count();
    for _ in 0..requests {
        bounded("every handler's request", WAIT, started_rx.recv())
            .await
            .expect("handler received its request");
    }
    assert_eq!(set.live(), kinds.len());
    conns
}

/// Every kind of peer at once: idle, mid-request (finishes in time),
/// mid-request beyond the deadline, stalled. The report must match what
/// each peer saw, and the drain must return within deadline + flush timeout.
#[tokio::test(start_paused = true)]
async fn drain_with_idle_busy_slow_and_stalled_peers() {
    let set = ConnectionSet::with_config(config());
    let kinds: Vec<Peer> = (0..320)
        .map(|i| match i % 4 {
            0 => Peer::Idle,
            1 => Peer::Request(FAST),
            2 => Peer::Request(SLOW),
            _ => Peer::Stalled(BIG),
        })
        .collect();
    let (unstall_tx, unstall) = watch::channel(false);
    let conns = start(&set, &kinds, &unstall).await;

    let began = Instant::now();
    let report = bounded("the drain", DEADLINE + WAIT, set.drain(DEADLINE)).await;
    let took = began.elapsed();
    assert!(
        took >= DEADLINE && took <= DEADLINE + FLUSH,
        "drain took {took:?}"
    );
    assert_eq!(report.elapsed, took);
    assert_eq!(set.live(), 0, "no task may outlive the drain");
    unstall_tx.send(true).unwrap();

    assert_eq!(report.connections.len(), conns.len());
    let by_id: HashMap<u64, _> = report.connections.iter().map(|c| (c.id, c)).collect();
    assert_eq!(by_id.len(), conns.len(), "connection ids must be distinct");
    for conn in conns {
        let saw = bounded("a peer's read to its end", WAIT, conn.task)
            .await
            .expect("peer task");
        let entry = by_id[&conn.id];
        let context = format!(
            "conn {} ({:?}): report {entry:?}, peer saw {saw:?}",
            conn.id, conn.peer
        );
        match conn.peer {
            Peer::Idle => {
                assert_eq!(saw, PeerSaw::CloseNotify(vec![]), "{context}");
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::PeerConfirmed)),
                    "{context}"
                );
                assert!(!entry.forced, "{context}");
                assert!(entry.lifetime < Duration::from_secs(1), "{context}");
            }
            Peer::Request(FAST) => {
                assert_eq!(
                    saw,
                    PeerSaw::CloseNotify(pattern(FAST.len as usize)),
                    "{context}"
                );
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::PeerConfirmed)),
                    "{context}"
                );
                assert!(!entry.forced, "{context}");
                assert_eq!(entry.stats.read(), 8, "{context}");
                assert_eq!(entry.stats.written(), u64::from(FAST.len), "{context}");
            }
            Peer::Request(_) => {
                // Forced at the deadline: no answer, but a clean close.
                assert_eq!(saw, PeerSaw::CloseNotify(vec![]), "{context}");
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::NotAwaited)),
                    "{context}"
                );
                assert!(entry.forced, "{context}");
            }
            Peer::Stalled(_) => {
                // Forced at the deadline, close_notify stuck behind the
                // unread answer: the peer sees a truncation.
                assert!(matches!(saw, PeerSaw::Truncated(_)), "{context}");
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::FlushTimeout)),
                    "{context}"
                );
                assert!(entry.forced, "{context}");
            }
        }
    }
    assert_eq!(report.forced(), 160);
    assert_eq!(report.closed_with(CloseOutcome::PeerConfirmed), 160);
    assert_eq!(
        report.to_string(),
        "connections=320 forced=160 flush-timeout=80 not-awaited=80 peer-confirmed=160"
    );
}

/// Everyone finishes well before the deadline: the drain returns as soon as
/// the last connection closed, every close peer-confirmed. Loopback TCP, on
/// the real clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_where_all_finish_before_the_deadline_over_tcp() {
    let set = ConnectionSet::with_config(config());
    let (unstall_tx, unstall) = watch::channel(true);
    drop(unstall_tx);
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let mut peers = Vec::new();
    let quick = Request {
        work: Duration::from_millis(50),
        len: 100,
    };
    for i in 0..200 {
        let (client, server) = pairs::tcp_pair(VERSIONS[i % 2]).await;
        let addr = server.get_ref().0.peer_addr().ok();
        let started = started_tx.clone();
        let id = set
            .spawn(server, addr, move |stream, signal| {
                Box::pin(drain::serve(stream, signal, started))
            })
            .expect("accepted");
        let peer = if i % 2 == 0 {
            Peer::Idle
        } else {
            Peer::Request(quick)
        };
        peers.push((
            id,
            addr,
            peer,
            tokio::spawn(run_peer(peer, client.into(), unstall.clone())),
        ));
    }
    for _ in 0..100 {
        bounded("a request", WAIT, started_rx.recv())
            .await
            .expect("request received");
    }
    let report = bounded(
        "the drain",
        Duration::from_secs(30),
        set.drain(Duration::from_secs(60)),
    )
    .await;
    assert!(report.elapsed < Duration::from_secs(30), "{report:?}");
    assert_eq!(set.live(), 0);
    assert_eq!(report.to_string(), "connections=200 peer-confirmed=200");
    let by_id: HashMap<u64, _> = report.connections.iter().map(|c| (c.id, c)).collect();
    for (i, (id, addr, peer, task)) in peers.into_iter().enumerate() {
        let saw = bounded("a peer's read to its end", WAIT, task)
            .await
            .expect("peer task");
        let expected = match peer {
            Peer::Idle => vec![],
            _ => pattern(quick.len as usize),
        };
        assert_eq!(saw, PeerSaw::CloseNotify(expected), "conn {id}");
        let report = by_id[&id];
        assert_eq!(report.peer, addr);
        assert!(addr.is_some());
        // What the connection was: its version and a full handshake; a
        // set's connections have no server name.
        assert_eq!(report.version, Some(VERSIONS[i % 2].tls()), "{report}");
        assert_eq!(report.handshake, Some(HandshakeKind::Full), "{report}");
        assert_eq!(report.server_name, None, "{report}");
        assert!(report.to_string().ends_with(": peer-confirmed"), "{report}");
    }
}

/// `abort` forces everything at once: no handler finishes its request,
/// every peer that reads sees close_notify, stalled peers cost at most the
/// flush timeout.
#[tokio::test(start_paused = true)]
async fn abort_closes_everything_within_the_flush_timeout() {
    let set = ConnectionSet::with_config(config());
    let kinds: Vec<Peer> = (0..150)
        .map(|i| match i % 3 {
            0 => Peer::Idle,
            1 => Peer::Request(FAST),
            _ => Peer::Stalled(BIG),
        })
        .collect();
    let (unstall_tx, unstall) = watch::channel(false);
    let conns = start(&set, &kinds, &unstall).await;

    let report = bounded("the abort", WAIT, set.abort()).await;
    assert!(report.elapsed <= FLUSH, "{:?}", report.elapsed);
    assert_eq!(set.live(), 0);
    unstall_tx.send(true).unwrap();
    assert_eq!(report.forced(), 150);
    let by_id: HashMap<u64, _> = report.connections.iter().map(|c| (c.id, c)).collect();
    for conn in conns {
        let saw = bounded("a peer's read to its end", WAIT, conn.task)
            .await
            .expect("peer task");
        let ended = &by_id[&conn.id].ended;
        match conn.peer {
            Peer::Stalled(_) => {
                assert!(matches!(saw, PeerSaw::Truncated(_)), "{saw:?}");
                assert!(matches!(ended, Ended::Closed(CloseOutcome::FlushTimeout)));
            }
            _ => {
                assert_eq!(saw, PeerSaw::CloseNotify(vec![]));
                assert!(
                    matches!(ended, Ended::Closed(CloseOutcome::NotAwaited)),
                    "{ended:?} {:?}",
                    conn.peer
                );
            }
        }
    }
}

/// A second call escalates: a drain with a long deadline, then `abort`
/// while it waits. Both return as soon as everything is closed, with the
/// same report.
#[tokio::test(start_paused = true)]
async fn abort_escalates_a_drain_in_progress() {
    let set = ConnectionSet::with_config(config());
    let kinds = vec![Peer::Request(SLOW); 20];
    let (_unstall_tx, unstall) = watch::channel(false);
    let conns = start(&set, &kinds, &unstall).await;

    let began = Instant::now();
    let both = async {
        tokio::join!(set.drain(Duration::from_secs(3600)), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            set.abort().await
        })
    };
    let (drained, aborted) = bounded("the drain and the abort", WAIT, both).await;
    assert_eq!(began.elapsed(), Duration::from_secs(1));
    assert_eq!(drained.to_string(), aborted.to_string());
    assert_eq!(
        drained.to_string(),
        "connections=20 forced=20 not-awaited=20"
    );
    for conn in conns {
        let saw = bounded("a peer's read to its end", WAIT, conn.task).await;
        assert_eq!(saw.unwrap(), PeerSaw::CloseNotify(vec![]));
    }
}

/// Nothing to wait for: the drain returns at once.
#[tokio::test(start_paused = true)]
async fn empty_set_drains_at_once() {
    let set = ConnectionSet::new();
    let report = bounded("the drain", WAIT, set.drain(DEADLINE)).await;
    assert_eq!(report.elapsed, Duration::ZERO);
    assert_eq!(report.to_string(), "connections=0");
}

/// A handshake that never completes (a client that stalled mid-handshake)
/// is dropped at the set's handshake timeout, counted from registration,
/// and reported `handshake-timeout`: it does not hold the drain until its
/// deadline.
#[tokio::test(start_paused = true)]
async fn a_stalled_handshake_ends_at_the_handshake_timeout() {
    let set = ConnectionSet::new().with_handshake_timeout(Duration::from_secs(2));
    let stalled =
        std::future::pending::<Result<pairs::Tls<tokio::io::DuplexStream>, std::io::Error>>();
    set.spawn_handshake(None, stalled, |_, _| Box::pin(async {}))
        .expect("admitted");
    let started = Instant::now();
    let report = bounded("the drain", WAIT, set.drain(Duration::from_secs(10))).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2), "{report}");
    assert_eq!(report.connections.len(), 1, "{report}");
    assert!(
        matches!(report.connections[0].ended, Ended::HandshakeTimeout),
        "{report}"
    );
    assert_eq!(report.forced(), 0, "{report}");
}

/// A stream lent by value (`spawn_lent`, as the HTTP server lends it to
/// hyper): the handler writes through the `LentStream` and shuts it down,
/// which only flushes while the handler runs; once the handler returned
/// and dropped the handle, the set takes the stream back and closes it
/// itself, waiting for the client's close_notify: `peer-confirmed`, not
/// `not-awaited`.
#[tokio::test(start_paused = true)]
async fn a_lent_stream_is_taken_back_and_closed_with_a_wait_for_the_peer() {
    use tokio::io::AsyncWriteExt;
    for version in VERSIONS {
        let set = ConnectionSet::new();
        let (client, server) = pairs::duplex_pair(version, 16 * 1024).await;
        let handshake = std::future::ready(Ok::<_, std::io::Error>(server));
        set.spawn_lent(None, handshake, |mut io, signal| async move {
            io.write_all(b"hello")
                .await
                .expect("write through the lent stream");
            signal.begun().await;
            io.shutdown().await.expect("a lent shutdown only flushes");
            assert!(
                io.with_stream(|s| s.state().close_step().is_none())
                    .expect("still lent"),
                "the handler's shutdown must not start the close"
            );
        })
        .expect("admitted");
        let peer = tokio::spawn(async move {
            let mut tls = pairs::Tls::from(client);
            let saw = pairs::peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            saw
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let report = bounded("the drain", WAIT, set.drain(Duration::from_secs(5))).await;
        assert_eq!(
            bounded("the peer's read to its end", WAIT, peer)
                .await
                .expect("peer"),
            PeerSaw::CloseNotify(b"hello".to_vec())
        );
        assert_eq!(report.connections.len(), 1, "{report}");
        assert!(
            matches!(
                report.connections[0].ended,
                Ended::Closed(CloseOutcome::PeerConfirmed)
            ),
            "{version:?}: {report}"
        );
        // The handler's own checks held (a failed one is a caught panic).
        assert!(!report.connections[0].panicked, "{report}");
        assert_eq!(report.forced(), 0, "{report}");
    }
}

/// A lent stream kept after its handler returned (an upgraded connection,
/// a WebSocket the application holds) is the application's own stream:
/// its `poll_shutdown` closes as `GracefulStream`'s does (close_notify,
/// without waiting for the peer's: `not-awaited`) while the handle is
/// still alive; dropping it gives the closed stream back to the set, which
/// reports that close.
#[tokio::test(start_paused = true)]
async fn a_lent_stream_kept_after_its_handler_returned_closes_on_shutdown() {
    use tokio::io::{AsyncWrite, AsyncWriteExt};
    for version in VERSIONS {
        let set = ConnectionSet::new();
        let (client, server) = pairs::duplex_pair(version, 16 * 1024).await;
        let handshake = std::future::ready(Ok::<_, std::io::Error>(server));
        let (keep, kept) = tokio::sync::oneshot::channel();
        set.spawn_lent(None, handshake, |io, _signal| async move {
            let _ = keep.send(io);
        })
        .expect("admitted");
        let mut kept = bounded("the lent stream", WAIT, kept)
            .await
            .expect("the handler hands its stream on");
        tokio::task::yield_now().await;
        let inner_vectored = kept.with_stream(|s| s.is_write_vectored());
        assert_eq!(Some(kept.is_write_vectored()), inner_vectored);
        let debug = format!("{kept:?}");
        assert!(
            debug.contains("handler_returned: true") && debug.contains("taken_back: false"),
            "{debug}"
        );
        let peer = tokio::spawn(async move {
            let mut tls = pairs::Tls::from(client);
            let saw = pairs::peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            saw
        });
        kept.write_all(b"upgraded")
            .await
            .expect("the set leaves a kept stream to its holder");
        bounded("the kept stream's close", WAIT, kept.shutdown())
            .await
            .expect("closes with close_notify");
        // Closed through the handle, which is still alive.
        let saw = bounded("the peer's close_notify", WAIT, peer).await;
        assert_eq!(
            saw.expect("peer"),
            PeerSaw::CloseNotify(b"upgraded".to_vec()),
            "{version:?}"
        );
        drop(kept);
        let report = bounded("the drain", WAIT, set.drain(Duration::from_secs(5))).await;
        assert_eq!(report.connections.len(), 1, "{report}");
        assert!(
            matches!(
                report.connections[0].ended,
                Ended::Closed(CloseOutcome::NotAwaited)
            ),
            "{version:?}: {report}"
        );
        assert_eq!(report.forced(), 0, "{report}");
    }
}

/// A lent stream's flush pushes out what rustls still holds (the transport
/// took only part of a big write) while the handler runs: the peer gets
/// every byte before the handler returns, with nothing else polling the
/// stream.
#[tokio::test(start_paused = true)]
async fn a_lent_stream_flushes_what_rustls_holds() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const LEN: usize = 16 * 1024;
    for version in VERSIONS {
        let set = ConnectionSet::new();
        // A 1 KiB transport: most of the write waits in rustls.
        let (client, server) = pairs::duplex_pair(version, 1024).await;
        let handshake = std::future::ready(Ok::<_, std::io::Error>(server));
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        set.spawn_lent(None, handshake, |mut io, _signal| async move {
            io.write_all(&pattern(LEN)).await.expect("write");
            io.flush().await.expect("flush");
            // Holds the stream, unpolled, until the peer has read it all.
            let _ = released.await;
        })
        .expect("admitted");
        let mut tls = pairs::Tls::from(client);
        let mut got = vec![0; LEN];
        bounded(
            "every byte of the flushed write",
            WAIT,
            tls.read_exact(&mut got),
        )
        .await
        .expect("read");
        assert!(got == pattern(LEN), "{version:?}: other bytes than written");
        let _ = release.send(());
        let report = bounded("the drain", WAIT, set.drain(Duration::from_secs(5))).await;
        assert_eq!(report.connections.len(), 1, "{report}");
        assert!(!report.connections[0].panicked, "{report}");
    }
}

/// `on_end` hears every connection of the report, once, before the drain
/// returns.
#[tokio::test(start_paused = true)]
async fn on_end_hears_every_connection_before_the_drain_returns() {
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let set = ConnectionSet::new().on_end({
        let heard = heard.clone();
        move |conn| heard.lock().unwrap().push(conn.id)
    });
    let mut peers = Vec::new();
    for version in VERSIONS {
        let (client, server) = pairs::duplex_pair(version, 16 * 1024).await;
        set.spawn(server, None, |_stream, signal| {
            Box::pin(async move { signal.begun().await })
        })
        .expect("admitted");
        peers.push(tokio::spawn(async move {
            let mut tls = pairs::Tls::from(client);
            let saw = pairs::peer_read_to_end(&mut tls).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut tls).await;
            saw
        }));
    }
    let report = bounded("the drain", WAIT, set.drain(DEADLINE)).await;
    let mut heard = heard.lock().unwrap().clone();
    heard.sort_unstable();
    let mut reported: Vec<u64> = report.connections.iter().map(|c| c.id).collect();
    reported.sort_unstable();
    assert_eq!(reported.len(), 2, "{report}");
    assert_eq!(heard, reported, "{report}");
    for peer in peers {
        let saw = bounded("a peer's read to its end", WAIT, peer).await;
        assert!(matches!(saw.expect("peer"), PeerSaw::CloseNotify(_)));
    }
}
