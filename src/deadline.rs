//! A deadline that holds whatever the peer does.
//!
//! A `tokio::time::Sleep` alone cannot be trusted to say that a deadline
//! passed. tokio's cooperative budget (128 operations per task poll) makes
//! a `Sleep` return `Pending` once a task has spent it, and a peer that
//! floods data keeps every read `Ready` until it is spent: a loop that asks
//! the `Sleep` only when its I/O is pending never sees the deadline pass
//! while the flood lasts (issue #8 measured a 300 ms wait running 21× over).
//! So [`Deadline::poll_passed`] compares tokio's clock with the deadline
//! first, on every call, and uses the `Sleep` only to be woken.
//!
//! `tokio::time::Instant` follows the paused clock in tests
//! (`start_paused = true`), so deadlines stay deterministic there.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// About 30 years: where `now + timeout` saturates instead of overflowing
/// (`Duration::MAX` and friends mean "no deadline" in practice).
const FAR_FUTURE: Duration = Duration::from_secs(60 * 60 * 24 * 365 * 30);

/// `from + timeout`, saturating far in the future instead of overflowing.
pub(crate) fn saturating_after(from: Instant, timeout: Duration) -> Instant {
    from.checked_add(timeout)
        .unwrap_or_else(|| from + FAR_FUTURE)
}

/// An instant, and the timer that wakes the task when it passes. Boxed
/// (one allocation, made when a caller first has to wait), so that it costs
/// its owner one pointer.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// Holds the instant too (`Sleep::deadline`).
    sleep: Pin<Box<Sleep>>,
}

impl Deadline {
    /// A deadline at `at`.
    pub(crate) fn new(at: Instant) -> Self {
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(at)),
        }
    }

    /// A deadline `timeout` from now (saturating).
    pub(crate) fn after(timeout: Duration) -> Self {
        Self::new(saturating_after(Instant::now(), timeout))
    }

    /// When it passes.
    pub(crate) fn at(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Moves the deadline, reusing the timer.
    pub(crate) fn reset(&mut self, at: Instant) {
        self.sleep.as_mut().reset(at);
    }

    /// `Ready` once the deadline has passed: decided by the clock on every
    /// call, so that it holds even when the task's cooperative budget is
    /// spent. `Pending` arranges for the task to be woken when it passes.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at() {
            return Poll::Ready(());
        }
        // The timer only wakes the task; its `Ready` agrees with the clock
        // (tokio rounds timers up, never down).
        self.sleep.as_mut().poll(cx)
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_passed(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// As a future (the drain's and the handshake's deadlines), a deadline
    /// is pending until its instant, then ready: exactly then, by the clock.
    #[tokio::test(start_paused = true)]
    async fn a_deadline_future_is_ready_at_its_instant_and_not_before() {
        let start = Instant::now();
        let mut deadline = Deadline::after(Duration::from_millis(100));
        let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut deadline).poll(cx))).await;
        assert!(first.is_pending(), "ready 100 ms early");
        deadline.await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }
}
