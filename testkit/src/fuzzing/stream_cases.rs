//! The hostile cases of issue 11 that a `stream` run can reach, named, so
//! that the corpus can be checked to reach each one (tests/fuzz_replay.rs)
//! and the fuzz target can report each to libFuzzer as a feature of its own
//! (code coverage cannot tell, say, a ticket that arrives during our close
//! from one that arrives before it, so `cmin` would drop the input).
//!
//! A case counts only when the run got through it with every check holding.

use super::stream_check::Ledger;
use super::transport::{Side, Wire};
use graceful_tls::{CloseOutcome, ReadOutcome};

/// One hostile case a run came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// Our close discarded more than 16 reads of 4 KiB from a flooding
    /// peer, so across several polls.
    FloodDiscardedAcrossPolls,
    /// A flood kept coming while the paused clock moved, and our close's
    /// wait for the peer ended by its deadline (`PeerTimeout`).
    FloodOutlastedDeadline,
    /// During our close, a read found the peer's data waiting but tokio's
    /// cooperative budget spent (so a timer polled then is `Pending` too).
    BudgetSpentInClose,
    /// Both at once, issue 11's own scenario: the flood starved the budget
    /// and the deadline passed while data kept coming; the close still
    /// ended within its bound (a deadline asked only of its `Sleep`
    /// overran here).
    FloodStarvedDeadline,
    /// Invalid TLS from the peer ended our side with a TLS error.
    GarbageFailedUs,
    /// An unencrypted close_notify from the peer ended our side with a TLS
    /// error, not with `CloseNotify`.
    ForgedCloseNotifyRejected,
    /// A read returned plaintext decrypted before a TLS failure of our read
    /// direction (the error came with the data, or before it was read),
    /// then the error: nothing received before the failure is lost.
    DataBeforeFailure,
    /// The peer's fatal alert (provoked by a corrupted record of ours)
    /// ended our side with a TLS error.
    AlertFailedUs,
    /// A KeyUpdate arrived while our close waited for the peer, and the
    /// close still ended `PeerConfirmed`.
    KeyUpdateDuringClose,
    /// The server's held-back TLS 1.3 session tickets arrived during our
    /// close, which still ended `PeerConfirmed`.
    TicketsDuringClose,
    /// The peer's close_notify, split into 1 to 4 byte pieces, was
    /// reported as its close_notify.
    SplitCloseNotifySeen,
    /// The peer wrote after its close_notify; we reported its close_notify
    /// (and none of that data: the ledger checks).
    DataAfterCloseNotifyIgnored,
    /// Half-open: our close's flush ended by its deadline (`FlushTimeout`).
    HalfOpenFlushTimeout,
    /// Half-open: our close's wait for the peer ended by its deadline.
    HalfOpenPeerTimeout,
    /// Our transport's shutdown never completed; the close returned anyway.
    StalledShutdownBounded,
    /// A `shutdown()` after a cancelled `close()` cut its wait for the peer
    /// short: `PeerTimeout`.
    CutShortWait,
    /// A `shutdown()` after a cancelled `close()` that was still flushing:
    /// the close no longer waits (`NotAwaited`).
    CutShortFlush,
    /// A forged close_notify in mid-stream (`PeerOp::Forge`, fake crypto
    /// only) was reported as the peer's close_notify, and none of what the
    /// peer's rustls wrote after it was delivered (the ledger checks).
    ForgedCloseNotifySeen,
    /// A forged fatal alert, or a KeyUpdate under TLS 1.2, ended our side
    /// with a TLS error.
    ForgedRecordFailedUs,
    /// A forged TLS 1.3 KeyUpdate (the peer's rustls never updated its
    /// keys) was absorbed, and our close still ended `PeerConfirmed`.
    ForgedKeyUpdateAbsorbed,
}

impl Case {
    /// Every case, in declaration order.
    // Built by following `after`, whose exhaustive `match` makes a new case
    // a compile error until it is placed in the chain; a wrong length fails
    // to compile too.
    pub const ALL: [Case; 20] = {
        let mut all = [Case::FloodDiscardedAcrossPolls; 20];
        let mut i = 1;
        while i < all.len() {
            all[i] = match all[i - 1].after() {
                Some(next) => next,
                None => panic!("Case::ALL is longer than the enum"),
            };
            i += 1;
        }
        assert!(
            all[all.len() - 1].after().is_none(),
            "Case::ALL misses a case"
        );
        all
    };

    /// The next case in declaration order.
    const fn after(self) -> Option<Case> {
        match self {
            Case::FloodDiscardedAcrossPolls => Some(Case::FloodOutlastedDeadline),
            Case::FloodOutlastedDeadline => Some(Case::BudgetSpentInClose),
            Case::BudgetSpentInClose => Some(Case::FloodStarvedDeadline),
            Case::FloodStarvedDeadline => Some(Case::GarbageFailedUs),
            Case::GarbageFailedUs => Some(Case::ForgedCloseNotifyRejected),
            Case::ForgedCloseNotifyRejected => Some(Case::DataBeforeFailure),
            Case::DataBeforeFailure => Some(Case::AlertFailedUs),
            Case::AlertFailedUs => Some(Case::KeyUpdateDuringClose),
            Case::KeyUpdateDuringClose => Some(Case::TicketsDuringClose),
            Case::TicketsDuringClose => Some(Case::SplitCloseNotifySeen),
            Case::SplitCloseNotifySeen => Some(Case::DataAfterCloseNotifyIgnored),
            Case::DataAfterCloseNotifyIgnored => Some(Case::HalfOpenFlushTimeout),
            Case::HalfOpenFlushTimeout => Some(Case::HalfOpenPeerTimeout),
            Case::HalfOpenPeerTimeout => Some(Case::StalledShutdownBounded),
            Case::StalledShutdownBounded => Some(Case::CutShortWait),
            Case::CutShortWait => Some(Case::CutShortFlush),
            Case::CutShortFlush => Some(Case::ForgedCloseNotifySeen),
            Case::ForgedCloseNotifySeen => Some(Case::ForgedRecordFailedUs),
            Case::ForgedRecordFailedUs => Some(Case::ForgedKeyUpdateAbsorbed),
            Case::ForgedKeyUpdateAbsorbed => None,
        }
    }

    /// Whether a run over real crypto can reach it: forged records need
    /// the fake crypto's predictable tags.
    pub const fn needs_fake_crypto(self) -> bool {
        matches!(
            self,
            Case::ForgedCloseNotifySeen
                | Case::ForgedRecordFailedUs
                | Case::ForgedKeyUpdateAbsorbed
        )
    }

    /// Its position in [`Case::ALL`] (the declaration order, which `ALL`
    /// follows: the test below checks it).
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The cases a finished run reached.
pub(super) fn reached(l: &Ledger, wire: &Wire) -> Vec<Case> {
    let close = l.ours_close.and_then(Result::ok);
    let saw_close_notify = l.ours_terminal == Some(Ok(ReadOutcome::CloseNotify))
        || matches!(
            close,
            Some(
                CloseOutcome::PeerConfirmed
                    | CloseOutcome::PeerClosedFirst
                    | CloseOutcome::PeerClosedAndLeft
            )
        );
    let failed_tls = l.ours_failed_tls.get();
    let confirmed = close == Some(CloseOutcome::PeerConfirmed);
    let silent = wire.is_silent();
    let starved = wire.facts(Side::Peer).starved_in_close;
    let flood_deadline = l.clock_moved_in_close && close == Some(CloseOutcome::PeerTimeout);
    let facts = [
        (
            Case::FloodDiscardedAcrossPolls,
            l.close_discarded > 16 * 4096,
        ),
        (Case::FloodOutlastedDeadline, flood_deadline),
        (Case::BudgetSpentInClose, starved),
        (Case::FloodStarvedDeadline, starved && flood_deadline),
        (
            Case::GarbageFailedUs,
            l.peer_garbage_at.is_some() && failed_tls,
        ),
        (
            Case::ForgedCloseNotifyRejected,
            l.forged_close_notify && failed_tls,
        ),
        (Case::DataBeforeFailure, l.data_before_failure && failed_tls),
        (Case::AlertFailedUs, l.peer_alert_sent && failed_tls),
        (
            Case::KeyUpdateDuringClose,
            l.key_update_in_close && confirmed,
        ),
        (Case::TicketsDuringClose, l.tickets_in_close && confirmed),
        (Case::SplitCloseNotifySeen, l.split_cn && saw_close_notify),
        (
            Case::DataAfterCloseNotifyIgnored,
            l.peer_tx_after_cn > 0 && saw_close_notify,
        ),
        (
            Case::HalfOpenFlushTimeout,
            silent && close == Some(CloseOutcome::FlushTimeout),
        ),
        (
            Case::HalfOpenPeerTimeout,
            silent && close == Some(CloseOutcome::PeerTimeout),
        ),
        (
            Case::StalledShutdownBounded,
            wire.facts(Side::Ours).shutdown_stalled && close.is_some(),
        ),
        (
            Case::CutShortWait,
            l.cut_short_waiting && close == Some(CloseOutcome::PeerTimeout),
        ),
        (
            Case::CutShortFlush,
            l.cut_short_flushing && close == Some(CloseOutcome::NotAwaited),
        ),
        (
            Case::ForgedCloseNotifySeen,
            l.forged_cn_valid && saw_close_notify,
        ),
        (Case::ForgedRecordFailedUs, l.forged_invalid && failed_tls),
        (
            Case::ForgedKeyUpdateAbsorbed,
            l.forged_key_update && confirmed,
        ),
    ];
    facts
        .into_iter()
        .filter_map(|(case, reached)| reached.then_some(case))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Case;

    /// `Case::ALL` lists every case once, each at its `index()`.
    #[test]
    fn all_lists_every_case_at_its_index() {
        for (i, case) in Case::ALL.iter().enumerate() {
            assert_eq!(case.index(), i, "{case:?}");
        }
    }
}
