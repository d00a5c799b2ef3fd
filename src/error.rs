//! The crate's error type.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

/// What went wrong on a [`GracefulStream`](crate::GracefulStream).
///
/// Errors are sticky: once a connection failed, every later read, write or
/// close reports the same error, so the type is cheaply cloneable.
///
/// Through the [`AsyncRead`](tokio::io::AsyncRead) /
/// [`AsyncWrite`](tokio::io::AsyncWrite) impls each variant travels inside an
/// [`io::Error`] (see [`Error::io_kind`]); [`Error::from_io`] gets it back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The TLS layer failed: the peer sent records that do not decrypt or
    /// parse, or a fatal alert. No close_notify is sent after this.
    /// The source is the TLS library's own error (e.g. `rustls::Error`).
    Tls(Arc<dyn StdError + Send + Sync + 'static>),
    /// The transport failed: reset, broken pipe, or another I/O error.
    Transport(Arc<io::Error>),
    /// A write after closing began (by `close()`, `shutdown()` or an earlier
    /// failure of the close). rustls would encrypt it after close_notify and
    /// the peer would silently drop it, so it is refused.
    Closed,
    /// The transport ended without close_notify
    /// ([`ReadOutcome::AbruptEof`](crate::ReadOutcome::AbruptEof) as seen
    /// through `AsyncRead`).
    AbruptEof,
    /// The cancellation token fired
    /// ([`ReadOutcome::Cancelled`](crate::ReadOutcome::Cancelled) as seen
    /// through `AsyncRead`).
    Cancelled,
    /// close_notify could not be flushed within the flush timeout
    /// ([`CloseOutcome::FlushTimeout`](crate::CloseOutcome::FlushTimeout) as
    /// seen through `AsyncWrite::poll_shutdown`).
    FlushTimeout,
}

impl Error {
    /// The [`io::ErrorKind`] this error carries through the tokio I/O traits:
    /// `InvalidData` for `Tls`, the original kind for `Transport`,
    /// `BrokenPipe` for `Closed`, `UnexpectedEof` for `AbruptEof`,
    /// `ConnectionAborted` for `Cancelled` and `TimedOut` for `FlushTimeout`.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::Tls(_) => io::ErrorKind::InvalidData,
            Error::Transport(e) => e.kind(),
            Error::Closed => io::ErrorKind::BrokenPipe,
            Error::AbruptEof => io::ErrorKind::UnexpectedEof,
            Error::Cancelled => io::ErrorKind::ConnectionAborted,
            Error::FlushTimeout => io::ErrorKind::TimedOut,
        }
    }

    /// The crate error inside an [`io::Error`] returned by the `AsyncRead` /
    /// `AsyncWrite` impls, if it is one.
    pub fn from_io(error: &io::Error) -> Option<&Error> {
        error.get_ref()?.downcast_ref::<Error>()
    }

    /// Whether the peer reset the connection or the pipe broke.
    pub fn is_reset(&self) -> bool {
        matches!(self, Error::Transport(e) if matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted
        ))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Tls(_) => f.write_str(
                "TLS failure: the connection is unusable and no close_notify will be sent; drop it (the source says what failed)",
            ),
            Error::Transport(_) => f.write_str(
                "transport failure: the connection is unusable; drop it (the source says what failed)",
            ),
            Error::Closed => f.write_str(
                "write refused: the TLS stream is closing or closed (close_notify is or was being sent); write before calling close() or shutdown()",
            ),
            Error::AbruptEof => f.write_str(
                "the peer's transport ended without a TLS close_notify: the data may be truncated; treat it as incomplete unless the protocol delimits its own messages",
            ),
            Error::Cancelled => f.write_str(
                "the read was cancelled by the stream's CancellationToken; the TLS state is intact: write what remains, then close()",
            ),
            Error::FlushTimeout => f.write_str(
                "close_notify could not be flushed within the flush timeout (the peer stopped reading); the transport was shut down anyway",
            ),
        }
    }
}

/// Displays an error and its whole source chain, `: `-separated, for
/// reports and logs that print one line (`Error`'s own `Display` leaves its
/// source to `source()`, as the Rust API guidelines ask, so that error
/// reporters such as anyhow do not print it twice).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Tls(e) => Some(&**e),
            Error::Transport(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        io::Error::new(error.io_kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cause is printed once in a chain: by the source, not by
    /// `Display` as well (anyhow and eyre print both).
    #[test]
    fn display_leaves_the_source_to_source() {
        let cause = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset");
        for error in [
            Error::Transport(Arc::new(cause)),
            Error::Tls(Arc::new(io::Error::other("bad record mac"))),
        ] {
            let source = error.source().expect("a source").to_string();
            assert!(!error.to_string().contains(&source), "{error}");
            let chain = Chain(&error).to_string();
            assert_eq!(chain.matches(&source).count(), 1, "{chain}");
            assert!(chain.starts_with(&error.to_string()), "{chain}");
        }
        assert!(Error::Closed.source().is_none());
        assert_eq!(Chain(&Error::Closed).to_string(), Error::Closed.to_string());
    }
}
