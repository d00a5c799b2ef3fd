//! [`Collect`]: a `tracing` subscriber that keeps the events of one target
//! as text, for the tests that check what the library emits
//! (`tests/drain_tracing.rs`, `tests/server_tracing.rs`).

use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects each event of `target` as ` key=value...` (spans are ignored).
/// Install it with `tracing::subscriber::set_default(collect.clone())`.
#[derive(Debug, Clone)]
pub struct Collect {
    target: &'static str,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Collect {
    /// A collector of the events whose target is `target` (say,
    /// `graceful_tls::server`).
    pub fn new(target: &'static str) -> Self {
        Collect {
            target,
            lines: Arc::default(),
        }
    }

    /// The events so far, one line each.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Collect {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == self.target
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
