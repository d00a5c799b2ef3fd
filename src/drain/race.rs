//! Racing two futures without tokio's `macros` feature.

use std::future::Future;
use std::task::Poll;

/// Which of two raced futures finished first.
pub(crate) enum Race<A, B> {
    First(A),
    Second(B),
}

/// Polls `first`, then `second`, until one finishes (biased towards
/// `first`, like a `biased` `tokio::select!`, which would need tokio's
/// `macros` feature); the other is dropped.
pub(crate) async fn race<A: Future, B: Future>(first: A, second: B) -> Race<A::Output, B::Output> {
    let (mut first, mut second) = (std::pin::pin!(first), std::pin::pin!(second));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = first.as_mut().poll(cx) {
            return Poll::Ready(Race::First(output));
        }
        second.as_mut().poll(cx).map(Race::Second)
    })
    .await
}
