//! What a drain reports: how each connection of a
//! [`ConnectionSet`](crate::ConnectionSet) ended.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Chain;
use crate::{CloseOutcome, Error, Stats};

/// How one connection of a [`ConnectionSet`](crate::ConnectionSet) ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Ended {
    /// The connection was closed: close_notify was sent (or, for
    /// `FlushTimeout`, could not be flushed in time) and the transport shut
    /// down. The outcome says what the peer did.
    Closed(CloseOutcome),
    /// The connection failed (reset, TLS error) before or while closing; no
    /// close_notify could be delivered.
    Failed(Error),
    /// The TLS handshake failed; there was no TLS session to close.
    HandshakeFailed(Arc<dyn StdError + Send + Sync + 'static>),
    /// The deadline (or an abort) came while the TLS handshake was still
    /// running; it was dropped, there was no TLS session to close.
    HandshakeCancelled,
    /// The TLS handshake did not complete within the handshake timeout
    /// ([`ConnectionSet::with_handshake_timeout`](crate::ConnectionSet::with_handshake_timeout)):
    /// a client that stalled or trickled its handshake. It was dropped;
    /// there was no TLS session to close.
    HandshakeTimeout,
}

impl Ended {
    /// The kebab-case name used in summaries and logs: the close outcome's
    /// name (e.g. `peer-confirmed`), `tls-error`, `transport-error`, `error`
    /// (another [`Error`]), `handshake-failed`, `handshake-cancelled` or `handshake-timeout`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ended::Closed(outcome) => outcome.as_str(),
            Ended::Failed(Error::Tls(_)) => "tls-error",
            Ended::Failed(Error::Transport(_)) => "transport-error",
            Ended::Failed(_) => "error",
            Ended::HandshakeFailed(_) => "handshake-failed",
            Ended::HandshakeCancelled => "handshake-cancelled",
            Ended::HandshakeTimeout => "handshake-timeout",
        }
    }

    /// The close outcome, if the connection was closed.
    pub fn close_outcome(&self) -> Option<CloseOutcome> {
        match self {
            Ended::Closed(outcome) => Some(*outcome),
            _ => None,
        }
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Failed(e) => write!(f, "{}: {}", self.as_str(), Chain(e)),
            Ended::HandshakeFailed(e) => write!(f, "{}: {}", self.as_str(), Chain(&**e)),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// How one connection ended, as recorded by a drain.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionReport {
    /// The id [`ConnectionSet::spawn`](crate::ConnectionSet::spawn) returned
    /// (1, 2, 3… in registration order).
    pub id: u64,
    /// The peer's address, as given at registration.
    pub peer: Option<SocketAddr>,
    /// How it ended.
    pub ended: Ended,
    /// Plaintext byte counts (in: `read() + discarded()`, out: `written()`).
    /// Zero when the handshake did not complete.
    pub stats: Stats,
    /// From registration to the end of its close (tokio's clock).
    pub lifetime: Duration,
    /// Whether the deadline (or an abort) cut it short: its handler (or its
    /// handshake, or its own close) was still running and was dropped, then
    /// the set closed the stream itself.
    pub forced: bool,
    /// Whether its handler panicked. The set caught the panic (the panic
    /// hook printed it as usual) and closed the stream as if the handler had
    /// returned.
    pub panicked: bool,
}

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
        for (name, count) in self.counts() {
            write!(f, " {name}={count}")?;
        }
        Ok(())
    }
}

/// Emits one `tracing` event per connection end (feature `tracing`).
#[cfg(feature = "tracing")]
pub(super) fn trace_connection(report: &ConnectionReport) {
    tracing::info!(
        target: "graceful_tls::drain",
        id = report.id,
        peer = report.peer.map(tracing::field::display),
        ended = %report.ended,
        bytes_in = report.stats.read() + report.stats.discarded(),
        bytes_out = report.stats.written(),
        lifetime_ms = report.lifetime.as_millis() as u64,
        forced = report.forced,
        panicked = report.panicked,
        "connection ended"
    );
}

#[cfg(not(feature = "tracing"))]
pub(super) fn trace_connection(_report: &ConnectionReport) {}

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
