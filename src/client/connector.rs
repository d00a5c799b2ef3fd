//! [`Connector`]: rustls client handshakes over any transport, each
//! connection a [`GracefulStream`] watched by a [`SessionCache`].

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{client, TlsConnector};
use tokio_util::sync::CancellationToken;

use super::{ConnectError, SessionCache};
use crate::{Config, GracefulStream};

/// Makes rustls client connections whose sessions follow a
/// [`SessionCache`]: each one resumes from the cache when it can (or does a
/// full handshake when asked to), comes back as a [`GracefulStream`], and is
/// watched so that a bad end forgets the server's sessions.
///
/// The caller brings the transport (a `TcpStream`, or anything else), so
/// that the address dialled and the server name verified can differ:
/// connect to `127.0.0.1:8443` and verify (and send SNI for) `localhost`.
/// The cache is keyed by the server name, not the address.
#[derive(Clone)]
pub struct Connector {
    resume: Arc<ClientConfig>,
    full: Arc<ClientConfig>,
    cache: SessionCache,
    stream_config: Config,
}

impl Connector {
    /// A connector for `config` (an `Arc<ClientConfig>`, as
    /// `tokio_rustls::TlsConnector` takes, or a `ClientConfig`), whose
    /// resumption is redirected to `cache` ([`SessionCache::install`]) in a
    /// copy; everything else (verifier, ALPN, versions, client auth) is
    /// kept.
    pub fn new(config: impl Into<Arc<ClientConfig>>, cache: SessionCache) -> Self {
        let mut config = Arc::unwrap_or_clone(config.into());
        cache.install(&mut config);
        let full = Arc::new(cache.full_handshake_config(&config));
        Connector {
            resume: Arc::new(config),
            full,
            cache,
            stream_config: Config::default(),
        }
    }

    /// The deadlines every stream closes within (default: [`Config::default`]).
    pub fn with_stream_config(mut self, config: Config) -> Self {
        self.stream_config = config;
        self
    }

    /// Replaces the ALPN protocols both configs offer (the resuming one and
    /// the full-handshake one keep sharing the verifier and the store).
    #[cfg(feature = "hyper-client")]
    pub(crate) fn with_alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        for config in [&mut self.resume, &mut self.full] {
            Arc::make_mut(config).alpn_protocols = protocols.clone();
        }
        self
    }

    /// The rustls config connections resume with.
    pub fn client_config(&self) -> &Arc<ClientConfig> {
        &self.resume
    }

    /// The session cache.
    pub fn session_cache(&self) -> &SessionCache {
        &self.cache
    }

    /// Handshakes over `io` for `name` (verified, and sent as SNI when it is
    /// a DNS name; an IP address is verified against the certificate's IP
    /// SANs and sends no SNI), resuming a cached session when there is one.
    /// `token` is the stream's cancellation token.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Handshake`]; a TLS failure makes the cache forget
    /// `name`'s sessions first (whatever the policy: the handshake ended with
    /// a fatal alert, sent or received).
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future drops the handshake under way and the transport;
    /// nothing is cached for it (rustls stores a session only once the
    /// handshake completed) and nothing is forgotten.
    pub async fn connect<IO>(
        &self,
        name: ServerName<'static>,
        io: IO,
        token: CancellationToken,
    ) -> Result<GracefulStream<client::TlsStream<IO>>, ConnectError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.handshake(&self.resume, name, io, token).await
    }

    /// Like [`connect`](Self::connect), but a **full handshake** whatever
    /// the cache holds: the certificate is verified again. The session this
    /// connection negotiates is cached for later connections
    /// ([`SessionCache::full_handshake_config`]).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Cancellation safety
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_full_handshake<IO>(
        &self,
        name: ServerName<'static>,
        io: IO,
        token: CancellationToken,
    ) -> Result<GracefulStream<client::TlsStream<IO>>, ConnectError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.handshake(&self.full, name, io, token).await
    }

    async fn handshake<IO>(
        &self,
        config: &Arc<ClientConfig>,
        name: ServerName<'static>,
        io: IO,
        token: CancellationToken,
    ) -> Result<GracefulStream<client::TlsStream<IO>>, ConnectError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match TlsConnector::from(config.clone())
            .connect(name.clone(), io)
            .await
        {
            Ok(tls) => {
                let mut stream = GracefulStream::with_config(tls, token, self.stream_config);
                self.cache.watch(name, &mut stream);
                Ok(stream)
            }
            Err(source) => {
                self.cache.handshake_failed(&name, &source);
                Err(ConnectError::Handshake {
                    server_name: name.to_str().into_owned(),
                    source,
                })
            }
        }
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("cache", &self.cache)
            .field("stream_config", &self.stream_config)
            .finish_non_exhaustive()
    }
}
