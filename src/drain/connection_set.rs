//! [`ConnectionSet`]: runs a set of TLS connections and shuts them all down
//! gracefully, with a deadline and a report.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::race::{race, Race};
use super::shared::{EndHook, Shared};
use super::task::{boxed_handshake, Task};
use super::{DrainReport, HandlerFuture, LentStream, Refused, ShutdownSignal};
use crate::deadline::{saturating_after, Deadline};
use crate::{Config, ConnectionReport, GracefulStream, TlsBackend};

#[doc = include_str!("../docs/connection_set.md")]
pub struct ConnectionSet {
    shared: Arc<Shared>,
}

impl ConnectionSet {
    /// An empty set whose connections close with the default [`Config`].
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// An empty set whose connections close within `config`'s deadlines.
    pub fn with_config(config: Config) -> Self {
        ConnectionSet {
            shared: Arc::new(Shared::new(config)),
        }
    }

    /// Bounds every handshake that [`spawn_handshake`](Self::spawn_handshake)
    /// or [`spawn_lent`](Self::spawn_lent) registers from now on, counted
    /// from registration: a client that stalls or trickles its handshake is
    /// dropped when it passes ([`Ended::HandshakeTimeout`](crate::Ended::HandshakeTimeout)). The default is
    /// no timeout (only the drain's deadline bounds a handshake).
    pub fn with_handshake_timeout(self, timeout: Duration) -> Self {
        self.shared.set_handshake_timeout(Some(timeout));
        self
    }

    /// Calls `hook` with every connection's [`ConnectionReport`], once,
    /// when the connection ends: whenever it ends (before, during or after
    /// a drain; the [`DrainReport`] keeps only the connections that ended
    /// after the drain began) and however (failed and timed-out handshakes
    /// included). Replaces an earlier hook; applies to connections that end
    /// from now on.
    ///
    /// The hook runs in the connection's task, outside any lock of the set,
    /// before the set counts the connection as ended: when
    /// [`drain`](Self::drain) or [`abort`](Self::abort) returns, the hook
    /// has seen every connection of the report. So keep it short and
    /// non-blocking (a slow hook slows the drain). A panicking hook is
    /// caught: the report is still recorded and the set goes on.
    ///
    /// ```no_run
    /// let set = graceful_tls::ConnectionSet::new()
    ///     .on_end(|conn| eprintln!("{conn}")); // e.g. "connection 3 (127.0.0.1:50312) TLSv1.3 full: peer-confirmed"
    /// # drop(set);
    /// ```
    pub fn on_end(self, hook: impl Fn(&ConnectionReport) + Send + Sync + 'static) -> Self {
        self.with_end_hook(Arc::new(hook))
    }

    /// [`on_end`](Self::on_end) with a hook already shared (by a server's
    /// sets).
    pub(crate) fn with_end_hook(self, hook: EndHook) -> Self {
        self.shared.set_on_end(hook);
        self
    }

    /// The handshake timeout set by
    /// [`with_handshake_timeout`](Self::with_handshake_timeout), if any.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.shared.handshake_timeout()
    }

    /// The deadlines every connection of the set closes within.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Runs an established TLS connection in a task of the set: `handler`
    /// serves it, then the set closes it. Returns its id (1, 2, 3…).
    ///
    /// The stream's token is a child of the set's: it fires at the deadline
    /// or on abort (reads return `Cancelled`), never earlier. Cancel
    /// `stream.token()` yourself to stop reading sooner.
    ///
    /// # Errors
    ///
    /// [`Refused`] once a drain has begun; it holds the stream as a
    /// cancelled [`GracefulStream`] (dropping it sends close_notify).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    // The refusal hands the caller's stream back by value: it is no larger
    // than the stream `Ok` moves into the task, and boxing it would cost an
    // allocation and an API wart for the rare refusal.
    #[allow(clippy::result_large_err)]
    pub fn spawn<S, H>(
        &self,
        tls: S,
        peer: Option<SocketAddr>,
        handler: H,
    ) -> Result<u64, Refused<GracefulStream<S>>>
    where
        S: TlsBackend + Send + 'static,
        H: for<'a> FnOnce(&'a mut GracefulStream<S>, ShutdownSignal) -> HandlerFuture<'a>
            + Send
            + 'static,
    {
        let Some((id, running)) = self.shared.admit() else {
            let token = CancellationToken::new();
            token.cancel();
            let stream = GracefulStream::with_config(tls, token, self.shared.config);
            return Err(Refused { inner: stream });
        };
        let handshake = Box::pin(std::future::ready(Ok(tls)));
        self.start(id, peer, running, |task| task.run(handshake, handler));
        Ok(id)
    }

    /// Like [`spawn`](Self::spawn), for a connection whose TLS handshake is
    /// still to run (e.g. `acceptor.accept(tcp)`): the handshake runs in the
    /// task too, so the deadline bounds it. A handshake still running at the
    /// deadline is dropped (`Ended::HandshakeCancelled`).
    ///
    /// # Errors
    ///
    /// [`Refused`] once a drain has begun; it holds the handshake future,
    /// not polled yet (no TLS session exists, so dropping it sends nothing).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    pub fn spawn_handshake<S, E, F, H>(
        &self,
        peer: Option<SocketAddr>,
        handshake: F,
        handler: H,
    ) -> Result<u64, Refused<F>>
    where
        S: TlsBackend + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>>,
        F: Future<Output = Result<S, E>> + Send + 'static,
        H: for<'a> FnOnce(&'a mut GracefulStream<S>, ShutdownSignal) -> HandlerFuture<'a>
            + Send
            + 'static,
    {
        let Some((id, running)) = self.shared.admit() else {
            return Err(Refused { inner: handshake });
        };
        let handshake = boxed_handshake(handshake);
        self.start(id, peer, running, |task| task.run(handshake, handler));
        Ok(id)
    }

    /// Like [`spawn_handshake`](Self::spawn_handshake), for code that needs
    /// the stream by value and `'static`, such as hyper (HTTP/2 and upgrades
    /// move the IO between tasks): `handler` gets the stream as a
    /// [`LentStream`] and returns a `'static` future.
    ///
    /// The set keeps the right to take the stream back. Its task closes the
    /// stream (close_notify, bounded wait for the peer's) once the handler
    /// returned and the `LentStream` was dropped; so while the handler runs,
    /// the `LentStream`'s `poll_shutdown` only flushes (hyper's close then
    /// becomes a full one). A `LentStream` kept after the handler returned
    /// (an upgraded connection, e.g. a WebSocket) shuts down as a
    /// [`GracefulStream`] does, and holds the connection open until it is
    /// dropped or the deadline comes: then the set takes the stream back and
    /// closes it with close_notify, and the `LentStream` fails every later
    /// poll.
    ///
    /// # Errors
    ///
    /// [`Refused`] once a drain has begun; it holds the handshake future,
    /// not polled yet.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    pub fn spawn_lent<S, E, F, H, Fut>(
        &self,
        peer: Option<SocketAddr>,
        handshake: F,
        handler: H,
    ) -> Result<u64, Refused<F>>
    where
        S: TlsBackend + Send + 'static,
        E: Into<Box<dyn StdError + Send + Sync>>,
        F: Future<Output = Result<S, E>> + Send + 'static,
        H: FnOnce(LentStream<S>, ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some((id, running)) = self.shared.admit() else {
            return Err(Refused { inner: handshake });
        };
        let handshake = boxed_handshake(handshake);
        self.start(id, peer, running, |task| task.run_lent(handshake, handler));
        Ok(id)
    }

    /// How many connections are running (handshaking, being served or
    /// closing).
    pub fn live(&self) -> usize {
        self.shared.tracker.len()
    }

    /// Whether a drain (or an abort) has begun: registrations are refused.
    pub fn is_draining(&self) -> bool {
        self.shared.begun.is_fired()
    }

    /// Finishes outstanding work, then closes everything (URLSession's
    /// `finishTasksAndInvalidate`).
    ///
    /// At once: refuses new registrations and fires every handler's
    /// [`ShutdownSignal`]; handlers finish their current request/response
    /// and return, and the set closes each stream (close_notify, bounded
    /// wait for the peer's). When `timeout` passes, whatever still runs is
    /// forced, as by [`abort`](Self::abort): handlers still running are
    /// dropped, and every close still under way (a wait for a peer's
    /// close_notify included) is cut short to one that sends close_notify
    /// and shuts the transport by `flush_timeout` after the deadline.
    /// Returns when every task ended: within `timeout + flush_timeout`,
    /// whatever the peers do (flood, stall, vanish, handshake byte by
    /// byte). Returns at once when the set is empty.
    ///
    /// Calling it again (or `abort`) reports the same connections; calling `abort`
    /// while a drain waits escalates it: both return once everything is
    /// closed.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future stops the deadline: the connections keep draining
    /// at their own pace. Call [`abort`](Self::abort) to force them.
    pub async fn drain(&self, timeout: Duration) -> DrainReport {
        // A zero timeout forces at once, as `abort` does.
        let began_at = self.shared.begin(timeout.is_zero());
        let deadline = Deadline::new(saturating_after(began_at, timeout));
        if let Race::Second(()) = race(self.shared.tracker.wait(), deadline).await {
            self.shared.force();
            self.shared.tracker.wait().await;
        }
        self.shared.report(began_at)
    }

    /// Cancels and closes everything now (URLSession's
    /// `invalidateAndCancel`): refuses new registrations, drops every
    /// handler, cancels every stream and closes it with close_notify without
    /// waiting for the peer's, within the flush timeout. Returns the report
    /// when every task ended. Escalates a drain in progress.
    ///
    /// # Cancellation safety
    ///
    /// The abort happens on the first poll and cannot be undone; dropping
    /// the future afterwards only stops waiting for the report.
    pub async fn abort(&self) -> DrainReport {
        let began_at = self.shared.begin(true);
        self.shared.tracker.wait().await;
        self.shared.report(began_at)
    }

    /// Adds `count` accept errors to what the drain reports
    /// ([`DrainReport::accept_errors`]): the server that accepts the set's
    /// connections calls it before it drains, so that the report and the
    /// drain's `tracing` event include them.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn note_accept_errors(&self, count: u64) {
        self.shared.note_accept_errors(count);
    }

    /// Spawns connection `id`'s task; `running` keeps the tracker waiting
    /// for it until it ends.
    fn start<F>(
        &self,
        id: u64,
        peer: Option<SocketAddr>,
        running: TaskTrackerToken,
        run: impl FnOnce(Task) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        // The `Task` holds `running` and drops it when it ends. Spawned as
        // is: a wrapper `async move { run.await; drop(running) }` would hold
        // `run` twice (as its capture and as the awaited value), for the
        // connection's whole life (benches/serve.rs, `memory:`).
        tokio::spawn(run(Task::new(id, peer, self.shared.clone(), running)));
    }
}

impl Default for ConnectionSet {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ConnectionSet {
    /// Aborts: every connection is cancelled and closes in the background.
    fn drop(&mut self) {
        self.shared.begun.fire();
        self.shared.force();
    }
}

impl fmt::Debug for ConnectionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSet")
            .field("config", &self.shared.config)
            .field("live", &self.live())
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}
