//! Faults while close() flushes our data and close_notify (the peer's
//! window is full, so the Flush step waits). Nothing is read during this
//! step: inbound faults surface in the next one, and the cases here pin
//! which.

use std::time::Duration;

use graceful_tls::machine::WriteState;
use graceful_tls::{CloseOutcome, Error, ReadOutcome};
use rustls::AlertDescription;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::hostile::{
    alert, close_until_pending, config, corrupt_our_next_record, drain_raw, fill, peer_garbage,
    peer_key_update, wired, wrap,
};
use crate::pairs::{cases, peer_read_to_end, truncate, PeerSaw, Version};
use graceful_tls_testkit::{guarded, HANG};

const FLUSHING: WriteState = WriteState::Flushing { await_peer: true };

/// A peer that reads a trickle keeps making progress but cannot stretch the
/// flush: FlushTimeout exactly at flush_timeout.
#[test]
fn trickling_reader_cannot_stretch_the_flush() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            fill(&mut ours).await;
            assert_eq!(close_until_pending(&mut ours).await, FLUSHING);
            let started = Instant::now();
            let reader = tokio::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    if w.peer.get_mut().0.read(&mut buf).await.unwrap_or(0) == 0 {
                        return w.peer;
                    }
                }
            });
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::FlushTimeout);
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(500),
                "{side:?} {version:?}"
            );
            drop(ours);
            reader.await.unwrap();
        }
    });
}

/// The peer half-closes without close_notify while we flush, then reads on:
/// the flush completes, the next step sees the EOF at once (PeerEof), and
/// the peer got every byte and our close_notify.
#[test]
fn fin_during_flush_is_peer_eof_and_nothing_is_lost() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = fill(&mut ours).await;
            assert_eq!(close_until_pending(&mut ours).await, FLUSHING);
            let started = Instant::now();
            let peer = tokio::spawn(async move {
                truncate(&mut w.peer).await;
                peer_read_to_end(&mut w.peer).await
            });
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerEof);
            assert_eq!(started.elapsed(), Duration::ZERO);
            assert!(
                peer.await.unwrap() == PeerSaw::CloseNotify(sent),
                "{side:?} {version:?}: the peer lost data"
            );
        }
    });
}

/// An RST while we flush ends close() at that instant with a typed, sticky
/// transport error.
#[test]
fn reset_during_flush_is_a_transport_error_at_once() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            fill(&mut ours).await;
            assert_eq!(close_until_pending(&mut ours).await, FLUSHING);
            let started = Instant::now();
            let tap = w.our_tap.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(120)).await;
                tap.reset();
            });
            let err = ours.close().await.unwrap_err();
            assert!(err.is_reset(), "{side:?} {version:?}: {err:?}");
            assert_eq!(started.elapsed(), Duration::from_millis(120));
            assert!(ours.close().await.unwrap_err().is_reset(), "sticky");
        }
    });
}

/// Garbage sent while we flush is not read by the flush; once the peer
/// takes our bytes, the wait for its close_notify reads it: Error::Tls, and
/// the peer had every byte and our close_notify.
#[test]
fn garbage_during_flush_surfaces_after_it() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let mut w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = fill(&mut ours).await;
            assert_eq!(close_until_pending(&mut ours).await, FLUSHING);
            let peer = tokio::spawn(async move {
                peer_garbage(&mut w.peer).await;
                let saw = peer_read_to_end(&mut w.peer).await;
                (saw, w.peer)
            });
            let err = ours.close().await.unwrap_err();
            assert!(
                matches!(err, Error::Tls(_)),
                "{side:?} {version:?}: {err:?}"
            );
            let (saw, _peer) = peer.await.unwrap();
            assert!(saw == PeerSaw::CloseNotify(sent), "{side:?} {version:?}");
        }
    });
}

/// The peer rejects our first record while we flush (a flipped bit: its
/// rustls sends a fatal bad_record_mac). If it stays connected and drains,
/// the flush completes and the next step reads the alert: Error::Tls
/// naming it. If it disconnects, the flush write fails first: a reset
/// (broken pipe), and the alert stays unread.
#[test]
fn fatal_alert_during_flush_is_typed() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            for peer_stays in [true, false] {
                let mut w = wired(side, version, 4096).await;
                let mut ours = wrap(w.ours, config(500, 1000));
                corrupt_our_next_record(&w.our_tap, &w.peer_tap);
                fill(&mut ours).await;
                assert_eq!(close_until_pending(&mut ours).await, FLUSHING);
                let peer = tokio::spawn(async move {
                    let err = w.peer.read(&mut [0u8; 1024]).await.unwrap_err();
                    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
                    if peer_stays {
                        drain_raw(&mut w.peer).await;
                    }
                });
                let err = ours.close().await.unwrap_err();
                if peer_stays {
                    assert_eq!(
                        alert(&err),
                        Some(AlertDescription::BadRecordMac),
                        "{side:?} {version:?}: {err:?}"
                    );
                } else {
                    assert!(err.is_reset(), "{side:?} {version:?}: {err:?}");
                }
                drop(ours);
                peer.await.unwrap();
            }
        }
    });
}

/// A KeyUpdate request read just before close(): the Flush step sends
/// rustls' answer ahead of close_notify, so the peer decrypts our
/// close_notify under the new keys and answers it (PeerConfirmed, every
/// byte delivered).
#[test]
fn key_update_answer_goes_out_ahead_of_close_notify() {
    guarded(HANG, || async {
        for (side, version) in cases().filter(|(_, v)| *v == Version::Tls13) {
            let mut w = wired(side, version, 64 * 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            let sent = crate::pairs::pattern(10_000);
            tokio::io::AsyncWriteExt::write_all(&mut ours, &sent)
                .await
                .unwrap();
            peer_key_update(&mut w.peer).await;
            tokio::io::AsyncWriteExt::write_all(&mut w.peer, b"ping")
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(
                ours.read_outcome(&mut buf).await.unwrap(),
                graceful_tls::ReadOutcome::Data(4)
            );
            let before_close = w.our_tap.written();
            let peer = tokio::spawn(async move {
                let saw = peer_read_to_end(&mut w.peer).await;
                tokio::io::AsyncWriteExt::shutdown(&mut w.peer)
                    .await
                    .unwrap();
                saw
            });
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::PeerConfirmed);
            assert!(
                peer.await.unwrap() == PeerSaw::CloseNotify(sent),
                "{side:?}"
            );
            // KeyUpdate (5 + 5 + 1 + 16) then close_notify (24), one flush.
            assert_eq!(w.our_tap.written() - before_close, 27 + 24, "{side:?}");
        }
    });
}

/// The peer vanishes (no FIN, no RST) with our data pending: the flush and
/// the shutdown each wait their full flush_timeout, the documented worst
/// case for this path: exactly 2 × flush_timeout, FlushTimeout.
#[test]
fn vanished_peer_costs_exactly_two_flush_timeouts() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            let w = wired(side, version, 1024).await;
            let mut ours = wrap(w.ours, config(500, 1000));
            fill(&mut ours).await;
            w.our_tap.vanish();
            let started = Instant::now();
            assert_eq!(ours.close().await.unwrap(), CloseOutcome::FlushTimeout);
            assert_eq!(
                started.elapsed(),
                Duration::from_millis(1000),
                "{side:?} {version:?}"
            );
        }
    });
}

/// Records how the stream ended, as its `on_end` hooks (and so drains and
/// `serve`'s reports) see it.
fn ended_name(ours: &mut crate::hostile::Ours) -> std::sync::Arc<std::sync::Mutex<String>> {
    let name = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = name.clone();
    ours.on_end(move |ended, _| *sink.lock().unwrap() = ended.as_str().to_owned());
    name
}

/// The peer sends close_notify, which we read, then closes its socket
/// without waiting for ours (hyper's HTTP/2 client after GOAWAY): the RST
/// meets our close_notify's flush. The close ends `PeerClosedAndLeft` at
/// that instant, reported `peer-closed-and-left`, not `transport-error`;
/// reads keep reporting the peer's clean end, writes are refused as after
/// any close, and `poll_shutdown` succeeds.
#[test]
fn reset_after_the_peers_close_notify_is_peer_closed_and_left() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            for shutdown in [false, true] {
                let ctx = format!("{side:?} {version:?} shutdown={shutdown}");
                let mut w = wired(side, version, 1024).await;
                let mut ours = wrap(w.ours, config(500, 1000));
                let ended = ended_name(&mut ours);
                crate::hostile::peer_close_notify(&mut w.peer).await;
                let mut buf = [0u8; 64];
                assert_eq!(
                    ours.read_outcome(&mut buf).await.unwrap(),
                    ReadOutcome::CloseNotify,
                    "{ctx}"
                );
                fill(&mut ours).await;
                let started = Instant::now();
                let tap = w.our_tap.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(120)).await;
                    tap.reset();
                });
                if shutdown {
                    ours.shutdown().await.expect(&ctx);
                    assert_eq!(
                        ours.close().await.unwrap(),
                        CloseOutcome::PeerClosedAndLeft,
                        "{ctx}"
                    );
                } else {
                    assert_eq!(close_until_pending(&mut ours).await, FLUSHING, "{ctx}");
                    assert_eq!(
                        ours.close().await.unwrap(),
                        CloseOutcome::PeerClosedAndLeft,
                        "{ctx}"
                    );
                }
                assert_eq!(started.elapsed(), Duration::from_millis(120), "{ctx}");
                assert_eq!(*ended.lock().unwrap(), "peer-closed-and-left", "{ctx}");
                assert_eq!(
                    ours.state().write_state(),
                    WriteState::Closed(CloseOutcome::PeerClosedAndLeft),
                    "{ctx}"
                );
                assert_eq!(
                    ours.read_outcome(&mut buf).await.unwrap(),
                    ReadOutcome::CloseNotify,
                    "{ctx}: the read direction keeps its clean end"
                );
                assert!(
                    matches!(ours.write(b"late").await, Err(e) if matches!(Error::from_io(&e), Some(Error::Closed))),
                    "{ctx}"
                );
                ours.flush().await.expect("nothing left to flush");
                assert_eq!(
                    ours.close().await.unwrap(),
                    CloseOutcome::PeerClosedAndLeft,
                    "{ctx}: idempotent"
                );
            }
        }
    });
}

/// The same RST under our close_notify's flush, but without the peer's
/// close_notify read first: the peer sent none, it sent one we had not read
/// yet (still in the transport: decided by state, not by what is on the
/// wire), or its transport ended without one. Each is a transport error,
/// reported `transport-error`, as before.
#[test]
fn reset_without_the_peers_close_notify_read_is_a_transport_error() {
    guarded(HANG, || async {
        for (side, version) in cases() {
            for peer_did in ["nothing", "close_notify unread", "FIN"] {
                let ctx = format!("{side:?} {version:?} peer: {peer_did}");
                let mut w = wired(side, version, 1024).await;
                let mut ours = wrap(w.ours, config(500, 1000));
                let ended = ended_name(&mut ours);
                match peer_did {
                    "close_notify unread" => crate::hostile::peer_close_notify(&mut w.peer).await,
                    "FIN" => {
                        truncate(&mut w.peer).await;
                        let mut buf = [0u8; 64];
                        assert_eq!(
                            ours.read_outcome(&mut buf).await.unwrap(),
                            ReadOutcome::AbruptEof,
                            "{ctx}"
                        );
                    }
                    _ => {}
                }
                fill(&mut ours).await;
                assert_eq!(close_until_pending(&mut ours).await, FLUSHING, "{ctx}");
                w.our_tap.reset();
                let err = ours.close().await.unwrap_err();
                assert!(err.is_reset(), "{ctx}: {err:?}");
                assert_eq!(*ended.lock().unwrap(), "transport-error", "{ctx}");
                assert_eq!(ours.state().write_state(), WriteState::Failed, "{ctx}");
            }
        }
    });
}
