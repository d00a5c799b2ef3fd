#![doc = include_str!("../docs/server.md")]
// Without the `axum` feature, `GracefulListener` links to docs.rs (built
// with every feature) instead of breaking; the empty `//!` line keeps the
// definition out of the page's last paragraph.
//!
#![cfg_attr(
    not(feature = "axum"),
    doc = "[`GracefulListener`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulListener.html"
)]

mod accept;
mod connection;
mod limits;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod listener;
mod readiness;
mod serve;

#[cfg(feature = "axum")]
pub use listener::{GracefulListener, GracefulTlsStream};
pub use readiness::Readiness;
pub use serve::{serve, serve_hyper, Serve};
