#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod close;
mod config;
mod deadline;
mod drain;
mod drain_report;
mod drain_task;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod io;
pub mod machine;
mod machine_dot;
mod outcome;
mod read;
mod refused;
mod shutdown_signal;
mod stats;
mod stream;
mod watch;

pub use backend::{Buffered, ErrorClass, TlsBackend, TlsVersion};
pub use config::Config;
pub use drain::ConnectionSet;
pub use drain_report::{ConnectionReport, DrainReport, Ended};
pub use error::Error;
pub use outcome::{CloseOutcome, ReadOutcome};
pub use refused::Refused;
pub use shutdown_signal::{HandlerFuture, ShutdownSignal};
pub use stats::Stats;
pub use stream::GracefulStream;

// Re-exported so that users name the exact versions this crate was built with.
pub use rustls;
pub use tokio_rustls;
pub use tokio_util::sync::CancellationToken;
#[cfg(feature = "openssl")]
pub use {openssl, tokio_openssl};
