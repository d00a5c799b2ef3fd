//! [`Signals`]: the shutdown convention of every server here, in one value:
//! the first SIGINT/SIGTERM drains, a second aborts.

use std::fmt;
use std::io;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::drain::race::{race, Race};

/// SIGINT and SIGTERM (Ctrl-C on Windows) as two futures: the first signal
/// resolves [`drain`](Self::drain), a second one resolves
/// [`abort`](Self::abort) (feature `signals`, which `hyper` enables).
///
/// ```no_run
/// # #[cfg(feature = "axum")]
/// # async fn run(listener: tokio::net::TcpListener, tls: std::sync::Arc<rustls::ServerConfig>, app: axum::Router) -> std::io::Result<()> {
/// let signals = graceful_tls::Signals::install()?;
/// let report = graceful_tls::server::serve(listener, tls, app)
///     .with_signals(&signals) // = .with_graceful_shutdown(signals.drain()).abort_on(signals.abort())
///     .await;
/// println!("{report}");
/// # Ok(())
/// # }
/// ```
///
/// # With `axum::serve`
///
/// axum's graceful-shutdown example writes an `async fn shutdown_signal()`
/// of about twenty lines (`ctrl_c()` and `SignalKind::terminate()` in a
/// `select!`) and has no second signal. These three lines replace it and
/// add the abort (with [`GracefulListener`]
/// every connection still ends with close_notify; `server::serve` adds the
/// deadline and the report):
///
/// ```no_run
/// # #[cfg(feature = "axum")]
/// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
/// # use std::future::IntoFuture;
/// let signals = graceful_tls::Signals::install()?;
/// let server = axum::serve(listener, app).with_graceful_shutdown(signals.drain());
/// tokio::select! { done = server.into_future() => done?, () = signals.abort() => {} }
/// # Ok(())
/// # }
/// ```
///
/// # With a `ConnectionSet`
///
/// ```no_run
/// # async fn run(set: graceful_tls::ConnectionSet, listener: tokio::net::TcpListener) -> std::io::Result<()> {
/// # use std::time::Duration;
/// let signals = graceful_tls::Signals::install()?;
/// let drain = signals.drain();
/// tokio::pin!(drain);
/// loop {
///     tokio::select! {
///         () = &mut drain => break,
///         accepted = listener.accept() => { let _tcp = accepted?; /* set.spawn_handshake(..) */ }
///     }
/// }
/// let report = tokio::select! {
///     report = set.drain(Duration::from_secs(20)) => report,
///     () = signals.abort() => set.abort().await,
/// };
/// # let _ = report;
/// # Ok(())
/// # }
/// ```
///
/// # Why this shape
///
/// * **One fallible step, before serving.** [`install`](Self::install)
///   installs the handlers at once and returns tokio's `io::Error` if it
///   cannot: a SIGTERM that arrives while the program still starts is
///   caught (not fatal, not lost), and a failure is reported where the
///   program can still refuse to start, rather than inside a future.
/// * **Two `'static + Send` futures from one value.** `Serve`, `axum::serve`
///   and `tokio::spawn` want owned futures, and one tokio `Signal` cannot be
///   awaited from two of them; here a task of its own listens and fires two
///   tokens, so `drain()` and `abort()` can be called as often as needed
///   (each future is independent, and one made after its signal resolves
///   at once).
/// * **Futures rather than a type only `Serve` takes.** axum users pass one
///   future to `with_graceful_shutdown`, `ConnectionSet` users race them
///   in their own loop; [`Serve::with_signals`]
///   is the one-liner for `serve`.
///
/// The first signal cancels [`drain_token`](Self::drain_token), the second
/// [`abort_token`](Self::abort_token). Cancelling the drain token from code
/// (an admin endpoint, a test) starts the drain as a first signal would;
/// the next signal then aborts. A third signal does nothing: once tokio
/// handles a signal, its default action (ending the process) is gone for
/// the process's life, so the program ends when its drain or abort returns.
/// Two signals sent in the same instant may count as one (tokio coalesces
/// deliveries the listening task has not seen yet).
///
/// Cloning is cheap: clones share the listening task and the tokens.
///
// Without the features, the links go to docs.rs (built with every feature).
#[cfg_attr(
    feature = "axum",
    doc = "[`GracefulListener`]: crate::server::GracefulListener"
)]
#[cfg_attr(
    not(feature = "axum"),
    doc = "[`GracefulListener`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulListener.html"
)]
#[cfg_attr(
    feature = "hyper",
    doc = "[`Serve::with_signals`]: crate::server::Serve::with_signals"
)]
#[cfg_attr(
    not(feature = "hyper"),
    doc = "[`Serve::with_signals`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.Serve.html#method.with_signals"
)]
#[derive(Clone)]
pub struct Signals {
    drain: CancellationToken,
    abort: CancellationToken,
}

impl Signals {
    /// Installs the handlers (SIGINT and SIGTERM on Unix, Ctrl-C on
    /// Windows) and starts listening, in a task of the current tokio
    /// runtime. Signals delivered from now on are caught.
    ///
    /// # Errors
    ///
    /// The `io::Error` tokio returns when a handler cannot be installed
    /// (e.g. in a runtime built without `enable_io` or `enable_all`).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (it spawns a task).
    pub fn install() -> io::Result<Signals> {
        let mut source = Source::install()?;
        let signals = Signals {
            drain: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let (first, second) = (signals.drain.clone(), signals.abort.clone());
        tokio::spawn(async move {
            // The first signal, or code that started the drain itself.
            match race(first.cancelled(), source.recv()).await {
                Race::First(()) => {}
                Race::Second(Some(())) => first.cancel(),
                // The runtime's signal driver is gone: no signal can come.
                Race::Second(None) => return,
            }
            if source.recv().await.is_some() {
                second.cancel();
            }
        });
        Ok(signals)
    }

    /// Resolves on the first signal (at once if it came): pass it to
    /// `server::Serve::with_graceful_shutdown`,
    /// `axum::serve(..).with_graceful_shutdown`, or race it with an accept
    /// loop.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits; dropping it loses no signal.
    pub fn drain(&self) -> WaitForCancellationFutureOwned {
        self.drain.clone().cancelled_owned()
    }

    /// Resolves on the second signal (at once if it came): pass it to
    /// `server::Serve::abort_on`, or race it
    /// with [`ConnectionSet::drain`](crate::ConnectionSet::drain) and call
    /// [`ConnectionSet::abort`](crate::ConnectionSet::abort) if it wins.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits; dropping it loses no signal.
    pub fn abort(&self) -> WaitForCancellationFutureOwned {
        self.abort.clone().cancelled_owned()
    }

    /// Whether the first signal came (or the drain token was cancelled).
    pub fn is_draining(&self) -> bool {
        self.drain.is_cancelled()
    }

    /// Whether the second signal came (or the abort token was cancelled).
    pub fn is_aborting(&self) -> bool {
        self.abort.is_cancelled()
    }

    /// The token the first signal cancels (shared, not a child):
    /// cancelling it starts the drain as a first signal would.
    pub fn drain_token(&self) -> CancellationToken {
        self.drain.clone()
    }

    /// The token the second signal cancels (shared, not a child):
    /// cancelling it aborts as a second signal would.
    pub fn abort_token(&self) -> CancellationToken {
        self.abort.clone()
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("draining", &self.is_draining())
            .field("aborting", &self.is_aborting())
            .finish()
    }
}

/// The signals listened to, installed when made.
struct Source {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl Source {
    fn install() -> io::Result<Source> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Source {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Source {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        Ok(Source {})
    }

    /// The next signal; `None` once none can come (the runtime's driver
    /// shut down).
    async fn recv(&mut self) -> Option<()> {
        #[cfg(unix)]
        {
            match race(self.interrupt.recv(), self.terminate.recv()).await {
                Race::First(got) | Race::Second(got) => got,
            }
        }
        #[cfg(windows)]
        {
            self.ctrl_c.recv().await
        }
        #[cfg(not(any(unix, windows)))]
        std::future::pending().await
    }
}
