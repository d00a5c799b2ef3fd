//! memory: what the wrapper adds inline and on the heap per connection, and
//! allocations per round trip on the data path (bare vs wrapped).

use std::mem::size_of;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use graceful_tls::{CancellationToken, GracefulStream};
use tokio::io::{AsyncRead, ReadBuf};

use crate::alloc;
use crate::data_path::{echo, ping, PING};
use crate::tls::{Loopback, Server};

#[derive(Debug, Clone, Default)]
pub struct Memory {
    pub stream_bytes: usize,
    pub wrapped_bytes: usize,
    /// The wrapper's own heap bytes per idle connection with a pending read.
    pub heap_bytes_per_conn: f64,
    /// Heap bytes of one `child_token()`: the caller's, shown for scale.
    pub child_token_bytes: f64,
    pub bare_allocs_per_round_trip: f64,
    pub graceful_allocs_per_round_trip: f64,
}

impl Memory {
    pub fn inline_bytes(&self) -> usize {
        self.wrapped_bytes - self.stream_bytes
    }
}

pub async fn memory(connections: usize, round_trips: usize) -> Memory {
    let lb = Loopback::bind().await;
    let mut memory = Memory {
        stream_bytes: size_of::<Server>(),
        wrapped_bytes: size_of::<GracefulStream<Server>>(),
        ..Memory::default()
    };

    let mut pairs = Vec::with_capacity(connections);
    for _ in 0..connections {
        pairs.push(lb.pair().await);
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = [0u8; 1024];
    // One pending read on each bare stream first: whatever rustls or tokio
    // allocate for a pending read belongs to the stream, not the wrapper.
    for _ in 0..2 {
        for (_, server) in &mut pairs {
            let pending = Pin::new(server).poll_read(&mut cx, &mut ReadBuf::new(&mut buf));
            assert!(
                pending.is_pending(),
                "memory: the idle read must be pending"
            );
        }
    }
    let token = CancellationToken::new();
    let mut wrapped = Vec::with_capacity(connections);
    alloc::start();
    for (client, server) in pairs.drain(..) {
        wrapped.push((client, GracefulStream::new(server, token.clone())));
    }
    for (_, stream) in &mut wrapped {
        let pending = stream.poll_read_outcome(&mut cx, &mut ReadBuf::new(&mut buf));
        assert!(matches!(pending, Poll::Pending), "memory: pending read");
    }
    let window = alloc::stop();
    memory.heap_bytes_per_conn = window.live_bytes as f64 / connections as f64;

    let mut children = Vec::with_capacity(connections);
    alloc::start();
    for _ in 0..connections {
        children.push(token.child_token());
    }
    memory.child_token_bytes = alloc::stop().live_bytes as f64 / connections as f64;
    drop((children, wrapped));

    let (client, server) = lb.pair().await;
    memory.bare_allocs_per_round_trip = allocs_per_round_trip(client, server, round_trips).await;
    let (client, server) = lb.pair().await;
    let (client, server) = (
        GracefulStream::new(client, token.clone()),
        GracefulStream::new(server, token.clone()),
    );
    memory.graceful_allocs_per_round_trip =
        allocs_per_round_trip(client, server, round_trips).await;
    memory
}

/// Allocation calls per 64-byte round trip, both ends counted, after a
/// warm-up (first reads allocate rustls buffers and the wrapper's
/// cancellation future once).
async fn allocs_per_round_trip<C, S>(mut client: C, server: S, round_trips: usize) -> f64
where
    C: AsyncRead + tokio::io::AsyncWrite + Unpin,
    S: AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let echo = tokio::spawn(echo(server));
    let mut msg = [1u8; PING];
    for _ in 0..100 {
        ping(&mut client, &mut msg).await;
    }
    alloc::start();
    for _ in 0..round_trips {
        ping(&mut client, &mut msg).await;
    }
    let window = alloc::stop();
    drop(client);
    echo.await.expect("echo task");
    window.calls as f64 / round_trips as f64
}
