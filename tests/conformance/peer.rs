//! What the bare peer does: the strict reader is the testkit's (pairs.rs)
//! `peer_read_to_end`, shared with every other suite.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::stack::AnyTls;

pub use crate::pairs::{peer_read_to_end, PeerSaw};

/// Shuts the peer's transport write half without close_notify: a truncation.
pub async fn truncate<IO>(peer: &mut AnyTls<IO>)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    peer.flush().await.expect("peer flush");
    peer.io_mut()
        .shutdown()
        .await
        .expect("peer transport shutdown");
}
