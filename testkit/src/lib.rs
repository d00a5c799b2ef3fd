//! graceful-tls' own test harness (`publish = false`): everything the
//! tests, the fuzz targets, the benches and the examples share, built on the
//! library's public API only, so that the library (`src/`) holds the
//! product and nothing else.
//!
//! * [`certs`]: the throwaway test PKI (`testkit/certs/`) and the one
//!   builder of rustls configs from PEM;
//! * [`pairs`]: real rustls client/server pairs, in memory over
//!   `tokio::io::duplex` and over loopback TCP, and what a peer saw;
//! * [`interop`]: child processes (`openssl s_server`/`s_client`, the
//!   example binaries) with bounded waits and live transcripts;
//! * [`drain`]: the drain kit (a request/response protocol and the
//!   clients that speak it, well-behaved or hostile);
//! * [`hostile`]: the hostile-peer kit (fault-injecting transports, a
//!   flooding peer, peers on threads of their own);
//! * [`apps`]: the axum app, the hand-written gRPC service and hyper by
//!   hand, served by the examples and driven by the tests;
//! * [`machine_graph`]: the state machine's reachable states and their DOT
//!   graph (snapshot-tested in `tests/machine.rs`);
//! * [`fake_crypto`]: a rustls crypto provider whose crypto costs nothing
//!   and whose records can be forged, for the fuzz harness;
//! * [`pair_model`]: the model checker over a client and a server machine
//!   joined by channels that deliver, hold, end or reset;
//! * [`fuzzing`]: the fuzz harness of `fuzz/` and `tests/fuzz_replay.rs`;
//! * [`guarded`], [`guarded_live`], [`guarded_sync`]: tests that fail after [`HANG`] of real
//!   time instead of hanging, whatever the code under test does;
//! * [`tracing_events`]: a subscriber that keeps one target's events as
//!   text, for the tests of the library's tracing events.
//!
//! Helpers panic on failure (with what failed): they run in tests.
#![allow(missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "apps")]
pub mod apps;
pub mod certs;
pub mod drain;
pub mod fake_crypto;
pub mod fuzzing;
mod guard;
pub mod hostile;
pub mod interop;
pub mod machine_graph;
pub mod pair_model;
pub mod pairs;
pub mod stepped;
#[cfg(feature = "apps")]
pub mod tracing_events;

pub use guard::{guarded, guarded_live, guarded_sync, HANG};

/// The workspace root (where the library's `Cargo.toml` is).
pub fn workspace_root() -> PathBuf {
    let testkit = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    testkit.parent().map(PathBuf::from).unwrap_or(testkit)
}

/// How long a test waits on a peer, a task, a drain or a child before it
/// fails ([`bounded`]): seconds on the real clock; on tokio's paused clock
/// the bound is virtual, and a test that hangs fails at once (the clock
/// jumps to the bound as soon as nothing else can run).
pub const WAIT: Duration = Duration::from_secs(10);

/// `future`, or a panic saying what the test was waiting for once `limit`
/// passes first. Every test that waits on a peer or a deadline bounds its
/// waits with it (or with [`WAIT`]), so that a bug (or a mutant, see
/// docs/mutation-testing.md) that turns a bounded wait into an endless one
/// fails in seconds, or at once on a paused clock, rather than hanging
/// until the harness' own timeout.
pub async fn bounded<F: Future>(what: &str, limit: Duration, future: F) -> F::Output {
    match tokio::time::timeout(limit, future).await {
        Ok(output) => output,
        Err(_) => panic!("still waiting for {what} after {limit:?}"),
    }
}
