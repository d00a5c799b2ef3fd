//! What [`Serve`] holds against load and abuse: a connection limit, a
//! handshake limit, the header read timeout, the keep-alive (idle) timeout,
//! and the first-request grace of a drain. The builder methods are here; the accept step that enforces the
//! limits is in `accept.rs`.

use std::time::Duration;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

use super::phase::{PhaseTimeouts, ServerPhases};
use super::Serve;
use crate::Config;

/// The limits of one [`Serve`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) max_connections: usize,
    pub(super) max_handshakes: usize,
    pub(super) header_read_timeout: Duration,
    pub(super) keep_alive_timeout: Duration,
    pub(super) first_request_grace: Duration,
}

impl Limits {
    pub(super) const DEFAULT: Limits = Limits {
        max_connections: 10_000,
        max_handshakes: 1_024,
        header_read_timeout: Duration::from_secs(30),
        keep_alive_timeout: Duration::from_secs(60),
        first_request_grace: Duration::from_secs(1),
    };

    /// What a server's connections share: the timeouts of their phases
    /// (`phase.rs`; an idle
    /// connection that was asked to close gets the close config's
    /// `flush_timeout` to do so), and the lame duck's signal.
    pub(super) fn phases(&self, config: &Config) -> ServerPhases {
        ServerPhases {
            timeouts: PhaseTimeouts {
                header_read: self.header_read_timeout,
                keep_alive: self.keep_alive_timeout,
                first_request_grace: self.first_request_grace,
                closing: config.flush_timeout(),
            },
            lame_duck: Default::default(),
        }
    }

    /// Sets the HTTP timeouts on hyper's builder. hyper times the wait for
    /// an HTTP/1.1 request head from the moment it waits for one, idle or
    /// not, so its header read timeout is also the keep-alive timeout: it
    /// gets the shorter of the two. HTTP/2 pings the client every
    /// `keep_alive_timeout` (also while idle) and ends the connection when
    /// an answer takes longer than 20 s (hyper's default). The first
    /// request and HTTP/2's idle time are timed by the connection itself
    /// (`phase.rs`): hyper times neither.
    pub(super) fn apply(&self, builder: &mut auto::Builder<TokioExecutor>) {
        builder
            .http1()
            .header_read_timeout(self.header_read_timeout.min(self.keep_alive_timeout));
        builder.http2().keep_alive_interval(self.keep_alive_timeout);
    }
}

impl<H, L> Serve<H, L> {
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

    /// A request head must arrive within `timeout`, against clients that
    /// connect and send nothing, or send their head a byte at a time
    /// (slowloris):
    /// * the first request of every connection: from the end of the TLS
    ///   handshake until its head is complete, whatever the protocol
    ///   (HTTP/1.1 or HTTP/2, the detection of which, and HTTP/2's preface,
    ///   count too). Timed by the connection itself, as hyper times
    ///   neither the detection nor HTTP/2's first request;
    /// * each later HTTP/1.1 request head, from when hyper starts waiting
    ///   for it (hyper's `header_read_timeout`). Since hyper times the
    ///   wait for the next request on an idle keep-alive connection the
    ///   same way, hyper gets the shorter of this and the
    ///   [keep-alive timeout](Self::with_keep_alive_timeout).
    ///
    /// When it passes, the connection is cut: the server sends
    /// close_notify and waits, bounded by `peer_close_timeout`, for the
    /// client's, like any connection hyper is done with; the report counts
    /// a `header-timeout` ([`Cut::HeaderTimeout`](crate::Cut::HeaderTimeout))
    /// and the connection's place under
    /// [`max_connections`](Self::with_max_connections) is free at once.
    /// Default [`DEFAULT_HEADER_READ_TIMEOUT`](Self::DEFAULT_HEADER_READ_TIMEOUT).
    /// Overrides (and is overridden by) a later [`http`](Self::http) tune
    /// of hyper's setting.
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self.limits.apply(&mut self.builder);
        self
    }

    /// How long an idle connection is kept: one with no request in flight
    /// since its last response ended. HTTP/1.1: a keep-alive connection
    /// with no new request by then closes (hyper times the wait for the
    /// next head, so an idle HTTP/1.1 connection closes at the shorter of
    /// this and the [header read timeout](Self::with_header_read_timeout)).
    /// HTTP/2: a connection without open streams gets GOAWAY, then closes
    /// (as nginx's `keepalive_timeout` and Go's `IdleTimeout` do; hyper has
    /// no idle timeout of its own), whatever pings it answers. Either way
    /// the client gets close_notify, the report counts an `idle-timeout`
    /// ([`Cut::IdleTimeout`](crate::Cut::IdleTimeout)) and the
    /// connection's place is free at once. HTTP/2 also pings the client
    /// every `timeout`, idle or not, and ends the connection (close_notify
    /// first, `ping-timeout`) if the answer takes more than 20 s, so that a
    /// dead peer does not hold a long stream forever. Default
    /// [`DEFAULT_KEEP_ALIVE_TIMEOUT`](Self::DEFAULT_KEEP_ALIVE_TIMEOUT).
    pub fn with_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.limits.keep_alive_timeout = timeout;
        self.limits.apply(&mut self.builder);
        self
    }

    /// Default [`with_first_request_grace`](Self::with_first_request_grace):
    /// 1 s (a TLS 1.2 client sends its first request one round trip after
    /// the server's Finished).
    pub const DEFAULT_FIRST_REQUEST_GRACE: Duration = Limits::DEFAULT.first_request_grace;

    /// When the drain begins (the shutdown signal, or a restart's
    /// handover), a connection that has not sent its first request yet,
    /// or whose TLS handshake completes during the drain, gets `grace` for
    /// that request: if it comes, it is answered (HTTP/1.1 with
    /// `connection: close`, HTTP/2 followed by GOAWAY) and the connection
    /// closes with close_notify; if nothing comes, the client gets
    /// close_notify before any response byte. Without it, a TLS 1.2 client
    /// (which sends its request only after the server's Finished) whose
    /// handshake completes during the drain loses its request, and clients
    /// do not retry a request on a fresh connection. Go's `Shutdown` does
    /// the same for connections in `StateNew` (golang/go#22682). The drain
    /// deadline bounds it, and so does the header read timeout. Connections
    /// that served requests before and are idle close at once, as hyper's
    /// graceful shutdown does (after reading what the client had already
    /// sent). Default
    /// [`DEFAULT_FIRST_REQUEST_GRACE`](Self::DEFAULT_FIRST_REQUEST_GRACE).
    pub fn with_first_request_grace(mut self, grace: Duration) -> Self {
        self.limits.first_request_grace = grace;
        self
    }

    /// The first-request grace ([`with_first_request_grace`](Self::with_first_request_grace)).
    pub fn first_request_grace(&self) -> Duration {
        self.limits.first_request_grace
    }

    /// The connection limit ([`with_max_connections`](Self::with_max_connections)).
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    /// The handshake limit ([`with_max_handshakes`](Self::with_max_handshakes)).
    pub fn max_handshakes(&self) -> usize {
        self.limits.max_handshakes
    }

    /// The header read timeout ([`with_header_read_timeout`](Self::with_header_read_timeout)).
    pub fn header_read_timeout(&self) -> Duration {
        self.limits.header_read_timeout
    }

    /// The keep-alive timeout ([`with_keep_alive_timeout`](Self::with_keep_alive_timeout)).
    pub fn keep_alive_timeout(&self) -> Duration {
        self.limits.keep_alive_timeout
    }
}
