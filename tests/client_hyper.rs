//! `HttpsConnector` under hyper-util's pooled `Client`, against an
//! in-process hyper server (rustls, loopback TCP, HTTP/1.1 and HTTP/2 by
//! ALPN) whose side of each connection is a `GracefulStream` too, so that
//! the server says whether the client's close_notify arrived.

use graceful_tls_testkit::pairs;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use graceful_tls::client::{ConnectError, ConnectionInfo, HttpsConnector};
use graceful_tls::{
    CancellationToken, CloseOutcome, ConnectionReport, Ended, GracefulStream, HandshakeKind,
    ReadOutcome,
};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pairs::Version;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

const BODY: &str = "hello over graceful-tls\n";

/// How the test server behaves on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serve {
    /// hyper (HTTP/1.1 or HTTP/2 by ALPN), keep-alive.
    Hyper,
    /// Answers one HTTP/1.1 request by hand, then ends its transport's
    /// write half without close_notify (keeps reading): a truncating server.
    Truncate,
}

/// Starts the server; every connection's read outcome (as the server saw
/// the client's end) is sent on the returned channel.
async fn server(
    alpn: &[&[u8]],
    serve: Serve,
) -> (SocketAddr, mpsc::UnboundedReceiver<ReadOutcome>) {
    let mut config = (*pairs::server_config(Version::Tls13)).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (saw_tx, saw) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let saw_tx = saw_tx.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let mut stream = GracefulStream::new(tls, CancellationToken::new());
                match serve {
                    Serve::Hyper => serve_hyper(&mut stream, h2).await,
                    Serve::Truncate => {
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            let n = stream.read(&mut buf).await.unwrap();
                            assert!(n > 0);
                            request.extend_from_slice(&buf[..n]);
                        }
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        );
                        stream.write_all(response.as_bytes()).await.unwrap();
                        stream.flush().await.unwrap();
                        let (mut tcp, _) = stream.into_inner().into_inner();
                        tcp.shutdown().await.unwrap();
                        let _ = tcp.read_to_end(&mut Vec::new()).await;
                        return;
                    }
                }
                let mut buf = [0u8; 64];
                let outcome = stream
                    .read_outcome(&mut buf)
                    .await
                    .unwrap_or(ReadOutcome::AbruptEof);
                let _ = saw_tx.send(outcome);
                let _ = stream.close().await;
            });
        }
    });
    (addr, saw)
}

async fn serve_hyper<S: graceful_tls::TlsBackend>(stream: &mut GracefulStream<S>, h2: bool) {
    let service = service_fn(|_: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(BODY.to_owned()))
    });
    let io = TokioIo::new(stream);
    let _ = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
    };
}

fn connector(addr: SocketAddr) -> (HttpsConnector, mpsc::UnboundedReceiver<ConnectionReport>) {
    let (tx, ends) = mpsc::unbounded_channel();
    let connector = HttpsConnector::new(pairs::client_config(Version::Tls13))
        .connect_to(addr)
        .on_end(move |end| {
            let _ = tx.send(end.clone());
        });
    (connector, ends)
}

async fn get(client: &Client<HttpsConnector, String>) -> ConnectionInfo {
    let uri: Uri = "https://localhost/".parse().unwrap();
    let response = client.get(uri).await.expect("response");
    assert_eq!(response.status(), 200);
    let info = response
        .extensions()
        .get::<ConnectionInfo>()
        .expect("connection info in the response")
        .clone();
    let mut body = response.into_body();
    use hyper::body::Body;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        frame.expect("body frame");
    }
    info
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("bounded wait")
        .expect("an item")
}

/// Idle pooled connections, HTTP/1.1 and HTTP/2: dropping the client sends
/// close_notify on each (the server reads `CloseNotify`), each end is
/// reported to the hook with a clean outcome, and a second client sharing
/// the connector's session cache resumes.
#[tokio::test]
async fn pooled_connections_end_with_close_notify() {
    for (alpn, h2) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], true),
        (&[b"http/1.1".as_slice()][..], false),
    ] {
        let (addr, mut saw) = server(alpn, Serve::Hyper).await;
        let (connector, mut ends) = connector(addr);
        for round in 0..2 {
            let client: Client<_, String> =
                Client::builder(TokioExecutor::new()).build(connector.clone());
            let first = get(&client).await;
            let again = get(&client).await;
            assert_eq!(first.id, again.id, "the pool reuses the idle connection");
            assert_eq!(first.h2, h2);
            let expected = if round == 0 {
                HandshakeKind::Full
            } else {
                HandshakeKind::Resumed
            };
            assert_eq!(first.handshake, Some(expected), "round {round}");
            drop(client);
            let end = recv(&mut ends).await;
            assert_eq!(end.id, first.id);
            assert!(
                matches!(end.ended, Ended::Closed(o) if o.close_notify_flushed() && o != CloseOutcome::PeerEof),
                "h2={h2}: {end}"
            );
            assert_eq!(
                recv(&mut saw).await,
                ReadOutcome::CloseNotify,
                "h2={h2}: {end}"
            );
        }
    }
}

/// A server that truncates: the hook sees `PeerEof` ("this server
/// truncates" is visible).
#[tokio::test]
async fn truncating_server_is_reported() {
    let (addr, _saw) = server(&[b"http/1.1"], Serve::Truncate).await;
    let (connector, mut ends) = connector(addr);
    let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
    let info = get(&client).await;
    let end = recv(&mut ends).await;
    assert_eq!(end.id, info.id);
    assert!(
        matches!(end.ended, Ended::Closed(CloseOutcome::PeerEof)),
        "{end}"
    );
    // The same report a drain lists, with what the connection was.
    assert_eq!(end.server_name.as_deref(), Some("localhost"), "{end}");
    assert_eq!(end.peer, Some(addr), "{end}");
    assert_eq!(end.version, info.version, "{end}");
    assert_eq!(end.handshake, info.handshake, "{end}");
    assert_eq!(end.alpn.as_deref(), Some(&b"http/1.1"[..]), "{end}");
    assert_eq!(end.alpn, info.alpn, "{end}");
    assert!(!end.forced && !end.panicked, "{end}");
    let line = end.to_string();
    assert!(
        line.starts_with(&format!(
            "connection {} to localhost ({addr}) TLSv1.3",
            info.id
        )) && line.ends_with(": peer-eof"),
        "{line}"
    );
}

/// Bad input gets a typed error naming the cause.
#[tokio::test]
async fn bad_input_is_a_typed_error() {
    let (addr, _saw) = server(&[b"http/1.1"], Serve::Hyper).await;
    let (connector, _ends) = connector(addr);
    let error = connector
        .connect("/no/host".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::NoHost { .. }), "{error:?}");
    let error = connector
        .connect("http://localhost/".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::NotHttps { .. }), "{error:?}");
    let error = connector
        .connect("https://example.com/".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConnectError::Handshake { server_name, .. } if server_name == "example.com"),
        "{error:?}"
    );
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (unreachable, _ends) = self::connector(closed);
    let error = unreachable
        .connect("https://localhost/".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&closed.to_string()), "{error}");
}

/// The three-request example of the `client` docs (src/docs/client.md):
/// with `pool_max_idle_per_host(0)` each request makes a connection, the
/// first handshake is full and the next two resume, and each report's line
/// is the one the docs print (the server's address aside).
#[tokio::test]
async fn docs_three_requests_full_resumed_resumed() {
    let docs = include_str!("../src/docs/client.md");
    let expected: Vec<&str> = docs
        .split("```text\n")
        .skip(1)
        .map(|block| &block[..block.find("```").expect("a closed block")])
        .find(|block| block.starts_with("connection 1 to localhost"))
        .expect("the example output in client.md")
        .lines()
        .collect();
    assert_eq!(expected.len(), 3, "{expected:?}");

    let (addr, mut saw) = server(&[b"h2", b"http/1.1"], Serve::Hyper).await;
    let (connector, mut ends) = connector(addr);
    let client: Client<_, String> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector);
    let mut infos = Vec::new();
    for _ in 0..3 {
        infos.push(get(&client).await);
    }
    let mut lines = Vec::new();
    for info in &infos {
        let end = recv(&mut ends).await;
        assert_eq!(end.id, info.id, "ends in the order of the requests");
        assert_eq!(end.alpn, info.alpn);
        lines.push(end.to_string().replace(&addr.to_string(), "127.0.0.1:8443"));
    }
    assert_eq!(lines, expected);
    // Every connection ended with the client's close_notify.
    for _ in 0..3 {
        assert_eq!(recv(&mut saw).await, ReadOutcome::CloseNotify);
    }
}

/// ALPN follows hyper-rustls' conventions: `h2` + `http/1.1` by default,
/// a config's own non-empty list respected, `http1_only()` /
/// `http2_only()`; the negotiated protocol is in the `ConnectionInfo` and
/// the `ConnectionReport` (and its line).
#[tokio::test]
async fn alpn_choices() {
    let (addr, _saw) = server(&[b"h2", b"http/1.1"], Serve::Hyper).await;
    let shared = pairs::client_config(Version::Tls13);
    let mut http1_config = (*shared).clone();
    http1_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let cases: [(&str, HttpsConnector, &[u8]); 4] = [
        ("default", HttpsConnector::new(shared.clone()), b"h2"),
        (
            "config's own ALPN",
            HttpsConnector::new(http1_config),
            b"http/1.1",
        ),
        (
            "http1_only",
            HttpsConnector::new(shared.clone()).http1_only(),
            b"http/1.1",
        ),
        (
            "http2_only",
            HttpsConnector::new(shared.clone()).http2_only(),
            b"h2",
        ),
    ];
    for (case, connector, alpn) in cases {
        let (tx, mut ends) = mpsc::unbounded_channel();
        let connector = connector.connect_to(addr).on_end(move |end| {
            let _ = tx.send(end.clone());
        });
        let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
        let info = get(&client).await;
        assert_eq!(info.alpn.as_deref(), Some(alpn), "{case}: {info}");
        assert_eq!(info.h2, alpn == b"h2", "{case}: {info}");
        drop(client);
        let end = recv(&mut ends).await;
        assert_eq!(end.alpn.as_deref(), Some(alpn), "{case}: {end}");
        let protocol = String::from_utf8_lossy(alpn);
        assert!(
            end.to_string().contains(&format!(" full {protocol}: ")),
            "{case}: {end}"
        );
    }
    // The caller's config is not changed (the connector copies it).
    assert!(shared.alpn_protocols.is_empty());
}

/// `http2_only()` against a server that speaks only HTTP/1.1: the server
/// refuses the handshake (`no_application_protocol`), a typed error.
#[tokio::test]
async fn http2_only_against_an_http1_server_fails_the_handshake() {
    let (addr, _saw) = server(&[b"http/1.1"], Serve::Hyper).await;
    let connector = HttpsConnector::new(pairs::client_config(Version::Tls13))
        .http2_only()
        .connect_to(addr);
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        connector.connect("https://localhost/".parse().unwrap()),
    )
    .await
    .expect("bounded wait")
    .unwrap_err();
    assert!(matches!(error, ConnectError::Handshake { .. }), "{error:?}");
}
