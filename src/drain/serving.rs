//! [`Serving`]: a connection's handler run against the set's force, with
//! its panics caught.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::flag::{Flag, FlagWait};

/// How the handler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// It returned: the set closes the stream gracefully.
    Returned,
    /// It panicked: the panic is caught, the stream closed and reported.
    Panicked,
    /// The set forced while it ran: it was dropped.
    Forced,
}

pin_project_lite::pin_project! {
    /// Runs `handler` until it returns or panics, unless `force` fires
    /// first (even if the handler could still finish): then it resolves
    /// without polling the handler again, and whoever owns the `Serving`
    /// drops it.
    ///
    /// A struct rather than `race(force.wait(), handler)`: `race` is an
    /// `async fn`, which would hold the handler twice (as its argument and
    /// as its pinned local), and a lent handler (hyper's connection) is
    /// held inline in the connection's task for its whole life.
    pub(super) struct Serving<'a, F> {
        #[pin]
        force: FlagWait<'a>,
        #[pin]
        handler: F,
    }
}

impl<'a, F: Future<Output = ()>> Serving<'a, F> {
    /// Runs `handler` until `force` fires.
    pub(super) fn new(force: &'a Flag, handler: F) -> Self {
        Serving {
            force: force.wait(),
            handler,
        }
    }
}

impl<F: Future<Output = ()>> Future for Serving<'_, F> {
    type Output = Served;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Served> {
        let this = self.project();
        // Biased towards the force, as the drain wants: a handler that is
        // ready too is cut all the same.
        if this.force.poll(cx).is_ready() {
            return Poll::Ready(Served::Forced);
        }
        // A panic becomes `Panicked`, so that the connection is still
        // closed and reported (a detached tokio task would only print it).
        // The handler is not polled again afterwards: `Serving` is done.
        let handler = this.handler;
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
            Ok(Poll::Ready(())) => Poll::Ready(Served::Returned),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Served::Panicked),
        }
    }
}
