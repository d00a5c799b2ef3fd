#![no_main]

use std::sync::atomic::{AtomicU8, Ordering};

use graceful_tls_testkit::fuzzing::machine::{run_recording, transition_index, TRANSITION_SLOTS};
use libfuzzer_sys::fuzz_target;

/// One libFuzzer feature per state × event pair the run took: libFuzzer
/// reads the counters in this section after each run, next to its code
/// coverage, which cannot tell these pairs apart (one `match` arm serves
/// many states), and clears them before the next. Each counter is set to 1,
/// not counted: libFuzzer makes a feature of every count bucket (1, 2, 3,
/// 4-7, ...), and the corpus would keep an input per bucket.
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static TRANSITIONS: [AtomicU8; TRANSITION_SLOTS] = [const { AtomicU8::new(0) }; TRANSITION_SLOTS];

fuzz_target!(|input: &[u8]| {
    for transition in run_recording(input) {
        TRANSITIONS[transition_index(&transition)].store(1, Ordering::Relaxed);
    }
});
