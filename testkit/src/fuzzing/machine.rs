//! Fuzz target `machine`: event orderings over the pure state machine.
//!
//! A [`Scenario`] (timeouts plus a sequence of [`Op`]s) drives a
//! [`Machine`] the way the async shell does: it feeds each operation's
//! event (plaintext read or written is no event: the shell asks
//! [`Machine::read_gate`] and [`Machine::may_write`]), then performs whatever [`Machine::close_step`] asks for while the
//! transport is writable, arms [`Machine::timer`] on a model clock and feeds
//! [`Event::Deadline`] when it passes. After every event the machine must
//! agree with the reference [`Model`] and keep the invariants of its `Ledger`.

use arbitrary::Arbitrary;

use crate::fuzzing::model::Model;
use graceful_tls::machine::{CloseStep, Event, Machine, ReadGate, ReadState, Timer, WriteState};
use graceful_tls::CloseOutcome;

/// One thing that happens to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// A read returned plaintext.
    PeerData,
    /// The peer's close_notify arrived.
    PeerCloseNotify,
    /// The transport reached EOF without close_notify.
    TransportEof,
    /// The transport was reset.
    TransportReset,
    /// The peer sent a fatal alert (or garbage).
    FatalAlert,
    /// The cancellation token fired.
    Cancel,
    /// The application writes plaintext.
    Write,
    /// The application closes (`close()` waits for the peer; `shutdown()` and
    /// drop do not).
    Close {
        /// Whether to wait for the peer's close_notify.
        await_peer: bool,
    },
    /// The transport stops accepting writes (the peer stopped reading).
    BlockWrites,
    /// The transport accepts writes again.
    UnblockWrites,
    /// Model time advances by `10 × n` ms, firing due deadlines on the way.
    Advance(u8),
    /// A stray event the shell would not send now; the machine must cope.
    Stray(Stray),
}

/// Events fed out of turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Stray {
    /// `Flushed` whatever the step.
    Flushed,
    /// `ShutdownDone` whatever the step.
    ShutdownDone,
    /// `Deadline` before its time.
    Deadline,
}

/// A whole run: the configured timeouts and the operations.
#[derive(Debug, Clone, Arbitrary)]
pub struct Scenario {
    /// `Config::flush_timeout` in units of 10 ms.
    pub flush: u8,
    /// `Config::peer_close_timeout` in units of 10 ms.
    pub peer: u8,
    /// What happens, in order.
    pub ops: Vec<Op>,
}

/// Runs the fuzz input as a [`Scenario`]; panics on any broken invariant.
pub fn run(input: &[u8]) {
    let u = arbitrary::Unstructured::new(input);
    if let Ok(scenario) = Scenario::arbitrary_take_rest(u) {
        check(&scenario);
    }
}

/// A transition taken: the state before, the event, and the state after
/// (the same state when the machine ignored the event).
pub type Transition = (Machine, Event, Machine);

/// Like [`run`], and returns every transition taken, in order. The fuzz
/// target turns each into a coverage feature ([`transition_index`]), so
/// that libFuzzer keeps an input for every state × event pair, which code
/// coverage alone cannot tell apart; the replay test checks that the
/// corpus takes them all.
pub fn run_recording(input: &[u8]) -> Vec<Transition> {
    let u = arbitrary::Unstructured::new(input);
    match Scenario::arbitrary_take_rest(u) {
        Ok(scenario) => play(&scenario, true).taken,
        Err(_) => Vec::new(),
    }
}

/// How many write states [`transition_index`] tells apart: open, two
/// flushing, awaiting, then shutting down and closed with each outcome,
/// and failed.
const WRITE_SLOTS: usize = 5 + 2 * CloseOutcome::ALL.len();

/// How many values [`transition_index`] takes.
pub const TRANSITION_SLOTS: usize = 5 * WRITE_SLOTS * Event::ALL.len();

/// A dense index of a transition's state × event, below
/// [`TRANSITION_SLOTS`].
pub fn transition_index(transition: &Transition) -> usize {
    let (from, event, _) = transition;
    let read = match from.read_state() {
        ReadState::Open => 0,
        ReadState::Cancelled => 1,
        ReadState::CloseNotify => 2,
        ReadState::AbruptEof => 3,
        ReadState::Failed => 4,
    };
    // `CloseOutcome` is non-exhaustive outside the library: its `ALL`
    // (exhaustive inside) gives the dense index.
    let outcome = |o: CloseOutcome| {
        CloseOutcome::ALL
            .iter()
            .position(|&x| x == o)
            .expect("every outcome is in CloseOutcome::ALL")
    };
    let outcomes = CloseOutcome::ALL.len();
    let write = match from.write_state() {
        WriteState::Open => 0,
        WriteState::Flushing { await_peer } => 1 + usize::from(await_peer),
        WriteState::AwaitingPeer => 3,
        WriteState::ShuttingDown(o) => 4 + outcome(o),
        WriteState::Closed(o) => 4 + outcomes + outcome(o),
        WriteState::Failed => 4 + 2 * outcomes,
    };
    let event = Event::ALL
        .iter()
        .position(|e| e == event)
        .expect("every event is in Event::ALL");
    (read * WRITE_SLOTS + write) * Event::ALL.len() + event
}

/// Plays `scenario`, then closes and lets only time pass: the machine must
/// end within `2 × flush + peer`. Panics on any broken invariant.
pub fn check(scenario: &Scenario) {
    play(scenario, false);
}

fn play(scenario: &Scenario, record: bool) -> Driver {
    let mut driver = Driver::new(scenario);
    driver.record = record;
    for (i, op) in scenario.ops.iter().enumerate() {
        driver.op(*op);
        driver.pump();
        driver.check(&format!("op #{i} {op:?}"));
    }
    driver.op(Op::Close { await_peer: true });
    driver.pump();
    driver.advance(driver.bound);
    driver.check("final close + time");
    assert!(
        driver.machine.is_final(),
        "not final {} ms after the close: {:?}",
        driver.bound,
        driver.machine
    );
    driver
}

/// What the run has seen, for the invariants that do not need the model.
#[derive(Debug, Clone, Copy, Default)]
struct Ledger {
    close_notify_queued: u32,
    fatal_seen: bool,
    /// A transport error was fed (the only event that can end a close as
    /// `PeerClosedAndLeft`).
    transport_failed: bool,
    close_began: bool,
    peer_close_notify: bool,
    eof_before_close_notify: bool,
    /// The last read gate and close step, for stickiness.
    last_gate: Option<ReadGate>,
    last_step: Option<CloseStep>,
}

struct Driver {
    machine: Machine,
    model: Model,
    ledger: Ledger,
    flush_ms: u64,
    peer_ms: u64,
    /// `2 × flush + peer`: the longest a close may take.
    bound: u64,
    now: u64,
    writable: bool,
    /// The armed timer and when it fires.
    armed: Option<(Timer, u64)>,
    close_started_at: Option<u64>,
    /// Whether to fill `taken`.
    record: bool,
    taken: Vec<Transition>,
}

impl Driver {
    fn new(scenario: &Scenario) -> Self {
        let flush_ms = u64::from(scenario.flush) * 10;
        let peer_ms = u64::from(scenario.peer) * 10;
        Driver {
            machine: Machine::new(),
            model: Model::default(),
            ledger: Ledger::default(),
            flush_ms,
            peer_ms,
            bound: 2 * flush_ms + peer_ms,
            now: 0,
            writable: true,
            armed: None,
            close_started_at: None,
            record: false,
            taken: Vec::new(),
        }
    }

    fn op(&mut self, op: Op) {
        let event = match op {
            // The shell reads plaintext only where the read gate sends it to
            // the TLS layer; `check_state` holds that gate to the ledger.
            Op::PeerData => return self.check_state("peer data"),
            Op::Write => {
                let allowed = self.machine.may_write();
                let l = &self.ledger;
                assert!(
                    !allowed || (!l.close_began && !l.fatal_seen),
                    "plaintext allowed after close began or a failure: {:?}",
                    self.machine
                );
                return;
            }
            Op::PeerCloseNotify => Event::PeerCloseNotify,
            Op::TransportEof => Event::TransportEof,
            Op::TransportReset => Event::TransportError,
            Op::FatalAlert => Event::TlsError,
            Op::Cancel => Event::Cancel,
            Op::Close { await_peer } => Event::Close { await_peer },
            Op::BlockWrites | Op::UnblockWrites => {
                self.writable = op == Op::UnblockWrites;
                return;
            }
            Op::Advance(n) => return self.advance(u64::from(n) * 10),
            Op::Stray(Stray::Flushed) => Event::Flushed,
            Op::Stray(Stray::ShutdownDone) => Event::ShutdownDone,
            Op::Stray(Stray::Deadline) => Event::Deadline,
        };
        self.feed(event);
    }

    /// Feeds one event to both the machine and the model and checks the
    /// per-event invariants.
    fn feed(&mut self, event: Event) {
        let before = self.machine;
        self.machine.handle(event);
        self.model.step(event);
        let after = self.machine;
        if self.record {
            self.taken.push((before, event, after));
        }
        let ctx = || format!("{before:?} + {event:?} => {after:?}");
        let l = &mut self.ledger;
        // close_notify is due when the close's first step appears.
        if before.close_step().is_none() && after.close_step() == Some(CloseStep::Flush) {
            l.close_notify_queued += 1;
            assert_eq!(l.close_notify_queued, 1, "close_notify twice: {}", ctx());
            assert!(!l.fatal_seen, "close_notify after a fatal error: {}", ctx());
            assert!(!l.close_began, "second close started: {}", ctx());
            l.close_began = true;
            self.close_started_at = Some(self.now);
        }
        let read_ended = |state| before.read_state() != state && after.read_state() == state;
        match event {
            Event::TlsError => l.fatal_seen = true,
            Event::TransportError => {
                l.fatal_seen = true;
                l.transport_failed = true;
            }
            Event::PeerCloseNotify if read_ended(ReadState::CloseNotify) => {
                l.peer_close_notify = true
            }
            Event::TransportEof if read_ended(ReadState::AbruptEof) && !l.peer_close_notify => {
                l.eof_before_close_notify = true
            }
            Event::ShutdownDone if before.write_state() != after.write_state() => {
                assert_eq!(
                    l.close_notify_queued,
                    1,
                    "transport shut before close_notify was queued: {}",
                    ctx()
                )
            }
            _ => {}
        }
        self.check_state(&ctx());
    }

    /// Performs what the close asks for while the transport is writable,
    /// (re)arms the step's timer and fires it if it is already due.
    fn pump(&mut self) {
        for _ in 0..8 {
            let event = match self.machine.close_step() {
                Some(CloseStep::Flush) if self.writable => Event::Flushed,
                Some(CloseStep::Shutdown) if self.writable => Event::ShutdownDone,
                _ => {
                    self.arm();
                    match self.armed {
                        Some((_, at)) if at <= self.now => Event::Deadline,
                        _ => return,
                    }
                }
            };
            self.feed(event);
        }
        panic!("the close did not settle: {:?}", self.machine);
    }

    /// Arms the current step's timer when the step changed, as the shell
    /// does (`close.rs`: one `Sleep`, reset whenever the `Timer` differs).
    fn arm(&mut self) {
        let Some(timer) = self.machine.timer() else {
            self.armed = None;
            return;
        };
        if self.armed.map(|(t, _)| t) != Some(timer) {
            let timeout = match timer {
                Timer::Flush | Timer::Shutdown => self.flush_ms,
                Timer::PeerClose => self.peer_ms,
            };
            self.armed = Some((timer, self.now + timeout));
        }
    }

    /// Moves the clock forward, stopping at each deadline that falls due.
    fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        loop {
            self.arm();
            match self.armed {
                Some((_, at)) if at <= target && self.machine.timer().is_some() => {
                    self.now = self.now.max(at);
                    self.feed(Event::Deadline);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = target;
    }

    /// The model's answers and the state invariants.
    fn check_state(&mut self, ctx: &str) {
        let m = &self.machine;
        let model = &self.model;
        assert_eq!(m.read_gate(), model.read_gate(), "read gate: {ctx}");
        assert_eq!(m.close_step(), model.close_step(), "close step: {ctx}");
        assert_eq!(m.timer(), model.timer(), "timer: {ctx}");
        assert_eq!(m.may_write(), model.may_write(), "may_write: {ctx}");
        assert_eq!(m.is_final(), model.is_final(), "is_final: {ctx}");
        let l = &mut self.ledger;
        let gate = m.read_gate();
        match gate {
            ReadGate::CloseNotify => assert!(l.peer_close_notify, "CloseNotify unseen: {ctx}"),
            ReadGate::AbruptEof => assert!(l.eof_before_close_notify, "AbruptEof: {ctx}"),
            ReadGate::Transport | ReadGate::BufferedOnly => assert!(
                !l.peer_close_notify && !l.fatal_seen,
                "reads still reach the transport after the peer's close_notify or a failure: {ctx}"
            ),
            ReadGate::Failed => assert!(l.fatal_seen, "read failed without an error: {ctx}"),
        }
        // Terminal read outcomes are sticky; only a later failure replaces them.
        if let Some(last @ (ReadGate::CloseNotify | ReadGate::AbruptEof | ReadGate::Failed)) =
            l.last_gate
        {
            assert!(
                gate == last || gate == ReadGate::Failed,
                "{last:?} => {gate:?}: {ctx}"
            );
        }
        // A cancelled read never waits on the transport again.
        if l.last_gate == Some(ReadGate::BufferedOnly) {
            assert_ne!(gate, ReadGate::Transport, "cancel undone: {ctx}");
        }
        let step = m.close_step();
        if let Some(last @ (CloseStep::Done(_) | CloseStep::Failed)) = l.last_step {
            assert_eq!(step, Some(last), "final close step changed: {ctx}");
        }
        // The peer closed and left: its close_notify, then a transport
        // error under ours.
        if step == Some(CloseStep::Done(CloseOutcome::PeerClosedAndLeft)) {
            assert!(
                l.peer_close_notify && l.transport_failed,
                "PeerClosedAndLeft without the peer's close_notify and a transport error: {ctx}"
            );
        }
        // Every close queues close_notify once before it shuts down, except
        // one the peer's departure ended while we still wrote plaintext
        // (`PeerClosedAndLeft` from `Open`): none was queued, nor can be.
        match step {
            Some(CloseStep::Done(CloseOutcome::PeerClosedAndLeft)) => assert!(
                l.close_notify_queued <= 1,
                "close_notify queued twice: {ctx}"
            ),
            Some(CloseStep::Shutdown | CloseStep::Done(_)) => assert_eq!(
                l.close_notify_queued, 1,
                "shutdown without close_notify: {ctx}"
            ),
            _ => {}
        }
        l.last_gate = Some(gate);
        l.last_step = step;
    }

    /// The invariants that need the clock.
    fn check(&self, ctx: &str) {
        if let Some(started) = self.close_started_at {
            assert!(
                self.now < started + self.bound || self.machine.is_final(),
                "{ctx}: close started at {started} ms, not final at {} ms (bound {} ms): {:?}",
                self.now,
                self.bound,
                self.machine
            );
        }
    }
}
