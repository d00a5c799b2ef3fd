//! A scripted in-memory transport, in the style of h2's fuzz `MockIo`: two
//! bounded pipes whose every read and write consults the fuzz input for the
//! chunk size, a `Pending` (woken at once), a stall in time, an EOF, an
//! error or a flipped bit. Each pipe keeps a ledger of what it really did, so
//! that the checks can tell what either side could have observed.
//!
//! Like tokio's own I/O, every read and write spends the task's cooperative
//! budget (`tokio::task::coop`, 128 operations per poll) and returns
//! `Pending` once it is spent: a flood then starves timers of the same task
//! as over a real socket, which is how a deadline that asked only its
//! `Sleep` overran (issue 11).
//!
//! The hostile network on top ([`Wire`]'s methods, driven by the peer's
//! operations): raw bytes injected past a side's TLS layer, a flipped bit in
//! what is in flight, bytes held back and released later (a server's TLS
//! 1.3 session tickets), a half-open connection (silent both ways, forever:
//! no EOF, no error, every read and write `Pending`), and a `poll_shutdown`
//! that never completes.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::task::coop::{self, RestoreOnPending};
use tokio::time::Sleep;

use crate::fuzzing::Script;

/// Which end: `Ours` is wrapped in `GracefulStream`, `Peer` is bare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The `GracefulStream` under test.
    Ours = 0,
    /// The bare tokio-rustls peer.
    Peer = 1,
}

impl Side {
    fn other(self) -> usize {
        1 - self as usize
    }
}

/// What one direction really did, written by its writer's [`Side`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PipeFacts {
    /// Bytes the writer handed to the pipe.
    pub written: u64,
    /// The writer was told `Pending` at least once (script, full pipe,
    /// stall, or tokio's cooperative budget spent).
    pub write_pending: bool,
    /// The reader got a real EOF: writer shut or gone, everything drained.
    pub eof_delivered: bool,
    /// An EOF, error or corruption was injected on this direction.
    pub faulted: bool,
    /// The writer shut its write half (or was dropped).
    pub writer_closed: bool,
    /// Bytes that are not the writer's TLS output were put in the pipe.
    pub injected: bool,
    /// The connection went silent (half-open): nothing written after that,
    /// or still in the pipe then, ever arrives.
    pub silent: bool,
    /// The writer's `poll_shutdown` was left pending.
    pub shutdown_stalled: bool,
    /// The reader's end was dropped: writes fail with `BrokenPipe`.
    pub reader_gone: bool,
    /// Reads of this direction that reached the pipe (past the budget).
    pub reads: u64,
    /// A read of this direction found data waiting but tokio's cooperative
    /// budget spent, after [`Wire::mark_closing`].
    pub starved_in_close: bool,
}

#[derive(Debug)]
enum Fault {
    Eof,
    Error(io::ErrorKind),
}

#[derive(Debug, Default)]
struct Pipe {
    facts: PipeFacts,
    buf: VecDeque<u8>,
    capacity: usize,
    /// The most one read takes from this pipe.
    segment: usize,
    reader_gone: bool,
    read_fault: Option<Fault>,
    write_fault: Option<io::ErrorKind>,
    corrupt_next: bool,
    /// Written, but invisible to the reader until released (in order: any
    /// later write, shutdown or drop releases them first).
    held: Vec<u8>,
    /// `poll_shutdown` stays pending, never woken.
    stall_shutdown: bool,
    stall: Option<Pin<Box<Sleep>>>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl Pipe {
    /// Puts held-back bytes in the pipe, ahead of anything written later.
    fn release(&mut self) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.buf.extend(held);
            if let Some(waker) = self.read_waker.take() {
                waker.wake();
            }
        }
    }

    fn wake(&mut self) {
        if let Some(waker) = self.read_waker.take() {
            waker.wake();
        }
        if let Some(waker) = self.write_waker.take() {
            waker.wake();
        }
    }
}

#[derive(Debug)]
struct State {
    /// `pipes[s]` is written by side `s`.
    pipes: [Pipe; 2],
    script: Script,
    scripted: bool,
    /// Half-open: every read and write is `Pending` forever.
    silent: bool,
    /// Our close has begun ([`Wire::mark_closing`]).
    closing: bool,
}

/// The shared state of both pipes and the script; the driver's handle.
#[derive(Debug, Clone)]
pub struct Wire(Arc<Mutex<State>>);

/// One end of the transport: reads the other side's pipe, writes its own.
#[derive(Debug)]
pub struct Endpoint {
    wire: Wire,
    side: Side,
}

/// What the script says about one read or write.
enum Decision {
    Chunk(usize),
    Pending,
    Stall(u64),
    Corrupt,
    Fault(Fault),
}

const CHUNKS: [usize; 8] = [1, 2, 5, 17, 100, 1000, 5000, usize::MAX];

fn decide(script: &mut Script, scripted: bool, write: bool) -> Decision {
    let Some(byte) = scripted.then(|| script.byte()).flatten() else {
        return Decision::Chunk(usize::MAX);
    };
    match (byte, write) {
        (0..=19, _) => Decision::Pending,
        (245, true) => Decision::Stall(50),
        (246, true) => Decision::Stall(700),
        (247, true) => Decision::Stall(30_000),
        (248, true) => Decision::Corrupt,
        (249, true) => Decision::Fault(Fault::Error(io::ErrorKind::BrokenPipe)),
        (250, false) => Decision::Fault(Fault::Eof),
        (251, false) => Decision::Fault(Fault::Error(io::ErrorKind::ConnectionReset)),
        _ => Decision::Chunk(CHUNKS[usize::from(byte % 8)]),
    }
}

impl Wire {
    /// Two connected ends over pipes of `capacity` bytes each way, whose
    /// reads return `segment` bytes at most.
    pub fn pair(script: Script, capacity: usize, segment: usize) -> (Wire, Endpoint, Endpoint) {
        let pipe = || Pipe {
            capacity: capacity.max(1),
            segment: segment.max(1),
            ..Pipe::default()
        };
        let wire = Wire(Arc::new(Mutex::new(State {
            pipes: [pipe(), pipe()],
            script,
            scripted: false,
            silent: false,
            closing: false,
        })));
        let end = |side| Endpoint {
            wire: wire.clone(),
            side,
        };
        (wire.clone(), end(Side::Ours), end(Side::Peer))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on every read and write consults the script (off during
    /// the handshake).
    pub fn start_script(&self) {
        self.lock().scripted = true;
    }

    /// Decodes the next operation from the script.
    pub fn next<T: for<'a> arbitrary::Arbitrary<'a>>(&self) -> Option<T> {
        self.lock().script.arbitrary()
    }

    /// The ledger of the direction written by `writer`.
    pub fn facts(&self, writer: Side) -> PipeFacts {
        self.lock().pipes[writer as usize].facts
    }

    /// Holds back what `writer` has written so far and not yet delivered:
    /// the reader sees none of it until [`release`](Self::release) or the
    /// writer's next write, shutdown or drop.
    pub fn hold(&self, writer: Side) {
        let pipe = &mut self.lock().pipes[writer as usize];
        let pending: Vec<u8> = pipe.buf.drain(..).collect();
        pipe.held.extend(pending);
    }

    /// Delivers what [`hold`](Self::hold) held back; `false` if nothing was.
    pub fn release(&self, writer: Side) -> bool {
        let pipe = &mut self.lock().pipes[writer as usize];
        let held = !pipe.held.is_empty();
        pipe.release();
        held
    }

    /// Puts `bytes` in the direction written by `writer`, past its TLS
    /// layer (and past the pipe's capacity: a few bytes at most).
    pub fn inject(&self, writer: Side, bytes: &[u8]) {
        let pipe = &mut self.lock().pipes[writer as usize];
        pipe.release();
        pipe.facts.faulted = true;
        pipe.facts.injected = true;
        pipe.buf.extend(bytes);
        pipe.wake();
    }

    /// Puts `bytes` of `writer`'s own TLS output in its direction at once,
    /// past the script and the capacity; `false` if the direction is closed.
    pub fn deliver(&self, writer: Side, bytes: &[u8]) -> bool {
        let pipe = &mut self.lock().pipes[writer as usize];
        if pipe.facts.writer_closed || pipe.reader_gone || pipe.write_fault.is_some() {
            return false;
        }
        pipe.release();
        pipe.buf.extend(bytes);
        pipe.facts.written += bytes.len() as u64;
        pipe.wake();
        true
    }

    /// Flips a bit in the last byte in flight from `writer`; `false` if
    /// nothing is in flight.
    pub fn flip_last(&self, writer: Side) -> bool {
        let pipe = &mut self.lock().pipes[writer as usize];
        pipe.release();
        match pipe.buf.back_mut() {
            Some(byte) => {
                *byte ^= 0x40;
                pipe.facts.faulted = true;
                true
            }
            None => false,
        }
    }

    /// Marks both directions as faulted without touching them: what the
    /// peer did justifies a failure on either side.
    pub fn mark_faulted(&self) {
        for pipe in &mut self.lock().pipes {
            pipe.facts.faulted = true;
        }
    }

    /// Half-open: the connection goes silent both ways, forever. Reads and
    /// writes stay `Pending` (never woken), shutdowns complete but deliver
    /// nothing, so only timers end what waits on it.
    pub fn vanish(&self) {
        let mut state = self.lock();
        state.silent = true;
        for pipe in &mut state.pipes {
            pipe.facts.silent = true;
        }
    }

    /// Each pipe's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.lock().pipes[0].capacity
    }

    /// Our close has begun: from now on, note reads starved by the budget.
    pub fn mark_closing(&self) {
        self.lock().closing = true;
    }

    /// Whether the connection went silent.
    pub fn is_silent(&self) -> bool {
        self.lock().silent
    }

    /// From now on `writer`'s `poll_shutdown` stays pending, never woken.
    pub fn stall_shutdown(&self, writer: Side) {
        self.lock().pipes[writer as usize].stall_shutdown = true;
    }

    /// The connection is reset: every later read and write on both ends fails.
    pub fn reset(&self) {
        for pipe in &mut self.lock().pipes {
            pipe.read_fault = Some(Fault::Error(io::ErrorKind::ConnectionReset));
            pipe.write_fault = Some(io::ErrorKind::ConnectionReset);
            pipe.facts.faulted = true;
            pipe.wake();
        }
    }
}

impl Endpoint {
    /// One read, once the cooperative budget allowed it.
    fn read_within_budget(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.wire.lock();
        let state = &mut *state;
        state.pipes[self.side.other()].facts.reads += 1;
        if state.silent {
            return Poll::Pending;
        }
        let decision = decide(&mut state.script, state.scripted, false);
        let pipe = &mut state.pipes[self.side.other()];
        let mut limit = usize::MAX;
        match decision {
            Decision::Pending => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Decision::Fault(fault) => {
                pipe.facts.faulted = true;
                pipe.read_fault.get_or_insert(fault);
            }
            Decision::Chunk(n) => limit = n,
            Decision::Stall(_) | Decision::Corrupt => {}
        }
        match &pipe.read_fault {
            Some(Fault::Eof) => return Poll::Ready(Ok(())),
            Some(Fault::Error(kind)) => return Poll::Ready(Err((*kind).into())),
            None => {}
        }
        if pipe.buf.is_empty() {
            if pipe.facts.writer_closed {
                pipe.facts.eof_delivered = true;
                return Poll::Ready(Ok(()));
            }
            pipe.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = limit
            .min(pipe.segment)
            .min(buf.remaining())
            .min(pipe.buf.len());
        let (front, _) = pipe.buf.as_slices();
        let n = n.min(front.len());
        buf.put_slice(&front[..n]);
        pipe.buf.drain(..n);
        if let Some(waker) = pipe.write_waker.take() {
            waker.wake();
        }
        Poll::Ready(Ok(()))
    }

    /// One write, once the cooperative budget allowed it.
    fn write_within_budget(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = self.wire.lock();
        let state = &mut *state;
        if state.silent {
            state.pipes[self.side as usize].facts.write_pending = true;
            return Poll::Pending;
        }
        let decision = decide(&mut state.script, state.scripted, true);
        let pipe = &mut state.pipes[self.side as usize];
        pipe.release();
        let mut limit = usize::MAX;
        match decision {
            Decision::Pending => {
                pipe.facts.write_pending = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Decision::Stall(ms) => {
                let sleep = tokio::time::sleep(Duration::from_millis(ms));
                pipe.stall.get_or_insert_with(|| Box::pin(sleep));
            }
            Decision::Corrupt => {
                pipe.facts.faulted = true;
                pipe.corrupt_next = true;
            }
            Decision::Fault(Fault::Error(kind)) => {
                pipe.facts.faulted = true;
                pipe.write_fault.get_or_insert(kind);
            }
            Decision::Fault(Fault::Eof) => {}
            Decision::Chunk(n) => limit = n,
        }
        if let Some(kind) = pipe.write_fault {
            return Poll::Ready(Err(kind.into()));
        }
        if pipe.reader_gone || pipe.facts.writer_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Some(stall) = &mut pipe.stall {
            if stall.as_mut().poll(cx).is_pending() {
                pipe.facts.write_pending = true;
                return Poll::Pending;
            }
            pipe.stall = None;
        }
        // Unbounded during the handshake: a TLS 1.3 server's tickets would
        // otherwise fill a tiny pipe that the finished client never reads.
        let capacity = if state.scripted {
            pipe.capacity
        } else {
            usize::MAX
        };
        let space = capacity.saturating_sub(pipe.buf.len());
        if space == 0 && !data.is_empty() {
            pipe.facts.write_pending = true;
            pipe.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = limit.min(space).min(data.len());
        let start = pipe.buf.len();
        pipe.buf.extend(&data[..n]);
        if pipe.corrupt_next && n > 0 {
            pipe.corrupt_next = false;
            pipe.buf[start] ^= 0x01;
        }
        pipe.facts.written += n as u64;
        if let Some(waker) = pipe.read_waker.take() {
            waker.wake();
        }
        Poll::Ready(Ok(n))
    }

    /// Notes a read refused for a spent budget while data waited, during
    /// our close: the flood starved the task, and its timers with it.
    fn note_starved(&self) {
        let mut state = self.wire.lock();
        let state = &mut *state;
        let pipe = &mut state.pipes[self.side.other()];
        if state.closing && !pipe.buf.is_empty() {
            pipe.facts.starved_in_close = true;
        }
    }
}

/// As tokio's own I/O does (`PollEvented`): an operation first asks the
/// task's cooperative budget (`poll_proceed`, which wakes the task and says
/// `Pending` once it is spent); an operation that completes (`Ready`, data,
/// EOF or error) spends one unit, one that returns `Pending` gives it back.
fn spend<T>(coop: RestoreOnPending, poll: Poll<T>) -> Poll<T> {
    if poll.is_ready() {
        coop.made_progress();
    }
    poll
}

impl AsyncRead for Endpoint {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Poll::Ready(coop) = coop::poll_proceed(cx) else {
            self.note_starved();
            return Poll::Pending;
        };
        spend(coop, self.read_within_budget(cx, buf))
    }
}

impl AsyncWrite for Endpoint {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Poll::Ready(coop) = coop::poll_proceed(cx) else {
            // The writer was told `Pending`, as by a full pipe: with a zero
            // flush timeout that alone is a `FlushTimeout`.
            self.wire.lock().pipes[self.side as usize]
                .facts
                .write_pending = true;
            return Poll::Pending;
        };
        spend(coop, self.write_within_budget(cx, data))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.wire.lock();
        let pipe = &mut state.pipes[self.side as usize];
        if pipe.stall_shutdown {
            pipe.facts.shutdown_stalled = true;
            return Poll::Pending;
        }
        pipe.release();
        pipe.facts.writer_closed = true;
        pipe.wake();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let mut state = self.wire.lock();
        let own = &mut state.pipes[self.side as usize];
        own.release();
        own.facts.writer_closed = true;
        own.wake();
        let other = &mut state.pipes[self.side.other()];
        other.reader_gone = true;
        other.facts.reader_gone = true;
        other.wake();
    }
}
