//! The stream harness' ledger: what each side really did, and the checks
//! that what the other side reports matches it.

use std::borrow::Cow;
use std::cell::Cell;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use crate::fuzzing::transport::{PipeFacts, Side, Wire};
use graceful_tls::machine::{Machine, WriteState};
use graceful_tls::{CloseOutcome, Error, ReadOutcome, Stats};

/// An error, reduced to what the checks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Tls,
    Transport(io::ErrorKind),
    Closed,
    FlushTimeout,
    /// A read outcome carried through `io::Error` or a foreign error.
    Other(io::ErrorKind),
}

thread_local! {
    /// The last error a [`Failure`] was made from, with its source chain,
    /// for the message of a check that fails on it (issue 25's campaign met
    /// a TLS failure it could not replay; the next one says which).
    static LAST_ERROR: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn last_error() -> String {
    LAST_ERROR.with(|last| last.borrow().clone())
}

impl Failure {
    pub(crate) fn of(error: &Error) -> Self {
        LAST_ERROR.with(|last| {
            let mut text = format!("{error:?}");
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(" <- {cause:?}"));
                source = cause.source();
            }
            *last.borrow_mut() = text;
        });
        match error {
            Error::Tls(_) => Failure::Tls,
            Error::Transport(e) => Failure::Transport(e.kind()),
            Error::Closed => Failure::Closed,
            Error::FlushTimeout => Failure::FlushTimeout,
            other => Failure::Other(other.io_kind()),
        }
    }

    pub(crate) fn of_io(error: &io::Error) -> Self {
        Error::from_io(error).map_or(Failure::Other(error.kind()), Failure::of)
    }
}

/// How the bare peer's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerSaw {
    CloseNotify,
    Truncated,
    Error(io::ErrorKind),
}

/// Everything both sides did, in the order they did it.
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) wire: Wire,
    pub(crate) peer_ms: u64,
    /// Plaintext bytes our writes accepted (byte `i` is `pattern(OURS, i)`).
    pub(crate) ours_tx: usize,
    /// A write that failed part-way: rustls may have sent some of it.
    pub(crate) ours_tx_maybe: usize,
    pub(crate) ours_terminal: Option<Result<ReadOutcome, Failure>>,
    pub(crate) ours_close: Option<Result<CloseOutcome, Failure>>,
    pub(crate) cancelled: bool,
    /// Set when close(), shutdown() or drop first ran.
    pub(crate) close_began: bool,
    /// A write met the transport's failure after the peer's close_notify:
    /// the machine ended the close (`PeerClosedAndLeft`) without one.
    pub(crate) peer_left: bool,
    /// A `close()` that waits for the peer (a non-zero peer timeout) ran:
    /// its wait reads the peer's end, so a read that reported `Cancelled`
    /// may report that end afterwards.
    pub(crate) close_awaited_peer: bool,
    pub(crate) failed_before_close: bool,
    pub(crate) shutdown_called: bool,
    pub(crate) dropped_failed: Option<bool>,
    /// The peer's close_notify was in the pipe when our close began.
    pub(crate) peer_cn_flushed_at_close: bool,
    /// Plaintext bytes the peer's writes accepted before its close_notify
    /// (byte `i` is `pattern(PEER, i)`).
    pub(crate) peer_tx: usize,
    pub(crate) peer_tx_maybe: usize,
    pub(crate) peer_tx_after_cn: u64,
    pub(crate) peer_rx: usize,
    pub(crate) peer_end: Option<PeerSaw>,
    pub(crate) peer_cn_queued: bool,
    pub(crate) peer_cn_flushed: bool,
    /// The peer's close_notify left rustls but not all of it reached the
    /// pipe (a split close_notify over a failed transport).
    pub(crate) peer_cn_lost: bool,
    /// A no-wait close (`shutdown()`, drop) arrived while a `close()` planned
    /// or began its wait for the peer, and cut it short.
    pub(crate) cut_short: bool,
    /// ... while it was still flushing (`Flushing { await_peer: true }`).
    pub(crate) cut_short_flushing: bool,
    /// ... while it waited (`AwaitingPeer`).
    pub(crate) cut_short_waiting: bool,
    /// Our side reported a TLS error (read, write, flush, close, shutdown).
    pub(crate) ours_failed_tls: Cell<bool>,
    /// Plaintext our closes discarded while waiting for the peer.
    pub(crate) close_discarded: u64,
    /// The garbage was an unencrypted close_notify.
    pub(crate) forged_close_notify: bool,
    /// The peer sent a KeyUpdate while our close was under way.
    pub(crate) key_update_in_close: bool,
    /// Held-back tickets were released while our close was under way.
    pub(crate) tickets_in_close: bool,
    /// The peer's close_notify went out split into pieces, all of them.
    pub(crate) split_cn: bool,
    /// The largest single step a flood moved the paused clock by.
    pub(crate) max_jump: Duration,
    /// A flood moved the clock after our close began: time passed while
    /// data kept coming, so the wait for the peer may time out before it
    /// reaches a close_notify that was already in the pipe.
    pub(crate) clock_moved_in_close: bool,
    /// Invalid TLS was injected into the peer's direction when it had
    /// written this many plaintext bytes (at most): nothing after that can
    /// be decrypted.
    pub(crate) peer_garbage_at: Option<usize>,
    /// ... and before its close_notify was queued.
    pub(crate) garbage_before_cn: bool,
    /// The peer's rustls failed on what it read and wrote all it had (its
    /// fatal alert) into the pipe.
    pub(crate) peer_alert_sent: bool,
    /// ... after queuing its close_notify.
    pub(crate) peer_cn_before_alert: bool,
    /// A read returned `Data` although our read direction had failed (or
    /// failed in that read): plaintext decrypted before the failure.
    pub(crate) data_before_failure: bool,
    /// KeyUpdates the peer sent.
    pub(crate) key_updates: u32,
    /// The run is over the fake crypto, whose records can be forged.
    pub(crate) fake_crypto: bool,
    /// A forged, valid close_notify went on the wire (`PeerOp::Forge`).
    pub(crate) forged_cn_valid: bool,
    /// A forged fatal alert, or a TLS 1.2 KeyUpdate, went on the wire.
    pub(crate) forged_invalid: bool,
    /// A forged TLS 1.3 KeyUpdate went on the wire.
    pub(crate) forged_key_update: bool,
}

/// Salt of the bytes we write.
pub(crate) const OURS: u8 = 0x5a;
/// Salt of the bytes the peer writes.
pub(crate) const PEER: u8 = 0xa5;

/// Byte `pos` of a side's plaintext: any loss, duplication or reordering
/// shows as a mismatch.
pub(crate) fn pattern(salt: u8, pos: usize) -> u8 {
    let x = (pos as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ salt
}

/// `len` bytes of a side's plaintext from `pos` on, borrowed from the
/// precomputed table where it reaches (no allocation, no copy).
pub(crate) fn pattern_bytes(salt: u8, pos: usize, len: usize) -> Cow<'static, [u8]> {
    match precomputed(salt, pos, len) {
        Some(bytes) => Cow::Borrowed(bytes),
        None => Cow::Owned((pos..pos + len).map(|i| pattern(salt, i)).collect()),
    }
}

fn matches_pattern(salt: u8, pos: usize, data: &[u8]) -> bool {
    match precomputed(salt, pos, data.len()) {
        Some(bytes) => data == bytes,
        None => data
            .iter()
            .enumerate()
            .all(|(i, b)| *b == pattern(salt, pos + i)),
    }
}

/// The first [`PRECOMPUTED`] bytes of each side's plaintext, computed once
/// per process: a flood writes hundreds of KiB a run, and byte by byte the
/// pattern took a third of the seeded replay's time in a debug build.
const PRECOMPUTED: usize = 1 << 20;

fn precomputed(salt: u8, pos: usize, len: usize) -> Option<&'static [u8]> {
    static TABLES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let table = |salt| (0..PRECOMPUTED).map(|i| pattern(salt, i)).collect();
        [table(OURS), table(PEER)]
    });
    let table = match salt {
        OURS => &tables[0],
        PEER => &tables[1],
        _ => return None,
    };
    table.get(pos..pos.checked_add(len)?)
}

fn faulted(wire: &Wire) -> bool {
    wire.facts(Side::Ours).faulted || wire.facts(Side::Peer).faulted
}

impl Ledger {
    pub(crate) fn new(wire: Wire, peer_ms: u64) -> Self {
        Ledger {
            wire,
            peer_ms,
            ours_tx: 0,
            ours_tx_maybe: 0,
            ours_terminal: None,
            ours_close: None,
            cancelled: false,
            close_began: false,
            peer_left: false,
            close_awaited_peer: false,
            failed_before_close: false,
            shutdown_called: false,
            dropped_failed: None,
            peer_cn_flushed_at_close: false,
            peer_tx: 0,
            peer_tx_maybe: 0,
            peer_tx_after_cn: 0,
            peer_rx: 0,
            peer_end: None,
            peer_cn_queued: false,
            peer_cn_flushed: false,
            peer_cn_lost: false,
            cut_short: false,
            cut_short_flushing: false,
            cut_short_waiting: false,
            ours_failed_tls: Cell::new(false),
            close_discarded: 0,
            forged_close_notify: false,
            key_update_in_close: false,
            tickets_in_close: false,
            split_cn: false,
            max_jump: Duration::ZERO,
            clock_moved_in_close: false,
            peer_garbage_at: None,
            fake_crypto: false,
            forged_cn_valid: false,
            forged_invalid: false,
            forged_key_update: false,
            garbage_before_cn: false,
            peer_alert_sent: false,
            peer_cn_before_alert: false,
            data_before_failure: false,
            key_updates: 0,
        }
    }

    /// Direction peer → ours.
    fn to_ours(&self) -> PipeFacts {
        self.wire.facts(Side::Peer)
    }

    /// Direction ours → peer.
    fn to_peer(&self) -> PipeFacts {
        self.wire.facts(Side::Ours)
    }

    /// Our close began and has not returned yet (nor been dropped).
    pub(crate) fn closing(&self) -> bool {
        self.close_began && self.ours_close.is_none() && self.dropped_failed.is_none()
    }

    /// A `close()` (not `shutdown()`, not a drop) begins or resumes.
    pub(crate) fn begin_await_close(&mut self, state: Machine) {
        self.begin_close(state);
        self.close_awaited_peer |= self.peer_ms > 0;
    }

    pub(crate) fn begin_close(&mut self, state: Machine) {
        if !self.close_began {
            self.close_began = true;
            self.wire.mark_closing();
            self.failed_before_close = state.write_state() == WriteState::Failed;
            self.peer_cn_flushed_at_close = self.peer_cn_flushed;
        }
    }

    /// A close that does not wait for the peer (`shutdown()`, a drop)
    /// starts while our write direction is in `write`: it cuts short a wait
    /// for the peer that a cancelled `close()` planned (`PeerTimeout`
    /// becomes possible with the peer's close_notify in the pipe, and
    /// `NotAwaited` from a `close()`).
    pub(crate) fn note_no_wait_close(&mut self, write: WriteState) {
        match write {
            WriteState::Flushing { await_peer: true } => self.cut_short_flushing = true,
            WriteState::AwaitingPeer => self.cut_short_waiting = true,
            _ => return,
        }
        self.cut_short = true;
    }

    pub(crate) fn ours_wrote(&mut self, n: usize) {
        assert!(!self.close_began, "a write was accepted after close began");
        self.ours_tx += n;
    }

    pub(crate) fn ours_write_failed(&mut self, failure: Failure, rest: usize) {
        self.check_failure(failure, "write");
        if failure == Failure::Closed {
            assert!(
                self.close_began || self.peer_left,
                "write refused as Closed before any close"
            );
        } else {
            self.ours_tx_maybe = self.ours_tx_maybe.max(rest);
        }
    }

    /// Any TLS or transport failure of ours needs an injected fault.
    pub(crate) fn check_failure(&self, failure: Failure, what: &str) {
        if failure == Failure::Tls {
            self.ours_failed_tls.set(true);
        }
        if matches!(failure, Failure::Tls | Failure::Transport(_)) {
            assert!(
                faulted(&self.wire),
                "{what} failed with {failure:?}, nothing injected (the error: {})",
                last_error()
            );
        }
    }

    /// Checks one `read_outcome` result; `data` is what it filled, `before`
    /// the stats before it, `failed_before` whether our read direction had
    /// already failed (`ReadState::Failed`) and `reads_before` the
    /// transport reads of the peer's direction before it. Returns whether
    /// the outcome was terminal.
    ///
    /// A read whose TLS failed returns the plaintext decrypted before the
    /// failure first, as `Data` (checked as any `Data`: in order, and from
    /// before any garbage), then the error; once the read direction failed,
    /// reads do no transport I/O.
    pub(crate) fn ours_read(
        &mut self,
        result: Result<ReadOutcome, Failure>,
        data: &[u8],
        before: Stats,
        failed_before: bool,
        reads_before: u64,
    ) -> bool {
        let pos = (before.read() + before.discarded()) as usize;
        self.check_moves_forward(result);
        if failed_before {
            assert_eq!(
                self.to_ours().reads,
                reads_before,
                "a read after the failure did transport I/O ({result:?})"
            );
            assert!(
                matches!(result, Ok(ReadOutcome::Data(_)) | Err(_)),
                "a read after the failure reported {result:?}"
            );
        }
        match result {
            Ok(ReadOutcome::Data(n)) => {
                assert!(n > 0 && n == data.len(), "Data({n}) filled {}", data.len());
                let sent = self.peer_tx + self.peer_tx_maybe;
                assert!(pos + n <= sent, "delivered {} of {sent} bytes", pos + n);
                assert!(
                    matches_pattern(PEER, pos, data),
                    "delivered bytes {pos}..{} differ from what the peer wrote",
                    pos + n
                );
                if let Some(garbage) = self.peer_garbage_at {
                    assert!(
                        pos + n <= garbage,
                        "delivered bytes {pos}..{} from past the garbage at {garbage}",
                        pos + n
                    );
                }
                return false;
            }
            Ok(ReadOutcome::CloseNotify) => self.check_peer_closed(pos, "read CloseNotify"),
            Ok(ReadOutcome::AbruptEof) => self.check_peer_eof("read AbruptEof"),
            Ok(ReadOutcome::Cancelled) => assert!(self.cancelled, "Cancelled without cancel"),
            Err(failure) => self.check_failure(failure, "read"),
        }
        self.ours_terminal = Some(result);
        true
    }

    /// A read's outcome only moves forward (the crate-wide rule,
    /// `ReadOutcome`'s docs): `Data` until a terminal outcome; once a
    /// terminal outcome (`CloseNotify`, `AbruptEof`, `Cancelled`, an error)
    /// is reported it repeats on every later read, except that `Cancelled`
    /// may later become `CloseNotify` or `AbruptEof` once `close()` has read
    /// the peer's end, and any outcome may become an error. An error, once
    /// reported, repeats as it was (it is sticky). `result` is checked
    /// against the last terminal outcome reported.
    fn check_moves_forward(&self, result: Result<ReadOutcome, Failure>) {
        let Some(last) = self.ours_terminal else {
            return;
        };
        let allowed = match (last, result) {
            (Err(first), now) => now == Err(first),
            (Ok(_), Err(_)) => true,
            (Ok(ReadOutcome::Cancelled), Ok(ReadOutcome::CloseNotify | ReadOutcome::AbruptEof)) => {
                self.close_awaited_peer
            }
            (Ok(first), Ok(now)) => now == first,
        };
        assert!(
            allowed,
            "terminal read {last:?} followed by {result:?} (a close() that reads the peer's end ran: {})",
            self.close_awaited_peer
        );
    }

    /// We report the peer's close_notify: it sent one, after everything,
    /// and nothing that cannot be decrypted came before it.
    fn check_peer_closed(&self, got: usize, what: &str) {
        assert!(
            self.peer_cn_queued,
            "{what}, but the peer sent no close_notify"
        );
        assert!(
            !self.garbage_before_cn,
            "{what}, but invalid TLS came before the peer's close_notify"
        );
        assert!(
            !self.peer_alert_sent || self.peer_cn_before_alert,
            "{what}, but the peer's fatal alert came before its close_notify"
        );
        let sent = self.peer_tx;
        assert!(
            (sent..=sent + self.peer_tx_maybe).contains(&got),
            "{what} after {got} of {sent} bytes"
        );
    }

    /// We report a truncation: the transport ended and the peer's
    /// close_notify was not in the pipe before it (unless bytes were lost).
    fn check_peer_eof(&self, what: &str) {
        let pipe = self.to_ours();
        assert!(pipe.eof_delivered || pipe.faulted, "{what} without any EOF");
        assert!(
            pipe.faulted || !self.peer_cn_flushed,
            "{what}, but the peer's close_notify was in the pipe before the EOF"
        );
        assert!(
            pipe.faulted || !self.peer_alert_sent,
            "{what}, but the peer's fatal alert was in the pipe before the EOF"
        );
    }

    /// Checks one result of `close()` (`idempotent`: not a `shutdown()`).
    pub(crate) fn ours_closed(&mut self, result: Result<CloseOutcome, Failure>, stats: Stats) {
        if let Some(first) = self.ours_close {
            assert_eq!(result, first, "close() is not idempotent");
            return;
        }
        let got = (stats.read() + stats.discarded()) as usize;
        self.close_discarded = stats.discarded();
        match result {
            Ok(CloseOutcome::PeerConfirmed | CloseOutcome::PeerClosedFirst) => {
                self.check_peer_closed(got, &format!("{result:?}"))
            }
            // The peer closed and left: its close_notify came after all
            // its data, as for `PeerClosedFirst`, and our close_notify's
            // flush then failed on the transport, which only a fault or a
            // peer gone can do.
            Ok(CloseOutcome::PeerClosedAndLeft) => {
                self.check_peer_closed(got, "PeerClosedAndLeft");
                assert!(
                    self.to_peer().faulted || self.to_peer().reader_gone,
                    "PeerClosedAndLeft, but our direction never failed"
                );
            }
            Ok(CloseOutcome::PeerEof) => self.check_peer_eof("PeerEof"),
            Ok(CloseOutcome::PeerTimeout) => {
                assert!(self.peer_ms > 0, "PeerTimeout with a zero peer timeout");
                let pipe = self.to_ours();
                assert!(
                    pipe.faulted
                        || pipe.silent
                        || self.cut_short
                        || self.clock_moved_in_close
                        || !self.peer_cn_flushed_at_close,
                    "PeerTimeout, but the peer's close_notify was waiting in the pipe"
                );
            }
            Ok(CloseOutcome::NotAwaited) => assert!(
                self.peer_ms == 0 || self.shutdown_called,
                "NotAwaited although close() should wait"
            ),
            Ok(CloseOutcome::FlushTimeout) => self.check_flush_timeout(),
            Ok(other) => panic!("close() returned {other:?}, which the harness does not check yet"),
            Err(failure) => {
                self.check_failure(failure, "close");
                assert_ne!(failure, Failure::Closed, "close() said Closed");
            }
        }
        self.ours_close = Some(result);
    }

    pub(crate) fn check_flush_timeout(&self) {
        assert!(
            self.to_peer().write_pending,
            "FlushTimeout, but the transport never refused a write"
        );
    }

    /// Checks one read of the bare peer.
    pub(crate) fn peer_read(&mut self, result: io::Result<usize>, data: &[u8]) {
        match result {
            Ok(0) => {
                assert!(
                    self.close_began && !self.failed_before_close,
                    "the peer saw close_notify that we never sent"
                );
                let got = self.peer_rx;
                let sent = self.ours_tx;
                assert!(
                    (sent..=sent + self.ours_tx_maybe).contains(&got),
                    "close_notify after {got} of {sent} bytes written before it"
                );
                self.peer_end = Some(PeerSaw::CloseNotify);
            }
            Ok(n) => {
                let pos = self.peer_rx;
                let sent = self.ours_tx + self.ours_tx_maybe;
                assert!(pos + n <= sent, "the peer got {} of {sent} bytes", pos + n);
                assert!(
                    matches_pattern(OURS, pos, &data[..n]),
                    "the peer got bytes {pos}..{} different from ours",
                    pos + n
                );
                self.peer_rx += n;
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let pipe = self.to_peer();
                assert!(pipe.eof_delivered || pipe.faulted, "peer truncated w/o EOF");
                self.peer_end = Some(PeerSaw::Truncated);
            }
            Err(e) => {
                assert!(
                    faulted(&self.wire),
                    "the peer failed ({e}), nothing injected"
                );
                self.peer_end = Some(PeerSaw::Error(e.kind()));
            }
        }
    }

    /// After the peer read to the end: a close that flushed close_notify
    /// over a clean direction must have been seen as one.
    pub(crate) fn check_end(&self) {
        let pipe = self.to_peer();
        let flushed = match (self.ours_close, self.dropped_failed) {
            (Some(Ok(outcome)), _) => outcome.close_notify_flushed(),
            (None, Some(failed)) => !failed && !pipe.write_pending,
            _ => false,
        };
        if flushed && !pipe.faulted && !pipe.silent {
            assert_eq!(
                self.peer_end,
                Some(PeerSaw::CloseNotify),
                "close_notify was flushed over a clean transport (close {:?})",
                self.ours_close
            );
        }
    }
}
