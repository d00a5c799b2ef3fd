//! The server examples' restarts (feature `restart`): the socket passed by
//! systemd or by the previous generation, the SIGHUP handover and the
//! systemd notifications.

use graceful_tls::server::{inherited_listener, ListenError, Notifier, Restart, RestartEvent};
use graceful_tls::CancellationToken;
use tokio::net::TcpListener;

use super::{Args, Shutdown};
use crate::common::{chain, say};

/// The listening socket passed to us, if any.
pub fn inherited() -> Result<Option<TcpListener>, String> {
    match inherited_listener(None) {
        Ok(listener) => Ok(listener),
        Err(e @ ListenError::OtherProcess { .. }) => {
            eprintln!("warning: {e}");
            Ok(None)
        }
        Err(e) => Err(format!("cannot serve the passed socket: {}", chain(&e))),
    }
}

/// Starts watching for SIGHUP: a successful handover fires
/// `shutdown.begin`; SIGTERM (`shutdown.drain`) tells systemd `STOPPING=1`.
pub fn watch(args: &Args, listener: &TcpListener, shutdown: &mut Shutdown) {
    let notifier = Notifier::from_env();
    shutdown.notifier = notifier.clone();
    let restart = Restart::new()
        .with_notifier(notifier.clone())
        .with_ready_timeout(args.restart_timeout)
        .with_on_event(|event| match event {
            RestartEvent::Started { pid } => say!("restart: started pid {pid}"),
            RestartEvent::HandedOver { pid } => say!("restart: handed over to pid {pid}"),
            RestartEvent::Failed(e) => say!("restart: failed: {}", chain(e)),
            RestartEvent::Ignored => say!("restart: signal ignored, a handover is under way"),
            _ => {}
        });
    let handover = match restart.watch(listener, shutdown.drain.clone()) {
        Ok(handover) => handover,
        Err(e) => {
            say!("restart: unavailable: {e}");
            return;
        }
    };
    shutdown.handover = Some(handover.clone());
    // The drain begins once systemd was told why: STOPPING=1 on SIGTERM
    // (sent before the drain, so that a quick drain cannot exit first).
    shutdown.begin = CancellationToken::new();
    let (drain, begin) = (shutdown.drain.clone(), shutdown.begin.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = drain.cancelled() => {
                let _ = notifier.stopping();
            }
            _ = handover.handed_over() => say!("drain: begun"),
        }
        begin.cancel();
    });
}

/// Tells systemd, or the previous generation, that we serve.
pub fn ready(shutdown: &Shutdown) {
    if let Err(e) = shutdown.notifier.ready() {
        say!("notify: cannot send READY=1: {e}");
    }
}
