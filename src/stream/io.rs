//! `AsyncRead` / `AsyncWrite`: the outcomes mapped onto tokio's I/O traits
//! (the table is on [`GracefulStream`]).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::close::ClosePolicy;
use crate::backend::TlsBackend;
use crate::{CloseOutcome, Error, GracefulStream, ReadOutcome};

impl<S: TlsBackend> AsyncRead for GracefulStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(match ready!(self.get_mut().poll_read_outcome(cx, buf)) {
            Ok(ReadOutcome::Data(_) | ReadOutcome::CloseNotify) => Ok(()),
            Ok(ReadOutcome::AbruptEof) => Err(Error::AbruptEof.into()),
            Ok(ReadOutcome::Cancelled) => Err(Error::Cancelled.into()),
            Err(e) => Err(e.into()),
        })
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Gate for every write: refused once closing began or after a failure.
    fn write_gate(&mut self) -> Result<(), Error> {
        if self.core.machine.may_write() {
            Ok(())
        } else if self.core.error.is_some() {
            Err(self.stored_error())
        } else {
            Err(Error::Closed)
        }
    }

    fn written(&mut self, result: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match result {
            Poll::Ready(Ok(n)) => {
                self.core.stats.written += n as u64;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(e).into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: TlsBackend> AsyncWrite for GracefulStream<S> {
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.core.error.is_some() {
            return Poll::Ready(Err(this.stored_error().into()));
        }
        if this.core.machine.is_final() {
            return Poll::Ready(Ok(()));
        }
        match ready!(Pin::new(this.get_mut()).poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(this.fail(e).into())),
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
