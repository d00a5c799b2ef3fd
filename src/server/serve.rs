//! [`Serve`]: the accept loop and the drain, as a builder that is a future.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::accepting::Accepting;
use super::lame_duck::{FusedSignal, LameDuckEnd, Signal};
use super::limits::Limits;
use super::listener::Listener;
use super::timer::ConnectionTimer;
use super::Readiness;
use crate::drain::race::{race, Race};
use crate::drain::EndHook;
use crate::{Config, ConnectionReport, DrainReport, Signals};

/// Serves a tower service (an axum `Router`, a tonic `Routes`, a
/// `tower::ServiceBuilder` stack) over TLS: every connection accepted from
/// `listener` is handshaken with `tls` and served by a clone of `service`.
/// Configure the returned [`Serve`], then `.await` it.
///
/// When `tls` offers no ALPN protocols, the server offers `h2` and
/// `http/1.1` (the protocol the client speaks is then detected from its
/// first bytes); otherwise its list is used as is.
///
/// [`serve_on`] takes any other [`Listener`] (a Unix socket's, say).
pub fn serve<S, B>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    service: S,
) -> Serve<TowerToHyperService<S>>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_on(listener, tls, service)
}

/// Like [`serve`], for a hyper service (e.g. `hyper::service::service_fn`).
pub fn serve_hyper<H, B>(listener: TcpListener, tls: Arc<ServerConfig>, service: H) -> Serve<H>
where
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_hyper_on(listener, tls, service)
}

/// Like [`serve`], with the connections taken from any [`Listener`]: a
/// `tokio::net::UnixListener` (on Unix), or one of your own. Everything but
/// a restart's handover (`Serve::with_handover`, TCP only) works the same.
pub fn serve_on<L, S, B>(
    listener: L,
    tls: Arc<ServerConfig>,
    service: S,
) -> Serve<TowerToHyperService<S>, L>
where
    L: Listener,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_hyper_on(listener, tls, TowerToHyperService::new(service))
}

/// Like [`serve_hyper`], with the connections taken from any
/// [`Listener`] (see [`serve_on`]).
pub fn serve_hyper_on<L, H, B>(listener: L, tls: Arc<ServerConfig>, service: H) -> Serve<H, L>
where
    L: Listener,
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's timers (HTTP/1.1's 30 s header read timeout against
    // slowloris, HTTP/2 keep-alive pings) need a timer to run: one alarm
    // per connection rather than a timer registration per request
    // (timer.rs).
    builder.http1().timer(ConnectionTimer);
    builder.http2().timer(ConnectionTimer);
    let limits = Limits::DEFAULT;
    limits.apply(&mut builder);
    Serve {
        listener,
        tls,
        service,
        builder,
        config: Config::default(),
        handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        lame_duck: Duration::ZERO,
        shutdown: Box::pin(std::future::pending()),
        abort: Box::pin(std::future::pending()),
        readiness: Readiness::new(),
        limits,
        on_end: None,
        #[cfg(all(feature = "restart", unix))]
        handover: None,
    }
}

const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// A TLS HTTP server with a graceful, bounded, reported shutdown; made by
/// [`serve`] or [`serve_hyper`] (over a `TcpListener`), or by [`serve_on`]
/// or [`serve_hyper_on`] (over any [`Listener`], `L`). Awaiting it serves until the shutdown
/// signal ([`with_graceful_shutdown`](Self::with_graceful_shutdown)), then:
///
/// 1. stops accepting (and marks its [`Readiness`] as draining);
/// 2. starts hyper's graceful shutdown on every connection: HTTP/1.1
///    finishes the response in flight with `connection: close`, HTTP/2
///    sends GOAWAY and lets its open streams finish; idle keep-alive
///    connections close at once; connections that have not sent their
///    first request yet (handshakes that complete during the drain among
///    them) get the [first-request grace](Self::with_first_request_grace);
/// 3. closes each connection when hyper is done with it: close_notify, then
///    a bounded wait for the client's (`peer-confirmed` when it answers);
/// 4. at `drain_timeout`, cuts whatever still runs (long polls, SSE,
///    WebSockets, uploads, stalled handshakes), each with close_notify, by
///    `flush_timeout` later;
/// 5. resolves to the [`DrainReport`]: how each connection live at the
///    signal ended.
///
/// It returns within `drain_timeout + flush_timeout` of the signal,
/// whatever the clients do; at once if the abort signal
/// ([`abort_on`](Self::abort_on)) fires during the drain, after forcing
/// every connection (close_notify, within `flush_timeout`).
///
/// Without a shutdown signal it serves until dropped. Every phase of a
/// connection is bounded while it serves: see
/// [the phases of a served connection](super#the-phases-of-a-served-connection).
///
/// # Cancellation safety
///
/// Dropping the future (say, in a `select!` that another branch won) stops
/// accepting and aborts every connection in the background: each still
/// gets close_notify within `flush_timeout`, but nobody gets the report.
/// Use [`abort_on`](Self::abort_on) to force an end and still get it.
///
#[doc = include_str!("../docs/serving-limits.md")]
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<H, L = TcpListener> {
    listener: L,
    tls: Arc<ServerConfig>,
    service: H,
    pub(super) builder: auto::Builder<TokioExecutor>,
    config: Config,
    handshake_timeout: Duration,
    drain_timeout: Duration,
    /// Between the shutdown signal and the drain (`lame_duck.rs`).
    lame_duck: Duration,
    shutdown: Signal,
    abort: Signal,
    readiness: Readiness,
    /// Connection and handshake limits, HTTP timeouts (`limits.rs`).
    pub(super) limits: Limits,
    /// Told every connection's report (`ConnectionSet::on_end`, on every
    /// set a restart makes too).
    on_end: Option<EndHook>,
    /// The restart whose handovers drain this server, and whose lost
    /// successors make it accept again (`generations.rs`), with the
    /// listener as the `TcpListener` it is: only `Serve<H, TcpListener>`
    /// sets it (`with_handover`), where that function is the identity.
    #[cfg(all(feature = "restart", unix))]
    handover: Option<(super::Handover, AsTcp<L>)>,
}

/// The listener of a `Serve<H, TcpListener>` as a `TcpListener`: the
/// identity, the only value of this type a handover is stored with.
#[cfg(all(feature = "restart", unix))]
type AsTcp<L> = fn(L) -> TcpListener;

impl<H, L> Serve<H, L> {
    /// Default [`handshake_timeout`](Self::with_handshake_timeout): 10 s, as the
    /// `tls-listener` crate; a real client on a slow mobile link completes
    /// in well under a few seconds.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = DEFAULT_HANDSHAKE_TIMEOUT;

    /// Default [`drain_timeout`](Self::with_drain_timeout): 20 s, so that
    /// `drain_timeout + flush_timeout` (23 s by default) fits in Kubernetes'
    /// default `terminationGracePeriodSeconds` of 30 s with room to spare.
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = DEFAULT_DRAIN_TIMEOUT;

    /// Bounds each TLS handshake, from the TCP accept: a client that stalls
    /// or trickles its handshake is dropped then (`handshake-timeout` in the
    /// report). Handshakes run concurrently, so a stalled one never blocks
    /// accepting.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long the drain lets work in flight finish before cutting what
    /// remains (with close_notify, within `flush_timeout`).
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// A lame duck of `duration` between the shutdown signal and the
    /// drain, for servers behind a load balancer that learns of the
    /// shutdown later than the server does (Kubernetes removes a pod from
    /// its endpoints asynchronously). On the signal:
    ///
    /// * [`Readiness`] reports draining at once;
    /// * the server keeps accepting and serving new connections for
    ///   `duration`, while it sends clients elsewhere: HTTP/1.1 responses
    ///   carry `connection: close`, and an HTTP/2 connection gets GOAWAY
    ///   once it has served one more request (its streams in flight
    ///   finish);
    /// * then the drain proceeds as without it.
    ///
    /// The bound becomes `duration + drain_timeout + flush_timeout`; the
    /// abort signal during the lame duck forces everything at once. Default
    /// zero: the drain begins at the signal. With
    /// `with_handover` (feature `restart`), a handover drains at once
    /// (the successor serves already); only the shutdown signal gets the
    /// lame duck. A lame duck replaces a `preStop` sleep (the server's
    /// docs, "Operations").
    pub fn with_lame_duck(mut self, duration: Duration) -> Self {
        self.lame_duck = duration;
        self
    }

    /// The deadlines each connection closes within (`flush_timeout`,
    /// `peer_close_timeout`); [`Config::default`] otherwise.
    pub fn with_close_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Starts the drain when `signal` resolves (e.g. SIGTERM).
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown = Box::pin(signal);
        self
    }

    /// Forces every connection at once if `signal` resolves during the
    /// drain (e.g. a second SIGTERM): close_notify without waiting for the
    /// clients, within `flush_timeout`; the report marks them `forced`.
    pub fn abort_on<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.abort = Box::pin(signal);
        self
    }

    /// The usual signals: the drain begins on the first SIGINT/SIGTERM
    /// (Ctrl-C on Windows), a second one aborts. Short for
    /// `.with_graceful_shutdown(signals.drain()).abort_on(signals.abort())`;
    /// install them before binding, so that a signal during startup is
    /// caught:
    ///
    /// ```no_run
    /// # #[cfg(feature = "axum")]
    /// # async fn run(tls: std::sync::Arc<rustls::ServerConfig>, app: axum::Router) -> std::io::Result<()> {
    /// let signals = graceful_tls::Signals::install()?;
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
    /// let report = graceful_tls::server::serve(listener, tls, app).with_signals(&signals).await;
    /// # let _ = report;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_signals(self, signals: &Signals) -> Self {
        self.with_graceful_shutdown(signals.drain())
            .abort_on(signals.abort())
    }

    /// Calls `hook` with every served connection's [`ConnectionReport`],
    /// once, when the connection ends: before, during or after a drain,
    /// handshake failures and timeouts included (the [`DrainReport`] keeps
    /// only the connections live when the drain began). Replaces an earlier
    /// hook. See [`ConnectionSet::on_end`](crate::ConnectionSet::on_end) for where it runs; with
    /// `with_handover` (feature `restart`), every round of accepting
    /// reports to it.
    ///
    /// ```no_run
    /// # #[cfg(feature = "axum")]
    /// # async fn run(listener: tokio::net::TcpListener, tls: std::sync::Arc<rustls::ServerConfig>, app: axum::Router) {
    /// let report = graceful_tls::server::serve(listener, tls, app)
    ///     .on_end(|conn| eprintln!("{conn}")) // e.g. "connection 7 (127.0.0.1:50312) TLSv1.3 full: peer-confirmed"
    ///     .await;
    /// # }
    /// ```
    pub fn on_end(mut self, hook: impl Fn(&ConnectionReport) + Send + Sync + 'static) -> Self {
        self.on_end = Some(Arc::new(hook));
        self
    }

    /// Marks `readiness` as draining when the shutdown signal fires, before
    /// accepting stops.
    pub fn with_readiness(mut self, readiness: &Readiness) -> Self {
        self.readiness = readiness.clone();
        self
    }

    /// Tunes hyper-util's auto builder (HTTP/1.1 and HTTP/2 settings:
    /// `builder.http2().max_concurrent_streams(..)`, ...). It comes with a
    /// tokio executor and a timer set (graceful-tls' own: one alarm per
    /// connection, on tokio's timer; a timer set here replaces it, e.g.
    /// hyper-util's `TokioTimer`).
    pub fn http(mut self, tune: impl FnOnce(&mut auto::Builder<TokioExecutor>)) -> Self {
        tune(&mut self.builder);
        self
    }
}

#[cfg(all(feature = "restart", unix))]
impl<H> Serve<H, TcpListener> {
    /// Makes `handover`'s handovers part of this server's life (feature
    /// `restart`, Unix): when a successor took over
    /// ([`Handover::handed_over`](super::Handover::handed_over)), the server
    /// stops accepting and drains, as on its shutdown signal, but keeps a
    /// duplicate of the listening socket. If the successor dies before that
    /// drain ends, or within the restart's probation
    /// ([`Restart::with_probation`](super::Restart::with_probation), 5 s by
    /// default, for drains that end at once)
    /// ([`Handover::successor_lost`](super::Handover::successor_lost)),
    /// the server accepts again on the same socket, with the same limits,
    /// while the earlier connections go on draining; a later handover
    /// drains the new ones too. Connections the successor would have taken
    /// meanwhile wait in the socket's queue, which stays open: none is
    /// refused. The shutdown signal ([`with_graceful_shutdown`](Self::with_graceful_shutdown))
    /// drains everything and never accepts again; the abort signal forces
    /// everything. The report counts every connection of every round of
    /// accepting. When the server returns, it tells the handover
    /// ([`Handover::drain_ended`](super::Handover::drain_ended)).
    ///
    /// Why here rather than in the program: accepting again needs the
    /// listener, which the server owns, and the report has to cover the
    /// connections of both rounds; a program could only start a second
    /// server and merge two reports by hand.
    ///
    /// The connection limit applies to each round of accepting: while an
    /// earlier round drains, the process may hold its connections plus
    /// `max_connections` new ones.
    ///
    /// Only over a `TcpListener`: the handover passes its descriptor to
    /// the successor.
    #[cfg(all(feature = "restart", unix))]
    #[cfg_attr(docsrs, doc(cfg(all(feature = "restart", unix))))]
    pub fn with_handover(mut self, handover: &super::Handover) -> Self {
        self.handover = Some((handover.clone(), std::convert::identity));
        self
    }
}

impl<H, B, L> Serve<H, L>
where
    L: Listener,
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    async fn run(self) -> DrainReport {
        let Serve {
            listener,
            tls,
            service,
            builder,
            config,
            handshake_timeout,
            drain_timeout,
            lame_duck,
            shutdown,
            abort,
            readiness,
            limits,
            on_end,
            #[cfg(all(feature = "restart", unix))]
            handover,
        } = self;
        let phases = Arc::new(limits.phases(&config));
        let mut accepting = Accepting {
            tls: TlsAcceptor::from(offer_http_alpn(tls)),
            service,
            builder,
            limits,
            readiness,
            config,
            handshake_timeout,
            phases,
            lame_duck,
            on_end,
        };
        // Fused: raced during the lame duck, then again during the drain.
        let (mut shutdown, mut abort) = (FusedSignal::new(shutdown), FusedSignal::new(abort));
        #[cfg(all(feature = "restart", unix))]
        if let Some((handover, tcp)) = handover {
            return super::generations::serve(
                accepting,
                tcp(listener),
                shutdown,
                abort,
                drain_timeout,
                handover,
            )
            .await;
        }
        let set = accepting.new_set();
        let end = {
            let stop = std::pin::pin!(accepting.stop(&mut shutdown, &mut abort));
            accepting.accept_until(listener, &set, stop).await
        };
        if end == LameDuckEnd::Aborted {
            return set.abort().await;
        }
        match race(set.drain(drain_timeout), &mut abort).await {
            Race::First(report) => report,
            // Dropping the drain future keeps its state; abort escalates it
            // and reports the same connections.
            Race::Second(()) => set.abort().await,
        }
    }
}

impl<H, B, L> IntoFuture for Serve<H, L>
where
    L: Listener,
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Output = DrainReport;
    type IntoFuture = Pin<Box<dyn Future<Output = DrainReport> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<H, L: fmt::Debug> fmt::Debug for Serve<H, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field("lame_duck", &self.lame_duck)
            .field("limits", &self.limits)
            .field("on_end", &self.on_end.is_some())
            .finish_non_exhaustive()
    }
}

/// `tls` with ALPN offering `h2` and `http/1.1`, unless it offers some
/// protocols already.
pub(super) fn offer_http_alpn(tls: Arc<ServerConfig>) -> Arc<ServerConfig> {
    if !tls.alpn_protocols.is_empty() {
        return tls;
    }
    let mut tls = Arc::unwrap_or_clone(tls);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(tls)
}
