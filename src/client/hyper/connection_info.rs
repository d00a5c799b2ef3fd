//! [`ConnectionInfo`]: what an `HttpsConnector` connection is.

use std::fmt;
use std::net::SocketAddr;

use crate::{HandshakeKind, TlsVersion};

/// One connection made by an [`HttpsConnector`](super::HttpsConnector).
///
/// hyper-util puts a clone in the extensions of every response sent over
/// the connection: `response.extensions().get::<ConnectionInfo>()` tells
/// which connection served a request, whether its handshake resumed, and
/// which protocol it speaks.
///
/// It has no outcome: while responses arrive the connection is still open
/// (the pool may reuse it for many more). How it ended comes later, once,
/// as the [`ConnectionReport`](crate::ConnectionReport) with the same
/// [`id`](Self::id), given to [`HttpsConnector::on_end`](super::HttpsConnector::on_end);
/// that report carries everything here too (server name, address, version,
/// handshake kind, [`alpn`](crate::ConnectionReport::alpn)).
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
    /// Whether ALPN chose HTTP/2 (otherwise hyper speaks HTTP/1.1).
    pub h2: bool,
    /// The protocol the server chose by ALPN (`b"h2"`, `b"http/1.1"`), as
    /// rustls' `alpn_protocol()` gives it; `None` when it chose none (a
    /// server without ALPN: HTTP/1.1).
    pub alpn: Option<Vec<u8>>,
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
