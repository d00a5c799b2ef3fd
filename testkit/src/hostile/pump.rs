//! A deterministic flooding peer: a transport that *is* the peer. Its
//! rustls connection runs inside our transport's poll calls, so it
//! synthesises valid TLS records on demand and a read never returns
//! `Pending` for lack of data (only, optionally, for tokio's cooperative
//! budget, as a real socket does). With it, a flood runs on the paused
//! clock; [`advance_forever`] makes time pass, and
//! [`guarded`](crate::guarded) turns a hang into a failure.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::pairs::{client_config, server_config, Side, Tls, Version};

/// What the in-process peer did and saw, shared with the test.
#[derive(Debug, Default)]
pub struct PumpStats {
    /// Plaintext bytes of ours the peer decrypted.
    pub received: AtomicU64,
    /// Whether our close_notify reached the peer.
    pub got_close_notify: AtomicBool,
    /// Plaintext bytes the peer flooded.
    pub flooded: AtomicU64,
    /// Transport reads we made.
    pub reads: AtomicU64,
}

/// The peer's behaviour, switchable at any time.
#[derive(Debug, Default)]
pub struct PumpControl {
    /// Synthesise a record whenever we read and nothing else is pending.
    pub flood: AtomicBool,
    /// Our writes pend forever: the peer stopped reading.
    pub stalled: AtomicBool,
}

/// Our transport, with the peer inside.
pub struct PeerPump {
    peer: Connection,
    /// Records from the peer not yet read by us.
    out: Vec<u8>,
    pos: usize,
    record: Vec<u8>,
    coop: bool,
    pub stats: Arc<PumpStats>,
    pub control: Arc<PumpControl>,
}

impl PeerPump {
    /// A peer for our `side`, flooding records of `record_len` plaintext
    /// bytes once [`PumpControl::flood`] is set. With `coop`, each read
    /// spends tokio's cooperative budget as a socket's does.
    pub fn new(side: Side, version: Version, record_len: usize, coop: bool) -> Self {
        let peer = match side {
            // We are the client: the peer is a server.
            Side::Client => Connection::Server(
                ServerConnection::new(server_config(version)).expect("server connection"),
            ),
            Side::Server => {
                let name = ServerName::try_from("localhost").expect("name");
                Connection::Client(
                    ClientConnection::new(client_config(version), name).expect("client connection"),
                )
            }
        };
        PeerPump {
            peer,
            out: Vec::new(),
            pos: 0,
            record: vec![0x5a; record_len],
            coop,
            stats: Arc::default(),
            control: Arc::default(),
        }
    }

    fn refill(&mut self) {
        self.out.clear();
        self.pos = 0;
        if !self.peer.wants_write()
            && !self.peer.is_handshaking()
            && self.control.flood.load(Ordering::SeqCst)
        {
            self.peer.writer().write_all(&self.record).expect("flood");
            self.stats
                .flooded
                .fetch_add(self.record.len() as u64, Ordering::SeqCst);
        }
        while self.peer.wants_write() {
            self.peer.write_tls(&mut self.out).expect("peer write_tls");
        }
    }

    fn coop(&self, cx: &mut Context<'_>) -> Poll<Option<tokio::task::coop::RestoreOnPending>> {
        if !self.coop {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(ready!(tokio::task::coop::poll_proceed(cx))))
    }
}

impl AsyncRead for PeerPump {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let coop = ready!(this.coop(cx));
        if this.pos == this.out.len() {
            this.refill();
        }
        if this.pos == this.out.len() {
            // A silent peer: nothing will come unless we write.
            return Poll::Pending;
        }
        let n = buf.remaining().min(this.out.len() - this.pos);
        buf.put_slice(&this.out[this.pos..this.pos + n]);
        this.pos += n;
        this.stats.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(coop) = coop {
            coop.made_progress();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PeerPump {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.control.stalled.load(Ordering::SeqCst) {
            // Never woken: the peer stopped reading for good.
            return Poll::Pending;
        }
        let coop = ready!(this.coop(cx));
        let n = this.peer.read_tls(&mut &data[..])?;
        this.peer
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut plain = [0u8; 16 * 1024];
        loop {
            match this.peer.reader().read(&mut plain) {
                Ok(0) => {
                    this.stats.got_close_notify.store(true, Ordering::SeqCst);
                    break;
                }
                Ok(k) => {
                    this.stats.received.fetch_add(k as u64, Ordering::SeqCst);
                }
                Err(_) => break,
            }
        }
        if let Some(coop) = coop {
            coop.made_progress();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.control.stalled.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Our side of a handshake with the in-process peer.
pub async fn pumped(
    side: Side,
    version: Version,
    record_len: usize,
    coop: bool,
) -> (Tls<PeerPump>, Arc<PumpStats>, Arc<PumpControl>) {
    let pump = PeerPump::new(side, version, record_len, coop);
    let (stats, control) = (pump.stats.clone(), pump.control.clone());
    let tls: Tls<PeerPump> = match side {
        Side::Client => {
            let connector = tokio_rustls::TlsConnector::from(client_config(version));
            let name = ServerName::try_from("localhost").expect("name");
            connector
                .connect(name, pump)
                .await
                .expect("handshake")
                .into()
        }
        Side::Server => {
            let acceptor = tokio_rustls::TlsAcceptor::from(server_config(version));
            acceptor.accept(pump).await.expect("handshake").into()
        }
    };
    (tls, stats, control)
}

/// A task that makes paused time pass 1 ms at a time while others are
/// busy (the paused clock otherwise advances only when the runtime idles,
/// and a flood never lets it).
pub fn advance_forever() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::time::advance(Duration::from_millis(1)).await;
        }
    })
}
