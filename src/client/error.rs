//! [`ConnectError`]: why a client connection could not be established.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

/// Why a client connection could not be established, from
/// [`Connector`](super::Connector) (and, with the `hyper-client` feature,
/// `HttpsConnector`). Each variant names the input that caused it; the
/// underlying error, if any, is the [`source`](StdError::source).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URI has no host (e.g. `/path` or `https:///`).
    NoHost {
        /// The URI as given.
        uri: String,
    },
    /// The URI's scheme is not `https` (this connector only speaks TLS).
    NotHttps {
        /// The URI as given.
        uri: String,
    },
    /// The host is neither a DNS name nor an IP address that TLS can verify.
    InvalidServerName {
        /// The host as given.
        host: String,
    },
    /// Resolving the host failed, or gave no address.
    Resolve {
        /// `host:port` as resolved.
        target: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The TCP connection failed (refused, unreachable...).
    Connect {
        /// The address (or `host:port`) dialled.
        addr: String,
        /// The socket's error.
        source: io::Error,
    },
    /// The TLS handshake failed: for instance the certificate is not valid
    /// for the server name, or not signed by a trusted root. A TLS failure
    /// (the source holds a `rustls::Error`) made the session cache forget
    /// the server's sessions.
    Handshake {
        /// The name the certificate was verified for.
        server_name: String,
        /// tokio-rustls' error (a `rustls::Error` inside for TLS failures).
        source: io::Error,
    },
    /// Connecting and the handshake together took longer than the connect
    /// timeout.
    Timeout {
        /// The address dialled.
        addr: String,
        /// The timeout that passed.
        after: Duration,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NoHost { uri } => write!(
                f,
                "the URI {uri:?} has no host: give an absolute URI such as https://example.com/"
            ),
            ConnectError::NotHttps { uri } => write!(
                f,
                "the URI {uri:?} is not https: this connector only makes TLS connections"
            ),
            ConnectError::InvalidServerName { host } => write!(
                f,
                "{host:?} is neither a DNS name nor an IP address: TLS cannot verify a certificate for it"
            ),
            ConnectError::Resolve { target, .. } => write!(
                f,
                "cannot resolve {target}: check the host name (the source says what failed)"
            ),
            ConnectError::Connect { addr, .. } => write!(
                f,
                "cannot connect to {addr}: check the address and that the server listens (the source says what failed)"
            ),
            ConnectError::Handshake { server_name, .. } => write!(
                f,
                "TLS handshake with {server_name} failed: check that the certificate is valid for that name and signed by a trusted root (the source says what failed)"
            ),
            ConnectError::Timeout { addr, after } => write!(
                f,
                "connecting to {addr} (TCP and TLS handshake) took longer than {after:?}"
            ),
        }
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ConnectError::Resolve { source, .. }
            | ConnectError::Connect { source, .. }
            | ConnectError::Handshake { source, .. } => Some(source),
            _ => None,
        }
    }
}
