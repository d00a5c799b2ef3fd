//! A connector for hyper-util's legacy `Client` (cargo feature
//! `hyper-client`): every pooled connection is a
//! [`GracefulStream`](crate::GracefulStream), so that it ends with
//! close_notify (also when the pool drops it idle), and its end is
//! reported.
//!
//! * [`HttpsConnector`]: the `tower_service::Service<Uri>` (TCP, optionally
//!   to another address than the URI's host; the rustls handshake with ALPN
//!   `h2` and `http/1.1`; the [`SessionCache`](super::SessionCache)).
//! * [`HttpsStream`]: the connection it yields (hyper's `Read`/`Write` and
//!   hyper-util's `Connection`).
//! * [`ConnectionInfo`]: what each connection is (its id, server name,
//!   address, version, handshake kind, protocol), attached to every
//!   response's extensions.
//! * How each connection ended is a [`ConnectionReport`](crate::ConnectionReport),
//!   as in a drain's report, given to the hook ([`HttpsConnector::on_end`])
//!   and, with the `tracing` feature, as an event.

mod connection_info;
mod connector;
mod stream;

pub use connection_info::ConnectionInfo;
pub use connector::HttpsConnector;
pub use stream::HttpsStream;
