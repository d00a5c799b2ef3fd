//! The vocabulary of the `stream` target: what the fuzz input decodes into
//! (a [`Setup`], then [`Step`]s of one operation of ours and one of the
//! peer). Changing it changes what committed corpus inputs and the named
//! regressions in tests/fuzz_replay.rs mean (see "Regressions" there).
//!
//! Its own file so that the runner (`stream.rs`) and the operations
//! (`stream_ops.rs`, `stream_hostile.rs`) both depend on it, and not on each
//! other both ways.

use arbitrary::Arbitrary;

/// At most this many steps per run.
pub const MAX_STEPS: usize = 40;

/// The pipe capacities, by `Setup::capacity % 8`.
pub(super) const CAPACITIES: [usize; 8] = [64, 300, 1024, 4096, 16_500, 65_536, 1 << 20, 1 << 24];

/// The connection, from the first bytes of the input.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Setup {
    /// TLS 1.3, else TLS 1.2.
    pub tls13: bool,
    /// Our side is the client, else the server.
    pub ours_is_client: bool,
    /// Index into the pipe capacities (each direction).
    pub capacity: u8,
    /// `Config::flush_timeout` in units of 10 ms.
    pub flush: u8,
    /// `Config::peer_close_timeout` in units of 10 ms.
    pub peer: u8,
    /// What the peer does while our final close runs.
    pub finish: PeerOp,
    /// The network. Bit 0: the transport holds back what the peer has in
    /// flight when the handshake ends (a TLS 1.3 server's session tickets,
    /// when ours is the client) until [`PeerOp::ReleaseTickets`] or the
    /// peer's next write. Bits 1-2: the most one read returns, as a TCP
    /// segment would ([`SEGMENTS`]). Bits 3-7: all set
    /// ([`REAL_CRYPTO`], one random input in 32) for real crypto (ring,
    /// real certificates), anything else for the testkit's free
    /// [`fake_crypto`](crate::fake_crypto), whose handshake costs nothing
    /// and whose records can be forged.
    pub network: u8,
}

/// `Setup::network >> 3` for a run over real crypto, when the input
/// chooses ([`run_cases`](super::stream::run_cases): the seeded inputs and
/// the named regressions). A share, not a half: two real handshakes cost
/// more than the rest of most runs, and the close paths under test are the
/// same over either. The fuzz targets force the crypto instead (`stream`
/// the free one, `stream_real` the real one), and the replay test runs
/// every corpus input over both.
pub(super) const REAL_CRYPTO: u8 = 0x1f;

/// The most bytes one transport read returns, by `(Setup::network >> 1) % 4`:
/// unlimited, an Ethernet MSS, the minimum IPv4 MSS, and 64 bytes. The
/// transport spends tokio's cooperative budget as tokio's own I/O does, so
/// with small segments a flood keeps every read `Ready` until the budget is
/// spent, and a timer polled then says `Pending` (issue 11). The 64-byte
/// segments stand for a peer that outpaces us: ours and the peer share one
/// task here, and the peer writes one 16 KiB record per turn, which takes
/// about 260 reads at 64 bytes (more than the 128 a task's budget allows
/// per poll), so the data keeps waiting while the clock moves, as from a
/// peer in another process over a real socket.
pub const SEGMENTS: [usize; 4] = [usize::MAX, 1448, 536, 64];

/// One step: both operations run concurrently for at most `10 × budget` ms.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Step {
    /// What the application does with the `GracefulStream`.
    pub ours: OursOp,
    /// What the bare tokio-rustls peer does.
    pub peer: PeerOp,
    /// Time budget of the step in units of 10 ms.
    pub budget: u8,
}

/// Operations on our `GracefulStream`.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum OursOp {
    /// Nothing.
    Idle,
    /// Write this many bytes (modulo 20 000).
    Write(u16),
    /// One `read_outcome` into a buffer of this size (at least 1).
    Read(u16),
    /// `read_outcome` until a terminal outcome.
    ReadToEnd,
    /// `AsyncWrite::poll_flush`.
    Flush,
    /// Cancel the token.
    Cancel,
    /// `close()`.
    Close,
    /// `AsyncWrite::poll_shutdown`.
    Shutdown,
    /// Drop the stream (no more operations of ours).
    Drop,
    /// `close()`, dropped after `1 + n % 8` polls that left it pending (a
    /// close cancelled mid-way, say by `select!`), then `shutdown()`: a
    /// close that does not wait for the peer cuts short the wait the
    /// cancelled one planned or began.
    CloseCancelledThenShutdown(u8),
}

/// Operations of the bare peer.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum PeerOp {
    /// Nothing (it stops reading).
    Idle,
    /// Write this many bytes (modulo 20 000).
    Write(u16),
    /// One read into a buffer of this size (at least 1).
    Read(u16),
    /// Read until close_notify, EOF or an error.
    ReadToEnd,
    /// Send close_notify and flush it, keeping the transport open.
    CloseNotify,
    /// close_notify, then shut the transport's write half.
    Shutdown,
    /// Read to the end, then close_notify and shut down.
    Answer,
    /// Shut the transport's write half without close_notify.
    Truncate,
    /// Reset the connection: every later read and write fails, both ways.
    Reset,
    /// Writes `5 + n % 16` records of 16 KiB (80 to 320 KiB: more than the
    /// 16 reads of 4 KiB our close's wait for the peer discards per poll;
    /// at most 256 pipe-fulls, to keep tiny pipes fast), never reading, and
    /// lets `(n / 16) × 5` ms pass on the paused clock after each record
    /// (`tokio::time::advance`, so time passes while the data keeps coming,
    /// and our deadlines must hold).
    Flood(u8),
    /// Flushes its TLS layer, then writes bytes that are not valid TLS
    /// past it, of kind `n % 7` (see `stream_hostile::GARBAGE`).
    Garbage(u8),
    /// Corrupts what we have in flight to the peer (or injects a bogus
    /// record), then reads: its rustls fails and sends us an encrypted
    /// fatal alert (rustls has no API to send one on command).
    ProvokeAlert,
    /// A TLS 1.3 KeyUpdate asking us to update too (`refresh_traffic_keys`),
    /// flushed. Nothing under TLS 1.2.
    KeyUpdate,
    /// Its close_notify, written past tokio-rustls in chunks of `1 + n % 4`
    /// bytes, `(n / 4) % 64` ms apart.
    CloseNotifySplit(u8),
    /// The transport delivers what it held back (bit 0 of [`Setup::network`]).
    ReleaseTickets,
    /// Half-open: the connection goes silent both ways, forever (no EOF, no
    /// error; reads and writes pending), so only timers end what waits.
    Vanish,
    /// Our transport's `poll_shutdown` stays pending from now on, so the
    /// close's shutdown step ends by its deadline.
    StallOurShutdown,
    /// A record the peer's rustls never wrote, valid under the fake crypto
    /// ([`fake_crypto::forge`](crate::fake_crypto::forge)), of kind `n % 3`:
    /// a close_notify in mid-stream (the peer's rustls goes on as if it
    /// had sent none: its later data, and its own close_notify, come after
    /// it), a fatal alert (`internal_error`) while the peer's rustls goes
    /// on writing, or a KeyUpdate asking us to update too (under TLS 1.2
    /// a handshake message that is not allowed there: our rustls must
    /// fail). Put on the wire after everything the peer's rustls has
    /// written. Nothing over real crypto, or when the peer cannot flush.
    Forge(u8),
}
