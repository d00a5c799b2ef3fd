//! Graphviz DOT export of the state machine, derived from the transition
//! function so that the picture can never drift from the code.
//!
//! The full state is a pair (read × write, ~50 reachable pairs: all listed in
//! `docs/transitions.txt`). The picture projects it onto its two directions,
//! one cluster each; an edge of one direction that happens only in some
//! states of the other says so in brackets, and an edge that decides the
//! close outcome names it after `⇒`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use graceful_tls::machine::{CloseStep, Event, ReadState, WriteState};

use super::reachable;

type Edges = BTreeMap<(String, String), BTreeMap<String, BTreeSet<&'static str>>>;

/// The transition graph reachable from `Machine::new()`, derived from
/// `Machine::handle`, as Graphviz DOT.
///
/// Each node is one read × write state; ignored events are left out.
pub fn dot() -> String {
    let (states, mut read_edges, mut write_edges) = (reachable(), Edges::new(), Edges::new());
    // The read states each write state occurs with: brackets name a subset.
    let mut reads_with: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for m in &states {
        reads_with
            .entry(write_name(m.write_state()))
            .or_default()
            .insert(read_name(m.read_state()));
    }
    for m in &states {
        for event in Event::ALL {
            let mut next = *m;
            next.handle(event);
            let queues = m.close_step().is_none() && next.close_step() == Some(CloseStep::Flush);
            let label = event_name(event, queues);
            if next.read_state() != m.read_state() {
                read_edges
                    .entry((
                        read_name(m.read_state()).into(),
                        read_name(next.read_state()).into(),
                    ))
                    .or_default()
                    .entry(label.clone())
                    .or_default();
            }
            if next.write_state() != m.write_state() {
                let mut label = label;
                if let (None, Some(outcome)) =
                    (outcome(m.write_state()), outcome(next.write_state()))
                {
                    let _ = write!(label, " ⇒ {outcome}");
                }
                write_edges
                    .entry((
                        write_name(m.write_state()).into(),
                        write_name(next.write_state()).into(),
                    ))
                    .or_default()
                    .entry(label)
                    .or_default()
                    .insert(read_name(m.read_state()));
            }
        }
    }
    let mut out = String::from(
        "digraph graceful_tls {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    cluster(
        &mut out,
        "read",
        "read direction (ReadState)",
        &read_edges,
        &BTreeMap::new(),
    );
    cluster(
        &mut out,
        "write",
        "write direction and close (WriteState)",
        &write_edges,
        &reads_with,
    );
    out.push_str("}\n");
    out
}

fn cluster(
    out: &mut String,
    id: &str,
    title: &str,
    edges: &Edges,
    reads_with: &BTreeMap<&str, BTreeSet<&str>>,
) {
    let _ = writeln!(out, "  subgraph cluster_{id} {{\n    label=\"{title}\";");
    for ((from, to), labels) in edges {
        let all = reads_with.get(from.as_str()).map_or(0, BTreeSet::len);
        let label: Vec<String> = labels
            .iter()
            .map(|(event, reads)| {
                let partial = reads.len() < all && !reads.is_empty();
                if partial {
                    let reads: Vec<_> = reads.iter().copied().collect();
                    format!("{event} [read {}]", reads.join("|"))
                } else {
                    event.clone()
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "    \"{id}: {from}\" -> \"{id}: {to}\" [label=\"{}\"];",
            label.join("\\n")
        );
    }
    out.push_str("  }\n");
}

fn read_name(read: ReadState) -> &'static str {
    match read {
        ReadState::Open => "open",
        ReadState::Cancelled => "cancelled",
        ReadState::CloseNotify => "close-notify",
        ReadState::AbruptEof => "abrupt-eof",
        ReadState::Failed => "failed",
    }
}

fn write_name(write: WriteState) -> &'static str {
    match write {
        WriteState::Open => "open",
        WriteState::Flushing { await_peer: true } => "flushing (then await peer)",
        WriteState::Flushing { await_peer: false } => "flushing (no wait)",
        WriteState::AwaitingPeer => "awaiting peer",
        WriteState::ShuttingDown(_) => "shutting down",
        WriteState::Closed(_) => "closed",
        WriteState::Failed => "failed",
    }
}

fn outcome(write: WriteState) -> Option<graceful_tls::CloseOutcome> {
    match write {
        WriteState::ShuttingDown(o) | WriteState::Closed(o) => Some(o),
        _ => None,
    }
}

/// The edge label; `queues_close_notify` when the event began the close.
fn event_name(event: Event, queues_close_notify: bool) -> String {
    let name = match event {
        Event::Close { await_peer: true } => "Close(await peer)".to_string(),
        Event::Close { await_peer: false } => "Close(no wait)".to_string(),
        other => format!("{other:?}"),
    };
    if queues_close_notify {
        format!("{name} / queue close_notify")
    } else {
        name
    }
}
