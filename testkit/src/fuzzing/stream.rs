//! Fuzz target `stream`: the real [`GracefulStream`] over a real rustls
//! pair, connected by the scripted [`transport`](super::transport).
//!
//! The input is one [`Script`]: a [`Setup`], then [`Step`]s (one operation of
//! ours and one of the bare peer, run concurrently within a time budget),
//! with every transport read and write taking its decision from the bytes in
//! between. All of it runs on a current-thread runtime with paused time, so
//! deadlines are deterministic and every run ends. At the end our side
//! closes (bounded by `2 × flush + peer`), is dropped, and the peer reads to
//! the end. The `Ledger` (`stream_check.rs`) checks every report against
//! what the other side really did.

use std::cell::RefCell;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::time::{timeout, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::stream_cases;
pub use super::stream_cases::Case;
use super::stream_check::{Failure, Ledger};
use super::stream_ops::{ours_op, peer_op};
use super::stream_peer::{Ours, Tls};
pub use super::stream_vocab::{OursOp, PeerOp, Setup, Step, MAX_STEPS, SEGMENTS};
use super::stream_vocab::{CAPACITIES, REAL_CRYPTO};
pub use super::tls::Crypto;
use super::transport::{Endpoint, Side, Wire};
use super::{tls, Script};
use graceful_tls::{CancellationToken, Config, GracefulStream};

/// Runs the fuzz input; panics on any broken invariant or a run that does
/// not end.
pub fn run(input: &[u8]) {
    run_cases(input);
}

/// Like [`run`], and returns the hostile [`Case`]s the run came through.
/// The input chooses the crypto ([`Setup::network`]): mostly the testkit's
/// free [`fake_crypto`](crate::fake_crypto), real crypto for a share.
pub fn run_cases(input: &[u8]) -> Vec<Case> {
    run_cases_with(input, None)
}

/// Like [`run_cases`], with the crypto forced (`Some`) rather than chosen
/// by the input: the replay test runs the corpus both ways.
pub fn run_cases_with(input: &[u8], crypto: Option<Crypto>) -> Vec<Case> {
    // One runtime per thread, reused by every run: building one cost a
    // good part of a run's fixed time. Nothing outlives a run on it: the
    // harness spawns no task, a run's timers go with its futures, and the
    // close that a drop finishes in a task of its own is waited for below
    // (left running, it went on writing into the next run, whose forged
    // records then took the wrong sequence numbers: issue 25's campaign).
    // Its paused clock only moves forward, which no run can tell from a
    // new runtime's: every deadline is relative. One per thread because
    // the replay test runs inputs on parallel test threads.
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
    }
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            let limit = Duration::from_secs(24 * 60 * 60);
            let cases = timeout(limit, play(input, crypto))
                .await
                .expect("the run did not end: something hangs");
            background_closes_end().await;
            cases
        })
    })
}

/// Waits for the closes that drops left to tasks of their own
/// (`GracefulStream`'s `Drop` finishes a close in the background, bounded
/// by its flush timeout, twice: flush, then shutdown), and checks that they
/// end by that bound: at most `2 × 2.55 s`, the largest flush timeout a
/// [`Setup`] chooses, from the end of the run (the drop came before it).
async fn background_closes_end() {
    let bound = 2 * Duration::from_millis(10 * u64::from(u8::MAX)) + Duration::from_millis(10);
    let metrics = tokio::runtime::Handle::current().metrics();
    let started = Instant::now();
    while metrics.num_alive_tasks() > 0 {
        assert!(
            started.elapsed() <= bound,
            "a drop's background close still runs {:?} after the run",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn play(input: &[u8], crypto: Option<Crypto>) -> Vec<Case> {
    let mut script = Script::new(input);
    let Some(setup) = script.arbitrary::<Setup>() else {
        return Vec::new();
    };
    let capacity = CAPACITIES[usize::from(setup.capacity % 8)];
    let segment = SEGMENTS[usize::from(setup.network >> 1) % 4];
    let (wire, ours_end, peer_end) = Wire::pair(script, capacity, segment);
    let crypto = crypto.unwrap_or(if setup.network >> 3 == REAL_CRYPTO {
        Crypto::Real
    } else {
        Crypto::Fake
    });
    let (ours, mut peer) = handshake(setup, crypto, ours_end, peer_end).await;
    if setup.network & 1 == 1 {
        wire.hold(Side::Peer);
    }
    wire.start_script();
    let config = Config::default()
        .with_flush_timeout(Duration::from_millis(u64::from(setup.flush) * 10))
        .with_peer_close_timeout(Duration::from_millis(u64::from(setup.peer) * 10));
    let token = CancellationToken::new();
    let mut ours = Some(GracefulStream::with_config(ours, token.clone(), config));
    let ledger = RefCell::new(Ledger::new(wire.clone(), u64::from(setup.peer) * 10));
    ledger.borrow_mut().fake_crypto = crypto == Crypto::Fake;
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{setup:?} {crypto:?} capacity {capacity} segment {segment}");
    }
    for _ in 0..MAX_STEPS {
        let Some(step) = wire.next::<Step>() else {
            break;
        };
        if trace {
            eprintln!("{:?} {step:?}", tokio::time::Instant::now());
        }
        let budget = Duration::from_millis(u64::from(step.budget) * 10);
        let both = async {
            tokio::join!(
                ours_op(&mut ours, &token, &ledger, step.ours),
                peer_op(&mut peer, &wire, &ledger, step.peer)
            )
        };
        let _ = timeout(budget, both).await;
    }
    finish(ours, peer, &wire, &ledger, setup, config).await
}

async fn handshake(setup: Setup, crypto: Crypto, ours: Endpoint, peer: Endpoint) -> (Tls, Tls) {
    let (client_config, server_config) = tls::configs(setup.tls13, crypto);
    let connector = TlsConnector::from(client_config);
    let acceptor = TlsAcceptor::from(server_config);
    let name = ServerName::try_from("localhost").expect("server name");
    let (client_io, server_io) = if setup.ours_is_client {
        (ours, peer)
    } else {
        (peer, ours)
    };
    let (client, server) = tokio::join!(
        connector.connect(name, client_io),
        acceptor.accept(server_io)
    );
    let client = Tls::from(client.expect("client handshake"));
    let server = Tls::from(server.expect("server handshake"));
    if setup.ours_is_client {
        (client, server)
    } else {
        (server, client)
    }
}

/// Our final close, concurrent with the peer's `finish` operation; then the
/// drop, and the peer reads to the end.
async fn finish(
    mut ours: Option<Ours>,
    mut peer: Tls,
    wire: &Wire,
    ledger: &RefCell<Ledger>,
    setup: Setup,
    config: Config,
) -> Vec<Case> {
    let bound = 2 * config.flush_timeout() + config.peer_close_timeout();
    let slack = Duration::from_secs(10);
    if let Some(stream) = ours.as_mut() {
        let closing = async {
            ledger.borrow_mut().begin_await_close(stream.state());
            let started = Instant::now();
            let result = stream.close().await.map_err(|e| Failure::of(&e));
            let elapsed = started.elapsed();
            // A flood moves the paused clock in steps while data keeps
            // coming. `join!` rotates which branch it polls first, so the
            // peer may take two steps (at the end of one pass and the start
            // of the next) before our close looks at the clock again.
            let step = ledger.borrow().max_jump;
            assert!(
                elapsed <= bound + 2 * step,
                "close took {elapsed:?}, bound {bound:?} (+ 2 × {step:?}, the clock's steps)"
            );
            ledger.borrow_mut().ours_closed(result, stream.stats());
        };
        let peer_side = timeout(
            bound + slack,
            peer_op(&mut peer, wire, ledger, setup.finish),
        );
        let (closed, _) = tokio::join!(timeout(bound + slack, closing), peer_side);
        closed.expect("close() did not return");
    }
    drop(ours);
    let reading = timeout(
        bound + slack,
        peer_op(&mut peer, wire, ledger, PeerOp::ReadToEnd),
    );
    // Over a half-open connection nothing arrives, so nothing ends it.
    let ended = reading.await.is_ok();
    assert!(
        ended || wire.is_silent(),
        "the peer's read to the end did not end"
    );
    let ledger = ledger.borrow();
    if std::env::var_os("FUZZ_TRACE").is_some() {
        eprintln!(
            "end: close {:?}, read {:?}, peer {:?}, faults {:?}/{:?}",
            ledger.ours_close,
            ledger.ours_terminal,
            ledger.peer_end,
            wire.facts(Side::Ours),
            wire.facts(Side::Peer)
        );
    }
    assert!(
        ledger.peer_end.is_some() || wire.is_silent(),
        "the peer saw no end"
    );
    ledger.check_end();
    stream_cases::reached(&ledger, wire)
}
