//! Every deadline under a peer that floods us and never reads, over real
//! TCP on the real clock and a current-thread runtime (where the old code
//! failed worst). A paused clock cannot show this: it only advances when
//! the runtime idles, and a flood never lets it. Bounds are generous
//! (`SLACK`): the point is "bounded", not "punctual"; a deadline ignored
//! under a flood overruns by seconds, or forever.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use graceful_tls::machine::WriteState;
use graceful_tls::{
    CancellationToken, CloseOutcome, Config, Error, GracefulStream, ReadOutcome, TlsBackend,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::hostile::thread_peer::{connect, Act};
use crate::hostile::{close_until_pending, config, fill};
use crate::pairs::VERSIONS;
use graceful_tls_testkit::{guarded_live, HANG};

/// Slack for scheduling on a loaded 2-core machine.
pub const SLACK: Duration = Duration::from_secs(2);
/// The flush timeout of these tests.
const FLUSH: Duration = Duration::from_millis(300);

/// Writes until the socket stays blocked: after each `fill`, the kernel
/// gets 100 ms to move what it still can (loopback collapses queued
/// segments and reopens a little window), and a write that is still
/// pending then means our data is stuck behind the peer for good.
pub async fn fill_until_stuck<S: TlsBackend>(ours: &mut GracefulStream<S>) {
    let probe = [0u8; 1];
    loop {
        fill(ours).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let wrote = poll_fn(|cx| Poll::Ready(Pin::new(&mut *ours).poll_write(cx, &probe))).await;
        if wrote.is_pending() {
            return;
        }
    }
}

/// The reproduction: read the flood for 300 ms, then close with a
/// 300 ms peer wait. The wait must end at its deadline, not when the flood
/// pauses.
#[test]
fn flood_during_peer_wait_is_cut_at_the_deadline() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Flood).await;
            let config = Config::default()
                .with_flush_timeout(Duration::from_millis(500))
                .with_peer_close_timeout(Duration::from_millis(300));
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
            drop(ours);
            peer.stop();
        }
    });
}

/// close() with our data stuck behind a peer that floods and never reads:
/// FlushTimeout within flush_timeout (the TCP shutdown is immediate).
#[test]
fn close_flush_deadline_holds_under_flood_and_stopped_reader() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Flood).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(300, 1000));
            fill_until_stuck(&mut ours).await;
            let started = Instant::now();
            let closed = tokio::time::timeout(Duration::from_secs(30), ours.close()).await;
            let elapsed = started.elapsed();
            let outcome = closed.expect("close() hung").expect("close");
            assert_eq!(outcome, CloseOutcome::FlushTimeout, "{version:?}");
            assert!(
                elapsed >= FLUSH && elapsed <= FLUSH + SLACK,
                "{version:?}: {elapsed:?}"
            );
            drop(ours);
            peer.stop();
        }
    });
}

/// `AsyncWriteExt::shutdown` under the same peer: `Error::FlushTimeout`
/// (`TimedOut`) within flush_timeout.
#[test]
fn poll_shutdown_deadline_holds_under_flood_and_stopped_reader() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Flood).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(300, 1000));
            fill_until_stuck(&mut ours).await;
            let started = Instant::now();
            let shut = tokio::time::timeout(Duration::from_secs(30), ours.shutdown()).await;
            let elapsed = started.elapsed();
            let err = shut.expect("shutdown() hung").unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{version:?}");
            assert!(matches!(Error::from_io(&err), Some(Error::FlushTimeout)));
            assert!(
                elapsed >= FLUSH && elapsed <= FLUSH + SLACK,
                "{version:?}: {elapsed:?}"
            );
            drop(ours);
            peer.stop();
        }
    });
}

/// Dropped while its flush waits on that peer: the background finish gives
/// up and lets go of the socket within 2 × flush_timeout, as the peer's
/// socket sees (its writes fail on our RST), and not before flush_timeout.
#[test]
fn drop_background_finish_holds_under_flood_and_stopped_reader() {
    guarded_live(HANG, || async {
        for version in VERSIONS {
            let (tls, peer) = connect(version, Act::Flood).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(300, 1000));
            fill_until_stuck(&mut ours).await;
            assert_eq!(
                close_until_pending(&mut ours).await,
                WriteState::Flushing { await_peer: true }
            );
            let dropped = Instant::now();
            drop(ours);
            let ended = peer.ended(Duration::from_secs(30)).await;
            let ended = ended.expect("the peer never saw our socket close");
            let elapsed = ended - dropped;
            assert!(
                elapsed >= FLUSH && elapsed <= 2 * FLUSH + SLACK,
                "{version:?}: the socket closed {elapsed:?} after the drop"
            );
        }
    });
}
