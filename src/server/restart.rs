//! [`Restart`]: the self-upgrade handover (feature `restart`). On a signal
//! the server starts its successor with the listening socket inherited,
//! waits until the successor says it serves, and only then stops accepting
//! and drains.

use std::error::Error as StdError;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixDatagram};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::notify::{Notifier, HANDOVER_VAR, SYSTEMD_NOTIFY_SOCKET_VAR};

/// How long a successor that was asked to stop (SIGTERM: it failed to say
/// it was ready in time, or the old process is stopping) may take before it
/// is killed.
const SUCCESSOR_STOP_GRACE: Duration = Duration::from_secs(30);

/// What happened during a handover, for the program to print or log
/// ([`Restart::with_on_event`]). Non-exhaustive.
#[derive(Debug)]
#[non_exhaustive]
pub enum RestartEvent {
    /// The restart signal arrived; the successor `pid` was started.
    Started {
        /// The successor's pid.
        pid: u32,
    },
    /// The successor said it serves: this process stops accepting and
    /// drains ([`Handover::handed_over`] resolves).
    HandedOver {
        /// The successor's pid.
        pid: u32,
    },
    /// The handover failed: this process serves on; a later signal may
    /// try again.
    Failed(RestartError),
    /// A restart signal arrived during a handover: ignored (one handover at
    /// a time).
    Ignored,
}

/// Why a handover failed. Non-exhaustive; the message says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum RestartError {
    /// The listening socket could not be prepared for the successor, or the
    /// readiness socket not created.
    Prepare(io::Error),
    /// The successor could not be started.
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The successor exited before it said it was ready.
    Exited {
        /// Its pid.
        pid: u32,
        /// How it exited.
        status: ExitStatus,
    },
    /// The successor did not say it was ready within the timeout; it was
    /// asked to stop (SIGTERM, then SIGKILL after 30 s).
    NotReady {
        /// Its pid.
        pid: u32,
        /// The timeout.
        timeout: Duration,
    },
    /// This process began to stop (SIGTERM) during the handover: the
    /// successor was asked to stop, this process drains as usual.
    Stopped {
        /// The successor's pid.
        pid: u32,
    },
}

impl fmt::Display for RestartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartError::Prepare(_) => write!(f, "cannot prepare the listening socket for a successor; still serving, retry the signal"),
            RestartError::Spawn { program, .. } => write!(
                f,
                "cannot start {}; still serving, fix the binary and retry the signal",
                program.display()
            ),
            RestartError::Exited { pid, status } => write!(
                f,
                "successor pid {pid} exited ({status}) before it was ready; still serving, see its output and retry the signal"
            ),
            RestartError::NotReady { pid, timeout } => write!(
                f,
                "successor pid {pid} was not ready within {timeout:?} and was asked to stop; still serving, retry the signal"
            ),
            RestartError::Stopped { pid } => write!(
                f,
                "stopping during the handover: successor pid {pid} was asked to stop"
            ),
        }
    }
}

impl StdError for RestartError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            RestartError::Prepare(e) | RestartError::Spawn { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

type OnEvent = Arc<dyn Fn(&RestartEvent) + Send + Sync>;

/// The self-upgrade handover: on a signal (SIGHUP by default), start the
/// successor (the file now at this program's path, with the same
/// arguments, unless set) with the listening socket inherited, wait until
/// it says it serves, then resolve [`Handover::handed_over`], which the
/// program passes to [`Serve::with_graceful_shutdown`](super::Serve::with_graceful_shutdown):
/// this process stops accepting and drains as on SIGTERM.
///
/// ```no_run
/// # async fn run(app: axum::Router, tls: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
/// use graceful_tls::server::{inherited_listener, Notifier, Restart};
/// use graceful_tls::CancellationToken;
///
/// let listener = match inherited_listener(None) {
///     Ok(Some(listener)) => listener,
///     _ => tokio::net::TcpListener::bind("127.0.0.1:8443").await?,
/// };
/// let notifier = Notifier::from_env();
/// let stop = CancellationToken::new(); // cancelled on SIGTERM
/// let handover = Restart::new()
///     .with_notifier(notifier.clone())
///     .watch(&listener, stop.clone())?;
/// let _ = notifier.ready();
/// let shutdown = {
///     let handover = handover.clone();
///     async move {
///         tokio::select! {
///             _ = stop.cancelled() => {}
///             _ = handover.handed_over() => {}
///         }
///     }
/// };
/// let report = graceful_tls::server::serve(listener, tls, app)
///     .with_graceful_shutdown(shutdown)
///     .await;
/// println!("summary: {report}");
/// # Ok(()) }
/// ```
///
/// The protocol between the generations (see the `server` module's docs):
/// the successor gets `LISTEN_FDS=1` and `LISTEN_FDS_FIRST_FD=N` (the
/// inherited fd, close-on-exec cleared on that one fd during the spawn; no
/// `LISTEN_PID`, which cannot be known before the spawn without `unsafe`),
/// `NOTIFY_SOCKET` (a unix datagram socket of the old process, to which the
/// successor sends `READY=1`, as it would to systemd) and
/// `GRACEFUL_TLS_HANDOVER` (the old pid). The successor calls
/// [`inherited_listener`](super::inherited_listener) and
/// [`Notifier::ready`].
///
#[doc = include_str!("../docs/restart.md")]
pub struct Restart {
    program: PathBuf,
    args: Vec<OsString>,
    signal: SignalKind,
    ready_timeout: Duration,
    on_event: OnEvent,
    notifier: Notifier,
}

impl fmt::Debug for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Restart")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("signal", &self.signal)
            .field("ready_timeout", &self.ready_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Restart {
    fn default() -> Self {
        Self::new()
    }
}

impl Restart {
    /// Default [`with_ready_timeout`](Self::with_ready_timeout): 30 s.
    pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

    /// A handover on SIGHUP that starts this program again (see
    /// [`this_program`]) with this process's arguments, waits 30 s for its
    /// readiness and sends no notification (set a
    /// [`Notifier`] for systemd).
    pub fn new() -> Restart {
        Restart {
            program: this_program(),
            args: std::env::args_os().skip(1).collect(),
            signal: SignalKind::hangup(),
            ready_timeout: Self::DEFAULT_READY_TIMEOUT,
            on_event: Arc::new(|_| {}),
            notifier: Notifier::disabled(),
        }
    }

    /// The program the successor runs (default: [`this_program`]).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// The successor's arguments (default: this process's).
    pub fn with_args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The signal that starts a handover (default SIGHUP).
    pub fn with_signal(mut self, signal: SignalKind) -> Self {
        self.signal = signal;
        self
    }

    /// How long the successor may take to say it serves before the
    /// handover is abandoned (the successor is asked to stop, this process
    /// serves on).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Called with each [`RestartEvent`] (from the handover's task: keep it
    /// short, e.g. print a line).
    pub fn with_on_event(
        mut self,
        on_event: impl Fn(&RestartEvent) + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Arc::new(on_event);
        self
    }

    /// Tells systemd about handovers (`RELOADING=1`, `MAINPID=`) and passes
    /// its socket on to the successor.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The program the successor runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The handover's timeout for the successor's readiness.
    pub fn ready_timeout(&self) -> Duration {
        self.ready_timeout
    }

    /// Installs the signal handler and starts watching for the signal, in a
    /// task of the current tokio runtime. `listener` is duplicated (the
    /// duplicate is what successors inherit); `stop` is this process's
    /// SIGTERM: once cancelled, no handover starts, and one under way is
    /// abandoned (the successor is asked to stop; this process drains).
    ///
    /// Fails if the signal handler cannot be installed or the listener not
    /// duplicated (out of fds).
    pub fn watch(self, listener: &TcpListener, stop: CancellationToken) -> io::Result<Handover> {
        let signal = signal(self.signal)?;
        let socket = rustix::io::fcntl_dupfd_cloexec(listener, 3)?;
        let handover = Handover {
            done: CancellationToken::new(),
            finished: CancellationToken::new(),
            successor: Arc::new(AtomicU32::new(0)),
        };
        tokio::spawn(self.run(socket, signal, stop, handover.clone()));
        Ok(handover)
    }

    async fn run(
        self,
        socket: OwnedFd,
        mut signal: Signal,
        stop: CancellationToken,
        handover: Handover,
    ) {
        let _finished = handover.finished.clone().drop_guard();
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                got = signal.recv() => if got.is_none() { return },
            }
            match self.attempt(&socket, &mut signal, &stop).await {
                Ok(pid) => {
                    let _ = self.notifier.main_pid(pid);
                    (self.on_event)(&RestartEvent::HandedOver { pid });
                    handover.successor.store(pid, Ordering::SeqCst);
                    handover.done.cancel();
                    return;
                }
                Err(e) => {
                    if !matches!(e, RestartError::Stopped { .. }) {
                        let _ = self.notifier.reload_failed(&e.to_string());
                    }
                    (self.on_event)(&RestartEvent::Failed(e));
                }
            }
        }
    }

    /// One handover: start the successor, wait for `READY=1` from it, its
    /// exit, the timeout or `stop`.
    async fn attempt(
        &self,
        socket: &OwnedFd,
        signal: &mut Signal,
        stop: &CancellationToken,
    ) -> Result<u32, RestartError> {
        let _ = self.notifier.reloading();
        let ready = ReadySocket::bind().map_err(RestartError::Prepare)?;
        let mut child = self.spawn(socket, &ready.path)?;
        let pid = child.id().unwrap_or(0);
        (self.on_event)(&RestartEvent::Started { pid });
        let deadline = Instant::now() + self.ready_timeout;
        let mut buf = [0u8; 1024];
        loop {
            // Compared on every turn: a flood of datagrams on the readiness
            // socket keeps `recv` ready and may starve the timer.
            if Instant::now() >= deadline {
                stop_successor(child);
                return Err(RestartError::NotReady {
                    pid,
                    timeout: self.ready_timeout,
                });
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => {
                    stop_successor(child);
                    return Err(RestartError::Stopped { pid });
                }
                status = child.wait() => {
                    return match status {
                        Ok(status) => Err(RestartError::Exited { pid, status }),
                        Err(e) => {
                            stop_successor(child);
                            Err(RestartError::Prepare(e))
                        }
                    };
                }
                got = ready.socket.recv(&mut buf) => match got {
                    Ok(n) if says_ready(&buf[..n]) => return Ok(pid),
                    Ok(_) => {}
                    // Never expected on a bound datagram socket; failing
                    // beats spinning on it until the deadline.
                    Err(e) => {
                        stop_successor(child);
                        return Err(RestartError::Prepare(e));
                    }
                },
                _ = signal.recv() => (self.on_event)(&RestartEvent::Ignored),
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn spawn(&self, socket: &OwnedFd, ready: &Path) -> Result<Child, RestartError> {
        // A close-on-exec duplicate for this spawn only; its flag is cleared
        // so the successor inherits it, and it is closed here right after.
        let fd = rustix::io::fcntl_dupfd_cloexec(socket, 3)
            .map_err(|e| RestartError::Prepare(e.into()))?;
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty())
            .map_err(|e| RestartError::Prepare(e.into()))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDS_FIRST_FD", fd.as_raw_fd().to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env("NOTIFY_SOCKET", ready)
            .env(HANDOVER_VAR, std::process::id().to_string());
        match self.notifier.systemd_socket() {
            Some(systemd) => command.env(SYSTEMD_NOTIFY_SOCKET_VAR, systemd),
            None => command.env_remove(SYSTEMD_NOTIFY_SOCKET_VAR),
        };
        let spawned = command.spawn();
        drop(fd);
        spawned.map_err(|source| RestartError::Spawn {
            program: self.program.clone(),
            source,
        })
    }
}

/// Whether a notification datagram holds a `READY=1` line.
fn says_ready(message: &[u8]) -> bool {
    message
        .split(|&b| b == b'\n')
        .any(|line| line == b"READY=1")
}

/// Asks a successor that is not taking over to stop: SIGTERM (it drains
/// whatever it accepted), SIGKILL after [`SUCCESSOR_STOP_GRACE`]; reaped in
/// the background.
fn stop_successor(mut child: Child) {
    if let Some(pid) = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    tokio::spawn(async move {
        if tokio::time::timeout(SUCCESSOR_STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    });
}

/// The old process's end of the readiness protocol: a unix datagram socket
/// in the temporary directory, removed on drop.
struct ReadySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl ReadySocket {
    fn bind() -> io::Result<ReadySocket> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "graceful-tls-handover-{}-{}.sock",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path)?;
        Ok(ReadySocket { socket, path })
    }
}

impl Drop for ReadySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A running [`Restart`]'s handle: resolves when a handover succeeded.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Handover {
    done: CancellationToken,
    finished: CancellationToken,
    successor: Arc<AtomicU32>,
}

impl Handover {
    /// Resolves once a successor said it serves: pass it (with SIGTERM) to
    /// [`Serve::with_graceful_shutdown`](super::Serve::with_graceful_shutdown).
    /// Never resolves if no handover succeeds.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn handed_over(&self) -> u32 {
        self.done.cancelled().await;
        self.successor.load(Ordering::SeqCst)
    }

    /// Resolves when the handover's task has ended: after a handover, or
    /// once `stop` fired and a handover under way was abandoned (its
    /// would-be successor told to stop, the event reported). Await it,
    /// bounded, before the process exits after a drain, so that SIGTERM
    /// during a handover does not leave the successor running.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn finished(&self) {
        self.finished.cancelled().await;
    }

    /// The successor's pid, once handed over.
    pub fn successor(&self) -> Option<u32> {
        match self.successor.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }
}

/// The program a successor runs by default: the file now at the path this
/// process was started as (`argv[0]`, made absolute against the working
/// directory at the first call), so that a deploy that replaced the file
/// (or a symlink such as `current -> releases/v2`) starts the new binary.
/// `std::env::current_exe()` would name the old, possibly deleted file.
/// When `argv[0]` has no `/` (found through `PATH`), `current_exe()` it is.
pub fn this_program() -> PathBuf {
    static PROGRAM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PROGRAM
        .get_or_init(|| {
            let argv0 = std::env::args_os().next().map(PathBuf::from);
            match argv0 {
                Some(path) if path.as_os_str().as_encoded_bytes().contains(&b'/') => {
                    if path.is_absolute() {
                        path
                    } else {
                        std::env::current_dir()
                            .map(|cwd| cwd.join(&path))
                            .unwrap_or(path)
                    }
                }
                _ => std::env::current_exe().unwrap_or_default(),
            }
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::says_ready;

    #[test]
    fn ready_lines() {
        assert!(says_ready(b"READY=1"));
        assert!(says_ready(b"STATUS=x\nREADY=1\n"));
        assert!(!says_ready(b"READY=0\n"));
        assert!(!says_ready(b"XREADY=1"));
    }
}
