//! Faults while we read: with the read direction open (every fault is a
//! typed outcome or error, sticky), and after the token cancelled it (no
//! transport I/O at all; the fault surfaces in close()).

use std::future::poll_fn;
use std::time::Duration;

use graceful_tls::{CancellationToken, CloseOutcome, Error, GracefulStream, ReadOutcome};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::hostile::{
    alert, config, corrupt_our_next_record, peer_close_notify, peer_garbage, peer_key_update,
    rustls_error, wired, wrap, Ours,
};
use crate::pairs::{cases, pattern, truncate, Side, Version};
use graceful_tls_testkit::{guarded, HANG};

/// Reads until a terminal outcome: the data and the outcome.
async fn read_all(ours: &mut Ours) -> (Vec<u8>, Result<ReadOutcome, Error>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match ours.read_outcome(&mut buf).await {
            Ok(ReadOutcome::Data(n)) => data.extend_from_slice(&buf[..n]),
            end => return (data, end),
        }
    }
}

/// A FIN in the middle of a record (data, then the close_notify): the
/// complete records are delivered, then AbruptEof, never CloseNotify.
#[test]
fn fin_mid_record_is_abrupt_eof_after_the_whole_records() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            for cut_close_notify in [false, true] {
                let mut w = wired(side, version, 64 * 1024).await;
                let mut ours = wrap(w.ours, config(500, 1000));
                w.peer.write_all(b"complete").await.unwrap();
                w.peer.flush().await.unwrap();
                w.peer_tap.cut_after(10);
                if cut_close_notify {
                    peer_close_notify(&mut w.peer).await;
                } else {
                    w.peer.write_all(b"never whole").await.unwrap();
                    w.peer.flush().await.unwrap();
                }
                let (data, end) = read_all(&mut ours).await;
                assert_eq!(data, b"complete", "{side:?} {version:?}");
                assert_eq!(end.unwrap(), ReadOutcome::AbruptEof, "{side:?} {version:?}");
                assert_eq!(
                    ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                    ReadOutcome::AbruptEof
                );
            }
        }
    });
}

/// An RST under a pending read ends it at that instant with a typed
/// transport error, which every later read, write and close repeats.
#[test]
fn reset_under_a_pending_read_is_a_sticky_transport_error() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let tap = w.our_tap.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(70)).await;
                tap.reset();
            });
            let started = Instant::now();
            let err = ours.read_outcome(&mut [0u8; 64]).await.unwrap_err();
            assert!(err.is_reset(), "{side:?} {version:?}: {err:?}");
            assert_eq!(started.elapsed(), Duration::from_millis(70));
            assert!(ours
                .read_outcome(&mut [0u8; 8])
                .await
                .unwrap_err()
                .is_reset());
            let write = ours.write_all(b"x").await.unwrap_err();
            assert!(Error::from_io(&write).is_some_and(Error::is_reset));
            assert!(ours.close().await.unwrap_err().is_reset());
        }
    });
}

/// Garbage right behind a valid record, arriving in the same transport
/// read: the valid record's plaintext first (as before an EOF), then a
/// typed TLS error, sticky.
#[test]
fn garbage_behind_data_is_a_tls_error_after_the_data() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            w.peer.write_all(b"valid").await.unwrap();
            w.peer.flush().await.unwrap();
            peer_garbage(&mut w.peer).await;
            let (data, end) = read_all(&mut ours).await;
            assert_eq!(data, b"valid", "{side:?} {version:?}");
            assert_eq!(ours.stats().read(), 5);
            let err = end.unwrap_err();
            assert!(
                rustls_error(&err).is_some(),
                "{side:?} {version:?}: {err:?}"
            );
            assert!(matches!(
                ours.read_outcome(&mut [0u8; 8]).await,
                Err(Error::Tls(_))
            ));
        }
    });
}

/// The peer's rustls rejects our record and sends a fatal alert: our read
/// reports Error::Tls naming bad_record_mac; writes and close repeat it, and
/// nothing more is sent (no close_notify after a fatal alert).
#[test]
fn fatal_alert_is_a_tls_error_and_nothing_follows() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            corrupt_our_next_record(&w.our_tap, &w.peer_tap);
            ours.write_all(b"rejected").await.unwrap();
            let err = w.peer.read(&mut [0u8; 64]).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
            let err = ours.read_outcome(&mut [0u8; 64]).await.unwrap_err();
            assert_eq!(alert(&err), Some(AlertDescription::BadRecordMac), "{err:?}");
            let sent = w.our_tap.written();
            let write = ours.write_all(b"x").await.unwrap_err();
            assert!(matches!(Error::from_io(&write), Some(Error::Tls(_))));
            assert!(matches!(ours.close().await, Err(Error::Tls(_))));
            drop(ours);
            assert_eq!(
                w.our_tap.written(),
                sent,
                "{side:?} {version:?}: sent after the alert"
            );
        }
    });
}

/// KeyUpdates are transparent up to rustls' limit: 32 in a row between
/// data records keep every byte; 33 in a row are a typed TLS error
/// (TooManyKeyUpdateRequests), not an endless loop.
#[test]
fn key_updates_are_transparent_up_to_rustls_limit() {
    guarded(HANG, || async {
        for side in [Side::Client, Side::Server] {
            for burst in [32, 33] {
                let mut w = wired(side, Version::Tls13, 64 * 1024).await;
                let mut ours = wrap(w.ours, config(500, 1000));
                w.peer.write_all(b"a").await.unwrap();
                for _ in 0..burst {
                    peer_key_update(&mut w.peer).await;
                }
                w.peer.write_all(b"b").await.unwrap();
                w.peer.shutdown().await.unwrap();
                let (data, end) = read_all(&mut ours).await;
                if burst == 32 {
                    assert_eq!(data, b"ab");
                    assert_eq!(end.unwrap(), ReadOutcome::CloseNotify);
                } else {
                    assert_eq!(
                        rustls_error(&end.unwrap_err()),
                        Some(&rustls::Error::PeerMisbehaved(
                            rustls::PeerMisbehaved::TooManyKeyUpdateRequests
                        )),
                        "{side:?}"
                    );
                }
            }
        }
    });
}

/// Records the peer encrypts after its own close_notify are dropped: reads
/// deliver exactly the data before it, then CloseNotify, sticky.
#[test]
fn data_after_close_notify_is_ignored() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            w.peer.write_all(b"last words").await.unwrap();
            peer_close_notify(&mut w.peer).await;
            w.peer.write_all(&pattern(5000)).await.unwrap();
            w.peer.flush().await.unwrap();
            let (data, end) = read_all(&mut ours).await;
            assert_eq!(data, b"last words", "{side:?} {version:?}");
            assert_eq!(end.unwrap(), ReadOutcome::CloseNotify);
            assert_eq!(ours.stats().read(), 10);
            assert_eq!(
                ours.read_outcome(&mut [0u8; 8]).await.unwrap(),
                ReadOutcome::CloseNotify
            );
        }
    });
}

/// The peer's data and close_notify one byte per segment, read one byte
/// per read: every byte, then CloseNotify.
#[test]
fn close_notify_one_byte_per_read() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 64 * 1024).await;
            w.our_tap.read_max(1);
            w.peer_tap.trickle_writes(Duration::from_millis(1));
            let mut ours = wrap(w.ours, config(500, 1000));
            let peer = tokio::spawn(async move {
                w.peer.write_all(b"slow").await.unwrap();
                peer_close_notify(&mut w.peer).await;
                w.peer
            });
            let (data, end) = read_all(&mut ours).await;
            assert_eq!(data, b"slow", "{side:?} {version:?}");
            assert_eq!(end.unwrap(), ReadOutcome::CloseNotify);
            drop(peer.await.unwrap());
        }
    });
}

/// A vanished peer leaves a read pending for as long as it takes (reads
/// have no deadline); only the token ends it, at that instant.
#[test]
fn vanished_peer_read_ends_only_by_the_token() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 64 * 1024).await;
            let token = CancellationToken::new();
            let mut ours = GracefulStream::with_config(w.ours, token.clone(), config(500, 1000));
            w.our_tap.vanish();
            let an_hour = Duration::from_secs(3600);
            let waited = tokio::time::timeout(an_hour, ours.read_outcome(&mut [0u8; 64])).await;
            assert!(waited.is_err(), "a read ended without data, EOF or token");
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                token.cancel();
            });
            let started = Instant::now();
            assert_eq!(
                ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
                ReadOutcome::Cancelled
            );
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(250),
                "{side:?} {version:?}"
            );
        }
    });
}

/// What the peer does after our token fired.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Fin,
    Reset,
    Garbage,
    Alert,
    DataAfterCloseNotify,
    SplitCloseNotify,
    Vanish,
}

/// After the token fired, reads touch no transport whatever the peer does
/// (FIN, RST, garbage, a fatal alert, data after its close_notify, a split
/// close_notify, vanishing): each read says Cancelled at once, and close()
/// then reports the fault, typed.
#[test]
fn cancelled_reads_do_no_io_whatever_arrives() {
    guarded(HANG, || async {
        use Fault::*;
        for fault in [
            Fin,
            Reset,
            Garbage,
            Alert,
            DataAfterCloseNotify,
            SplitCloseNotify,
            Vanish,
        ] {
            for (side, version) in cases() {
                let mut w = wired(side, version, 64 * 1024).await;
                let token = CancellationToken::new();
                let mut ours =
                    GracefulStream::with_config(w.ours, token.clone(), config(500, 1000));
                token.cancel();
                assert_eq!(
                    ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
                    ReadOutcome::Cancelled
                );
                let read_before = w.our_tap.read();
                match fault {
                    Fin => truncate(&mut w.peer).await,
                    Reset => w.our_tap.reset(),
                    Garbage => peer_garbage(&mut w.peer).await,
                    Alert => {
                        corrupt_our_next_record(&w.our_tap, &w.peer_tap);
                        ours.write_all(b"rejected").await.unwrap();
                        assert!(w.peer.read(&mut [0u8; 64]).await.is_err());
                    }
                    DataAfterCloseNotify => {
                        w.peer.write_all(b"before").await.unwrap();
                        peer_close_notify(&mut w.peer).await;
                        w.peer.write_all(b"after").await.unwrap();
                        w.peer.flush().await.unwrap();
                    }
                    SplitCloseNotify => {
                        w.peer_tap.trickle_writes(Duration::from_millis(1));
                        peer_close_notify(&mut w.peer).await;
                    }
                    Vanish => w.our_tap.vanish(),
                }
                for _ in 0..3 {
                    assert_eq!(
                        ours.read_outcome(&mut [0u8; 64]).await.unwrap(),
                        ReadOutcome::Cancelled,
                        "{fault:?} {side:?} {version:?}"
                    );
                }
                assert_eq!(
                    w.our_tap.read(),
                    read_before,
                    "{fault:?}: transport read after cancel"
                );
                let closed = ours.close().await;
                let ok = match (fault, &closed) {
                    (Fin, Ok(CloseOutcome::PeerEof)) => true,
                    (Reset, Err(e)) => e.is_reset(),
                    (Garbage, Err(e)) => rustls_error(e).is_some(),
                    (Alert, Err(e)) => alert(e) == Some(AlertDescription::BadRecordMac),
                    (DataAfterCloseNotify, Ok(CloseOutcome::PeerConfirmed)) => {
                        ours.stats().discarded() == 6
                    }
                    (SplitCloseNotify, Ok(CloseOutcome::PeerConfirmed)) => true,
                    (Vanish, Ok(CloseOutcome::FlushTimeout)) => true,
                    _ => false,
                };
                assert!(
                    ok,
                    "{fault:?} {side:?} {version:?}: close() said {closed:?}"
                );
            }
        }
    });
}

/// `poll_read_outcome` into a ReadBuf that already holds bytes reports only
/// what it appended, counts only that, and tells an end from data.
#[test]
fn partly_filled_readbuf_counts_only_new_bytes() {
    guarded(HANG, || async {
        let mut w = wired(Side::Client, Version::Tls13, 64 * 1024).await;
        let mut ours = wrap(w.ours, config(500, 1000));
        let mut storage = [0u8; 64];
        let mut buf = ReadBuf::new(&mut storage);
        buf.put_slice(b"prefix");
        w.peer.write_all(b"hello").await.unwrap();
        w.peer.flush().await.unwrap();
        let outcome = poll_fn(|cx| ours.poll_read_outcome(cx, &mut buf)).await;
        assert_eq!(outcome.unwrap(), ReadOutcome::Data(5));
        assert_eq!(buf.filled(), b"prefixhello");
        assert_eq!(ours.stats().read(), 5);
        w.peer.shutdown().await.unwrap();
        let outcome = poll_fn(|cx| ours.poll_read_outcome(cx, &mut buf)).await;
        assert_eq!(outcome.unwrap(), ReadOutcome::CloseNotify);
        assert_eq!(buf.filled(), b"prefixhello");
        assert_eq!(ours.stats().read(), 5);
    });
}
