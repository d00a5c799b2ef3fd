//! [`ConnectionInfo`] and [`ConnectionEnd`]: what an `HttpsConnector`
//! connection is, and how it ended.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::{Ended, HandshakeKind, Stats, TlsVersion};

/// One connection made by an [`HttpsConnector`](super::HttpsConnector).
///
/// hyper-util puts a clone in the extensions of every response sent over
/// the connection: `response.extensions().get::<ConnectionInfo>()` tells
/// which connection served a request, and whether its handshake resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// 1, 2, 3… in the order this connector (and its clones) made them.
    pub id: u64,
    /// The name the certificate was verified for (the URI's host).
    pub server_name: String,
    /// The address dialled.
    pub peer: SocketAddr,
    /// The negotiated TLS version.
    pub version: Option<TlsVersion>,
    /// Full or resumed handshake.
    pub handshake: Option<HandshakeKind>,
    /// Whether ALPN chose HTTP/2 (otherwise HTTP/1.1).
    pub h2: bool,
}

impl fmt::Display for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connection {} to {} ({})",
            self.id, self.server_name, self.peer
        )?;
        if let Some(version) = self.version {
            write!(f, " {version}")?;
        }
        if let Some(kind) = self.handshake {
            write!(f, " {kind}")?;
        }
        f.write_str(if self.h2 { " h2" } else { " http/1.1" })
    }
}

/// How a connection made by an [`HttpsConnector`](super::HttpsConnector)
/// ended, given to its [`on_end`](super::HttpsConnector::on_end) hook.
///
/// `ended` is the stream's own verdict: `Closed(PeerConfirmed)` or
/// `Closed(PeerClosedFirst)` when both sides exchanged close_notify,
/// `Closed(PeerEof)` when the server truncated (its transport ended
/// without close_notify), `Failed(..)` for TLS or transport failures.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionEnd {
    /// Which connection.
    pub info: ConnectionInfo,
    /// How it ended.
    pub ended: Ended,
    /// Plaintext byte counts.
    pub stats: Stats,
    /// From the end of the handshake to the end (tokio's clock).
    pub lifetime: Duration,
}

impl fmt::Display for ConnectionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.info, self.ended)
    }
}

/// Emits one `tracing` event per connection end (feature `tracing`).
#[cfg(feature = "tracing")]
pub(super) fn trace_end(end: &ConnectionEnd) {
    tracing::info!(
        target: "graceful_tls::client",
        id = end.info.id,
        server_name = %end.info.server_name,
        peer = %end.info.peer,
        version = end.info.version.map(TlsVersion::as_str),
        handshake = end.info.handshake.as_ref().map(HandshakeKind::as_str),
        h2 = end.info.h2,
        ended = %end.ended,
        bytes_in = end.stats.read() + end.stats.discarded(),
        bytes_out = end.stats.written(),
        lifetime_ms = end.lifetime.as_millis() as u64,
        "client connection ended"
    );
}

#[cfg(not(feature = "tracing"))]
pub(super) fn trace_end(_end: &ConnectionEnd) {}
