//! The sans-IO state machine behind [`GracefulStream`](crate::GracefulStream).
//!
//! No I/O, no clock, no tokio: the machine only records what happened to a TLS
//! connection and says what the caller must do next. The async shell performs
//! the I/O, turns each result into an [`Event`], feeds it to
//! [`Machine::handle`], and asks [`Machine::read_gate`], [`Machine::close_step`],
//! [`Machine::timer`] and [`Machine::may_write`] what to do next. Events are
//! things that happened; questions (may I write?) are queries, and plaintext
//! read or written is no event at all: it changes no state.
//!
//! It is public for two kinds of callers: a shell of your own (another
//! runtime, or a TLS stack the [`backend`](crate::backend) trait does not
//! fit) can drive it as [`GracefulStream`](crate::GracefulStream) does, and
//! [`GracefulStream::state`](crate::GracefulStream::state) returns it, so a
//! program can ask where a close stands. The fuzz targets drive it
//! directly too.
//!
//! States and events are enums, [`Machine::handle`] is the one transition
//! function, and each state documents what the caller must do next, like
//! rustls' `ConnectionState`. [`GracefulStream`](crate::GracefulStream) is a
//! thin shell that performs the I/O and feeds the results back.
//!
//! A TLS connection has two directions that end independently (RFC 8446
//! §6.1), so the state is a pair: [`ReadState`] (what the peer did) and
//! [`WriteState`] (how far our own close has gone). One transition function,
//! [`Machine::handle`], moves both.
//!
//! The whole graph is generated from the transition function itself (the
//! testkit's `machine_graph` module explores the reachable states): the
//! repository's `docs/state.dot` and its picture `docs/state.svg` (a test
//! fails when the DOT file drifts), and the full read × write table,
//! snapshot-tested in `docs/transitions.txt` (530 state × event pairs, each
//! kept by the `machine` fuzz target's corpus). `CONTRIBUTING.md` says how
//! to regenerate them. In short:
//!
//! ```text
//! read:  Open ──Cancel──▶ Cancelled
//!          │                  │
//!          ├─PeerCloseNotify──┴─▶ CloseNotify      (terminal)
//!          ├─TransportEof─────┴─▶ AbruptEof        (terminal)
//!          └─TlsError/TransportError─▶ Failed      (final)
//!
//! write: Open ──Close──▶ Flushing ──Flushed──▶ AwaitingPeer ──PeerCloseNotify──▶ ShuttingDown(o) ──ShutdownDone/Deadline──▶ Closed(o)
//!          └──TransportError (peer's close_notify already read)──▶ Closed(PeerClosedAndLeft)
//!                          │  ├──Flushed (peer already closed / no wait)──────────────────▶ ShuttingDown(o)
//!                          │  └──TransportError (peer's close_notify already read)──▶ Closed(PeerClosedAndLeft)
//!                          └──Deadline──▶ ShuttingDown(FlushTimeout)
//! ```
//!
//! A transport error while we still write (plaintext, or our close_notify),
//! after the peer's close_notify was read, is no failure: the peer said it
//! was done and closed its socket without waiting for our answer (hyper's
//! HTTP/2 client does so as soon as GOAWAY leaves it idle), so our write
//! met a reset.
//! The close ends as [`CloseOutcome::PeerClosedAndLeft`] and the read
//! direction stays `CloseNotify`. The same error before the peer's
//! close_notify, or a TLS error at any point, is a failure as before.
//!
//! A close that must not wait for the peer (`Close { await_peer: false }`:
//! `poll_shutdown`, a drop, a drain's deadline) also cuts short a wait that
//! an earlier `close()` planned (`Flushing { await_peer: true }` stops
//! planning it) or began (`AwaitingPeer` ends with `PeerTimeout`).
//!
//! The read state only moves forward, as [`ReadOutcome`'s "Later
//! reads"](crate::ReadOutcome#later-reads) promises: `Cancelled` only stops
//! reads from waiting on the transport, and a later [`Event::Close`] still
//! reads the peer's end, so it can become `CloseNotify` or `AbruptEof`.
//! `CloseNotify` and `AbruptEof` never change except to `Failed`: a fatal
//! error (say, a reset while we write our close_notify after the peer's
//! transport ended without one) ends the whole connection, and every later
//! read reports it. `Failed` never changes. The fuzz target `machine`
//! checks exactly this.
//!
//! The full transition graph (`docs/state.svg`) and the table of every
//! reachable state × event (`docs/transitions.txt`) are derived from
//! [`Machine::handle`] itself by the test harness (`testkit/src/machine_graph/`),
//! and `tests/machine.rs` keeps both snapshots current.

use crate::CloseOutcome;

/// What the peer has done to the read direction.
///
/// Each variant says what the caller must do next when it wants to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadState {
    /// Nothing has ended the read direction.
    ///
    /// Next: if the cancellation token has fired, feed [`Event::Cancel`]
    /// (checked before every read, without I/O); otherwise read from the TLS
    /// stream, and when that read is pending, arrange to be woken by the
    /// token as well as by the transport.
    Open,
    /// The cancellation token fired while the read direction was open.
    ///
    /// Next: return the plaintext the TLS layer has already decrypted, without
    /// any transport I/O, and report [`ReadOutcome::Cancelled`] once none is
    /// left. Writing and closing still work.
    ///
    /// [`ReadOutcome::Cancelled`]: crate::ReadOutcome::Cancelled
    Cancelled,
    /// The peer's close_notify arrived after all of its plaintext.
    ///
    /// Next: report [`ReadOutcome::CloseNotify`] for every read. Writing is
    /// still allowed until we close (TLS 1.3 half-close). A transport error
    /// while we write or flush our close_notify leaves it so (the close ends as
    /// [`CloseOutcome::PeerClosedAndLeft`]); any other error makes it
    /// `Failed`.
    ///
    /// [`ReadOutcome::CloseNotify`]: crate::ReadOutcome::CloseNotify
    CloseNotify,
    /// The transport reached EOF without a close_notify: possible truncation.
    ///
    /// Next: report [`ReadOutcome::AbruptEof`] for every read.
    ///
    /// [`ReadOutcome::AbruptEof`]: crate::ReadOutcome::AbruptEof
    AbruptEof,
    /// A TLS or transport error ended the read direction.
    ///
    /// Next: return the plaintext the TLS layer had already decrypted, if
    /// any, without transport I/O; then report the stored error for every
    /// read.
    Failed,
}

/// How far our own close has gone.
///
/// Each variant says what the caller must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteState {
    /// We have not started to close: plaintext writes are allowed.
    ///
    /// Next: write; feed [`Event::Close`] to start closing. A transport
    /// error after the peer's close_notify ends the close at once as
    /// [`CloseOutcome::PeerClosedAndLeft`].
    Open,
    /// close_notify is due behind any pending plaintext.
    ///
    /// Next: send close_notify and flush the TLS stream
    /// ([`CloseStep::Flush`]); feed [`Event::Flushed`] when done,
    /// [`Event::Deadline`] when the flush deadline ([`Timer::Flush`]) passes,
    /// or the error's event when the flush fails (after the peer's
    /// close_notify, a transport error ends the close as
    /// [`CloseOutcome::PeerClosedAndLeft`] rather than failing it).
    Flushing {
        /// Whether the close waits for the peer's close_notify afterwards.
        await_peer: bool,
    },
    /// Our close_notify is on the wire; we wait for the peer's.
    ///
    /// Next: read and discard plaintext until the peer's close_notify, a
    /// transport EOF, or the peer deadline ([`Timer::PeerClose`]).
    AwaitingPeer,
    /// The close outcome is decided; the transport's write half must be shut.
    ///
    /// Next: shut down the transport's write half; feed
    /// [`Event::ShutdownDone`], or [`Event::Deadline`] when
    /// [`Timer::Shutdown`] passes.
    ShuttingDown(CloseOutcome),
    /// Closing finished with this outcome. Final.
    ///
    /// Next: nothing; every later close reports the same outcome.
    Closed(CloseOutcome),
    /// A TLS or transport error ended the connection before the close
    /// finished; no close_notify will be sent (never after a fatal alert).
    ///
    /// Next: report the stored error. Final.
    Failed,
}

/// Something that happened, fed to [`Machine::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The TLS layer reports the peer's close_notify (after all its plaintext).
    PeerCloseNotify,
    /// The TLS layer reports a transport EOF without close_notify.
    TransportEof,
    /// The transport failed (reset, broken pipe, ...). After the peer's
    /// close_notify, while we still write or flush ours, it ends the close as
    /// [`CloseOutcome::PeerClosedAndLeft`]; otherwise it fails the
    /// connection.
    TransportError,
    /// The TLS layer failed: invalid records or a fatal alert from the peer.
    TlsError,
    /// The cancellation token fired.
    Cancel,
    /// The caller asks to close the connection. Starts the close from
    /// `WriteState::Open`; with `await_peer: false`, also stops a close
    /// under way from waiting for the peer.
    Close {
        /// Whether to wait for the peer's close_notify after sending ours.
        await_peer: bool,
    },
    /// Everything queued, close_notify included, reached the transport.
    Flushed,
    /// The transport's write half is shut down.
    ShutdownDone,
    /// The deadline of the current close step ([`Machine::timer`]) passed.
    Deadline,
}

impl Event {
    /// Every event, for exhaustive tests and the DOT export.
    // Built by following `after`, whose exhaustive `match` makes a new
    // variant a compile error until it is placed in the chain; a wrong length
    // fails to compile too.
    pub const ALL: [Event; 10] = {
        let mut all = [Event::PeerCloseNotify; 10];
        let mut i = 1;
        while i < all.len() {
            all[i] = match all[i - 1].after() {
                Some(next) => next,
                None => panic!("Event::ALL is longer than the enum"),
            };
            i += 1;
        }
        assert!(
            all[all.len() - 1].after().is_none(),
            "Event::ALL misses an event"
        );
        all
    };

    /// The next event in declaration order.
    const fn after(self) -> Option<Event> {
        match self {
            Event::PeerCloseNotify => Some(Event::TransportEof),
            Event::TransportEof => Some(Event::TransportError),
            Event::TransportError => Some(Event::TlsError),
            Event::TlsError => Some(Event::Cancel),
            Event::Cancel => Some(Event::Close { await_peer: true }),
            Event::Close { await_peer: true } => Some(Event::Close { await_peer: false }),
            Event::Close { await_peer: false } => Some(Event::Flushed),
            Event::Flushed => Some(Event::ShutdownDone),
            Event::ShutdownDone => Some(Event::Deadline),
            Event::Deadline => None,
        }
    }
}

/// What a read must do, from [`Machine::read_gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadGate {
    /// Read from the transport; check the token when the read is pending.
    Transport,
    /// Return already-decrypted plaintext only, then
    /// [`ReadOutcome::Cancelled`](crate::ReadOutcome::Cancelled).
    BufferedOnly,
    /// Report [`ReadOutcome::CloseNotify`](crate::ReadOutcome::CloseNotify).
    CloseNotify,
    /// Report [`ReadOutcome::AbruptEof`](crate::ReadOutcome::AbruptEof).
    AbruptEof,
    /// Return already-decrypted plaintext only, then report the stored
    /// error.
    Failed,
}

/// The next step of a close, from [`Machine::close_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseStep {
    /// Send close_notify behind the plaintext written so far and flush it
    /// ([`TlsBackend::poll_close_notify`](crate::TlsBackend::poll_close_notify)).
    Flush,
    /// Read and discard until the peer's close_notify or EOF.
    AwaitPeer,
    /// Shut down the transport's write half.
    Shutdown,
    /// Done: report this outcome.
    Done(CloseOutcome),
    /// Done: report the stored error.
    Failed,
}

/// Which deadline bounds the current close step, from [`Machine::timer`].
///
/// The machine has no clock: the caller arms a timer whenever this changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Flushing plaintext and close_notify: `Config::flush_timeout`.
    Flush,
    /// Waiting for the peer's close_notify: `Config::peer_close_timeout`.
    PeerClose,
    /// Shutting down the transport's write half: `Config::flush_timeout`.
    Shutdown,
}

/// The connection's state: both directions plus the transition function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Machine {
    read: ReadState,
    write: WriteState,
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// A machine for an established connection: both directions open.
    pub const fn new() -> Self {
        Machine {
            read: ReadState::Open,
            write: WriteState::Open,
        }
    }

    /// The read direction's state.
    pub const fn read_state(&self) -> ReadState {
        self.read
    }

    /// The write direction's state.
    pub const fn write_state(&self) -> WriteState {
        self.write
    }

    /// The one transition function: applies `event`.
    ///
    /// Never panics. An event that does not apply in the current state
    /// leaves it unchanged (a repeated close, a late deadline, the peer's
    /// end after the read direction already ended...). What to do next is
    /// read from the state: [`read_gate`](Self::read_gate),
    /// [`close_step`](Self::close_step), [`timer`](Self::timer) and
    /// [`may_write`](Self::may_write). In particular, close_notify is due
    /// exactly when `close_step` first says [`CloseStep::Flush`]; it is never
    /// due twice, and never after a fatal error.
    pub fn handle(&mut self, event: Event) {
        use ReadState as R;
        use WriteState as W;
        let (read, write) = (self.read, self.write);
        let read_open = matches!(read, R::Open | R::Cancelled);
        let (next_read, next_write) = match event {
            Event::PeerCloseNotify if read_open => {
                let write = match write {
                    W::AwaitingPeer => W::ShuttingDown(CloseOutcome::PeerConfirmed),
                    other => other,
                };
                (R::CloseNotify, write)
            }
            Event::TransportEof if read_open => {
                let write = match write {
                    W::AwaitingPeer => W::ShuttingDown(CloseOutcome::PeerEof),
                    other => other,
                };
                (R::AbruptEof, write)
            }
            // The peer sent close_notify and closed its socket without
            // waiting for ours, which then met a reset: the peer's own
            // clean end, not a failure. Decided by the state (the peer's
            // close_notify was read, and we were still writing: plaintext
            // before our close, such as hyper's last HTTP/2 frames after
            // a GOAWAY, or our close_notify), never by the error: a TLS
            // error, or a transport error before the peer's close_notify,
            // still fails.
            Event::TransportError
                if read == R::CloseNotify && matches!(write, W::Open | W::Flushing { .. }) =>
            {
                (read, W::Closed(CloseOutcome::PeerClosedAndLeft))
            }
            Event::TransportError | Event::TlsError => {
                let write = match write {
                    // The outcome is decided; shutting down is best effort.
                    W::ShuttingDown(o) | W::Closed(o) => W::Closed(o),
                    _ => W::Failed,
                };
                (R::Failed, write)
            }
            Event::Cancel if read == R::Open => (R::Cancelled, write),
            Event::Close { await_peer } => match write {
                W::Open => (read, W::Flushing { await_peer }),
                // A close that must not wait for the peer (a shutdown, a
                // drop, a drain's deadline) cuts short a wait that an
                // earlier close planned or began.
                W::Flushing { await_peer: true } if !await_peer => {
                    (read, W::Flushing { await_peer: false })
                }
                W::AwaitingPeer if !await_peer => {
                    (read, W::ShuttingDown(CloseOutcome::PeerTimeout))
                }
                _ => (read, write),
            },
            Event::Flushed => match write {
                W::Flushing { await_peer } => {
                    let write = match read {
                        R::CloseNotify => W::ShuttingDown(CloseOutcome::PeerClosedFirst),
                        R::AbruptEof => W::ShuttingDown(CloseOutcome::PeerEof),
                        _ if await_peer => W::AwaitingPeer,
                        _ => W::ShuttingDown(CloseOutcome::NotAwaited),
                    };
                    (read, write)
                }
                _ => (read, write),
            },
            Event::ShutdownDone => match write {
                W::ShuttingDown(o) => (read, W::Closed(o)),
                _ => (read, write),
            },
            Event::Deadline => match write {
                W::Flushing { .. } => (read, W::ShuttingDown(CloseOutcome::FlushTimeout)),
                W::AwaitingPeer => (read, W::ShuttingDown(CloseOutcome::PeerTimeout)),
                W::ShuttingDown(o) => (read, W::Closed(o)),
                _ => (read, write),
            },
            _ => (read, write),
        };
        self.read = next_read;
        self.write = next_write;
    }

    /// What a read must do now.
    pub const fn read_gate(&self) -> ReadGate {
        match self.read {
            ReadState::Open => ReadGate::Transport,
            ReadState::Cancelled => ReadGate::BufferedOnly,
            ReadState::CloseNotify => ReadGate::CloseNotify,
            ReadState::AbruptEof => ReadGate::AbruptEof,
            ReadState::Failed => ReadGate::Failed,
        }
    }

    /// The next step of a close, or `None` while no close has started.
    pub const fn close_step(&self) -> Option<CloseStep> {
        match self.write {
            WriteState::Open => None,
            WriteState::Flushing { .. } => Some(CloseStep::Flush),
            WriteState::AwaitingPeer => Some(CloseStep::AwaitPeer),
            WriteState::ShuttingDown(_) => Some(CloseStep::Shutdown),
            WriteState::Closed(o) => Some(CloseStep::Done(o)),
            WriteState::Failed => Some(CloseStep::Failed),
        }
    }

    /// The deadline that bounds the current close step, if any.
    pub const fn timer(&self) -> Option<Timer> {
        match self.write {
            WriteState::Flushing { .. } => Some(Timer::Flush),
            WriteState::AwaitingPeer => Some(Timer::PeerClose),
            WriteState::ShuttingDown(_) => Some(Timer::Shutdown),
            _ => None,
        }
    }

    /// Whether plaintext writes are allowed: no close has begun and nothing
    /// failed. The shell asks before every write and refuses it otherwise
    /// (rustls would encrypt and send plaintext even after close_notify).
    pub const fn may_write(&self) -> bool {
        matches!(self.write, WriteState::Open)
    }

    /// Whether the connection reached a state that needs no further I/O.
    pub const fn is_final(&self) -> bool {
        matches!(self.write, WriteState::Closed(_) | WriteState::Failed)
    }
}
