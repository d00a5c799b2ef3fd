//! The `served` harness' checks: a finished run (the server's report and
//! `on_end` reports, what it accepted when, and every client's log)
//! against the phase table of `graceful_tls::server`'s docs. Each failed
//! check panics, naming the client and what it saw; a run that holds
//! returns the table's cells it reached ([`Cell`]).
//!
//! Times are the paused clock's, exact to its 1 ms tick: clients act at
//! even milliseconds, the drain begins at an odd one, so "before the
//! drain" is never a tie. [`SLACK`] is the bounds' only allowance.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use graceful_tls::{CloseOutcome, ConnectionReport, Cut, DrainReport, Ended, Error};
use tokio::time::Instant;

use super::served_cells::Cell;
use super::served_client::{ClientLog, End, Left, Phase};
use super::served_listener::client_of;
use super::served_vocab::{ms, Connect, ServerSetup};

/// What a bound allows beyond its exact time: the timer's tick, and the
/// connection's own alarm rounding up to it.
pub(crate) const SLACK: Duration = Duration::from_millis(3);

/// A finished run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) setup: ServerSetup,
    pub(crate) start: Instant,
    pub(crate) drain_began: Instant,
    pub(crate) server_ended: Instant,
    pub(crate) report: DrainReport,
    /// Every `on_end` report, with when it came.
    pub(crate) ends: Vec<(Instant, ConnectionReport)>,
    /// Which client's connection the server accepted, when.
    pub(crate) accepted: Vec<(usize, Instant)>,
    pub(crate) clients: Vec<ClientLog>,
}

impl Run {
    fn at(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.start)
    }

    pub(crate) fn trace(&self) {
        eprintln!(
            "drain at {:?}, server ended at {:?}: {}",
            self.at(self.drain_began),
            self.at(self.server_ended),
            self.report
        );
        for (at, end) in &self.ends {
            eprintln!("  end at {:?}: {end}", self.at(*at));
        }
        for (i, client) in self.clients.iter().enumerate() {
            let phases: Vec<_> = client
                .phases
                .iter()
                .map(|(t, p)| (self.at(*t), *p))
                .collect();
            eprintln!(
                "  client {i}: handshake {:?} phases {phases:?} requests {:?} left {:?} server end {:?}",
                client.handshake.map(|t| self.at(t)),
                client
                    .requests
                    .iter()
                    .map(|r| (self.at(r.at), r.slow, r.answered.map(|(t, ok)| (self.at(t), ok))))
                    .collect::<Vec<_>>(),
                client.left.map(|(t, how)| (self.at(t), how)),
                client.server_end.map(|(t, end)| (self.at(t), end)),
            );
        }
    }
}

/// Checks `run`; returns the cells it reached.
pub(crate) fn check(run: &Run) -> Vec<Cell> {
    let setup = &run.setup;
    let drain = run.drain_began;
    let deadline = drain + setup.drain();
    let mut cells = BTreeSet::new();

    // The serve future ends within the drain's bound.
    assert!(
        run.server_ended <= deadline + setup.flush() + SLACK,
        "serve ended {:?} after the drain began (drain {:?}, flush {:?})",
        run.server_ended - drain,
        setup.drain(),
        setup.flush()
    );

    // Every accepted connection is reported once, by `on_end`; the drain's
    // report lists those that were live when it began.
    let mut by_client: HashMap<usize, (Instant, &ConnectionReport)> = HashMap::new();
    let mut ids = BTreeSet::new();
    for (at, end) in &run.ends {
        assert!(ids.insert(end.id), "connection {} reported twice", end.id);
        let client = client_of(end.peer.expect("every connection has its peer"));
        assert!(
            by_client.insert(client, (*at, end)).is_none(),
            "client {client} reported twice"
        );
    }
    let accepted: HashMap<usize, Instant> = run.accepted.iter().copied().collect();
    assert_eq!(
        accepted.len(),
        run.accepted.len(),
        "a client accepted twice"
    );
    for client in accepted.keys() {
        assert!(
            by_client.contains_key(client),
            "client {client} accepted, never reported"
        );
    }
    assert_eq!(
        by_client.len(),
        accepted.len(),
        "reports of unaccepted clients"
    );
    let mut in_report = BTreeSet::new();
    for connection in &run.report.connections {
        assert!(
            in_report.insert(connection.id),
            "connection {} twice in the drain's report",
            connection.id
        );
        let (at, _) = run
            .ends
            .iter()
            .find(|(_, end)| end.id == connection.id)
            .unwrap_or_else(|| panic!("connection {} in the report only", connection.id));
        assert!(
            *at >= drain,
            "connection {} ended before the drain, yet is in its report",
            connection.id
        );
    }
    for (at, end) in &run.ends {
        if *at > drain {
            assert!(
                in_report.contains(&end.id),
                "connection {} ended during the drain, missing from its report: {}",
                end.id,
                run.report
            );
        }
    }

    for (index, log) in run.clients.iter().enumerate() {
        let Some(&accepted_at) = accepted.get(&index) else {
            assert!(
                log.handshake.is_none(),
                "client {index}: a handshake, never accepted"
            );
            continue;
        };
        let (ended_at, report) = by_client[&index];
        let connected = log.connected.expect("accepted, so connected");
        if accepted_at > connected {
            cells.insert(Cell::QueuedByLimit);
        }
        let client = Client {
            index,
            log,
            report,
            ended_at,
            accepted_at,
            run,
            deadline,
        };
        client.check(&mut cells);
    }
    cells.into_iter().collect()
}

struct Client<'a> {
    index: usize,
    log: &'a ClientLog,
    report: &'a ConnectionReport,
    ended_at: Instant,
    accepted_at: Instant,
    run: &'a Run,
    deadline: Instant,
}

impl Client<'_> {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "client {}: {what}\n  report: {}\n  log: {:?}",
            self.index, self.report, self.log
        )
    }

    fn check(&self, cells: &mut BTreeSet<Cell>) {
        let setup = &self.run.setup;
        let report = self.report;
        match &report.ended {
            Ended::HandshakeTimeout => {
                if !matches!(
                    self.log.script.connect,
                    Connect::Silent | Connect::LateHandshake(_) | Connect::Leave(..)
                ) {
                    self.fail("handshake timeout, yet the client handshook at once");
                }
                if self.ended_at > self.accepted_at + setup.handshake() + SLACK {
                    self.fail("handshake timeout late");
                }
                cells.insert(Cell::HandshakeTimeout);
                return;
            }
            Ended::HandshakeFailed(_) => {
                if self.log.left.is_none() {
                    self.fail("handshake failed, yet the client did not leave");
                }
                cells.insert(Cell::HandshakePeerLeft);
                return;
            }
            Ended::HandshakeCancelled => {
                if !report.forced || self.ended_at + ms(1) < self.deadline {
                    self.fail("handshake cancelled before the deadline");
                }
                if self.ended_at > self.deadline + SLACK {
                    self.fail("handshake cancelled late");
                }
                cells.insert(Cell::HandshakeCutAtDeadline);
                return;
            }
            _ => {}
        }
        let Some(handshake) = self.log.handshake else {
            self.fail("a TLS session on the server, none on the client");
        };
        if handshake > self.run.drain_began {
            cells.insert(Cell::HandshakeDuringDrain);
        }
        if report.forced && self.ended_at + ms(1) < self.deadline {
            self.fail("forced before the drain's deadline");
        }
        self.check_end(handshake, cells);
        self.check_requests(handshake, cells);
        self.check_outcome(cells);
    }

    /// A client still there gets close_notify, within its phase's bound.
    fn check_end(&self, handshake: Instant, cells: &mut BTreeSet<Cell>) {
        let setup = &self.run.setup;
        let log = self.log;
        let drain = self.run.drain_began;
        if log.reset.is_some() {
            return;
        }
        let Some((seen, End::CloseNotify)) = log.server_end else {
            self.fail("a client still there got no close_notify");
        };
        if seen > self.deadline + setup.flush() + SLACK {
            self.fail("close_notify after the drain's deadline + flush");
        }
        let slowest = log
            .requests
            .iter()
            .map(|r| r.slow)
            .max()
            .unwrap_or_default();
        let last = log.last_activity.unwrap_or(handshake);
        let quiet = setup.header().max(setup.idle()) + slowest + setup.flush();
        // Before the drain (which may hold it to its deadline: an HTTP/2
        // client that answers no PING keeps hyper's GOAWAY waiting).
        if last + quiet < drain && seen > last + quiet + SLACK {
            self.fail("close_notify later than the last activity + the longest phase");
        }
        let left_after = |t: Instant| log.left.is_none_or(|(l, _)| l > t);
        let sent_nothing = log.requests.is_empty()
            && !log
                .phases
                .iter()
                .any(|(_, p)| matches!(p, Phase::ReadingHead { .. }));
        let header_at = handshake + setup.header();
        // Awaiting the first request, nothing arrives.
        if sent_nothing && header_at < drain && left_after(header_at) {
            if seen + SLACK < header_at || seen > header_at + SLACK {
                self.fail("a silent client not cut at the header read timeout");
            }
            if self.report.cut != Some(Cut::HeaderTimeout) {
                self.fail("a silent client's cut is not a header-timeout");
            }
            cells.insert(Cell::FirstSilentCut);
        }
        // Idle after its responses, nothing more arrives.
        let all_answered = log.requests.iter().all(|r| r.answered.is_some());
        let last_answer = log
            .requests
            .iter()
            .filter_map(|r| r.answered)
            .map(|(t, _)| t)
            .max();
        let idle_since = last_answer.filter(|t| all_answered && log.last_activity == Some(*t));
        let quiet_after = log.phases.last().is_some_and(|(_, p)| *p == Phase::Idle);
        // An HTTP/2 connection whose last exchange came after the server's
        // GOAWAY was already closing (its idle timer had fired while the
        // client held a partial frame back, found by the campaign of issue
        // 25): it ends once that exchange does, checked below as a close
        // after a GOAWAY, not as an idle connection.
        let closing_before = log.h2 && log.goaway.zip(idle_since).is_some_and(|(g, t)| g <= t);
        if let Some(since) = idle_since.filter(|_| quiet_after && !closing_before) {
            let (from, to) = if log.h2 {
                (since + setup.idle(), since + setup.idle() + setup.flush())
            } else {
                let at = since + setup.idle().min(setup.header());
                (at, at)
            };
            if from < drain && left_after(from) {
                if seen + SLACK < from || seen > to + SLACK {
                    self.fail("an idle connection not closed at the keep-alive timeout");
                }
                cells.insert(Cell::IdleTimeout);
            }
        }
        if let (true, Some(goaway), Some(since)) = (closing_before, log.goaway, idle_since) {
            // Not later than the exchange's end + the close's flush.
            if since < drain
                && left_after(since)
                && seen > since.max(goaway) + setup.flush() + SLACK
            {
                self.fail(
                    "a connection closing after its GOAWAY not closed after its last exchange",
                );
            }
        }
        match log.phase_before(drain) {
            Some(Phase::Idle) if left_after(drain) && !log.h2 && seen >= drain => {
                if seen > drain + SLACK {
                    self.fail("an idle HTTP/1.1 connection not closed when the drain began");
                }
                cells.insert(Cell::IdleDrain);
            }
            Some(Phase::AwaitingFirst) if left_after(drain) && seen >= drain => {
                let sent_in_grace = log.requests.iter().any(|r| r.at > drain)
                    || log.phases.iter().any(|(t, _)| *t > drain);
                if !sent_in_grace {
                    let bound = drain + setup.grace().min(setup.drain());
                    if seen > bound.min(header_at) + SLACK {
                        self.fail("a silent client kept past the first-request grace");
                    }
                    cells.insert(if self.report.forced {
                        Cell::FirstCutAtDeadline
                    } else {
                        Cell::FirstGraceSilent
                    });
                }
            }
            Some(Phase::ReadingHead { first: false }) if left_after(drain) => {
                cells.insert(Cell::HeadDrain);
            }
            _ => {}
        }
        if self.report.cut == Some(Cut::HeaderTimeout)
            && log.phase_before(seen + ms(1)) == Some(Phase::ReadingHead { first: false })
        {
            cells.insert(Cell::HeadCut);
        }
        if self.report.forced && log.phase_before(self.deadline) == Some(Phase::Serving) {
            cells.insert(Cell::ServingCutAtDeadline);
        }
    }

    /// Every request that reached the server while it still took requests
    /// on this connection, and whose answer was due before the drain's
    /// deadline, got a complete answer.
    fn check_requests(&self, handshake: Instant, cells: &mut BTreeSet<Cell>) {
        let setup = &self.run.setup;
        let log = self.log;
        let drain = self.run.drain_began;
        let tick = ms(1);
        let first_phase = log.phase_before(drain);
        for (k, request) in log.requests.iter().enumerate() {
            let earlier = &log.requests[..k];
            let before_drain = request.at < drain;
            let in_grace = request.first
                && matches!(
                    first_phase,
                    Some(
                        Phase::Connecting
                            | Phase::AwaitingFirst
                            | Phase::ReadingHead { first: true }
                    )
                )
                && request.at + tick < drain + setup.grace().min(setup.drain());
            let timer_ok = if request.first {
                request.at + tick < handshake + setup.header()
            } else {
                let busy = earlier
                    .iter()
                    .any(|r| r.answered.is_none_or(|(t, _)| t > request.at));
                let last_done = earlier
                    .iter()
                    .filter_map(|r| r.answered)
                    .map(|(t, _)| t)
                    .max();
                let limit = if log.h2 {
                    setup.idle()
                } else {
                    setup.idle().min(setup.header())
                };
                busy || last_done.is_some_and(|done| request.at + tick < done + limit)
            };
            let before_goaway = log.goaway.is_none_or(|g| request.at < g);
            let due = request.at + request.slow;
            let due_ok = due + tick < self.deadline || (!before_drain && !in_grace);
            let stayed = log.left.is_none_or(|(t, _)| t > due);
            let must = (before_drain || in_grace) && timer_ok && before_goaway && due_ok && stayed;
            if !must {
                continue;
            }
            if due + tick >= self.deadline {
                continue;
            }
            match request.answered {
                Some((_, true)) => {}
                Some((_, false)) => self.fail(&format!("request {k} answered with an error")),
                None => self.fail(&format!("request {k} reached the server, never answered")),
            }
            let sent_in_pieces =
                log.phases.iter().any(|(t, p)| {
                    matches!(p, Phase::ReadingHead { first: false }) && *t <= request.at
                }) && !request.first;
            cells.insert(if request.first {
                if before_drain {
                    Cell::FirstRequestServed
                } else {
                    Cell::FirstGraceAnswered
                }
            } else if sent_in_pieces {
                Cell::HeadCompleted
            } else {
                Cell::IdleRequestServed
            });
            if before_drain && request.answered.is_some_and(|(t, _)| t > drain) {
                cells.insert(Cell::ServingDrainCompleted);
            }
            if log.h2 {
                cells.insert(Cell::Http2Served);
            }
        }
    }

    /// The outcome agrees with what the client did.
    fn check_outcome(&self, cells: &mut BTreeSet<Cell>) {
        let setup = &self.run.setup;
        let log = self.log;
        let ended = &self.report.ended;
        let server_end = log.server_end.map(|(t, _)| t);
        // The client reads all it can before each action: one at the same tick
        // as the end it then saw came first.
        let first = |t: Instant| server_end.is_none_or(|s| t <= s);
        if let Some(reset) = log.reset.filter(|t| first(*t)) {
            let ok = matches!(
                ended,
                Ended::Failed(Error::Transport(_)) | Ended::Closed(CloseOutcome::PeerClosedAndLeft)
            );
            if !ok {
                self.fail("a reset client's connection ended otherwise");
            }
            self.left_in(reset, cells);
        } else if let Some((t, how)) = log.left.filter(|(t, _)| first(*t)) {
            let ok = match how {
                Left::CloseNotify => matches!(
                    ended,
                    Ended::Closed(CloseOutcome::PeerClosedFirst | CloseOutcome::PeerConfirmed)
                ),
                Left::Fin => matches!(ended, Ended::Closed(CloseOutcome::PeerEof)),
                Left::Reset => true,
            };
            if !ok {
                self.fail(&format!(
                    "a client that left by {how:?} first: {}",
                    ended.as_str()
                ));
            }
            self.left_in(t, cells);
        } else if log.server_end.is_some() && log.reset.is_none() {
            if ended.close_outcome().is_none() {
                self.fail("a well-behaved client's connection failed");
            }
            if setup.peer() > Duration::ZERO && !self.report.forced {
                let expected = if log.answered_close {
                    CloseOutcome::PeerConfirmed
                } else {
                    CloseOutcome::PeerTimeout
                };
                if ended.close_outcome() != Some(expected) {
                    self.fail(&format!("closed first by the server: expected {expected}"));
                }
                cells.insert(if log.answered_close {
                    Cell::ClosingPeerConfirmed
                } else {
                    Cell::ClosingPeerTimeout
                });
            }
        }
        if ended.close_outcome() == Some(CloseOutcome::PeerClosedAndLeft)
            || self.report.outcome() == "client-left-complete"
        {
            cells.insert(Cell::ClosingPeerLeft);
        }
    }

    /// The cell of the client's leaving, by the phase it left in.
    fn left_in(&self, at: Instant, cells: &mut BTreeSet<Cell>) {
        match self.log.phase_before(at + ms(1)) {
            Some(Phase::AwaitingFirst) | Some(Phase::ReadingHead { first: true }) => {
                cells.insert(Cell::FirstPeerLeft);
            }
            Some(Phase::ReadingHead { first: false }) => {
                cells.insert(Cell::HeadPeerLeft);
            }
            Some(Phase::Serving) => {
                cells.insert(Cell::ServingPeerLeft);
            }
            Some(Phase::Idle) => {
                cells.insert(Cell::IdlePeerLeft);
            }
            _ => {}
        }
    }
}
