//! The two ends of the `stream` target's connection, and the bare peer's
//! plain reads and writes, which record what it did in the [`Ledger`]:
//! used by the operations (`stream_ops.rs`) and the hostile peer
//! (`stream_hostile.rs`) alike.

use std::cell::RefCell;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stream_check::{pattern_bytes, Ledger, PEER};
use super::transport::Endpoint;
use graceful_tls::GracefulStream;

/// The bare tokio-rustls peer (and our stream's inner TLS stream).
pub(super) type Tls = tokio_rustls::TlsStream<Endpoint>;
/// Our side: the `GracefulStream` under test.
pub(super) type Ours = GracefulStream<Tls>;

/// Writes `len` bytes of the peer's plaintext; returns whether all went.
pub(super) async fn peer_write(peer: &mut Tls, ledger: &RefCell<Ledger>, len: usize) -> bool {
    let (after_cn, start) = {
        let l = ledger.borrow();
        (l.peer_cn_queued, l.peer_tx + l.peer_tx_after_cn as usize)
    };
    let data = pattern_bytes(PEER, start, len);
    let mut off = 0;
    while off < len {
        let Ok(n) = peer.write(&data[off..]).await else {
            let mut l = ledger.borrow_mut();
            if !after_cn {
                l.peer_tx_maybe = l.peer_tx_maybe.max(len - off);
            }
            return false;
        };
        let mut l = ledger.borrow_mut();
        if after_cn {
            l.peer_tx_after_cn += n as u64;
        } else {
            l.peer_tx += n;
        }
        off += n;
    }
    true
}

/// One read of the peer; returns whether its reading has ended.
pub(super) async fn peer_read(peer: &mut Tls, ledger: &RefCell<Ledger>, cap: usize) -> bool {
    if ledger.borrow().peer_end.is_some() {
        return true;
    }
    let mut buf = vec![0u8; cap];
    let result = peer.read(&mut buf).await;
    let mut l = ledger.borrow_mut();
    l.peer_read(result, &buf);
    l.peer_end.is_some()
}
