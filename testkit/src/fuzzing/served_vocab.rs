//! What a `served` input says, decoded with `arbitrary`: the server's
//! [`ServerSetup`] (timeouts, limits, when the drain begins) and, for each
//! client, a [`ClientScript`]. Every duration is a whole number of
//! milliseconds, so that the paused clock's ticks (1 ms) are exact.

use std::time::Duration;

use arbitrary::Arbitrary;

/// At most this many clients per run.
pub const MAX_CLIENTS: usize = 6;

/// At most this many actions per client.
pub const MAX_ACTIONS: usize = 8;

/// The server's side of a run.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct ServerSetup {
    /// 0 of 8: real crypto (ring); otherwise the free provider.
    pub crypto: u8,
    /// Header read timeout: `(1 + n % 8) × 100 ms`.
    pub header: u8,
    /// Keep-alive (idle) timeout: `(1 + n % 8) × 100 ms`.
    pub idle: u8,
    /// First-request grace: `(1 + n % 8) × 50 ms`.
    pub grace: u8,
    /// Drain timeout: `(n % 10) × 100 ms` (zero cuts at once).
    pub drain: u8,
    /// Handshake timeout: `(1 + n % 8) × 100 ms`.
    pub handshake: u8,
    /// Close config's flush timeout: `(1 + n % 4) × 50 ms`.
    pub flush: u8,
    /// Close config's peer close timeout: `(n % 4) × 50 ms`.
    pub peer: u8,
    /// `max_connections`: none for `n % 8 < 5`, else `1 + n / 8 % 3`.
    pub max_connections: u8,
    /// `max_handshakes`: none below 6 of 8, else `1 + n % 2`.
    pub max_handshakes: u8,
    /// When the drain begins: `n × 10 ms + 5 ms` from the start (odd:
    /// never at the same tick as a client's action, all even), or, for
    /// `None`, once every client is done (and 5 s more).
    pub drain_at: Option<u8>,
}

impl ServerSetup {
    pub fn real_crypto(&self) -> bool {
        self.crypto & 7 == 0
    }

    pub fn header(&self) -> Duration {
        ms(100 * (1 + u64::from(self.header % 8)))
    }

    pub fn idle(&self) -> Duration {
        ms(100 * (1 + u64::from(self.idle % 8)))
    }

    pub fn grace(&self) -> Duration {
        ms(50 * (1 + u64::from(self.grace % 8)))
    }

    pub fn drain(&self) -> Duration {
        ms(100 * u64::from(self.drain % 10))
    }

    pub fn handshake(&self) -> Duration {
        ms(100 * (1 + u64::from(self.handshake % 8)))
    }

    pub fn flush(&self) -> Duration {
        ms(50 * (1 + u64::from(self.flush % 4)))
    }

    pub fn peer(&self) -> Duration {
        ms(50 * u64::from(self.peer % 4))
    }

    pub fn max_connections(&self) -> Option<usize> {
        (self.max_connections % 8 >= 5).then(|| 1 + usize::from(self.max_connections / 8 % 3))
    }

    pub fn max_handshakes(&self) -> Option<usize> {
        (self.max_handshakes % 8 >= 6).then(|| 1 + usize::from(self.max_handshakes % 2))
    }

    pub fn drain_at(&self) -> Option<Duration> {
        self.drain_at.map(|n| ms(10 * u64::from(n) + 5))
    }
}

/// Which protocol a client offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Alpn {
    Http11,
    H2,
    /// No ALPN: hyper detects the protocol from the first bytes.
    None,
}

impl Alpn {
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Alpn::Http11 => b"http/1.1",
            Alpn::H2 => b"h2",
            Alpn::None => b"",
        }
    }
}

/// How a client connects.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Connect {
    /// Handshakes at once.
    Handshake,
    /// Waits `2 × n` ms before its ClientHello (a drain may begin
    /// meanwhile), then handshakes.
    LateHandshake(u8),
    /// Sends nothing at all (the handshake timeout ends it).
    Silent,
    /// Leaves before its handshake: a FIN (`false`) or a reset (`true`)
    /// after `2 × n` ms.
    Leave(bool, u8),
}

/// One client's life.
#[derive(Debug, Clone, Arbitrary)]
pub struct ClientScript {
    /// Connects `2 × n` ms after the start.
    pub start: u8,
    pub tls13: bool,
    pub alpn: Alpn,
    pub connect: Connect,
    /// Answers the server's close_notify with its own (then a FIN), as a
    /// well-behaved client does; otherwise only reads on.
    pub answers_close: bool,
    pub actions: Vec<Action>,
}

/// One thing a client does, once its handshake is done. The client reads
/// all the while (between and during its actions).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Action {
    /// Waits `2 × n` ms.
    Wait(u8),
    /// A whole request: `GET /` (0) or `GET /slow` answered after
    /// `2 × n` ms. HTTP/1.1 clients first wait for the response to the
    /// previous request (no pipelining).
    Request(u8),
    /// The first `1 + n % len` bytes of the next request's head (HTTP/1.1)
    /// or of the preface and first frames (HTTP/2), then nothing more.
    Partial(u8),
    /// The rest of a partial request, in pieces of `1 + n % 8` bytes, 2 ms
    /// apart.
    Rest(u8),
    /// Reads until every response is complete (or the connection ends),
    /// at most `2 × n` ms.
    AwaitResponses(u8),
    /// Sends close_notify (and keeps its socket open, reading).
    CloseNotify,
    /// Shuts its write half down (a FIN), reading on.
    Fin,
    /// Resets the connection and leaves.
    Reset,
}

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
