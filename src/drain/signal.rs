//! What a connection handler of a [`ConnectionSet`](crate::ConnectionSet)
//! gets and returns.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use super::flag::Flag;

/// The future a connection handler returns: it borrows the stream for as
/// long as it runs. Write handlers as
/// `|stream, signal| Box::pin(async move { ... })`.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Tells a handler that the set began to drain: finish the current
/// request/response, then return (the set then closes the stream).
///
/// Separate from cancellation: the stream's own token only fires at the
/// deadline, when the handler is about to be dropped anyway.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    pub(crate) begun: Arc<Flag>,
}

impl ShutdownSignal {
    /// Whether the drain has begun. One atomic load: cheap enough to ask
    /// per request.
    pub fn is_begun(&self) -> bool {
        self.begun.is_fired()
    }

    /// Resolves when the drain begins (at once if it has).
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits; use it in `tokio::select!`.
    pub async fn begun(&self) {
        self.begun.wait().await
    }
}
