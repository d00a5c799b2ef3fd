//! Deadlines for closing.

use std::time::Duration;

#[doc = include_str!("docs/config.md")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    flush_timeout: Duration,
    peer_close_timeout: Duration,
}

impl Config {
    /// Default [`flush_timeout`](Config::with_flush_timeout): 3 s, as Netty's
    /// `closeNotifyFlushTimeout`. Long enough for a congested but live peer
    /// to take a few kilobytes; short enough that a peer that stopped reading
    /// cannot hold a closing connection for long (Go allows 5 s).
    pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

    /// Default [`peer_close_timeout`](Config::with_peer_close_timeout): 1 s.
    /// A peer that answers close_notify does so within one round trip plus
    /// its reaction time, far below a second on any path; a peer that never
    /// answers costs at most this (tokio-rustls refuses an unbounded wait as a
    /// denial-of-service risk; Netty does not wait at all by default).
    pub const DEFAULT_PEER_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

    /// Bounds how long a close may spend handing pending plaintext and
    /// close_notify to the transport, and (separately) shutting down the
    /// transport's write half.
    ///
    /// When it passes, the close reports
    /// [`CloseOutcome::FlushTimeout`](crate::CloseOutcome::FlushTimeout) and
    /// the transport's write half is shut down anyway. `Duration::ZERO` means
    /// one attempt that does not wait: whatever the transport takes at once.
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Bounds how long [`close`](crate::GracefulStream::close) waits for the
    /// peer's close_notify after ours was flushed. Plaintext that arrives in
    /// that window is discarded and counted
    /// ([`Stats::discarded`](crate::Stats::discarded)).
    ///
    /// `Duration::ZERO` means do not wait: the close reports
    /// [`CloseOutcome::NotAwaited`](crate::CloseOutcome::NotAwaited) (or
    /// `PeerClosedFirst` / `PeerEof` if the peer had already ended).
    /// [`AsyncWrite::poll_shutdown`](tokio::io::AsyncWrite::poll_shutdown)
    /// never waits for the peer, whatever this says, so that the read half of
    /// a split stream keeps every byte.
    pub fn with_peer_close_timeout(mut self, timeout: Duration) -> Self {
        self.peer_close_timeout = timeout;
        self
    }

    /// The configured flush timeout.
    pub const fn flush_timeout(&self) -> Duration {
        self.flush_timeout
    }

    /// The configured peer close timeout.
    pub const fn peer_close_timeout(&self) -> Duration {
        self.peer_close_timeout
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            flush_timeout: Self::DEFAULT_FLUSH_TIMEOUT,
            peer_close_timeout: Self::DEFAULT_PEER_CLOSE_TIMEOUT,
        }
    }
}
