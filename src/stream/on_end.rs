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
use crate::{Ended, Stats};

type Hook = Box<dyn FnOnce(&Ended, Stats) + Send>;

/// The hooks to call, or the end once it is known (so that a hook
/// registered later is called at once).
#[derive(Default)]
pub(super) struct OnEnd {
    /// Only ever reached through `&mut` (`Mutex::get_mut`, no locking): the
    /// mutex is there so that the stream stays `Sync` without asking hooks
    /// to be `Sync`.
    hook: Mutex<Option<Hook>>,
    ended: Option<Ended>,
}

impl OnEnd {
    fn slot(&mut self) -> &mut Option<Hook> {
        // A hook that panicked poisoned nothing we rely on.
        self.hook.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&mut self, hook: Hook, stats: Stats) {
        if let Some(ended) = &self.ended {
            return hook(ended, stats);
        }
        let slot = self.slot();
        *slot = Some(match slot.take() {
            // Composed, not collected: registration order, no Vec.
            Some(first) => Box::new(move |ended: &Ended, stats: Stats| {
                first(ended, stats);
                hook(ended, stats);
            }),
            None => hook,
        });
    }

    /// Records the end (the first one wins) and calls the hooks once.
    pub(super) fn fire(&mut self, ended: impl FnOnce() -> Ended, stats: Stats) {
        if self.ended.is_some() {
            return;
        }
        let hook = self.slot().take();
        let ended = self.ended.insert(ended());
        if let Some(hook) = hook {
            hook(ended, stats);
        }
    }
}

impl fmt::Debug for OnEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnEnd")
            .field("hooks", &self.hook.lock().is_ok_and(|h| h.is_some()))
            .field("ended", &self.ended)
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
        let stats = self.core.stats;
        self.core.on_end.add(Box::new(hook), stats);
    }

    /// Reports the end to the hooks (once).
    pub(super) fn report_end(&mut self, ended: impl FnOnce() -> Ended) {
        let stats = self.core.stats;
        self.core.on_end.fire(ended, stats);
    }
}
