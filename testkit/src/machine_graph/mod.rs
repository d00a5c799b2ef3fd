//! The state machine's reachable state space: one walk, shared by the DOT
//! export ([`dot()`]), the exhaustive tests of `tests/machine.rs` (against
//! the snapshots `docs/transitions.txt` and `docs/state.dot`) and the fuzz
//! replay's list of every state × event pair.
//!
//! A dev tool, not the library's API: the library keeps only
//! [`Machine::handle`] and its queries.

use std::collections::VecDeque;

use graceful_tls::machine::{Event, Machine};

mod dot;

pub use dot::dot;

/// Every state reachable from [`Machine::new`] by [`Machine::handle`], in
/// breadth-first order (so the snapshots list them from the start).
pub fn reachable() -> Vec<Machine> {
    let mut seen = vec![Machine::new()];
    let mut queue = VecDeque::from([Machine::new()]);
    while let Some(m) = queue.pop_front() {
        for event in Event::ALL {
            let mut next = m;
            next.handle(event);
            if !seen.contains(&next) {
                seen.push(next);
                queue.push_back(next);
            }
        }
    }
    seen
}
