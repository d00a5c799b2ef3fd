//! [`Notifier`]: the `sd_notify` protocol (feature `restart`), towards
//! systemd and, in a handover, towards the previous generation.

use std::ffi::OsString;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Set by [`Restart`](super::Restart) in the new process: the old
/// process's pid. The successor checks it against its parent's pid
/// ([`Inherited::take`](super::Inherited::take)), as systemd's `LISTEN_PID`
/// names the process the sockets are for.
pub const HANDOVER_VAR: &str = "GRACEFUL_TLS_HANDOVER";

/// Set by [`Restart`](super::Restart) in the new process: the number of
/// the inherited fd on which it says `READY=1` to the old process (one end
/// of a socket pair; the old process holds the other). No path: nothing in
/// a shared directory that another user could take or write to.
pub const READY_FD_VAR: &str = "GRACEFUL_TLS_READY_FD";

/// What a successor started by an earlier version of this crate gets
/// instead of [`READY_FD_VAR`]: `NOTIFY_SOCKET` was the old process's
/// socket path and this variable systemd's. Still read, so that the first
/// handover from such a version to this one works; never set.
pub(super) const LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR: &str = "GRACEFUL_TLS_SYSTEMD_NOTIFY_SOCKET";

/// How long one notification may wait for room in the receiver's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// The notifier [`Inherited::take`](super::Inherited::take) built before it
/// removed the variables from the environment: what
/// [`Notifier::from_env`] returns from then on.
static TAKEN: OnceLock<Notifier> = OnceLock::new();

/// Where `READY=1` goes.
#[derive(Debug, Clone, Default)]
enum ReadyTo {
    #[default]
    Nowhere,
    /// systemd's socket (or, from an earlier version, the old process's
    /// socket path).
    Socket(OsString),
    /// The inherited end of the old process's socket pair.
    Channel(Arc<UnixDatagram>),
}

/// Sends `sd_notify` messages: to systemd when the service runs under it
/// (`NOTIFY_SOCKET` set, `Type=notify`), and, in a process started by a
/// [`Restart`](super::Restart) handover, its readiness to the old process
/// (over the inherited socket pair, [`READY_FD_VAR`]). Without either,
/// every method does nothing and returns `Ok`.
///
/// Errors are the socket's (`io::Error`): a notification is advice to the
/// service manager, so callers usually print them and go on.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// Where `READY=1` goes: systemd, or the old process in a handover.
    ready_to: ReadyTo,
    /// systemd's socket, for everything else.
    systemd: Option<OsString>,
    /// Whether readiness goes to an old process (which then tells systemd).
    handover: bool,
}

impl Notifier {
    /// The notifier of this process: the one
    /// [`Inherited::take`](super::Inherited::take) built if it ran (it
    /// removes `NOTIFY_SOCKET` and the handover's variables from the
    /// environment), otherwise read from `NOTIFY_SOCKET` (and the handover's
    /// variables, except the readiness fd, which only `Inherited::take`
    /// takes), leaving the environment as it is.
    pub fn from_env() -> Notifier {
        if let Some(taken) = TAKEN.get() {
            return taken.clone();
        }
        let notify = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        if std::env::var_os(HANDOVER_VAR).is_some() {
            // An earlier version's handover: NOTIFY_SOCKET is the old
            // process's path, systemd's socket is in the legacy variable.
            Notifier::legacy_handover(notify, std::env::var_os(LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR))
        } else {
            Notifier::systemd(notify)
        }
    }

    /// Notifications to systemd's socket (`NOTIFY_SOCKET`), if any.
    pub(super) fn systemd(socket: Option<OsString>) -> Notifier {
        Notifier {
            ready_to: socket.clone().map_or(ReadyTo::Nowhere, ReadyTo::Socket),
            systemd: socket,
            handover: false,
        }
    }

    /// A successor's notifier: `READY=1` over `channel`, the rest to
    /// systemd.
    pub(super) fn handover(channel: UnixDatagram, systemd: Option<OsString>) -> Notifier {
        Notifier {
            ready_to: ReadyTo::Channel(Arc::new(channel)),
            systemd: systemd.filter(|s| !s.is_empty()),
            handover: true,
        }
    }

    /// A successor of an earlier version (see
    /// [`LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR`]).
    pub(super) fn legacy_handover(old: Option<OsString>, systemd: Option<OsString>) -> Notifier {
        Notifier {
            ready_to: old.map_or(ReadyTo::Nowhere, ReadyTo::Socket),
            systemd: systemd.filter(|s| !s.is_empty()),
            handover: true,
        }
    }

    /// Makes `self` what [`from_env`](Self::from_env) returns from now on
    /// (the first call wins).
    pub(super) fn keep_as_taken(&self) {
        let _ = TAKEN.set(self.clone());
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// systemd's notification socket, if the service runs under systemd.
    pub fn systemd_socket(&self) -> Option<&OsString> {
        self.systemd.as_ref()
    }

    /// Whether this process was started by a handover (its readiness goes
    /// to the old process).
    pub fn is_handover(&self) -> bool {
        self.handover
    }

    /// `READY=1`: the server accepts on its listener. Call it once the
    /// listener is bound or inherited and serving starts. In a handover it
    /// tells the old process, which then stops accepting and drains (and
    /// tells systemd `MAINPID=` this process). It must come from this
    /// process itself: the old process ignores a `READY=1` sent by any
    /// other (a child that inherited the channel, say).
    pub fn ready(&self) -> io::Result<()> {
        match &self.ready_to {
            ReadyTo::Nowhere => Ok(()),
            ReadyTo::Socket(socket) => send(Some(socket), "READY=1\n"),
            ReadyTo::Channel(channel) => {
                channel.set_write_timeout(Some(SEND_TIMEOUT))?;
                channel.send(b"READY=1\n").map(drop)
            }
        }
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` now: a handover begins.
    pub fn reloading(&self) -> io::Result<()> {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let usec = i128::from(now.tv_sec) * 1_000_000 + i128::from(now.tv_nsec) / 1_000;
        send(
            self.systemd.as_ref(),
            &format!("RELOADING=1\nMONOTONIC_USEC={usec}\n"),
        )
    }

    /// `MAINPID=pid` and `READY=1`: the handover to `pid` succeeded; systemd
    /// now watches the new process.
    pub fn main_pid(&self, pid: u32) -> io::Result<()> {
        send(self.systemd.as_ref(), &format!("MAINPID={pid}\nREADY=1\n"))
    }

    /// `READY=1` (and a `STATUS=` line) to systemd: a handover failed, this
    /// process serves on; the reload is over.
    pub fn reload_failed(&self, why: &str) -> io::Result<()> {
        let why = why.replace('\n', " ");
        send(
            self.systemd.as_ref(),
            &format!("READY=1\nSTATUS=restart failed: {why}\n"),
        )
    }

    /// `STOPPING=1`: the server drains to stop (not after a handover, where
    /// the new process is the service).
    pub fn stopping(&self) -> io::Result<()> {
        send(self.systemd.as_ref(), "STOPPING=1\n")
    }
}

/// Sends one datagram to `socket` (a path, or `@name` for Linux's abstract
/// namespace), bounded by [`SEND_TIMEOUT`].
fn send(socket: Option<&OsString>, message: &str) -> io::Result<()> {
    let Some(socket) = socket else {
        return Ok(());
    };
    let datagram = UnixDatagram::unbound()?;
    datagram.set_write_timeout(Some(SEND_TIMEOUT))?;
    let bytes = socket.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        return send_abstract(&datagram, name, message);
    }
    datagram.send_to(message.as_bytes(), Path::new(socket))?;
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(datagram: &UnixDatagram, name: &[u8], message: &str) -> io::Result<()> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    datagram.send_to_addr(message.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET names exist only on Linux",
    ))
}
