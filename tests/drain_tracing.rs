//! With the `tracing` feature, each connection's end and each drain's
//! summary are `tracing` events. (Its own test binary: tracing caches
//! per-callsite interest process-wide, so other tests running concurrently
//! without a subscriber could hide the events.)
#![cfg(feature = "tracing")]

use graceful_tls_testkit::pairs;
use graceful_tls_testkit::tracing_events::Collect;

use std::time::Duration;

use graceful_tls::ConnectionSet;
use pairs::{peer_read_to_end, Tls, Version};
use tokio::io::AsyncWriteExt;

async fn drain_two_connections() -> graceful_tls::DrainReport {
    let set = ConnectionSet::new();
    let mut peers = Vec::new();
    for _ in 0..2 {
        let (client, server) = pairs::duplex_pair(Version::Tls13, 16 * 1024).await;
        let addr = "192.0.2.7:443".parse().ok();
        set.spawn(server, addr, |stream, signal| {
            Box::pin(async move {
                stream.write_all(b"hello").await.unwrap();
                signal.begun().await;
            })
        })
        .unwrap();
        peers.push(tokio::spawn(async move {
            let mut tls = Tls::from(client);
            let saw = peer_read_to_end(&mut tls).await;
            let _ = tls.shutdown().await;
            saw
        }));
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    let report = set.drain(Duration::from_secs(5)).await;
    for peer in peers {
        peer.await.unwrap();
    }
    report
}

#[test]
fn each_connection_end_and_each_drain_is_a_tracing_event() {
    let collect = Collect::new("graceful_tls::drain");
    let _guard = tracing::subscriber::set_default(collect.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let report = runtime.block_on(drain_two_connections());
    let lines = collect.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for end in &lines[..2] {
        assert!(end.contains("message=connection ended"), "{end}");
        assert!(end.contains("peer=192.0.2.7:443"), "{end}");
        assert!(end.contains("ended=peer-confirmed"), "{end}");
        assert!(end.contains("bytes_out=5"), "{end}");
        assert!(end.contains("forced=false"), "{end}");
    }
    assert!(lines[2].contains("message=drain finished"), "{}", lines[2]);
    assert!(
        lines[2].contains(&format!("summary={report}")),
        "{}",
        lines[2]
    );
}
