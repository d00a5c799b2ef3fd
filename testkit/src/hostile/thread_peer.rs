//! Hostile peers on threads of their own, over real loopback TCP and the
//! real clock: a blocking rustls server that keeps acting (flooding, say)
//! whatever our runtime does, so that nothing about it pauses with us, and
//! that records when its socket saw our end.

use std::io::Write;
use std::net::TcpStream as StdTcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ServerConnection;
use tokio::net::TcpStream;

use crate::pairs::{client_config, server_config, Version};

/// How often a blocked peer looks at its stop flag.
const TICK: Duration = Duration::from_millis(10);

/// What the peer does once the handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Sends 16 KiB records as fast as it can; never reads, never sends
    /// close_notify. Its end comes when a write fails (we closed with its
    /// records unread: RST) or on stop, which closes with our bytes unread
    /// in its socket: an RST from its side.
    Flood,
    /// Holds the socket and does nothing at all: no read, no write, no FIN,
    /// no RST (half-open).
    Hold,
    /// Sends this many bytes of plaintext in one record, then its
    /// close_notify one byte per TCP segment, then holds.
    TrickleCloseNotify(usize),
    /// Sends its close_notify at once, then holds without reading; stop
    /// closes its socket with whatever we sent unread (RST): a peer that
    /// closes and leaves without waiting for our close_notify.
    CloseNotifyThenLeave,
}

/// A peer thread and what it observed.
pub struct ThreadPeer {
    stop: Arc<AtomicBool>,
    /// Plaintext bytes it sent.
    pub sent: Arc<AtomicU64>,
    /// When its socket failed or reached EOF, if it did.
    ended: Arc<Mutex<Option<Instant>>>,
    handle: Option<JoinHandle<()>>,
}

impl ThreadPeer {
    /// Stops the peer and waits for its thread; it closes its socket
    /// without close_notify.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            handle.join().expect("peer thread");
        }
    }

    /// Waits (up to `limit`) until the peer's socket saw our end, and says
    /// when; `None` if it did not within `limit`.
    pub async fn ended(mut self, limit: Duration) -> Option<Instant> {
        let handle = self.handle.take().expect("peer thread");
        let ended = self.ended.clone();
        let joined = tokio::task::spawn_blocking(move || handle.join());
        match tokio::time::timeout(limit, joined).await {
            Ok(joined) => {
                joined.expect("join task").expect("peer thread");
                *ended.lock().expect("lock")
            }
            Err(_) => None,
        }
    }
}

impl Drop for ThreadPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn act(
    mut conn: ServerConnection,
    mut sock: StdTcpStream,
    act: Act,
    stop: &AtomicBool,
    sent: &AtomicU64,
    ended: &Mutex<Option<Instant>>,
) {
    let end = || *ended.lock().expect("lock") = Some(Instant::now());
    let stopped = || stop.load(Ordering::Acquire);
    sock.set_read_timeout(Some(TICK)).expect("read timeout");
    sock.set_write_timeout(Some(TICK)).expect("write timeout");
    match act {
        Act::Flood => {
            let chunk = vec![0x5a; 16 * 1024];
            while !stopped() {
                if !conn.wants_write() {
                    conn.writer().write_all(&chunk).expect("encrypt");
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                match conn.write_tls(&mut sock) {
                    Ok(_) => {}
                    Err(e) if would_block(&e) => {}
                    Err(_) => return end(),
                }
            }
        }
        Act::Hold => {
            while !stopped() {
                std::thread::sleep(TICK);
            }
        }
        Act::TrickleCloseNotify(len) => {
            let seal = |conn: &mut ServerConnection| {
                let mut bytes = Vec::new();
                while conn.wants_write() {
                    conn.write_tls(&mut bytes).expect("write_tls");
                }
                bytes
            };
            conn.writer().write_all(&vec![0x33; len]).expect("encrypt");
            sent.fetch_add(len as u64, Ordering::Relaxed);
            let data = seal(&mut conn);
            conn.send_close_notify();
            let close_notify = seal(&mut conn);
            sock.write_all(&data).expect("data");
            for byte in &close_notify {
                // TCP_NODELAY: each byte leaves as a segment of its own.
                sock.write_all(&[*byte]).expect("close_notify byte");
                std::thread::sleep(Duration::from_millis(2));
            }
            while !stopped() {
                std::thread::sleep(TICK);
            }
        }
        Act::CloseNotifyThenLeave => {
            conn.send_close_notify();
            while conn.wants_write() {
                if conn.write_tls(&mut sock).is_err() {
                    return end();
                }
            }
            while !stopped() {
                std::thread::sleep(TICK);
            }
        }
    }
}

/// Connects our tokio-rustls client to a peer server on its own thread.
pub async fn connect(
    version: Version,
    what: Act,
) -> (tokio_rustls::client::TlsStream<TcpStream>, ThreadPeer) {
    // The peer's receive buffer is fixed too (accepted sockets inherit it):
    // a peer that stops reading closes its window for good.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(64 * 1024).expect("SO_RCVBUF");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen").into_std().expect("std");
    listener.set_nonblocking(false).expect("blocking");
    let addr = listener.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(Mutex::new(None));
    let (stop2, sent2, ended2) = (stop.clone(), sent.clone(), ended.clone());
    let handle = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_nodelay(true).expect("nodelay");
        let mut conn = ServerConnection::new(server_config(version)).expect("server conn");
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        act(conn, sock, what, &stop2, &sent2, &ended2);
    });
    let peer = ThreadPeer {
        stop,
        sent,
        ended,
        handle: Some(handle),
    };
    // A fixed send buffer (Linux stops autotuning it once set): when a
    // write pends because the peer stopped reading, it stays pending.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(64 * 1024).expect("SO_SNDBUF");
    let tcp = socket.connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let connector = tokio_rustls::TlsConnector::from(client_config(version));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("handshake");
    (tls, peer)
}
