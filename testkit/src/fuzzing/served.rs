//! Fuzz target `served`: `graceful_tls::server::serve_hyper_on` over the
//! in-memory [`MemoryListener`](super::served_listener::MemoryListener),
//! on a current-thread runtime with paused time, serving a tiny hyper
//! service (`served_app.rs`) to up to [`MAX_CLIENTS`] scripted clients
//! (`served_client.rs`): TLS 1.2 or 1.3, ALPN `http/1.1`, `h2` or none,
//! whole requests, slow ones, partial heads, silence, bytes in pieces,
//! close_notify, FIN or a reset at chosen moments, a handshake that
//! never comes or comes late; while the drain begins at a chosen moment
//! (or once every client is done) under chosen timeouts and limits.
//!
//! The checks (`served_check.rs`) hold the server to the phase table of
//! its docs; the table's cells a run reached ([`Cell`]) are what the fuzz
//! target reports to libFuzzer, and what the replay test checks the
//! committed corpus reaches.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use graceful_tls::{CancellationToken, Config, ConnectionReport};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};

pub use super::served_cells::Cell;
use super::served_check::{check, Run};
use super::served_client::{self, ScriptDone};
use super::served_vocab::{ms, ClientScript, ServerSetup};
pub use super::served_vocab::{MAX_ACTIONS, MAX_CLIENTS};
pub use super::tls::Crypto;
use super::{served_app, served_listener, tls, Script};

/// Runs the fuzz input; panics on any broken check or a run that does
/// not end.
pub fn run(input: &[u8]) {
    run_cells(input);
}

/// Like [`run`], and returns the phase-table cells the run reached. The
/// input chooses the crypto: mostly the testkit's free
/// [`fake_crypto`](crate::fake_crypto), real crypto for a share.
pub fn run_cells(input: &[u8]) -> Vec<Cell> {
    run_cells_with(input, None)
}

/// Like [`run_cells`], with the crypto forced (`Some`) rather than chosen
/// by the input: the replay test runs the corpus both ways.
pub fn run_cells_with(input: &[u8], crypto: Option<Crypto>) -> Vec<Cell> {
    // A runtime per run: `serve` spawns tasks (connections, hyper's HTTP/2
    // streams), none of which may outlive the run into the next one.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        timeout(Duration::from_secs(24 * 60 * 60), play(input, crypto))
            .await
            .expect("the run did not end: something hangs")
    })
}

async fn play(input: &[u8], crypto: Option<Crypto>) -> Vec<Cell> {
    let mut script = Script::new(input);
    let Some(setup) = script.arbitrary::<ServerSetup>() else {
        return Vec::new();
    };
    let mut scripts: Vec<ClientScript> = Vec::new();
    while scripts.len() < MAX_CLIENTS {
        let Some(client) = script.arbitrary::<ClientScript>() else {
            break;
        };
        scripts.push(client);
    }
    if scripts.is_empty() {
        return Vec::new();
    }
    let crypto = crypto.unwrap_or(if setup.real_crypto() {
        Crypto::Real
    } else {
        Crypto::Fake
    });
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{setup:?} {crypto:?}");
        for (i, client) in scripts.iter().enumerate() {
            eprintln!("client {i}: {client:?}");
        }
    }
    let (listener, dial, accepted) = served_listener::listener();
    let ends: Arc<Mutex<Vec<(Instant, ConnectionReport)>>> = Arc::default();
    let shutdown = CancellationToken::new();
    let hook = ends.clone();
    let mut serve = graceful_tls::server::serve_hyper_on(
        listener,
        tls::served_server(crypto),
        served_app::service(),
    )
    .with_header_read_timeout(setup.header())
    .with_keep_alive_timeout(setup.idle())
    .with_first_request_grace(setup.grace())
    .with_drain_timeout(setup.drain())
    .with_handshake_timeout(setup.handshake())
    .with_close_config(
        Config::default()
            .with_flush_timeout(setup.flush())
            .with_peer_close_timeout(setup.peer()),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .on_end(move |connection| {
        hook.lock()
            .expect("ends")
            .push((Instant::now(), connection.clone()));
    });
    if let Some(max) = setup.max_connections() {
        serve = serve.with_max_connections(max);
    }
    if let Some(max) = setup.max_handshakes() {
        serve = serve.with_max_handshakes(max);
    }
    let start = Instant::now();
    let server = tokio::spawn(async move {
        let report = serve.await;
        (Instant::now(), report)
    });
    let served = CancellationToken::new();
    let (done, mut scripts_done) = mpsc::unbounded_channel();
    let clients: Vec<_> = scripts
        .iter()
        .enumerate()
        .map(|(index, client)| {
            tokio::spawn(served_client::run(
                index,
                client.clone(),
                crypto,
                dial.clone(),
                served.clone(),
                ScriptDone::new(done.clone()),
            ))
        })
        .collect();
    drop((dial, done));
    let drain_at = match setup.drain_at() {
        Some(at) => start + at,
        None => {
            while scripts_done.recv().await.is_some() {}
            Instant::now() + ms(1)
        }
    };
    sleep_until(drain_at).await;
    let drain_began = Instant::now();
    shutdown.cancel();
    let (server_ended, report) = server.await.expect("serve panicked");
    served.cancel();
    let mut logs = Vec::new();
    for client in clients {
        logs.push(client.await.expect("a client panicked"));
    }
    let ends = std::mem::take(&mut *ends.lock().expect("ends"));
    let accepted = std::mem::take(&mut *accepted.lock().expect("accepted"));
    let run = Run {
        setup,
        start,
        drain_began,
        server_ended,
        report,
        ends,
        accepted,
        clients: logs,
    };
    if trace {
        run.trace();
    }
    check(&run)
}
