//! [`Ended`]: how a connection ended, as drains and stream hooks report it.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use crate::error::Chain;
use crate::{CloseOutcome, Error};

/// How a connection ended: reported by a
/// [`ConnectionSet`](crate::ConnectionSet) drain for each of its
/// connections, and by a [`GracefulStream`](crate::GracefulStream) to the
/// hooks registered with
/// [`on_end`](crate::GracefulStream::on_end).
///
/// The [`Display`](fmt::Display) form is the kebab-case name of
/// [`as_str`](Self::as_str), followed by the error chain for failures; a
/// drain's summary line counts connections by these names
/// (`connections=12 forced=1 peer-confirmed=11`). What each read and close
/// reported on the way to this end is in the table of
/// [how each end is reported](crate::GracefulStream#how-each-end-is-reported).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Ended {
    /// The connection was closed: close_notify was sent (or, for
    /// `FlushTimeout`, could not be flushed in time; for
    /// `PeerClosedAndLeft`, the peer had closed its socket after its own
    /// close_notify) and the transport shut down. The outcome says what the
    /// peer did.
    Closed(CloseOutcome),
    /// The connection failed (reset, TLS error) before or while closing; no
    /// close_notify could be delivered.
    ///
    /// A reset under our writes (plaintext or close_notify) after the
    /// peer's close_notify was read is not a failure: the peer closed and left, reported as
    /// `Closed(`[`CloseOutcome::PeerClosedAndLeft`]`)`
    /// (`peer-closed-and-left`). Reported here, as `transport-error`, is a
    /// reset before the peer's close_notify was read (or after a
    /// truncation), and, as `tls-error`, every TLS error.
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
    /// The stream was dropped before its close could finish, and nothing
    /// could finish it: no tokio runtime was current, or the runtime shut
    /// down first (see [Dropping](crate::GracefulStream#dropping)).
    /// close_notify may not have reached the peer. Drains never report it.
    Unfinished,
}

impl Ended {
    /// The kebab-case name used in summaries and logs: the close outcome's
    /// name (e.g. `peer-confirmed`), `tls-error`, `transport-error`, `error`
    /// (another [`Error`]), `handshake-failed`, `handshake-cancelled`,
    /// `handshake-timeout` or `unfinished`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ended::Closed(outcome) => outcome.as_str(),
            Ended::Failed(Error::Tls(_)) => "tls-error",
            Ended::Failed(Error::Transport(_)) => "transport-error",
            Ended::Failed(_) => "error",
            Ended::HandshakeFailed(_) => "handshake-failed",
            Ended::HandshakeCancelled => "handshake-cancelled",
            Ended::HandshakeTimeout => "handshake-timeout",
            Ended::Unfinished => "unfinished",
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
