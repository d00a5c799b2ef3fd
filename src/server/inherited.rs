//! [`Inherited`]: what a process takes from its environment at start
//! (feature `restart`): the listening socket passed by systemd or by a
//! [`Restart`](super::Restart) handover, the handover's readiness channel
//! and systemd's notification socket; then every one of those variables is
//! removed, so that the server's own children inherit none of them.

use std::io;
use std::os::unix::net::UnixDatagram;

use tokio::net::TcpListener;

use super::listen::{ListenError, ListenVars, Plan};
use super::notify::{Notifier, HANDOVER_VAR, LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR, READY_FD_VAR};

/// Every variable [`Inherited::take`] reads, all removed by it.
const VARIABLES: &[&str] = &[
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDS_FIRST_FD",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    HANDOVER_VAR,
    READY_FD_VAR,
    LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR,
];

/// What this process was given at start: the listening socket (from
/// systemd socket activation or a [`Restart`](super::Restart) handover)
/// and where its notifications go ([`Notifier`]).
///
/// Call [`Inherited::take`] first thing in `fn main()`, *before* building
/// the tokio runtime: it removes the variables from the environment, and
/// changing the environment while other threads run races their `getenv`
/// (a runtime's worker threads, a resolver...). That is why it is a
/// synchronous function and why the listener it holds is a std one until
/// [`listener`](Self::listener) registers it with the runtime.
///
/// ```no_run
/// use graceful_tls::server::Inherited;
///
/// fn main() -> std::io::Result<()> {
///     let mut inherited = match Inherited::take(None) {
///         Ok(inherited) => inherited,
///         Err(e) => {
///             eprintln!("cannot take the passed socket: {e}");
///             std::process::exit(2);
///         }
///     };
///     let runtime = tokio::runtime::Runtime::new()?;
///     runtime.block_on(async move {
///         let listener = match inherited.listener()? {
///             Some(listener) => listener,
///             None => tokio::net::TcpListener::bind("127.0.0.1:8443").await?,
///         };
///         let notifier = inherited.notifier();
///         // ... serve, then `notifier.ready()`
///         # drop((listener, notifier));
///         Ok(())
///     })
/// }
/// ```
#[derive(Debug)]
pub struct Inherited {
    listener: Option<std::net::TcpListener>,
    notifier: Notifier,
    handover_from: Option<u32>,
}

impl Inherited {
    /// Takes what was passed to this process and removes every variable
    /// that passed it from the environment (`LISTEN_PID`, `LISTEN_FDS`,
    /// `LISTEN_FDS_FIRST_FD`, `LISTEN_FDNAMES`, `NOTIFY_SOCKET`,
    /// [`HANDOVER_VAR`], [`READY_FD_VAR`]), whatever the outcome, so that
    /// no child of this process takes them for its own. Synchronous, and
    /// needs no runtime: call it before other threads start (see
    /// [`Inherited`]). Calling it again finds nothing.
    ///
    /// - The listening socket: as systemd's `sd_listen_fds` (see
    ///   [`inherited_listener`](super::inherited_listener) for `name` and
    ///   the checks); set close-on-exec and non-blocking.
    /// - A handover ([`HANDOVER_VAR`] set): it must name this process's
    ///   parent, the old process that started it
    ///   ([`ListenError::NotOurHandover`] otherwise, and nothing is taken:
    ///   the variables leaked to a process they were not meant for). The
    ///   readiness channel ([`READY_FD_VAR`]) is taken for the
    ///   [`notifier`](Self::notifier), close-on-exec.
    /// - `NOTIFY_SOCKET`: systemd's, kept in the notifier (what
    ///   [`Notifier::from_env`] returns from now on), as `sd_notify`'s
    ///   `unset_environment` does.
    pub fn take(name: Option<&str>) -> Result<Inherited, ListenError> {
        let taken = take_from_env(name);
        for variable in VARIABLES {
            // Safe to call in edition 2021 (the crate's edition), which
            // `forbid(unsafe_code)` accepts; it races `getenv` in other
            // threads, hence "before the runtime starts".
            std::env::remove_var(variable);
        }
        let taken = taken?;
        taken.notifier.keep_as_taken();
        Ok(taken)
    }

    /// The inherited listening socket, registered with the current tokio
    /// runtime (so call it within one); `None` if none was passed or it
    /// was taken already.
    pub fn listener(&mut self) -> io::Result<Option<TcpListener>> {
        self.listener.take().map(TcpListener::from_std).transpose()
    }

    /// The inherited listening socket as a std one (for a runtime of
    /// another kind, or to register later); `None` if none was passed or
    /// it was taken already.
    pub fn std_listener(&mut self) -> Option<std::net::TcpListener> {
        self.listener.take()
    }

    /// Where this process's notifications go: `READY=1` to the old process
    /// in a handover (over the inherited channel), everything else to
    /// systemd when `NOTIFY_SOCKET` was set.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    /// The old process's pid, when this process was started by a handover.
    pub fn handover_from(&self) -> Option<u32> {
        self.handover_from
    }
}

/// Reads the variables, checks them and takes the fds; the caller removes
/// the variables.
fn take_from_env(name: Option<&str>) -> Result<Inherited, ListenError> {
    let notify = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
    let handover = match std::env::var(HANDOVER_VAR) {
        Ok(value) => Some(parse_pid(HANDOVER_VAR, &value)?),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => {
            return Err(ListenError::BadVariable {
                name: HANDOVER_VAR,
                value: value.to_string_lossy().into_owned(),
            })
        }
    };
    if let Some(old) = handover {
        let parent = rustix::process::getppid()
            .map(|pid| pid.as_raw_nonzero().get())
            .and_then(|pid| u32::try_from(pid).ok())
            .unwrap_or(0);
        if parent != old {
            return Err(ListenError::NotOurHandover {
                handover_pid: old,
                parent_pid: parent,
            });
        }
    }
    let notifier = match handover {
        None => Notifier::systemd(notify),
        Some(_) => match std::env::var(READY_FD_VAR) {
            Ok(fd) => {
                let fd = parse_fd(READY_FD_VAR, &fd)?;
                Notifier::handover(take_ready_channel(fd)?, notify)
            }
            // An earlier version's handover.
            Err(_) => Notifier::legacy_handover(
                notify,
                std::env::var_os(LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR),
            ),
        },
    };
    let listener = take_listener(name)?;
    Ok(Inherited {
        listener,
        notifier,
        handover_from: handover,
    })
}

fn parse_pid(name: &'static str, value: &str) -> Result<u32, ListenError> {
    match value.trim().parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(ListenError::BadVariable {
            name,
            value: value.to_owned(),
        }),
    }
}

fn parse_fd(name: &'static str, value: &str) -> Result<i32, ListenError> {
    match value.trim().parse::<i32>() {
        Ok(fd) if fd >= 3 => Ok(fd),
        _ => Err(ListenError::BadVariable {
            name,
            value: value.to_owned(),
        }),
    }
}

/// Takes the readiness channel's fd. Turning an fd number into a socket is
/// the one `unsafe` step, which this crate forbids; listenfd does it after
/// checking that the fd is a unix datagram socket, for the fds that
/// `LISTEN_FDS`/`LISTEN_FDS_FIRST_FD` name. So this names the one fd there
/// for a moment (the listener was taken before, and those variables are
/// removed after): only from [`Inherited::take`], before other threads run.
fn take_ready_channel(fd: i32) -> Result<UnixDatagram, ListenError> {
    let listen_vars = ListenVars::from_env();
    std::env::remove_var("LISTEN_PID");
    std::env::set_var("LISTEN_FDS", "1");
    std::env::set_var("LISTEN_FDS_FIRST_FD", fd.to_string());
    let taken = listenfd::ListenFd::from_env().take_unix_datagram(0);
    // Puts the listener's variables back for `take_listener`.
    listen_vars.restore();
    match taken {
        Ok(Some(channel)) => Ok(channel),
        Ok(None) => Err(ListenError::BadChannel {
            fd,
            source: io::Error::new(io::ErrorKind::NotFound, "no such fd"),
        }),
        Err(source) => Err(ListenError::BadChannel { fd, source }),
    }
}

/// Takes the listening socket the `LISTEN_*` variables name (std, set
/// non-blocking and close-on-exec).
pub(super) fn take_listener(
    name: Option<&str>,
) -> Result<Option<std::net::TcpListener>, ListenError> {
    let vars = ListenVars::from_env();
    let Plan::Take { index, count } = vars.plan(name, std::process::id())? else {
        return Ok(None);
    };
    let first: i32 = vars
        .first_fd
        .as_deref()
        .and_then(|f| f.trim().parse().ok())
        .unwrap_or(3);
    let fd_of = |i: usize| first.saturating_add(i32::try_from(i).unwrap_or(i32::MAX));
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() != count {
        // listenfd read the same variables: only a concurrent change of the
        // environment gets here.
        return Err(ListenError::BadVariable {
            name: "LISTEN_FDS",
            value: vars.fds.unwrap_or_default(),
        });
    }
    let fd = fd_of(index);
    let not_a_listener = |source| ListenError::NotAListener { fd, source };
    let listener = match fds.take_tcp_listener(index) {
        Ok(Some(listener)) => listener,
        Ok(None) => {
            return Err(not_a_listener(io::Error::new(
                io::ErrorKind::NotFound,
                "already taken",
            )))
        }
        Err(e) => return Err(not_a_listener(e)),
    };
    match rustix::net::sockopt::socket_acceptconn(&listener) {
        Ok(true) => {}
        Ok(false) => {
            return Err(not_a_listener(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket is not listening (no listen() call)",
            )))
        }
        Err(e) => return Err(not_a_listener(e.into())),
    }
    // The other TCP listeners passed to us are not served: close them
    // (take and drop). Other kinds of fds are left alone; errors about them
    // do not matter to the one we serve.
    for other in (0..count).filter(|&i| i != index) {
        drop(fds.take_tcp_listener(other));
    }
    listener.set_nonblocking(true).map_err(not_a_listener)?;
    Ok(Some(listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The handover's pid: a positive number, blanks around it allowed;
    /// anything else names the variable and keeps its value.
    #[test]
    fn pids_are_positive_numbers() {
        assert!(matches!(parse_pid(HANDOVER_VAR, "4242"), Ok(4242)));
        assert!(matches!(parse_pid(HANDOVER_VAR, " 1\n"), Ok(1)));
        for bad in ["0", "-1", "", "12x", "4294967296"] {
            match parse_pid(HANDOVER_VAR, bad) {
                Err(ListenError::BadVariable { name, value }) => {
                    assert_eq!((name, value.as_str()), (HANDOVER_VAR, bad));
                }
                other => panic!("{bad:?} taken as a pid: {other:?}"),
            }
        }
    }

    /// The readiness channel's fd: a number past stdin, stdout and stderr.
    #[test]
    fn ready_fds_are_past_the_standard_ones() {
        assert!(matches!(parse_fd(READY_FD_VAR, "3"), Ok(3)));
        assert!(matches!(parse_fd(READY_FD_VAR, " 17 "), Ok(17)));
        for bad in ["2", "0", "-1", "", "three"] {
            match parse_fd(READY_FD_VAR, bad) {
                Err(ListenError::BadVariable { name, value }) => {
                    assert_eq!((name, value.as_str()), (READY_FD_VAR, bad));
                }
                other => panic!("{bad:?} taken as a channel fd: {other:?}"),
            }
        }
    }
}
