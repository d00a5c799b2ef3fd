//! [`Cut`]: why a server ended a connection the client had not ended.

use std::fmt;

/// Why [`server::serve`] (feature `hyper`) cut a connection before the
/// client or the drain ended it: one of the timeouts that bound every phase
/// of a served connection (the phase table is in the [`server`][phases]
/// docs).
///
/// A cut connection is closed like any other, with close_notify and a
/// bounded wait for the client's; its place under `max_connections` is free
/// at once. The [`ConnectionReport`](crate::ConnectionReport) of a cut
/// connection names the cut (`connection 7 (127.0.0.1:50112) TLSv1.3
/// full: peer-eof (header-timeout)`), and a
/// [`DrainReport`](crate::DrainReport) counts every cut since serving
/// began ([`DrainReport::cuts`](crate::DrainReport::cuts),
/// `header-timeouts=3` in its summary line), also those that ended long
/// before the drain.
///
// Without the `hyper` feature the links go to docs.rs (built with every
// feature) instead of breaking.
#[cfg_attr(
    feature = "hyper",
    doc = "[`server::serve`]: crate::server::serve",
    doc = "[phases]: crate::server#the-phases-of-a-served-connection"
)]
#[cfg_attr(
    not(feature = "hyper"),
    doc = "[`server::serve`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/fn.serve.html",
    doc = "[phases]: https://docs.rs/graceful-tls/latest/graceful_tls/server/index.html#the-phases-of-a-served-connection"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Cut {
    /// No complete request head within the header read timeout: the first
    /// request (counted from the end of the TLS handshake, through
    /// HTTP/1.1-or-HTTP/2 detection and the HTTP/2 preface), or a later
    /// HTTP/1.1 request head that had begun to arrive. Silent clients and
    /// slowloris.
    HeaderTimeout,
    /// No request in flight for the keep-alive timeout: an idle HTTP/1.1
    /// keep-alive connection, or an HTTP/2 connection without open streams
    /// (which first gets a GOAWAY).
    IdleTimeout,
    /// HTTP/2: the client did not answer a keep-alive ping in time (a dead
    /// peer, or one that stopped reading).
    PingTimeout,
}

impl Cut {
    /// Every cut, in declaration order.
    pub const ALL: [Cut; 3] = [Cut::HeaderTimeout, Cut::IdleTimeout, Cut::PingTimeout];

    /// The kebab-case name used in connection reports (`header-timeout`,
    /// `idle-timeout`, `ping-timeout`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Cut::HeaderTimeout => "header-timeout",
            Cut::IdleTimeout => "idle-timeout",
            Cut::PingTimeout => "ping-timeout",
        }
    }

    /// The plural name a drain's summary line counts it under
    /// (`header-timeouts=3`).
    pub const fn count_name(&self) -> &'static str {
        match self {
            Cut::HeaderTimeout => "header-timeouts",
            Cut::IdleTimeout => "idle-timeouts",
            Cut::PingTimeout => "ping-timeouts",
        }
    }
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Cut;

    #[test]
    fn names_are_distinct_and_all_is_complete() {
        let names: std::collections::BTreeSet<_> = Cut::ALL.iter().map(Cut::as_str).collect();
        assert_eq!(names.len(), Cut::ALL.len());
        for cut in Cut::ALL {
            // The exhaustive match: a new variant must be added to ALL.
            match cut {
                Cut::HeaderTimeout | Cut::IdleTimeout | Cut::PingTimeout => {}
            }
            assert_eq!(cut.count_name(), format!("{}s", cut.as_str()));
        }
    }
}
