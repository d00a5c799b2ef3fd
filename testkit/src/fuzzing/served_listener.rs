//! The `served` harness' in-memory listener: each client's connection is
//! a `tokio::io::duplex` pair, whose server end a channel hands to `serve`
//! (the channel is the listen queue: a client waits in it while the limits
//! leave no room). The server end ([`Pipe`]) fails with `ConnectionReset`
//! once its client reset the connection.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use graceful_tls::server::Listener;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The capacity of each direction of a connection: more than any run
/// writes without reading, so that no write waits for the other side.
pub(crate) const PIPE_CAPACITY: usize = 64 * 1024;

/// The address a client's connection is reported under: its index in the
/// port.
pub(crate) fn client_addr(client: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 10_000 + client as u16))
}

/// The client index behind a reported address.
pub(crate) fn client_of(addr: SocketAddr) -> usize {
    usize::from(addr.port() - 10_000)
}

/// The server end of a connection.
#[derive(Debug)]
pub struct Pipe {
    io: DuplexStream,
    reset: Arc<AtomicBool>,
}

/// The client's handle on its connection's reset.
#[derive(Debug, Clone)]
pub(crate) struct Reset(Arc<AtomicBool>);

impl Reset {
    /// From now on the server end fails every read and write with
    /// `ConnectionReset`; the caller then drops its end, which wakes the
    /// server's pending reads and writes.
    pub(crate) fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A connection: the client's end, the server's end, the reset switch.
pub(crate) fn connection() -> (DuplexStream, Pipe, Reset) {
    let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
    let reset = Arc::new(AtomicBool::new(false));
    (
        client,
        Pipe {
            io: server,
            reset: reset.clone(),
        },
        Reset(reset),
    )
}

impl Pipe {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            Err(io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// When `serve` took each client's connection from the queue.
pub(crate) type AcceptLog = Arc<Mutex<Vec<(usize, Instant)>>>;

/// The listener `serve` takes connections from.
#[derive(Debug)]
pub struct MemoryListener {
    queue: mpsc::UnboundedReceiver<(usize, Pipe)>,
    accepted: AcceptLog,
}

/// The clients' side of the queue.
pub(crate) type Dialer = mpsc::UnboundedSender<(usize, Pipe)>;

/// A listener, the clients' way in, and the log of what was accepted.
pub(crate) fn listener() -> (MemoryListener, Dialer, AcceptLog) {
    let (dial, queue) = mpsc::unbounded_channel();
    let accepted = AcceptLog::default();
    (
        MemoryListener {
            queue,
            accepted: accepted.clone(),
        },
        dial,
        accepted,
    )
}

impl Listener for MemoryListener {
    type Io = Pipe;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> io::Result<(Pipe, SocketAddr)> {
        match self.queue.recv().await {
            Some((client, pipe)) => {
                self.accepted
                    .lock()
                    .expect("accept log")
                    .push((client, Instant::now()));
                Ok((pipe, client_addr(client)))
            }
            // Every client connected: nothing more until the drain.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 443)))
    }

    fn socket_addr(peer: &SocketAddr) -> Option<SocketAddr> {
        Some(*peer)
    }
}
