#![no_main]

use std::sync::atomic::{AtomicU8, Ordering};

use graceful_tls_testkit::fuzzing::served::{run_cells, Cell};
use libfuzzer_sys::fuzz_target;

/// One libFuzzer feature per cell of the server's phase table the run came
/// through (see `graceful_tls_testkit::fuzzing::served::Cell`): code
/// coverage cannot tell, say, a silent client cut by the drain's deadline
/// from one cut at the end of its grace, so without these `cmin` would drop
/// the inputs that reach them. Set to 1, not counted.
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static CELLS: [AtomicU8; Cell::ALL.len()] = [const { AtomicU8::new(0) }; Cell::ALL.len()];

fuzz_target!(|input: &[u8]| {
    for cell in run_cells(input) {
        CELLS[cell.index()].store(1, Ordering::Relaxed);
    }
});
