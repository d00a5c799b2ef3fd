//! A peer that floods data while we close, over real TCP on the real clock
//! (a paused clock cannot show it: it only advances when the runtime idles,
//! and a flood never lets it).

use std::time::{Duration, Instant};

use graceful_tls::{CancellationToken, CloseOutcome, Config, GracefulStream, ReadOutcome};
use tokio::net::TcpStream;

use crate::common::{client_config, Version, VERSIONS};
use crate::thread_peer::{self, Act};

/// Slack for scheduling on a loaded 2-core machine: generous, because the
/// point is "bounded", not "punctual". A close that ignores its deadline
/// under a flood overruns by seconds, or forever.
const SLACK: Duration = Duration::from_secs(2);

async fn connect(
    version: Version,
    what: Act,
) -> (
    tokio_rustls::client::TlsStream<TcpStream>,
    thread_peer::ThreadPeer,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let peer = thread_peer::server(listener, version, what);
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let connector = tokio_rustls::TlsConnector::from(client_config(version));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    (tls, peer)
}

/// The reproduction: read the flood for 300 ms, then close with a
/// 300 ms peer wait. The wait must end at its deadline, not when the flood
/// pauses.
#[tokio::test]
async fn flood_during_peer_wait_is_cut_at_the_deadline() {
    for version in VERSIONS {
        let (tls, peer) = connect(version, Act::Flood).await;
        let config = Config::default()
            .flush_timeout(Duration::from_millis(500))
            .peer_close_timeout(Duration::from_millis(300));
        let mut ours = GracefulStream::with_config(tls, CancellationToken::new(), config);
        let mut buf = vec![0u8; 64 * 1024];
        let reading = Instant::now();
        while reading.elapsed() < Duration::from_millis(300) {
            match ours.read_outcome(&mut buf).await.expect("read") {
                ReadOutcome::Data(_) => {}
                other => panic!("{version:?}: flood ended early: {other:?}"),
            }
        }
        let started = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(30), ours.close()).await;
        let elapsed = started.elapsed();
        peer.stop();
        let outcome = closed.expect("close() hung under a flood").expect("close");
        assert_eq!(outcome, CloseOutcome::PeerTimeout, "{version:?}");
        assert!(
            elapsed <= Duration::from_millis(2 * 500 + 300) + SLACK,
            "{version:?}: close took {elapsed:?} under a flood"
        );
        assert!(
            ours.stats().discarded() > 0,
            "{version:?}: the flood was not read"
        );
        eprintln!(
            "{version:?}: close {elapsed:?}, discarded {} bytes",
            ours.stats().discarded()
        );
    }
}
