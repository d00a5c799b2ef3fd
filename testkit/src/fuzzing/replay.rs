//! What the replay tests (`tests/fuzz_replay.rs`,
//! `tests/fuzz_replay_served.rs`) share: the committed corpora, a replay
//! that names the input that failed, and seeded random inputs.

use std::path::PathBuf;

/// Every input of one target's corpus, with its file name, sorted:
/// `fuzz/corpus/<target>`, or `<FUZZ_CORPUS_ROOT>/<target>` when that is
/// set (say, a campaign's corpus, to check what it covers:
/// docs/fuzzing.md, "Campaign").
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = std::env::var_os("FUZZ_CORPUS_ROOT").map_or_else(
        || crate::workspace_root().join("fuzz/corpus"),
        PathBuf::from,
    );
    let dir = root.join(target);
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
    assert!(
        !inputs.is_empty(),
        "no {target} corpus in {}",
        dir.display()
    );
    inputs
}

/// Runs `harness` on `input`; if it panics, saves the input to
/// `$TMPDIR/fuzz-replay-<target>-failure`, says so, and panics on.
pub fn replay<T>(target: &str, name: &str, input: &[u8], harness: impl FnOnce(&[u8]) -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness(input))) {
        Ok(value) => value,
        Err(panic) => {
            let saved = std::env::temp_dir().join(format!("fuzz-replay-{target}-failure"));
            let _ = std::fs::write(&saved, input);
            eprintln!(
                "{target} input {name} ({} bytes) failed; saved to {}",
                input.len(),
                saved.display()
            );
            std::panic::resume_unwind(panic)
        }
    }
}

/// SplitMix64: a fixed, dependency-free stream of pseudo-random numbers.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An input of `min_len..=max_len` random bytes.
    pub fn input(&mut self, min_len: u64, max_len: u64) -> Vec<u8> {
        let len = min_len + self.next_u64() % (max_len - min_len + 1);
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Replays `count` random inputs of `min_len..=max_len` bytes from `seed`.
pub fn seeded(
    target: &str,
    seed: u64,
    count: u64,
    (min_len, max_len): (u64, u64),
    harness: impl Fn(&[u8]),
) {
    let mut rng = SplitMix(seed);
    for i in 0..count {
        let input = rng.input(min_len, max_len);
        replay(
            target,
            &format!("<seed {seed:#x} input #{i}>"),
            &input,
            &harness,
        );
    }
}
