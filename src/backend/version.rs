//! [`TlsVersion`]: the negotiated protocol version, whatever the TLS stack.

use std::fmt;

/// A negotiated TLS protocol version, independent of the TLS library.
///
/// Non-exhaustive: a future version (or a backend that negotiates an older
/// one) may add variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.0 (RFC 2246), deprecated.
    Tls10,
    /// TLS 1.1 (RFC 4346), deprecated.
    Tls11,
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl TlsVersion {
    /// The usual name, as OpenSSL prints it: `"TLSv1.3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls10 => "TLSv1",
            TlsVersion::Tls11 => "TLSv1.1",
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
