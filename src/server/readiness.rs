//! [`Readiness`]: whether a server still takes new work, for a readiness
//! probe (Kubernetes) or a load balancer's health check.

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
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    draining: CancellationToken,
}

impl Readiness {
    /// A readiness that is ready (not draining).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the server has begun to drain (the shutdown signal fired).
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Resolves when the server begins to drain (at once if it has).
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn draining(&self) {
        self.draining.cancelled().await
    }

    /// Marks the server as draining (the server does it on its signal).
    pub(super) fn set_draining(&self) {
        self.draining.cancel();
    }
}
