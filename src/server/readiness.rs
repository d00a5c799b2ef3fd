//! [`Readiness`]: whether a server still takes new work, for a readiness
//! probe (Kubernetes) or a load balancer's health check.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// Says whether the server it was given to
/// ([`Serve::with_readiness`](super::Serve::with_readiness)) has begun to drain.
/// Clone it into the application's state and let the readiness endpoint
/// answer 503 once [`is_draining`](Self::is_draining) is true, so that the
/// load balancer stops sending new connections while the drain finishes the
/// ones in flight.
///
/// ```
/// use graceful_tls::server::Readiness;
///
/// let readiness = Readiness::new();
/// let status = if readiness.is_draining() { 503 } else { 200 };
/// assert_eq!(status, 200);
/// ```
///
/// With a restart (`Serve::with_handover`, feature `restart`),
/// a server that drained after a handover is ready again if the successor
/// dies and it accepts again.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Cancelled while draining; replaced by a fresh one when the server
    /// accepts again.
    draining: Arc<Mutex<CancellationToken>>,
}

impl Readiness {
    /// A readiness that is ready (not draining).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the server has begun to drain (the shutdown signal fired).
    pub fn is_draining(&self) -> bool {
        self.token().is_cancelled()
    }

    /// Resolves when the server begins to drain (at once if it has).
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn draining(&self) {
        let token = self.token().clone();
        token.cancelled().await
    }

    /// Marks the server as draining (the server does it on its signal).
    pub(super) fn set_draining(&self) {
        self.token().cancel();
    }

    /// Marks the server as ready again (it accepts again after a lost
    /// successor).
    #[cfg_attr(not(all(feature = "restart", unix)), allow(dead_code))]
    pub(super) fn set_ready(&self) {
        let mut token = self.token();
        if token.is_cancelled() {
            *token = CancellationToken::new();
        }
    }

    fn token(&self) -> MutexGuard<'_, CancellationToken> {
        // Nothing panics while holding it; a poisoned lock still holds a
        // valid token.
        self.draining
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
