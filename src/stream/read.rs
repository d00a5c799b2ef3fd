//! Reading: typed outcomes decided by state, and cancellation.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::watch::CancelWatch;
use crate::backend::{Buffered, ErrorClass, TlsBackend};
use crate::machine::{Event, ReadGate};
use crate::{Error, GracefulStream, ReadOutcome};

/// Why the data path of a read handed it to `poll_read_slow`.
pub(super) enum SlowRead {
    /// Not a plain transport read: decided by the machine's read gate.
    Gate,
    /// The TLS stream's read completed without data: an empty read or an
    /// error.
    Done(std::io::Result<()>),
    /// The read waits on the transport and the token has fired.
    Cancelled,
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Reads plaintext into `buf` and reports how the read ended.
    ///
    /// Returns `Data(n)` with `n > 0` (or `Data(0)` for an empty `buf`),
    /// or a terminal outcome: `CloseNotify` only when the TLS layer received
    /// the peer's close_notify after all its plaintext, `AbruptEof` when the
    /// transport ended without one (including when tokio-rustls reports it one
    /// read late, and whether the TLS library reports it as an empty read or
    /// as an error), `Cancelled` when the token fired (already-decrypted
    /// plaintext comes first). TLS and transport failures are `Err`;
    /// plaintext the TLS layer had already authenticated and decrypted when
    /// it failed comes first, as `Data`.
    ///
    /// What later reads report: see [`ReadOutcome`'s "Later
    /// reads"](ReadOutcome#later-reads). In short, a terminal outcome
    /// repeats without I/O, except that `Cancelled` becomes `CloseNotify`
    /// or `AbruptEof` once `close()` has read the peer's end, and any
    /// outcome becomes an error after a fatal error; an error repeats.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: dropping the future before it completes loses no
    /// data (it all stays in the TLS layer) and leaves the stream usable, for
    /// reading again, writing or closing. Use it in `tokio::select!` freely.
    pub async fn read_outcome(&mut self, buf: &mut [u8]) -> Result<ReadOutcome, Error> {
        std::future::poll_fn(|cx| self.poll_read_outcome(cx, &mut ReadBuf::new(buf))).await
    }

    /// The poll form of [`read_outcome`](Self::read_outcome): fills `buf` and
    /// reports the outcome. `Data(n)` means `n` bytes were appended to
    /// `buf.filled()`.
    #[inline(always)]
    pub fn poll_read_outcome(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<ReadOutcome, Error>> {
        match self.poll_read_fast(cx, buf) {
            Ok(Poll::Ready(n)) => Poll::Ready(Ok(ReadOutcome::Data(n))),
            Ok(Poll::Pending) => Poll::Pending,
            Err(slow) => self.poll_read_slow(cx, buf, slow),
        }
    }

    /// The data path, kept small so that it inlines into the caller's read
    /// loop as bare tokio-rustls does: when the machine says read from the
    /// transport, the token's watch exists and has not fired, and `buf` has
    /// room, one read from the TLS stream that returns data (`Ready(n)`,
    /// counted) or waits (`Pending`, with the token watched). Everything
    /// else (the first read, an empty `buf`, an ended or cancelled read
    /// direction, an empty read, an error, a cancellation seen while
    /// waiting) is handed to `poll_read_slow` as it stands, which decides
    /// exactly as before.
    #[inline(always)]
    pub(super) fn poll_read_fast(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Result<Poll<usize>, SlowRead> {
        let GracefulStream { io, core, .. } = self;
        if buf.remaining() == 0 {
            return Err(SlowRead::Gate);
        }
        let (Some(io), Some(watch)) = (io.as_mut(), core.watch.as_mut()) else {
            return Err(SlowRead::Gate);
        };
        if core.machine.read_gate() != ReadGate::Transport || watch.is_cancelled() {
            return Err(SlowRead::Gate);
        }
        let before = buf.filled().len();
        match Pin::new(io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n == 0 {
                    return Err(SlowRead::Done(Ok(())));
                }
                core.stats.read += n as u64;
                Ok(Poll::Ready(n))
            }
            Poll::Ready(Err(e)) => Err(SlowRead::Done(Err(e))),
            Poll::Pending if watch.register(cx) => Err(SlowRead::Cancelled),
            Poll::Pending => Ok(Poll::Pending),
        }
    }

    /// Where the data path left a read it does not finish.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_read_slow(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        slow: SlowRead,
    ) -> Poll<Result<ReadOutcome, Error>> {
        let result = match slow {
            SlowRead::Gate => self.poll_read_gated(cx, buf),
            // An empty read or an error: classified as any other.
            SlowRead::Done(result) => self.transport_read_done(buf, result, 0),
            SlowRead::Cancelled => self.cancelled_while_waiting(buf),
        };
        self.counted(result)
    }

    /// Counts the bytes a read returns.
    #[inline(always)]
    fn counted(
        &mut self,
        result: Poll<Result<ReadOutcome, Error>>,
    ) -> Poll<Result<ReadOutcome, Error>> {
        if let Poll::Ready(Ok(ReadOutcome::Data(n))) = result {
            self.core.stats.read += n as u64;
        }
        result
    }

    fn poll_read_gated(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<ReadOutcome, Error>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(ReadOutcome::Data(0)));
        }
        match self.core.machine.read_gate() {
            ReadGate::Transport => {}
            ReadGate::BufferedOnly => return Poll::Ready(Ok(self.read_buffered_only(buf))),
            ReadGate::CloseNotify => return Poll::Ready(Ok(ReadOutcome::CloseNotify)),
            ReadGate::AbruptEof => return Poll::Ready(Ok(ReadOutcome::AbruptEof)),
            ReadGate::Failed => {
                return Poll::Ready(match self.decrypted_before_failure(buf) {
                    Some(data) => Ok(data),
                    None => Err(self.stored_error()),
                })
            }
        }
        let token = &self.core.token;
        let watch = self
            .core
            .watch
            .get_or_insert_with(|| CancelWatch::new(token));
        if watch.is_cancelled() {
            self.core.machine.handle(Event::Cancel);
            return Poll::Ready(Ok(self.read_buffered_only(buf)));
        }
        match self.poll_transport_read(cx, buf) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                let watch = self.core.watch.as_mut().expect("created above");
                if !watch.register(cx) {
                    return Poll::Pending;
                }
                self.cancelled_while_waiting(buf)
            }
        }
    }

    /// The token fired while a read waited on the transport.
    fn cancelled_while_waiting(
        &mut self,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<ReadOutcome, Error>> {
        self.core.machine.handle(Event::Cancel);
        Poll::Ready(Ok(self.read_buffered_only(buf)))
    }

    /// One read from the TLS stream, classified and fed to the machine.
    /// Used by reads and by the close's wait for the peer.
    pub(super) fn poll_transport_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<ReadOutcome, Error>> {
        let before = buf.filled().len();
        let result = match Pin::new(self.get_mut()).poll_read(cx, buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        let n = buf.filled().len() - before;
        self.transport_read_done(buf, result, n)
    }

    /// Classifies a completed read from the TLS stream that put `n` bytes
    /// into `buf`, and feeds any end or failure to the machine.
    fn transport_read_done(
        &mut self,
        buf: &mut ReadBuf<'_>,
        result: std::io::Result<()>,
        n: usize,
    ) -> Poll<Result<ReadOutcome, Error>> {
        Poll::Ready(match result {
            Ok(()) if n > 0 => Ok(ReadOutcome::Data(n)),
            // An empty read ends the read direction; the TLS layer says how.
            Ok(()) => Ok(self.read_end(buf).unwrap_or_else(|| self.ended())),
            Err(e) => match self.get_ref().classify_error(&e) {
                ErrorClass::Tls => {
                    let error = self.fail_as(ErrorClass::Tls, e);
                    self.decrypted_before_failure(buf).ok_or(error)
                }
                // The TLS layer reported a truncation as an error (OpenSSL 3).
                ErrorClass::TransportEof => {
                    Ok(self.read_end(buf).unwrap_or_else(|| self.truncated()))
                }
                // rustls reports a truncation as an UnexpectedEof error that
                // a transport could raise itself: only the TLS layer's state
                // tells them apart.
                ErrorClass::Transport => match self.read_end(buf) {
                    Some(outcome) => Ok(outcome),
                    None => Err(self.fail_as(ErrorClass::Transport, e)),
                },
            },
        })
    }

    /// After the TLS stream reported an end: asks the TLS layer's state what
    /// it was, without transport I/O. `None` if the TLS layer does not know
    /// of an end.
    fn read_end(&mut self, buf: &mut ReadBuf<'_>) -> Option<ReadOutcome> {
        match self.get_mut().read_buffered(buf.initialize_unfilled()) {
            Buffered::Data(n) => {
                buf.advance(n);
                Some(ReadOutcome::Data(n))
            }
            Buffered::CloseNotify => {
                self.core.machine.handle(Event::PeerCloseNotify);
                Some(ReadOutcome::CloseNotify)
            }
            Buffered::TransportEof => {
                self.core.machine.handle(Event::TransportEof);
                Some(ReadOutcome::AbruptEof)
            }
            Buffered::Empty => None,
        }
    }

    /// The read direction ended with an empty read and the buffered state
    /// did not say how: the backend's close_notify record decides.
    fn ended(&mut self) -> ReadOutcome {
        if self.get_mut().received_close_notify() {
            self.core.machine.handle(Event::PeerCloseNotify);
            ReadOutcome::CloseNotify
        } else {
            self.truncated()
        }
    }

    /// The transport ended without the peer's close_notify.
    fn truncated(&mut self) -> ReadOutcome {
        self.core.machine.handle(Event::TransportEof);
        ReadOutcome::AbruptEof
    }

    /// After a failure: plaintext the TLS layer authenticated and decrypted
    /// before it met the bad record or the alert (tokio-rustls reports the
    /// error first when both came in one transport read). It comes before
    /// the error, as it does before an EOF or a cancellation, so that
    /// whether the peer's last data arrives does not depend on how TCP
    /// segmented it. No transport I/O.
    /// (The machine has failed, so an end `read_end` finds changes nothing.)
    fn decrypted_before_failure(&mut self, buf: &mut ReadBuf<'_>) -> Option<ReadOutcome> {
        self.read_end(buf)
            .filter(|outcome| matches!(outcome, ReadOutcome::Data(_)))
    }

    /// After cancellation: plaintext already decrypted, else the end the TLS
    /// layer already saw, else `Cancelled`. No transport I/O.
    fn read_buffered_only(&mut self, buf: &mut ReadBuf<'_>) -> ReadOutcome {
        self.read_end(buf).unwrap_or(ReadOutcome::Cancelled)
    }
}
