//! A reference model of [`Machine`](graceful_tls::machine::Machine), written from
//! the documentation (the `ReadState`, `WriteState` and `CloseOutcome` docs)
//! as a set of facts rather than as states, so that it shares no code and
//! little shape with the machine it checks.

use graceful_tls::machine::{CloseStep, Event, ReadGate, Timer};
use graceful_tls::CloseOutcome;

/// How the peer ended the read direction, first end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEnd {
    /// Its close_notify arrived.
    CloseNotify,
    /// The transport ended without one.
    Eof,
}

/// What is known about our own close once it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Close {
    await_peer: bool,
    /// Our close_notify reached the transport.
    flushed: bool,
    /// Decided: the transport's write half must now be shut.
    outcome: Option<CloseOutcome>,
    /// The transport's write half was shut (or its deadline passed).
    done: bool,
}

/// The facts a connection accumulates; the expected answers of every
/// `Machine` query are derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Model {
    cancelled: bool,
    peer_end: Option<PeerEnd>,
    /// A TLS or transport error ended the read direction.
    read_failed: bool,
    /// A TLS or transport error ended the write direction before the close
    /// outcome was decided: no close_notify, ever.
    write_failed: bool,
    close: Option<Close>,
}

impl Model {
    /// Applies `event`; an event the documentation says does not apply
    /// changes no fact.
    pub fn step(&mut self, event: Event) {
        let read_live = !self.read_failed && self.peer_end.is_none();
        match event {
            Event::PeerCloseNotify | Event::TransportEof if read_live => {
                let end = if event == Event::PeerCloseNotify {
                    PeerEnd::CloseNotify
                } else {
                    PeerEnd::Eof
                };
                self.peer_end = Some(end);
                if self.awaiting() {
                    let close = self.close.as_mut().expect("awaiting implies a close");
                    close.outcome = Some(match end {
                        PeerEnd::CloseNotify => CloseOutcome::PeerConfirmed,
                        PeerEnd::Eof => CloseOutcome::PeerEof,
                    });
                }
            }
            // The peer's close_notify was read and we were still writing
            // (plaintext, or our close_notify) when the transport failed:
            // the peer closed and left (the `CloseOutcome::PeerClosedAndLeft`
            // docs). The read direction keeps its clean end; the close is
            // over.
            Event::TransportError
                if self.peer_end == Some(PeerEnd::CloseNotify)
                    && (self.may_write() || self.flushing()) =>
            {
                let close = self.close.get_or_insert(Close {
                    await_peer: false,
                    flushed: false,
                    outcome: None,
                    done: false,
                });
                close.outcome = Some(CloseOutcome::PeerClosedAndLeft);
                close.done = true;
            }
            Event::TransportError | Event::TlsError if !self.read_failed => {
                self.read_failed = true;
                match &mut self.close {
                    // The outcome is decided: shutting down is best effort.
                    Some(close) if close.outcome.is_some() => close.done = true,
                    _ => self.write_failed = true,
                }
            }
            Event::Cancel if read_live && !self.cancelled => {
                self.cancelled = true;
            }
            Event::Close { await_peer } if self.may_write() => {
                self.close = Some(Close {
                    await_peer,
                    flushed: false,
                    outcome: None,
                    done: false,
                });
            }
            // A close that must not wait stops a planned or begun wait.
            Event::Close { await_peer: false } if self.flushing() && self.plans_wait() => {
                self.close
                    .as_mut()
                    .expect("flushing implies a close")
                    .await_peer = false;
            }
            Event::Close { await_peer: false } if self.awaiting() => {
                self.close
                    .as_mut()
                    .expect("awaiting implies a close")
                    .outcome = Some(CloseOutcome::PeerTimeout);
            }
            Event::Flushed if self.flushing() => {
                let peer_end = self.peer_end;
                let close = self.close.as_mut().expect("flushing implies a close");
                close.flushed = true;
                close.outcome = match peer_end {
                    Some(PeerEnd::CloseNotify) => Some(CloseOutcome::PeerClosedFirst),
                    Some(PeerEnd::Eof) => Some(CloseOutcome::PeerEof),
                    None if close.await_peer => None,
                    None => Some(CloseOutcome::NotAwaited),
                };
            }
            Event::ShutdownDone if self.shutting_down() => {
                self.close.as_mut().expect("shutting down").done = true;
            }
            Event::Deadline if self.flushing() || self.awaiting() || self.shutting_down() => {
                let timeout = if self.flushing() {
                    Some(CloseOutcome::FlushTimeout)
                } else if self.awaiting() {
                    Some(CloseOutcome::PeerTimeout)
                } else {
                    None
                };
                let close = self.close.as_mut().expect("a close step");
                match timeout {
                    Some(outcome) => close.outcome = Some(outcome),
                    None => close.done = true,
                }
            }
            _ => {}
        }
    }

    fn live_close(&self) -> Option<Close> {
        self.close.filter(|c| !self.write_failed && !c.done)
    }

    fn flushing(&self) -> bool {
        self.live_close()
            .is_some_and(|c| !c.flushed && c.outcome.is_none())
    }

    fn plans_wait(&self) -> bool {
        self.live_close().is_some_and(|c| c.await_peer)
    }

    fn awaiting(&self) -> bool {
        self.live_close()
            .is_some_and(|c| c.flushed && c.outcome.is_none())
    }

    fn shutting_down(&self) -> bool {
        self.live_close().is_some_and(|c| c.outcome.is_some())
    }

    /// Plaintext may be written: no close started and nothing failed.
    pub fn may_write(&self) -> bool {
        self.close.is_none() && !self.write_failed
    }

    /// What a read must do. Under `ReadGate::Failed` a read still returns
    /// the plaintext the TLS layer decrypted before the failure, as `Data`
    /// and without transport I/O, then the stored error (the machine only
    /// gates; the `stream` target's ledger checks the outcomes).
    pub fn read_gate(&self) -> ReadGate {
        match (self.read_failed, self.peer_end, self.cancelled) {
            (true, _, _) => ReadGate::Failed,
            (false, Some(PeerEnd::CloseNotify), _) => ReadGate::CloseNotify,
            (false, Some(PeerEnd::Eof), _) => ReadGate::AbruptEof,
            (false, None, true) => ReadGate::BufferedOnly,
            (false, None, false) => ReadGate::Transport,
        }
    }

    /// The next step of the close.
    pub fn close_step(&self) -> Option<CloseStep> {
        if self.write_failed {
            return Some(CloseStep::Failed);
        }
        let close = self.close?;
        Some(match close.outcome {
            Some(outcome) if close.done => CloseStep::Done(outcome),
            Some(_) => CloseStep::Shutdown,
            None if close.flushed => CloseStep::AwaitPeer,
            None => CloseStep::Flush,
        })
    }

    /// The deadline bounding the current close step.
    pub fn timer(&self) -> Option<Timer> {
        match self.close_step()? {
            CloseStep::Flush => Some(Timer::Flush),
            CloseStep::AwaitPeer => Some(Timer::PeerClose),
            CloseStep::Shutdown => Some(Timer::Shutdown),
            CloseStep::Done(_) | CloseStep::Failed => None,
        }
    }

    /// No further I/O is needed.
    pub fn is_final(&self) -> bool {
        matches!(
            self.close_step(),
            Some(CloseStep::Done(_) | CloseStep::Failed)
        )
    }
}
