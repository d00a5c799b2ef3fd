#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| graceful_tls::fuzzing::machine::run(input));
