//! The model checker over connected pairs (`graceful_tls_testkit::pair_model`):
//! a client and a server `Machine` joined by ordered channels that deliver,
//! hold, end or reset, every ordering of writes, reads, cancellations,
//! closes, deadlines and resets explored breadth first, the invariants
//! checked at every state. Its abstraction and invariants are documented in
//! the module; docs/fuzzing.md has the full exploration's figure.

use std::time::{Duration, Instant};

use graceful_tls_testkit::pair_model::{explore, Bounds};

/// A bounded exploration, in every `cargo test`: each side writes up to two
/// records, a channel holds three symbols (so a flush can block behind
/// data), and the walk goes to the end (23 transitions deep: 733,980
/// states, 2,047,056 transitions).
#[test]
fn bounded_pair_exploration_keeps_every_invariant() {
    let started = Instant::now();
    let report = explore(Bounds {
        writes: 2,
        capacity: 3,
        depth: None,
    });
    let elapsed = started.elapsed();
    println!("pair model (bounded): {report:?} in {elapsed:?}");
    assert!(!report.truncated && report.states > 700_000, "{report:?}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// The full exploration (run in release, see docs/fuzzing.md):
/// `cargo test --release --test model_pair -- --ignored --nocapture`.
#[test]
#[ignore = "the full exploration: cargo test --release --test model_pair -- --ignored --nocapture"]
fn full_pair_exploration_keeps_every_invariant() {
    for (writes, capacity) in [(2, 2), (3, 4), (4, 6)] {
        let started = Instant::now();
        let report = explore(Bounds {
            writes,
            capacity,
            depth: None,
        });
        println!(
            "pair model: writes {writes}, capacity {capacity}: {report:?} in {:?}",
            started.elapsed()
        );
        assert!(!report.truncated);
    }
}
