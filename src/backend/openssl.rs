//! [`TlsBackend`] for `tokio_openssl::SslStream` (cargo feature `openssl`).
//!
//! Decisions come from OpenSSL's state and error codes:
//! * clean end: `SSL_read` reports `SSL_ERROR_ZERO_RETURN` (tokio-openssl
//!   returns `Ok(0)`), and afterwards `SSL_peek` answers
//!   `SSL_ERROR_ZERO_RETURN` from the `SSL_RECEIVED_SHUTDOWN` flag alone,
//!   without I/O;
//! * truncation: with rust-openssl's stream BIO, OpenSSL sees the
//!   transport's EOF as `SSL_ERROR_SYSCALL` without an error, which
//!   tokio-openssl also returns as `Ok(0)`, and the flag stays unset; where
//!   OpenSSL 3 raises `SSL_R_UNEXPECTED_EOF_WHILE_READING` instead, the
//!   error's library and reason codes identify it.
//!
//! Do not set `SSL_OP_IGNORE_UNEXPECTED_EOF`: it makes OpenSSL record a
//! truncation as a received close_notify, so nobody can tell them apart.

use std::ffi::c_int;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use openssl::ssl::{ErrorCode, SslVersion};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_openssl::SslStream;

use super::{shutdown_transport, Buffered, ErrorClass, HandshakeKind, TlsBackend, TlsVersion};

/// `ERR_LIB_SSL` (openssl/err.h): errors raised by libssl.
const ERR_LIB_SSL: c_int = 20;
/// `SSL_R_UNEXPECTED_EOF_WHILE_READING` (openssl/sslerr.h, OpenSSL 3).
const SSL_R_UNEXPECTED_EOF_WHILE_READING: c_int = 294;
/// `SSL_R_BAD_WRITE_RETRY` (openssl/sslerr.h): a record is half-written and
/// only a retry of the same `SSL_write` may continue.
const SSL_R_BAD_WRITE_RETRY: c_int = 127;

const VERSIONS: [(SslVersion, TlsVersion); 4] = [
    (SslVersion::TLS1, TlsVersion::Tls10),
    (SslVersion::TLS1_1, TlsVersion::Tls11),
    (SslVersion::TLS1_2, TlsVersion::Tls12),
    (SslVersion::TLS1_3, TlsVersion::Tls13),
];

/// tokio-openssl 0.6 reaches `SSL_shutdown` only through `poll_shutdown`,
/// which shuts the transport's write half in the same call once the alert
/// is sent: with this backend, close_notify and the transport's write-half
/// shutdown (FIN) leave together. Reading goes on working (a half-close),
/// so waiting for the peer's close_notify and every outcome are unchanged.
impl<IO: AsyncRead + AsyncWrite + Unpin> TlsBackend for SslStream<IO> {
    fn is_handshake_complete(&self) -> bool {
        self.ssl().is_init_finished()
    }

    fn protocol_version(&self) -> Option<TlsVersion> {
        if !self.is_handshake_complete() {
            return None;
        }
        let version = self.ssl().version2()?;
        VERSIONS
            .iter()
            .find(|(ssl, _)| *ssl == version)
            .map(|(_, ours)| *ours)
    }

    fn read_buffered(&mut self, buf: &mut [u8]) -> Buffered {
        // `SSL_pending` counts plaintext left in the record OpenSSL already
        // decrypted; reading at most that much never calls down to the
        // transport (rust-openssl documents this for `SslRef::pending`), so
        // the no-op waker is never registered anywhere.
        let pending = self.ssl().pending();
        if pending == 0 {
            return Buffered::Empty;
        }
        let len = buf.len().min(pending);
        let mut read = ReadBuf::new(&mut buf[..len]);
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(self).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) if !read.filled().is_empty() => Buffered::Data(read.filled().len()),
            _ => Buffered::Empty,
        }
    }

    fn received_close_notify(&mut self) -> bool {
        // `SSL_peek` returns at once with `SSL_ERROR_ZERO_RETURN` when
        // `SSL_RECEIVED_SHUTDOWN` is set; otherwise it reads the transport,
        // which is at its end (the caller's contract) and answers again.
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(self).poll_peek(&mut cx, &mut [0u8; 1]),
            Poll::Ready(Err(e)) if e.code() == ErrorCode::ZERO_RETURN
        )
    }

    fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // See the impl's doc: this also shuts the transport's write half.
        match Pin::new(self).poll_shutdown(cx) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            // A write was abandoned after `Pending` (its future dropped, e.g.
            // by a timeout against a stalled peer): OpenSSL holds a
            // half-sent record that only that same write could finish, and
            // refuses to put close_notify behind it. It can never be
            // flushed, exactly like a peer that never reads again: stay
            // pending (the close's flush deadline, always armed while this
            // step waits, wakes the task), so the close ends with
            // `FlushTimeout` and no close_notify after a partial record.
            Poll::Ready(Err(e)) if has_reason(&e, SSL_R_BAD_WRITE_RETRY) => Poll::Pending,
            other => other,
        }
    }

    fn poll_shutdown_transport(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        shutdown_transport(self.get_mut(), cx)
    }

    fn classify_error(&self, error: &io::Error) -> ErrorClass {
        // rust-openssl hands transport errors back as the transport's own
        // io::Error; everything else travels as an `ssl::Error` inside one.
        let Some(ssl) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        else {
            return ErrorClass::Transport;
        };
        if ssl.ssl_error().is_none() {
            return if ssl.code() == ErrorCode::SSL {
                ErrorClass::Tls
            } else {
                ErrorClass::Transport
            };
        }
        if has_reason(error, SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ErrorClass::TransportEof
        } else {
            ErrorClass::Tls
        }
    }

    /// `SSL_session_reused`. OpenSSL does not say whether a full handshake
    /// took a HelloRetryRequest, so it is never
    /// [`FullWithHelloRetryRequest`](HandshakeKind::FullWithHelloRetryRequest).
    fn handshake_kind(&self) -> Option<HandshakeKind> {
        if !self.is_handshake_complete() {
            return None;
        }
        Some(if self.ssl().session_reused() {
            HandshakeKind::Resumed
        } else {
            HandshakeKind::Full
        })
    }
}

/// Whether `error` carries an `ssl::Error` whose OpenSSL error stack holds
/// libssl's `reason` (codes, never message text).
fn has_reason(error: &io::Error, reason: c_int) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        .and_then(|ssl| ssl.ssl_error())
        .is_some_and(|stack| {
            stack
                .errors()
                .iter()
                .any(|e| e.library_code() == ERR_LIB_SSL && e.reason_code() == reason)
        })
}

/// Pins the codes copied from OpenSSL's C headers: each is raised for real
/// by this OpenSSL, and names the reason its header comment says.
#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::path::PathBuf;

    use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslFiletype, SslMethod};
    use tokio::io::{AsyncReadExt, DuplexStream};

    use super::*;

    fn certs() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testkit/certs")
    }

    async fn pair(capacity: usize) -> (SslStream<DuplexStream>, SslStream<DuplexStream>) {
        let mut connector = SslConnector::builder(SslMethod::tls()).expect("connector");
        connector.set_ca_file(certs().join("ca.pem")).expect("ca");
        let client = connector
            .build()
            .configure()
            .expect("configure")
            .into_ssl("localhost")
            .expect("ssl");
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        acceptor
            .set_private_key_file(certs().join("server.key"), SslFiletype::PEM)
            .expect("key");
        acceptor
            .set_certificate_chain_file(certs().join("server.pem"))
            .expect("cert");
        let server = Ssl::new(acceptor.build().context()).expect("ssl");
        let (a, b) = tokio::io::duplex(capacity);
        let mut client = SslStream::new(client, a).expect("client");
        let mut server = SslStream::new(server, b).expect("server");
        let (c, s) = tokio::join!(
            Pin::new(&mut client).connect(),
            Pin::new(&mut server).accept()
        );
        c.expect("connect");
        s.expect("accept");
        (client, server)
    }

    /// The first libssl error on `error`'s stack, as (library, reason, text).
    fn first_ssl_error(error: &io::Error) -> (c_int, c_int, Option<&'static str>) {
        let stack = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
            .and_then(|ssl| ssl.ssl_error())
            .expect("an OpenSSL error stack");
        let e = &stack.errors()[0];
        (e.library_code(), e.reason_code(), e.reason())
    }

    /// OpenSSL 3's own `openssl errstr` names a packed code (library in
    /// bits 23 and up, reason below). rust-openssl's stream BIO never
    /// answers `BIO_eof`, so tokio-openssl sees a truncation as
    /// `SSL_ERROR_SYSCALL` and this reason cannot be raised here for real;
    /// the CLI links the same libssl.
    #[test]
    fn codes_name_their_reasons_in_openssl_errstr() {
        let packed = |reason: c_int| format!("{:08X}", (ERR_LIB_SSL << 23) | reason);
        let out = std::process::Command::new("openssl")
            .arg("errstr")
            .arg(packed(SSL_R_UNEXPECTED_EOF_WHILE_READING))
            .arg(packed(SSL_R_BAD_WRITE_RETRY))
            .output()
            .expect("the openssl CLI (apt-get install openssl)");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(":SSL routines::unexpected eof while reading"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(":SSL routines::bad write retry"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn bad_write_retry_is_127_in_libssl() {
        let (mut client, mut server) = pair(1024).await;
        // A write that the full transport leaves half-sent, then abandoned.
        let big = vec![7u8; 64 * 1024];
        let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut client).poll_write(cx, &big))).await;
        assert!(pending.is_pending(), "the 1 KiB transport must fill up");
        // The peer reads again, so the transport has room: OpenSSL refuses
        // to put close_notify behind the half-sent record.
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while server.get_mut().read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        let error = loop {
            let shutdown = poll_fn(|cx| Poll::Ready(Pin::new(&mut client).poll_shutdown(cx))).await;
            match shutdown {
                Poll::Ready(result) => {
                    break result.expect_err("close_notify behind a half-sent record")
                }
                Poll::Pending => tokio::task::yield_now().await,
            }
        };
        assert_eq!(
            first_ssl_error(&error),
            (ERR_LIB_SSL, SSL_R_BAD_WRITE_RETRY, Some("bad write retry"))
        );
        reader.abort();
    }
}
