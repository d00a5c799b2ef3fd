//! The reachable state space: one walk, shared by the DOT export
//! ([`dot`](super::dot)) and the exhaustive tests.

use std::collections::VecDeque;

use super::{Event, Machine};

/// Every state reachable from [`Machine::new`] by [`Machine::handle`], in
/// breadth-first order (so the snapshots list them from the start).
pub(super) fn reachable() -> Vec<Machine> {
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
