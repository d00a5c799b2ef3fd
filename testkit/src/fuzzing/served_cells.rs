//! The cells of the phase table (`src/docs/phases.md`: a phase × an
//! event) that a `served` run can reach, named, so that the fuzz target
//! reports each to libFuzzer as a feature of its own (code coverage cannot
//! tell a request cut by the drain's deadline from one answered before
//! it, so `cmin` would drop the input) and the replay test can check that
//! the committed corpus reaches each one.
//!
//! A cell counts only when the run got through it with every check
//! holding.

/// One cell of the phase table a run came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    /// Handshaking, nothing arrives: dropped at the handshake timeout.
    HandshakeTimeout,
    /// Handshaking, the peer closes or resets: `handshake-failed`.
    HandshakePeerLeft,
    /// Handshaking when the drain begins: the handshake completes during
    /// the drain.
    HandshakeDuringDrain,
    /// Handshaking at the drain's deadline: `handshake-cancelled`.
    HandshakeCutAtDeadline,
    /// Awaiting the first request, a complete request arrives: answered.
    FirstRequestServed,
    /// Awaiting the first request, nothing arrives: `header-timeout`,
    /// close_notify at the header read timeout from the handshake.
    FirstSilentCut,
    /// Awaiting the first request, the peer closes (close_notify or FIN)
    /// or resets.
    FirstPeerLeft,
    /// Awaiting the first request when the drain begins, and it comes
    /// within the grace: answered.
    FirstGraceAnswered,
    /// Awaiting the first request when the drain begins, and none comes:
    /// close_notify by the end of the grace.
    FirstGraceSilent,
    /// Awaiting the first request at the drain's deadline: forced.
    FirstCutAtDeadline,
    /// Reading a (later) request head, the rest arrives: answered.
    HeadCompleted,
    /// Reading a later request head, nothing more: `header-timeout`.
    HeadCut,
    /// Reading a request head, the peer closes or resets.
    HeadPeerLeft,
    /// Reading a later request head when the drain begins.
    HeadDrain,
    /// Serving, the peer closes or resets.
    ServingPeerLeft,
    /// Serving when the drain begins: the response in flight completes.
    ServingDrainCompleted,
    /// Serving at the drain's deadline: forced.
    ServingCutAtDeadline,
    /// Idle, a request arrives: answered.
    IdleRequestServed,
    /// Idle, nothing arrives: `idle-timeout`, close_notify at the
    /// keep-alive timeout from the last response.
    IdleTimeout,
    /// Idle, the peer closes or resets.
    IdlePeerLeft,
    /// Idle when the drain begins: closed at once.
    IdleDrain,
    /// Closing, the peer answers our close_notify: `peer-confirmed`.
    ClosingPeerConfirmed,
    /// Closing, the peer does not answer: `peer-timeout`.
    ClosingPeerTimeout,
    /// The peer had closed and left: `peer-closed-and-left`, or
    /// `client-left-complete`.
    ClosingPeerLeft,
    /// A client waited in the listen queue for room under
    /// `max_connections` or `max_handshakes`.
    QueuedByLimit,
    /// A request answered over HTTP/2.
    Http2Served,
}

impl Cell {
    /// Every cell, in declaration order (`index` is the position).
    pub const ALL: [Cell; 26] = [
        Cell::HandshakeTimeout,
        Cell::HandshakePeerLeft,
        Cell::HandshakeDuringDrain,
        Cell::HandshakeCutAtDeadline,
        Cell::FirstRequestServed,
        Cell::FirstSilentCut,
        Cell::FirstPeerLeft,
        Cell::FirstGraceAnswered,
        Cell::FirstGraceSilent,
        Cell::FirstCutAtDeadline,
        Cell::HeadCompleted,
        Cell::HeadCut,
        Cell::HeadPeerLeft,
        Cell::HeadDrain,
        Cell::ServingPeerLeft,
        Cell::ServingDrainCompleted,
        Cell::ServingCutAtDeadline,
        Cell::IdleRequestServed,
        Cell::IdleTimeout,
        Cell::IdlePeerLeft,
        Cell::IdleDrain,
        Cell::ClosingPeerConfirmed,
        Cell::ClosingPeerTimeout,
        Cell::ClosingPeerLeft,
        Cell::QueuedByLimit,
        Cell::Http2Served,
    ];

    /// Its position in [`ALL`](Self::ALL): a libFuzzer feature index.
    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Cell;

    #[test]
    fn all_lists_every_cell_in_order() {
        for (i, cell) in Cell::ALL.iter().enumerate() {
            assert_eq!(cell.index(), i, "{cell:?}");
        }
    }
}
