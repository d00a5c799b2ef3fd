//! Floods on the paused clock, deterministically: the peer is a
//! [`PeerPump`] whose reads never run dry, time passes through
//! [`advance_forever`], and [`guarded`] turns a hang into a failure. Three
//! of these hang on the code before a347bd0 (see the end of the doc of
//! tests/hostile.rs).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use graceful_tls::machine::WriteState;
use graceful_tls::{CancellationToken, CloseOutcome, GracefulStream, ReadOutcome};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::hostile::config;
use crate::hostile::pump::{advance_forever, pumped};
use crate::pairs::{cases, pattern, Side, Version};
use graceful_tls_testkit::{guarded, HANG};

/// Plaintext per flooded record: small, so that a paused millisecond costs
/// little real time.
const RECORD: usize = 256;

/// An endless flood while close() waits for the peer's close_notify ends
/// at the peer deadline (within the 1 ms the clock advances per step),
/// with or without tokio's cooperative budget in the transport; the peer
/// had every byte and our close_notify.
#[test]
fn peer_wait_holds_under_an_endless_flood() {
    for coop in [false, true] {
        for (side, version) in cases() {
            guarded(HANG, move || async move {
                let (tls, stats, control) = pumped(side, version, RECORD, coop).await;
                let mut ours =
                    GracefulStream::with_config(tls, CancellationToken::new(), config(500, 100));
                ours.write_all(&pattern(5000)).await.unwrap();
                control.flood.store(true, Ordering::SeqCst);
                let clock = advance_forever();
                let started = Instant::now();
                let outcome = ours.close().await.unwrap();
                let elapsed = started.elapsed();
                clock.abort();
                assert_eq!(outcome, CloseOutcome::PeerTimeout, "{side:?} {version:?}");
                assert!(
                    elapsed >= Duration::from_millis(100) && elapsed <= Duration::from_millis(101),
                    "{side:?} {version:?} coop {coop}: {elapsed:?}"
                );
                assert!(ours.stats().discarded() > 0);
                assert_eq!(stats.received.load(Ordering::SeqCst), 5000);
                assert!(stats.got_close_notify.load(Ordering::SeqCst));
            });
        }
    }
}

/// A peer that floods and never reads: the flush of our pending data ends
/// at flush_timeout (FlushTimeout), and the flood is never read.
#[test]
fn flush_deadline_holds_under_an_endless_flood_and_a_stalled_reader() {
    for (side, version) in cases() {
        guarded(HANG, move || async move {
            let (tls, stats, control) = pumped(side, version, RECORD, true).await;
            let mut ours =
                GracefulStream::with_config(tls, CancellationToken::new(), config(300, 100));
            control.flood.store(true, Ordering::SeqCst);
            control.stalled.store(true, Ordering::SeqCst);
            let mut accepted = 0;
            let chunk = pattern(4096);
            while let Poll::Ready(n) =
                poll_fn(|cx| Poll::Ready(Pin::new(&mut ours).poll_write(cx, &chunk))).await
            {
                accepted += n.unwrap();
            }
            assert!(accepted > 0);
            let reads = stats.reads.load(Ordering::SeqCst);
            let clock = advance_forever();
            let started = Instant::now();
            let outcome = ours.close().await.unwrap();
            let elapsed = started.elapsed();
            clock.abort();
            assert_eq!(outcome, CloseOutcome::FlushTimeout, "{side:?} {version:?}");
            assert!(
                elapsed >= Duration::from_millis(300) && elapsed <= Duration::from_millis(301),
                "{side:?} {version:?}: {elapsed:?}"
            );
            assert_eq!(
                stats.reads.load(Ordering::SeqCst),
                reads,
                "read while flushing"
            );
        });
    }
}

/// One poll of close() under a flood that never runs dry returns (Pending)
/// after a bounded amount of work: a flooding connection cannot hold the
/// worker thread.
#[test]
fn one_poll_of_close_does_bounded_work() {
    guarded(HANG, || async {
        let (tls, stats, control) = pumped(Side::Server, Version::Tls13, RECORD, false).await;
        let mut ours = GracefulStream::with_config(tls, CancellationToken::new(), config(500, 100));
        control.flood.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            let before = ours.stats().discarded();
            let polled = poll_fn(|cx| Poll::Ready(ours.poll_close(cx))).await;
            assert!(polled.is_pending());
            assert_eq!(ours.state().write_state(), WriteState::AwaitingPeer);
            // 16 reads of at most 4 KiB (tokio-rustls fills each read with
            // as many records as fit).
            let discarded = ours.stats().discarded() - before;
            assert!(
                (1..=16 * 4096).contains(&discarded),
                "{discarded} bytes discarded in one poll"
            );
        }
        assert!(stats.reads.load(Ordering::SeqCst) > 0);
    });
}

/// A task that spends its whole cooperative budget on other I/O before it
/// polls close() (a proxy copying from a busy upstream, say): a timer
/// polled then is always Pending, yet the peer deadline holds.
#[test]
fn peer_deadline_holds_when_the_caller_spent_its_budget() {
    guarded(HANG, || async {
        let (tls, _stats, _control) = pumped(Side::Client, Version::Tls13, RECORD, false).await;
        let mut ours = GracefulStream::with_config(tls, CancellationToken::new(), config(500, 100));
        let mut upstream = tokio::io::repeat(0);
        let mut scratch = [0u8; 64];
        let clock = advance_forever();
        let started = Instant::now();
        let outcome = poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut scratch);
            while Pin::new(&mut upstream).poll_read(cx, &mut buf).is_ready() {
                buf.clear();
            }
            ours.poll_close(cx)
        })
        .await
        .unwrap();
        let elapsed = started.elapsed();
        clock.abort();
        assert_eq!(outcome, CloseOutcome::PeerTimeout);
        assert!(
            elapsed >= Duration::from_millis(100) && elapsed <= Duration::from_millis(101),
            "{elapsed:?}"
        );
    });
}

/// Reads under an endless flood: once the token fires, at most the
/// plaintext rustls had already decrypted comes out, then Cancelled, and
/// the transport is not read again.
#[test]
fn flood_cannot_outrun_cancellation() {
    for (side, version) in cases() {
        guarded(HANG, move || async move {
            let (tls, stats, control) = pumped(side, version, RECORD, false).await;
            let token = CancellationToken::new();
            let mut ours = GracefulStream::with_config(tls, token.clone(), config(500, 100));
            control.flood.store(true, Ordering::SeqCst);
            let mut buf = [0u8; 100];
            let mut read = 0;
            while read < 1 << 20 {
                match ours.read_outcome(&mut buf).await.unwrap() {
                    ReadOutcome::Data(n) => read += n,
                    other => panic!("{other:?} under a flood"),
                }
            }
            token.cancel();
            let reads = stats.reads.load(Ordering::SeqCst);
            let mut after = 0;
            loop {
                match ours.read_outcome(&mut buf).await.unwrap() {
                    ReadOutcome::Data(n) => after += n,
                    ReadOutcome::Cancelled => break,
                    other => panic!("{other:?}"),
                }
            }
            assert!(
                after < RECORD,
                "{side:?} {version:?}: {after} bytes after cancel"
            );
            assert_eq!(
                stats.reads.load(Ordering::SeqCst),
                reads,
                "read after cancel"
            );
            assert_eq!(ours.stats().read(), (read + after) as u64);
        });
    }
}
