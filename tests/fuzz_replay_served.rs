//! Replays the `served` fuzz target (`fuzz/fuzz_targets/served.rs`) on
//! stable Rust: every committed corpus input (`fuzz/corpus/served/`), over
//! both cryptos, must keep every check and, together, reach every cell of
//! the server's phase table the harness names; then seeded random inputs;
//! then every crash ever found, as a named regression test. The harness is
//! `graceful_tls_testkit::fuzzing::served` (feature `served`).

use std::collections::BTreeSet;

use graceful_tls_testkit::fuzzing::replay::{corpus, replay, seeded};
use graceful_tls_testkit::fuzzing::served::{self, Cell, Crypto};

/// The committed corpus keeps every check over both cryptos, and reaches
/// every cell (the target reports each cell to libFuzzer as a feature, so
/// `cmin` keeps an input for it).
#[test]
fn served_corpus() {
    let inputs = corpus("served");
    for crypto in [Crypto::Fake, Crypto::Real] {
        let mut reached = BTreeSet::new();
        for (name, input) in &inputs {
            reached.extend(replay("served", name, input, |input| {
                served::run_cells_with(input, Some(crypto))
            }));
        }
        let missing: Vec<_> = Cell::ALL
            .iter()
            .filter(|cell| !reached.contains(cell))
            .collect();
        assert!(missing.is_empty(), "{crypto:?}: never reached: {missing:?}");
    }
}

/// 200 seeded random inputs (`SERVED_SEEDED=N` runs N, and
/// `SERVED_SEED` picks another seed, for a longer hunt on stable Rust).
#[test]
fn served_seeded_random() {
    let env = |name: &str| std::env::var(name).ok().and_then(|n| n.parse::<u64>().ok());
    let seed = env("SERVED_SEED").unwrap_or(0x7365_7276);
    let count = env("SERVED_SEEDED").unwrap_or(200);
    seeded("served", seed, count, (16, 255), |input| {
        served::run_cells_with(input, Some(Crypto::Fake));
    });
}

/// Replays one input file given by `FUZZ_INPUT`; set `FUZZ_TRACE=1` to
/// print the run.
#[test]
#[ignore = "manual: FUZZ_INPUT=path cargo test --workspace --all-features --test fuzz_replay_served -- --ignored one_input --nocapture"]
fn one_input() {
    let path = std::env::var("FUZZ_INPUT").expect("FUZZ_INPUT");
    let input = std::fs::read(&path).expect("read FUZZ_INPUT");
    served::run(&input);
}

// Regressions: every crash ever found, named after what it broke.

/// Found by issue 25's campaign (`served`, 20 min): an HTTP/2 client held
/// half a frame back while its last responses went out, so the server's
/// keep-alive timer fired (GOAWAY) with the frame still pending; the rest
/// arrived after the GOAWAY, hyper answered it (its graceful shutdown
/// takes what comes before the PING's answer) and closed right after. The
/// harness had taken the late exchange for the start of the idle time and
/// expected the close a whole keep-alive later. Harness fix: a connection
/// whose last exchange came after its GOAWAY is checked as closing (by the
/// exchange's end + the flush), not as idle.
#[test]
fn regression_served_h2_exchange_after_the_idle_goaway() {
    for crypto in [Crypto::Fake, Crypto::Real] {
        served::run_cells_with(
            &[
                0x23, 0xcd, 0x6a, 0x38, 0xe1, 0x31, 0x3f, 0xbc, 0x64, 0x16, 0x31, 0xe2, 0xb6, 0x97,
                0x33, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff, 0x33, 0x33, 0xff, 0xff, 0x33, 0x33, 0x33,
                0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x0e, 0xae, 0x53,
                0x1b, 0x9e, 0x7a, 0x80, 0x5e, 0x39, 0x28, 0xac, 0x7a, 0xfd, 0x70, 0xc8, 0xc5, 0xb4,
                0xc7, 0x8e, 0x9a, 0x74, 0x12, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
                0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x7b, 0x7b, 0x7b, 0x33, 0x33, 0xaf,
                0x47, 0x89, 0x51, 0xf1, 0x0f, 0x74, 0xd9, 0x94, 0x9d, 0xc8, 0x85, 0x1a, 0x27, 0xdd,
                0x72, 0xa4, 0x0e, 0x6c, 0xae, 0x53, 0x1b, 0x9e, 0x7a, 0x80, 0x5e, 0x39, 0x28, 0xac,
                0x7a, 0xfd, 0x70, 0xc8, 0xc5, 0xb4, 0xc7, 0x8c, 0x3b, 0x74, 0x12, 0xbe, 0x6c, 0x5b,
                0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01, 0xb8, 0x9a, 0x98, 0xf8, 0x91, 0x83,
                0x5f, 0x56, 0xe2, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57, 0x57,
            ],
            Some(crypto),
        );
    }
}
