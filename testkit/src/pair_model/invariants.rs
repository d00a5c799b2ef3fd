//! What must hold at every state of the pair model, on every transition,
//! and in every state with nothing left to do. Each check panics with the
//! state ([`describe`]) when it fails.
//!
//! * close_notify at most once per side, never after its FIN;
//! * no plaintext accepted after the peer's close_notify;
//! * every record written before close read by the peer before our
//!   close_notify (it is the close_notify's guarantee);
//! * the outcomes agree with what the other side and the network really
//!   did: `PeerConfirmed` only after we sent ours and then read the
//!   peer's, which it really sent; `PeerClosedFirst` when we read the
//!   peer's before sending ours; `AbruptEof`/`PeerEof` only when the
//!   peer's direction really ended (FIN) without close_notify;
//!   `PeerClosedAndLeft` only after the peer's close_notify and a reset; a
//!   failure only after a reset (the one error the model has);
//! * progress: every transition moves a ranking that only grows (so no
//!   cycle without progress, and every path is finite), a close under way
//!   always has a deadline armed, at most three deadlines end any close
//!   (flush, peer, shutdown), and a state with nothing left to do has both
//!   sides final.

use graceful_tls::machine::{CloseStep, Event, Machine, ReadState, WriteState};
use graceful_tls::CloseOutcome;

use super::{describe, Action, Bounds, Side, State, Sym};

/// The checks on one state.
pub fn check_state(state: &State, _bounds: &Bounds) {
    for i in 0..2 {
        let (side, peer) = (&state.sides[i], &state.sides[1 - i]);
        let fail = |what: &str| -> ! { panic!("{what}\n{}", describe(state)) };
        if side.cn_sent > 1 {
            fail("close_notify sent twice");
        }
        let m = side.machine;
        match m.read_state() {
            ReadState::CloseNotify if peer.cn_sent == 0 || side.saw_cn.is_none() => {
                fail("read direction CloseNotify, yet no close_notify was read")
            }
            ReadState::AbruptEof if !side.saw_fin || peer.cn_sent > 0 => {
                fail("AbruptEof, yet the peer's direction did not end without close_notify")
            }
            ReadState::Failed if !state.reset => fail("read failed without a reset"),
            _ => {}
        }
        let outcome = match m.write_state() {
            WriteState::ShuttingDown(o) | WriteState::Closed(o) => Some(o),
            WriteState::Failed if !state.reset => fail("close failed without a reset"),
            _ => None,
        };
        match outcome {
            Some(CloseOutcome::PeerConfirmed)
                if side.cn_sent != 1 || side.saw_cn != Some(true) || peer.cn_sent == 0 =>
            {
                fail("PeerConfirmed, yet ours was not sent before the peer's was read")
            }
            Some(CloseOutcome::PeerClosedFirst)
                if side.saw_cn != Some(false) || side.cn_sent != 1 =>
            {
                fail("PeerClosedFirst, yet the peer's close_notify was not read first")
            }
            Some(CloseOutcome::PeerEof)
                if !side.saw_fin || side.saw_cn.is_some() || peer.cn_sent > 0 =>
            {
                fail("PeerEof, yet the peer's direction did not end without close_notify")
            }
            Some(CloseOutcome::PeerClosedAndLeft) if side.saw_cn.is_none() || !state.reset => {
                fail("PeerClosedAndLeft, yet no close_notify then reset")
            }
            Some(CloseOutcome::NotAwaited | CloseOutcome::PeerTimeout) if side.cn_sent != 1 => {
                fail("a close past its flush, yet no close_notify sent")
            }
            Some(CloseOutcome::FlushTimeout) if side.cn_sent != 0 => {
                fail("FlushTimeout, yet the flush completed")
            }
            _ => {}
        }
        let under_way = matches!(
            m.close_step(),
            Some(CloseStep::Flush | CloseStep::AwaitPeer | CloseStep::Shutdown)
        );
        if under_way && m.timer().is_none() {
            fail("a close under way with no deadline armed");
        }
        let mut timed_out = m;
        for _ in 0..3 {
            timed_out.handle(Event::Deadline);
        }
        if m.close_step().is_some() && !timed_out.is_final() {
            fail("three deadlines do not end this close");
        }
    }
}

/// The checks on one transition.
pub fn check_transition(prev: &State, action: Action, next: &State) {
    let fail = |what: &str| -> ! {
        panic!(
            "{what}: {action:?}\nfrom\n{}\nto\n{}",
            describe(prev),
            describe(next)
        )
    };
    if rank(next) <= rank(prev) {
        fail("a transition without progress");
    }
    match action {
        Action::Read(i, sym, accepted) => {
            let (before, after) = (&prev.sides[i], &next.sides[i]);
            if before.dropped {
                fail("a dropped side read");
            }
            if accepted && before.saw_cn.is_some() {
                fail("plaintext accepted after the peer's close_notify");
            }
            match sym {
                Some(Sym::CloseNotify) => {
                    if after.received != prev.sides[1 - i].written {
                        fail("close_notify read before every record written before it");
                    }
                    if after.machine.read_state() != ReadState::CloseNotify {
                        fail("the peer's close_notify was not recorded");
                    }
                }
                Some(Sym::Fin) if after.machine.read_state() != ReadState::AbruptEof => {
                    fail("the peer's FIN without close_notify was not recorded as AbruptEof")
                }
                _ => {}
            }
        }
        Action::Write(i) | Action::Shutdown(i) if prev.sides[i].machine.is_final() => {
            fail("a final side wrote")
        }
        Action::Flush(i) => {
            if prev.sides[i].machine.is_final() {
                fail("a final side flushed");
            }
            if !prev.reset && prev.sides[i].fin_sent {
                fail("close_notify after FIN");
            }
            if next.sides[i].cn_sent > 1 {
                fail("close_notify sent twice");
            }
        }
        _ => {}
    }
}

/// The checks on a state with nothing left to do.
pub fn check_terminal(state: &State) {
    if !state.sides.iter().all(|s| s.machine.is_final()) {
        panic!(
            "stuck: nothing is enabled, yet a side is not final\n{}",
            describe(state)
        );
    }
}

/// A measure that every transition increases: every counter and flag
/// only grows, and both directions of a machine only move forward (the
/// order below). A transition that left it unchanged could be repeated
/// forever.
fn rank(state: &State) -> u32 {
    let side = |s: &Side| {
        u32::from(s.written)
            + u32::from(s.received)
            + u32::from(s.cn_sent)
            + u32::from(s.fin_sent)
            + u32::from(s.saw_cn.is_some())
            + u32::from(s.saw_fin)
            + u32::from(s.cancelled)
            + u32::from(s.dropped)
            + machine_rank(s.machine)
    };
    side(&state.sides[0]) + side(&state.sides[1]) + u32::from(state.reset)
}

fn machine_rank(m: Machine) -> u32 {
    let read = match m.read_state() {
        ReadState::Open => 0,
        ReadState::Cancelled => 1,
        ReadState::CloseNotify | ReadState::AbruptEof => 2,
        ReadState::Failed => 3,
    };
    let write = match m.write_state() {
        WriteState::Open => 0,
        WriteState::Flushing { await_peer: true } => 1,
        WriteState::Flushing { await_peer: false } => 2,
        WriteState::AwaitingPeer => 3,
        WriteState::ShuttingDown(_) => 4,
        WriteState::Closed(_) | WriteState::Failed => 5,
    };
    read + write
}
