//! [`Serve`](super::Serve) under a restart ([`Serve::with_handover`](super::Serve::with_handover),
//! feature `restart`): rounds of accepting on one listening socket. A
//! handover ends a round (its connections drain); if the successor dies
//! before the drain ends, a new round accepts on a duplicate of the socket
//! while the earlier rounds go on draining. The shutdown signal ends the
//! last round for good; the report merges every round's.

use std::error::Error as StdError;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::accepting::Accepting;
use super::lame_duck::{FusedSignal, LameDuckEnd};
use super::Handover;
use crate::drain::race::{race, Race};
use crate::{ConnectionSet, DrainReport};

/// Serves rounds of accepting until the shutdown signal, or until every
/// round drained after a handover; see the module docs.
pub(super) async fn serve<H, B>(
    mut accepting: Accepting<H>,
    mut listener: TcpListener,
    mut shutdown: FusedSignal,
    mut abort: FusedSignal,
    drain_timeout: Duration,
    handover: Handover,
) -> DrainReport
where
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    // However this ends (returned or dropped), the handover stops watching
    // the successor: this process will not accept again.
    let _ended = DrainEnded(handover.clone());
    let mut drains = Drains::new();
    let mut began = None;
    loop {
        // The socket for the next round, taken now: the round closes its
        // listener when it stops accepting.
        let spare = listener.as_fd().try_clone_to_owned();
        let set = accepting.new_set();
        let why = {
            let stop = accepting.stop(&mut shutdown, &mut abort);
            let stop = pin!(race(stop, handover.handed_over_at()));
            accepting.accept_until(listener, &set, stop).await
        };
        began.get_or_insert_with(Instant::now);
        drains.start(set, drain_timeout);
        let seen = match why {
            Race::First(LameDuckEnd::Elapsed) => return drains.finish(&mut abort, began).await,
            Race::First(LameDuckEnd::Aborted) => {
                drains.abort();
                return drains.finish(std::future::pending(), began).await;
            }
            Race::Second((_successor, seen)) => seen,
        };
        // The successor is watched until the drains end, and for the
        // handover's probation at least: a drain of idle connections ends
        // at once, and a successor that dies a second after its READY=1
        // must still find someone to serve.
        let probation = tokio::time::sleep(handover.probation());
        // Drains until they end, or the successor dies.
        let mut lost = pin!(handover.lost_after(seen));
        tokio::select! {
            biased;
            _ = &mut abort => {
                drains.abort();
                return drains.finish(std::future::pending(), began).await;
            }
            // Stopping: no round after this one.
            _ = &mut shutdown => return drains.finish(&mut abort, began).await,
            _ = async { drains.all_ended().await; probation.await } => {
                return drains.finish(&mut abort, began).await
            }
            _ = lost.as_mut() => {}
        }
        match next_listener(spare) {
            Ok(next) => listener = next,
            Err(_e) => {
                trace_no_resume(&_e);
                return drains.finish(&mut abort, began).await;
            }
        }
        accepting.readiness.set_ready();
    }
}

/// A listener for a new round from the duplicate taken for it.
fn next_listener(spare: std::io::Result<OwnedFd>) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::from(spare?);
    // Shared with the first listener's open file description already; set
    // again so that this does not depend on it.
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

#[cfg(feature = "tracing")]
fn trace_no_resume(e: &std::io::Error) {
    tracing::error!(
        target: "graceful_tls::server",
        error = %e,
        "the successor died, but the listening socket could not be taken again: this process only drains"
    );
}

#[cfg(not(feature = "tracing"))]
fn trace_no_resume(_e: &std::io::Error) {}

/// Calls [`Handover::drain_ended`] when dropped.
struct DrainEnded(Handover);

impl Drop for DrainEnded {
    fn drop(&mut self) {
        self.0.drain_ended();
    }
}

/// Every round's drain, each in a task of its own (a round's drain keeps
/// its deadline while a later round accepts), and the reports of those
/// that ended.
struct Drains {
    running: Vec<JoinHandle<DrainReport>>,
    ended: Vec<DrainReport>,
    /// When the last drain seen to end ended.
    last_ended: Option<Instant>,
    /// Escalates every drain to an abort: the abort signal, or dropping
    /// the server's future (as [`Serve`](super::Serve) promises).
    abort: CancellationToken,
}

impl Drains {
    fn new() -> Drains {
        Drains {
            running: Vec::new(),
            ended: Vec::new(),
            last_ended: None,
            abort: CancellationToken::new(),
        }
    }

    fn start(&mut self, set: ConnectionSet, timeout: Duration) {
        let abort = self.abort.clone();
        self.running.push(tokio::spawn(async move {
            match race(set.drain(timeout), abort.cancelled()).await {
                Race::First(report) => report,
                // Dropping the drain future keeps its state; abort
                // escalates it and reports the same connections.
                Race::Second(()) => set.abort().await,
            }
        }));
    }

    fn abort(&self) {
        self.abort.cancel();
    }

    /// Resolves when every drain started so far ended.
    ///
    /// Cancel-safe: a report is moved to `ended` as soon as it is taken.
    async fn all_ended(&mut self) {
        while let Some(running) = self.running.first_mut() {
            let ended = running.await;
            self.running.remove(0);
            // A drain task does not panic; if one did, its connections are
            // missing from the report rather than the server panicking.
            if let Ok(report) = ended {
                self.ended.push(report);
            }
            self.last_ended = Some(Instant::now());
        }
    }

    /// Waits for every drain (escalated to an abort if `abort` resolves
    /// first), then merges the reports; `elapsed` counts from `began` to
    /// the end of the last drain.
    async fn finish<F: std::future::Future<Output = ()>>(
        &mut self,
        abort: F,
        began: Option<Instant>,
    ) -> DrainReport {
        if let Race::Second(()) = race(self.all_ended(), abort).await {
            self.abort();
            self.all_ended().await;
        }
        let mut reports = std::mem::take(&mut self.ended).into_iter();
        let mut report = reports.next().unwrap_or_else(DrainReport::empty);
        for other in reports {
            report.merge(other);
        }
        if let (Some(began), Some(last)) = (began, self.last_ended) {
            report.elapsed = last.saturating_duration_since(began);
        }
        report
    }
}

impl Drop for Drains {
    fn drop(&mut self) {
        // The server's future was dropped: abort every round's drain (each
        // still closes with close_notify, in the background).
        self.abort.cancel();
    }
}
