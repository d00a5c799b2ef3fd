//! Hostile peers: every deadline holds whatever the peer does (floods,
//! stalls, resets, sends garbage or alerts, vanishes), and every fault at
//! every close step and read state is a typed outcome, within its bound.
//!
//! In memory (paused clock, exact durations) unless marked TCP (real clock,
//! current-thread runtime, 2 s slack). `conformance::` names a test in
//! tests/conformance/ that already covers the cell. Flush = our data and
//! close_notify wait for the peer's window; AwaitPeer = ours is out, we
//! read until the peer's; Shutdown = outcome decided, FIN pending; reads
//! with the direction open, or cancelled by the token.
//!
//! | peer behaviour | Flush | AwaitPeer | Shutdown | read (open) | read (cancelled) |
//! |---|---|---|---|---|---|
//! | 1 floods, never reads | FlushTimeout at flush_timeout: `flood_memory::flush_deadline_holds_under_an_endless_flood_and_a_stalled_reader`, TCP `flood::close_flush_deadline_holds_under_flood_and_stopped_reader`; `poll_shutdown` → `Error::FlushTimeout`: TCP `flood::poll_shutdown_deadline_…`; drop → socket released within 2 × flush_timeout: TCP `flood::drop_background_finish_…` | PeerTimeout at peer_close_timeout, flood discarded and counted: `flood_memory::peer_wait_holds_under_an_endless_flood` (with and without coop budget), TCP `flood::flood_during_peer_wait_is_cut_at_the_deadline`; one poll discards ≤ 64 KiB: `flood_memory::one_poll_of_close_does_bounded_work`; caller's budget spent: `flood_memory::peer_deadline_holds_when_the_caller_spent_its_budget` | n/a: the step reads nothing; TCP shutdown is immediate | Data forever; the token ends it after at most the already-decrypted plaintext: `flood_memory::flood_cannot_outrun_cancellation` | Cancelled, no transport read: same test |
//! | 2 stops reading (window full) | FlushTimeout at flush_timeout: `conformance::close::stalled_peer_flush_timeout`; a trickling reader cannot stretch it: `flush::trickling_reader_cannot_stretch_the_flush` | n/a: ours is already in the transport, so this is a silent peer: PeerTimeout, `conformance::close::silent_peer_times_out` | FIN stuck behind unread bytes: bounded by flush_timeout, outcome kept: `shutdown::stuck_shutdown_is_bounded_and_keeps_the_outcome` (also via `poll_shutdown`) | n/a: reads do not depend on the peer reading | n/a (as open) |
//! | 3 FIN, no close_notify | unseen while flushing; if the peer still reads, the flush completes and the next step sees EOF: PeerEof, peer got every byte: `flush::fin_during_flush_is_peer_eof_and_nothing_is_lost` (if it does not read: row 2) | PeerEof: `conformance::close::peer_eof_instead_of_close_notify`; FIN inside its close_notify is PeerEof, not PeerConfirmed: `await_peer::fin_inside_the_peers_close_notify_is_peer_eof` | n/a: no read | AbruptEof after the whole records: `conformance::reads::abrupt_eof_after_all_data`; FIN mid-record or mid-close_notify: `reads::fin_mid_record_is_abrupt_eof_after_the_whole_records` | Cancelled, no I/O; close() then PeerEof: `reads::cancelled_reads_do_no_io_whatever_arrives` |
//! | 4 RST | `Error::Transport`, `is_reset()`, at that instant, sticky: `flush::reset_during_flush_is_a_transport_error_at_once`, TCP (kernel RST) `tcp::kernel_reset_during_flush_is_a_typed_reset` | same, at that instant: `await_peer::reset_during_the_wait_is_a_transport_error_at_once`; TCP: `conformance::close::reset_during_close_is_a_transport_error` | a failed shutdown changes nothing decided: outcome kept, at that instant: `shutdown::reset_during_shutdown_keeps_the_outcome` | `Error::Transport` `is_reset()` at that instant; reads, writes and close() repeat it: `reads::reset_under_a_pending_read_is_a_sticky_transport_error` | Cancelled, no I/O; close() then the reset: `reads::cancelled_reads_…` |
//! | 5 garbage record | unseen while flushing; the next step reads it: `Error::Tls`, and the peer had every byte and our close_notify: `flush::garbage_during_flush_surfaces_after_it` | `Error::Tls` at that instant, peer had every byte: `await_peer::garbage_answer_is_a_tls_error` (our rustls then queues a fatal alert behind its close_notify; rustls/rustls#959, debug assertion off in Cargo.toml) | n/a: no read | `Error::Tls`: `conformance::reads::garbage_is_a_typed_tls_error`; right behind valid data in one transport read: the data first, then the error: `reads::garbage_behind_data_is_a_tls_error_after_the_data` (fixed in ccdea04: the data was lost) | Cancelled, no I/O; close() then `Error::Tls`: `reads::cancelled_reads_…` |
//! | 6 fatal alert (its rustls rejects a record of ours: bad_record_mac) | peer stays and drains: the flush completes, the next step reads the alert, `Error::Tls` naming it; peer disconnects: the flush write fails first, `Error::Transport` `is_reset()` (broken pipe), the alert stays unread: `flush::fatal_alert_during_flush_is_typed` | `Error::Tls` naming bad_record_mac; peer had our data: `await_peer::fatal_alert_answer_is_a_tls_error_naming_it` | n/a: no read | `Error::Tls` naming it; writes and close() repeat it; nothing more sent (no close_notify after a fatal alert): `reads::fatal_alert_is_a_tls_error_and_nothing_follows` | Cancelled, no I/O; close() then `Error::Tls` naming it: `reads::cancelled_reads_…` |
//! | 7 KeyUpdate / NewSessionTicket (TLS 1.3) | unseen while flushing (as AwaitPeer); a KeyUpdate request read before close(): the Flush step sends rustls' answer ahead of close_notify, PeerConfirmed: `flush::key_update_answer_goes_out_ahead_of_close_notify` | KeyUpdate after our close_notify: rustls switches keys and reads on, PeerConfirmed; its queued answer is never sent (nothing follows close_notify; RFC 8446 §4.6.3 asks for it only before our next application data): `await_peer::key_update_after_our_close_notify_is_read_and_never_answered`; the server's 2 tickets arriving during the wait are stored: `await_peer::session_tickets_during_the_wait_are_taken`; 33 KeyUpdates in a row: `Error::Tls` (TooManyKeyUpdateRequests) at once: `await_peer::key_update_flood_during_the_wait_is_a_tls_error` | n/a: no read | transparent up to rustls' limit of 32 in a row, then `Error::Tls`: `reads::key_updates_are_transparent_up_to_rustls_limit` | Cancelled (KeyUpdates need no answer from a reader): n/a beyond row 1's test |
//! | 8 data after its own close_notify | unseen while flushing (as AwaitPeer) | PeerConfirmed; rustls drops the trailing records (not counted as discarded): `await_peer::data_after_the_peers_close_notify_is_ignored`. Over TCP those bytes stay unread in our socket (rustls stops reading at close_notify), so our close may be an RST: the peer's own doing, not tested | n/a: no read | CloseNotify after exactly the data before it, sticky: `reads::data_after_close_notify_is_ignored` | Cancelled, no I/O; close() then PeerConfirmed with only the data before it discarded: `reads::cancelled_reads_…` |
//! | 9 close_notify split (one byte per segment / per read) | n/a: not read while flushing | PeerConfirmed when the last byte lands (24 bytes TLS 1.3, 31 TLS 1.2 AES-GCM): `await_peer::close_notify_byte_by_byte_is_confirmed`; trickled slower than the deadline: PeerTimeout at the deadline: `await_peer::trickled_close_notify_cannot_stretch_the_wait` | n/a: no read | every byte, then CloseNotify: `reads::close_notify_one_byte_per_read`, TCP `tcp::close_notify_split_across_segments_is_close_notify` | Cancelled, no I/O; close() then PeerConfirmed: `reads::cancelled_reads_…` |
//! | 10 half-open (no FIN, no RST) | FlushTimeout; the shutdown waits too: exactly 2 × flush_timeout, the documented worst case: `flush::vanished_peer_costs_exactly_two_flush_timeouts`; drop: released at exactly 2 × flush_timeout: `drop::background_finish_lets_go_of_a_vanished_peer_at_its_bound` | PeerTimeout at peer_close_timeout (+ flush_timeout when the FIN cannot leave either): `await_peer::vanished_peer_costs_the_wait_plus_the_shutdown`, TCP `tcp::half_open_peer_ends_at_the_peer_deadline` | bounded by flush_timeout, outcome kept: `shutdown::stuck_shutdown_…` | pending for as long as it takes (reads have no deadline); only the token ends it, at that instant: `reads::vanished_peer_read_ends_only_by_the_token` | Cancelled, no I/O; close() then FlushTimeout: `reads::cancelled_reads_…` |
//!
//! Deadline arithmetic (`deadlines.rs`): each step's deadline counts from
//! its own start (flush waits, then the peer wait, then the shutdown:
//! exactly their sum), and `Duration::MAX` timeouts neither overflow nor
//! expire early. Drops (`drop.rs`): the drop reads what the peer sent
//! before letting go (so that TCP closes with FIN, not RST), and cuts a
//! close() that waits for the peer.
//!
//! Checked against the code before a347bd0 (a347bd0^, and this tree with
//! the per-poll discard bound and the clock check reverted one at a time):
//! `flood_memory::peer_wait_holds_under_an_endless_flood`,
//! `one_poll_of_close_does_bounded_work` and
//! `peer_deadline_holds_when_the_caller_spent_its_budget` hang there and
//! the 20 s guard fails them; TCP `flood::flood_during_peer_wait_…` fails
//! on a347bd0^ (5.6 s).

#[path = "hostile/await_peer.rs"]
mod await_peer;
use graceful_tls_testkit::pairs;
#[path = "hostile/deadlines.rs"]
mod deadlines;
#[path = "hostile/drop.rs"]
mod drop;
#[path = "hostile/flood.rs"]
mod flood;
#[path = "hostile/flood_memory.rs"]
mod flood_memory;
#[path = "hostile/flush.rs"]
mod flush;
use graceful_tls_testkit::hostile;
#[path = "hostile/reads.rs"]
mod reads;
#[path = "hostile/shutdown.rs"]
mod shutdown;
#[path = "hostile/tcp.rs"]
mod tcp;
