//! The lame duck ([`Serve::with_lame_duck`](super::Serve::with_lame_duck)):
//! between the shutdown signal and the drain, the server fails its
//! readiness and keeps serving, while it tells its clients to go elsewhere.
//!
//! Why: a load balancer (Kubernetes' endpoints, a cloud balancer's
//! deregistration) learns that a server is going away some time after the
//! server does, so connections keep arriving for a while. A server that
//! stops accepting at the signal leaves them in a listen queue that is
//! about to close; the usual workaround is a `preStop` sleep. Here the
//! server keeps accepting and serving for `lame_duck` (hyper #3961), with
//! readiness failing from the first moment, HTTP/1.1 responses saying
//! `connection: close` and every HTTP/2 connection getting GOAWAY after
//! its next request (`phase.rs`), so that clients open their next
//! connection elsewhere. Then the drain proceeds as without it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::phase::ServerPhases;
use super::Readiness;
use crate::drain::race::{race, Race};

/// A shutdown or abort signal, boxed so that `Serve` keeps one type
/// parameter.
pub(super) type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How the lame duck ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LameDuckEnd {
    /// It ran its course (or was zero): drain.
    Elapsed,
    /// The abort signal fired during it: force everything.
    Aborted,
}

/// Waits for `shutdown`, then runs the lame duck: readiness draining at
/// once, the connections told (`phases.lame_duck`), for `lame_duck` or
/// until `abort` fires. A zero `lame_duck` is the behaviour without one:
/// the drain begins at the signal.
///
/// # Cancellation safety
///
/// Cancellation safe: `shutdown` and `abort` are fused, so they may be
/// polled again after it is dropped; the flag and readiness stay set.
pub(super) async fn shutdown_then_lame_duck(
    shutdown: &mut FusedSignal,
    abort: &mut FusedSignal,
    lame_duck: Duration,
    phases: &ServerPhases,
    readiness: &Readiness,
) -> LameDuckEnd {
    (&mut *shutdown).await;
    if lame_duck.is_zero() {
        return LameDuckEnd::Elapsed;
    }
    readiness.set_draining();
    phases.lame_duck.fire();
    match race(tokio::time::sleep(lame_duck), &mut *abort).await {
        Race::First(()) => LameDuckEnd::Elapsed,
        Race::Second(()) => LameDuckEnd::Aborted,
    }
}

/// A signal that may be awaited again after it fired (it then resolves at
/// once): the abort signal is raced during the lame duck and again during
/// the drain. Polling a finished `async` block again would panic.
pub(super) struct FusedSignal {
    signal: Option<Signal>,
}

impl FusedSignal {
    pub(super) fn new(signal: Signal) -> Self {
        FusedSignal {
            signal: Some(signal),
        }
    }
}

// Awaited as `&mut signal` (std's `Future for &mut F`, `FusedSignal` is
// `Unpin`), so that it can be awaited again.
impl Future for FusedSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.signal {
            Some(signal) => {
                std::task::ready!(signal.as_mut().poll(cx));
                self.signal = None;
                Poll::Ready(())
            }
            None => Poll::Ready(()),
        }
    }
}
