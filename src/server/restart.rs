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
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::notify::{Notifier, HANDOVER_VAR, LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR, READY_FD_VAR};
use super::ready_channel::ReadyChannel;

/// After SIGKILL, how long the kernel may take to end a process before we
/// stop waiting for it (a process in uninterruptible sleep, on a dead NFS
/// mount say, outlives SIGKILL until the sleep ends): `finished` must not
/// hang on it.
const KILL_WAIT: Duration = Duration::from_secs(5);

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
    /// A restart signal arrived during a handover, or during the drain
    /// that follows one: ignored (one handover at a time).
    Ignored,
    /// A `READY=1` came from a process other than the successor (a process
    /// that inherited the readiness channel from it, or from this process
    /// during the spawn): ignored, the handover goes on waiting for the
    /// successor's own.
    ForeignReady {
        /// The sender's pid, as the kernel saw it (`None` when the
        /// datagram carried no credentials).
        sender: Option<u32>,
        /// The successor's pid.
        successor: u32,
    },
    /// The successor that took over died (killed by a signal, or exited
    /// with a failure status) while this process was still draining: this
    /// process accepts again ([`Serve::with_handover`](super::Serve::with_handover)),
    /// told systemd `MAINPID=` its own pid, and a later signal may try
    /// again. A successor that exits with status 0 ended on purpose (it was
    /// stopped, or handed over to a successor of its own): nothing is
    /// resumed then.
    SuccessorLost {
        /// The successor's pid.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// An abandoned would-be successor (not ready in time, or this process
    /// began to stop during the handover) is gone: it exited after SIGTERM,
    /// or was killed (SIGKILL) after [`Restart::with_stop_grace`].
    SuccessorStopped {
        /// Its pid.
        pid: u32,
        /// Whether SIGKILL was needed.
        killed: bool,
    },
    /// A notification to systemd could not be sent (systemd then does not
    /// know which process is the service's main one, or that the reload
    /// ended): check `NOTIFY_SOCKET` and `NotifyAccess=`.
    NotifyFailed {
        /// What was being sent, such as `MAINPID=1234`.
        message: String,
        /// Why it failed.
        source: io::Error,
    },
}

/// Why a handover failed. Non-exhaustive; the message says what to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum RestartError {
    /// The listening socket could not be prepared for the successor, or the
    /// readiness channel not created.
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
    /// asked to stop (SIGTERM, then SIGKILL after
    /// [`Restart::with_stop_grace`]).
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
            RestartError::Prepare(_) => write!(f, "cannot prepare the listening socket or the readiness channel for a successor; still serving, retry the signal"),
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
/// it says it serves, then resolve [`Handover::handed_over`]. Given to
/// [`Serve::with_handover`](super::Serve::with_handover), the handover
/// makes the server stop accepting and drain, as on SIGTERM, and accept
/// again if the successor dies before that drain ends.
///
/// ```no_run
/// use graceful_tls::server::{Inherited, Restart};
/// use graceful_tls::CancellationToken;
///
/// fn main() -> std::io::Result<()> {
///     // Before the runtime's threads start: it removes the variables.
///     let mut inherited = Inherited::take(None).unwrap_or_else(|e| {
///         eprintln!("{e}");
///         std::process::exit(2)
///     });
///     tokio::runtime::Runtime::new()?.block_on(async move {
///         # let (app, tls): (axum::Router, std::sync::Arc<rustls::ServerConfig>) = todo!();
///         let listener = match inherited.listener()? {
///             Some(listener) => listener,
///             None => tokio::net::TcpListener::bind("127.0.0.1:8443").await?,
///         };
///         let notifier = inherited.notifier();
///         let stop = CancellationToken::new(); // cancelled on SIGTERM
///         let handover = Restart::new()
///             .with_notifier(notifier.clone())
///             .watch(&listener, stop.clone())?;
///         let _ = notifier.ready();
///         let report = graceful_tls::server::serve(listener, tls, app)
///             .with_graceful_shutdown(stop.cancelled_owned())
///             .with_handover(&handover)
///             .await;
///         println!("summary: {report}");
///         // Bounded: a would-be successor abandoned by SIGTERM is stopped.
///         let _ = tokio::time::timeout(Restart::DEFAULT_STOP_GRACE * 2, handover.finished()).await;
///         Ok(())
///     })
/// }
/// ```
///
/// The protocol between the generations (see the `server` module's docs):
/// the successor gets `LISTEN_FDS=1` and `LISTEN_FDS_FIRST_FD=N` (the
/// inherited fd, close-on-exec cleared on that one fd during the spawn; no
/// `LISTEN_PID`, which cannot be known before the spawn without `unsafe`),
/// [`GRACEFUL_TLS_HANDOVER`](super::HANDOVER_VAR) (the old pid, which the
/// successor checks against its parent's),
/// [`GRACEFUL_TLS_READY_FD`](super::READY_FD_VAR) (its end of a socket
/// pair, where it sends `READY=1`) and `NOTIFY_SOCKET` only when the old
/// process runs under systemd (systemd's own socket). The successor calls
/// [`Inherited::take`](super::Inherited::take), which takes all that and
/// clears it from its environment, and [`Notifier::ready`].
///
#[doc = include_str!("../docs/restart.md")]
pub struct Restart {
    program: PathBuf,
    args: Vec<OsString>,
    signal: SignalKind,
    ready_timeout: Duration,
    stop_grace: Duration,
    probation: Duration,
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
            .field("stop_grace", &self.stop_grace)
            .field("probation", &self.probation)
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

    /// Default [`with_stop_grace`](Self::with_stop_grace): 25 s. A
    /// would-be successor may already serve connections from the shared
    /// socket, and on SIGTERM it drains them: with
    /// [`Serve`](super::Serve)'s defaults that takes at most 23 s (20 s of
    /// drain, 3 s of flush), so 25 s lets it end every one with
    /// close_notify, and stays under systemd's default `TimeoutStopSec=`
    /// of 90 s (and under 30 s, a common setting). Lower it when the
    /// successor's drain is shorter: [`Handover::finished`] waits this
    /// long at most (plus a few seconds after SIGKILL).
    pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(25);

    /// Default [`with_probation`](Self::with_probation): 5 s. Long enough
    /// for a successor that fails on its first requests (a bad config, a
    /// crash on start) to do so while the old process can still serve;
    /// short enough that generations do not pile up when handovers follow
    /// each other.
    pub const DEFAULT_PROBATION: Duration = Duration::from_secs(5);

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
            stop_grace: Self::DEFAULT_STOP_GRACE,
            probation: Self::DEFAULT_PROBATION,
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

    /// How long an abandoned would-be successor may take to exit after
    /// SIGTERM before it is killed (SIGKILL); default
    /// [`DEFAULT_STOP_GRACE`](Self::DEFAULT_STOP_GRACE). The handover's
    /// task waits for it itself (no detached task that may never run once
    /// the runtime ends), so [`Handover::finished`] resolves only once it
    /// is gone.
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// After a handover, how long the old process keeps watching the
    /// successor (and keeps the listening socket) at least, even when its
    /// own drain ended sooner; default
    /// [`DEFAULT_PROBATION`](Self::DEFAULT_PROBATION). If the successor dies
    /// (a signal, or a failure status) before the drain and the probation
    /// both ended, [`Serve::with_handover`](super::Serve::with_handover)
    /// accepts again. A drain of idle connections ends at once: without a
    /// probation a successor that crashes a second after its `READY=1`
    /// would leave nobody serving. The shutdown signal ends it at once.
    pub fn with_probation(mut self, probation: Duration) -> Self {
        self.probation = probation;
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
    /// SIGTERM: once cancelled, no handover starts, one under way is
    /// abandoned (the successor is stopped; this process drains), and a
    /// successor that took over is no longer watched.
    ///
    /// Fails if the signal handler cannot be installed or the listener not
    /// duplicated (out of fds).
    pub fn watch(self, listener: &TcpListener, stop: CancellationToken) -> io::Result<Handover> {
        let signal = signal(self.signal)?;
        let socket = rustix::io::fcntl_dupfd_cloexec(listener, 3)?;
        let (state, receiver) = watch::channel(State::default());
        let handover = Handover {
            state: receiver,
            probation: self.probation,
            finished: CancellationToken::new(),
            drain_ended: CancellationToken::new(),
        };
        tokio::spawn(self.run(socket, signal, stop, handover.clone(), state));
        Ok(handover)
    }

    async fn run(
        self,
        socket: OwnedFd,
        mut signal: Signal,
        stop: CancellationToken,
        handover: Handover,
        state: watch::Sender<State>,
    ) {
        let _finished = handover.finished.clone().drop_guard();
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                got = signal.recv() => if got.is_none() { return },
            }
            let (pid, child) = match self.attempt(&socket, &mut signal, &stop).await {
                Attempt::TookOver { pid, child } => (pid, child),
                Attempt::Failed(e, abandoned) => {
                    let stopping = matches!(e, RestartError::Stopped { .. });
                    if !stopping {
                        let sent = self.notifier.reload_failed(&e.to_string());
                        self.report_notify("READY=1 (reload failed)", sent);
                    }
                    (self.on_event)(&RestartEvent::Failed(e));
                    if let Some(child) = abandoned {
                        self.stop_successor(child).await;
                    }
                    if stopping {
                        return;
                    }
                    continue;
                }
            };
            let sent = self.notifier.main_pid(pid);
            self.report_notify(&format!("MAINPID={pid}"), sent);
            (self.on_event)(&RestartEvent::HandedOver { pid });
            state.send_modify(|s| s.successor = Some(pid));
            let Some(status) = self
                .watch_successor(child, &mut signal, &stop, &handover)
                .await
            else {
                return;
            };
            state.send_modify(|s| {
                s.successor = None;
                s.lost += 1;
                s.last_lost = pid;
            });
            (self.on_event)(&RestartEvent::SuccessorLost { pid, status });
            let own = std::process::id();
            let sent = self.notifier.main_pid(own);
            self.report_notify(&format!("MAINPID={own}"), sent);
        }
    }

    /// Reports a notification that could not be sent.
    fn report_notify(&self, message: &str, sent: io::Result<()>) {
        if let Err(source) = sent {
            (self.on_event)(&RestartEvent::NotifyFailed {
                message: message.to_owned(),
                source,
            });
        }
    }

    /// After `READY=1`: waits until the successor dies (its exit status,
    /// when that is a failure: this process should serve again), or until
    /// this process's drain ended or `stop` fired (`None`: nothing to
    /// watch for any more).
    async fn watch_successor(
        &self,
        mut child: Child,
        signal: &mut Signal,
        stop: &CancellationToken,
        handover: &Handover,
    ) -> Option<ExitStatus> {
        loop {
            tokio::select! {
                biased;
                _ = handover.drain_ended.cancelled() => return None,
                _ = stop.cancelled() => return None,
                status = child.wait() => return match status {
                    // Status 0: it ended on purpose (stopped, or handed
                    // over to a successor of its own, which serves now).
                    Ok(status) if status.success() => None,
                    Ok(status) => Some(status),
                    // Cannot wait for it: nothing to go by.
                    Err(_) => None,
                },
                _ = signal.recv() => (self.on_event)(&RestartEvent::Ignored),
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
    ) -> Attempt {
        let sent = self.notifier.reloading();
        self.report_notify("RELOADING=1", sent);
        let channel = match ReadyChannel::new() {
            Ok(channel) => channel,
            Err(e) => return Attempt::Failed(RestartError::Prepare(e), None),
        };
        let mut child = match self.spawn(socket, &channel) {
            Ok(child) => child,
            Err(e) => return Attempt::Failed(e, None),
        };
        let ready = channel.close_theirs();
        let pid = child.id().unwrap_or(0);
        (self.on_event)(&RestartEvent::Started { pid });
        let deadline = Instant::now() + self.ready_timeout;
        let abandon = |e: RestartError, child: Child| {
            terminate(&child);
            Attempt::Failed(e, Some(child))
        };
        loop {
            // Compared on every turn: a flood of datagrams on the readiness
            // channel keeps `recv` ready and may starve the timer.
            if Instant::now() >= deadline {
                let timeout = self.ready_timeout;
                return abandon(RestartError::NotReady { pid, timeout }, child);
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => return abandon(RestartError::Stopped { pid }, child),
                status = child.wait() => {
                    return match status {
                        Ok(status) => Attempt::Failed(RestartError::Exited { pid, status }, None),
                        Err(e) => abandon(RestartError::Prepare(e), child),
                    };
                }
                got = ready.recv() => match got {
                    Ok(message) if message.ready => {
                        if sent_by(&message, pid) {
                            return Attempt::TookOver { pid, child };
                        }
                        trace_foreign_ready(message.sender, pid);
                        (self.on_event)(&RestartEvent::ForeignReady {
                            sender: message.sender,
                            successor: pid,
                        });
                    }
                    Ok(_) => {}
                    // Never expected on a socket pair; failing beats
                    // spinning on it until the deadline.
                    Err(e) => return abandon(RestartError::Prepare(e), child),
                },
                _ = signal.recv() => (self.on_event)(&RestartEvent::Ignored),
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn spawn(&self, socket: &OwnedFd, channel: &ReadyChannel) -> Result<Child, RestartError> {
        // Close-on-exec duplicates for this spawn only; their flag is
        // cleared so the successor inherits them, and they are closed here
        // right after.
        let inheritable = |fd: &OwnedFd| -> io::Result<OwnedFd> {
            let fd = rustix::io::fcntl_dupfd_cloexec(fd, 3)?;
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty())?;
            Ok(fd)
        };
        let listener = inheritable(socket).map_err(RestartError::Prepare)?;
        let ready = inheritable(channel.theirs()).map_err(RestartError::Prepare)?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("LISTEN_FDS", "1")
            .env("LISTEN_FDS_FIRST_FD", listener.as_raw_fd().to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(HANDOVER_VAR, std::process::id().to_string())
            .env(READY_FD_VAR, ready.as_raw_fd().to_string())
            .env_remove(LEGACY_SYSTEMD_NOTIFY_SOCKET_VAR);
        match self.notifier.systemd_socket() {
            Some(systemd) => command.env("NOTIFY_SOCKET", systemd),
            None => command.env_remove("NOTIFY_SOCKET"),
        };
        let spawned = command.spawn();
        drop((listener, ready));
        spawned.map_err(|source| RestartError::Spawn {
            program: self.program.clone(),
            source,
        })
    }

    /// Waits for an abandoned would-be successor (SIGTERM was sent) to
    /// exit, [`with_stop_grace`](Self::with_stop_grace) at most, then kills
    /// it; reaped here, so it is gone (no zombie, nothing left running) when
    /// this returns.
    async fn stop_successor(&self, mut child: Child) {
        let pid = child.id().unwrap_or(0);
        let killed = match tokio::time::timeout(self.stop_grace, child.wait()).await {
            Ok(_) => false,
            Err(_) => {
                let _ = tokio::time::timeout(KILL_WAIT, child.kill()).await;
                true
            }
        };
        (self.on_event)(&RestartEvent::SuccessorStopped { pid, killed });
    }
}

/// How one handover attempt ended.
enum Attempt {
    /// The successor said it serves.
    TookOver { pid: u32, child: Child },
    /// It failed; the would-be successor to stop, if it still runs
    /// (SIGTERM was sent).
    Failed(RestartError, Option<Child>),
}

/// Whether a `READY=1` came from the successor `pid`. Without credentials
/// (not Linux), holding the channel is the only check.
fn sent_by(message: &super::ready_channel::Message, pid: u32) -> bool {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        message.sender == Some(pid)
    } else {
        message.sender.is_none_or(|sender| sender == pid)
    }
}

#[cfg(feature = "tracing")]
fn trace_foreign_ready(sender: Option<u32>, successor: u32) {
    tracing::warn!(
        target: "graceful_tls::server",
        sender, successor,
        "READY=1 from a process other than the successor: ignored"
    );
}

#[cfg(not(feature = "tracing"))]
fn trace_foreign_ready(_sender: Option<u32>, _successor: u32) {}

/// Asks a would-be successor to stop: SIGTERM (it drains whatever it
/// accepted). Nothing if it was reaped already.
fn terminate(child: &Child) {
    if let Some(pid) = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
}

/// What the handover's task publishes to [`Handover`] handles.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// The successor that took over, while it lives and this process
    /// drains.
    successor: Option<u32>,
    /// How many successors died after taking over.
    lost: u64,
    /// The last one of them.
    last_lost: u32,
}

/// A running [`Restart`]'s handle: says when a handover succeeded, and when
/// the successor that took over died during this process's drain. Cheap to
/// clone. Give it to [`Serve::with_handover`](super::Serve::with_handover),
/// which does all of this.
#[derive(Debug, Clone)]
pub struct Handover {
    state: watch::Receiver<State>,
    probation: Duration,
    finished: CancellationToken,
    drain_ended: CancellationToken,
}

impl Handover {
    /// Resolves once a successor said it serves (at once while one that did
    /// serves): the server should stop accepting and drain. Its pid. After
    /// [`successor_lost`](Self::successor_lost), it waits for the next
    /// successful handover. Never resolves if no handover succeeds.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn handed_over(&self) -> u32 {
        self.handed_over_at().await.0
    }

    /// [`handed_over`](Self::handed_over), with the count of lost
    /// successors at that moment (for [`lost_after`](Self::lost_after)).
    pub(super) async fn handed_over_at(&self) -> (u32, u64) {
        let mut state = self.state.clone();
        let handed_over = state
            .wait_for(|s| s.successor.is_some())
            .await
            .map(|s| (s.successor.unwrap_or(0), s.lost));
        match handed_over {
            Ok(handed_over) => handed_over,
            // The task ended without a handover.
            Err(_) => std::future::pending().await,
        }
    }

    /// Resolves the next time a successor that took over dies (a signal,
    /// or a failure status) while this process still drains: its pid. The
    /// server should accept again ([`Serve::with_handover`](super::Serve::with_handover)
    /// does); systemd was told `MAINPID=` this process. A later signal may
    /// try a handover again.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits (a loss while no call waits is not
    /// remembered for the next call).
    pub async fn successor_lost(&self) -> u32 {
        let seen = self.state.borrow().lost;
        self.lost_after(seen).await
    }

    /// Resolves once more than `seen` successors were lost: the last one's
    /// pid.
    pub(super) async fn lost_after(&self, seen: u64) -> u32 {
        let mut state = self.state.clone();
        let lost = state.wait_for(|s| s.lost > seen).await.map(|s| s.last_lost);
        match lost {
            Ok(pid) => pid,
            // The task ended: no successor is watched any more.
            Err(_) => std::future::pending().await,
        }
    }

    /// Tells the handover that this process's drain ended: the successor
    /// is no longer watched (this process will not serve again), and the
    /// handover's task ends ([`finished`](Self::finished)).
    /// [`Serve::with_handover`](super::Serve::with_handover) calls it when
    /// it returns.
    pub fn drain_ended(&self) {
        self.drain_ended.cancel();
    }

    /// Resolves when the handover's task has ended: once `stop` fired (a
    /// would-be successor is then stopped first: SIGTERM, at most
    /// [`Restart::with_stop_grace`], SIGKILL, reaped), or after a handover
    /// once the drain ended ([`drain_ended`](Self::drain_ended)) or the
    /// successor ended with status 0. Await it, bounded, before the process
    /// exits, so that SIGTERM during a handover does not leave the
    /// would-be successor running.
    ///
    /// # Cancellation safety
    ///
    /// Cancellation safe: it only waits.
    pub async fn finished(&self) {
        self.finished.cancelled().await;
    }

    /// [`Restart::with_probation`].
    pub(super) fn probation(&self) -> Duration {
        self.probation
    }

    /// The successor's pid, while one that took over serves and this
    /// process drains.
    pub fn successor(&self) -> Option<u32> {
        self.state.borrow().successor
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
            program_from(
                std::env::args_os().next().map(PathBuf::from),
                std::env::current_dir,
                std::env::current_exe,
            )
        })
        .clone()
}

/// [`this_program`]'s decision, from `argv[0]`, the working directory and
/// the running executable (each asked for only when it decides).
fn program_from(
    argv0: Option<PathBuf>,
    cwd: impl FnOnce() -> io::Result<PathBuf>,
    exe: impl FnOnce() -> io::Result<PathBuf>,
) -> PathBuf {
    match argv0 {
        Some(path) if path.as_os_str().as_encoded_bytes().contains(&b'/') => {
            if path.is_absolute() {
                path
            } else {
                cwd().map(|cwd| cwd.join(&path)).unwrap_or(path)
            }
        }
        _ => exe().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures::FutureExt;

    use super::super::ready_channel::Message;
    use super::*;

    /// A handle over a state the test publishes, as the handover's task
    /// does.
    fn handover(probation: Duration) -> (watch::Sender<State>, Handover) {
        let (state, receiver) = watch::channel(State::default());
        let handover = Handover {
            state: receiver,
            probation,
            finished: CancellationToken::new(),
            drain_ended: CancellationToken::new(),
        };
        (state, handover)
    }

    /// On Linux the kernel names the sender: only the successor's own
    /// `READY=1` hands over, not one from a process that inherited the
    /// channel, nor one without credentials.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_ready_counts_only_from_the_successor() {
        let from = |sender| Message {
            ready: true,
            sender,
        };
        assert!(sent_by(&from(Some(4242)), 4242));
        assert!(!sent_by(&from(Some(4243)), 4242));
        assert!(!sent_by(&from(None), 4242));
    }

    /// What the handle says follows what the handover's task publishes:
    /// the successor while it serves, its loss, the drain's end.
    #[tokio::test]
    async fn the_handle_follows_the_handover() {
        let (state, handover) = handover(Duration::from_secs(7));
        assert_eq!(handover.probation(), Duration::from_secs(7));
        assert_eq!(handover.successor(), None);
        assert!(handover.handed_over().now_or_never().is_none());
        // A successor took over, one was lost before it.
        state.send_modify(|s| {
            s.successor = Some(4242);
            s.lost = 1;
        });
        assert_eq!(handover.successor(), Some(4242));
        assert_eq!(handover.handed_over().now_or_never(), Some(4242));
        assert_eq!(handover.handed_over_at().now_or_never(), Some((4242, 1)));
        // Its loss: a wait that saw one loss resolves on the second only.
        let mut lost = pin!(handover.successor_lost());
        assert!(lost.as_mut().now_or_never().is_none());
        assert!(handover.lost_after(1).now_or_never().is_none());
        state.send_modify(|s| {
            s.successor = None;
            s.lost = 2;
            s.last_lost = 4242;
        });
        assert_eq!(lost.now_or_never(), Some(4242));
        assert_eq!(handover.lost_after(1).now_or_never(), Some(4242));
        assert!(handover.lost_after(2).now_or_never().is_none());
        assert_eq!(handover.successor(), None);
        assert!(handover.handed_over().now_or_never().is_none());
        // The drain's end is told to the task; the task's end to the handle.
        assert!(!handover.drain_ended.is_cancelled());
        handover.drain_ended();
        assert!(handover.drain_ended.is_cancelled());
        assert!(handover.finished().now_or_never().is_none());
        handover.finished.cancel();
        assert_eq!(handover.finished().now_or_never(), Some(()));
    }

    /// Each message says what to do, and the I/O failures keep their
    /// cause.
    #[test]
    fn restart_errors_say_what_to_do_and_keep_their_cause() {
        let prepare = RestartError::Prepare(io::Error::other("out of fds"));
        assert!(
            prepare.to_string().contains("retry the signal"),
            "{prepare}"
        );
        assert_eq!(
            prepare.source().map(|e| e.to_string()).as_deref(),
            Some("out of fds")
        );
        let spawn = RestartError::Spawn {
            program: PathBuf::from("/srv/app"),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(
            spawn.to_string().contains("cannot start /srv/app"),
            "{spawn}"
        );
        assert!(spawn.source().is_some());
        let not_ready = RestartError::NotReady {
            pid: 42,
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            not_ready.to_string(),
            "successor pid 42 was not ready within 3s and was asked to stop; still serving, retry the signal"
        );
        assert!(not_ready.source().is_none());
    }

    /// Every setting is kept (each builder returns the same `Restart`,
    /// changed in one field), and the debug output shows them.
    #[test]
    fn the_builder_keeps_every_setting() {
        let restart = Restart::new()
            .with_program("/srv/app/current/server")
            .with_args(["--config", "prod.toml"])
            .with_signal(SignalKind::user_defined2())
            .with_ready_timeout(Duration::from_secs(3))
            .with_stop_grace(Duration::from_secs(4))
            .with_probation(Duration::from_secs(6))
            .with_on_event(|_| {})
            .with_notifier(Notifier::disabled());
        assert_eq!(restart.program(), Path::new("/srv/app/current/server"));
        assert_eq!(restart.ready_timeout(), Duration::from_secs(3));
        let debug = format!("{restart:?}");
        for part in [
            "program: \"/srv/app/current/server\"",
            "args: [\"--config\", \"prod.toml\"]",
            &format!("signal: {:?}", SignalKind::user_defined2()),
            "stop_grace: 4s",
            "probation: 6s",
        ] {
            assert!(debug.contains(part), "{part} not in {debug}");
        }
    }

    /// The default program is a file's absolute path: the test binary's
    /// own here (cargo starts it by an absolute path).
    #[test]
    fn the_default_program_is_an_absolute_path() {
        let program = this_program();
        assert!(program.is_absolute(), "{}", program.display());
        assert!(program.is_file(), "{}", program.display());
    }

    /// `argv[0]` with a `/` is the path the process was started as (made
    /// absolute against the working directory): a deploy that replaced
    /// the file, or a symlink, starts the new binary. Without one (found
    /// through `PATH`), or without `argv[0]`, the running executable.
    #[test]
    fn the_program_follows_argv0_when_it_is_a_path() {
        let cwd = || Ok(PathBuf::from("/home/app"));
        let exe = || Ok(PathBuf::from("/srv/releases/v1/server"));
        let no_cwd = || Err(io::Error::from(io::ErrorKind::NotFound));
        let from = |argv0: Option<&str>| program_from(argv0.map(PathBuf::from), cwd, exe);
        assert_eq!(
            from(Some("/srv/current/server")),
            Path::new("/srv/current/server")
        );
        assert_eq!(
            from(Some("./current/server")),
            Path::new("/home/app/./current/server")
        );
        assert_eq!(from(Some("server")), Path::new("/srv/releases/v1/server"));
        assert_eq!(from(None), Path::new("/srv/releases/v1/server"));
        // No working directory: the relative path as it is.
        assert_eq!(
            program_from(Some(PathBuf::from("bin/server")), no_cwd, exe),
            Path::new("bin/server")
        );
    }
}
