#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
pub mod client;
mod config;
mod connection_report;
mod deadline;
mod drain;
mod ended;
mod error;
pub mod machine;
mod outcome;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod server;
mod stats;
mod stream;

pub use backend::{HandshakeKind, TlsBackend, TlsVersion};
pub use config::Config;
pub use connection_report::ConnectionReport;
pub use drain::{ConnectionSet, DrainReport, HandlerFuture, LentStream, Refused, ShutdownSignal};
pub use ended::Ended;
pub use error::Error;
pub use outcome::{CloseOutcome, ReadOutcome};
pub use stats::Stats;
pub use stream::GracefulStream;

// Re-exported so that users name the exact versions this crate was built with.
pub use rustls;
pub use tokio_rustls;
pub use tokio_util::sync::CancellationToken;
#[cfg(feature = "openssl")]
pub use {openssl, tokio_openssl};
