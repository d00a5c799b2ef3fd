//! Fault-injecting transports for in-memory pairs. A [`Wire`] wraps one end
//! of a `tokio::io::duplex`; its [`Tap`] counts the bytes that cross it and
//! injects a fault at the moment a test chooses: a reset, a vanished peer,
//! held or short reads, trickled or cut writes, a stuck or failing
//! shutdown, a flipped bit. Every fault change wakes the tasks that wait on
//! the wire, as a kernel would.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the shutdown of a wire's write half does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShutdownFault {
    /// Shuts the write half (the peer reads EOF).
    #[default]
    None,
    /// Never finishes: a transport whose FIN waits behind bytes the peer
    /// never takes, or a peer that vanished.
    Stuck,
}

#[derive(Debug, Default)]
struct Faults {
    /// Every operation fails with `ConnectionReset`.
    reset: bool,
    /// Reads pend (held inbound bytes, or a vanished peer).
    reads_stall: bool,
    /// Writes and flushes pend.
    writes_stall: bool,
    shutdown: ShutdownFault,
    /// At most this many bytes per read.
    read_max: Option<usize>,
    /// One byte per write, each after this gap.
    write_gap: Option<Duration>,
    /// Bytes the wire still carries outbound; after that it swallows
    /// writes and shuts the write half (the link dies mid-stream).
    cut_after: Option<u64>,
    /// Flip the low bit of the inbound byte at this stream offset.
    corrupt_at: Option<u64>,
    /// When the wire was dropped, and how many bytes it had read by then.
    dropped: Option<(Instant, u64)>,
    wakers: Vec<Waker>,
}

/// The shared control and counters of one [`Wire`].
#[derive(Debug, Default)]
pub struct Tap {
    read: AtomicU64,
    written: AtomicU64,
    faults: Mutex<Faults>,
}

impl Tap {
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().expect("tap lock")
    }

    /// Applies a fault change and wakes everyone waiting on the wire.
    fn change(&self, f: impl FnOnce(&mut Faults)) {
        let wakers = {
            let mut faults = self.faults();
            f(&mut faults);
            std::mem::take(&mut faults.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Bytes read from this end so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::SeqCst)
    }

    /// Bytes written into this end so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// From now on every operation fails with `ConnectionReset` (an RST).
    pub fn reset(&self) {
        self.change(|f| f.reset = true);
    }

    /// The peer vanishes: no FIN, no RST; reads, writes, flushes and
    /// shutdowns pend forever.
    pub fn vanish(&self) {
        self.change(|f| {
            f.reads_stall = true;
            f.writes_stall = true;
            f.shutdown = ShutdownFault::Stuck;
        });
    }

    /// Holds inbound bytes (reads pend) until [`release`](Self::release).
    pub fn hold(&self) {
        self.change(|f| f.reads_stall = true);
    }

    /// Lets held inbound bytes through.
    pub fn release(&self) {
        self.change(|f| f.reads_stall = false);
    }

    /// Sets what the wire's shutdown does.
    pub fn shutdown_fault(&self, fault: ShutdownFault) {
        self.change(|f| f.shutdown = fault);
    }

    /// At most `max` bytes per read.
    pub fn read_max(&self, max: usize) {
        self.change(|f| f.read_max = Some(max));
    }

    /// Writes one byte at a time, each `gap` after the previous one: every
    /// byte is its own segment.
    pub fn trickle_writes(&self, gap: Duration) {
        self.change(|f| f.write_gap = Some(gap));
    }

    /// Carries `bytes` more outbound bytes, then swallows the rest and shuts
    /// the write half: the link dies mid-record.
    pub fn cut_after(&self, bytes: u64) {
        self.change(|f| f.cut_after = Some(bytes));
    }

    /// Flips a bit of the inbound byte at stream offset `offset` (counted
    /// from the first byte this end ever read).
    pub fn corrupt_inbound_at(&self, offset: u64) {
        self.change(|f| f.corrupt_at = Some(offset));
    }

    /// When the wire was dropped (tokio's clock) and the bytes it had read
    /// by then; `None` while it is alive.
    pub fn dropped(&self) -> Option<(Instant, u64)> {
        self.faults().dropped
    }
}

/// One end of an in-memory transport, with faults on demand.
#[derive(Debug)]
pub struct Wire {
    inner: DuplexStream,
    tap: Arc<Tap>,
    /// The gap before the next trickled byte may go.
    gap: Option<Pin<Box<Sleep>>>,
}

impl Wire {
    /// Wraps one end of a duplex.
    pub fn new(inner: DuplexStream) -> (Self, Arc<Tap>) {
        let tap = Arc::new(Tap::default());
        let wire = Wire {
            inner,
            tap: tap.clone(),
            gap: None,
        };
        (wire, tap)
    }

    /// A connected pair of wires over a duplex of `capacity` bytes each way.
    pub fn pair(capacity: usize) -> ((Self, Arc<Tap>), (Self, Arc<Tap>)) {
        let (a, b) = tokio::io::duplex(capacity);
        (Wire::new(a), Wire::new(b))
    }

    /// Remembers the task so that a fault change wakes it.
    fn park(&self, cx: &Context<'_>) {
        let mut faults = self.tap.faults();
        if !faults.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            faults.wakers.push(cx.waker().clone());
        }
    }

    fn pending<T>(&self, cx: &Context<'_>) -> Poll<T> {
        self.park(cx);
        Poll::Pending
    }
}

fn reset<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let (read_max, corrupt_at) = {
            let f = this.tap.faults();
            if f.reset {
                return reset();
            }
            if f.reads_stall {
                drop(f);
                return this.pending(cx);
            }
            (f.read_max, f.corrupt_at)
        };
        let limit = read_max.unwrap_or(usize::MAX).min(buf.remaining());
        let mut scratch = vec![0u8; limit];
        let mut small = ReadBuf::new(&mut scratch);
        match Pin::new(&mut this.inner).poll_read(cx, &mut small) {
            Poll::Pending => this.pending(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let got = small.filled_mut();
                let start = this.tap.read.fetch_add(got.len() as u64, Ordering::SeqCst);
                if let Some(at) = corrupt_at {
                    if (start..start + got.len() as u64).contains(&at) {
                        got[(at - start) as usize] ^= 0x01;
                    }
                }
                buf.put_slice(got);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let (gap, cut_after) = {
            let f = this.tap.faults();
            if f.reset {
                return reset();
            }
            if f.writes_stall {
                drop(f);
                return this.pending(cx);
            }
            (f.write_gap, f.cut_after)
        };
        let mut data = data;
        if let Some(gap) = gap {
            if let Some(sleep) = this.gap.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return this.pending(cx);
                }
            }
            this.gap = Some(Box::pin(tokio::time::sleep(gap)));
            data = &data[..data.len().min(1)];
        }
        if let Some(left) = cut_after {
            if left < data.len() as u64 {
                // The link dies: what fits goes out, then EOF; the rest is
                // swallowed as a dead link would.
                let keep = &data[..left as usize];
                let mut sent = 0;
                while sent < keep.len() {
                    match Pin::new(&mut this.inner).poll_write(cx, &keep[sent..]) {
                        Poll::Ready(Ok(n)) => sent += n,
                        _ => break,
                    }
                }
                let _ = Pin::new(&mut this.inner).poll_shutdown(cx);
                this.tap.change(|f| f.cut_after = Some(0));
                this.tap
                    .written
                    .fetch_add(data.len() as u64, Ordering::SeqCst);
                return Poll::Ready(Ok(data.len()));
            }
        }
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                this.tap.written.fetch_add(n as u64, Ordering::SeqCst);
                if let Some(left) = cut_after {
                    this.tap.change(|f| f.cut_after = Some(left - n as u64));
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.pending(cx),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let f = this.tap.faults();
            if f.reset {
                return reset();
            }
            if f.writes_stall {
                drop(f);
                return this.pending(cx);
            }
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let f = this.tap.faults();
            if f.reset {
                return reset();
            }
            if f.shutdown == ShutdownFault::Stuck {
                drop(f);
                return this.pending(cx);
            }
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let read = self.tap.read();
        // Outside a runtime (a drop on a bare thread) tokio's clock is the
        // system's: fine for a record.
        let now = Instant::now();
        self.tap.change(|f| f.dropped = Some((now, read)));
    }
}
