//! `ConnectionSet` is generic over the backend: the same drain over
//! tokio-openssl server streams, with bare rustls clients as peers.
#![cfg(feature = "openssl")]

use graceful_tls_testkit::drain;
use graceful_tls_testkit::pairs;
#[allow(dead_code)]
#[path = "conformance/openssl_stack.rs"]
mod openssl_stack;

use std::time::Duration;

use drain::{register, run_peer, Peer, Request};
use graceful_tls::{CloseOutcome, Config, ConnectionSet, Ended};
use pairs::{pattern, PeerSaw, Tls, VERSIONS};
use rustls::pki_types::ServerName;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

#[tokio::test(start_paused = true)]
async fn drain_openssl_connections_idle_busy_and_stalled() {
    let flush = Duration::from_secs(3);
    let deadline = Duration::from_secs(5);
    let set = ConnectionSet::with_config(Config::default().with_flush_timeout(flush));
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let (unstall_tx, unstall) = watch::channel(false);
    let busy = Request {
        work: Duration::from_secs(1),
        len: 2000,
    };
    let big = Request {
        work: Duration::ZERO,
        len: 1 << 20,
    };
    let mut conns = Vec::new();
    for i in 0..60 {
        let version = VERSIONS[i % 2];
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let connector = TlsConnector::from(pairs::client_config(version));
        let name = ServerName::try_from("localhost").unwrap();
        let (client, server) = tokio::join!(
            connector.connect(name, client_io),
            openssl_stack::accept(version, server_io)
        );
        let id = register(&set, server, &started_tx);
        let peer = match i % 3 {
            0 => Peer::Idle,
            1 => Peer::Request(busy),
            _ => Peer::Stalled(big),
        };
        let client = Tls::from(client.expect("rustls client handshake"));
        conns.push((
            id,
            peer,
            tokio::spawn(run_peer(peer, client, unstall.clone())),
        ));
    }
    for _ in 0..40 {
        started_rx.recv().await.unwrap();
    }

    let report = set.drain(deadline).await;
    assert!(report.elapsed <= deadline + flush, "{:?}", report.elapsed);
    assert_eq!(set.live(), 0);
    unstall_tx.send(true).unwrap();
    for (id, peer, task) in conns {
        let saw = task.await.unwrap();
        let entry = report.connections.iter().find(|c| c.id == id).unwrap();
        match peer {
            Peer::Idle => assert_eq!(saw, PeerSaw::CloseNotify(vec![])),
            Peer::Request(r) => assert_eq!(saw, PeerSaw::CloseNotify(pattern(r.len as usize))),
            Peer::Stalled(_) => {
                assert!(!matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
                assert!(
                    matches!(entry.ended, Ended::Closed(CloseOutcome::FlushTimeout)),
                    "{entry:?}"
                );
                assert!(entry.forced);
                continue;
            }
        }
        assert!(
            matches!(entry.ended, Ended::Closed(CloseOutcome::PeerConfirmed)),
            "{entry:?}"
        );
        assert!(!entry.forced);
    }
}
