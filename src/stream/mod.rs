//! [`GracefulStream`]: the async shell over the [`Machine`].

use std::fmt;

use tokio_util::sync::CancellationToken;

use crate::backend::{ErrorClass, HandshakeKind, TlsBackend, TlsVersion};
use crate::machine::{Event, Machine, ReadState, WriteState};
use crate::{Config, Ended, Error, Stats};
use close::StepDeadline;
use watch::CancelWatch;

mod close;
mod drop;
mod io;
mod on_end;
mod read;
mod watch;

pub(crate) use close::ClosePolicy;

#[doc = include_str!("../docs/graceful_stream.md")]
pub struct GracefulStream<S: TlsBackend> {
    /// `None` only after [`GracefulStream::into_inner`] or inside `Drop`.
    io: Option<S>,
    core: Core,
    /// Moves an unfinished close into a background task; set by constructors
    /// whose bounds allow spawning.
    finish_in_background: Option<fn(GracefulStream<S>)>,
}

/// Everything the stream knows besides the TLS stream itself. One struct,
/// so that a drop moves it whole into the background finish (`drop.rs`).
#[derive(Debug, Default)]
struct Core {
    machine: Machine,
    config: Config,
    token: CancellationToken,
    /// Created by the first read, then reused.
    watch: Option<CancelWatch>,
    /// Created when a close step first has to wait, then reused. Boxed:
    /// most streams never wait to close, and the stream stays within 128
    /// bytes of the one it wraps (the `memory:` line of `benches/close`).
    deadline: Option<Box<StepDeadline>>,
    /// The sticky failure, once the machine reached `Failed`.
    error: Option<Error>,
    stats: Stats,
    /// Told once how the stream ended (`on_end.rs`).
    on_end: on_end::OnEnd,
    /// Which end the hooks were told (`on_end.rs`).
    reported: on_end::Reported,
}

impl<S: TlsBackend + Send + 'static> GracefulStream<S> {
    /// Wraps an established TLS stream with the default [`Config`].
    ///
    /// `token` is usually a child of a server-wide token
    /// ([`CancellationToken::child_token`]): cancelling it ends pending reads
    /// with [`ReadOutcome::Cancelled`](crate::ReadOutcome::Cancelled).
    pub fn new(stream: S, token: CancellationToken) -> Self {
        Self::with_config(stream, token, Config::default())
    }

    /// Wraps an established TLS stream with the given deadlines.
    pub fn with_config(stream: S, token: CancellationToken, config: Config) -> Self {
        let mut this = Self::new_local(stream, token, config);
        this.finish_in_background = Some(drop::spawn_finish::<S>);
        this
    }
}

impl<S: TlsBackend> GracefulStream<S> {
    /// Like [`with_config`](Self::with_config), for streams that are not
    /// `Send + 'static`: a drop makes only the non-blocking attempt (see
    /// [Dropping](#dropping)), never a background task.
    pub fn new_local(stream: S, token: CancellationToken, config: Config) -> Self {
        GracefulStream {
            io: Some(stream),
            // Every field spelled out: `..Core::default()` would make a
            // `CancellationToken` (an allocation) only to drop it.
            core: Core {
                machine: Machine::default(),
                config,
                token,
                watch: None,
                deadline: None,
                error: None,
                stats: Stats::default(),
                on_end: on_end::OnEnd::default(),
                reported: on_end::Reported::default(),
            },
            finish_in_background: None,
        }
    }

    /// The wrapped TLS stream.
    pub fn get_ref(&self) -> &S {
        self.io
            .as_ref()
            .expect("stream present until into_inner or drop")
    }

    /// The wrapped TLS stream, mutably. Reading, writing or closing through
    /// it bypasses the state machine: the outcomes reported afterwards may be
    /// wrong.
    pub fn get_mut(&mut self) -> &mut S {
        self.io
            .as_mut()
            .expect("stream present until into_inner or drop")
    }

    /// Unwraps the TLS stream without sending anything: no close_notify.
    pub fn into_inner(mut self) -> S {
        self.io
            .take()
            .expect("stream present until into_inner or drop")
    }

    /// The state machine: where each direction stands.
    pub fn state(&self) -> Machine {
        self.core.machine
    }

    /// The cancellation token this stream watches.
    pub fn token(&self) -> &CancellationToken {
        &self.core.token
    }

    /// The deadlines this stream closes within.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Byte counts so far.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// The negotiated TLS version, e.g. [`TlsVersion::Tls13`].
    pub fn protocol_version(&self) -> Option<TlsVersion> {
        self.get_ref().protocol_version()
    }

    /// Which sort of handshake established the connection (full, full after
    /// a HelloRetryRequest, or resumed), if the backend can tell (see
    /// [`TlsBackend::handshake_kind`]).
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.get_ref().handshake_kind()
    }

    /// Whether the wrapped stream's TLS handshake has completed (wrap
    /// established streams: close_notify means nothing before it).
    pub fn is_handshake_complete(&self) -> bool {
        self.get_ref().is_handshake_complete()
    }

    /// Records a failure from the TLS stream: decides TLS vs transport by the
    /// backend's type check and feeds it to the machine, which fails the
    /// connection (the error is kept and reported), or, for a transport
    /// error under our close_notify after the peer's, ends the close as
    /// `PeerClosedAndLeft` (nothing failed: the error is only returned).
    fn fail(&mut self, error: std::io::Error) -> Error {
        let class = self.get_ref().classify_error(&error);
        self.fail_as(class, error)
    }

    /// [`fail`](Self::fail) for an error the caller already classified.
    fn fail_as(&mut self, class: ErrorClass, error: std::io::Error) -> Error {
        let (error, event) = if class == ErrorClass::Tls {
            let kind = error.kind();
            let inner: std::sync::Arc<dyn std::error::Error + Send + Sync> =
                match error.into_inner() {
                    Some(inner) => inner.into(),
                    None => std::sync::Arc::new(std::io::Error::from(kind)),
                };
            (Error::Tls(inner), Event::TlsError)
        } else {
            (
                Error::Transport(std::sync::Arc::new(error)),
                Event::TransportError,
            )
        };
        self.core.machine.handle(event);
        // The machine decides whether the error failed the connection; when
        // it ended the close instead (the peer closed and left), the close
        // step reports that outcome, and reads and writes go on answering
        // as after any close.
        let machine = self.core.machine;
        if machine.read_state() != ReadState::Failed && machine.write_state() != WriteState::Failed
        {
            return error;
        }
        if self.core.error.is_none() {
            self.core.error = Some(error);
        }
        let error = self.stored_error();
        self.report_end(|| Ended::Failed(error.clone()));
        error
    }

    /// The sticky error. `Closed` if the machine failed without one (which
    /// the shell never does).
    fn stored_error(&self) -> Error {
        self.core.error.clone().unwrap_or(Error::Closed)
    }
}

impl<S: TlsBackend + fmt::Debug> fmt::Debug for GracefulStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulStream")
            .field("io", &self.io)
            .field("machine", &self.core.machine)
            .field("config", &self.core.config)
            .field("cancelled", &self.core.token.is_cancelled())
            .field("error", &self.core.error)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}
