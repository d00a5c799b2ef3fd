//! The fuzz harness, shared by the cargo-fuzz targets in `fuzz/` and by
//! `tests/fuzz_replay.rs` (which replays the committed corpus and seeded
//! random inputs on stable Rust). Only built with the `fuzzing` feature; not
//! part of the public API.
//!
//! * [`machine::run`]: a sequence of [`machine::Op`]s (peer data, close_notify,
//!   EOF, errors, cancel, writes, close, blocked transport, time) drives the
//!   pure [`Machine`](graceful_tls::machine::Machine); every step is checked against
//!   a reference model ([`model`]) and the close invariants.
//! * [`stream::run`]: the real [`GracefulStream`](graceful_tls::GracefulStream) over
//!   a real rustls client/server pair, connected by a scripted in-memory
//!   transport ([`transport`]) whose input bytes choose chunk sizes,
//!   `Pending`, stalls, EOF, errors and corruption, on a current-thread tokio
//!   runtime with paused time. The peer can also be hostile (issue 11):
//!   flood, write invalid TLS, provoke a fatal alert, update keys, split its
//!   close_notify, let tickets arrive late, vanish (half-open) or stall our
//!   shutdown.
//!
//! * [`served`] (feature `served`): `graceful_tls::server` over an
//!   in-memory listener ([`served_listener`]) on paused time, serving a
//!   tiny hyper service to scripted clients (partial heads, silence,
//!   close_notify, FIN, resets) while the drain and the limits fire; the
//!   run is checked against the server's phase table.
//!
//! The entry points take the raw fuzz input, return normally for inputs that
//! keep every invariant and panic (with the step that broke it) otherwise.
//! [`machine::run_recording`] and [`stream::run_cases`] also say what the run
//! reached (transitions, hostile cases): the fuzz targets make libFuzzer
//! features of it, and the replay test checks that the corpus reaches all.

pub mod machine;
pub mod model;
pub mod replay;
#[cfg(feature = "served")]
pub mod served;
#[cfg(feature = "served")]
mod served_app;
#[cfg(feature = "served")]
mod served_cells;
#[cfg(feature = "served")]
mod served_check;
#[cfg(feature = "served")]
mod served_client;
#[cfg(feature = "served")]
pub mod served_listener;
#[cfg(feature = "served")]
mod served_vocab;
pub mod stream;
mod stream_cases;
mod stream_check;
mod stream_hostile;
mod stream_ops;
mod stream_peer;
mod stream_vocab;
mod tls;
pub mod transport;

/// A cursor over the fuzz input, shared by everything that makes a choice.
///
/// When the input runs out every choice takes its default (no fault, no
/// `Pending`, whole chunks), so each run is finite and deterministic.
#[derive(Debug, Clone, Default)]
pub struct Script {
    data: Vec<u8>,
    pos: usize,
}

impl Script {
    /// A script over a copy of `input`.
    pub fn new(input: &[u8]) -> Self {
        Script {
            data: input.to_vec(),
            pos: 0,
        }
    }

    /// Whether every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte, or `None` once the input is exhausted.
    pub fn byte(&mut self) -> Option<u8> {
        let byte = self.data.get(self.pos).copied();
        self.pos += usize::from(byte.is_some());
        byte
    }

    /// Decodes a `T` from the next bytes; `None` once the input is exhausted.
    pub fn arbitrary<T: for<'a> arbitrary::Arbitrary<'a>>(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let mut u = arbitrary::Unstructured::new(rest);
        let value = T::arbitrary(&mut u).ok()?;
        DECODES.with(|log| {
            if let Some(log) = log.borrow_mut().as_mut() {
                log.push((self.pos, std::any::type_name::<T>()));
            }
        });
        self.pos += rest.len() - u.len();
        Some(value)
    }
}

thread_local! {
    static DECODES: std::cell::RefCell<Option<Vec<(usize, &'static str)>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` and returns, with its result, where in the input each
/// [`Script::arbitrary`] decode on this thread began and the type it
/// decoded: what a transcoder needs to rewrite committed inputs when a
/// vocabulary changes (tests/fuzz_replay.rs, "Regressions").
pub fn record_decodes<R>(f: impl FnOnce() -> R) -> (R, Vec<(usize, &'static str)>) {
    DECODES.with(|log| *log.borrow_mut() = Some(Vec::new()));
    let result = f();
    let log = DECODES
        .with(|log| log.borrow_mut().take())
        .unwrap_or_default();
    (result, log)
}
