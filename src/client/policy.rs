//! [`SessionPolicy`]: which ends make a [`SessionCache`](super::SessionCache)
//! forget a server's sessions.

use crate::backend::is_rustls_error;
use crate::{CloseOutcome, Ended, Error};

/// Which ends of a connection make a [`SessionCache`](super::SessionCache)
/// forget every session and ticket it holds for that server name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionPolicy {
    /// What RFC 5246 §7.2.2 requires and RFC 8446 §6 recommends: forget
    /// after a fatal TLS error, sent or received ([`Ended::Failed`] holding
    /// [`Error::Tls`]: a fatal alert from the peer, or one we sent because a
    /// record did not decrypt or parse), including a TLS failure of the
    /// handshake itself. A missing close_notify does not forbid resumption
    /// since TLS 1.1 (RFC 5246 §7.2.1), so truncations keep the sessions.
    #[default]
    FatalAlerts,
    /// [`FatalAlerts`](Self::FatalAlerts), and also after every end that
    /// may have cut the conversation short: a truncation (the peer's
    /// transport ended without close_notify: a read's `AbruptEof`, which a
    /// close reports as [`CloseOutcome::PeerEof`]), a close_notify we could
    /// not flush ([`CloseOutcome::FlushTimeout`]), a transport failure
    /// (reset, broken pipe: [`Error::Transport`]) and a drop that could not
    /// finish its close ([`Ended::Unfinished`]). For clients that treat any
    /// unclean end as a reason to start afresh ("kill the connection, and
    /// make sure the next one does a full handshake").
    Strict,
}

impl SessionPolicy {
    /// Whether a connection that ended so makes the cache forget its
    /// server's sessions.
    pub fn forgets(&self, ended: &Ended) -> bool {
        let strict = *self == SessionPolicy::Strict;
        match ended {
            Ended::Failed(Error::Tls(_)) => true,
            Ended::HandshakeFailed(e) => self.forgets_failed_handshake(is_rustls_error(&**e)),
            Ended::Closed(CloseOutcome::PeerEof | CloseOutcome::FlushTimeout)
            | Ended::Failed(_)
            | Ended::Unfinished => strict,
            _ => false,
        }
    }

    /// [`forgets`](Self::forgets) for a failed handshake: a TLS failure
    /// (a fatal alert, a rejected certificate) always forgets; any other
    /// failure only under `Strict`.
    pub(super) fn forgets_failed_handshake(&self, tls_failure: bool) -> bool {
        tls_failure || *self == SessionPolicy::Strict
    }

    /// The kebab-case name: `fatal-alerts` or `strict`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            SessionPolicy::FatalAlerts => "fatal-alerts",
            SessionPolicy::Strict => "strict",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tls_error() -> Error {
        Error::Tls(Arc::new(rustls::Error::AlertReceived(
            rustls::AlertDescription::BadRecordMac,
        )))
    }

    fn transport_error() -> Error {
        Error::Transport(Arc::new(std::io::ErrorKind::ConnectionReset.into()))
    }

    /// Every end, and which policy forgets after it.
    #[test]
    fn which_ends_forget() {
        let handshake_tls: Arc<dyn std::error::Error + Send + Sync> = Arc::new(
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError),
        );
        let handshake_io: Arc<dyn std::error::Error + Send + Sync> =
            Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let cases: Vec<(Ended, bool, bool)> = vec![
            (Ended::Failed(tls_error()), true, true),
            (Ended::HandshakeFailed(handshake_tls), true, true),
            (Ended::HandshakeFailed(handshake_io), false, true),
            (Ended::Failed(transport_error()), false, true),
            (Ended::Closed(CloseOutcome::PeerEof), false, true),
            (Ended::Closed(CloseOutcome::FlushTimeout), false, true),
            (Ended::Unfinished, false, true),
            (Ended::Closed(CloseOutcome::PeerConfirmed), false, false),
            (Ended::Closed(CloseOutcome::PeerClosedFirst), false, false),
            (Ended::Closed(CloseOutcome::NotAwaited), false, false),
            (Ended::Closed(CloseOutcome::PeerTimeout), false, false),
            (Ended::HandshakeCancelled, false, false),
        ];
        for (ended, fatal_alerts, strict) in cases {
            assert_eq!(
                SessionPolicy::FatalAlerts.forgets(&ended),
                fatal_alerts,
                "{ended}"
            );
            assert_eq!(SessionPolicy::Strict.forgets(&ended), strict, "{ended}");
        }
    }
}
