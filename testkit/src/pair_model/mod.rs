//! A model checker over connected pairs: two [`Machine`]s, a client and a
//! server, joined by an ordered channel in each direction, explored
//! exhaustively, breadth first, with the invariants of
//! [`invariants`] checked at every state and on every transition.
//!
//! A breadth-first walk of our own rather than `stateright`: the state is a
//! small `Copy`-free struct, the walk is forty lines, and the checks want
//! the transition (what was read, what was sent) as well as the state,
//! which a hand-written walk hands them directly; it keeps the build lean.
//!
//! # The abstraction
//!
//! The TLS layer is abstract: what crosses a channel is a sequence of
//! symbols, [`Sym::Data`] (one record of plaintext), [`Sym::CloseNotify`]
//! and [`Sym::Fin`] (the sender shut its write half). Each side's shell does
//! what `GracefulStream` does, and feeds its machine what the TLS layer
//! would report:
//!
//! * reading (the application's read while [`ReadGate::Transport`], or the
//!   close's wait in [`CloseStep::AwaitPeer`]) takes the next symbol: data
//!   is plaintext (accepted by the application, discarded by the close's
//!   wait), close_notify is [`Event::PeerCloseNotify`], FIN is
//!   [`Event::TransportEof`]; after a reset every read is
//!   [`Event::TransportError`]. An empty channel blocks the read.
//! * writing (the application's, while [`Machine::may_write`]) appends data;
//!   the close's [`CloseStep::Flush`] appends close_notify and feeds
//!   [`Event::Flushed`]; [`CloseStep::Shutdown`] appends FIN and feeds
//!   [`Event::ShutdownDone`]. A full channel blocks them (the peer does not
//!   read: a hold); after a reset they feed [`Event::TransportError`].
//! * each side's application may also cancel its token
//!   ([`Event::Cancel`]) and close, waiting for the peer or not
//!   ([`Event::Close`]); its deadline ([`Event::Deadline`]) may fire at any
//!   moment its machine arms one ([`Machine::timer`]): time is not
//!   modelled, so every ordering of deadlines and I/O is explored.
//! * the network may reset the connection at any moment: both channels
//!   lose what they hold (a TCP RST discards unread data) and every later
//!   read and write fails. A side whose close is final may still read
//!   (the read direction ends on its own), and drops its socket at some
//!   point, which sends FIN if its close did not; nothing happens on it
//!   after that.
//!
//! Delivery is the reader's read: a symbol is "held" for as long as the
//! reader does not take it, and the walk tries every interleaving, so a
//! separate deliver step would only double the states. TLS errors (a bad
//! record, a fatal alert) are not modelled: they fail one side at once, and
//! the `machine` and `stream` fuzz targets cover them.

pub mod invariants;

use std::collections::HashSet;

use graceful_tls::machine::{CloseStep, Event, Machine, ReadGate};

/// What crosses a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sym {
    /// One record of plaintext.
    Data,
    /// A close_notify alert.
    CloseNotify,
    /// The sender shut its write half (TCP FIN).
    Fin,
}

/// The limits of an exploration.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Records of plaintext each application writes at most.
    pub writes: u8,
    /// Symbols a channel holds before writes to it block.
    pub capacity: usize,
    /// Stop after this many transitions from the start (`None`: explore
    /// everything).
    pub depth: Option<usize>,
}

/// One side: its machine and what its shell and application did.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Side {
    /// The machine under test.
    pub machine: Machine,
    /// Data records written (all before the close began).
    pub written: u8,
    /// Data records taken from the channel (accepted or discarded).
    pub received: u8,
    /// Data records the application accepted.
    pub accepted: u8,
    /// close_notify records this side sent.
    pub cn_sent: u8,
    /// Whether this side sent FIN (by its close, or its drop).
    pub fin_sent: bool,
    /// Whether this side read the peer's close_notify, and whether it had
    /// sent its own by then.
    pub saw_cn: Option<bool>,
    /// Whether this side read the peer's FIN.
    pub saw_fin: bool,
    /// Whether the application cancelled the token.
    pub cancelled: bool,
    /// Whether the application closed at all.
    pub closed: bool,
    /// Whether the socket was dropped (after a final close).
    pub dropped: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            machine: Machine::new(),
            written: 0,
            received: 0,
            accepted: 0,
            cn_sent: 0,
            fin_sent: false,
            saw_cn: None,
            saw_fin: false,
            cancelled: false,
            closed: false,
            dropped: false,
        }
    }
}

/// The pair: client (0) and server (1), and the channel from each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// Client and server.
    pub sides: [Side; 2],
    /// `channels[i]`: what side `i` sent that side `1 - i` has not read.
    pub channels: [Vec<Sym>; 2],
    /// Whether the connection was reset.
    pub reset: bool,
}

/// What one transition did, for the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Side `.0`'s application wrote a record.
    Write(usize),
    /// Side `.0` read a symbol (`None`: the reset's error); `.2`: the
    /// application accepted it as plaintext.
    Read(usize, Option<Sym>, bool),
    /// Side `.0` cancelled.
    Cancel(usize),
    /// Side `.0` closed (waiting for the peer or not).
    Close(usize, bool),
    /// Side `.0` sent close_notify (or met the reset).
    Flush(usize),
    /// Side `.0` shut its write half (or met the reset).
    Shutdown(usize),
    /// Side `.0`'s deadline fired.
    Deadline(usize),
    /// Side `.0` dropped its socket after its final close.
    Drop(usize),
    /// The network reset the connection.
    Reset,
}

impl State {
    /// Both sides open, nothing in flight.
    pub fn new() -> Self {
        State {
            sides: [Side::new(), Side::new()],
            channels: [Vec::new(), Vec::new()],
            reset: false,
        }
    }

    /// Every transition enabled here, with the state it leads to. Only
    /// transitions that change the state: an event a machine ignores is
    /// no step.
    pub fn successors(&self, bounds: &Bounds) -> Vec<(Action, State)> {
        let mut out = Vec::new();
        for i in 0..2 {
            self.side_moves(i, bounds, &mut out);
        }
        if !self.reset {
            let mut next = self.clone();
            next.reset = true;
            next.channels = [Vec::new(), Vec::new()];
            out.push((Action::Reset, next));
        }
        out.retain(|(_, next)| next != self);
        out
    }

    fn side_moves(&self, i: usize, bounds: &Bounds, out: &mut Vec<(Action, State)>) {
        let side = &self.sides[i];
        if side.dropped {
            // The stream and its socket are gone: nothing more happens on
            // this side.
            return;
        }
        let m = side.machine;
        let room = self.channels[i].len() < bounds.capacity;
        // The application's write.
        if m.may_write() && side.written < bounds.writes && (room || self.reset) {
            let mut next = self.clone();
            if self.reset {
                next.sides[i].machine.handle(Event::TransportError);
            } else {
                next.sides[i].written += 1;
                next.channels[i].push(Sym::Data);
            }
            out.push((Action::Write(i), next));
        }
        // A read: the application's, or the close's wait for the peer.
        let app_reads = m.read_gate() == ReadGate::Transport;
        let close_reads = m.close_step() == Some(CloseStep::AwaitPeer);
        if app_reads || close_reads {
            if self.reset {
                let mut next = self.clone();
                next.sides[i].machine.handle(Event::TransportError);
                out.push((Action::Read(i, None, false), next));
            } else if let Some(&sym) = self.channels[1 - i].first() {
                // The application reads only while nothing else does;
                // during the close's wait, the close reads (and discards).
                let accepted = sym == Sym::Data && app_reads && !close_reads;
                let mut next = self.clone();
                next.channels[1 - i].remove(0);
                let s = &mut next.sides[i];
                match sym {
                    Sym::Data => {
                        s.received += 1;
                        s.accepted += u8::from(accepted);
                    }
                    Sym::CloseNotify => {
                        s.saw_cn = Some(s.cn_sent > 0);
                        s.machine.handle(Event::PeerCloseNotify);
                    }
                    Sym::Fin => {
                        s.saw_fin = true;
                        s.machine.handle(Event::TransportEof);
                    }
                }
                out.push((Action::Read(i, Some(sym), accepted), next));
            }
        }
        if !side.cancelled {
            let mut next = self.clone();
            next.sides[i].cancelled = true;
            next.sides[i].machine.handle(Event::Cancel);
            out.push((Action::Cancel(i), next));
        }
        for await_peer in [true, false] {
            let mut next = self.clone();
            next.sides[i].closed = true;
            next.sides[i].machine.handle(Event::Close { await_peer });
            if next.sides[i].machine != m {
                out.push((Action::Close(i, await_peer), next));
            }
        }
        match m.close_step() {
            Some(CloseStep::Flush) if room || self.reset => {
                let mut next = self.clone();
                if self.reset {
                    next.sides[i].machine.handle(Event::TransportError);
                } else {
                    next.sides[i].cn_sent += 1;
                    next.channels[i].push(Sym::CloseNotify);
                    next.sides[i].machine.handle(Event::Flushed);
                }
                out.push((Action::Flush(i), next));
            }
            Some(CloseStep::Shutdown) if room || self.reset => {
                let mut next = self.clone();
                if self.reset {
                    next.sides[i].machine.handle(Event::TransportError);
                } else {
                    next.sides[i].fin_sent = true;
                    next.channels[i].push(Sym::Fin);
                    next.sides[i].machine.handle(Event::ShutdownDone);
                }
                out.push((Action::Shutdown(i), next));
            }
            _ => {}
        }
        if m.timer().is_some() {
            let mut next = self.clone();
            next.sides[i].machine.handle(Event::Deadline);
            out.push((Action::Deadline(i), next));
        }
        if m.is_final() && !side.dropped {
            let mut next = self.clone();
            next.sides[i].dropped = true;
            if !side.fin_sent && !self.reset {
                // The kernel sends FIN after what it holds, whatever the
                // capacity the application saw.
                next.sides[i].fin_sent = true;
                next.channels[i].push(Sym::Fin);
            }
            out.push((Action::Drop(i), next));
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// What an exploration found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report {
    /// Distinct states reached.
    pub states: usize,
    /// Transitions taken (each checked).
    pub transitions: usize,
    /// States with no transition left (each checked final).
    pub terminal: usize,
    /// The deepest level reached.
    pub depth: usize,
    /// Whether the depth bound cut the walk short.
    pub truncated: bool,
}

/// Explores every state reachable from [`State::new`] within `bounds`,
/// breadth first, and checks [`invariants`] at each; panics with the path
/// to the first state that breaks one.
pub fn explore(bounds: Bounds) -> Report {
    let start = State::new();
    let mut report = Report::default();
    // A state is its own key: they are small. A failure prints the state
    // and the transition (`describe`), not the path to it.
    let mut seen: HashSet<State> = HashSet::new();
    let mut level: Vec<State> = vec![start.clone()];
    seen.insert(start);
    let mut depth = 0;
    while !level.is_empty() {
        report.depth = depth;
        if bounds.depth.is_some_and(|max| depth >= max) {
            report.truncated = true;
            break;
        }
        let mut next_level = Vec::new();
        for state in &level {
            invariants::check_state(state, &bounds);
            let successors = state.successors(&bounds);
            if successors.is_empty() {
                report.terminal += 1;
                invariants::check_terminal(state);
            }
            for (action, next) in successors {
                report.transitions += 1;
                invariants::check_transition(state, action, &next);
                if !seen.contains(&next) {
                    seen.insert(next.clone());
                    next_level.push(next);
                }
            }
        }
        level = next_level;
        depth += 1;
    }
    report.states = seen.len();
    report
}

/// A failure's context: the state, in a form a reader can follow.
pub(crate) fn describe(state: &State) -> String {
    let side = |i: usize| {
        let s = &state.sides[i];
        format!(
            "{} {:?}/{:?} wrote {} received {} accepted {} cn_sent {} fin {} saw_cn {:?} saw_fin {}",
            ["client", "server"][i],
            s.machine.read_state(),
            s.machine.write_state(),
            s.written,
            s.received,
            s.accepted,
            s.cn_sent,
            s.fin_sent,
            s.saw_cn,
            s.saw_fin
        )
    };
    format!(
        "{}\n{}\nchannels {:?} reset {}",
        side(0),
        side(1),
        state.channels,
        state.reset
    )
}
