//! Replays the `served` fuzz target (`fuzz/fuzz_targets/served.rs`) on
//! stable Rust: every committed corpus input (`fuzz/corpus/served/`), over
//! both cryptos, must keep every check and, together, reach every cell of
//! the server's phase table the harness names; then seeded random inputs;
//! then every crash ever found, as a named regression test. The harness is
//! `graceful_tls_testkit::fuzzing::served` (feature `served`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use graceful_tls_testkit::fuzzing::served::{self, Cell, Crypto};

/// Every committed input, with its file name.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/served");
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read corpus input"))
        })
        .collect();
    inputs.sort();
    inputs
}

/// Runs `input` over `crypto`, naming the input if it panics.
fn replay(name: &str, input: &[u8], crypto: Crypto) -> Vec<Cell> {
    match std::panic::catch_unwind(|| served::run_cells_with(input, Some(crypto))) {
        Ok(cells) => cells,
        Err(panic) => {
            let saved = std::env::temp_dir().join("fuzz-replay-served-failure");
            let _ = std::fs::write(&saved, input);
            eprintln!(
                "served input {name} ({} bytes, {crypto:?}) failed; saved to {}",
                input.len(),
                saved.display()
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// The committed corpus keeps every check over both cryptos, and reaches
/// every cell (the target reports each cell to libFuzzer as a feature, so
/// `cmin` keeps an input for it).
#[test]
fn served_corpus() {
    let inputs = corpus();
    assert!(!inputs.is_empty(), "no committed served corpus");
    for crypto in [Crypto::Fake, Crypto::Real] {
        let mut reached = BTreeSet::new();
        for (name, input) in &inputs {
            reached.extend(replay(name, input, crypto));
        }
        let missing: Vec<_> = Cell::ALL
            .iter()
            .filter(|cell| !reached.contains(cell))
            .collect();
        assert!(missing.is_empty(), "{crypto:?}: never reached: {missing:?}");
    }
}

/// SplitMix64: a fixed, dependency-free stream of pseudo-random inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// 200 seeded random inputs (`SERVED_SEEDED=N` runs N, and
/// `SERVED_SEED` picks another seed, for a longer hunt on stable Rust).
#[test]
fn served_seeded_random() {
    let env = |name: &str| std::env::var(name).ok().and_then(|n| n.parse::<u64>().ok());
    let mut rng = SplitMix(env("SERVED_SEED").unwrap_or(0x7365_7276));
    for i in 0..env("SERVED_SEEDED").unwrap_or(200) {
        let len = 16 + rng.next() % 240;
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        replay(&format!("<seeded #{i}>"), &input, Crypto::Fake);
    }
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
