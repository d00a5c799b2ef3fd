//! [`SteppedClient`]: a TLS client driven record by record with rustls, so
//! that a test can stop a handshake half-way (hold its last flight until
//! the server is draining, say) or send exactly what it wants when.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pairs::{self, Version};

/// A TLS client driven record by record with rustls, so that a test can
/// hold its handshake's last flight.
pub struct SteppedClient {
    pub tcp: TcpStream,
    pub tls: rustls::ClientConnection,
}

impl SteppedClient {
    /// Connects over TCP; nothing is sent yet (`flush` sends the
    /// ClientHello).
    pub async fn connect(addr: SocketAddr, version: Version, alpn: &[u8]) -> Self {
        let mut config = (*pairs::client_config(version)).clone();
        config.alpn_protocols = vec![alpn.to_vec()];
        let name = ServerName::try_from("localhost").expect("name");
        let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let tcp = TcpStream::connect(addr).await.expect("connect");
        SteppedClient { tcp, tls }
    }

    /// Sends whatever rustls has to send.
    pub async fn flush(&mut self) {
        let mut out = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut out).expect("write_tls");
        }
        self.tcp.write_all(&out).await.expect("send");
    }

    /// Reads from the server until `done` says so; `false` at the end of
    /// the stream.
    pub async fn read_until(
        &mut self,
        mut done: impl FnMut(&mut rustls::ClientConnection) -> bool,
    ) -> bool {
        let mut buf = vec![0u8; 16 * 1024];
        while !done(&mut self.tls) {
            let n = self.tcp.read(&mut buf).await.expect("read");
            if n == 0 {
                return false;
            }
            self.tls.read_tls(&mut &buf[..n]).expect("read_tls");
            self.tls.process_new_packets().expect("tls");
        }
        true
    }

    /// Reads plaintext to the end: everything, and whether it ended with
    /// the server's close_notify.
    pub async fn read_to_end(&mut self) -> (Vec<u8>, bool) {
        let mut plain = Vec::new();
        let mut close_notify = false;
        self.read_until(|tls| {
            let mut chunk = [0u8; 4096];
            loop {
                match tls.reader().read(&mut chunk) {
                    Ok(0) => {
                        close_notify = true;
                        return true;
                    }
                    Ok(n) => plain.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                    Err(_) => return true,
                }
            }
        })
        .await;
        (plain, close_notify)
    }
}
