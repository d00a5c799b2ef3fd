//! The server examples' restarts (feature `restart`): the socket passed by
//! systemd or by the previous generation, the SIGHUP handover and the
//! systemd notifications.

use std::sync::Mutex;

use graceful_tls::server::{Inherited, ListenError, Notifier, Restart, RestartEvent};
use tokio::net::TcpListener;

use super::{Args, Shutdown};
use crate::common::{chain, say};

/// What `take_before_runtime` took, for `inherited` to use once the
/// runtime runs.
static TAKEN: Mutex<Option<Result<Inherited, ListenError>>> = Mutex::new(None);

/// Takes the passed socket, the readiness channel and `NOTIFY_SOCKET`, and
/// clears their variables from the environment: from `fn main()`, before
/// the runtime's threads start.
pub fn take_before_runtime() {
    let taken = Inherited::take(None);
    *TAKEN.lock().unwrap_or_else(|e| e.into_inner()) = Some(taken);
}

/// The listening socket passed to us, if any.
pub fn inherited() -> Result<Option<TcpListener>, String> {
    let taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner()).take();
    match taken {
        None => Ok(None),
        Some(Ok(mut inherited)) => inherited
            .listener()
            .map_err(|e| format!("cannot serve the passed socket: {e}")),
        Some(Err(e @ (ListenError::OtherProcess { .. } | ListenError::NotOurHandover { .. }))) => {
            eprintln!("warning: {e}");
            Ok(None)
        }
        Some(Err(e)) => Err(format!("cannot serve the passed socket: {}", chain(&e))),
    }
}

/// Starts watching for SIGHUP (the server drains on a handover through
/// `Serve::with_handover`, and serves again if the successor dies during
/// that drain); the first SIGTERM stops the watch and tells systemd
/// `STOPPING=1` (`Shutdown::announce`).
pub fn watch(args: &Args, listener: &TcpListener, shutdown: &mut Shutdown) {
    // What `Inherited::take` took (NOTIFY_SOCKET is no longer in the
    // environment).
    let notifier = Notifier::from_env();
    shutdown.notifier = notifier.clone();
    shutdown.stop_grace = args.restart_stop_grace;
    let restart = Restart::new()
        .with_notifier(notifier)
        .with_ready_timeout(args.restart_timeout)
        .with_stop_grace(args.restart_stop_grace)
        .with_probation(args.restart_probation)
        .with_on_event(|event| match event {
            RestartEvent::Started { pid } => say!("restart: started pid {pid}"),
            RestartEvent::HandedOver { pid } => {
                say!("restart: handed over to pid {pid}");
                say!("drain: begun");
            }
            RestartEvent::Failed(e) => say!("restart: failed: {}", chain(e)),
            RestartEvent::Ignored => say!("restart: signal ignored, a handover is under way"),
            RestartEvent::ForeignReady { sender, successor } => match sender {
                Some(sender) => say!(
                    "restart: ignored READY=1 from pid {sender}, not the successor pid {successor}"
                ),
                None => say!(
                    "restart: ignored READY=1 from an unknown process, not the successor pid {successor}"
                ),
            },
            RestartEvent::SuccessorLost { pid, status } => {
                say!("restart: successor pid {pid} died ({status}), serving again")
            }
            RestartEvent::SuccessorStopped { pid, killed } => {
                let how = if *killed { "killed (SIGKILL)" } else { "exited after SIGTERM" };
                say!("restart: abandoned successor pid {pid} {how}");
            }
            RestartEvent::NotifyFailed { message, source } => {
                say!("notify: cannot send {message}: {source}")
            }
            _ => {}
        });
    match restart.watch(listener, shutdown.signals.drain_token()) {
        Ok(handover) => shutdown.handover = Some(handover),
        Err(e) => say!("restart: unavailable: {e}"),
    }
}

/// Tells systemd, or the previous generation, that we serve.
pub fn ready(shutdown: &Shutdown) {
    if let Err(e) = shutdown.notifier.ready() {
        say!("notify: cannot send READY=1: {e}");
    }
}
