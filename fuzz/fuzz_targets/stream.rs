#![no_main]

use std::sync::atomic::{AtomicU8, Ordering};

use graceful_tls_testkit::fuzzing::stream::{run_cases_with, Case, Crypto};
use libfuzzer_sys::fuzz_target;

/// One libFuzzer feature per hostile case the run came through (see
/// `graceful_tls_testkit::fuzzing::stream::Case`): code coverage cannot tell, say,
/// a ticket that arrives during our close from one that arrives before it,
/// so without these `cmin` would drop the inputs that reach them. Set to 1,
/// not counted (libFuzzer makes a feature of each count bucket).
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static CASES: [AtomicU8; Case::ALL.len()] = [const { AtomicU8::new(0) }; Case::ALL.len()];

// Every input over the testkit's free crypto, whose records the peer can
// forge; `stream_real` runs the same inputs over real crypto.
fuzz_target!(|input: &[u8]| {
    for case in run_cases_with(input, Some(Crypto::Fake)) {
        CASES[case.index()].store(1, Ordering::Relaxed);
    }
});
