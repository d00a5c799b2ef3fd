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
