//! `AsyncRead` / `AsyncWrite`: the outcomes mapped onto tokio's I/O traits
//! (the table is on [`GracefulStream`]).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::close::ClosePolicy;
use super::read::SlowRead;
use crate::backend::TlsBackend;
use crate::{CloseOutcome, Error, GracefulStream, ReadOutcome};

impl<S: TlsBackend> AsyncRead for GracefulStream<S> {
    #[inline(always)]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_read_fast(cx, buf) {
            Ok(Poll::Ready(_)) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(slow) => this.poll_read_slow_io(cx, buf, slow),
        }
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// `poll_read_slow` mapped onto `AsyncRead`.
    #[cold]
    #[inline(never)]
    fn poll_read_slow_io(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        slow: SlowRead,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(match ready!(self.poll_read_slow(cx, buf, slow)) {
            Ok(ReadOutcome::Data(_) | ReadOutcome::CloseNotify) => Ok(()),
            Ok(ReadOutcome::AbruptEof) => Err(Error::AbruptEof.into()),
            Ok(ReadOutcome::Cancelled) => Err(Error::Cancelled.into()),
            Err(e) => Err(e.into()),
        })
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Gate for every write: refused once closing began or after a failure.
    #[inline(always)]
    fn write_gate(&mut self) -> Result<(), Error> {
        if self.core.machine.may_write() {
            Ok(())
        } else {
            Err(self.write_refused())
        }
    }

    #[cold]
    #[inline(never)]
    fn write_refused(&self) -> Error {
        if self.core.error.is_some() {
            self.stored_error()
        } else {
            Error::Closed
        }
    }

    #[inline(always)]
    fn written(&mut self, result: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(n)) => {
                self.core.stats.written += n as u64;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail_io(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A write or flush failed: the failure is recorded and sticks.
    #[cold]
    #[inline(never)]
    fn fail_io(&mut self, e: io::Error) -> io::Error {
        self.fail(e).into()
    }

    /// A flush once the connection needs no further I/O: the sticky error,
    /// or nothing to do.
    #[cold]
    #[inline(never)]
    fn flush_final(&self) -> io::Result<()> {
        match self.core.error {
            Some(_) => Err(self.stored_error().into()),
            None => Ok(()),
        }
    }
}

impl<S: TlsBackend> AsyncWrite for GracefulStream<S> {
    #[inline(always)]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write_gate()?;
        let result = Pin::new(this.get_mut()).poll_write(cx, buf);
        this.written(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.write_gate()?;
        let result = Pin::new(this.get_mut()).poll_write_vectored(cx, bufs);
        this.written(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.get_ref().is_write_vectored()
    }

    #[inline(always)]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A failure always leaves the machine final (`fail_as`), so one
        // check covers both: the sticky error, or nothing left to flush.
        if this.core.machine.is_final() {
            return Poll::Ready(this.flush_final());
        }
        match ready!(Pin::new(this.get_mut()).poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(this.fail_io(e))),
        }
    }

    /// A close that does not wait for the peer's close_notify: flush,
    /// close_notify, shut down the transport's write half, within the flush
    /// timeout. Reading goes on working, so `tokio::io::split` and
    /// `copy_bidirectional` half-close correctly.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(
            match ready!(self.get_mut().poll_close_with(cx, ClosePolicy::NoPeerWait)) {
                Ok(CloseOutcome::FlushTimeout) => Err(Error::FlushTimeout.into()),
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            },
        )
    }
}
