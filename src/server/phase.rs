//! [`PhaseWatch`]: where a served connection is in its life, and what
//! bounds it there. Pure: it reads no clock and does no I/O; the connection
//! (`connection.rs`) feeds it the time, its requests' counts and the
//! drain, and does what it answers. The phase table in the `server` docs
//! is this file's contract; each cell has a test over TCP in
//! `tests/server_phases.rs`, and the transitions have unit tests here.
//!
//! Why the crate keeps these timers and not hyper: hyper-util's auto
//! builder starts every connection by reading its first bytes to tell
//! HTTP/1.1 from HTTP/2, with no timer (hyper #3756, #3962); hyper's
//! HTTP/1.1 header read timeout and HTTP/2 keep-alive pings only start once
//! it has decided; and hyper has no idle timeout for HTTP/2. So a client
//! that completes its handshake and then sends nothing, or half the HTTP/2
//! preface, or an HTTP/2 client that answers pings and opens no stream,
//! would hold its connection (and its place under `max_connections`)
//! forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::deadline::saturating_after;
use crate::drain::flag::Flag;
use crate::Cut;

/// What every connection of one server shares: the timeouts of its phases,
/// and the lame duck's signal. One allocation per server; each connection
/// holds a pointer to it.
#[derive(Debug, Default)]
pub(super) struct ServerPhases {
    pub(super) timeouts: PhaseTimeouts,
    /// Fired when the lame duck begins (`Serve::with_lame_duck`): HTTP/1.1
    /// responses say `connection: close`, HTTP/2 connections get GOAWAY
    /// after their next request, so that clients move elsewhere.
    pub(super) lame_duck: Flag,
}

/// The timeouts that bound a served connection's phases (from `Serve`'s
/// limits and close config).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PhaseTimeouts {
    /// From the end of the handshake to the first request head, complete.
    pub(super) header_read: Duration,
    /// No request in flight for this long: the connection is closed.
    pub(super) keep_alive: Duration,
    /// When the drain begins before the connection's first request (or the
    /// handshake completes during the drain), how long that request may
    /// take to arrive.
    pub(super) first_request_grace: Duration,
    /// After an idle connection was asked to close (HTTP/2's GOAWAY), how
    /// long hyper may take to finish before it is dropped: the close
    /// config's `flush_timeout`.
    pub(super) closing: Duration,
}

/// How many times the connection is polled again, once the drain began,
/// while the client's bytes still wait unread in the socket, before
/// hyper's graceful shutdown runs anyway. Bytes that were waiting when the
/// drain began are read in the first round in which tokio's I/O driver
/// reports the socket readable (hyper then reads until the socket is
/// empty); more rounds are only needed while more keeps arriving (an
/// upload, a client that pipelines without pause). The bound keeps such a
/// client from holding off HTTP/2's GOAWAY; HTTP/1.1 responses say
/// `connection: close` from the drain on anyway.
pub(super) const READ_ROUNDS: u32 = 8;

/// What the connection saw in one poll.
#[derive(Debug, Clone, Copy)]
pub(super) struct Observed {
    /// Requests that reached the service so far.
    pub(super) started: u64,
    /// Requests whose response is not done yet (its body not dropped).
    pub(super) in_flight: usize,
    /// Whether the drain (or a restart's handover) has begun.
    pub(super) drain_begun: bool,
    /// Whether the lame duck has begun.
    pub(super) lame_duck: bool,
    /// Whether the connection speaks HTTP/2 (ALPN `h2`, or a request
    /// came over HTTP/2).
    pub(super) http2: bool,
}

/// What the watch asks of its connection, which only it can find out.
pub(super) trait Probe {
    /// Whether the client's bytes wait unread in the socket.
    fn unread_in_socket(&self) -> bool;
    /// Plaintext bytes read from the client so far.
    fn bytes_read(&self) -> u64;
}

/// What the connection must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Wait (return `Pending`): hyper registered its wake-ups; the watch
    /// needs one at `Some` deadline too.
    Wait(Option<Instant>),
    /// Start hyper's graceful shutdown (HTTP/1.1: close once the response
    /// in flight is done, at once when idle; HTTP/2: GOAWAY, then close
    /// once the open streams are done), then poll hyper again.
    Shutdown,
    /// Drop hyper's connection now: the set then closes the stream with
    /// close_notify. `Some` names the cut for the report.
    Drop(Option<Cut>),
}

/// The phase a served connection is in, past its handshake (the phases
/// before, accepted and handshaking, belong to the `ConnectionSet`'s task:
/// the handshake timeout and the drain's deadline bound them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No request has reached the service yet: protocol detection, the
    /// HTTP/2 preface, the first request head.
    /// Next: the first request reaches the service (`Serving`), or at
    /// `deadline` (end of handshake + header read timeout) the connection
    /// is dropped (`header-timeout`); the drain begun turns it into
    /// `Grace`.
    AwaitingFirst {
        /// End of handshake + header read timeout.
        deadline: Instant,
    },
    /// A request is in flight. The watch sets no deadline: hyper's
    /// (HTTP/1.1 head reads, HTTP/2 pings), the application's, and the
    /// drain's bound it. Next: the last response is done (`Idle`), or the
    /// drain begins (`ReadingWhatWaits`).
    Serving,
    /// Requests were served and none is in flight since `since`.
    /// Next: a request (`Serving`); at `since + keep_alive` a graceful
    /// shutdown (`Closing`, `idle-timeout`); the drain (`ReadingWhatWaits`).
    Idle {
        /// When the last response was seen done.
        since: Instant,
        /// Plaintext read from the client by then: more means a next
        /// request head has begun to arrive (hyper's own timeout on it is
        /// then a `header-timeout`, not an `idle-timeout`).
        read: u64,
    },
    /// The drain began before the first request: it may still come (a
    /// TLS 1.2 client sends it only after the server's Finished).
    /// Next: a request reaches the service (graceful shutdown, so it is
    /// answered and the connection closes, `Closing`), or at `until` the
    /// connection is dropped before any response byte.
    Grace {
        /// The grace's end (never after the first-request deadline).
        until: Instant,
    },
    /// The drain began after requests: hyper reads what the client had
    /// already sent before it shuts down (the keep-alive race, hyper
    /// #3792). Next: after at most [`READ_ROUNDS`] polls with bytes unread,
    /// a graceful shutdown (`Closing`).
    ReadingWhatWaits {
        /// Polls so far with bytes unread.
        rounds: u32,
    },
    /// hyper's graceful shutdown runs: it ends the connection once the
    /// responses in flight are done. Next: hyper ends the connection; or,
    /// for an idle connection the watch closed, at `until` it is dropped.
    /// During a drain, the drain's deadline bounds it.
    Closing {
        /// `Some` for a cut: the bound on hyper's close.
        until: Option<Instant>,
        /// Why, if the watch cut it.
        cut: Option<Cut>,
    },
}

/// One served connection's phase, and the timeouts that bound it.
#[derive(Debug)]
pub(super) struct PhaseWatch {
    phase: Phase,
    /// Shared by every connection of the server: one pointer here rather
    /// than 64 bytes per idle connection.
    shared: Arc<ServerPhases>,
    /// Requests started as of the last step: more means a request came
    /// (and may already be done) since.
    started: u64,
    /// Requests started when the lame duck was first seen: an HTTP/2
    /// connection that serves one more gets GOAWAY.
    lame_from: Option<u64>,
}

impl PhaseWatch {
    /// A connection whose handshake completed at `now`.
    pub(super) fn new(now: Instant, shared: Arc<ServerPhases>) -> Self {
        PhaseWatch {
            phase: Phase::AwaitingFirst {
                deadline: saturating_after(now, shared.timeouts.header_read),
            },
            shared,
            started: 0,
            lame_from: None,
        }
    }

    /// The phase now.
    #[cfg(test)]
    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the server's lame duck has begun (one atomic load).
    pub(super) fn lame_duck(&self) -> bool {
        self.shared.lame_duck.is_fired()
    }

    /// The cut the watch decided, if any.
    pub(super) fn cut(&self) -> Option<Cut> {
        match self.phase {
            Phase::Closing { cut, .. } => cut,
            _ => None,
        }
    }

    /// After hyper returned `Pending`: moves to the phase `seen` puts the
    /// connection in, and says what to do. Call again after
    /// [`Action::Shutdown`] (once hyper was polled again).
    pub(super) fn step(&mut self, now: Instant, seen: Observed, probe: &impl Probe) -> Action {
        let new_request = seen.started != self.started;
        if seen.lame_duck && self.lame_from.is_none() {
            // A request that came in this very poll counts as one served
            // during the lame duck.
            self.lame_from = Some(self.started);
        }
        self.started = seen.started;
        // The requests first: whatever the drain does, a request that came
        // moves the connection on.
        match self.phase {
            Phase::AwaitingFirst { .. } | Phase::Idle { .. } if new_request => {
                self.phase = Phase::Serving;
            }
            Phase::Grace { .. } if new_request => {
                // Answer it, then close: hyper's graceful shutdown lets the
                // response in flight finish (HTTP/1.1 with `connection:
                // close`, HTTP/2 with GOAWAY).
                self.phase = Phase::Closing {
                    until: None,
                    cut: None,
                };
                return Action::Shutdown;
            }
            _ => {}
        }
        if matches!(self.phase, Phase::Serving) && seen.in_flight == 0 {
            self.phase = Phase::Idle {
                since: now,
                read: probe.bytes_read(),
            };
        }
        // The lame duck: an HTTP/2 connection that served a request since
        // it began gets GOAWAY (its streams in flight finish), so that the
        // client opens its next one elsewhere. HTTP/1.1 responses say
        // `connection: close` instead (the service wrapper).
        if !seen.drain_begun
            && seen.http2
            && self.lame_from.is_some_and(|from| seen.started > from)
            && matches!(self.phase, Phase::Serving | Phase::Idle { .. })
        {
            self.close(None, None);
            return Action::Shutdown;
        }
        if seen.drain_begun {
            match self.phase {
                Phase::AwaitingFirst { deadline } => {
                    let grace = saturating_after(now, self.shared.timeouts.first_request_grace);
                    self.phase = Phase::Grace {
                        until: grace.min(deadline),
                    };
                }
                Phase::Serving | Phase::Idle { .. } => {
                    self.phase = Phase::ReadingWhatWaits { rounds: 0 };
                }
                _ => {}
            }
        }
        match self.phase {
            Phase::AwaitingFirst { deadline } if now >= deadline => {
                self.close(None, Some(Cut::HeaderTimeout));
                Action::Drop(Some(Cut::HeaderTimeout))
            }
            Phase::AwaitingFirst { deadline } => Action::Wait(Some(deadline)),
            Phase::Serving => Action::Wait(None),
            Phase::Idle { since, .. } => {
                let deadline = saturating_after(since, self.shared.timeouts.keep_alive);
                if now >= deadline {
                    let until = saturating_after(now, self.shared.timeouts.closing);
                    self.close(Some(until), Some(Cut::IdleTimeout));
                    Action::Shutdown
                } else {
                    Action::Wait(Some(deadline))
                }
            }
            Phase::Grace { until } if now >= until => {
                self.close(None, None);
                Action::Drop(None)
            }
            Phase::Grace { until } => Action::Wait(Some(until)),
            Phase::ReadingWhatWaits { rounds } => {
                if rounds < READ_ROUNDS && probe.unread_in_socket() {
                    // hyper's read registered the wake-up for those bytes.
                    self.phase = Phase::ReadingWhatWaits { rounds: rounds + 1 };
                    Action::Wait(None)
                } else {
                    self.close(None, None);
                    Action::Shutdown
                }
            }
            Phase::Closing {
                until: Some(until),
                cut,
            } if now >= until => Action::Drop(cut),
            Phase::Closing { until, .. } => Action::Wait(until),
        }
    }

    /// hyper ended the connection with its own timeout (a slow HTTP/1.1
    /// head, an HTTP/2 ping not answered): which cut that was.
    pub(super) fn hyper_timeout(&self, http2: bool, probe: &impl Probe) -> Cut {
        if http2 {
            return Cut::PingTimeout;
        }
        match self.phase {
            // Nothing arrived since the last response: hyper's wait for
            // the next head is the keep-alive wait.
            Phase::Idle { read, .. } if probe.bytes_read() == read => Cut::IdleTimeout,
            _ => Cut::HeaderTimeout,
        }
    }

    fn close(&mut self, until: Option<Instant>, cut: Option<Cut>) {
        self.phase = Phase::Closing { until, cut };
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{
        Action, Observed, Phase, PhaseTimeouts, PhaseWatch, Probe, ServerPhases, READ_ROUNDS,
    };
    use crate::Cut;

    const TIMEOUTS: PhaseTimeouts = PhaseTimeouts {
        header_read: Duration::from_secs(30),
        keep_alive: Duration::from_secs(60),
        first_request_grace: Duration::from_secs(1),
        closing: Duration::from_secs(3),
    };

    #[derive(Default)]
    struct FakeProbe {
        unread: Cell<bool>,
        read: Cell<u64>,
    }

    impl Probe for FakeProbe {
        fn unread_in_socket(&self) -> bool {
            self.unread.get()
        }
        fn bytes_read(&self) -> u64 {
            self.read.get()
        }
    }

    fn seen(started: u64, in_flight: usize, drain_begun: bool) -> Observed {
        Observed {
            started,
            in_flight,
            drain_begun,
            lame_duck: false,
            http2: false,
        }
    }

    fn phases(timeouts: PhaseTimeouts) -> Arc<ServerPhases> {
        Arc::new(ServerPhases {
            timeouts,
            ..ServerPhases::default()
        })
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn a_silent_client_is_dropped_at_the_header_read_timeout() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        let deadline = secs(t0, 30);
        assert_eq!(
            watch.step(secs(t0, 1), seen(0, 0, false), &probe),
            Action::Wait(Some(deadline))
        );
        // Bytes that are not a complete head change nothing.
        probe.read.set(12);
        assert_eq!(
            watch.step(secs(t0, 29), seen(0, 0, false), &probe),
            Action::Wait(Some(deadline))
        );
        assert_eq!(
            watch.step(deadline, seen(0, 0, false), &probe),
            Action::Drop(Some(Cut::HeaderTimeout))
        );
        assert_eq!(watch.cut(), Some(Cut::HeaderTimeout));
    }

    #[test]
    fn an_idle_connection_is_shut_down_at_the_keep_alive_timeout_then_dropped() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        // A request in flight: no deadline of the watch's.
        assert_eq!(
            watch.step(secs(t0, 1), seen(1, 1, false), &probe),
            Action::Wait(None)
        );
        assert_eq!(watch.phase(), Phase::Serving);
        // Done at 100 s (a long response): idle from then on.
        assert_eq!(
            watch.step(secs(t0, 100), seen(1, 0, false), &probe),
            Action::Wait(Some(secs(t0, 160)))
        );
        // A request that came and went within one poll restarts the wait.
        assert_eq!(
            watch.step(secs(t0, 150), seen(2, 0, false), &probe),
            Action::Wait(Some(secs(t0, 210)))
        );
        assert_eq!(
            watch.step(secs(t0, 210), seen(2, 0, false), &probe),
            Action::Shutdown
        );
        assert_eq!(watch.cut(), Some(Cut::IdleTimeout));
        // hyper gets `closing` to finish (HTTP/2's GOAWAY), then is dropped.
        assert_eq!(
            watch.step(secs(t0, 211), seen(2, 0, false), &probe),
            Action::Wait(Some(secs(t0, 213)))
        );
        assert_eq!(
            watch.step(secs(t0, 213), seen(2, 0, false), &probe),
            Action::Drop(Some(Cut::IdleTimeout))
        );
    }

    #[test]
    fn the_drain_before_the_first_request_gives_a_grace() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        // Nothing comes: dropped at the grace's end, no cut.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        assert_eq!(
            watch.step(secs(t0, 5), seen(0, 0, true), &probe),
            Action::Wait(Some(secs(t0, 6)))
        );
        assert_eq!(
            watch.step(secs(t0, 6), seen(0, 0, true), &probe),
            Action::Drop(None)
        );
        assert_eq!(watch.cut(), None);
        // The request comes within the grace: answered, then closed.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        assert_eq!(
            watch.step(secs(t0, 5), seen(0, 0, true), &probe),
            Action::Wait(Some(secs(t0, 6)))
        );
        assert_eq!(
            watch.step(secs(t0, 5), seen(1, 1, true), &probe),
            Action::Shutdown
        );
        assert_eq!(
            watch.step(secs(t0, 5), seen(1, 1, true), &probe),
            Action::Wait(None)
        );
        // The grace never outlasts the first-request deadline.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        assert_eq!(
            watch.step(
                secs(t0, 29) + Duration::from_millis(500),
                seen(0, 0, true),
                &probe
            ),
            Action::Wait(Some(secs(t0, 30)))
        );
    }

    #[test]
    fn the_drain_after_requests_reads_what_waits_a_bounded_number_of_rounds() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        watch.step(secs(t0, 1), seen(1, 0, false), &probe);
        assert!(matches!(watch.phase(), Phase::Idle { .. }));
        probe.unread.set(true);
        for _ in 0..READ_ROUNDS {
            assert_eq!(
                watch.step(secs(t0, 2), seen(1, 0, true), &probe),
                Action::Wait(None)
            );
        }
        assert_eq!(
            watch.step(secs(t0, 2), seen(1, 0, true), &probe),
            Action::Shutdown
        );
        // Nothing unread: shut down at once.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        probe.unread.set(false);
        watch.step(secs(t0, 1), seen(1, 1, false), &probe);
        assert_eq!(
            watch.step(secs(t0, 2), seen(1, 1, true), &probe),
            Action::Shutdown
        );
        // During the drain, the drain's deadline bounds the close.
        assert_eq!(
            watch.step(secs(t0, 3), seen(1, 1, true), &probe),
            Action::Wait(None)
        );
    }

    #[test]
    fn hyper_timeouts_are_named_by_what_arrived() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        watch.step(secs(t0, 1), seen(1, 0, false), &probe);
        assert_eq!(watch.hyper_timeout(false, &probe), Cut::IdleTimeout);
        probe.read.set(5);
        assert_eq!(watch.hyper_timeout(false, &probe), Cut::HeaderTimeout);
        assert_eq!(watch.hyper_timeout(true, &probe), Cut::PingTimeout);
    }

    #[test]
    fn the_lame_duck_sends_http2_connections_away_after_one_more_request() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let lame = |started, in_flight, http2| Observed {
            lame_duck: true,
            http2,
            ..seen(started, in_flight, false)
        };
        // HTTP/2, idle with one request served when the lame duck begins:
        // left alone until its next request, then GOAWAY.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        watch.step(secs(t0, 1), seen(1, 0, false), &probe);
        assert_eq!(
            watch.step(secs(t0, 2), lame(1, 0, true), &probe),
            Action::Wait(Some(secs(t0, 61)))
        );
        assert_eq!(
            watch.step(secs(t0, 3), lame(2, 1, true), &probe),
            Action::Shutdown
        );
        assert_eq!(
            watch.step(secs(t0, 3), lame(2, 1, true), &probe),
            Action::Wait(None)
        );
        // A fresh HTTP/2 connection during the lame duck: its first request
        // is served, then GOAWAY.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        watch.step(secs(t0, 1), lame(0, 0, true), &probe);
        assert_eq!(
            watch.step(secs(t0, 2), lame(1, 1, true), &probe),
            Action::Shutdown
        );
        // HTTP/1.1 is left to `connection: close`.
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        watch.step(secs(t0, 1), lame(0, 0, false), &probe);
        assert_eq!(
            watch.step(secs(t0, 2), lame(1, 1, false), &probe),
            Action::Wait(None)
        );
    }

    /// The watch reads the server's lame duck from the state every
    /// connection shares.
    #[test]
    fn the_lame_duck_is_the_servers() {
        let shared = phases(TIMEOUTS);
        let watch = PhaseWatch::new(Instant::now(), shared.clone());
        assert!(!watch.lame_duck());
        shared.lame_duck.fire();
        assert!(watch.lame_duck());
    }

    /// Without a lame duck, an HTTP/2 connection serves request after
    /// request: no GOAWAY.
    #[test]
    fn http2_without_a_lame_duck_serves_on() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let h2 = |started, in_flight| Observed {
            http2: true,
            ..seen(started, in_flight, false)
        };
        let mut watch = PhaseWatch::new(t0, phases(TIMEOUTS));
        assert_eq!(
            watch.step(secs(t0, 1), h2(1, 1), &probe),
            Action::Wait(None)
        );
        assert_eq!(
            watch.step(secs(t0, 2), h2(1, 0), &probe),
            Action::Wait(Some(secs(t0, 62)))
        );
        assert_eq!(
            watch.step(secs(t0, 3), h2(2, 1), &probe),
            Action::Wait(None)
        );
        assert_eq!(
            watch.step(secs(t0, 4), h2(3, 2), &probe),
            Action::Wait(None)
        );
        assert_eq!(watch.cut(), None);
    }

    #[test]
    fn saturating_timeouts_never_overflow() {
        let t0 = Instant::now();
        let probe = FakeProbe::default();
        let timeouts = PhaseTimeouts {
            header_read: Duration::MAX,
            keep_alive: Duration::MAX,
            first_request_grace: Duration::MAX,
            closing: Duration::MAX,
        };
        let mut watch = PhaseWatch::new(t0, phases(timeouts));
        assert!(matches!(
            watch.step(secs(t0, 1), seen(0, 0, true), &probe),
            Action::Wait(Some(_))
        ));
        let mut watch = PhaseWatch::new(t0, phases(timeouts));
        watch.step(secs(t0, 1), seen(1, 0, false), &probe);
        assert!(matches!(
            watch.step(secs(t0, 2), seen(1, 0, false), &probe),
            Action::Wait(Some(_))
        ));
    }
}
