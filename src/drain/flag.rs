//! [`Flag`]: a one-way signal that every connection of a set checks on
//! every wake-up, without a lock.
//!
//! A set's two signals (the drain began, the set forced) are raced against
//! each connection's work, so they are polled every time a connection's
//! task wakes up, from every worker thread at once. A
//! `CancellationToken` would lock its tree's mutex for `is_cancelled` and
//! its notifier's mutex for every poll of `cancelled()`: two locks shared by
//! all connections, per wake-up (`benches/serve.rs` put them, with the
//! clones of the token per request, at about 3 % of the server's CPU time
//! at 512 connections). A `Flag` keeps an atomic flag next to the token:
//! checking it is one load, and a wait registers with the token only when
//! it is polled by a task it has not registered for yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::waker_identity::waker_identity;

/// A signal that fires once and stays fired.
#[derive(Debug, Default)]
pub(crate) struct Flag {
    /// Set before `token` fires, so whoever the token wakes sees it.
    fired: AtomicBool,
    token: CancellationToken,
}

impl Flag {
    /// Fires the signal (again: no effect).
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Whether the signal fired. One atomic load.
    #[inline]
    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// A token cancelled when the signal fires (for a stream to watch).
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// Resolves when the signal fires (at once if it has). Cancellation
    /// safe.
    pub(crate) fn wait(&self) -> FlagWait<'_> {
        FlagWait {
            flag: self,
            token: self.token.cancelled(),
            registered: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Flag::wait`]'s future.
    pub(crate) struct FlagWait<'a> {
        flag: &'a Flag,
        #[pin]
        token: WaitForCancellationFuture<'a>,
        // Identity (data, vtable) of the waker the token holds for this
        // wait. The token keeps a clone of it until it fires, so that task
        // stays alive and its identity cannot be reused by another one.
        registered: Option<(usize, usize)>,
    }
}

impl Future for FlagWait<'_> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.flag.is_fired() {
            return Poll::Ready(());
        }
        let identity = waker_identity(cx.waker());
        if *this.registered == Some(identity) {
            // The token will wake this task when it fires.
            return Poll::Pending;
        }
        register(this.token, this.registered, identity, cx)
    }
}

/// The first poll, or one by another task: hands the waker to the token.
#[cold]
#[inline(never)]
fn register(
    token: Pin<&mut WaitForCancellationFuture<'_>>,
    registered: &mut Option<(usize, usize)>,
    identity: (usize, usize),
    cx: &mut Context<'_>,
) -> Poll<()> {
    // Registered once, so outside tokio's coop budget (tokio's `Notify`
    // does not use it today): a registration skipped for a spent budget
    // would never be retried.
    let poll = std::pin::pin!(tokio::task::unconstrained(token)).poll(cx);
    if poll.is_pending() {
        *registered = Some(identity);
    }
    poll
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use super::Flag;
    use crate::wake_count::WakeCount;

    #[test]
    fn a_wait_moved_to_another_task_wakes_that_task() {
        let flag = Flag::default();
        let mut wait = pin!(flag.wait());
        let (first, second) = (
            Arc::new(WakeCount::default()),
            Arc::new(WakeCount::default()),
        );
        let (first_waker, second_waker) = (Waker::from(first.clone()), Waker::from(second.clone()));
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending());
        // Polled again by the same task: nothing new registered, still waiting.
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending());
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending());
        assert!(!flag.is_fired());
        flag.fire();
        assert!(flag.is_fired());
        assert_eq!(second.count(), 1, "the task polling last is woken");
        assert_eq!(
            wait.as_mut().poll(&mut Context::from_waker(&second_waker)),
            Poll::Ready(())
        );
        // Fired already: a new wait is ready at once.
        let waker = Waker::from(Arc::new(WakeCount::default()));
        assert_eq!(
            pin!(flag.wait()).poll(&mut Context::from_waker(&waker)),
            Poll::Ready(())
        );
    }
}
