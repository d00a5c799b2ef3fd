//! Replays the fuzz harness on stable Rust, in every test run: each
//! committed corpus input (`fuzz/corpus/<target>/`), a fixed number of
//! seeded random inputs, and every crash the fuzzers ever found, as a named
//! regression test. The harness lives in the testkit
//! (`testkit/src/fuzzing/`).

use std::collections::HashSet;

use graceful_tls::machine::Event;
use graceful_tls_testkit::fuzzing::replay::{corpus, replay, seeded};
use graceful_tls_testkit::fuzzing::{machine, stream};
use graceful_tls_testkit::machine_graph::reachable;
use graceful_tls_testkit::{guarded_sync, HANG};

/// Every committed `machine` input keeps every invariant, and together they
/// take every state × event pair of the machine (the target reports each
/// pair to libFuzzer as a feature, so `cmin` keeps an input for it): among
/// them the cut-short transitions, a close that does not wait for the peer
/// (`poll_shutdown`, a drop, a drain's deadline) arriving while a close that
/// does is flushing or waiting.
#[test]
fn machine_corpus() {
    guarded_sync(HANG, || {
        let inputs = corpus("machine");
        let mut taken = HashSet::new();
        for (name, input) in &inputs {
            taken.extend(replay("machine", name, input, machine::run_recording));
        }
        let every = every_transition();
        let listed = include_str!("../docs/transitions.txt").lines().count();
        assert_eq!(every.len(), listed, "docs/transitions.txt lists every pair");
        let mut indexes = HashSet::new();
        for t in &every {
            let i = machine::transition_index(t);
            assert!(
                i < machine::TRANSITION_SLOTS && indexes.insert(i),
                "index of {t:?}"
            );
        }
        let mut missing: Vec<String> = every
            .difference(&taken)
            .map(|(from, event, to)| format!("{from:?} + {event:?} => {to:?}"))
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "{} transitions never taken:\n{}",
            missing.len(),
            missing.join("\n")
        );
        for (from, to) in [
            (
                "Flushing { await_peer: true }",
                "Flushing { await_peer: false }",
            ),
            ("AwaitingPeer", "ShuttingDown(PeerTimeout)"),
        ] {
            assert!(
                taken
                    .iter()
                    .any(|(a, e, b)| *e == Event::Close { await_peer: false }
                        && format!("{:?}", a.write_state()) == from
                        && format!("{:?}", b.write_state()) == to),
                "no cut-short {from} => {to}"
            );
        }
    });
}

/// Every state × event pair, from every state reachable from
/// `Machine::new()` (the list in docs/transitions.txt).
fn every_transition() -> HashSet<machine::Transition> {
    let mut all = HashSet::new();
    for state in reachable() {
        for event in Event::ALL {
            let mut next = state;
            next.handle(event);
            all.insert((state, event, next));
        }
    }
    all
}

/// Every committed `stream` input keeps every invariant, and together they
/// come through every hostile case of issue 11 (the target reports each
/// case to libFuzzer as a feature, so `cmin` keeps an input for it).
///
/// Each input runs twice, over real crypto (ring) and over the testkit's
/// free provider (`fake_crypto`), whatever its `Setup` chooses: the fuzzer
/// runs most inputs over the free one, and both must keep every invariant
/// and reach every case (but the forged records', which only the free one
/// can forge).
#[test]
fn stream_corpus() {
    guarded_sync(HANG, || {
        let inputs = corpus("stream");
        type Harness = fn(&[u8]) -> Vec<stream::Case>;
        let harnesses: [(stream::Crypto, Harness); 2] = [
            (stream::Crypto::Real, |input| {
                stream::run_cases_with(input, Some(stream::Crypto::Real))
            }),
            (stream::Crypto::Fake, |input| {
                stream::run_cases_with(input, Some(stream::Crypto::Fake))
            }),
        ];
        for (crypto, harness) in harnesses {
            let mut reached = HashSet::new();
            for (name, input) in &inputs {
                reached.extend(replay("stream", name, input, harness));
            }
            let missing: Vec<_> = stream::Case::ALL
                .iter()
                .filter(|case| !reached.contains(case))
                .filter(|case| crypto == stream::Crypto::Fake || !case.needs_fake_crypto())
                .collect();
            assert!(missing.is_empty(), "{crypto:?}: never reached: {missing:?}");
        }
    });
}

/// A named regression, over both cryptos (see `stream_corpus`); returns the
/// cases each reached.
fn stream_both(input: &[u8]) -> [Vec<stream::Case>; 2] {
    [stream::Crypto::Real, stream::Crypto::Fake]
        .map(|crypto| stream::run_cases_with(input, Some(crypto)))
}

#[test]
fn machine_seeded_random() {
    guarded_sync(HANG, || {
        seeded("machine", 0x6d61_6368, 20_000, (0, 512), machine::run);
    });
}

#[test]
fn stream_seeded_random() {
    guarded_sync(HANG, || {
        seeded("stream", 0x7374_7265, 1_000, (0, 1024), stream::run);
    });
}

/// Replays one input file given by `FUZZ_INPUT` (with `FUZZ_TARGET`
/// `machine`, `stream` or `stream_real`, each as its fuzz target runs it,
/// or `stream_chosen` for the crypto the input chooses, as the seeded
/// inputs and the regressions below run); set `FUZZ_TRACE=1` to print each
/// step.
#[test]
#[ignore = "manual: FUZZ_TARGET=stream FUZZ_INPUT=path cargo test --test fuzz_replay -- --ignored one_input --nocapture"]
fn one_input() {
    let target = std::env::var("FUZZ_TARGET").expect("FUZZ_TARGET");
    let path = std::env::var("FUZZ_INPUT").expect("FUZZ_INPUT");
    let input = std::fs::read(&path).expect("read FUZZ_INPUT");
    match target.as_str() {
        "machine" => machine::run(&input),
        "stream" => drop(stream::run_cases_with(&input, Some(stream::Crypto::Fake))),
        "stream_real" => drop(stream::run_cases_with(&input, Some(stream::Crypto::Real))),
        "stream_chosen" => stream::run(&input),
        other => panic!("unknown target {other}"),
    }
}

// Regressions: every crash ever found (by the fuzzers or the seeded
// replay), named after what it broke. A change to the `stream` vocabulary
// changes what old bytes mean: transcode each input (replay it with the old
// decoder for `Setup` and `Step`, re-encode what it consumed) and check that
// FUZZ_TRACE shows the same steps and end. `fuzzing::record_decodes` says
// where each decode began. Issue 25 added `PeerOp::Forge` (18 variants
// where there were 17): every `PeerOp` tag of the corpus and of the inputs
// below was rewritten to the value that decodes to the same variant, and
// FUZZ_TRACE showed the same steps and ends for all of them (but three
// real-crypto runs, whose byte counts move by one with ECDSA's signature
// length).

/// Harness bug found by the seeded machine inputs: once the close was final
/// the model clock kept firing a stale deadline. With zero timeouts a close
/// runs to its end in one pump.
#[test]
fn regression_machine_close_settles_with_zero_timeouts() {
    guarded_sync(HANG, || {
        machine::check(&machine::Scenario {
            flush: 0,
            peer: 0,
            ops: vec![machine::Op::Close { await_peer: true }],
        });
    });
}

/// Harness bug found by the seeded stream inputs: a TLS 1.3 server's
/// session tickets filled a 64-byte pipe that the finished client never
/// read, so the handshake hung. Setup: TLS 1.3, ours = server, capacity 64,
/// 100 ms timeouts, no steps.
#[test]
fn regression_stream_tls13_tickets_in_a_tiny_pipe() {
    guarded_sync(HANG, || {
        stream_both(&[1, 0, 0, 10, 10, 0]);
    });
}

/// Found by `cargo fuzz run stream` (minimized): a peer's corrupted record
/// read by the drain on drop, after our close_notify, makes rustls send a
/// fatal alert and trip its own `debug_assert!(!self.sent_fatal_alert)`
/// (rustls/rustls#959, open; debug builds only). Our side behaves (close
/// `NotAwaited`, the peer sees close_notify). Passes because Cargo.toml turns
/// rustls' debug assertions off in the dev profile and fuzz/run.sh builds
/// with -O; with them on it panics inside rustls.
///
/// Transcoded when issue 11 grew the vocabulary (the same setup, steps and
/// transport decisions in the new encoding; see "Regressions" above).
#[test]
fn regression_rustls_fatal_alert_after_close_notify_on_drop() {
    guarded_sync(HANG, || {
        stream_both(&[
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xc8, 0x71, 0x1c, 0x47, 0x3b, 0xf8,
        ]);
    });
}

/// Found by `cargo fuzz run stream` (600 s campaign, session 2): a read
/// returned the peer's plaintext while tokio-rustls kept, unreported, the
/// DecryptError of a corrupted record behind it (it had already sent the
/// fatal alert). The drop that followed found the error at its flush and,
/// correctly, sent no close_notify after the fatal alert; the harness had
/// expected one because the machine had not failed yet. Harness fix: a drop
/// also asks rustls for a stored error (`tls_failed` in stream_ops.rs).
///
/// Transcoded when issue 11 grew the vocabulary (the same setup, steps and
/// transport decisions in the new encoding; see "Regressions" above).
#[test]
fn regression_stream_drop_after_unreported_tls_error() {
    guarded_sync(HANG, || {
        stream_both(&[
            0x01, 0x00, 0x2f, 0x2f, 0x2f, 0x8f, 0xe3, 0x38, 0x0e, 0x2f, 0x2f, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2f, 0x9a, 0x99, 0x99, 0x19, 0x2f, 0x2f, 0x8f,
            0xe3, 0x38, 0x0e, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x9a, 0x99, 0x99, 0x19, 0x2f, 0x10,
            0x8f, 0xe3, 0x38, 0x0e, 0x2f, 0x2f, 0x2f, 0x7d, 0xee, 0x4a, 0xfa, 0x3c, 0x8a, 0x36,
            0x5b, 0xed, 0x55, 0x8a, 0x60, 0xb0, 0xf8, 0x34, 0x33, 0x33, 0x33, 0x39, 0xf3, 0x00,
            0x00, 0x00, 0x00, 0x79, 0x82, 0xed, 0x30, 0xbf, 0xcc, 0x2f, 0x80, 0x56, 0x2f, 0x2f,
            0xcd, 0xcc, 0xcc, 0xcc, 0x8f, 0xe3, 0x38, 0x0e, 0x60, 0xdc, 0x5e, 0x63, 0x9a, 0x99,
            0x99, 0x19, 0x00, 0xb5, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]);
    });
}

/// Issue 11's own scenario, written by hand to check that the harness sees
/// it: our close waits for the peer while the peer floods 9 records of 16 KiB in 64-byte segments (each
/// record takes more reads than a task's cooperative budget allows per
/// poll), moving the paused clock 75 ms after each. The transport spends
/// the budget as tokio's I/O does, so a timer polled after the reads is
/// `Pending` too: a deadline that asks only its `Sleep` (issue 11's bug,
/// re-injected in `Deadline::poll_passed`) let this close run 675 ms
/// against a bound of 30 ms (+ 2 × 75 ms for the clock's steps). With the
/// clock asked on every turn it ends `PeerTimeout` within its bound.
/// Setup: TLS 1.3, ours = client, 16 MiB pipes, flush and peer timeouts
/// 10 ms, the peer's final operation `Flood(0xf4)`, network 6 (64-byte
/// segments); no steps.
#[test]
fn regression_flood_starving_the_budget_still_ends_by_the_deadline() {
    guarded_sync(HANG, || {
        for cases in stream_both(&[
            0x01, 0x01, 0x07, 0x01, 0x01, 0x00, 0x00, 0x00, 0x80, 0xf4, 0x06,
        ]) {
            assert!(
                cases.contains(&stream::Case::FloodStarvedDeadline),
                "{cases:?}"
            );
        }
    });
}

/// Found by `cargo fuzz run stream` built without AddressSanitizer (`-s
/// none`, 8 s): a harness false positive. With a zero flush timeout, our
/// close's write of close_notify met tokio's cooperative budget already
/// spent (a read step had spent it in the same task poll), was told
/// `Pending`, and the close ended `FlushTimeout`, as it would over a real
/// socket; the ledger expected `FlushTimeout` only after the transport had
/// refused a write, and did not count a refusal by the budget. Harness
/// fix: the transport records it (`PipeFacts::write_pending`).
#[test]
fn regression_stream_zero_flush_timeout_with_the_budget_spent() {
    guarded_sync(HANG, || {
        stream_both(&[
            0x73, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0xe0, 0x27, 0x30, 0x3b,
            0xf8, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xab, 0xaa, 0xaa, 0x2a, 0x71, 0x75, 0xdc,
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0xee, 0xd7, 0x56, 0x06, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x80, 0xab, 0xf4, 0x10, 0x04, 0x03, 0x02, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x39, 0x8e, 0xe3, 0xb8, 0x26, 0x00,
            0x00, 0x23, 0x37, 0x32, 0x36, 0x32, 0x49, 0x00, 0x00, 0x00, 0x00,
        ]);
    });
}

/// Reported seven times by issue 25's campaign (`stream`, AddressSanitizer,
/// about one run in 300,000): "close failed with Tls, nothing injected
/// (the error: DecryptError)", every time with the peer forging records
/// (`Forge`: a close_notify, or a TLS 1.3 KeyUpdate), and never when an
/// input was replayed alone. The cause was an earlier run: a drop of ours
/// whose close did not end at once finished it in a task of its own
/// (`GracefulStream`'s `Drop`), which the run did not wait for; on the
/// runtime the harness reuses, that task went on during the next run and
/// its records moved the fake crypto's per-thread sequence numbers under
/// the next run's forgeries. Harness fix: a run waits for those tasks, and
/// checks that they end within their bound (`background_closes_end` in
/// testkit/src/fuzzing/stream.rs). The inputs that met it are kept.
#[test]
fn regression_stream_forged_records_after_a_drop_s_background_close() {
    guarded_sync(HANG, || {
        stream_both(&[
            0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57,
            0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57,
            0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57,
            0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57,
            0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0xb0, 0xff, 0xff, 0xff, 0x34, 0xff, 0xff,
            0x7a, 0xff, 0xff, 0xff,
        ]);
        stream_both(&[
            0x39, 0x8e, 0xcf, 0x21, 0xad, 0x60, 0x60, 0x60, 0x60, 0x60, 0x60, 0x60, 0x60, 0x60,
            0x60, 0x1d, 0xe1, 0x01, 0x0c, 0x3b, 0xe2, 0x39, 0x60, 0x60, 0x31, 0x60, 0x60, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x74, 0xe5, 0x9a, 0xb8, 0x0c, 0x60, 0x3b,
            0xe2,
        ]);
        stream_both(&[
            0xff, 0xff, 0xff, 0xad, 0xad, 0xad, 0xff, 0xff, 0xff, 0xad, 0xad, 0xad, 0xad, 0xad,
            0xad, 0xad, 0xad, 0xb8, 0xff, 0xda, 0x31, 0x4f, 0x56, 0xe6, 0xad, 0xad, 0xad, 0xb8,
        ]);
        stream_both(&[
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x52, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
            0x5a, 0x70, 0xa7, 0x26, 0x8f, 0x8f, 0x00, 0x5a, 0x52, 0x5a, 0xff, 0xff, 0xff, 0xff,
            0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x00,
            0x00, 0x00, 0x00, 0xe9, 0xe9, 0xe9, 0xe9, 0x01, 0x00, 0x30, 0xa7, 0x63, 0x8f, 0x26,
        ]);
        stream_both(&[
            0x30, 0x45, 0x26, 0x6d, 0x35, 0x71, 0x75, 0x50, 0x78, 0x6e, 0x6b, 0x49, 0x41, 0x69,
            0x41, 0x00, 0x8f, 0x31, 0xe3, 0x38, 0x0e, 0x90, 0x00, 0xff, 0x00, 0x00, 0xfd, 0xff,
            0xff, 0x00, 0x00, 0x00, 0x00, 0x30, 0x45, 0x26, 0x00, 0x35, 0x71, 0x00, 0x00, 0x00,
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x75, 0x00, 0x00, 0x50, 0x78, 0x6e, 0x6b, 0x49, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe4, 0x38, 0xff, 0x74, 0x00, 0x00, 0x00, 0xe0,
            0xff, 0x74, 0x8e, 0xe3, 0xff, 0xff, 0xff, 0xff,
        ]);
        stream_both(&[
            0x0c, 0x96, 0x45, 0x59, 0xc7, 0xbd, 0xaa, 0xe5, 0xff, 0xff, 0x4d, 0xfa, 0xdd, 0x02,
            0x00, 0xff, 0x88, 0x00, 0x35, 0xff, 0xff, 0xff, 0x26, 0xf6, 0x59, 0xad, 0x2e,
        ]);
        stream_both(&[
            0x2d, 0xfa, 0x25, 0x8c, 0x05, 0xe4, 0x38, 0x8e, 0xe3, 0x8c, 0x05, 0x68, 0x3d, 0x68,
            0x00, 0x00, 0x00, 0x80, 0xcf, 0x21, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xdf,
            0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0x8f, 0xe3, 0x38, 0x8e, 0x11,
        ]);
    });
}
