//! Serve HTTP over TLS the way people write servers (feature `hyper`): an
//! axum `Router`, a tonic `Routes` or any hyper/tower service, from a
//! `TcpListener` and a rustls `ServerConfig`, with a drain that finishes the
//! work in flight, closes every connection with close_notify within a
//! deadline that holds, and reports how each one ended.
//!
//! ```no_run
//! # async fn run(app: axum::Router, tls: std::sync::Arc<rustls::ServerConfig>) {
//! use std::time::Duration;
//!
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await.unwrap();
//! let report = graceful_tls::server::serve(listener, tls, app)
//!     .with_drain_timeout(Duration::from_secs(20))
//!     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap() })
//!     .await;
//! println!("summary: {report}");
//! # }
//! ```
//!
//! - [`serve`] / [`serve_hyper`]: the entry point, a [`Serve`] builder that
//!   is a future.
//! - [`Readiness`]: tells a readiness endpoint that the drain has begun.
//! - `Restart`, `inherited_listener`, `Notifier` (feature `restart`,
//!   Unix): restarts without refusing a connection (the listening socket
//!   handed to the new process on SIGHUP, then the drain), systemd socket
//!   activation and `sd_notify`.
//! - [`GracefulListener`] (feature `axum`): an `axum::serve::Listener` for
//!   programs that keep `axum::serve` (close_notify, but no deadline and no
//!   report).
//!
//! What happens to a connection: the TLS handshake runs in the
//! connection's own task under the handshake timeout (a stalled client
//! blocks neither accepting nor the drain; `handshake-timeout`); hyper-util's
//! auto builder serves HTTP/1.1 or HTTP/2 (ALPN offers both; upgrades
//! such as WebSocket included) over a [`LentStream`](crate::LentStream);
//! when hyper is done, the connection's task closes the stream with
//! close_notify and waits (bounded) for the client's, so clients that
//! answer are reported `peer-confirmed`.

mod connection;
#[cfg(all(feature = "restart", unix))]
mod listen;
#[cfg(feature = "axum")]
mod listener;
#[cfg(all(feature = "restart", unix))]
mod notify;
mod readiness;
#[cfg(all(feature = "restart", unix))]
mod restart;
mod serve;

#[cfg(all(feature = "restart", unix))]
pub use listen::{inherited_listener, ListenError};
#[cfg(feature = "axum")]
pub use listener::{GracefulListener, GracefulTlsStream};
#[cfg(all(feature = "restart", unix))]
pub use notify::{Notifier, HANDOVER_VAR, SYSTEMD_NOTIFY_SOCKET_VAR};
pub use readiness::Readiness;
#[cfg(all(feature = "restart", unix))]
pub use restart::{this_program, Handover, Restart, RestartError, RestartEvent};
pub use serve::{serve, serve_hyper, Serve};
