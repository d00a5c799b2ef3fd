//! [`LentStream`]: a connection's stream lent by value to an owner that may
//! outlive its handler (hyper's connection future, then a
//! `hyper::upgrade::Upgraded` in the application's hands), while the
//! connection's task keeps the right to take it back and close it.
//!
//! Why not `&mut GracefulStream` as [`ConnectionSet::spawn`] handlers get:
//! hyper-util's auto builder wants `'static` IO (HTTP/2 and upgrades move it
//! into other tasks), and an upgraded connection outlives the handler. Why
//! not hand the stream over for good: hyper closes through `poll_shutdown`
//! and then drops the IO, so the close would never wait for the peer's
//! close_notify (`not-awaited`), and a WebSocket the application keeps would
//! be out of the set's reach at the deadline.
//!
//! So the stream lives in a slot shared by the task and the lent handle.
//! While the handler runs, the handle's `poll_shutdown` only flushes: hyper
//! finishes and drops the handle, and the task then closes the stream
//! itself (close_notify, bounded wait for the peer's). Once the handler has
//! returned, a handle that is still alive (an upgraded connection) is the
//! application's own stream: its `poll_shutdown` closes as
//! [`GracefulStream`]'s does, and dropping it gives the stream back to the
//! task. At the deadline the task takes the stream out of the slot and
//! force-closes it with close_notify; the handle's later reads and writes
//! fail with [`Error::Closed`].
//!
//! Cost on the data path: one uncontended lock per poll (no copy, no
//! allocation); the task touches the slot only at the end.
//!
//! Memory: the slot is the connection's one allocation for the stream and
//! the hand-over. The release is signalled through the slot's own lock (a
//! flag and the waiting task's waker) rather than a `CancellationToken`,
//! which would be a second allocation per connection (a node of
//! tokio-util's tree) to wake one task once (`benches/serve.rs`, `memory:`).
//!
//! [`ConnectionSet::spawn`]: super::ConnectionSet::spawn

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Cut, Error, GracefulStream, TlsBackend};

/// What the task and the lent handle share.
struct Slot<S: TlsBackend> {
    held: Mutex<Held<S>>,
    /// Set when the handler returned: the handle's `poll_shutdown` closes.
    handler_returned: AtomicBool,
}

/// What the slot's lock guards.
struct Held<S: TlsBackend> {
    /// `None` once the task took the stream back.
    stream: Option<GracefulStream<S>>,
    /// Set when the handle is dropped.
    released: bool,
    /// The task waiting for the release ([`Lender::poll_released`]).
    waiting: Option<Waker>,
    /// What the code the stream was lent to says of the connection, for
    /// its report.
    marks: BorrowerMarks,
}

/// What the code a stream was lent to (a server) says of the connection,
/// for its report: whether it cut the connection and why, and whether its
/// exchanges were complete.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BorrowerMarks {
    /// Why the borrower cut the connection (a server's timeouts).
    pub(crate) cut: Option<Cut>,
    /// The borrower's protocol had completed every exchange (hyper's
    /// connection ended cleanly with no request in flight) before it gave
    /// the stream back.
    pub(crate) exchange_complete: bool,
}

impl<S: TlsBackend> Slot<S> {
    fn lock(&self) -> MutexGuard<'_, Held<S>> {
        // Nothing panics while holding the lock (the stream's polls do not
        // panic); recover from poison anyway.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The task's side: takes the stream back.
pub(super) struct Lender<S: TlsBackend> {
    slot: Arc<Slot<S>>,
}

impl<S: TlsBackend> Clone for Lender<S> {
    fn clone(&self) -> Self {
        Lender {
            slot: self.slot.clone(),
        }
    }
}

impl<S: TlsBackend> Lender<S> {
    /// Lends `stream`: the task keeps the `Lender`, the handler gets the
    /// [`LentStream`].
    pub(super) fn lend(stream: GracefulStream<S>) -> (Lender<S>, LentStream<S>) {
        let vectored = stream.is_write_vectored();
        let slot = Arc::new(Slot {
            held: Mutex::new(Held {
                stream: Some(stream),
                released: false,
                waiting: None,
                marks: BorrowerMarks::default(),
            }),
            handler_returned: AtomicBool::new(false),
        });
        (Lender { slot: slot.clone() }, LentStream { slot, vectored })
    }

    /// Marks the handler as returned: from now on the handle (if still
    /// alive) closes on `poll_shutdown`.
    pub(super) fn handler_returned(&self) {
        self.slot.handler_returned.store(true, Ordering::Release);
    }

    /// Ready once the handle has been dropped; until then, `cx`'s task is
    /// woken by the drop. One task waits (the connection's).
    pub(super) fn poll_released(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut held = self.slot.lock();
        if held.released {
            return Poll::Ready(());
        }
        match &mut held.waiting {
            Some(waiting) if waiting.will_wake(cx.waker()) => {}
            waiting => *waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// What the borrower said of the connection ([`LentView::mark_cut`],
    /// [`LentView::mark_exchange_complete`]).
    pub(super) fn marks(&self) -> BorrowerMarks {
        self.slot.lock().marks
    }

    /// Takes the stream back; the handle's later polls fail. `None` only if
    /// taken already (the task takes it once). Forgets the waiting task's
    /// waker too: nothing waits for the release any more, and a handle
    /// kept after the set took the stream back (a failed upgraded
    /// connection) must not keep the task's allocation alive through it.
    pub(super) fn take(&self) -> Option<GracefulStream<S>> {
        let mut held = self.slot.lock();
        held.waiting = None;
        held.stream.take()
    }
}

/// A connection's [`GracefulStream`], lent by a
/// [`ConnectionSet`](crate::ConnectionSet) task to the code that serves it
/// (see the module docs): `AsyncRead + AsyncWrite + Unpin + Send + 'static`.
///
/// `poll_shutdown` only flushes while the handler runs (the task closes the
/// stream, waiting for the peer's close_notify, once the handle is dropped);
/// afterwards it closes as [`GracefulStream`]'s does. Once the set has taken
/// the stream back (at the deadline), every poll fails with
/// [`Error::Closed`].
pub struct LentStream<S: TlsBackend> {
    slot: Arc<Slot<S>>,
    /// The stream's `is_write_vectored`, read once: hyper asks before every
    /// write, and the answer does not change.
    vectored: bool,
}

impl<S: TlsBackend> LentStream<S> {
    /// Runs `f` on the stream, if the set has not taken it back.
    pub fn with_stream<R>(&self, f: impl FnOnce(&GracefulStream<S>) -> R) -> Option<R> {
        self.slot.lock().stream.as_ref().map(f)
    }

    /// Polls `f` on the stream, or fails with [`Error::Closed`] once the set
    /// took it back.
    fn poll_with<R>(
        &self,
        f: impl FnOnce(Pin<&mut GracefulStream<S>>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match self.slot.lock().stream.as_mut() {
            Some(stream) => f(Pin::new(stream)),
            None => Poll::Ready(Err(Error::Closed.into())),
        }
    }

    /// A second handle on the slot, for the code that lent the stream to
    /// hyper and still needs to look at it (the server peeks at the socket
    /// before hyper's graceful shutdown). It neither reads nor writes, and
    /// does not count as the handle: dropping the `LentStream` still
    /// releases the stream.
    #[cfg(feature = "hyper")]
    pub(crate) fn view(&self) -> LentView<S> {
        LentView {
            slot: self.slot.clone(),
        }
    }
}

/// See [`LentStream::view`].
#[cfg(feature = "hyper")]
pub(crate) struct LentView<S: TlsBackend> {
    slot: Arc<Slot<S>>,
}

#[cfg(feature = "hyper")]
impl<S: TlsBackend> LentView<S> {
    /// Runs `f` on the stream, if the set has not taken it back.
    pub(crate) fn with_stream<R>(&self, f: impl FnOnce(&GracefulStream<S>) -> R) -> Option<R> {
        self.slot.lock().stream.as_ref().map(f)
    }

    /// Records why the borrower is cutting the connection (a server
    /// timeout), for the connection's report. The first mark stays.
    pub(crate) fn mark_cut(&self, cut: Cut) {
        self.slot.lock().marks.cut.get_or_insert(cut);
    }

    /// Records that the borrower's protocol completed every exchange (no
    /// request in flight when it ended cleanly): a client that then leaves
    /// without close_notify is reported `client-left-complete`.
    pub(crate) fn mark_exchange_complete(&self) {
        self.slot.lock().marks.exchange_complete = true;
    }
}

impl<S: TlsBackend> Drop for LentStream<S> {
    fn drop(&mut self) {
        let mut held = self.slot.lock();
        held.released = true;
        let waiting = held.waiting.take();
        drop(held);
        // Woken outside the lock: the task locks the slot when it runs.
        if let Some(waiting) = waiting {
            waiting.wake();
        }
    }
}

impl<S: TlsBackend> AsyncRead for LentStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_with(|stream| stream.poll_read(cx, buf))
    }
}

impl<S: TlsBackend> AsyncWrite for LentStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(|stream| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(|stream| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(|stream| stream.poll_flush(cx))
    }

    /// While the handler runs: a flush (the task closes once the handle is
    /// dropped). Afterwards: [`GracefulStream`]'s `poll_shutdown`.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.slot.handler_returned.load(Ordering::Acquire) {
            self.poll_with(|stream| stream.poll_shutdown(cx))
        } else {
            self.poll_with(|stream| stream.poll_flush(cx))
        }
    }
}

impl<S: TlsBackend> fmt::Debug for LentStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LentStream")
            .field(
                "handler_returned",
                &self.slot.handler_returned.load(Ordering::Relaxed),
            )
            .field("taken_back", &self.slot.lock().stream.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_count::WakeCount;

    type Tls = tokio_rustls::client::TlsStream<tokio::io::DuplexStream>;

    /// A lent slot whose stream the set took back already: what the
    /// release and the handle's write answers need, without a TLS pair.
    fn lent(vectored: bool) -> (Lender<Tls>, LentStream<Tls>) {
        let slot = Arc::new(Slot {
            held: Mutex::new(Held {
                stream: None,
                released: false,
                waiting: None,
                marks: BorrowerMarks::default(),
            }),
            handler_returned: AtomicBool::new(false),
        });
        (Lender { slot: slot.clone() }, LentStream { slot, vectored })
    }

    /// The handle's drop wakes the waker of the task's latest poll (a
    /// future must wake the waker it was last polled with), once.
    #[test]
    fn the_release_wakes_the_latest_waker() {
        let (lender, lent) = lent(false);
        let (first, latest) = (
            Arc::new(WakeCount::default()),
            Arc::new(WakeCount::default()),
        );
        let (first_waker, latest_waker) = (Waker::from(first.clone()), Waker::from(latest.clone()));
        assert!(lender
            .poll_released(&mut Context::from_waker(&first_waker))
            .is_pending());
        assert!(lender
            .poll_released(&mut Context::from_waker(&latest_waker))
            .is_pending());
        drop(lent);
        assert_eq!(latest.count(), 1, "the latest waker");
        assert_eq!(first.count(), 0, "a stale waker");
        assert!(lender
            .poll_released(&mut Context::from_waker(&latest_waker))
            .is_ready());
    }

    /// The handle answers `is_write_vectored` as its stream did when lent
    /// (rustls' streams are vectored, OpenSSL's are not), and a handle
    /// whose stream was taken back fails every poll with `Error::Closed`.
    #[test]
    fn the_handle_answers_as_its_stream() {
        assert!(lent(true).1.is_write_vectored());
        let (_lender, mut lent) = lent(false);
        assert!(!lent.is_write_vectored());
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Err(e)) = Pin::new(&mut lent).poll_flush(&mut cx) else {
            panic!("a flush without a stream");
        };
        assert!(matches!(Error::from_io(&e), Some(Error::Closed)), "{e:?}");
    }
}
