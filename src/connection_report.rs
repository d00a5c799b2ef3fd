//! [`ConnectionReport`]: one connection's end, with what it was.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::{CloseOutcome, Cut, Ended, Error, HandshakeKind, Stats, TlsVersion};

/// How one connection ended, with what it was: what a
/// [`ConnectionSet`](crate::ConnectionSet) drain lists for each of its
/// connections ([`DrainReport::connections`](crate::DrainReport::connections)),
/// and what an `HttpsConnector` (feature `hyper-client`) gives its
/// `on_end` hook for each client connection.
///
/// [`ended`](Self::ended) is the TLS connection's verdict ([`Ended`]);
/// [`outcome`](Self::outcome) names it as summaries count it (the same
/// name, except `client-left-complete`: see there); the other fields say
/// which connection it was and how much it carried.
///
/// Its `Display` is one line:
/// `connection 3 to localhost (127.0.0.1:8443) TLSv1.3 full h2: not-awaited`
/// (a client connection), `connection 7 (10.0.0.9:51234) TLSv1.3 full: peer-confirmed (forced)`
/// (a drained one).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionReport {
    /// 1, 2, 3… in the order the set registered (or the connector made) its
    /// connections: what [`ConnectionSet::spawn`](crate::ConnectionSet::spawn)
    /// returned.
    pub id: u64,
    /// The peer's address: as given at registration to a set, the address
    /// dialled by a connector.
    pub peer: Option<SocketAddr>,
    /// The name the certificate was verified for (client connections);
    /// `None` for the connections of a [`ConnectionSet`](crate::ConnectionSet).
    pub server_name: Option<String>,
    /// The negotiated TLS version (`None` when the handshake did not
    /// complete).
    pub version: Option<TlsVersion>,
    /// Which sort of handshake established it (`None` when the handshake
    /// did not complete, or the backend cannot tell).
    pub handshake: Option<HandshakeKind>,
    /// The application protocol negotiated by ALPN (`b"h2"`,
    /// `b"http/1.1"`), as rustls' `alpn_protocol()` gives it: filled in for
    /// `HttpsConnector`'s connections (`None` when the server chose none,
    /// and hyper spoke HTTP/1.1). `None` for the connections of a
    /// [`ConnectionSet`](crate::ConnectionSet), whose backends do not report
    /// it yet.
    pub alpn: Option<Vec<u8>>,
    /// How it ended.
    pub ended: Ended,
    /// Plaintext byte counts (in: `read() + discarded()`, out: `written()`).
    /// Zero when the handshake did not complete.
    pub stats: Stats,
    /// From registration (a set) or the end of the handshake (a connector)
    /// to the end of its close (tokio's clock).
    pub lifetime: Duration,
    /// Whether a drain's deadline (or an abort) cut it short: its handler
    /// (or its handshake, or its own close) was still running and was
    /// dropped, then the set closed the stream itself. Always `false` for
    /// client connections.
    pub forced: bool,
    /// Why the server cut it, if one of its timeouts did (a client silent
    /// after its handshake, an idle connection...): see [`Cut`]. Always
    /// `None` for client connections and for a plain
    /// [`ConnectionSet`](crate::ConnectionSet)'s.
    pub cut: Option<Cut>,
    /// Whether the server's HTTP layer had completed every exchange when it
    /// gave the connection back: hyper's connection ended cleanly with no
    /// request in flight (every response sent; over HTTP/2, after GOAWAY,
    /// no stream open). Then a client that leaves without close_notify
    /// (a FIN, or a reset our close_notify meets) is
    /// [`outcome`](Self::outcome) `client-left-complete`, not a failure.
    /// Always `false` for client connections and a plain
    /// [`ConnectionSet`](crate::ConnectionSet)'s.
    pub exchange_complete: bool,
    /// Whether its handler panicked. The set caught the panic (the panic
    /// hook printed it as usual) and closed the stream as if the handler had
    /// returned. Always `false` for client connections.
    pub panicked: bool,
}

impl ConnectionReport {
    /// A report of connection `id` that ended `ended`; every other field
    /// empty (the crate fills them in as it learns them).
    pub(crate) fn new(id: u64, ended: Ended) -> Self {
        ConnectionReport {
            id,
            peer: None,
            server_name: None,
            version: None,
            handshake: None,
            alpn: None,
            ended,
            stats: Stats::default(),
            lifetime: Duration::ZERO,
            forced: false,
            cut: None,
            exchange_complete: false,
            panicked: false,
        }
    }

    /// The name summaries count this connection under: [`Ended::as_str`]
    /// (`peer-confirmed`, `peer-eof`, `transport-error`...), except for a
    /// client that left without close_notify (a FIN: `peer-eof`; or a
    /// reset under our close_notify: `transport-error`) once every
    /// exchange was complete ([`exchange_complete`](Self::exchange_complete)):
    /// `client-left-complete`. That is how curl ends an HTTP/2 connection
    /// after its last stream, and how browsers close idle connections; the
    /// application's data was all delivered, so it is no failure. A client
    /// that leaves mid-exchange stays `peer-eof` or `transport-error`.
    ///
    /// Decided from state: hyper's connection ended cleanly with nothing in
    /// flight, then the TLS close saw the transport end or fail; never from
    /// error text.
    pub fn outcome(&self) -> &'static str {
        if self.client_left_complete() {
            CLIENT_LEFT_COMPLETE
        } else {
            self.ended.as_str()
        }
    }

    /// See [`outcome`](Self::outcome).
    pub(crate) fn client_left_complete(&self) -> bool {
        self.exchange_complete
            && matches!(
                self.ended,
                Ended::Closed(CloseOutcome::PeerEof) | Ended::Failed(Error::Transport(_))
            )
    }

    /// Plaintext bytes received: read by the application, plus discarded
    /// while the close waited for the peer's close_notify.
    pub fn bytes_in(&self) -> u64 {
        self.stats.read() + self.stats.discarded()
    }
}

/// [`ConnectionReport::outcome`]'s name for a client that left without
/// close_notify after every exchange was complete.
const CLIENT_LEFT_COMPLETE: &str = "client-left-complete";

impl fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection {}", self.id)?;
        if let Some(name) = &self.server_name {
            write!(f, " to {name}")?;
        }
        if let Some(peer) = self.peer {
            write!(f, " ({peer})")?;
        }
        if let Some(version) = self.version {
            write!(f, " {version}")?;
        }
        if let Some(kind) = self.handshake {
            write!(f, " {kind}")?;
        }
        if let Some(alpn) = &self.alpn {
            write!(f, " {}", String::from_utf8_lossy(alpn))?;
        }
        if self.client_left_complete() {
            // The TLS end stays visible: `client-left-complete (peer-eof)`.
            write!(f, ": {} ({})", CLIENT_LEFT_COMPLETE, self.ended)?;
        } else {
            write!(f, ": {}", self.ended)?;
        }
        if self.forced {
            f.write_str(" (forced)")?;
        }
        if let Some(cut) = self.cut {
            write!(f, " ({cut})")?;
        }
        if self.panicked {
            f.write_str(" (panicked)")?;
        }
        Ok(())
    }
}

/// Emits one `tracing` event for a connection's end (feature `tracing`),
/// with `target` naming who reports it (`graceful_tls::drain`,
/// `graceful_tls::client`).
#[cfg(feature = "tracing")]
macro_rules! trace_connection {
    ($target:literal, $report:expr) => {{
        let report: &$crate::ConnectionReport = $report;
        tracing::info!(
            target: $target,
            id = report.id,
            peer = report.peer.map(tracing::field::display),
            server_name = report.server_name.as_deref(),
            version = report.version.map($crate::TlsVersion::as_str),
            handshake = report.handshake.as_ref().map($crate::HandshakeKind::as_str),
            alpn = report.alpn.as_deref().map(String::from_utf8_lossy).as_deref(),
            ended = %report.ended,
            bytes_in = report.bytes_in(),
            bytes_out = report.stats.written(),
            lifetime_ms = report.lifetime.as_millis() as u64,
            forced = report.forced,
            outcome = report.outcome(),
            cut = report.cut.as_ref().map($crate::Cut::as_str),
            panicked = report.panicked,
            "connection ended"
        );
    }};
}

#[cfg(not(feature = "tracing"))]
macro_rules! trace_connection {
    ($target:literal, $report:expr) => {{
        let _: &$crate::ConnectionReport = $report;
    }};
}

pub(crate) use trace_connection;
