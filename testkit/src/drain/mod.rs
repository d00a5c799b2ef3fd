//! The drain kit: a tiny request/response protocol for the drain tests,
//! and the peers that speak it (bare tokio-rustls clients that record what
//! they saw); [`clients`] has the hostile ones of `tests/drain_hostile.rs`.

pub mod clients;

use std::time::Duration;

use graceful_tls::{ConnectionSet, GracefulStream, ReadOutcome, ShutdownSignal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedSender;

use crate::pairs::{pattern, peer_read_to_end, PeerSaw, Tls};

/// A request: work for `work` (on tokio's clock), then answer `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub work: Duration,
    pub len: u32,
}

impl Request {
    pub fn encode(self) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(self.work.as_millis() as u32).to_be_bytes());
        bytes[4..].copy_from_slice(&self.len.to_be_bytes());
        bytes
    }

    fn decode(bytes: [u8; 8]) -> Request {
        let ms = u32::from_be_bytes(bytes[..4].try_into().unwrap());
        let len = u32::from_be_bytes(bytes[4..].try_into().unwrap());
        Request {
            work: Duration::from_millis(ms.into()),
            len,
        }
    }
}

/// Serves requests until the drain begins; a request in progress is
/// finished first. Sends on `started` when a request arrives.
pub async fn serve<S>(
    stream: &mut GracefulStream<S>,
    signal: ShutdownSignal,
    started: UnboundedSender<()>,
) where
    S: graceful_tls::TlsBackend,
{
    let mut request = [0u8; 8];
    loop {
        let first = tokio::select! {
            read = stream.read_outcome(&mut request) => read,
            () = signal.begun() => return,
        };
        let n = match first {
            Ok(ReadOutcome::Data(n)) => n,
            _ => return,
        };
        if n < request.len() && stream.read_exact(&mut request[n..]).await.is_err() {
            return;
        }
        let _ = started.send(());
        let request = Request::decode(request);
        tokio::time::sleep(request.work).await;
        let body = pattern(request.len as usize);
        if stream.write_all(&body).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// What a peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Sends nothing; reads to the end, then answers close_notify.
    Idle,
    /// Sends one request; reads the answer to the end, then answers
    /// close_notify.
    Request(Request),
    /// Sends one request and never reads again.
    Stalled(Request),
}

/// Runs a peer; returns what it saw. A stalled peer reads only after
/// `unstall` fires (the test's drain has returned).
pub async fn run_peer<IO>(
    peer: Peer,
    mut tls: Tls<IO>,
    unstall: tokio::sync::watch::Receiver<bool>,
) -> PeerSaw
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match peer {
        Peer::Idle => {}
        Peer::Request(request) | Peer::Stalled(request) => {
            tls.write_all(&request.encode())
                .await
                .expect("send request");
            tls.flush().await.expect("flush request");
        }
    }
    if let Peer::Stalled(_) = peer {
        let mut unstall = unstall;
        let _ = unstall.wait_for(|go| *go).await;
    }
    let saw = peer_read_to_end(&mut tls).await;
    if let PeerSaw::CloseNotify(_) = saw {
        // Answer with our own close_notify (the server may not wait for it).
        let _ = tls.shutdown().await;
    }
    saw
}

/// Registers a server stream in `set` with the `serve` handler; returns its id.
pub fn register<S>(set: &ConnectionSet, tls: S, started: &UnboundedSender<()>) -> u64
where
    S: graceful_tls::TlsBackend + Send + 'static,
{
    let started = started.clone();
    set.spawn(tls, None, move |stream, signal| {
        Box::pin(serve(stream, signal, started))
    })
    .expect("the set accepts connections before the drain")
}
