//! The task that runs one connection of a [`ConnectionSet`]: handshake,
//! handler, close; and, when the deadline forces it, drop the handler and
//! close the stream itself.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::report::{trace_connection, ConnectionReport, Ended};
use super::signal::HandlerFuture;
use super::Shared;
use crate::stream::ClosePolicy;
use crate::{GracefulStream, ShutdownSignal, Stats, TlsBackend};
use Race::{First, Second};

/// A handshake that yields the TLS stream, or why it failed.
pub(crate) type Handshake<S> =
    Pin<Box<dyn Future<Output = Result<S, Box<dyn StdError + Send + Sync>>> + Send>>;

/// What one task needs besides the handshake and the handler.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) started: Instant,
}

impl Task {
    /// Runs the connection to its end and records how it ended. Returns only
    /// when the stream is closed (or failed); bounded once the set's force
    /// token fires (see [`force_close`]).
    pub(crate) async fn run<S, H>(self, handshake: Handshake<S>, handler: H)
    where
        S: TlsBackend + Send + 'static,
        H: for<'a> FnOnce(&'a mut GracefulStream<S>, ShutdownSignal) -> HandlerFuture<'a>,
    {
        let force = self.shared.force.clone();
        // Handshake first: a completed handshake must be closed with
        // close_notify, not dropped.
        let tls = match race(handshake, force.cancelled()).await {
            First(Ok(tls)) => tls,
            First(Err(e)) => {
                return self.record(
                    Ended::HandshakeFailed(e.into()),
                    Stats::default(),
                    false,
                    false,
                )
            }
            Second(()) => {
                return self.record(Ended::HandshakeCancelled, Stats::default(), true, false);
            }
        };
        let mut stream = GracefulStream::with_config(tls, force.child_token(), self.shared.config);
        let signal = ShutdownSignal {
            begun: self.shared.begun.clone(),
        };

        // The handler borrows the stream; when the set forces, its future is
        // dropped (wherever it is stuck, e.g. a write to a peer that stopped
        // reading) and the borrow ends, so the stream can still be closed.
        // Force first: once the set forces (abort, deadline), even a handler
        // that could finish is dropped, and no close waits for the peer.
        let mut panicked = false;
        let mut forced =
            match race(force.cancelled(), CatchUnwind(handler(&mut stream, signal))).await {
                First(()) => true,
                Second(result) => {
                    panicked = result.is_err();
                    false
                }
            };
        // A handler that finished its own close leaves nothing to force.
        if stream.state().is_final() {
            forced = false;
        }
        let closed = if forced || stream.state().is_final() {
            force_close(&mut stream, &self.shared).await
        } else {
            match race(force.cancelled(), stream.close()).await {
                First(()) => {
                    forced = true;
                    force_close(&mut stream, &self.shared).await
                }
                Second(closed) => closed,
            }
        };
        let ended = match closed {
            Ok(outcome) => Ended::Closed(outcome),
            Err(e) => Ended::Failed(e),
        };
        self.record(ended, stream.stats(), forced, panicked);
    }

    fn record(self, ended: Ended, stats: Stats, forced: bool, panicked: bool) {
        let report = ConnectionReport {
            id: self.id,
            peer: self.peer,
            ended,
            stats,
            lifetime: self.started.elapsed(),
            forced,
            panicked,
        };
        trace_connection(&report);
        self.shared.record(report);
    }
}

/// Closes without waiting for the peer's close_notify (a wait already
/// under way is cut short): close_notify and the transport's shutdown, all
/// by `flush_timeout` after the set forced.
async fn force_close<S: TlsBackend>(
    stream: &mut GracefulStream<S>,
    shared: &Shared,
) -> Result<crate::CloseOutcome, crate::Error> {
    let policy = ClosePolicy::ForcedBy(shared.forced_close_deadline());
    std::future::poll_fn(|cx| stream.poll_close_with(cx, policy)).await
}

/// Turns a panic of the handler into an `Err`, so that its connection is
/// still closed and reported (a detached tokio task would only print it).
struct CatchUnwind<'a>(HandlerFuture<'a>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handler = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

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
            return Poll::Ready(First(output));
        }
        second.as_mut().poll(cx).map(Second)
    })
    .await
}
