//! With the `tracing` feature, the server's cuts and HTTP errors are
//! `tracing` events (target `graceful_tls::server`). Its own test binary,
//! as tests/drain_tracing.rs: tracing caches per-callsite interest
//! process-wide.
#![cfg(all(feature = "tracing", feature = "axum"))]

use graceful_tls_testkit::apps::axum as axum_app;
use graceful_tls_testkit::pairs::{self, peer_read_to_end, PeerSaw, Version};
use graceful_tls_testkit::tracing_events::Collect;
use graceful_tls_testkit::{bounded, WAIT};

use std::future::IntoFuture;
use std::time::Duration;

use graceful_tls::{CancellationToken, Cut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// A silent client cut at the header read timeout, and one that sends
/// something other than HTTP: one event each.
async fn a_cut_and_an_http_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let serve = graceful_tls::server::serve(
        listener,
        pairs::server_config(Version::Tls13),
        axum_app::app(|| false),
    )
    .with_header_read_timeout(Duration::from_millis(300))
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(serve.into_future());
    let mut silent = pairs::connect_alpn(addr, b"http/1.1").await;
    let mut garbage = pairs::connect_alpn(addr, b"http/1.1").await;
    garbage
        .write_all(b"NOT HTTP AT ALL\r\n\r\n")
        .await
        .expect("send");
    garbage.flush().await.expect("flush");
    for client in [&mut silent, &mut garbage] {
        let saw = bounded("the server's close_notify", WAIT, peer_read_to_end(client)).await;
        assert!(matches!(saw, PeerSaw::CloseNotify(_)), "{saw:?}");
        let _ = client.shutdown().await;
    }
    shutdown.cancel();
    let _ = bounded("the server's report", WAIT, server)
        .await
        .expect("serve task");
}

#[test]
fn cuts_and_http_errors_are_tracing_events() {
    let collect = Collect::new("graceful_tls::server");
    let _guard = tracing::subscriber::set_default(collect.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(a_cut_and_an_http_error());
    let lines = collect.lines();
    let cut = format!("cut={:?}", Cut::HeaderTimeout.as_str());
    assert!(
        lines
            .iter()
            .any(|line| line.contains("message=connection cut") && line.contains(&cut)),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("message=http connection error")),
        "{lines:#?}"
    );
}
