//! Blocking rustls clients on threads of their own, over loopback TCP on the
//! real clock, each playing one kind of peer against a draining server. On
//! their own threads they keep acting (flooding, trickling) whatever the
//! server's runtime does.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::pairs::{client_config, Version};

/// The kinds of peer a drain meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Sends `P`, reads the `pong`, then reads to the end and answers
    /// close_notify with its own.
    WellBehaved,
    /// Sends 16 KiB records as fast as it can; never reads.
    Flood,
    /// Sends `B` (asking for a large answer) and never reads again.
    Stalled,
    /// Completes the handshake, then does nothing: no reads, no writes, no
    /// FIN, no RST. Only timers can end it.
    HalfOpen,
    /// Sends its ClientHello one byte per 100 ms.
    SlowHandshake,
}

/// What a client saw at the end of its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saw {
    /// The server's close_notify, after `pong`.
    CloseNotify,
    /// A transport EOF without close_notify.
    Truncated,
    /// Something else; the kinds that never read end here.
    Other(String),
}

/// A running client.
pub struct Client {
    pub kind: Kind,
    /// Its end's address: the server reports it as the peer address.
    pub addr: SocketAddr,
    /// Plaintext bytes sent (flooders).
    pub sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Saw>,
}

impl Client {
    /// Stops a client that would otherwise hold its socket, and returns
    /// what it saw.
    pub fn finish(self) -> Saw {
        self.stop.store(true, Ordering::Release);
        self.handle.join().expect("client thread")
    }
}

/// Starts a client of `kind` against `server`. `ready` gets the client's
/// address once it is in the state its kind describes (handshake done, or
/// for `SlowHandshake`, once the first byte is out).
pub fn start(
    kind: Kind,
    server: SocketAddr,
    version: Version,
    ready: Sender<SocketAddr>,
) -> Client {
    let sock = TcpStream::connect(server).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    // Bounds every blocking read, so that a broken server fails the test
    // instead of hanging it.
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let addr = sock.local_addr().expect("local addr");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let (stop2, sent2) = (stop.clone(), sent.clone());
    let handle = std::thread::spawn(move || run(kind, sock, version, &stop2, &sent2, ready));
    Client {
        kind,
        addr,
        sent,
        stop,
        handle,
    }
}

fn run(
    kind: Kind,
    mut sock: TcpStream,
    version: Version,
    stop: &AtomicBool,
    sent: &AtomicU64,
    ready: Sender<SocketAddr>,
) -> Saw {
    let addr = sock.local_addr().expect("local addr");
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = ClientConnection::new(client_config(version), name).expect("client");
    if kind == Kind::SlowHandshake {
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).expect("ClientHello");
        for (i, byte) in hello.iter().enumerate() {
            if stop.load(Ordering::Acquire) || sock.write_all(&[*byte]).is_err() {
                break;
            }
            if i == 0 {
                let _ = ready.send(addr);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        return Saw::Other("slow handshake".into());
    }
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Saw::Other(format!("handshake: {e}")),
        }
    }
    let mut tls = StreamOwned::new(conn, sock);
    match kind {
        Kind::WellBehaved => {
            tls.write_all(b"P").expect("send P");
            let mut pong = Vec::new();
            let saw = read_to_end(&mut tls, &mut pong, stop, &ready, addr);
            if saw == Saw::CloseNotify {
                assert_eq!(
                    pong, b"pong",
                    "the answer arrived whole before close_notify"
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            saw
        }
        Kind::Flood => {
            let chunk = vec![0x5a; 16 * 1024];
            let _ = ready.send(addr);
            while !stop.load(Ordering::Acquire) {
                if let Err(e) = tls.write_all(&chunk) {
                    return Saw::Other(format!("flood write: {e}"));
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            Saw::Other("flooding".into())
        }
        Kind::Stalled => {
            tls.write_all(b"B").expect("send B");
            let _ = ready.send(addr);
            hold(stop)
        }
        Kind::HalfOpen => {
            let _ = ready.send(addr);
            hold(stop)
        }
        Kind::SlowHandshake => unreachable!(),
    }
}

/// Keeps the socket open and silent until told to stop.
fn hold(stop: &AtomicBool) -> Saw {
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(10));
    }
    Saw::Other("held".into())
}

/// Reads until the end of the stream, by rustls' verdict: `Ok(0)` only
/// after close_notify, `UnexpectedEof` for a truncation. Signals `ready`
/// once `pong` is in.
fn read_to_end(
    tls: &mut StreamOwned<ClientConnection, TcpStream>,
    data: &mut Vec<u8>,
    stop: &AtomicBool,
    ready: &Sender<SocketAddr>,
    addr: SocketAddr,
) -> Saw {
    let mut buf = [0u8; 4096];
    let mut signalled = false;
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return Saw::CloseNotify,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Saw::Truncated,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::Acquire) {
                    return Saw::Other("stopped while reading".into());
                }
            }
            Err(e) => return Saw::Other(format!("read: {e}")),
        }
        if !signalled && data.as_slice() == b"pong" {
            signalled = true;
            let _ = ready.send(addr);
        }
    }
}
