//! tokio-openssl client and server streams from the test certificates.

use std::pin::Pin;

use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslFiletype, SslMethod, SslVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::pairs::Version;
use graceful_tls_testkit::certs::dir as cert_dir;

fn ssl_version(version: Version) -> SslVersion {
    match version {
        Version::Tls12 => SslVersion::TLS1_2,
        Version::Tls13 => SslVersion::TLS1_3,
    }
}

fn client_ssl(version: Version) -> Ssl {
    let mut builder = SslConnector::builder(SslMethod::tls()).expect("connector");
    builder
        .set_ca_file(cert_dir().join("ca.pem"))
        .expect("ca.pem");
    builder
        .set_min_proto_version(Some(ssl_version(version)))
        .unwrap();
    builder
        .set_max_proto_version(Some(ssl_version(version)))
        .unwrap();
    builder
        .build()
        .configure()
        .expect("configure")
        .into_ssl("localhost")
        .expect("ssl")
}

fn server_ssl(version: Version) -> Ssl {
    let dir = cert_dir();
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    builder
        .set_private_key_file(dir.join("server.key"), SslFiletype::PEM)
        .expect("server.key");
    builder
        .set_certificate_chain_file(dir.join("server.pem"))
        .expect("server.pem");
    builder
        .set_min_proto_version(Some(ssl_version(version)))
        .unwrap();
    builder
        .set_max_proto_version(Some(ssl_version(version)))
        .unwrap();
    Ssl::new(builder.build().context()).expect("ssl")
}

pub async fn connect<IO>(version: Version, io: IO) -> SslStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = SslStream::new(client_ssl(version), io).expect("stream");
    Pin::new(&mut stream)
        .connect()
        .await
        .expect("openssl connect");
    stream
}

pub async fn accept<IO>(version: Version, io: IO) -> SslStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = SslStream::new(server_ssl(version), io).expect("stream");
    Pin::new(&mut stream)
        .accept()
        .await
        .expect("openssl accept");
    stream
}
