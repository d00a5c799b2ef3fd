//! The typed ends of reads and closes.

use std::fmt;

/// How one [`GracefulStream::read_outcome`](crate::GracefulStream::read_outcome) ended.
///
/// Decided from the TLS library's own state, never from error text. What
/// `AsyncRead` and `close()` report for the same ends is in one table:
/// [how each end is reported](crate::GracefulStream#how-each-end-is-reported).
///
/// # Later reads
///
/// A read's outcome only moves forward. `CloseNotify`, `AbruptEof` and
/// `Cancelled` are terminal: once one is reported, every later read reports
/// it again at once, without I/O, with two exceptions:
/// * `Cancelled` becomes `CloseNotify` or `AbruptEof` once
///   [`close`](crate::GracefulStream::close) has read the peer's end of the
///   connection (waiting for the peer's close_notify reads it);
/// * any outcome becomes an error when a fatal error later ends the whole
///   connection (say, a reset while our close_notify is written after a
///   truncation). `CloseNotify` stays when that error is the transport
///   failing under our answering close_notify: the peer closed and left,
///   which the close reports as [`CloseOutcome::PeerClosedAndLeft`].
///
/// Plaintext that the TLS layer had already decrypted is returned as `Data`
/// before `Cancelled`, and before an error, so nothing received is lost.
///
/// The state machine's [`ReadState`](crate::machine::ReadState) moves the
/// same way, and the fuzz targets check exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadOutcome {
    /// `n` bytes of plaintext were placed at the start of the buffer.
    ///
    /// `n` is 0 only when the buffer itself was empty.
    Data(usize),
    /// The peer sent close_notify after all of its plaintext: a clean end of
    /// the read direction. We may still write (TLS 1.3 half-close) until
    /// [`close`](crate::GracefulStream::close).
    CloseNotify,
    /// The transport ended without a close_notify (TCP FIN or EOF): the data
    /// may have been truncated. Whether that matters is the application's
    /// call; many stacks close this way.
    AbruptEof,
    /// The cancellation token fired while the connection was still open.
    ///
    /// Plaintext that rustls had already decrypted is returned as `Data`
    /// before `Cancelled` (without touching the transport), so nothing already
    /// received is silently lost. The TLS state is intact: writing and
    /// [`close`](crate::GracefulStream::close) still work.
    Cancelled,
}

impl ReadOutcome {
    /// The kebab-case name used in logs and by the examples
    /// (`data`, `close-notify`, `abrupt-eof`, `cancelled`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            ReadOutcome::Data(_) => "data",
            ReadOutcome::CloseNotify => "close-notify",
            ReadOutcome::AbruptEof => "abrupt-eof",
            ReadOutcome::Cancelled => "cancelled",
        }
    }

    /// Whether this outcome ends reading (everything except `Data`).
    pub const fn is_terminal(&self) -> bool {
        !matches!(self, ReadOutcome::Data(_))
    }
}

impl fmt::Display for ReadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadOutcome::Data(n) => write!(f, "data {n}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// How a close ended, from [`GracefulStream::close`](crate::GracefulStream::close).
///
/// Failures (a reset, a TLS error) are reported as [`Error`](crate::Error)
/// instead, except a reset under our writes after the peer's close_notify
/// had arrived: the peer closed and left ([`PeerClosedAndLeft`](Self::PeerClosedAndLeft)). Which peer behaviour leads to which outcome, next to what reads
/// report: [how each end is reported](crate::GracefulStream#how-each-end-is-reported);
/// the deadlines behind `PeerTimeout` and `FlushTimeout`:
/// [`Config`](crate::Config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseOutcome {
    /// We sent close_notify and the peer answered with its own within
    /// `peer_close_timeout`: both sides know the data is complete.
    PeerConfirmed,
    /// The peer's close_notify arrived before ours was on the wire (before we
    /// began closing, or while our flush was still running); we answered
    /// with ours.
    PeerClosedFirst,
    /// The peer's close_notify arrived, then the peer closed its socket
    /// without waiting for ours: writing our close_notify, or plaintext we
    /// still sent before closing (say, hyper's last HTTP/2 frames after a
    /// GOAWAY), failed on the transport, a reset or a broken pipe. Our
    /// close_notify was not delivered, nor what we wrote after the peer's. A clean end on the
    /// peer's side, not a failure: hyper's HTTP/2 client closes this way as
    /// soon as GOAWAY leaves it idle (and a curl or browser that closes
    /// after its close_notify does too).
    ///
    /// Decided by state: the peer's close_notify had been read when the
    /// transport failed under our writes. The same transport error before the
    /// peer's close_notify is [`Error::Transport`](crate::Error::Transport)
    /// (`transport-error`), and a TLS error is always
    /// [`Error::Tls`](crate::Error::Tls).
    PeerClosedAndLeft,
    /// We sent close_notify and did not wait for the peer's: either
    /// `peer_close_timeout` is zero, or the close was one that never waits
    /// (`poll_shutdown`, a drop's background finish, a
    /// [`ConnectionSet`](crate::ConnectionSet) forcing at its deadline).
    NotAwaited,
    /// We sent close_notify; the peer did not answer within
    /// `peer_close_timeout`, or before the wait was cut short (by
    /// `poll_shutdown` or a drop after a cancelled `close()`, or by a
    /// [`ConnectionSet`](crate::ConnectionSet)'s deadline).
    PeerTimeout,
    /// We sent close_notify, but the peer's transport ended without one
    /// (before or after ours): the peer truncated.
    PeerEof,
    /// close_notify could not be flushed within `flush_timeout` (the peer
    /// stopped reading); the transport's write half was shut down anyway.
    FlushTimeout,
}

impl CloseOutcome {
    /// Every outcome, in declaration order.
    // Built by following `after`, whose exhaustive `match` makes a new
    // variant a compile error until it is placed in the chain; a wrong length
    // fails to compile too.
    pub const ALL: [CloseOutcome; 7] = {
        let mut all = [CloseOutcome::PeerConfirmed; 7];
        let mut i = 1;
        while i < all.len() {
            all[i] = match all[i - 1].after() {
                Some(next) => next,
                None => panic!("CloseOutcome::ALL is longer than the enum"),
            };
            i += 1;
        }
        assert!(
            all[all.len() - 1].after().is_none(),
            "CloseOutcome::ALL misses a variant"
        );
        all
    };

    /// The next variant in declaration order.
    const fn after(self) -> Option<CloseOutcome> {
        match self {
            CloseOutcome::PeerConfirmed => Some(CloseOutcome::PeerClosedFirst),
            CloseOutcome::PeerClosedFirst => Some(CloseOutcome::PeerClosedAndLeft),
            CloseOutcome::PeerClosedAndLeft => Some(CloseOutcome::NotAwaited),
            CloseOutcome::NotAwaited => Some(CloseOutcome::PeerTimeout),
            CloseOutcome::PeerTimeout => Some(CloseOutcome::PeerEof),
            CloseOutcome::PeerEof => Some(CloseOutcome::FlushTimeout),
            CloseOutcome::FlushTimeout => None,
        }
    }

    /// The kebab-case name used in logs and by the examples
    /// (e.g. `peer-confirmed`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            CloseOutcome::PeerConfirmed => "peer-confirmed",
            CloseOutcome::PeerClosedFirst => "peer-closed-first",
            CloseOutcome::PeerClosedAndLeft => "peer-closed-and-left",
            CloseOutcome::NotAwaited => "not-awaited",
            CloseOutcome::PeerTimeout => "peer-timeout",
            CloseOutcome::PeerEof => "peer-eof",
            CloseOutcome::FlushTimeout => "flush-timeout",
        }
    }

    /// Whether our close_notify was fully handed to the transport: not for
    /// `FlushTimeout` (the peer stopped reading) and `PeerClosedAndLeft`
    /// (the peer had gone).
    pub const fn close_notify_flushed(&self) -> bool {
        !matches!(
            self,
            CloseOutcome::FlushTimeout | CloseOutcome::PeerClosedAndLeft
        )
    }
}

impl fmt::Display for CloseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
