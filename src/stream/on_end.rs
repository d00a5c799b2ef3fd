//! Hooks told once how a stream ended ([`GracefulStream::on_end`]).
//!
//! The stream knows its end at three places, and only there calls the
//! hooks: when the machine fails (a TLS or transport error, on a read, a
//! write or a close step), when a close reaches its outcome (whoever drives
//! it: `close()`, `poll_shutdown`, a drop or its background finish, a
//! drain), and when a drop finds that nothing can finish the close
//! ([`Ended::Unfinished`]). Nothing here touches the machine or the I/O:
//! a hook only observes.

use std::fmt;
use std::sync::Mutex;

use super::GracefulStream;
use crate::backend::TlsBackend;
use crate::machine::WriteState;
use crate::{Ended, Stats};

type Hook = Box<dyn FnOnce(&Ended, Stats) + Send>;

/// The hooks to call, behind one pointer: most streams never get one.
///
/// With the end remembered as a one-byte [`Reported`] (a field of the
/// stream's core, so that it packs with the machine's bytes) rather than
/// an [`Ended`], this keeps the stream within 128 bytes of the one it wraps
/// (the `memory:` line of `benches/close`; the hooks and the end held
/// inline cost 48): a hook that comes late is told the end again from the
/// machine and the sticky error, which decided it.
#[derive(Default)]
pub(super) struct OnEnd {
    /// Only ever reached through `&mut` (`Mutex::into_inner`, no locking):
    /// the mutex is there so that the stream stays `Sync` without asking
    /// hooks to be `Sync`.
    hook: Option<Box<Mutex<Hook>>>,
}

/// Which end was reported first (the first one wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Reported {
    #[default]
    Not,
    /// `Ended::Closed`, with the outcome the machine keeps (a decided
    /// outcome never changes).
    Closed,
    /// `Ended::Failed`, with the sticky error the stream keeps.
    Failed,
    /// `Ended::Unfinished` (only from a drop: no hook can come later).
    Unfinished,
}

impl OnEnd {
    fn add(&mut self, hook: Hook) {
        let hook = match self.take() {
            // Composed, not collected: registration order, no Vec.
            Some(first) => Box::new(move |ended: &Ended, stats: Stats| {
                first(ended, stats);
                hook(ended, stats);
            }),
            None => hook,
        };
        self.hook = Some(Box::new(Mutex::new(hook)));
    }

    fn take(&mut self) -> Option<Hook> {
        // A hook that panicked poisoned nothing we rely on.
        let hook = self.hook.take()?;
        Some(hook.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

impl fmt::Debug for OnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnEnd")
            .field("hooks", &self.hook.is_some())
            .finish()
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Registers `hook` to be called once with how this stream ended and its
    /// final byte counts: when a read, write or close step fails
    /// ([`Ended::Failed`]), when a close reaches its
    /// [`CloseOutcome`](crate::CloseOutcome) ([`Ended::Closed`]: through
    /// [`close`](Self::close), `poll_shutdown`, a drop's background finish
    /// or a drain), or when a drop finds that nothing can finish the close
    /// ([`Ended::Unfinished`]). A hook registered after the end is called at
    /// once. Hooks run in registration order, on whatever thread reaches the
    /// end (possibly inside `Drop`): keep them short and non-blocking.
    ///
    /// [`into_inner`](Self::into_inner) drops the hooks without calling them:
    /// the stream no longer knows how the connection ends.
    ///
    /// [`client::SessionCache`](crate::client::SessionCache) uses this to
    /// forget a server's sessions after a bad end.
    pub fn on_end(&mut self, hook: impl FnOnce(&Ended, Stats) + Send + 'static) {
        match self.reported_end() {
            Some(ended) => hook(&ended, self.core.stats),
            None => self.core.on_end.add(Box::new(hook)),
        }
    }

    /// The end already reported, said again from the state that decided it.
    fn reported_end(&self) -> Option<Ended> {
        Some(match self.core.reported {
            Reported::Not => return None,
            Reported::Closed => match self.core.machine.write_state() {
                WriteState::ShuttingDown(outcome) | WriteState::Closed(outcome) => {
                    Ended::Closed(outcome)
                }
                // Reported only once the machine decided the outcome,
                // which then never changes.
                _ => Ended::Unfinished,
            },
            Reported::Failed => Ended::Failed(self.stored_error()),
            Reported::Unfinished => Ended::Unfinished,
        })
    }

    /// Reports the end to the hooks, once: the first end wins.
    pub(super) fn report_end(&mut self, ended: impl FnOnce() -> Ended) {
        if self.core.reported != Reported::Not {
            return;
        }
        let ended = ended();
        self.core.reported = match ended {
            Ended::Failed(_) => Reported::Failed,
            Ended::Unfinished => Reported::Unfinished,
            _ => Reported::Closed,
        };
        if let Some(hook) = self.core.on_end.take() {
            hook(&ended, self.core.stats);
        }
    }
}
