//! Closing: flush, close_notify, bounded wait for the peer, shutdown.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::ReadBuf;
use tokio::time::{Instant, Sleep};

use crate::backend::TlsBackend;
use crate::machine::{CloseStep, Event, Timer};
use crate::{CloseOutcome, Error, GracefulStream, ReadOutcome};

/// One reusable timer for the close steps, armed anew for each step.
#[derive(Debug)]
pub(crate) struct Deadline {
    sleep: Pin<Box<Sleep>>,
    armed_for: Timer,
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Closes the connection and reports how it ended.
    ///
    /// In order: flushes plaintext written so far; queues close_notify (once
    /// per connection, never after a fatal alert) and flushes it, within
    /// `flush_timeout`; if `peer_close_timeout` is non-zero and the peer has
    /// not closed yet, reads (discarding and counting plaintext) until the
    /// peer's close_notify, a transport EOF or that deadline; then shuts down
    /// the transport's write half, within `flush_timeout`. So it returns within
    /// `2 × flush_timeout + peer_close_timeout` whatever the peer does (over
    /// TCP the shutdown is immediate).
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
    /// future and calling `close` again resumes where it stopped (deadlines
    /// keep counting from when each step first waited). Dropping the stream
    /// instead finishes the close in the background (see
    /// [Dropping](GracefulStream#dropping)).
    pub async fn close(&mut self) -> Result<CloseOutcome, Error> {
        std::future::poll_fn(|cx| self.poll_close(cx)).await
    }

    /// The poll form of [`close`](Self::close).
    pub fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<CloseOutcome, Error>> {
        let await_peer = !self.config.get_peer_close_timeout().is_zero();
        self.poll_close_mode(cx, await_peer, true)
    }

    /// Drives the close. `deadlines: false` makes a single non-blocking
    /// attempt without touching tokio's timer (used by `Drop`, which may run
    /// outside a runtime).
    pub(crate) fn poll_close_mode(
        &mut self,
        cx: &mut Context<'_>,
        await_peer: bool,
        deadlines: bool,
    ) -> Poll<Result<CloseOutcome, Error>> {
        self.machine.handle(Event::Close { await_peer });
        loop {
            let step = match self.machine.close_step() {
                Some(step) => step,
                None => return Poll::Ready(Err(Error::Closed)),
            };
            let progress = match step {
                CloseStep::Done(outcome) => return Poll::Ready(Ok(outcome)),
                CloseStep::Failed => return Poll::Ready(Err(self.stored_error())),
                CloseStep::Flush => match self.get_mut().poll_close_notify(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(Some(Event::Flushed)),
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
                    self.machine.handle(event);
                }
                Poll::Ready(None) => {}
                Poll::Pending if deadlines && self.poll_deadline(cx).is_ready() => {
                    self.machine.handle(Event::Deadline);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reads and discards until the read direction ends; the classifier
    /// feeds each end to the machine.
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut scratch = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match self.poll_transport_read(cx, &mut buf) {
                Poll::Ready(Ok(ReadOutcome::Data(n))) => self.stats.discarded += n as u64,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Polls the deadline of the current close step, arming it when the
    /// step changed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(timer) = self.machine.timer() else {
            return Poll::Pending;
        };
        let timeout = match timer {
            Timer::Flush | Timer::Shutdown => self.config.get_flush_timeout(),
            Timer::PeerClose => self.config.get_peer_close_timeout(),
        };
        let at = deadline_after(timeout);
        let deadline = match &mut self.deadline {
            Some(d) if d.armed_for == timer => d,
            Some(d) => {
                d.sleep.as_mut().reset(at);
                d.armed_for = timer;
                d
            }
            None => self.deadline.insert(Deadline {
                sleep: Box::pin(tokio::time::sleep_until(at)),
                armed_for: timer,
            }),
        };
        deadline.sleep.as_mut().poll(cx)
    }
}

/// `now + timeout`, saturating far in the future instead of overflowing.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365 * 30))
}
