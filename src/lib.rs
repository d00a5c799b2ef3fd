#![doc = include_str!("docs/crate.md")]
// Feature-gated items the front page links to: without their feature, the
// links point at docs.rs (built with every feature) instead of breaking. The
// empty `//!` line keeps these definitions out of the page's last paragraph.
//!
#![cfg_attr(
    not(feature = "hyper"),
    doc = "[`server`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/index.html",
    doc = "[`server::serve`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/fn.serve.html"
)]
#![cfg_attr(
    not(feature = "axum"),
    doc = "[`server::GracefulListener`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulListener.html"
)]
#![cfg_attr(
    not(feature = "axum-server"),
    doc = "[`server::GracefulAcceptor`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulAcceptor.html"
)]
#![cfg_attr(
    not(feature = "signals"),
    doc = "[`Signals`]: https://docs.rs/graceful-tls/latest/graceful_tls/struct.Signals.html"
)]
#![cfg_attr(
    not(feature = "tonic"),
    doc = "[`server::GracefulIncoming`]: https://docs.rs/graceful-tls/latest/graceful_tls/server/struct.GracefulIncoming.html"
)]
#![cfg_attr(
    not(feature = "hyper-client"),
    doc = "[`client::HttpsConnector`]: https://docs.rs/graceful-tls/latest/graceful_tls/client/struct.HttpsConnector.html"
)]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod client;
mod config;
mod connection_report;
mod cut;
mod deadline;
mod drain;
mod ended;
mod error;
pub mod machine;
mod outcome;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod server;
#[cfg(feature = "signals")]
mod signals;
mod stats;
mod stream;
#[cfg(test)]
mod wake_count;
mod waker_identity;

pub use backend::{HandshakeKind, TlsBackend, TlsVersion};
pub use config::Config;
pub use connection_report::ConnectionReport;
pub use cut::Cut;
pub use drain::{ConnectionSet, DrainReport, HandlerFuture, LentStream, Refused, ShutdownSignal};
pub use ended::Ended;
pub use error::Error;
pub use outcome::{CloseOutcome, ReadOutcome};
#[cfg(feature = "signals")]
#[cfg_attr(docsrs, doc(cfg(feature = "signals")))]
pub use signals::Signals;
pub use stats::Stats;
pub use stream::GracefulStream;

// Re-exported so that users name the exact versions this crate was built with.
pub use rustls;
pub use tokio_rustls;
pub use tokio_util::sync::CancellationToken;
#[cfg(feature = "openssl")]
pub use {openssl, tokio_openssl};

// README.md is the front page of the repository and of crates.io, and
// docs.rs shows src/docs/crate.md instead (the README's developer sections
// went to CONTRIBUTING.md and docs/). Including the README here, only when
// rustdoc collects doc tests, keeps its code blocks compiled as doc tests
// without making it a page of the documentation (tokio and axum do the
// same). The type exists in no other build. Its quick start uses the
// `axum` and `hyper-client` features (the README cannot hide the
// `#[cfg(feature)]` lines the crate page uses), so it is tested with both
// (`--all-features`, as CI runs) and skipped otherwise; the crate page
// carries the same blocks, each gated on its feature (tests/readme.rs keeps
// the two alike).
#[cfg(all(doctest, feature = "axum", feature = "hyper-client"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
