//! [`HandshakeKind`]: whether a connection resumed an earlier session,
//! whatever the TLS stack.

use std::fmt;

/// Which sort of TLS handshake established a connection, from
/// [`GracefulStream::handshake_kind`](crate::GracefulStream::handshake_kind).
///
/// A resumed handshake skips the certificate check: the server proves it
/// holds the secret of an earlier session whose certificate *was* checked.
/// Clients that change their trust policy, or that must not reuse a session
/// after a bad end (RFC 5246 §7.2.2, RFC 8446 §6), need to know which one
/// happened; see the [`client`](crate::client) module.
///
/// Non-exhaustive: rustls 0.24 tells a resumption after a
/// HelloRetryRequest apart, for instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeKind {
    /// A full handshake: the server's certificate was verified.
    Full,
    /// A full TLS 1.3 handshake that took an extra round trip because the
    /// server sent a HelloRetryRequest (e.g. it wanted another key-exchange
    /// group than the one the client guessed). Only backends that can tell
    /// report it (rustls); OpenSSL reports [`Full`](Self::Full).
    FullWithHelloRetryRequest,
    /// A resumed handshake (a TLS 1.2 session id or ticket, a TLS 1.3 PSK
    /// from a ticket): no certificate was sent or verified in this
    /// connection.
    Resumed,
}

impl HandshakeKind {
    /// The kebab-case name used in logs and by the examples: `full`,
    /// `full-hrr` or `resumed`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            HandshakeKind::Full => "full",
            HandshakeKind::FullWithHelloRetryRequest => "full-hrr",
            HandshakeKind::Resumed => "resumed",
        }
    }

    /// Whether an earlier session was resumed.
    pub const fn is_resumed(&self) -> bool {
        matches!(self, HandshakeKind::Resumed)
    }
}

impl fmt::Display for HandshakeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
