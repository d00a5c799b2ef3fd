//! Session hygiene in memory: real rustls client/server pairs over
//! `tokio::io::duplex`, one server config (and so one server session cache)
//! per test, a `client::Connector` with a `SessionCache` on the client.
//! Each test makes connections in a row and checks, from the client's own
//! `handshake_kind()`, which ones resumed.

use graceful_tls_testkit::{bounded, certs, hostile, pairs, WAIT};

use std::sync::Arc;
use std::time::Duration;

use graceful_tls::client::{ConnectError, Connector, SessionCache, SessionPolicy};
use graceful_tls::{
    CancellationToken, CloseOutcome, Config, Ended, Error, GracefulStream, HandshakeKind,
    ReadOutcome,
};
use pairs::{Version, VERSIONS};
use rustls::pki_types::ServerName;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;
use tokio_rustls::{client, server, TlsAcceptor};

type Client = GracefulStream<client::TlsStream<DuplexStream>>;
type Server = server::TlsStream<DuplexStream>;

/// One server (its session cache persists across connections) and one
/// client connector; every client stream reports its end on `ends`.
struct Kit {
    server: Arc<ServerConfig>,
    connector: Connector,
    ends: mpsc::UnboundedReceiver<Ended>,
    ends_tx: mpsc::UnboundedSender<Ended>,
}

impl Kit {
    fn new(version: Version, policy: SessionPolicy) -> Kit {
        let cache = SessionCache::new().with_policy(policy);
        let connector = Connector::new((*pairs::client_config(version)).clone(), cache)
            .with_stream_config(Config::default().with_flush_timeout(Duration::from_secs(1)));
        let (ends_tx, ends) = mpsc::unbounded_channel();
        Kit {
            server: pairs::server_config(version),
            connector,
            ends,
            ends_tx,
        }
    }

    /// Connects to `name` (full handshake if `full`), 64 KiB buffers.
    async fn try_connect(&self, name: &str, full: bool) -> (Result<Client, ConnectError>, Server) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from(name.to_owned()).expect("server name");
        let token = CancellationToken::new();
        let connect = async {
            if full {
                self.connector.connect_full_handshake(name, a, token).await
            } else {
                self.connector.connect(name, a, token).await
            }
        };
        let handshakes =
            async { tokio::join!(connect, TlsAcceptor::from(self.server.clone()).accept(b)) };
        let (client, server) = bounded("both handshakes", WAIT, handshakes).await;
        let client = client.map(|mut stream| {
            let ends = self.ends_tx.clone();
            stream.on_end(move |ended, _| {
                let _ = ends.send(ended.clone());
            });
            stream
        });
        (client, server.expect("server handshake"))
    }

    async fn connect(&self, name: &str) -> (Client, Server) {
        let (client, server) = self.try_connect(name, false).await;
        (client.expect("client handshake"), server)
    }

    /// A whole clean connection: the server says hello (TLS 1.3 tickets
    /// come before it, so the client has stored them once it read it), both
    /// close with close_notify. Returns the client's handshake kind.
    async fn clean(&mut self, name: &str, full: bool) -> HandshakeKind {
        let (client, server) = self.try_connect(name, full).await;
        let mut client = client.expect("client handshake");
        let kind = client.handshake_kind().expect("handshake kind");
        let mut server = GracefulStream::new(server, CancellationToken::new());
        server.write_all(b"hello").await.expect("server write");
        server.flush().await.expect("server flush");
        read_hello(&mut client).await;
        let closes = async { tokio::join!(client.close(), server.close()) };
        let (client_closed, server_closed) = bounded("both closes", WAIT, closes).await;
        assert!(client_closed.is_ok() && server_closed.is_ok());
        assert!(matches!(self.end().await, Ended::Closed(_)));
        kind
    }

    /// The next client end reported.
    async fn end(&mut self) -> Ended {
        bounded("a client's end", WAIT, self.ends.recv())
            .await
            .expect("an end")
    }

    fn forgotten(&self) -> u64 {
        self.connector.session_cache().forgotten()
    }
}

async fn read_hello(client: &mut Client) {
    let mut buf = [0u8; 5];
    bounded("the server's hello", WAIT, client.read_exact(&mut buf))
        .await
        .expect("read hello");
    assert_eq!(&buf, b"hello");
}

/// A TLS record that does not decrypt: application data, 22 bytes.
const GARBAGE: [u8; 27] = {
    let mut record = [0x5a; 27];
    record[0] = 23;
    record[1] = 3;
    record[2] = 3;
    record[3] = 0;
    record[4] = 22;
    record
};

/// The 2nd and later connections resume; the handshake kind says so.
#[tokio::test]
async fn later_connections_resume() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
        for _ in 0..3 {
            assert_eq!(
                kit.clean("localhost", false).await,
                HandshakeKind::Resumed,
                "{version:?}"
            );
        }
        assert_eq!(kit.forgotten(), 0);
    }
}

/// Story: "kill a connection, make sure the next one does a fresh
/// handshake". The server sends a fatal alert (our garbage record made it):
/// the client's read fails with a TLS error, the cache forgets, the next
/// handshake is full, and the one after resumes again.
#[tokio::test]
async fn fatal_alert_received_forgets() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        kit.clean("localhost", false).await;
        let (mut client, mut server) = kit.connect("localhost").await;
        assert_eq!(client.handshake_kind(), Some(HandshakeKind::Resumed));
        // Bypass TLS: a record the server cannot decrypt.
        client
            .get_mut()
            .get_mut()
            .0
            .write_all(&GARBAGE)
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let server_saw = server.read(&mut buf).await;
        assert!(
            server_saw.is_err(),
            "server accepted garbage: {server_saw:?}"
        );
        drop(server);
        let read = client.read_outcome(&mut buf).await;
        let Err(Error::Tls(source)) = read else {
            panic!("{version:?}: expected the server's fatal alert, got {read:?}");
        };
        assert!(
            matches!(
                source.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::AlertReceived(_))
            ),
            "{source:?}"
        );
        assert!(matches!(kit.end().await, Ended::Failed(Error::Tls(_))));
        assert_eq!(kit.forgotten(), 1);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Resumed);
    }
}

/// The server sends a record that does not decrypt: rustls on our side
/// sends the fatal alert; the cache forgets.
#[tokio::test]
async fn fatal_alert_sent_forgets() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        kit.clean("localhost", false).await;
        let (mut client, mut server) = kit.connect("localhost").await;
        server.get_mut().0.write_all(&GARBAGE).await.unwrap();
        let mut buf = [0u8; 64];
        let read = client.read_outcome(&mut buf).await;
        let Err(Error::Tls(source)) = read else {
            panic!("{version:?}: expected a TLS failure, got {read:?}");
        };
        assert!(
            matches!(
                source.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::DecryptError)
            ),
            "{source:?}"
        );
        // Our fatal alert reached the server.
        let server_saw = server.read(&mut buf).await;
        assert!(server_saw.is_err(), "{server_saw:?}");
        assert!(matches!(kit.end().await, Ended::Failed(Error::Tls(_))));
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
    }
}

/// A truncation keeps the sessions under the default policy (RFC 5246
/// §7.2.1) and forgets them under the strict one.
#[tokio::test]
async fn truncation_forgets_only_when_strict() {
    for version in VERSIONS {
        for (policy, next) in [
            (SessionPolicy::FatalAlerts, HandshakeKind::Resumed),
            (SessionPolicy::Strict, HandshakeKind::Full),
        ] {
            let mut kit = Kit::new(version, policy);
            kit.clean("localhost", false).await;
            let (mut client, server) = kit.connect("localhost").await;
            // The server's transport ends without close_notify (it shuts its
            // write half, and goes on reading, as a TCP peer's FIN would).
            let (mut server_io, _) = server.into_inner();
            server_io.shutdown().await.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(
                client.read_outcome(&mut buf).await.unwrap(),
                ReadOutcome::AbruptEof
            );
            assert_eq!(client.close().await.unwrap(), CloseOutcome::PeerEof);
            assert!(matches!(
                kit.end().await,
                Ended::Closed(CloseOutcome::PeerEof)
            ));
            assert_eq!(
                kit.clean("localhost", false).await,
                next,
                "{version:?} {policy:?}"
            );
        }
    }
}

/// Strict: a close_notify that cannot be flushed (the server stopped
/// reading) forgets too. Paused clock: the flush deadline passes at once.
#[tokio::test(start_paused = true)]
async fn flush_timeout_forgets_when_strict() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::Strict);
        kit.clean("localhost", false).await;
        let (mut client, _server) = kit.connect("localhost").await;
        let big = vec![0u8; 1 << 20];
        let write = tokio::time::timeout(Duration::from_secs(5), client.write_all(&big)).await;
        assert!(
            write.is_err(),
            "the server reads nothing: the write must stall"
        );
        assert_eq!(client.close().await.unwrap(), CloseOutcome::FlushTimeout);
        assert!(matches!(
            kit.end().await,
            Ended::Closed(CloseOutcome::FlushTimeout)
        ));
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
    }
}

/// Story: "the trust policy changed; the next connection must not silently
/// resume". A forced full handshake verifies the certificate again without
/// rebuilding the config, and its session serves the next connections; a
/// config with a new verifier never resumes the old sessions (rustls
/// checks the verifier), even from the same cache.
#[tokio::test]
async fn forced_full_handshake_and_new_trust_policy() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Resumed);
        assert_eq!(kit.clean("localhost", true).await, HandshakeKind::Full);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Resumed);

        // Same cache, a freshly built config (a new verifier Arc).
        let cache = kit.connector.session_cache().clone();
        kit.connector = Connector::new((*pairs::client_config(version)).clone(), cache);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Resumed);
    }
}

/// `forget` is public, and the cache is keyed by the server name, not by
/// the address dialled: forgetting another name changes nothing.
#[tokio::test]
async fn forget_by_name() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        kit.clean("localhost", false).await;
        let cache = kit.connector.session_cache().clone();
        cache.forget(&ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Resumed);
        cache.forget(&ServerName::try_from("localhost").unwrap());
        assert_eq!(kit.clean("localhost", false).await, HandshakeKind::Full);
    }
}

/// Story: "dial an IP address, verify and send SNI for a name". The server
/// sees SNI `localhost` when the name is `localhost`, none when it is
/// `127.0.0.1` (verified against the certificate's IP SAN), and each name
/// has its own sessions.
#[tokio::test]
async fn sni_and_cache_follow_the_name() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        for (name, sni) in [("localhost", Some("localhost")), ("127.0.0.1", None)] {
            let (client, server) = kit.connect(name).await;
            assert_eq!(server.get_ref().1.server_name(), sni);
            drop((client, server));
            kit.end().await;
        }
        kit.clean("127.0.0.1", false).await;
        assert_eq!(kit.clean("127.0.0.1", false).await, HandshakeKind::Resumed);
        kit.connector
            .session_cache()
            .forget(&ServerName::try_from("127.0.0.1").unwrap());
        assert_eq!(kit.clean("127.0.0.1", false).await, HandshakeKind::Full);
    }
}

/// A certificate for another name: a typed error naming the name, and the
/// sessions of that name are forgotten (we sent a fatal alert).
#[tokio::test]
async fn certificate_for_another_name_is_a_typed_error() {
    let kit = Kit::new(Version::Tls13, SessionPolicy::FatalAlerts);
    let (client, _server) = {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from("example.com").unwrap();
        tokio::join!(
            kit.connector.connect(name, a, CancellationToken::new()),
            TlsAcceptor::from(kit.server.clone()).accept(b)
        )
    };
    let error = client.expect_err("wrong name must fail");
    let ConnectError::Handshake {
        server_name,
        source,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(server_name, "example.com");
    assert!(error.to_string().contains("example.com"), "{error}");
    assert!(matches!(
        source
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(_))
    ));
    assert_eq!(kit.forgotten(), 1);
}

/// The end hooks: a hook registered after the end runs at once; a stream
/// dropped where nothing can finish its close reports `Unfinished`.
#[tokio::test]
async fn end_hooks() {
    let (client, _server) = pairs::duplex_pair(Version::Tls13, 64 * 1024).await;
    let mut stream = GracefulStream::new_local(client, CancellationToken::new(), Config::default());
    // Fill the pipe (the server reads nothing) so that close_notify cannot
    // be flushed at once.
    let big = vec![0u8; 1 << 20];
    let write = tokio::time::timeout(Duration::from_millis(50), stream.write_all(&big)).await;
    assert!(write.is_err(), "the write must stall");
    let (tx, mut rx) = mpsc::unbounded_channel();
    stream.on_end(move |ended, _| {
        let _ = tx.send(ended.clone());
    });
    drop(stream);
    assert!(matches!(rx.try_recv(), Ok(Ended::Unfinished)));

    let (client, server) = pairs::duplex_pair(Version::Tls13, 64 * 1024).await;
    let mut stream = GracefulStream::new(client, CancellationToken::new());
    let (early_tx, mut early) = mpsc::unbounded_channel();
    stream.on_end(move |ended, stats| {
        let _ = early_tx.send((ended.to_string(), stats));
    });
    drop(server);
    let _ = stream.close().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    stream.on_end(move |ended, stats| {
        let _ = tx.send((ended.clone(), stats));
    });
    let (late, late_stats) = rx.try_recv().expect("a late hook runs at once");
    assert!(
        matches!(late, Ended::Closed(_) | Ended::Failed(_)),
        "{late}"
    );
    // The stream keeps no copy of the end: a late hook is told it again
    // from the state that decided it, and hears what the first one heard.
    let (first, first_stats) = early.try_recv().expect("the early hook ran");
    assert_eq!(late.to_string(), first);
    assert_eq!(late_stats, first_stats);
}

/// A stream that failed tells a late hook the same failure, and one that
/// closed cleanly the same outcome, whatever happened after.
#[tokio::test]
async fn a_late_hook_hears_the_first_end() {
    // Closed cleanly: both sides exchange close_notify.
    let (client, server) = pairs::duplex_pair(Version::Tls13, 64 * 1024).await;
    let mut ours = GracefulStream::new(client, CancellationToken::new());
    let mut theirs = GracefulStream::new(server, CancellationToken::new());
    let (a, b) = tokio::join!(ours.close(), theirs.close());
    let outcome = a.expect("our close");
    b.expect("their close");
    let (tx, mut rx) = mpsc::unbounded_channel();
    ours.on_end(move |ended, _| {
        let _ = tx.send(ended.clone());
    });
    assert!(matches!(rx.try_recv(), Ok(Ended::Closed(o)) if o == outcome));

    // Failed: the transport is reset under a read; the close that follows
    // repeats the error, and a late hook hears that failure, not a close.
    let wired = hostile::wired(pairs::Side::Client, Version::Tls13, 64 * 1024).await;
    let mut ours = GracefulStream::new(wired.ours, CancellationToken::new());
    wired.our_tap.reset();
    let mut buf = [0u8; 16];
    let error = ours.read_outcome(&mut buf).await.expect_err("reset");
    assert!(ours.close().await.is_err());
    let (tx, mut rx) = mpsc::unbounded_channel();
    ours.on_end(move |ended, _| {
        let _ = tx.send(ended.clone());
    });
    let late = rx.try_recv().expect("a late hook runs at once");
    assert!(matches!(late, Ended::Failed(_)), "{late}");
    assert_eq!(late.to_string(), Ended::Failed(error).to_string());
    drop(wired.peer);
}

/// A forced full handshake never resumes, yet stores what it negotiated
/// (the full-handshake config only never offers a session): on a fresh
/// cache, the TLS 1.2 session or the TLS 1.3 tickets of a forced full
/// handshake are what the next connection resumes from.
#[tokio::test]
async fn a_forced_full_handshake_stores_its_session_for_the_next() {
    for version in VERSIONS {
        let mut kit = Kit::new(version, SessionPolicy::FatalAlerts);
        assert_eq!(kit.clean("localhost", true).await, HandshakeKind::Full);
        assert_eq!(
            kit.clean("localhost", true).await,
            HandshakeKind::Full,
            "{version:?}: a forced full handshake never resumes"
        );
        assert_eq!(
            kit.clean("localhost", false).await,
            HandshakeKind::Resumed,
            "{version:?}: the forced full handshakes stored nothing"
        );
    }
}

/// The key-exchange group the server chose is remembered through a forced
/// full handshake too: a server that only takes P-256 makes the first
/// connection pay a HelloRetryRequest (the client guesses X25519), and the
/// next forced full handshake starts with P-256 at once.
#[tokio::test]
async fn a_forced_full_handshake_keeps_the_key_exchange_hint() {
    let mut kit = Kit::new(Version::Tls13, SessionPolicy::FatalAlerts);
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups = vec![rustls::crypto::ring::kx_group::SECP256R1];
    kit.server = Arc::new(
        certs::server_config(
            Arc::new(provider),
            &[&rustls::version::TLS13],
            certs::SERVER_PEM,
            certs::SERVER_KEY,
        )
        .expect("server config"),
    );
    assert_eq!(
        kit.clean("localhost", true).await,
        HandshakeKind::FullWithHelloRetryRequest
    );
    assert_eq!(
        kit.clean("localhost", true).await,
        HandshakeKind::Full,
        "the hint from the first connection was not stored, or not read"
    );
}

/// A TLS 1.3 handshake drops the TLS 1.2 session cached for the name
/// (rustls: a server that speaks TLS 1.3 must not be offered a TLS 1.2
/// resumption), a forced full one too: the full-handshake config passes
/// the removal on to the cache.
#[tokio::test]
async fn a_forced_full_tls13_handshake_drops_the_tls12_session() {
    let mut kit = Kit::new(Version::Tls12, SessionPolicy::FatalAlerts);
    let name = ServerName::try_from("localhost").unwrap();
    let cache = kit.connector.session_cache().clone();
    kit.clean("localhost", false).await;
    assert!(cache.store().tls12_session(&name).is_some());
    // The same cache, a client that speaks both versions, a TLS 1.3 server.
    let both = certs::client_config(
        Arc::new(rustls::crypto::ring::default_provider()),
        &[&rustls::version::TLS12, &rustls::version::TLS13],
        certs::CA_PEM,
    )
    .expect("client config");
    kit.connector = Connector::new(both, cache.clone());
    kit.server = pairs::server_config(Version::Tls13);
    assert_eq!(kit.clean("localhost", true).await, HandshakeKind::Full);
    assert!(
        cache.store().tls12_session(&name).is_none(),
        "the TLS 1.2 session outlived a TLS 1.3 handshake"
    );
}

/// The cache's policy is the one it was given, and its debug output says
/// what it holds.
#[test]
fn the_policy_and_the_debug_output_describe_the_cache() {
    let cache = SessionCache::new();
    assert_eq!(cache.policy(), SessionPolicy::FatalAlerts);
    let strict = cache.with_policy(SessionPolicy::Strict);
    assert_eq!(strict.policy(), SessionPolicy::Strict);
    assert_eq!(cache.policy(), SessionPolicy::FatalAlerts);
    strict.forget(&ServerName::try_from("localhost").unwrap());
    let debug = format!("{strict:?}");
    assert!(debug.starts_with("SessionCache {"), "{debug}");
    assert!(debug.contains("policy: Strict"), "{debug}");
    assert!(debug.contains("forgotten: 1"), "{debug}");
}
