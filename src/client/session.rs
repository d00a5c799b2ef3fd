//! [`SessionCache`]: a rustls client session store that forgets a server's
//! sessions after a connection to it ended badly.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::SessionPolicy;
use crate::backend::is_rustls_error;
use crate::{Ended, GracefulStream, TlsBackend};

/// How many servers [`SessionCache::new`] remembers, as rustls' own default
/// (`Resumption::default()` holds 256 entries).
const DEFAULT_ENTRIES: usize = 256;

/// At most this many TLS 1.3 tickets are taken out of the store by one
/// [`SessionCache::forget`]: rustls' memory cache holds 8 per server; the
/// bound only guards against a store that never runs dry.
const MAX_TICKETS_FORGOTTEN: usize = 1024;

/// A client session cache that forgets a server's sessions after a
/// connection to it ended badly.
///
/// It wraps any rustls [`ClientSessionStore`] (by default rustls' own
/// in-memory cache) and uses only the store's public API. Give it to rustls
/// with [`install`](Self::install) (or use a
/// [`Connector`](super::Connector), which does), then tell it about each
/// stream with [`watch`](Self::watch): when the stream ends in a way its
/// [`SessionPolicy`] names, every cached session and ticket for that server
/// name is forgotten, so that the next connection does a full handshake
/// (RFC 5246 §7.2.2: a session whose connection ended with a fatal alert
/// MUST NOT be resumed; RFC 8446 §6: its tickets SHOULD be discarded).
/// rustls alone keeps them: it removes a TLS 1.2 session only when a
/// resumed handshake fails.
///
/// Cloning is cheap and shares the cache.
///
/// # Limits
///
/// * The store cannot tell which connection stored which ticket: forgetting
///   is per server name, so a bad end also throws away tickets that other
///   connections to the same server stored (they are only an optimisation:
///   the next connection does one full handshake). Tickets that a connection
///   still open receives after the forget are stored as usual.
/// * The key-exchange hint (`kx_hint`, the group the server chose) is kept:
///   it holds no secret and no trust decision, it only saves a
///   HelloRetryRequest round trip.
/// * A stream ends where the crate sees it: when a read, write or close
///   fails, when a close reaches its outcome, or when a drop's close
///   finishes (see [`GracefulStream::on_end`]). A connection still open
///   has not ended: nothing is forgotten for it yet.
/// * Sessions resumed elsewhere from the same store (by connections not
///   watched) are not covered.
/// * OpenSSL (feature `openssl`) has its own session cache: it already
///   removes a session when it *sends* a fatal alert, and when an `SSL` is
///   freed without our close_notify having been sent (`SSL_free` without
///   `SSL_SENT_SHUTDOWN`). Removing a session from an OpenSSL cache is
///   `unsafe` in rust-openssl (`SslContextRef::remove_session`) and this
///   crate forbids `unsafe`: this cache is for rustls only.
#[derive(Clone)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ClientSessionStore>,
    policy: SessionPolicy,
    forgotten: AtomicU64,
}

impl SessionCache {
    /// A cache over rustls' in-memory store, sized like rustls' default (256
    /// entries), with [`SessionPolicy::FatalAlerts`].
    pub fn new() -> Self {
        Self::with_store(Arc::new(ClientSessionMemoryCache::new(DEFAULT_ENTRIES)))
    }

    /// A cache over `store`, with [`SessionPolicy::FatalAlerts`].
    pub fn with_store(store: Arc<dyn ClientSessionStore>) -> Self {
        SessionCache {
            inner: Arc::new(Inner {
                store,
                policy: SessionPolicy::default(),
                forgotten: AtomicU64::new(0),
            }),
        }
    }

    /// The same store under another policy (a new cache handle: clones made
    /// before keep the old policy).
    pub fn with_policy(&self, policy: SessionPolicy) -> Self {
        SessionCache {
            inner: Arc::new(Inner {
                store: self.inner.store.clone(),
                policy,
                forgotten: AtomicU64::new(0),
            }),
        }
    }

    /// The policy that decides which ends forget.
    pub fn policy(&self) -> SessionPolicy {
        self.inner.policy
    }

    /// The wrapped store.
    pub fn store(&self) -> &Arc<dyn ClientSessionStore> {
        &self.inner.store
    }

    /// Makes `config` resume from (and store into) this cache:
    /// `config.resumption = Resumption::store(..)`, with rustls' default
    /// TLS 1.2 resumption (session ids and tickets). Without this, rustls
    /// uses its own store and [`forget`](Self::forget) has no effect on it.
    pub fn install(&self, config: &mut ClientConfig) {
        config.resumption = Resumption::store(self.inner.store.clone());
    }

    /// A copy of `config` whose connections do a **full handshake**, never
    /// resuming from this cache, while the session they negotiate is still
    /// stored in it for later connections. The copy shares `config`'s
    /// certificate verifier (rustls resumes only under the same verifier
    /// `Arc`, so connections made with either config can resume each
    /// other's sessions).
    ///
    /// For one connection that must check the certificate again (the trust
    /// policy changed, a connection must start afresh) without rebuilding
    /// the application's `ClientConfig`. To stop resuming for good, use
    /// [`forget`](Self::forget) or `Resumption::disabled()`.
    pub fn full_handshake_config(&self, config: &ClientConfig) -> ClientConfig {
        let mut full = config.clone();
        full.resumption = Resumption::store(Arc::new(StoreOnly(self.inner.store.clone())));
        full
    }

    /// Forgets every TLS 1.2 session and TLS 1.3 ticket cached for `name`
    /// (removes the session; takes tickets until none is left, at most 1024).
    /// The next connection to `name` does a full handshake.
    pub fn forget(&self, name: &ServerName<'_>) {
        let name = name.to_owned();
        self.inner.store.remove_tls12_session(&name);
        for _ in 0..MAX_TICKETS_FORGOTTEN {
            if self.inner.store.take_tls13_ticket(&name).is_none() {
                break;
            }
        }
        self.inner.forgotten.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times this handle forgot a server's sessions (by
    /// [`forget`](Self::forget) or after a bad end).
    pub fn forgotten(&self) -> u64 {
        self.inner.forgotten.load(Ordering::Relaxed)
    }

    /// Forgets `name`'s sessions if the policy says so for `ended`; returns
    /// whether it did.
    pub fn record_end(&self, name: &ServerName<'_>, ended: &Ended) -> bool {
        let forget = self.inner.policy.forgets(ended);
        if forget {
            self.forget(name);
        }
        forget
    }

    /// Watches `stream`, a connection to `name` made with a config that
    /// uses this cache: when it ends (see [`GracefulStream::on_end`]) the
    /// policy decides whether `name`'s sessions are forgotten.
    pub fn watch<S: TlsBackend>(&self, name: ServerName<'static>, stream: &mut GracefulStream<S>) {
        let cache = self.clone();
        stream.on_end(move |ended, _| {
            cache.record_end(&name, ended);
        });
    }

    /// Call when a handshake with `name` failed: the policy decides (a TLS
    /// failure, such as a rejected certificate or a fatal alert, always
    /// forgets). Returns whether it forgot.
    pub fn handshake_failed(&self, name: &ServerName<'_>, error: &std::io::Error) -> bool {
        let forget = self
            .inner
            .policy
            .forgets_failed_handshake(is_rustls_error(error));
        if forget {
            self.forget(name);
        }
        forget
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("store", &self.inner.store)
            .field("policy", &self.inner.policy)
            .field("forgotten", &self.forgotten())
            .finish()
    }
}

/// A view of a store that stores but never offers a session: connections
/// made through it do a full handshake, and their sessions serve later ones.
#[derive(Debug)]
struct StoreOnly(Arc<dyn ClientSessionStore>);

impl ClientSessionStore for StoreOnly {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.0.set_kx_hint(server_name, group)
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.0.set_tls12_session(server_name, value)
    }

    fn tls12_session(
        &self,
        _server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name)
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.0.insert_tls13_ticket(server_name, value)
    }

    fn take_tls13_ticket(
        &self,
        _server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        None
    }
}
