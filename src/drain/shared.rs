//! What a [`ConnectionSet`](super::ConnectionSet) and its tasks share: the
//! signals, the task tracker, and the record of a drain.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::time::Instant;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

use super::drain_report::{trace_drain, DrainReport};
use super::flag::Flag;
use crate::deadline::saturating_after;
use crate::{Config, ConnectionReport, Cut};

/// A hook told every connection's report ([`ConnectionSet::on_end`](super::ConnectionSet::on_end)).
pub(crate) type EndHook = Arc<dyn Fn(&ConnectionReport) + Send + Sync>;

/// The set's end hook, if any (`Debug` says whether there is one).
#[derive(Clone, Default)]
struct OnEnd(Option<EndHook>);

impl fmt::Debug for OnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

/// The set's state, shared with every connection's task.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) config: Config,
    /// Fired when a drain begins: handlers should finish and return.
    /// Shared with every handler's [`ShutdownSignal`](crate::ShutdownSignal).
    pub(super) begun: Arc<Flag>,
    /// Fired at the deadline or on abort: handlers are dropped, streams
    /// cancelled (each stream watches a child) and closed.
    pub(super) force: Flag,
    /// When `force` fired: every forced close ends `flush_timeout` later.
    forced_at: OnceLock<Instant>,
    pub(super) tracker: TaskTracker,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Set when the first drain began.
    began_at: Option<Instant>,
    /// Connections that ended after the drain began.
    ended: Vec<ConnectionReport>,
    refused: u64,
    /// Accept errors the server feeding the set met (`note_accept_errors`).
    accept_errors: u64,
    /// Connections cut by a server's timeouts, since the set was made.
    cuts: std::collections::BTreeMap<Cut, u64>,
    /// Bounds each handshake registered from now on.
    handshake_timeout: Option<std::time::Duration>,
    /// Told every connection's report, outside the lock (`record`).
    on_end: OnEnd,
}

impl Shared {
    pub(super) fn new(config: Config) -> Self {
        Shared {
            config,
            begun: Arc::default(),
            force: Flag::default(),
            forced_at: OnceLock::new(),
            tracker: TaskTracker::new(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover from poison anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_handshake_timeout(&self, timeout: Option<std::time::Duration>) {
        self.state().handshake_timeout = timeout;
    }

    pub(super) fn set_on_end(&self, hook: EndHook) {
        self.state().on_end = OnEnd(Some(hook));
    }

    pub(super) fn handshake_timeout(&self) -> Option<std::time::Duration> {
        self.state().handshake_timeout
    }

    /// Admits a connection unless a drain has begun: its id and the token
    /// that keeps the tracker waiting for its task. The token is taken
    /// under the lock, so a drain that begins concurrently either refuses
    /// the connection or waits for its task.
    pub(super) fn admit(&self) -> Option<(u64, TaskTrackerToken)> {
        let mut state = self.state();
        if state.began_at.is_some() {
            state.refused += 1;
            return None;
        }
        state.next_id += 1;
        Some((state.next_id, self.tracker.token()))
    }

    /// Starts draining (once): refuses registrations, signals the handlers.
    /// With `force`, forces first, so that no handler wakes up to the signal
    /// without seeing the force too. Returns when the first drain began.
    pub(super) fn begin(&self, force: bool) -> Instant {
        let mut state = self.state();
        let began_at = *state.began_at.get_or_insert_with(Instant::now);
        self.tracker.close();
        if force {
            self.force();
        }
        self.begun.fire();
        began_at
    }

    /// Forces every connection: handlers are dropped, streams closed
    /// without waiting for the peers, all by `now + flush_timeout`.
    pub(super) fn force(&self) {
        self.forced_at.get_or_init(Instant::now);
        self.force.fire();
    }

    /// The instant by which a forced close must end: `flush_timeout` after
    /// the set forced its connections (after now, if it has not).
    pub(super) fn forced_close_deadline(&self) -> Instant {
        let forced_at = *self.forced_at.get().unwrap_or(&Instant::now());
        saturating_after(forced_at, self.config.flush_timeout())
    }

    /// Tells the end hook, if any, then keeps the report of a connection
    /// that ended after the drain began (the ones before are not kept, so
    /// a long-running set does not grow), and counts its cut whenever it
    /// ended.
    ///
    /// The hook runs in the connection's task, before its tracker token is
    /// dropped (the caller holds it), so a drain returns only once the hook
    /// has seen every connection it reports; and outside the state's lock,
    /// so a hook that calls back into the set (`live()`, a clone of the
    /// `Readiness`...) cannot deadlock. A panicking hook is caught: the
    /// report is still recorded and the set goes on (the panic itself was
    /// already printed by the panic hook).
    pub(super) fn record(&self, report: ConnectionReport) {
        let OnEnd(hook) = self.state().on_end.clone();
        if let Some(hook) = hook {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&report)));
        }
        let mut state = self.state();
        if let Some(cut) = report.cut {
            *state.cuts.entry(cut).or_default() += 1;
        }
        if state.began_at.is_some() {
            state.ended.push(report);
        }
    }

    /// Counts accept errors of the server that feeds the set, for the
    /// drain's report (and its `tracing` event).
    pub(super) fn note_accept_errors(&self, count: u64) {
        self.state().accept_errors += count;
    }

    /// The report of the drain that began at `began_at`, so far.
    pub(super) fn report(&self, began_at: Instant) -> DrainReport {
        let state = self.state();
        let report = DrainReport {
            connections: state.ended.clone(),
            refused: state.refused,
            elapsed: began_at.elapsed(),
            accept_errors: state.accept_errors,
            cut_counts: state.cuts.clone(),
        };
        drop(state);
        trace_drain(&report);
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cut, Ended};

    fn cut(id: u64, cut: Option<Cut>) -> ConnectionReport {
        ConnectionReport {
            cut,
            ..ConnectionReport::new(id, Ended::HandshakeTimeout)
        }
    }

    /// Cuts are counted over the set's whole life, one per report, by kind
    /// (what the server feeds the drain's report: `header-timeouts=N`),
    /// and reports before the drain began count there but are not listed.
    #[test]
    fn record_counts_every_cut_by_kind() {
        let shared = Shared::new(Config::default());
        shared.record(cut(1, Some(Cut::HeaderTimeout)));
        shared.record(cut(2, Some(Cut::HeaderTimeout)));
        let began = shared.begin(false);
        shared.record(cut(3, Some(Cut::IdleTimeout)));
        shared.record(cut(4, None));
        let report = shared.report(began);
        assert_eq!(report.cuts(Cut::HeaderTimeout), 2);
        assert_eq!(report.cuts(Cut::IdleTimeout), 1);
        assert_eq!(report.cuts(Cut::PingTimeout), 0);
        let ids: Vec<u64> = report.connections.iter().map(|c| c.id).collect();
        assert_eq!(ids, [3, 4]);
    }

    /// Accept errors add up across calls.
    #[test]
    fn accept_errors_add_up() {
        let shared = Shared::new(Config::default());
        shared.note_accept_errors(2);
        shared.note_accept_errors(3);
        let began = shared.begin(false);
        assert_eq!(shared.report(began).accept_errors, 5);
    }
}
