//! Every reachable state × every event, checked against invariants and
//! against a reviewed snapshot of the whole table (`docs/transitions.txt`);
//! the DOT graph is snapshot-tested too (`docs/state.dot`).

use std::fmt::Write as _;

use graceful_tls::machine::*;
use graceful_tls::CloseOutcome;
use graceful_tls_testkit::machine_graph::{self, reachable};
use graceful_tls_testkit::{guarded_sync, HANG};

/// One line per reachable state × event: what the event does, or that the
/// state ignores it.
fn table() -> String {
    let mut out = String::new();
    for m in reachable() {
        for event in Event::ALL {
            let mut next = m;
            next.handle(event);
            let _ = if next == m {
                writeln!(
                    out,
                    "{:?} / {:?} + {:?}: ignored",
                    m.read_state(),
                    m.write_state(),
                    event
                )
            } else {
                writeln!(
                    out,
                    "{:?} / {:?} + {:?} => {:?} / {:?}",
                    m.read_state(),
                    m.write_state(),
                    event,
                    next.read_state(),
                    next.write_state()
                )
            };
        }
    }
    out
}

fn check_snapshot(path: &str, actual: &str) {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&full, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&full).unwrap_or_default();
    assert!(
        expected == actual,
        "{path} is out of date: review the change, then run `UPDATE_SNAPSHOTS=1 cargo test --test machine` (and re-render docs/state.svg with `dot -Tsvg docs/state.dot -o docs/state.svg`)"
    );
}

#[test]
fn transition_table_matches_snapshot() {
    guarded_sync(HANG, || {
        check_snapshot("docs/transitions.txt", &table());
    });
}

#[test]
fn dot_matches_snapshot() {
    guarded_sync(HANG, || {
        check_snapshot("docs/state.dot", &machine_graph::dot());
    });
}

#[test]
fn every_state_and_event_keeps_the_invariants() {
    guarded_sync(HANG, || {
        let states = reachable();
        assert!(states.len() > 20, "only {} states reachable", states.len());
        for m in states {
            for event in Event::ALL {
                let mut next = m;
                next.handle(event);
                let ctx = format!("{m:?} + {event:?} => {next:?}");
                // close_notify becomes due (the close's first step is Flush) only
                // when a close starts from an open write side.
                let queues =
                    m.close_step().is_none() && next.close_step() == Some(CloseStep::Flush);
                assert_eq!(
                    queues,
                    m.write_state() == WriteState::Open && matches!(event, Event::Close { .. }),
                    "{ctx}"
                );
                // Writes are allowed only before closing and before any failure.
                assert_eq!(
                    next.may_write(),
                    next.write_state() == WriteState::Open,
                    "{ctx}"
                );
                if !m.may_write() {
                    assert!(!next.may_write(), "{ctx}");
                }
                // Terminal read states are sticky.
                if matches!(
                    m.read_state(),
                    ReadState::CloseNotify | ReadState::AbruptEof
                ) {
                    assert!(
                        next.read_state() == m.read_state()
                            || next.read_state() == ReadState::Failed,
                        "{ctx}"
                    );
                }
                if m.read_state() == ReadState::Failed {
                    assert_eq!(next.read_state(), ReadState::Failed, "{ctx}");
                }
                // CloseNotify only from the peer's close_notify; AbruptEof only from EOF.
                if next.read_state() == ReadState::CloseNotify
                    && m.read_state() != ReadState::CloseNotify
                {
                    assert_eq!(event, Event::PeerCloseNotify, "{ctx}");
                }
                if next.read_state() == ReadState::AbruptEof
                    && m.read_state() != ReadState::AbruptEof
                {
                    assert_eq!(event, Event::TransportEof, "{ctx}");
                }
                // Final write states never change.
                if m.is_final() {
                    assert_eq!(next.write_state(), m.write_state(), "{ctx}");
                }
                // A close that started never goes back to open.
                if m.write_state() != WriteState::Open {
                    assert_ne!(next.write_state(), WriteState::Open, "{ctx}");
                }
                // Every closing state has a deadline; no other state has one.
                assert_eq!(
                    next.timer().is_some(),
                    matches!(
                        next.write_state(),
                        WriteState::Flushing { .. }
                            | WriteState::AwaitingPeer
                            | WriteState::ShuttingDown(_)
                    ),
                    "{ctx}"
                );
            }
        }
    });
}

/// From any state, a close followed only by deadlines (a peer that does
/// nothing at all) reaches a final state in at most four steps: nothing can
/// hang.
#[test]
fn deadlines_alone_finish_every_close() {
    guarded_sync(HANG, || {
        for m in reachable() {
            let mut next = m;
            next.handle(Event::Close { await_peer: true });
            for _ in 0..4 {
                next.handle(Event::Deadline);
            }
            assert!(next.is_final(), "{m:?} did not finish: {next:?}");
        }
    });
}

#[test]
fn outcomes_of_the_main_paths() {
    guarded_sync(HANG, || {
        let run = |events: &[Event]| {
            let mut m = Machine::new();
            for e in events {
                m.handle(*e);
            }
            m.write_state()
        };
        use CloseOutcome as O;
        use Event as E;
        let close = E::Close { await_peer: true };
        let cases: [(&[Event], WriteState); 15] = [
            (
                &[close, E::Flushed, E::PeerCloseNotify, E::ShutdownDone],
                WriteState::Closed(O::PeerConfirmed),
            ),
            (
                &[E::PeerCloseNotify, close, E::Flushed, E::ShutdownDone],
                WriteState::Closed(O::PeerClosedFirst),
            ),
            (
                &[E::Close { await_peer: false }, E::Flushed, E::ShutdownDone],
                WriteState::Closed(O::NotAwaited),
            ),
            (
                &[close, E::Flushed, E::Deadline, E::ShutdownDone],
                WriteState::Closed(O::PeerTimeout),
            ),
            (
                &[close, E::Flushed, E::TransportEof, E::ShutdownDone],
                WriteState::Closed(O::PeerEof),
            ),
            (
                &[E::TransportEof, close, E::Flushed, E::ShutdownDone],
                WriteState::Closed(O::PeerEof),
            ),
            (
                &[close, E::Deadline, E::Deadline],
                WriteState::Closed(O::FlushTimeout),
            ),
            (&[E::TlsError, close], WriteState::Failed),
            // The peer closed and left: its close_notify was read, then the
            // transport failed under our writes.
            (
                &[E::PeerCloseNotify, close, E::TransportError],
                WriteState::Closed(O::PeerClosedAndLeft),
            ),
            (
                &[
                    E::PeerCloseNotify,
                    E::Close { await_peer: false },
                    E::TransportError,
                ],
                WriteState::Closed(O::PeerClosedAndLeft),
            ),
            // The same error before the peer's close_notify, after a
            // truncation, or a TLS error: failures.
            (&[close, E::TransportError], WriteState::Failed),
            (
                &[E::TransportEof, close, E::TransportError],
                WriteState::Failed,
            ),
            (
                &[E::PeerCloseNotify, close, E::TlsError],
                WriteState::Failed,
            ),
            // Our plaintext met the reset after the peer's close_notify (hyper's
            // last HTTP/2 frames after a GOAWAY): the peer closed and left too;
            // the close that follows reports it.
            (
                &[E::PeerCloseNotify, E::TransportError, close],
                WriteState::Closed(O::PeerClosedAndLeft),
            ),
            // Once our close_notify is flushed, the outcome is decided.
            (
                &[E::PeerCloseNotify, close, E::Flushed, E::TransportError],
                WriteState::Closed(O::PeerClosedFirst),
            ),
        ];
        for (events, expected) in cases {
            assert_eq!(run(events), expected, "{events:?}");
        }
    });
}

/// The peer closed and left: the read direction keeps its clean end (reads
/// go on reporting `CloseNotify`), and the close is over, with no
/// close_notify flushed.
#[test]
fn peer_closed_and_left_keeps_the_clean_read_end() {
    guarded_sync(HANG, || {
        let mut m = Machine::new();
        for e in [
            Event::PeerCloseNotify,
            Event::Close { await_peer: true },
            Event::TransportError,
        ] {
            m.handle(e);
        }
        assert_eq!(m.read_state(), ReadState::CloseNotify);
        assert_eq!(m.read_gate(), ReadGate::CloseNotify);
        assert_eq!(
            m.close_step(),
            Some(CloseStep::Done(CloseOutcome::PeerClosedAndLeft))
        );
        assert!(m.is_final());
        assert!(!CloseOutcome::PeerClosedAndLeft.close_notify_flushed());
    });
}

#[test]
fn dot_names_every_state_of_each_direction() {
    guarded_sync(HANG, || {
        let dot = machine_graph::dot();
        for name in [
            "read: open",
            "read: cancelled",
            "read: close-notify",
            "read: abrupt-eof",
            "read: failed",
        ] {
            assert!(dot.contains(&format!("\"{name}\"")), "{name} missing");
        }
        for name in [
            "open",
            "flushing (no wait)",
            "flushing (then await peer)",
            "awaiting peer",
            "shutting down",
            "closed",
            "failed",
        ] {
            assert!(
                dot.contains(&format!("\"write: {name}\"")),
                "{name} missing"
            );
        }
        for outcome in CloseOutcome::ALL {
            assert!(dot.contains(&format!("⇒ {outcome}")), "{outcome} missing");
        }
    });
}
