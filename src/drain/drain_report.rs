//! [`DrainReport`]: what a drain of a
//! [`ConnectionSet`](crate::ConnectionSet) reports.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::{CloseOutcome, ConnectionReport, Cut, Ended};

/// The result of [`ConnectionSet::drain`](crate::ConnectionSet::drain) or
/// [`abort`](crate::ConnectionSet::abort): every connection that was live
/// when the drain began (or registered before it), and how each ended.
///
/// Its `Display` is one summary line:
/// `connections=3 forced=1 header-timeouts=4 peer-confirmed=2 flush-timeout=1`
/// (the life-long counters, `accept-errors=` and the cuts, come before the
/// outcomes of the drain's connections).
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
    /// How many connections a server cut since it began serving, by why
    /// ([`Cut`]: a client silent after its handshake, an idle
    /// connection...), the drain's and earlier ones alike (those are not in
    /// [`connections`](Self::connections)). `graceful_tls::server::serve`
    /// fills it in; shown as `header-timeouts=N`, `idle-timeouts=N`...
    /// when not 0. [`cuts`](Self::cuts) reads one count.
    pub cut_counts: BTreeMap<Cut, u64>,
}

impl DrainReport {
    /// How many connections ended each way, keyed by
    /// [`ConnectionReport::outcome`] ([`Ended::as_str`], or
    /// `client-left-complete`).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for connection in &self.connections {
            *counts.entry(connection.outcome()).or_default() += 1;
        }
        counts
    }

    /// How many connections were closed with `outcome`.
    pub fn closed_with(&self, outcome: CloseOutcome) -> usize {
        self.count(|ended| ended.close_outcome() == Some(outcome))
    }

    /// How many connections did not end in a close (failures and
    /// handshakes that failed or were cancelled); a client that left after
    /// every exchange was complete (`client-left-complete`) is no failure.
    pub fn failed(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| c.ended.close_outcome().is_none() && !c.client_left_complete())
            .count()
    }

    /// How many connections were cut with `cut` since serving began (see
    /// [`cut_counts`](Self::cut_counts)).
    pub fn cuts(&self, cut: Cut) -> u64 {
        self.cut_counts.get(&cut).copied().unwrap_or(0)
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
            cut_counts: BTreeMap::new(),
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
        for (cut, count) in other.cut_counts {
            let total = self.cut_counts.entry(cut).or_default();
            *total = total.saturating_add(count);
        }
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
        for (cut, count) in &self.cut_counts {
            if *count > 0 {
                write!(f, " {}={count}", cut.count_name())?;
            }
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
