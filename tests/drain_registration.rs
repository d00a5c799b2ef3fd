//! `ConnectionSet`: registrations during and after a drain are refused (and
//! still end with close_notify), handshakes run under the deadline, and
//! dropping the set closes everything.

use graceful_tls_testkit::drain;
use graceful_tls_testkit::pairs;

use std::time::Duration;

use drain::{register, run_peer, Peer, Request};
use graceful_tls::{CloseOutcome, Config, ConnectionSet, Ended, ShutdownSignal};
use pairs::{peer_read_to_end, PeerSaw, Version};
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const DEADLINE: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config::default()
        .with_flush_timeout(Duration::from_secs(3))
        .with_peer_close_timeout(Duration::from_secs(1))
}

/// A handler that does nothing: the set closes the stream at once.
fn nothing<S: graceful_tls::TlsBackend + Send + 'static>(
) -> impl for<'a> FnOnce(&'a mut graceful_tls::GracefulStream<S>, ShutdownSignal) -> graceful_tls::HandlerFuture<'a>
       + Send
+ 'static{
    |_, _| Box::pin(async {})
}

/// While a drain runs, and after it returned, `spawn` refuses: the caller
/// gets the connection back as a cancelled `GracefulStream`, and dropping
/// it still sends close_notify. The report counts the refusals.
#[tokio::test(start_paused = true)]
async fn registration_during_and_after_a_drain_is_refused() {
    let set = ConnectionSet::with_config(config());
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let (_unstall_tx, unstall) = watch::channel(false);
    let (client, server) = pairs::duplex_pair(Version::Tls13, 16 * 1024).await;
    register(&set, server, &started_tx);
    let busy = Request {
        work: Duration::from_secs(2),
        len: 5,
    };
    let busy_peer = tokio::spawn(run_peer(Peer::Request(busy), client.into(), unstall));
    started_rx.recv().await.unwrap();

    let late = async {
        // The drain has begun (its first poll ran): register two latecomers.
        tokio::task::yield_now().await;
        assert!(set.is_draining());
        let mut saw = Vec::new();
        for _ in 0..2 {
            let (client, server) = pairs::duplex_pair(Version::Tls12, 16 * 1024).await;
            let mut client = pairs::Tls::from(client);
            let refused = set
                .spawn(server, None, nothing())
                .expect_err("refused while draining");
            let stream = refused.into_inner();
            assert!(stream.token().is_cancelled());
            drop(stream); // close_notify, in the background
            saw.push(peer_read_to_end(&mut client).await);
        }
        saw
    };
    let (report, late_saw) = tokio::join!(set.drain(DEADLINE), late);
    assert_eq!(
        late_saw,
        [PeerSaw::CloseNotify(vec![]), PeerSaw::CloseNotify(vec![])]
    );
    assert_eq!(report.refused, 2);
    assert_eq!(
        report.to_string(),
        "connections=1 refused=2 peer-confirmed=1"
    );
    assert_eq!(report.elapsed, Duration::from_secs(2));
    assert!(matches!(
        busy_peer.await.unwrap(),
        PeerSaw::CloseNotify(data) if data.len() == 5
    ));

    // After the drain: still refused, never silently kept.
    let (client, server) = pairs::duplex_pair(Version::Tls13, 16 * 1024).await;
    let mut client = pairs::Tls::from(client);
    let refused = set.spawn(server, None, nothing()).expect_err("refused");
    let mut stream = refused.into_inner();
    let outcome = tokio::join!(stream.close(), async {
        let saw = peer_read_to_end(&mut client).await;
        let _ = client.shutdown().await;
        saw
    });
    assert_eq!(outcome.0.unwrap(), CloseOutcome::PeerConfirmed);
    assert_eq!(outcome.1, PeerSaw::CloseNotify(vec![]));
    assert_eq!(set.live(), 0);
}

/// Handshakes run inside the set: one that completes during the drain is
/// served (its handler sees the signal) and closed with close_notify; one
/// that never completes is cancelled at the deadline; one that fails is
/// reported as failed.
#[tokio::test(start_paused = true)]
async fn handshakes_run_under_the_deadline() {
    let set = ConnectionSet::with_config(config());
    let acceptor = TlsAcceptor::from(pairs::server_config(Version::Tls13));
    let connector = TlsConnector::from(pairs::client_config(Version::Tls13));
    let name = ServerName::try_from("localhost").unwrap();

    // 1. The client starts its handshake only after the drain began.
    let (late_io, server_io) = tokio::io::duplex(16 * 1024);
    let late = set
        .spawn_handshake(None, acceptor.accept(server_io), |_stream, signal| {
            Box::pin(async move { assert!(signal.is_begun()) })
        })
        .unwrap();
    // 2. A client that never sends its ClientHello.
    let (_silent_io, server_io) = tokio::io::duplex(16 * 1024);
    let silent = set
        .spawn_handshake(None, acceptor.accept(server_io), nothing())
        .unwrap();
    // 3. A client that sends garbage.
    let (mut garbage_io, server_io) = tokio::io::duplex(16 * 1024);
    let garbage = set
        .spawn_handshake(None, acceptor.accept(server_io), nothing())
        .unwrap();
    garbage_io
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(set.live(), 3);

    let late_client = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tls = connector.connect(name, late_io).await.expect("handshake");
        pairs::peer_read_to_end(&mut pairs::Tls::from(tls)).await
    };
    let (report, late_saw) = tokio::join!(set.drain(DEADLINE), late_client);
    assert_eq!(late_saw, PeerSaw::CloseNotify(vec![]));
    assert_eq!(report.elapsed, DEADLINE);
    assert_eq!(set.live(), 0);
    let ended = |id| {
        let c = report.connections.iter().find(|c| c.id == id).unwrap();
        (c.ended.clone(), c.forced)
    };
    // The late client read our close_notify but never answered it.
    assert!(
        matches!(
            ended(late),
            (
                Ended::Closed(CloseOutcome::PeerTimeout | CloseOutcome::PeerEof),
                false
            )
        ),
        "{:?}",
        ended(late)
    );
    assert!(matches!(ended(silent), (Ended::HandshakeCancelled, true)));
    assert!(matches!(ended(garbage), (Ended::HandshakeFailed(_), false)));
}

/// Dropping the set aborts: every connection is cancelled and closed with
/// close_notify in the background.
#[tokio::test(start_paused = true)]
async fn dropping_the_set_closes_every_connection() {
    let set = ConnectionSet::with_config(config());
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let (_unstall_tx, unstall) = watch::channel(false);
    let mut peers = Vec::new();
    for i in 0..50 {
        let (client, server) = pairs::duplex_pair(pairs::VERSIONS[i % 2], 16 * 1024).await;
        register(&set, server, &started_tx);
        let slow = Request {
            work: Duration::from_secs(3600),
            len: 1,
        };
        peers.push(tokio::spawn(run_peer(
            Peer::Request(slow),
            client.into(),
            unstall.clone(),
        )));
    }
    for _ in 0..50 {
        started_rx.recv().await.unwrap();
    }
    drop(set);
    for peer in peers {
        assert_eq!(peer.await.unwrap(), PeerSaw::CloseNotify(vec![]));
    }
}
