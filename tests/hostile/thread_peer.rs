#![allow(dead_code)]
//! Hostile peers on threads of their own, over real loopback TCP and the
//! real clock: a blocking rustls peer that keeps acting (flooding, say)
//! whatever our runtime does, so that nothing about it pauses with us.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};

use crate::common::{client_config, server_config, Version};

/// What the peer does once the handshake is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Sends 16 KiB records as fast as it can; never reads, never sends
    /// close_notify.
    Flood,
    /// Reads everything, never answers, never closes: a silent peer.
    Silent,
}

/// A peer thread and what it observed.
pub struct ThreadPeer {
    stop: Arc<AtomicBool>,
    /// Plaintext bytes it sent.
    pub sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl ThreadPeer {
    /// Stops the peer and waits for its thread (it closes its socket
    /// without close_notify).
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            handle.join().expect("peer thread");
        }
    }
}

impl Drop for ThreadPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn act<C, D>(
    mut tls: rustls::StreamOwned<C, TcpStream>,
    act: Act,
    stop: &AtomicBool,
    sent: &AtomicU64,
) where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    let chunk = vec![0x5a; 16 * 1024];
    match act {
        Act::Flood => {
            while !stop.load(Ordering::Acquire) {
                if tls.write_all(&chunk).is_err() {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        Act::Silent => {
            tls.sock
                .set_read_timeout(Some(Duration::from_millis(20)))
                .expect("read timeout");
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Acquire) {
                match tls.sock.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
            }
        }
    }
}

/// A peer server on a thread: accepts one connection on `listener`.
pub fn server(listener: TcpListener, version: Version, what: Act) -> ThreadPeer {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (stop2, sent2) = (stop.clone(), sent.clone());
    let handle = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().expect("accept");
        sock.set_nodelay(true).expect("nodelay");
        let mut conn = ServerConnection::new(server_config(version)).expect("server conn");
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        act(rustls::StreamOwned::new(conn, sock), what, &stop2, &sent2);
    });
    ThreadPeer {
        stop,
        sent,
        handle: Some(handle),
    }
}

/// A peer client on a thread, connecting to `addr`.
pub fn client(addr: std::net::SocketAddr, version: Version, what: Act) -> ThreadPeer {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (stop2, sent2) = (stop.clone(), sent.clone());
    let handle = std::thread::spawn(move || {
        let mut sock = TcpStream::connect(addr).expect("connect");
        sock.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from("localhost").expect("name");
        let mut conn = ClientConnection::new(client_config(version), name).expect("client conn");
        while conn.is_handshaking() {
            if conn.complete_io(&mut sock).is_err() {
                return;
            }
        }
        act(rustls::StreamOwned::new(conn, sock), what, &stop2, &sent2);
    });
    ThreadPeer {
        stop,
        sent,
        handle: Some(handle),
    }
}
