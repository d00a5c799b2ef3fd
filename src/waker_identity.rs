//! A waker's identity, for the watchers that register a waker once and skip
//! re-registering while the same task polls (`stream/watch.rs`,
//! `drain/flag.rs`, `server/timer.rs`).
//!
//! The identity is the waker's (data, vtable) pair, compared without
//! cloning the waker. Not `Waker::will_wake` on a stored clone: tokio's
//! clones can carry another vtable address than the original, so that
//! comparison fails every time for some wakers. Whoever stores an identity
//! must also keep the waker it registered alive (the token, the signal or
//! the timer holds a clone), so that the task behind it cannot end and its
//! address be reused by another task.

use std::task::Waker;

/// `waker`'s (data, vtable) pair.
#[inline]
pub(crate) fn waker_identity(waker: &Waker) -> (usize, usize) {
    (waker.data() as usize, waker.vtable() as *const _ as usize)
}
