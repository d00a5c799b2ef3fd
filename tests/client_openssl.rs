//! Session hygiene against a real peer: `openssl s_server`, which prints
//! `Reused session-id` for each resumed connection and, with
//! `-servername`/`-cert2`, `Hostname in TLS extension: "NAME"` for the SNI
//! it received. Our side is `client::Connector` in process (to inject
//! faults) or the `client` example (its flags).

#[allow(dead_code)]
use graceful_tls_testkit::interop;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdTcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graceful_tls::client::{Connector, SessionCache, SessionPolicy};
use graceful_tls::{CancellationToken, Error, HandshakeKind, ReadOutcome};
use interop::{cert, example, free_port, openssl, transcripts, Out, Proc, Version, TIMEOUT};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const REUSED: &str = "Reused session-id";

/// A record that does not decrypt (application data, 22 bytes).
const GARBAGE: [u8; 27] = {
    let mut record = [0x5a; 27];
    record[0] = 23;
    record[1] = 3;
    record[2] = 3;
    record[3] = 0;
    record[4] = 22;
    record
};

/// Runs `case` for TLS 1.3 and TLS 1.2.
macro_rules! both_versions {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tls13() {
                super::$case(super::Version::Tls13).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tls12() {
                super::$case(super::Version::Tls12).await
            }
        }
    )*};
}

both_versions!(
    example_resumes_second_and_later,
    fatal_alert_from_server_forgets,
    our_fatal_alert_on_garbage_forgets,
    strict_policy_forgets_after_truncation,
);

/// `openssl s_server` accepting `n` connections, with SNI reporting.
fn s_server(version: Version, n: usize, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = openssl();
    cmd.arg("s_server")
        .args(["-accept", &port.to_string()])
        .args(["-cert", &cert("server.pem"), "-key", &cert("server.key")])
        .args(["-servername", "localhost"])
        .args(["-cert2", &cert("server.pem"), "-key2", &cert("server.key")])
        .args(["-naccept", &n.to_string()])
        .args(version.openssl_flags())
        .args(extra);
    let server = Proc::spawn("openssl s_server", cmd);
    let accept = server.wait_line(Out::Stdout, TIMEOUT, |l| l == "ACCEPT");
    assert!(
        accept.is_some(),
        "s_server did not start\n{}",
        server.transcript()
    );
    (server, port)
}

fn client_config(version: Version) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match version {
        Version::Tls12 => &[&rustls::version::TLS12],
        Version::Tls13 => &[&rustls::version::TLS13],
    };
    ClientConfig::builder_with_protocol_versions(versions)
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn connector(version: Version, policy: SessionPolicy) -> Connector {
    Connector::new(
        client_config(version),
        SessionCache::new().with_policy(policy),
    )
}

/// A whole clean connection to `port`: handshake, close (s_server answers
/// our close_notify with its own). Returns the handshake kind.
async fn clean(connector: &Connector, port: u16) -> HandshakeKind {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector
        .connect(name, tcp, CancellationToken::new())
        .await
        .unwrap();
    let kind = stream.handshake_kind().unwrap();
    stream.close().await.expect("clean close");
    kind
}

fn reused(server: &Proc) -> usize {
    server
        .texts(Out::Stdout)
        .iter()
        .filter(|l| l.contains(REUSED))
        .count()
}

/// The `client` example with `--resume 3`: the 2nd and 3rd runs resume,
/// as the example prints and s_server confirms.
async fn example_resumes_second_and_later(version: Version) {
    let (mut server, port) = s_server(version, 3, &[]);
    let mut cmd = Command::new(example("client"));
    cmd.args(["--connect", &format!("127.0.0.1:{port}")])
        .args(["--server-name", "localhost", "--ca", &cert("ca.pem")])
        .args(["--send", "hi", "--cancel-after-ms", "300", "--resume", "3"])
        .args(version.example_flags());
    let mut client = Proc::spawn("example client", cmd);
    let status = tokio::task::block_in_place(|| client.wait_exit(TIMEOUT));
    let all = transcripts(&[&server, &client]);
    assert!(status.is_some_and(|s| s.success()), "{all}");
    let v = version.printed();
    let handshakes: Vec<String> = client
        .texts(Out::Stdout)
        .into_iter()
        .filter(|l| l.starts_with("handshake: "))
        .collect();
    assert_eq!(
        handshakes,
        [
            format!("handshake: {v} full"),
            format!("handshake: {v} resumed"),
            format!("handshake: {v} resumed")
        ],
        "{all}"
    );
    tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
    assert_eq!(reused(&server), 2, "{}", transcripts(&[&server, &client]));
}

/// Our garbage record makes s_server send a fatal alert: our read fails
/// with the alert, the cache forgets, and the next handshake is full (s_server
/// prints no `Reused` for it).
async fn fatal_alert_from_server_forgets(version: Version) {
    let (mut server, port) = s_server(version, 3, &[]);
    let connector = connector(version, SessionPolicy::FatalAlerts);
    assert_eq!(clean(&connector, port).await, HandshakeKind::Full);

    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector
        .connect(name, tcp, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(stream.handshake_kind(), Some(HandshakeKind::Resumed));
    stream
        .get_mut()
        .get_mut()
        .0
        .write_all(&GARBAGE)
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = loop {
        match stream.read_outcome(&mut buf).await {
            Ok(ReadOutcome::Data(_)) => continue,
            other => break other,
        }
    };
    let Err(Error::Tls(source)) = &read else {
        panic!(
            "expected s_server's fatal alert, got {read:?}\n{}",
            server.transcript()
        );
    };
    assert!(
        matches!(
            source.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::AlertReceived(_))
        ),
        "{source:?}"
    );
    drop(stream);
    assert_eq!(connector.session_cache().forgotten(), 1);
    assert_eq!(clean(&connector, port).await, HandshakeKind::Full);
    tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
    assert_eq!(reused(&server), 1, "{}", server.transcript());
}

/// A TCP relay to s_server that can inject bytes towards the client
/// between records (the stream is idle when the test injects).
struct Relay {
    port: u16,
    /// The client side of the latest connection.
    latest: Arc<Mutex<Option<Arc<Mutex<StdTcpStream>>>>>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let latest: Arc<Mutex<Option<Arc<Mutex<StdTcpStream>>>>> = Arc::default();
        let slot = latest.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = StdTcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                // Each connection's forwarder writes through its own handle.
                let to_client = Arc::new(Mutex::new(client.try_clone().unwrap()));
                *slot.lock().unwrap() = Some(to_client.clone());
                let mut server_read = server.try_clone().unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = server_read.read(&mut buf) {
                        if n == 0 || to_client.lock().unwrap().write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client
                        .lock()
                        .unwrap()
                        .shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client, &mut server);
                    let _ = server.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Relay { port, latest }
    }

    /// Writes `bytes` to the latest connection's client, between two
    /// writes of the forwarder.
    fn inject(&self, bytes: &[u8]) {
        let latest = self.latest.lock().unwrap().clone().expect("a client");
        latest.lock().unwrap().write_all(bytes).unwrap();
    }
}

/// A record that does not decrypt reaches us: rustls sends the fatal alert
/// (s_server reads it), the cache forgets, the next handshake is full.
async fn our_fatal_alert_on_garbage_forgets(version: Version) {
    let (mut server, port) = s_server(version, 3, &[]);
    let relay = Relay::start(port);
    let connector = connector(version, SessionPolicy::FatalAlerts);
    assert_eq!(clean(&connector, relay.port).await, HandshakeKind::Full);

    let tcp = TcpStream::connect(("127.0.0.1", relay.port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector
        .connect(name, tcp, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(stream.handshake_kind(), Some(HandshakeKind::Resumed));
    // s_server printed the connection's details: its handshake flight
    // (and TLS 1.3 tickets) was sent; give the relay a moment to pass it on
    // so that the garbage follows whole records.
    let printed = tokio::task::block_in_place(|| {
        server.wait_line(Out::Stdout, TIMEOUT, |l| l.contains(REUSED))
    });
    assert!(printed.is_some(), "{}", server.transcript());
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay.inject(&GARBAGE);
    let mut buf = [0u8; 1024];
    let read = loop {
        match stream.read_outcome(&mut buf).await {
            Ok(ReadOutcome::Data(_)) => continue,
            other => break other,
        }
    };
    let Err(Error::Tls(source)) = &read else {
        panic!(
            "expected a TLS failure, got {read:?}\n{}",
            server.transcript()
        );
    };
    assert!(
        matches!(
            source.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::DecryptError)
        ),
        "{source:?}"
    );
    drop(stream);
    assert_eq!(connector.session_cache().forgotten(), 1);
    assert_eq!(clean(&connector, relay.port).await, HandshakeKind::Full);
    tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
    // s_server read our alert (its error names it), and saw one resumption.
    assert!(
        server.contains(Out::Stdout, "ERROR"),
        "{}",
        server.transcript()
    );
    assert_eq!(reused(&server), 1, "{}", server.transcript());
}

/// s_server's `q` closes the connection without close_notify: under the
/// strict policy the cache forgets (`forgotten() == 1`) and the next
/// handshake is full. (OpenSSL also drops the session on its side when it
/// frees a connection without sending close_notify, so against s_server
/// the next handshake would be full anyway; the in-memory test
/// `truncation_forgets_only_when_strict` shows the difference the policy
/// makes.)
async fn strict_policy_forgets_after_truncation(version: Version) {
    let (mut server, port) = s_server(version, 3, &[]);
    let connector = connector(version, SessionPolicy::Strict);
    assert_eq!(clean(&connector, port).await, HandshakeKind::Full);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = connector
        .connect(name, tcp, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(stream.handshake_kind(), Some(HandshakeKind::Resumed));
    tokio::task::block_in_place(|| {
        assert!(server
            .wait_line(Out::Stdout, TIMEOUT, |l| l.contains(REUSED))
            .is_some());
        server.write_stdin("q\n");
    });
    let mut buf = [0u8; 1024];
    let read = loop {
        match stream.read_outcome(&mut buf).await {
            Ok(ReadOutcome::Data(_)) => continue,
            other => break other,
        }
    };
    assert_eq!(read.unwrap(), ReadOutcome::AbruptEof);
    assert_eq!(
        stream.close().await.unwrap(),
        graceful_tls::CloseOutcome::PeerEof
    );
    assert_eq!(connector.session_cache().forgotten(), 1);
    assert_eq!(clean(&connector, port).await, HandshakeKind::Full);
    tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
}

/// Story: dial an IP address, verify and send SNI for a name. The `client`
/// example connects to 127.0.0.1: with `--server-name localhost` s_server
/// sees SNI `localhost`; with `--server-name 127.0.0.1` it sees none and
/// the certificate is verified against its IP SAN (the handshake succeeds);
/// each name's second run resumes (the cache is keyed by the name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_follows_the_server_name() {
    for (name, sni) in [("localhost", true), ("127.0.0.1", false)] {
        let (mut server, port) = s_server(Version::Tls13, 2, &[]);
        let mut cmd = Command::new(example("client"));
        cmd.args(["--connect", &format!("127.0.0.1:{port}")])
            .args(["--server-name", name, "--ca", &cert("ca.pem")])
            .args(["--send", "hi", "--cancel-after-ms", "300", "--resume", "2"]);
        let mut client = Proc::spawn("example client", cmd);
        let status = tokio::task::block_in_place(|| client.wait_exit(TIMEOUT));
        tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
        let all = transcripts(&[&server, &client]);
        assert!(status.is_some_and(|s| s.success()), "{all}");
        let sni_lines = server
            .texts(Out::Stdout)
            .iter()
            .filter(|l| l.contains("Hostname in TLS extension: \"localhost\""))
            .count();
        assert_eq!(sni_lines, if sni { 2 } else { 0 }, "{all}");
        assert!(
            !server.contains(Out::Stdout, "Hostname in TLS extension: \"127"),
            "{all}"
        );
        assert!(
            client.contains(Out::Stdout, "handshake: Tls13 resumed"),
            "{all}"
        );
        assert_eq!(reused(&server), 1, "{all}");
    }
}

/// s_server `-www` answers one request per connection and says on its page
/// whether the session was `New` or `Reused`; through `HttpsConnector` and
/// hyper-util's `Client`, the 2nd and 3rd connections are `Reused`.
#[cfg(feature = "hyper-client")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn www_page_says_reused() {
    use graceful_tls::client::{ConnectionInfo, HttpsConnector};
    use hyper::body::Body;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let (_server, port) = s_server(Version::Tls13, 3, &["-www"]);
    let connector = HttpsConnector::new(client_config(Version::Tls13))
        .connect_to(([127, 0, 0, 1], port).into());
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
    let mut pages = Vec::new();
    for _ in 0..3 {
        let response = client
            .get("https://localhost/".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let info = response
            .extensions()
            .get::<ConnectionInfo>()
            .cloned()
            .unwrap();
        let mut body = response.into_body();
        let mut page = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Some(data) = frame.unwrap().data_ref() {
                page.extend_from_slice(data);
            }
        }
        pages.push((info, String::from_utf8_lossy(&page).into_owned()));
    }
    for (i, (info, page)) in pages.iter().enumerate() {
        let (kind, word) = if i == 0 {
            (HandshakeKind::Full, "New, ")
        } else {
            (HandshakeKind::Resumed, "Reused, ")
        };
        assert_eq!(info.handshake, Some(kind), "{page}");
        assert!(page.contains(word), "connection {}: {page}", i + 1);
    }
}
