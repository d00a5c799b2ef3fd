//! Listening sockets that come from outside (feature `restart`): systemd
//! socket activation (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`) and
//! this crate's own handover ([`Restart`](super::Restart)), which speaks the
//! same protocol with `LISTEN_FDS_FIRST_FD` (the fd a restarting process
//! passes is not always 3).

use std::error::Error as StdError;
use std::fmt;
use std::io;

use tokio::net::TcpListener;

/// Why [`inherited_listener`] could not hand over a listener. Non-exhaustive:
/// match with a fallback arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ListenError {
    /// `LISTEN_PID` names another process: the variables were meant for a
    /// parent (a shell wrapper that did not `exec`). systemd and `sd_listen_fds`
    /// ignore them; so may you: bind a listener of your own, or fix the
    /// wrapper to `exec` the server.
    OtherProcess {
        /// The value of `LISTEN_PID`.
        listen_pid: String,
    },
    /// A handover's variables ([`HANDOVER_VAR`](super::HANDOVER_VAR)) name
    /// another process than this one's parent: they leaked to a process
    /// they were not meant for (a child of the successor, a copied
    /// environment), or the old process died before this one started.
    /// Nothing was taken; bind a listener of your own.
    NotOurHandover {
        /// The pid the handover names (the old process).
        handover_pid: u32,
        /// This process's parent (0 if it has none).
        parent_pid: u32,
    },
    /// The handover's readiness channel
    /// ([`READY_FD_VAR`](super::READY_FD_VAR)) is not a unix datagram
    /// socket. The program that started this one is not a
    /// [`Restart`](super::Restart) of this version: start it the same way.
    BadChannel {
        /// The fd number.
        fd: i32,
        /// What the check found.
        source: io::Error,
    },
    /// A variable is not what the protocol says (`LISTEN_FDS` and
    /// `LISTEN_FDS_FIRST_FD` are numbers, `LISTEN_PID` a pid). Fix the unit
    /// or the program that set it.
    BadVariable {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// `LISTEN_FDNAMES` names another number of sockets than `LISTEN_FDS`
    /// counts: the environment was edited by hand, or belongs to two
    /// different activations. Set both from one source.
    NamesMismatch {
        /// `LISTEN_FDS`.
        fds: usize,
        /// How many names `LISTEN_FDNAMES` holds.
        names: usize,
    },
    /// No passed socket has the asked-for name. Name it in the `.socket`
    /// unit (`FileDescriptorName=`) or ask for one of `names`.
    NoSuchName {
        /// The name asked for.
        name: String,
        /// The names passed (`LISTEN_FDNAMES`).
        names: Vec<String>,
    },
    /// Several sockets were passed and no name says which one to serve:
    /// ask for one by name (`FileDescriptorName=` in the `.socket` unit).
    Ambiguous {
        /// The names passed (`unknown` where the fd has none).
        names: Vec<String>,
    },
    /// The passed fd is not a listening TCP socket (a UDP or unix socket, a
    /// socket on which `listen` was never called, a file, or no fd at
    /// all). Use `ListenStream=` with a TCP address in the `.socket` unit.
    NotAListener {
        /// The fd number.
        fd: i32,
        /// What the check found.
        source: io::Error,
    },
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::OtherProcess { listen_pid } => write!(
                f,
                "LISTEN_PID={listen_pid} is not this process ({}): the passed sockets are not ours, ignoring them (exec the server from its wrapper)",
                std::process::id()
            ),
            ListenError::NotOurHandover { handover_pid, parent_pid } => write!(
                f,
                "the handover variables are for a child of pid {handover_pid}, but our parent is pid {parent_pid}: ignoring them (bind a listener of our own)"
            ),
            ListenError::BadChannel { fd, .. } => write!(
                f,
                "the handover's readiness fd {fd} is not a unix datagram socket; start this program from a Restart of the same version"
            ),
            ListenError::BadVariable { name, value } => {
                write!(f, "{name}={value:?} is not a valid value; fix the unit or the program that set it")
            }
            ListenError::NamesMismatch { fds, names } => write!(
                f,
                "LISTEN_FDS={fds} but LISTEN_FDNAMES names {names} sockets; set both from one activation"
            ),
            ListenError::NoSuchName { name, names } => write!(
                f,
                "no passed socket is named {name:?} (LISTEN_FDNAMES: {}); set FileDescriptorName= in the .socket unit",
                names.join(":")
            ),
            ListenError::Ambiguous { names } => write!(
                f,
                "{} sockets were passed ({}); ask for one by name",
                names.len(),
                names.join(":")
            ),
            ListenError::NotAListener { fd, .. } => write!(
                f,
                "passed fd {fd} is not a listening TCP socket; use ListenStream= with a TCP address"
            ),
        }
    }
}

impl StdError for ListenError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ListenError::NotAListener { source, .. } | ListenError::BadChannel { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// What the `LISTEN_*` variables say, read without touching any fd.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// No sockets passed (`LISTEN_FDS` unset or 0).
    Nothing,
    /// Take the fd at `index` (an offset from the first passed fd) among
    /// `count`.
    Take { index: usize, count: usize },
}

/// The `LISTEN_*` variables, as strings (sans-IO: tests set them freely).
#[derive(Debug, Default, Clone)]
pub(crate) struct ListenVars {
    pub(crate) pid: Option<String>,
    pub(crate) fds: Option<String>,
    pub(crate) first_fd: Option<String>,
    pub(crate) names: Option<String>,
}

impl ListenVars {
    /// Sets the variables back as they were read (unset when `None`).
    pub(crate) fn restore(&self) {
        let vars = [
            ("LISTEN_PID", &self.pid),
            ("LISTEN_FDS", &self.fds),
            ("LISTEN_FDS_FIRST_FD", &self.first_fd),
            ("LISTEN_FDNAMES", &self.names),
        ];
        for (name, value) in vars {
            match value {
                Some(value) => std::env::set_var(name, value),
                None => std::env::remove_var(name),
            }
        }
    }

    pub(crate) fn from_env() -> ListenVars {
        let var = |name| std::env::var(name).ok();
        ListenVars {
            pid: var("LISTEN_PID"),
            fds: var("LISTEN_FDS"),
            first_fd: var("LISTEN_FDS_FIRST_FD"),
            names: var("LISTEN_FDNAMES"),
        }
    }

    /// Which passed socket to take for `name`, for process `our_pid`. Pure.
    pub(crate) fn plan(&self, name: Option<&str>, our_pid: u32) -> Result<Plan, ListenError> {
        let Some(fds) = self.fds.as_deref() else {
            return Ok(Plan::Nothing);
        };
        let count: usize = fds.trim().parse().map_err(|_| ListenError::BadVariable {
            name: "LISTEN_FDS",
            value: fds.to_owned(),
        })?;
        match self.pid.as_deref().map(str::trim) {
            // Our own handover sets no LISTEN_PID: it cannot know the pid
            // before the spawn (listenfd accepts this, as catflap does).
            None | Some("") => {}
            Some(pid) => match pid.parse::<u32>() {
                Ok(pid) if pid == our_pid => {}
                Ok(_) => {
                    return Err(ListenError::OtherProcess {
                        listen_pid: pid.to_owned(),
                    })
                }
                Err(_) => {
                    return Err(ListenError::BadVariable {
                        name: "LISTEN_PID",
                        value: pid.to_owned(),
                    })
                }
            },
        }
        if let Some(first) = self.first_fd.as_deref() {
            match first.trim().parse::<i32>() {
                Ok(fd) if fd >= 3 => {}
                _ => {
                    return Err(ListenError::BadVariable {
                        name: "LISTEN_FDS_FIRST_FD",
                        value: first.to_owned(),
                    })
                }
            }
        }
        if count == 0 {
            return Ok(Plan::Nothing);
        }
        let names: Vec<String> = match self.names.as_deref() {
            Some(names) => {
                let names: Vec<String> = names.split(':').map(str::to_owned).collect();
                if names.len() != count {
                    return Err(ListenError::NamesMismatch {
                        fds: count,
                        names: names.len(),
                    });
                }
                names
            }
            None => vec!["unknown".to_owned(); count],
        };
        let index = match name {
            // No names passed (a handover passes none): the only socket is
            // the one asked for.
            Some(_) if self.names.is_none() && count == 1 => 0,
            Some(name) => {
                names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| ListenError::NoSuchName {
                        name: name.to_owned(),
                        names: names.clone(),
                    })?
            }
            None if count == 1 => 0,
            None => return Err(ListenError::Ambiguous { names }),
        };
        Ok(Plan::Take { index, count })
    }
}

/// Takes the listening TCP socket passed to this process from outside:
/// by systemd socket activation (a `.socket` unit, or
/// `systemd-socket-activate -l 127.0.0.1:8443 SERVER ...`), or by the
/// previous generation of this server in a [`Restart`](super::Restart)
/// handover.
///
/// - `Ok(None)`: no socket was passed (`LISTEN_FDS` unset or 0): bind one.
/// - `name`: which socket, by its `LISTEN_FDNAMES` name
///   (`FileDescriptorName=` in the `.socket` unit), when several are passed;
///   `None` takes the only one (and fails with
///   [`ListenError::Ambiguous`] if there are several). When no names are
///   passed (a [`Restart`](super::Restart) handover passes none) and there
///   is one socket, it is the one asked for, whatever the name.
/// - [`ListenError::OtherProcess`]: `LISTEN_PID` is another process's; the
///   sockets are left alone, as systemd's `sd_listen_fds` does. Bind your
///   own after saying so.
/// - Any other error says which variable or fd is wrong; nothing panics.
///
/// The socket taken is set non-blocking and close-on-exec (so that no other
/// child inherits it); the other TCP listeners passed are closed.
///
/// Must be called within a tokio runtime (the listener registers with it).
///
/// This is [`Inherited::take`](super::Inherited::take) followed by
/// [`Inherited::listener`](super::Inherited::listener): it removes every
/// passing variable (`LISTEN_*`, `NOTIFY_SOCKET`, the handover's) from the
/// environment, and [`Notifier::from_env`](super::Notifier::from_env)
/// returns what was taken. Called from within a multi-threaded runtime,
/// that change races other threads' `getenv`: prefer `Inherited::take` in
/// `fn main()`, before the runtime starts.
pub fn inherited_listener(name: Option<&str>) -> Result<Option<TcpListener>, ListenError> {
    // For the error only (the variables are gone after `take`).
    let fd = std::env::var("LISTEN_FDS_FIRST_FD")
        .ok()
        .and_then(|f| f.trim().parse().ok())
        .unwrap_or(3);
    let mut inherited = super::Inherited::take(name)?;
    inherited
        .listener()
        .map_err(|source| ListenError::NotAListener { fd, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> ListenVars {
        ListenVars {
            pid: pid.map(Into::into),
            fds: fds.map(Into::into),
            first_fd: None,
            names: names.map(Into::into),
        }
    }

    #[test]
    fn plans() {
        let take = |index, count| Ok::<_, ()>(Plan::Take { index, count });
        let plan = |v: ListenVars, name| v.plan(name, 42).map_err(|_| ());
        assert_eq!(plan(vars(None, None, None), None), Ok(Plan::Nothing));
        assert_eq!(
            plan(vars(Some("42"), Some("0"), None), None),
            Ok(Plan::Nothing)
        );
        assert_eq!(plan(vars(Some("42"), Some("1"), None), None), take(0, 1));
        assert_eq!(plan(vars(None, Some("1"), None), None), take(0, 1));
        assert_eq!(
            plan(vars(Some("42"), Some("2"), Some("a:b")), Some("b")),
            take(1, 2)
        );
        assert_eq!(plan(vars(None, Some("1"), None), Some("https")), take(0, 1));
        assert!(matches!(
            vars(None, Some("2"), None).plan(Some("https"), 42),
            Err(ListenError::NoSuchName { .. })
        ));
        assert!(matches!(
            vars(Some("7"), Some("1"), None).plan(None, 42),
            Err(ListenError::OtherProcess { .. })
        ));
        assert!(matches!(
            vars(Some("x"), Some("1"), None).plan(None, 42),
            Err(ListenError::BadVariable {
                name: "LISTEN_PID",
                ..
            })
        ));
        assert!(matches!(
            vars(Some("42"), Some("-1"), None).plan(None, 42),
            Err(ListenError::BadVariable {
                name: "LISTEN_FDS",
                ..
            })
        ));
        assert!(matches!(
            vars(Some("42"), Some("2"), Some("a")).plan(None, 42),
            Err(ListenError::NamesMismatch { fds: 2, names: 1 })
        ));
        assert!(matches!(
            vars(Some("42"), Some("2"), Some("a:b")).plan(None, 42),
            Err(ListenError::Ambiguous { .. })
        ));
        assert!(matches!(
            vars(Some("42"), Some("2"), Some("a:b")).plan(Some("c"), 42),
            Err(ListenError::NoSuchName { .. })
        ));
        let mut first = vars(None, Some("1"), None);
        first.first_fd = Some("1".into());
        assert!(matches!(
            first.plan(None, 42),
            Err(ListenError::BadVariable {
                name: "LISTEN_FDS_FIRST_FD",
                ..
            })
        ));
    }
}
