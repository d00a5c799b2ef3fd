//! The task that runs one connection of a
//! [`ConnectionSet`](super::ConnectionSet), in three steps: the handshake,
//! the handler, the close. When the set forces (its deadline, an abort),
//! each step is cut short: the handshake is dropped, the handler is dropped
//! wherever it is stuck, and the close stops waiting for the peer.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::lent::{BorrowerMarks, Lender, LentStream};
use super::race::{race, Race};
use super::serving::{Served, Serving};
use super::shared::Shared;
use super::signal::HandlerFuture;
use crate::connection_report::trace_connection;
use crate::deadline::Deadline;
use crate::stream::ClosePolicy;
use crate::{
    CloseOutcome, ConnectionReport, Ended, Error, GracefulStream, HandshakeKind, ShutdownSignal,
    Stats, TlsBackend, TlsVersion,
};

/// A handshake that yields the TLS stream, or why it failed.
pub(super) type Handshake<S> =
    Pin<Box<dyn Future<Output = Result<S, Box<dyn StdError + Send + Sync>>> + Send>>;

/// Boxes the caller's handshake as a [`Handshake`].
pub(super) fn boxed_handshake<S, E, F>(handshake: F) -> Handshake<S>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = Result<S, E>> + Send + 'static,
{
    Box::pin(ErrInto { handshake })
}

pin_project_lite::pin_project! {
    /// A handshake whose error is boxed. A struct rather than
    /// `async move { handshake.await.map_err(Into::into) }`: the block
    /// would hold the handshake twice (its capture and the awaited value),
    /// and a handshake holds a whole TLS stream.
    struct ErrInto<F> {
        #[pin]
        handshake: F,
    }
}

impl<S, E, F> Future for ErrInto<F>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = Result<S, E>>,
{
    type Output = Result<S, Box<dyn StdError + Send + Sync>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().handshake.poll(cx).map_err(Into::into)
    }
}

/// One connection of the set.
pub(super) struct Task {
    id: u64,
    peer: Option<SocketAddr>,
    shared: Arc<Shared>,
    started: Instant,
    /// Keeps the set's tracker waiting until the task ends: the `Task` is
    /// consumed (or dropped) by the task's last step.
    _running: TaskTrackerToken,
}

/// What the report says besides the outcome.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// The set's deadline (or an abort) cut the connection short.
    forced: bool,
    /// The handler panicked.
    panicked: bool,
    /// What the handler (a server) said of the connection.
    said: BorrowerMarks,
}

/// What the connection was, once its handshake completed (empty when it
/// did not).
#[derive(Debug, Clone, Copy, Default)]
struct Connected {
    stats: Stats,
    version: Option<TlsVersion>,
    handshake: Option<HandshakeKind>,
}

impl Task {
    pub(super) fn new(
        id: u64,
        peer: Option<SocketAddr>,
        shared: Arc<Shared>,
        running: TaskTrackerToken,
    ) -> Self {
        Task {
            id,
            peer,
            shared,
            started: Instant::now(),
            _running: running,
        }
    }

    /// Runs the connection to its end and records how it ended. Returns only
    /// when the stream is closed (or failed); once the set forces, by
    /// `flush_timeout` after it.
    pub(super) async fn run<S, H>(self, handshake: Handshake<S>, handler: H)
    where
        S: TlsBackend + Send + 'static,
        H: for<'a> FnOnce(&'a mut GracefulStream<S>, ShutdownSignal) -> HandlerFuture<'a>,
    {
        let mut stream = match self.handshake(handshake).await {
            Ok(stream) => stream,
            Err((ended, marks)) => return self.record(ended, Connected::default(), marks),
        };
        let served = self.serve(handler(&mut stream, self.signal())).await;
        self.finish(stream, served, BorrowerMarks::default()).await;
    }

    /// Like [`run`](Self::run), for a handler that gets the stream lent by
    /// value ([`LentStream`]): the task takes it back when the handler
    /// returned and the handle was dropped (an upgraded connection may keep
    /// it after the handler returned), or at the deadline, and closes it.
    pub(super) fn run_lent<S, H, F>(
        self,
        handshake: Handshake<S>,
        handler: H,
    ) -> impl Future<Output = ()>
    where
        S: TlsBackend + Send + 'static,
        H: FnOnce(LentStream<S>, ShutdownSignal) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        // The task's future lives as long as the connection and is as large
        // as its largest step. So what is only needed until the handler
        // runs (the handshake, the handler's closure and its captures) is
        // one boxed step, freed once the handler runs; the close is boxed
        // too, and no stream-sized local outlives the statement that moves
        // it (the stream lives in the lender's slot). Not an `async fn`:
        // its arguments (the handler's closure among them) would take room
        // in the future twice, captured and moved into locals, for the
        // connection's whole life. Inline, every idle connection paid about
        // 8 KB more for the handshake and the close, and the arguments
        // about 500 B (benches/serve.rs, `memory:`).
        //
        // The handler's future, which runs for the connection's whole life,
        // is held inline, in the task's own allocation, rather than in a
        // box of its own: one allocation per connection, not two (for
        // `serve`, a 2,464 B task instead of 408 B and a 2,264 B box). It
        // is never a capture of this block (it comes out of `start`) and
        // is moved straight into `Serving`, the awaited value: held once.
        // Its room is in the task from the start, so a pending handshake
        // holds it too (about 2 KB more each, which `serve` bounds with
        // `max_handshakes`).
        let start = Box::pin(self.start_lent(handshake, handler));
        async move {
            let Some((task, lender, serving)) = start.await else {
                return;
            };
            let served = task.serve(serving).await;
            // Only this task takes the stream, once.
            let said = lender.marks();
            let finish = lender
                .take()
                .map(|stream| Box::pin(task.finish(stream, served, said)));
            if let Some(finish) = finish {
                finish.await;
            }
        }
    }

    /// [`run_lent`](Self::run_lent)'s first step: the handshake, then the
    /// stream lent to the handler. Resolves to the task, the lender and the
    /// handler's future (called, not polled yet), or to `None` once it
    /// recorded a failed handshake. Not an `async fn` either (its arguments
    /// would take room twice while handshakes are pending).
    #[allow(clippy::manual_async_fn)]
    fn start_lent<S, H, F>(
        self,
        handshake: Handshake<S>,
        handler: H,
    ) -> impl Future<Output = Option<(Task, Lender<S>, ThenRelease<F, S>)>>
    where
        S: TlsBackend + Send + 'static,
        H: FnOnce(LentStream<S>, ShutdownSignal) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        async move {
            let (lender, lent) = match self.handshake(handshake).await {
                Ok(stream) => Lender::lend(stream),
                Err((ended, marks)) => {
                    self.record(ended, Connected::default(), marks);
                    return None;
                }
            };
            let serving = ThenRelease {
                serving: handler(lent, self.signal()),
                returned: false,
                lender: lender.clone(),
            };
            Some((self, lender, serving))
        }
    }

    /// Closes the served stream and records how the connection ended (and
    /// what its borrower said of it).
    async fn finish<S: TlsBackend>(
        self,
        mut stream: GracefulStream<S>,
        served: Served,
        said: BorrowerMarks,
    ) {
        let (closed, forced) = self.close(&mut stream, served).await;
        let ended = match closed {
            Ok(outcome) => Ended::Closed(outcome),
            Err(e) => Ended::Failed(e),
        };
        let marks = Marks {
            forced,
            panicked: served == Served::Panicked,
            said,
        };
        let connected = Connected {
            stats: stream.stats(),
            version: stream.protocol_version(),
            handshake: stream.handshake_kind(),
        };
        self.record(ended, connected, marks);
    }

    /// Completes the handshake, unless the set forces first or the
    /// handshake timeout passes. A completed handshake becomes a stream that
    /// must be closed with close_notify.
    async fn handshake<S: TlsBackend + Send + 'static>(
        &self,
        handshake: Handshake<S>,
    ) -> Result<GracefulStream<S>, (Ended, Marks)> {
        let force = &self.shared.force;
        // The clock decides (src/deadline.rs), so a handshake trickled byte
        // by byte cannot outlive its timeout.
        // Counted from registration (`started`).
        let timeout = async {
            match self.shared.handshake_timeout() {
                Some(timeout) => {
                    Deadline::new(crate::deadline::saturating_after(self.started, timeout)).await
                }
                None => std::future::pending().await,
            }
        };
        match race(race(handshake, force.wait()), timeout).await {
            Race::First(Race::First(Ok(tls))) => Ok(GracefulStream::with_config(
                tls,
                force.child_token(),
                self.shared.config,
            )),
            Race::First(Race::First(Err(e))) => {
                Err((Ended::HandshakeFailed(e.into()), Marks::default()))
            }
            Race::Second(()) => Err((Ended::HandshakeTimeout, Marks::default())),
            Race::First(Race::Second(())) => Err((
                Ended::HandshakeCancelled,
                Marks {
                    forced: true,
                    ..Marks::default()
                },
            )),
        }
    }

    /// The signal handed to the handler.
    fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            begun: self.shared.begun.clone(),
        }
    }

    /// Runs the handler; when the set forces first (even if the handler
    /// could still finish), drops it: the borrow of the stream ends wherever
    /// it was stuck (say, a write to a peer that stopped reading), so the
    /// stream can still be closed.
    fn serve<F: Future<Output = ()>>(&self, handler: F) -> Serving<'_, F> {
        Serving::new(&self.shared.force, handler)
    }

    /// Closes the stream and says whether the set forced the close. A
    /// stream whose handler finished closing it keeps that outcome (nothing
    /// was left to force). Otherwise a graceful close, cut to a forced one
    /// if the set forces meanwhile or already forced.
    async fn close<S: TlsBackend>(
        &self,
        stream: &mut GracefulStream<S>,
        served: Served,
    ) -> (Result<CloseOutcome, Error>, bool) {
        if stream.state().is_final() {
            // Returns the recorded result at once, without I/O.
            return (stream.close().await, false);
        }
        if served == Served::Forced {
            return (self.force_close(stream).await, true);
        }
        match race(self.shared.force.wait(), stream.close()).await {
            Race::First(()) => (self.force_close(stream).await, true),
            Race::Second(closed) => (closed, false),
        }
    }

    /// Closes without waiting for the peer's close_notify (a wait already
    /// under way is cut short): close_notify and the transport's shutdown,
    /// all by `flush_timeout` after the set forced.
    async fn force_close<S: TlsBackend>(
        &self,
        stream: &mut GracefulStream<S>,
    ) -> Result<CloseOutcome, Error> {
        let policy = ClosePolicy::ForcedBy(self.shared.forced_close_deadline());
        std::future::poll_fn(|cx| stream.poll_close_with(cx, policy)).await
    }

    fn record(self, ended: Ended, connected: Connected, marks: Marks) {
        let report = ConnectionReport {
            peer: self.peer,
            version: connected.version,
            handshake: connected.handshake,
            stats: connected.stats,
            lifetime: self.started.elapsed(),
            forced: marks.forced,
            panicked: marks.panicked,
            cut: marks.said.cut,
            exchange_complete: marks.said.exchange_complete,
            ..ConnectionReport::new(self.id, ended)
        };
        trace_connection!("graceful_tls::drain", &report);
        self.shared.record(report);
    }
}

pin_project_lite::pin_project! {
    /// A lent handler's future, then the wait for the lent handle's
    /// release. One struct rather than an `async` block: the block would hold
    /// the handler's future twice (as its capture and as the awaited value),
    /// and it lives as long as the connection.
    struct ThenRelease<F, S: TlsBackend> {
        #[pin]
        serving: F,
        returned: bool,
        lender: Lender<S>,
    }
}

impl<F: Future<Output = ()>, S: TlsBackend> Future for ThenRelease<F, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if !*this.returned {
            std::task::ready!(this.serving.poll(cx));
            *this.returned = true;
            this.lender.handler_returned();
        }
        this.lender.poll_released(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Cut};

    /// A connection's report carries what its task saw (forced, panicked)
    /// and what the borrower said of it (a server's cut, a complete
    /// exchange), as the drain's report lists it: the server's tests check
    /// these end to end, and this one without the server's features.
    #[test]
    fn the_report_says_what_the_task_and_the_borrower_saw() {
        let shared = Arc::new(Shared::new(Config::default()));
        let (id, running) = shared.admit().expect("admitted");
        let began = shared.begin(false);
        let marks = Marks {
            forced: true,
            panicked: true,
            said: BorrowerMarks {
                cut: Some(Cut::IdleTimeout),
                exchange_complete: true,
            },
        };
        Task::new(id, None, shared.clone(), running).record(
            Ended::Closed(CloseOutcome::PeerConfirmed),
            Connected::default(),
            marks,
        );
        let report = shared.report(began);
        let [connection] = report.connections.as_slice() else {
            panic!("one connection: {:?}", report.connections);
        };
        assert_eq!(connection.id, id);
        assert!(
            matches!(connection.ended, Ended::Closed(CloseOutcome::PeerConfirmed)),
            "{:?}",
            connection.ended
        );
        assert!(connection.forced && connection.panicked);
        assert_eq!(connection.cut, Some(Cut::IdleTimeout));
        assert!(connection.exchange_complete);
    }
}
