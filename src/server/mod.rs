#![doc = include_str!("../docs/server.md")]
#![doc = include_str!("../docs/phases.md")]
// Without the `axum` feature, `GracefulListener` links to docs.rs (built
// with every feature) instead of breaking; the empty `//!` line keeps the
// definition out of the page's last paragraph.
//!
#![cfg_attr(
    not(feature = "axum"),
    doc = "[`GracefulListener`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulListener.html"
)]
#![cfg_attr(
    not(feature = "axum-server"),
    doc = "[`GracefulAcceptor`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulAcceptor.html",
    doc = "[GracefulAcceptor::graceful_shutdown]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulAcceptor.html#method.graceful_shutdown"
)]
#![cfg_attr(
    not(feature = "tonic"),
    doc = "[`GracefulIncoming`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulIncoming.html",
    doc = "[`IncomingDrain::drain`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.IncomingDrain.html#method.drain"
)]

mod accept;
mod accepting;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
mod axum_listener;
#[cfg(feature = "axum-server")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum-server")))]
mod axum_server;
mod connection;
#[cfg(all(feature = "restart", unix))]
mod generations;
#[cfg(any(feature = "axum-server", feature = "tonic"))]
mod handed;
#[cfg(all(feature = "restart", unix))]
mod inherited;
mod lame_duck;
mod limits;
#[cfg(all(feature = "restart", unix))]
mod listen;
mod listener;
#[cfg(all(feature = "restart", unix))]
mod notify;
mod phase;
mod readiness;
#[cfg(all(feature = "restart", unix))]
mod ready_channel;
mod requests;
#[cfg(all(feature = "restart", unix))]
mod restart;
mod serve;
mod timer;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
mod tonic;

#[cfg(feature = "axum-server")]
pub use self::axum_server::GracefulAcceptor;
#[cfg(feature = "tonic")]
pub use self::tonic::{GracefulIncoming, IncomingDrain, IncomingStream};
#[cfg(feature = "axum")]
pub use axum_listener::{GracefulListener, GracefulTlsStream};
#[cfg(any(feature = "axum-server", feature = "tonic"))]
pub use handed::HandedStream;
#[cfg(all(feature = "restart", unix))]
pub use inherited::Inherited;
#[cfg(all(feature = "restart", unix))]
pub use listen::{inherited_listener, ListenError};
pub use listener::Listener;
#[cfg(all(feature = "restart", unix))]
pub use notify::{Notifier, HANDOVER_VAR, READY_FD_VAR};
pub use readiness::Readiness;
#[cfg(all(feature = "restart", unix))]
pub use restart::{this_program, Handover, Restart, RestartError, RestartEvent};
pub use serve::{serve, serve_hyper, serve_hyper_on, serve_on, Serve};
