//! [`Refused`]: a registration that a draining
//! [`ConnectionSet`](crate::ConnectionSet) turned down.

use std::error::Error as StdError;
use std::fmt;

/// A registration refused because the set is draining; holds what was
/// passed in.
///
/// For [`ConnectionSet::spawn`](crate::ConnectionSet::spawn) that is the connection as a
/// [`GracefulStream`](crate::GracefulStream) whose token is already cancelled: dropping it sends
/// close_notify (bounded, in the background), `close()` reports the outcome.
pub struct Refused<T> {
    pub(crate) inner: T,
}

impl<T> Refused<T> {
    /// What was passed to the refused registration.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> fmt::Debug for Refused<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refused").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Refused<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused: the connection set is draining; stop accepting and close this connection (dropping it sends close_notify)")
    }
}

impl<T> StdError for Refused<T> {}
