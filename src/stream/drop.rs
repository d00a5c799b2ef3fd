//! Dropping a stream whose close has not finished: close_notify anyway,
//! bounded (see [Dropping](super::GracefulStream#dropping)).

use std::task::{Context, Poll, Waker};

use tokio::io::ReadBuf;

use super::{ClosePolicy, GracefulStream};
use crate::backend::TlsBackend;
use crate::machine::ReadGate;
use crate::{Ended, ReadOutcome};

/// Reads at most this many times (of 2 KiB) when discarding what the peer
/// already sent on a drop: a drop must not block, whatever the peer sent.
const DISCARD_ON_DROP: usize = 64;

impl<S: TlsBackend> Drop for GracefulStream<S> {
    fn drop(&mut self) {
        if self.io.is_none() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let finished = self
            .poll_close_with(&mut cx, ClosePolicy::Attempt)
            .is_ready();
        self.discard_unread(&mut cx);
        if finished {
            return;
        }
        match self.finish_in_background {
            // The hooks move along with the core: the background finish
            // reports the end (or, if it cannot run, its own drop does).
            Some(spawn) => spawn(GracefulStream {
                io: self.io.take(),
                core: std::mem::take(&mut self.core),
                finish_in_background: None,
            }),
            None => self.report_end(|| Ended::Unfinished),
        }
    }
}

/// Finishes a close started by `Drop` in a background task, bounded by the
/// flush timeout (twice: flush, then shutdown); the task's own drop then
/// only discards unread data.
pub(super) fn spawn_finish<S: TlsBackend + Send + 'static>(mut stream: GracefulStream<S>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = std::future::poll_fn(|cx| stream.poll_close_with(cx, ClosePolicy::NoPeerWait))
                .await;
        });
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Reads and discards, without blocking, what the peer already sent, so
    /// that closing the socket sends FIN rather than RST (Linux resets a
    /// connection closed with unread data, and the RST can destroy our
    /// close_notify in flight). Bounded: [`DISCARD_ON_DROP`] reads at most.
    ///
    /// Not to be confused with a [`ConnectionSet`](crate::ConnectionSet)
    /// drain, which ends whole connections.
    fn discard_unread(&mut self, cx: &mut Context<'_>) {
        let mut scratch = [0u8; 2048];
        for _ in 0..DISCARD_ON_DROP {
            if !matches!(
                self.core.machine.read_gate(),
                ReadGate::Transport | ReadGate::BufferedOnly
            ) {
                return;
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match self.poll_transport_read(cx, &mut buf) {
                Poll::Ready(Ok(ReadOutcome::Data(n))) => self.core.stats.discarded += n as u64,
                _ => return,
            }
        }
    }
}
