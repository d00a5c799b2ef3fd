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

use arbitrary::Arbitrary;
use rustls::pki_types::ServerName;
use tokio::time::{timeout, Instant};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::stream_cases;
pub use super::stream_cases::Case;
use super::stream_check::{Failure, Ledger};
use super::stream_ops::{ours_op, peer_op, Ours, Tls};
use super::transport::{End, Side, Wire};
use super::{tls, Script};
use crate::{CancellationToken, Config, GracefulStream};

/// At most this many steps per run.
pub const MAX_STEPS: usize = 40;

const CAPACITIES: [usize; 8] = [64, 300, 1024, 4096, 16_500, 65_536, 1 << 20, 1 << 24];

/// The connection, from the first bytes of the input.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Setup {
    /// TLS 1.3, else TLS 1.2.
    pub tls13: bool,
    /// Our side is the client, else the server.
    pub ours_is_client: bool,
    /// Index into the pipe capacities (each direction).
    pub capacity: u8,
    /// `Config::flush_timeout` in units of 10 ms.
    pub flush: u8,
    /// `Config::peer_close_timeout` in units of 10 ms.
    pub peer: u8,
    /// What the peer does while our final close runs.
    pub finish: PeerOp,
    /// The network. Bit 0: the transport holds back what the peer has in
    /// flight when the handshake ends (a TLS 1.3 server's session tickets,
    /// when ours is the client) until [`PeerOp::ReleaseTickets`] or the
    /// peer's next write. Bits 1-2: the most one read returns, as a TCP
    /// segment would ([`SEGMENTS`]).
    pub network: u8,
}

/// The most bytes one transport read returns, by `(Setup::network >> 1) % 4`:
/// unlimited, an Ethernet MSS, the minimum IPv4 MSS, and 64 bytes. The
/// transport spends tokio's cooperative budget as tokio's own I/O does, so
/// with small segments a flood keeps every read `Ready` until the budget is
/// spent, and a timer polled then says `Pending` (issue 11). The 64-byte
/// segments stand for a peer that outpaces us: ours and the peer share one
/// task here, and the peer writes one 16 KiB record per turn, which takes
/// about 260 reads at 64 bytes (more than the 128 a task's budget allows
/// per poll), so the data keeps waiting while the clock moves, as from a
/// peer in another process over a real socket.
pub const SEGMENTS: [usize; 4] = [usize::MAX, 1448, 536, 64];

/// One step: both operations run concurrently for at most `10 × budget` ms.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Step {
    /// What the application does with the `GracefulStream`.
    pub ours: OursOp,
    /// What the bare tokio-rustls peer does.
    pub peer: PeerOp,
    /// Time budget of the step in units of 10 ms.
    pub budget: u8,
}

/// Operations on our `GracefulStream`.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum OursOp {
    /// Nothing.
    Idle,
    /// Write this many bytes (modulo 20 000).
    Write(u16),
    /// One `read_outcome` into a buffer of this size (at least 1).
    Read(u16),
    /// `read_outcome` until a terminal outcome.
    ReadToEnd,
    /// `AsyncWrite::poll_flush`.
    Flush,
    /// Cancel the token.
    Cancel,
    /// `close()`.
    Close,
    /// `AsyncWrite::poll_shutdown`.
    Shutdown,
    /// Drop the stream (no more operations of ours).
    Drop,
    /// `close()`, dropped after `1 + n % 8` polls that left it pending (a
    /// close cancelled mid-way, say by `select!`), then `shutdown()`: a
    /// close that does not wait for the peer cuts short the wait the
    /// cancelled one planned or began.
    CloseCancelledThenShutdown(u8),
}

/// Operations of the bare peer.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum PeerOp {
    /// Nothing (it stops reading).
    Idle,
    /// Write this many bytes (modulo 20 000).
    Write(u16),
    /// One read into a buffer of this size (at least 1).
    Read(u16),
    /// Read until close_notify, EOF or an error.
    ReadToEnd,
    /// Send close_notify and flush it, keeping the transport open.
    CloseNotify,
    /// close_notify, then shut the transport's write half.
    Shutdown,
    /// Read to the end, then close_notify and shut down.
    Answer,
    /// Shut the transport's write half without close_notify.
    Truncate,
    /// Reset the connection: every later read and write fails, both ways.
    Reset,
    /// Writes `5 + n % 16` records of 16 KiB (80 to 320 KiB: more than the
    /// 16 reads of 4 KiB our close's wait for the peer discards per poll;
    /// at most 256 pipe-fulls, to keep tiny pipes fast), never reading, and
    /// lets `(n / 16) × 5` ms pass on the paused clock after each record
    /// (`tokio::time::advance`, so time passes while the data keeps coming,
    /// and our deadlines must hold).
    Flood(u8),
    /// Flushes its TLS layer, then writes bytes that are not valid TLS
    /// past it, of kind `n % 7` (see `stream_hostile::GARBAGE`).
    Garbage(u8),
    /// Corrupts what we have in flight to the peer (or injects a bogus
    /// record), then reads: its rustls fails and sends us an encrypted
    /// fatal alert (rustls has no API to send one on command).
    ProvokeAlert,
    /// A TLS 1.3 KeyUpdate asking us to update too (`refresh_traffic_keys`),
    /// flushed. Nothing under TLS 1.2.
    KeyUpdate,
    /// Its close_notify, written past tokio-rustls in chunks of `1 + n % 4`
    /// bytes, `(n / 4) % 64` ms apart.
    CloseNotifySplit(u8),
    /// The transport delivers what it held back (bit 0 of [`Setup::network`]).
    ReleaseTickets,
    /// Half-open: the connection goes silent both ways, forever (no EOF, no
    /// error; reads and writes pending), so only timers end what waits.
    Vanish,
    /// Our transport's `poll_shutdown` stays pending from now on, so the
    /// close's shutdown step ends by its deadline.
    StallOurShutdown,
}

/// Runs the fuzz input; panics on any broken invariant or a run that does
/// not end.
pub fn run(input: &[u8]) {
    run_cases(input);
}

/// Like [`run`], and returns the hostile [`Case`]s the run came through.
pub fn run_cases(input: &[u8]) -> Vec<Case> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let limit = Duration::from_secs(24 * 60 * 60);
        timeout(limit, play(input))
            .await
            .expect("the run did not end: something hangs")
    })
}

async fn play(input: &[u8]) -> Vec<Case> {
    let mut script = Script::new(input);
    let Some(setup) = script.arbitrary::<Setup>() else {
        return Vec::new();
    };
    let capacity = CAPACITIES[usize::from(setup.capacity % 8)];
    let segment = SEGMENTS[usize::from(setup.network >> 1) % 4];
    let (wire, ours_end, peer_end) = Wire::pair(script, capacity, segment);
    let (ours, mut peer) = handshake(setup, ours_end, peer_end).await;
    if setup.network & 1 == 1 {
        wire.hold(Side::Peer);
    }
    wire.start_script();
    let config = Config::default()
        .flush_timeout(Duration::from_millis(u64::from(setup.flush) * 10))
        .peer_close_timeout(Duration::from_millis(u64::from(setup.peer) * 10));
    let token = CancellationToken::new();
    let mut ours = Some(GracefulStream::with_config(ours, token.clone(), config));
    let ledger = RefCell::new(Ledger::new(wire.clone(), u64::from(setup.peer) * 10));
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{setup:?} capacity {capacity} segment {segment}");
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

async fn handshake(setup: Setup, ours: End, peer: End) -> (Tls, Tls) {
    let (client_config, server_config) = tls::configs(setup.tls13);
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
    let bound = 2 * config.get_flush_timeout() + config.get_peer_close_timeout();
    let slack = Duration::from_secs(10);
    if let Some(stream) = ours.as_mut() {
        let closing = async {
            ledger.borrow_mut().begin_close(stream.state());
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
            wire.facts(super::transport::Side::Ours),
            wire.facts(super::transport::Side::Peer)
        );
    }
    assert!(
        ledger.peer_end.is_some() || wire.is_silent(),
        "the peer saw no end"
    );
    ledger.check_end();
    stream_cases::reached(&ledger, wire)
}
