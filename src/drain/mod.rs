//! Draining: [`ConnectionSet`] runs TLS connections, each in a task of its
//! own, and ends them all with close_notify, within a deadline, reporting
//! how each one ended ([`DrainReport`]).
//!
//! * `connection_set.rs`: [`ConnectionSet`], the front door (spawn, drain,
//!   abort);
//! * `task.rs`: one connection's life (handshake, handler, close, record);
//! * `serving.rs`: the handler's run, cut short when the set forces, its
//!   panics caught;
//! * `shared.rs`: what the set and its tasks share (tokens, tracker, the
//!   reports so far);
//! * `lent.rs`: [`LentStream`], a stream lent to code that takes it by
//!   value (hyper);
//! * `drain_report.rs`, `signal.rs`, `refused.rs`, `race.rs`: the report,
//!   the handler's [`ShutdownSignal`], a refused registration, and the
//!   two-future race the tasks use;
//! * `flag.rs`: the set's two signals (drain begun, forced), checked by
//!   every connection on every wake-up without a lock.

mod connection_set;
mod drain_report;
pub(crate) mod flag;
mod lent;
pub(crate) mod race;
mod refused;
mod serving;
mod shared;
mod signal;
mod task;

pub use connection_set::ConnectionSet;
pub use drain_report::DrainReport;
pub use lent::LentStream;
#[cfg(feature = "hyper")]
pub(crate) use lent::LentView;
pub use refused::Refused;
#[cfg(feature = "hyper")]
pub(crate) use shared::EndHook;
pub use signal::{HandlerFuture, ShutdownSignal};
