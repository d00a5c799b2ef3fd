//! [`Accepting`]: one server's accept loop, for as many rounds as it
//! serves: one for [`Serve`](super::Serve), several under a restart that
//! loses its successor (`generations.rs`). Each round accepts into a
//! `ConnectionSet` of its own until its stop signal.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

use super::accept::{Acceptor, Admitted, Handshaking};
use super::connection::serve_connection;
use super::lame_duck::{shutdown_then_lame_duck, FusedSignal, LameDuckEnd};
use super::limits::Limits;
use super::listener::Listener;
use super::phase::ServerPhases;
use super::timer::with_alarm;
use super::Readiness;
use crate::drain::race::{race, Race};
use crate::drain::EndHook;
use crate::{Config, ConnectionSet};

/// What accepting needs, for as many rounds of accepting as a restart
/// makes (`generations.rs`).
pub(super) struct Accepting<H> {
    pub(super) tls: TlsAcceptor,
    pub(super) service: H,
    pub(super) builder: auto::Builder<TokioExecutor>,
    pub(super) limits: Limits,
    pub(super) readiness: Readiness,
    pub(super) config: Config,
    pub(super) handshake_timeout: Duration,
    /// What every connection shares: the phase timeouts, the lame duck's
    /// signal.
    pub(super) phases: Arc<ServerPhases>,
    pub(super) lame_duck: Duration,
    pub(super) on_end: Option<EndHook>,
}

impl<H, B> Accepting<H>
where
    H: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    H::Future: Send + 'static,
    H::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// Resolves when accepting must stop: the shutdown signal, then the
    /// lame duck (if any), or the abort signal during it. Owns clones of
    /// what it needs, so that `accept_until` can borrow `self`.
    pub(super) fn stop<'a>(
        &self,
        shutdown: &'a mut FusedSignal,
        abort: &'a mut FusedSignal,
    ) -> impl Future<Output = LameDuckEnd> + Send + 'a {
        let (phases, readiness, lame_duck) =
            (self.phases.clone(), self.readiness.clone(), self.lame_duck);
        async move { shutdown_then_lame_duck(shutdown, abort, lame_duck, &phases, &readiness).await }
    }

    /// A set for one round of accepting (each gets the `on_end` hook).
    pub(super) fn new_set(&self) -> ConnectionSet {
        let set =
            ConnectionSet::with_config(self.config).with_handshake_timeout(self.handshake_timeout);
        match &self.on_end {
            Some(hook) => set.with_end_hook(hook.clone()),
            None => set,
        }
    }

    /// Accepts from `listener` into `set` until `stop` resolves (its
    /// output); then marks the readiness as draining, closes `listener`
    /// and notes the accept errors in `set`'s report.
    // `&mut self`: `H` is `Send`, not `Sync`, and the future must be `Send`.
    pub(super) async fn accept_until<L: Listener, F: Future + ?Sized>(
        &mut self,
        listener: L,
        set: &ConnectionSet,
        mut stop: Pin<&mut F>,
    ) -> F::Output {
        let limits = self.limits;
        let phases = &self.phases;
        let mut acceptor = Acceptor::new(listener, limits.max_connections, limits.max_handshakes);
        let why = loop {
            // Biased towards the signal: no connection is accepted after it.
            let admitted = match race(stop.as_mut(), acceptor.next()).await {
                Race::First(why) => break why,
                Race::Second(admitted) => admitted,
            };
            let Admitted {
                io,
                peer,
                connection,
                handshake,
            } = admitted;
            let (builder, service) = (self.builder.clone(), self.service.clone());
            let phases = phases.clone();
            let handshake = Handshaking::new(self.tls.accept(io), handshake);
            // Refused only once a drain began, which is after this loop.
            let _ = set.spawn_lent(L::socket_addr(&peer), handshake, move |io, signal| {
                with_alarm(serve_connection::<L, _, _>(
                    io, signal, builder, service, connection, phases,
                ))
            });
        };
        self.readiness.set_draining();
        let accept_errors = acceptor.errors();
        drop(acceptor);
        // The drain's report and its `tracing` summary carry them.
        set.note_accept_errors(accept_errors);
        why
    }
}
