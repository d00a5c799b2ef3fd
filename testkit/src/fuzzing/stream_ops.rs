//! The operations of the stream target: ours on the `GracefulStream`, the
//! peer's on a bare tokio-rustls stream. Each records what it did in the
//! [`Ledger`], which checks every report as it comes.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::Poll;

use tokio::io::{AsyncWriteExt, ReadBuf};

use super::stream_check::{pattern_bytes, Failure, Ledger, OURS};
use super::stream_hostile;
use super::stream_peer::{peer_read, peer_write, Ours, Tls};
use super::stream_vocab::{OursOp, PeerOp};
use super::transport::{Side, Wire};
use graceful_tls::machine::{ReadState, WriteState};
use graceful_tls::{CancellationToken, CloseOutcome};

pub(super) async fn ours_op(
    ours: &mut Option<Ours>,
    token: &CancellationToken,
    ledger: &RefCell<Ledger>,
    op: OursOp,
) {
    let Some(stream) = ours.as_mut() else {
        return;
    };
    match op {
        OursOp::Idle => {}
        OursOp::Write(len) => {
            let start = ledger.borrow().ours_tx;
            let data = pattern_bytes(OURS, start, usize::from(len % 20_000));
            let mut off = 0;
            while off < data.len() {
                match stream.write(&data[off..]).await {
                    Ok(n) => {
                        assert!(n > 0, "write accepted nothing");
                        let mut l = ledger.borrow_mut();
                        l.ours_wrote(n);
                        let counted = stream.stats().written();
                        assert_eq!(counted, l.ours_tx as u64, "Stats::written is off");
                        off += n;
                    }
                    Err(e) => {
                        let rest = data.len() - off;
                        let mut l = ledger.borrow_mut();
                        // A write that met the transport's failure after
                        // the peer's close_notify ended the close
                        // (`PeerClosedAndLeft`): later writes are refused
                        // as after any close.
                        if stream.state().write_state()
                            == WriteState::Closed(CloseOutcome::PeerClosedAndLeft)
                        {
                            l.peer_left = true;
                        }
                        return l.ours_write_failed(Failure::of_io(&e), rest);
                    }
                }
            }
        }
        OursOp::Read(cap) => {
            read_once(stream, ledger, usize::from(cap).max(1)).await;
        }
        OursOp::ReadToEnd => while !read_once(stream, ledger, 4096).await {},
        OursOp::Flush => {
            if let Err(e) = stream.flush().await {
                ledger.borrow().check_failure(Failure::of_io(&e), "flush");
            }
        }
        OursOp::Cancel => {
            token.cancel();
            ledger.borrow_mut().cancelled = true;
        }
        OursOp::Close => {
            ledger.borrow_mut().begin_await_close(stream.state());
            let result = stream.close().await.map_err(|e| Failure::of(&e));
            ledger.borrow_mut().ours_closed(result, stream.stats());
        }
        OursOp::Shutdown => shutdown(stream, ledger).await,
        OursOp::CloseCancelledThenShutdown(n) => {
            ledger.borrow_mut().begin_await_close(stream.state());
            let limit = 1 + u32::from(n % 8);
            let mut polls = 0;
            let early = poll_fn(|cx| {
                polls += 1;
                match stream.poll_close(cx) {
                    Poll::Ready(result) => Poll::Ready(Some(result)),
                    Poll::Pending if polls >= limit => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            if let Some(result) = early {
                let result = result.map_err(|e| Failure::of(&e));
                ledger.borrow_mut().ours_closed(result, stream.stats());
            }
            shutdown(stream, ledger).await;
        }
        OursOp::Drop => {
            let mut l = ledger.borrow_mut();
            l.begin_close(stream.state());
            l.note_no_wait_close(stream.state().write_state());
            let failed =
                stream.state().write_state() == WriteState::Failed || tls_failed(stream.get_mut());
            l.dropped_failed = Some(failed);
            drop(l);
            *ours = None;
        }
    }
}

/// `AsyncWriteExt::shutdown`, a close that does not wait for the peer.
async fn shutdown(stream: &mut Ours, ledger: &RefCell<Ledger>) {
    {
        let mut l = ledger.borrow_mut();
        l.begin_close(stream.state());
        l.shutdown_called = true;
        l.note_no_wait_close(stream.state().write_state());
    }
    match stream.shutdown().await.map_err(|e| Failure::of_io(&e)) {
        Ok(()) => {}
        Err(Failure::FlushTimeout) => ledger.borrow().check_flush_timeout(),
        Err(failure) => ledger.borrow().check_failure(failure, "shutdown"),
    }
}

/// Whether rustls already holds a fatal error that no read has reported
/// yet. tokio-rustls returns the plaintext of the records before a bad one
/// and keeps the error (and has sent the fatal alert) for the next call, so
/// a drop right after such a read sends no close_notify. `close()` reports
/// the error; a drop cannot, so the check asks rustls (`Writer::flush` only
/// returns the stored error, without I/O).
fn tls_failed(tls: &mut Tls) -> bool {
    use std::io::Write as _;
    match tls {
        tokio_rustls::TlsStream::Client(s) => s.get_mut().1.writer().flush().is_err(),
        tokio_rustls::TlsStream::Server(s) => s.get_mut().1.writer().flush().is_err(),
    }
}

/// One `read_outcome`; returns whether it was terminal. After a cancel it
/// must not wait at all.
async fn read_once(stream: &mut Ours, ledger: &RefCell<Ledger>, cap: usize) -> bool {
    let mut buf = vec![0u8; cap];
    let mut read = ReadBuf::new(&mut buf);
    let before = stream.stats();
    let failed_before = stream.state().read_state() == ReadState::Failed;
    let reads_before = ledger.borrow().wire.facts(Side::Peer).reads;
    let cancelled = ledger.borrow().cancelled;
    let mut first = true;
    let result = poll_fn(|cx| {
        let poll = stream.poll_read_outcome(cx, &mut read);
        assert!(
            !(first && cancelled && poll.is_pending()),
            "a read after cancel waited"
        );
        first = false;
        poll
    })
    .await;
    let filled = read.filled().len() as u64;
    assert_eq!(stream.stats().read(), before.read() + filled, "Stats::read");
    let result = result.map_err(|e| Failure::of(&e));
    let mut l = ledger.borrow_mut();
    let terminal = l.ours_read(result, read.filled(), before, failed_before, reads_before);
    // Data from a read direction that has failed (by this read or before):
    // plaintext decrypted before the failure, delivered ahead of the error.
    if !terminal && stream.state().read_state() == ReadState::Failed {
        l.data_before_failure = true;
    }
    terminal
}

pub(super) async fn peer_op(peer: &mut Tls, wire: &Wire, ledger: &RefCell<Ledger>, op: PeerOp) {
    match op {
        PeerOp::Idle => {}
        PeerOp::Write(len) => {
            peer_write(peer, ledger, usize::from(len % 20_000)).await;
        }
        PeerOp::Read(cap) => {
            peer_read(peer, ledger, usize::from(cap).max(1)).await;
        }
        PeerOp::ReadToEnd => while !peer_read(peer, ledger, 16 * 1024).await {},
        PeerOp::CloseNotify => peer_close_notify(peer, ledger).await,
        PeerOp::Shutdown | PeerOp::Answer => {
            if matches!(op, PeerOp::Answer) {
                while !peer_read(peer, ledger, 16 * 1024).await {}
            }
            peer_close_notify(peer, ledger).await;
            let _ = peer.get_mut().0.shutdown().await;
        }
        PeerOp::Truncate => {
            if peer.flush().await.is_ok() {
                let _ = peer.get_mut().0.shutdown().await;
            }
        }
        PeerOp::Reset => wire.reset(),
        PeerOp::Flood(n) => stream_hostile::flood(peer, wire, ledger, n).await,
        PeerOp::Garbage(n) => stream_hostile::garbage(peer, wire, ledger, n).await,
        PeerOp::ProvokeAlert => stream_hostile::provoke_alert(peer, wire, ledger).await,
        PeerOp::KeyUpdate => stream_hostile::key_update(peer, wire, ledger).await,
        PeerOp::CloseNotifySplit(n) => {
            stream_hostile::close_notify_split(peer, wire, ledger, n).await
        }
        PeerOp::ReleaseTickets => {
            if wire.release(Side::Peer) {
                let mut l = ledger.borrow_mut();
                l.tickets_in_close |= l.closing();
            }
        }
        PeerOp::Vanish => wire.vanish(),
        PeerOp::StallOurShutdown => wire.stall_shutdown(Side::Ours),
        PeerOp::Forge(n) => stream_hostile::forge(peer, wire, ledger, n).await,
    }
}

async fn peer_close_notify(peer: &mut Tls, ledger: &RefCell<Ledger>) {
    peer.get_mut().1.send_close_notify();
    ledger.borrow_mut().peer_cn_queued = true;
    if peer.flush().await.is_ok() && !ledger.borrow().peer_cn_lost {
        ledger.borrow_mut().peer_cn_flushed = true;
    }
}
