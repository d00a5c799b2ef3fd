//! What [`Serve`] holds against load and abuse: a connection limit, a
//! handshake limit, HTTP/1.1's header read timeout and the keep-alive
//! timeout. The builder methods are here; the accept step that enforces the
//! limits is in `accept.rs`.

use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

use super::Serve;

/// The limits of one [`Serve`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_handshakes: usize,
    pub(super) header_read_timeout: Duration,
    pub(super) keep_alive_timeout: Duration,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        max_connections: 10_000,
        max_handshakes: 1_024,
        header_read_timeout: Duration::from_secs(30),
        keep_alive_timeout: Duration::from_secs(60),
    };

    /// Sets the HTTP timeouts on hyper's builder. hyper times the wait for
    /// an HTTP/1.1 request head from the moment it waits for one, idle or
    /// not, so its header read timeout is also the keep-alive timeout: it
    /// gets the shorter of the two. HTTP/2 pings the client every
    /// `keep_alive_timeout` (also while idle) and ends the connection when
    /// an answer takes longer than 20 s (hyper's default).
    pub(super) fn apply(&self, builder: &mut auto::Builder<TokioExecutor>) {
        builder
            .http1()
            .header_read_timeout(self.header_read_timeout.min(self.keep_alive_timeout));
        builder.http2().keep_alive_interval(self.keep_alive_timeout);
    }
}

impl<H> Serve<H> {
    /// Default [`with_max_connections`](Self::with_max_connections): 10,000
    /// (nginx's `worker_connections` is 512 to 1,024 per worker; each TLS
    /// connection holds a descriptor and about 30–70 KB). Raise
    /// `RLIMIT_NOFILE` above it (`ulimit -n`, systemd's `LimitNOFILE=`), or
    /// lower it below the limit, so that accepting waits here rather than
    /// failing with "too many open files".
    pub const DEFAULT_MAX_CONNECTIONS: usize = Limits::DEFAULT.max_connections;

    /// Default [`with_max_handshakes`](Self::with_max_handshakes): 1,024.
    pub const DEFAULT_MAX_HANDSHAKES: usize = Limits::DEFAULT.max_handshakes;

    /// Default [`with_header_read_timeout`](Self::with_header_read_timeout):
    /// 30 s, hyper's (nginx's `client_header_timeout` is 60 s).
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Limits::DEFAULT.header_read_timeout;

    /// Default [`with_keep_alive_timeout`](Self::with_keep_alive_timeout):
    /// 60 s (nginx's `keepalive_timeout` is 75 s).
    pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Limits::DEFAULT.keep_alive_timeout;

    /// At most `max` connections at a time, handshaking or served by
    /// hyper. A connection stops counting when hyper is done with it: while
    /// its close waits (bounded by `peer_close_timeout`) for the client's
    /// close_notify, and once an upgraded connection (a WebSocket) has been
    /// handed to the application, which must bound those itself. At the
    /// limit, accepting waits: new clients stay in
    /// the kernel's listen queue (its backlog, 1,024 for tokio's `bind`)
    /// until a connection ends, instead of being accepted and dropped. A
    /// limit of 0 counts as 1. Default
    /// [`DEFAULT_MAX_CONNECTIONS`](Self::DEFAULT_MAX_CONNECTIONS).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max;
        self
    }

    /// At most `max` TLS handshakes at a time (as the `tls-listener`
    /// crate): a flood of new clients costs at most that much CPU and
    /// memory at once, and accepting waits meanwhile (each handshake is
    /// bounded by the handshake timeout, so the wait is too). A limit of 0
    /// counts as 1. Default
    /// [`DEFAULT_MAX_HANDSHAKES`](Self::DEFAULT_MAX_HANDSHAKES).
    pub fn with_max_handshakes(mut self, max: usize) -> Self {
        self.limits.max_handshakes = max;
        self
    }

    /// HTTP/1.1: a request head (request line and headers) must arrive
    /// within `timeout` of when the server starts waiting for it (hyper's
    /// `header_read_timeout`), against clients that send it a byte at a
    /// time (slowloris). When it passes, the connection ends: the server
    /// sends close_notify and waits, bounded by `peer_close_timeout`, for
    /// the client's, like any connection hyper is done with (a
    /// `graceful_tls::server` debug event says "http timeout", with
    /// feature `tracing`). Since the wait for the next request on an idle
    /// keep-alive connection is timed the same way, hyper gets the shorter
    /// of this and the [keep-alive timeout](Self::with_keep_alive_timeout).
    /// Default [`DEFAULT_HEADER_READ_TIMEOUT`](Self::DEFAULT_HEADER_READ_TIMEOUT).
    /// Overrides (and is overridden by) a later [`http`](Self::http) tune
    /// of the same setting.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self.limits.apply(&mut self.builder);
        self
    }

    /// How long an idle connection is kept. HTTP/1.1: a keep-alive
    /// connection with no new request by then closes (close_notify first),
    /// as a slow head does (see
    /// [`with_header_read_timeout`](Self::with_header_read_timeout)).
    /// HTTP/2: the server pings the client every `timeout`, idle or not,
    /// and ends the connection (close_notify first) if the answer takes
    /// more than 20 s, so that dead peers do not hold connections forever;
    /// live idle HTTP/2 connections stay open (hyper has no idle timeout
    /// for HTTP/2). Default
    /// [`DEFAULT_KEEP_ALIVE_TIMEOUT`](Self::DEFAULT_KEEP_ALIVE_TIMEOUT).
    pub fn with_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.limits.keep_alive_timeout = timeout;
        self.limits.apply(&mut self.builder);
        self
    }

    /// The connection limit ([`with_max_connections`](Self::with_max_connections)).
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    /// The handshake limit ([`with_max_handshakes`](Self::with_max_handshakes)).
    pub fn max_handshakes(&self) -> usize {
        self.limits.max_handshakes
    }

    /// The HTTP/1.1 header read timeout ([`with_header_read_timeout`](Self::with_header_read_timeout)).
    pub fn header_read_timeout(&self) -> Duration {
        self.limits.header_read_timeout
    }

    /// The keep-alive timeout ([`with_keep_alive_timeout`](Self::with_keep_alive_timeout)).
    pub fn keep_alive_timeout(&self) -> Duration {
        self.limits.keep_alive_timeout
    }
}
