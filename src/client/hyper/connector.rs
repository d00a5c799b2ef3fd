//! [`HttpsConnector`]: hyper-util's legacy `Client` connects through it.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ConnectionInfo, HttpsStream};
use crate::client::{ConnectError, Connector, SessionCache};
use crate::connection_report::trace_connection;
use crate::{Config, ConnectionReport};

/// What TCP connect plus the TLS handshake may take by default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The ALPN names of HTTP/2 and HTTP/1.1.
const H2: &[u8] = b"h2";
const HTTP11: &[u8] = b"http/1.1";

type EndHook = Arc<dyn Fn(&ConnectionReport) + Send + Sync>;

/// A `tower_service::Service<Uri>` for hyper-util's legacy `Client`: TCP,
/// then a rustls handshake (ALPN `h2`, `http/1.1` unless the config or
/// [`http1_only`](Self::http1_only) / [`http2_only`](Self::http2_only) say
/// otherwise) whose sessions follow a
/// [`SessionCache`], and every connection a
/// [`GracefulStream`](crate::GracefulStream).
///
/// ```no_run
/// # async fn demo(config: std::sync::Arc<rustls::ClientConfig>) -> Result<(), Box<dyn std::error::Error>> {
/// use graceful_tls::client::HttpsConnector;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
///
/// let connector = HttpsConnector::new(config)
///     .on_end(|report| eprintln!("{report}")); // e.g. "connection 1 to example.com (…) TLSv1.3 full h2: not-awaited"
/// let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
/// let response = client.get("https://example.com/".parse()?).await?;
/// drop(client); // idle pooled connections send close_notify
/// # Ok(()) }
/// ```
///
/// * The URI must be `https` with a host; the port defaults to 443. The
///   host is the server name: verified, sent as SNI when it is a DNS name
///   (an IP address is verified against the certificate's IP SANs, with no
///   SNI), and the session cache's key.
/// * [`connect_to`](Self::connect_to) dials another address (a test server,
///   a load balancer's node) while the URI's host is still verified.
/// * TCP connect and handshake together are bounded by
///   [`connect_timeout`](Self::with_connect_timeout) (10 s by default).
/// * Each connection's end is reported once, with its outcome: to the
///   [`on_end`](Self::on_end) hook and, with the `tracing` feature, as an
///   `info` event of target `graceful_tls::client`. Idle connections that
///   the pool drops (e.g. when the `Client` is dropped) are shut down by
///   hyper or dropped, and send close_notify either way.
/// * The pool reuses an idle HTTP/1.1 connection and runs every HTTP/2
///   request on one: a few requests usually make one connection and one
///   `full` handshake. `resumed` shows on later *new* connections (the
///   [`client` docs](crate::client#hyper-util-connector-feature-hyper-client)
///   have a three-request example that prints `full`, `resumed`, `resumed`).
///
/// Cloning is cheap: clones share the cache, the hook and the id counter.
#[derive(Clone)]
pub struct HttpsConnector {
    connector: Connector,
    connect_to: Option<SocketAddr>,
    connect_timeout: Duration,
    token: CancellationToken,
    on_end: Option<EndHook>,
    next_id: Arc<AtomicU64>,
}

impl HttpsConnector {
    /// A connector for `config` (an `Arc<ClientConfig>`, as tokio-rustls'
    /// `TlsConnector` and `server::serve` take, or a
    /// `ClientConfig`), with a new [`SessionCache`].
    ///
    /// ALPN: the protocols `config` offers if it offers any (say
    /// `vec![b"http/1.1".to_vec()]`), otherwise `h2` and `http/1.1`;
    /// [`http1_only`](Self::http1_only) and [`http2_only`](Self::http2_only)
    /// replace them. hyper speaks HTTP/2 on a connection whose server chose
    /// `h2`, HTTP/1.1 otherwise, so offer nothing but those two.
    pub fn new(config: impl Into<Arc<ClientConfig>>) -> Self {
        Self::with_session_cache(config, SessionCache::new())
    }

    /// Like [`new`](Self::new), with sessions that follow `cache`.
    pub fn with_session_cache(config: impl Into<Arc<ClientConfig>>, cache: SessionCache) -> Self {
        let mut config = config.into();
        if config.alpn_protocols.is_empty() {
            Arc::make_mut(&mut config).alpn_protocols = vec![H2.to_vec(), HTTP11.to_vec()];
        }
        HttpsConnector {
            connector: Connector::new(config, cache),
            connect_to: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            token: CancellationToken::new(),
            on_end: None,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Offers only `http/1.1` in ALPN (hyper-rustls' `enable_http1()`
    /// alone): every connection speaks HTTP/1.1, and a server that speaks
    /// only HTTP/2 refuses the handshake (`no_application_protocol`).
    pub fn http1_only(mut self) -> Self {
        self.connector = self.connector.with_alpn(vec![HTTP11.to_vec()]);
        self
    }

    /// Offers only `h2` in ALPN (hyper-rustls' `enable_http2()` alone). A
    /// server that knows ALPN and not `h2` refuses the handshake; one that
    /// ignores ALPN gets HTTP/1.1 unless the `Client` is built
    /// `http2_only(true)` as well (which speaks HTTP/2 whatever ALPN said).
    pub fn http2_only(mut self) -> Self {
        self.connector = self.connector.with_alpn(vec![H2.to_vec()]);
        self
    }

    /// Dials `addr` for every URI, whatever its host (which is still the
    /// server name verified and sent as SNI).
    pub fn connect_to(mut self, addr: SocketAddr) -> Self {
        self.connect_to = Some(addr);
        self
    }

    /// Bounds TCP connect plus the TLS handshake (default 10 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The deadlines each connection closes within.
    pub fn with_stream_config(mut self, config: Config) -> Self {
        self.connector = self.connector.with_stream_config(config);
        self
    }

    /// Every connection's cancellation token is a child of `token`:
    /// cancelling it ends pending reads on all of them.
    pub fn with_token(mut self, token: CancellationToken) -> Self {
        self.token = token;
        self
    }

    /// Calls `hook` once per connection, when it ends (from whichever task
    /// ends it; keep it short). Replaces an earlier hook.
    pub fn on_end(mut self, hook: impl Fn(&ConnectionReport) + Send + Sync + 'static) -> Self {
        self.on_end = Some(Arc::new(hook));
        self
    }

    /// The session cache (to [`forget`](SessionCache::forget) a server).
    pub fn session_cache(&self) -> &SessionCache {
        self.connector.session_cache()
    }

    /// Connects to `uri`'s host (or the `connect_to` address) and
    /// handshakes.
    ///
    /// # Errors
    ///
    /// [`ConnectError`], naming the cause: no host, not https, an invalid
    /// server name, resolution, TCP, the handshake, or the timeout.
    ///
    /// # Cancellation safety
    ///
    /// Dropping the future drops the connection attempt; nothing is cached
    /// or reported for it.
    pub async fn connect(&self, uri: Uri) -> Result<HttpsStream, ConnectError> {
        let target = Target::of(&uri)?;
        let addr_text = match self.connect_to {
            Some(addr) => addr.to_string(),
            None => format!("{}:{}", target.host, target.port),
        };
        let connected = tokio::time::timeout(self.connect_timeout, async {
            let tcp = self.tcp(&target).await?;
            let peer = tcp.peer_addr().map_err(|source| ConnectError::Connect {
                addr: addr_text.clone(),
                source,
            })?;
            let stream = self
                .connector
                .connect(target.name.clone(), tcp, self.token.child_token())
                .await?;
            Ok::<_, ConnectError>((stream, peer))
        })
        .await;
        let (mut stream, peer) = match connected {
            Ok(result) => result?,
            Err(_) => {
                return Err(ConnectError::Timeout {
                    addr: addr_text,
                    after: self.connect_timeout,
                })
            }
        };
        let alpn = stream
            .get_ref()
            .get_ref()
            .1
            .alpn_protocol()
            .map(<[u8]>::to_vec);
        let info = ConnectionInfo {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            server_name: target.host.clone(),
            peer,
            version: stream.protocol_version(),
            handshake: stream.handshake_kind(),
            h2: alpn.as_deref() == Some(H2),
            alpn,
        };
        let hook = self.on_end.clone();
        let connection = info.clone();
        let handshaken = Instant::now();
        stream.on_end(move |ended, stats| {
            let report = ConnectionReport {
                peer: Some(connection.peer),
                server_name: Some(connection.server_name),
                version: connection.version,
                handshake: connection.handshake,
                alpn: connection.alpn,
                stats,
                lifetime: handshaken.elapsed(),
                ..ConnectionReport::new(connection.id, ended.clone())
            };
            trace_connection!("graceful_tls::client", &report);
            if let Some(hook) = hook {
                hook(&report);
            }
        });
        Ok(HttpsStream::new(stream, info))
    }

    /// The TCP connection: to `connect_to`, or to each address the host
    /// resolves to in turn.
    async fn tcp(&self, target: &Target) -> Result<TcpStream, ConnectError> {
        let addrs: Vec<SocketAddr> = match self.connect_to {
            Some(addr) => vec![addr],
            None => {
                let resolve = format!("{}:{}", target.host, target.port);
                let found = tokio::net::lookup_host((target.host.as_str(), target.port))
                    .await
                    .map_err(|source| ConnectError::Resolve {
                        target: resolve.clone(),
                        source,
                    })?
                    .collect::<Vec<_>>();
                if found.is_empty() {
                    return Err(ConnectError::Resolve {
                        target: resolve,
                        source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                    });
                }
                found
            }
        };
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(tcp) => {
                    // Requests are small writes: do not let Nagle delay them.
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Err(source) => last = Some((addr, source)),
            }
        }
        let (addr, source) = last.expect("at least one address");
        Err(ConnectError::Connect {
            addr: addr.to_string(),
            source,
        })
    }
}

/// What a URI says to connect to.
struct Target {
    /// The host without IPv6 brackets.
    host: String,
    port: u16,
    name: ServerName<'static>,
}

impl Target {
    fn of(uri: &Uri) -> Result<Target, ConnectError> {
        let text = || uri.to_string();
        let host = match uri.host() {
            Some(host) if !host.is_empty() => host,
            _ => return Err(ConnectError::NoHost { uri: text() }),
        };
        if uri.scheme_str() != Some("https") {
            return Err(ConnectError::NotHttps { uri: text() });
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        let name = ServerName::try_from(host.clone())
            .map_err(|_| ConnectError::InvalidServerName { host: host.clone() })?;
        Ok(Target {
            host,
            port: uri.port_u16().unwrap_or(443),
            name,
        })
    }
}

impl tower_service::Service<Uri> for HttpsConnector {
    type Response = HttpsStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpsStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

impl fmt::Debug for HttpsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsConnector")
            .field("connector", &self.connector)
            .field("connect_to", &self.connect_to)
            .field("connect_timeout", &self.connect_timeout)
            .field("on_end", &self.on_end.is_some())
            .finish_non_exhaustive()
    }
}
