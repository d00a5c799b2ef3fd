//! Closing: flush, close_notify, bounded wait for the peer, shutdown.
//!
//! Every step of a close runs under a deadline that holds whatever the peer
//! does: the loop in [`GracefulStream::poll_close_with`] asks the clock
//! (not a timer) whether the step's deadline passed each time a step cannot
//! finish, and the wait for the peer's close_notify discards a bounded
//! amount per poll, so that a peer that floods data can neither hold a
//! close past its deadline nor keep a worker thread busy.

use std::task::{Context, Poll};

use tokio::io::ReadBuf;
use tokio::time::Instant;

use crate::backend::TlsBackend;
use crate::deadline::{saturating_after, Deadline};
use crate::machine::{CloseStep, Event, Timer};
use crate::{CloseOutcome, Ended, Error, GracefulStream, ReadOutcome};

/// How a close is driven: whether it waits for the peer, and what bounds
/// it. One close policy per way of closing a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosePolicy {
    /// [`GracefulStream::close`]: flush and close_notify, then wait for the
    /// peer's close_notify (unless `peer_close_timeout` is zero), then shut
    /// the transport's write half; each step under its own deadline.
    AwaitPeer,
    /// `poll_shutdown` and the background finish of a drop: never waits for
    /// the peer (a wait that a cancelled `close()` left under way is cut
    /// short); flush and shutdown each under `flush_timeout`.
    NoPeerWait,
    /// A drain's deadline or an abort: as `NoPeerWait`, and every step that
    /// remains ends by this instant at the latest.
    ForcedBy(Instant),
    /// `Drop`: one attempt at each step that does not wait and touches no
    /// timer (a drop may run outside a runtime).
    Attempt,
}

/// The deadline of the close step under way.
#[derive(Debug)]
pub(super) struct StepDeadline {
    timer: Timer,
    deadline: Deadline,
}

/// Plaintext the wait for the peer's close_notify discards in one poll at
/// most, before it yields to the scheduler (16 reads of 4 KiB): a peer that
/// floods cannot keep one task, or the worker thread under it, busy.
const DISCARD_PER_POLL: usize = 16;

impl<S: TlsBackend> GracefulStream<S> {
    /// Closes the connection and reports how it ended.
    ///
    /// In order: flushes plaintext written so far; queues close_notify (once
    /// per connection, never after a fatal alert) and flushes it, within
    /// `flush_timeout`; if `peer_close_timeout` is non-zero and the peer has
    /// not closed yet, reads (discarding and counting plaintext) until the
    /// peer's close_notify, a transport EOF or that deadline; then shuts down
    /// the transport's write half, within `flush_timeout`. Each step's
    /// deadline counts from when the step first had to wait, and holds
    /// whatever the peer does (floods, stalls, trickles or vanishes): `close` returns within
    /// `2 × flush_timeout + peer_close_timeout` (over TCP the shutdown is
    /// immediate, so in practice `flush_timeout + peer_close_timeout`).
    ///
    /// Idempotent: later calls return the first result without I/O. Writes
    /// are refused from the first call on. The socket itself closes when the
    /// stream is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] or [`Error::Transport`] when the connection failed
    /// before the close could finish (e.g. the peer reset it); the error
    /// repeats on later calls.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: all progress lives in the stream. Dropping the
    /// future and calling `close` again resumes where it stopped (the
    /// current step's deadline keeps counting). Dropping the stream instead
    /// finishes the close in the background (see
    /// [Dropping](GracefulStream#dropping)).
    pub async fn close(&mut self) -> Result<CloseOutcome, Error> {
        std::future::poll_fn(|cx| self.poll_close(cx)).await
    }

    /// The poll form of [`close`](Self::close).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<CloseOutcome, Error>> {
        self.poll_close_with(cx, ClosePolicy::AwaitPeer)
    }

    /// Drives the close under `policy` until it is done or must wait.
    pub(crate) fn poll_close_with(
        &mut self,
        cx: &mut Context<'_>,
        policy: ClosePolicy,
    ) -> Poll<Result<CloseOutcome, Error>> {
        let await_peer =
            policy == ClosePolicy::AwaitPeer && !self.core.config.peer_close_timeout().is_zero();
        self.core.machine.handle(Event::Close { await_peer });
        // Each turn either moves the machine to its next step, or finds the
        // step unable to finish and asks the clock whether its deadline
        // passed: at most a few turns per poll.
        loop {
            let step = match self.core.machine.close_step() {
                Some(step) => step,
                None => return Poll::Ready(Err(Error::Closed)),
            };
            let progress = match step {
                CloseStep::Done(outcome) => {
                    self.report_end(|| Ended::Closed(outcome));
                    return Poll::Ready(Ok(outcome));
                }
                CloseStep::Failed => return Poll::Ready(Err(self.stored_error())),
                CloseStep::Flush => match self.get_mut().poll_close_notify(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(Some(Event::Flushed)),
                    // The machine fails the close, or (a transport error
                    // after the peer's close_notify) ends it as
                    // `PeerClosedAndLeft`; the next turn reports either.
                    Poll::Ready(Err(e)) => {
                        self.fail(e);
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                },
                CloseStep::AwaitPeer => self.poll_discard(cx).map(|()| None),
                // A failed shutdown changes nothing: the outcome is decided and
                // the socket closes on drop anyway.
                CloseStep::Shutdown => self
                    .get_mut()
                    .poll_shutdown_transport(cx)
                    .map(|_| Some(Event::ShutdownDone)),
            };
            match progress {
                Poll::Ready(Some(event)) => {
                    self.core.machine.handle(event);
                }
                Poll::Ready(None) => {}
                Poll::Pending if policy == ClosePolicy::Attempt => return Poll::Pending,
                Poll::Pending => match self.poll_step_deadline(cx, policy) {
                    Poll::Ready(()) => {
                        self.core.machine.handle(Event::Deadline);
                    }
                    Poll::Pending => return Poll::Pending,
                },
            }
        }
    }

    /// Reads and discards until the read direction ends (the classifier
    /// feeds the end to the machine). After [`DISCARD_PER_POLL`] reads that
    /// all returned data it yields: it wakes its task and returns `Pending`,
    /// so that the caller looks at the deadline and the scheduler runs
    /// others.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 4096];
        for _ in 0..DISCARD_PER_POLL {
            let mut buf = ReadBuf::new(&mut scratch);
            match self.poll_transport_read(cx, &mut buf) {
                Poll::Ready(Ok(ReadOutcome::Data(n))) => self.core.stats.discarded += n as u64,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Whether the current step's deadline passed (`Ready`), by the clock;
    /// otherwise arranges a wake-up for it. The deadline is armed when the
    /// step first gets here: a step that never has to wait costs neither a
    /// clock read nor a timer. Under [`ClosePolicy::ForcedBy`] it is never later than the
    /// forced instant.
    fn poll_step_deadline(&mut self, cx: &mut Context<'_>, policy: ClosePolicy) -> Poll<()> {
        let Some(timer) = self.core.machine.timer() else {
            // Only steps with a timer wait; nothing to bound otherwise.
            return Poll::Ready(());
        };
        let timeout = match timer {
            Timer::Flush | Timer::Shutdown => self.core.config.flush_timeout(),
            Timer::PeerClose => self.core.config.peer_close_timeout(),
        };
        let step = match &mut self.core.deadline {
            Some(step) if step.timer == timer => step,
            // A new step: re-arm, reusing the timer.
            Some(step) => {
                step.timer = timer;
                step.deadline
                    .reset(saturating_after(Instant::now(), timeout));
                step
            }
            None => self.core.deadline.insert(Box::new(StepDeadline {
                timer,
                deadline: Deadline::after(timeout),
            })),
        };
        if let ClosePolicy::ForcedBy(by) = policy {
            if by < step.deadline.at() {
                step.deadline.reset(by);
            }
        }
        step.deadline.poll_passed(cx)
    }
}
