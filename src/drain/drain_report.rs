//! [`DrainReport`]: what a drain of a
//! [`ConnectionSet`](crate::ConnectionSet) reports.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::{CloseOutcome, ConnectionReport, Ended};

/// The result of [`ConnectionSet::drain`](crate::ConnectionSet::drain) or
/// [`abort`](crate::ConnectionSet::abort): every connection that was live
/// when the drain began (or registered before it), and how each ended.
///
/// Its `Display` is one summary line:
/// `connections=3 forced=1 peer-confirmed=2 flush-timeout=1`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DrainReport {
    /// One entry per connection, in the order they ended.
    pub connections: Vec<ConnectionReport>,
    /// Registrations refused because the drain had begun.
    pub refused: u64,
    /// From the start of the drain to its return (tokio's clock).
    pub elapsed: Duration,
    /// Accept errors a server met while it served, before the drain (out
    /// of file descriptors, connections aborted before they were taken...;
    /// `graceful_tls::server::serve` fills it in, a plain
    /// `ConnectionSet` drain leaves it 0). Shown as `accept-errors=N` when
    /// not 0.
    pub accept_errors: u64,
}

impl DrainReport {
    /// How many connections ended each way, keyed by [`Ended::as_str`].
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for connection in &self.connections {
            *counts.entry(connection.ended.as_str()).or_default() += 1;
        }
        counts
    }

    /// How many connections were closed with `outcome`.
    pub fn closed_with(&self, outcome: CloseOutcome) -> usize {
        self.count(|ended| ended.close_outcome() == Some(outcome))
    }

    /// How many connections did not end in a close (failures and
    /// handshakes that failed or were cancelled).
    pub fn failed(&self) -> usize {
        self.count(|ended| ended.close_outcome().is_none())
    }

    /// How many connections the deadline (or an abort) forced.
    pub fn forced(&self) -> usize {
        self.connections.iter().filter(|c| c.forced).count()
    }

    /// A report of no connection (a server that accepted none).
    #[cfg_attr(not(all(feature = "restart", unix)), allow(dead_code))]
    pub(crate) fn empty() -> DrainReport {
        DrainReport {
            connections: Vec::new(),
            refused: 0,
            elapsed: Duration::ZERO,
            accept_errors: 0,
        }
    }

    /// Adds `other`'s connections and counts to this report (a server
    /// that accepted in several rounds, each drained by a set of its own);
    /// `elapsed` becomes the longer of the two.
    #[cfg_attr(not(all(feature = "restart", unix)), allow(dead_code))]
    pub(crate) fn merge(&mut self, other: DrainReport) {
        self.connections.extend(other.connections);
        self.refused = self.refused.saturating_add(other.refused);
        self.accept_errors = self.accept_errors.saturating_add(other.accept_errors);
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    fn count(&self, matches: impl Fn(&Ended) -> bool) -> usize {
        self.connections
            .iter()
            .filter(|c| matches(&c.ended))
            .count()
    }
}

impl fmt::Display for DrainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connections={}", self.connections.len())?;
        if self.forced() > 0 {
            write!(f, " forced={}", self.forced())?;
        }
        if self.refused > 0 {
            write!(f, " refused={}", self.refused)?;
        }
        if self.accept_errors > 0 {
            write!(f, " accept-errors={}", self.accept_errors)?;
        }
        for (name, count) in self.counts() {
            write!(f, " {name}={count}")?;
        }
        Ok(())
    }
}

/// Emits the drain's summary as a `tracing` event (feature `tracing`).
#[cfg(feature = "tracing")]
pub(super) fn trace_drain(report: &DrainReport) {
    tracing::info!(
        target: "graceful_tls::drain",
        elapsed_ms = report.elapsed.as_millis() as u64,
        summary = %report,
        "drain finished"
    );
}

#[cfg(not(feature = "tracing"))]
pub(super) fn trace_drain(_report: &DrainReport) {}
