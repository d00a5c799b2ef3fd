//! The old process's end of a handover's readiness channel: a unix
//! datagram socket pair, one end kept, the other inherited by the
//! successor (its fd number in [`READY_FD_VAR`](super::READY_FD_VAR)).
//!
//! A pair has no name: no file in a shared directory that another local
//! user could create first (making every handover fail) or write
//! `READY=1` to (making the old process drain while nobody else serves).
//! Only processes that hold the other end can write to it: the successor,
//! and whatever inherits the fd from it or, during the spawn, from this
//! process. So on Linux each datagram also carries its sender's pid,
//! checked by the kernel (`SO_PASSCRED`), and a `READY=1` from any process
//! other than the successor is ignored and reported. Elsewhere holding the
//! fd is the only check.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram as StdDatagram;

use tokio::net::UnixDatagram;

/// One datagram read from the channel.
pub(super) struct Message {
    /// Whether a line of it is `READY=1`.
    pub(super) ready: bool,
    /// The sender's pid, as the kernel saw it; `None` where credentials
    /// are not passed (not Linux) or none came.
    pub(super) sender: Option<u32>,
}

/// The channel of one handover attempt.
pub(super) struct ReadyChannel {
    ours: UnixDatagram,
    /// The successor's end, close-on-exec: [`Restart`](super::Restart)
    /// duplicates it without the flag for the spawn, and drops it after.
    theirs: OwnedFd,
}

impl ReadyChannel {
    /// A new pair (both ends close-on-exec, as std creates them). Needs a
    /// tokio runtime.
    pub(super) fn new() -> io::Result<ReadyChannel> {
        let (ours, theirs) = StdDatagram::pair()?;
        // Before anything can be sent: the kernel attaches the sender's
        // credentials to datagrams sent after this.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        rustix::net::sockopt::set_socket_passcred(&ours, true)?;
        ours.set_nonblocking(true)?;
        Ok(ReadyChannel {
            ours: UnixDatagram::from_std(ours)?,
            theirs: OwnedFd::from(theirs),
        })
    }

    /// The successor's end.
    pub(super) fn theirs(&self) -> &OwnedFd {
        &self.theirs
    }

    /// Closes this process's copy of the successor's end (after the
    /// spawn): the successor's copy is then the only one.
    pub(super) fn close_theirs(self) -> ReadyReceiver {
        ReadyReceiver { ours: self.ours }
    }
}

/// The kept end, once the successor was spawned.
pub(super) struct ReadyReceiver {
    ours: UnixDatagram,
}

impl ReadyReceiver {
    /// The next datagram.
    ///
    /// # Cancellation safety
    ///
    /// Cancel-safe: a datagram is read whole or not at all.
    pub(super) async fn recv(&self) -> io::Result<Message> {
        self.ours
            .async_io(tokio::io::Interest::READABLE, || read_one(&self.ours))
            .await
    }
}

/// Reads one datagram (non-blocking) with its sender's credentials.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_one(socket: &UnixDatagram) -> io::Result<Message> {
    use std::io::IoSliceMut;
    use std::mem::MaybeUninit;

    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

    let mut bytes = [0u8; 1024];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // CMSG_CLOEXEC: a sender that passes fds (it should not) cannot leak
    // them into our children; they are closed when `control` drains.
    let got = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut bytes)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut sender = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmCredentials(cred) = message {
            sender = u32::try_from(cred.pid.as_raw_nonzero().get()).ok();
        }
    }
    let n = got.bytes.min(bytes.len());
    Ok(Message {
        ready: says_ready(&bytes[..n]),
        sender,
    })
}

/// Reads one datagram (non-blocking); no credentials here.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_one(socket: &UnixDatagram) -> io::Result<Message> {
    let mut bytes = [0u8; 1024];
    let n = socket.try_recv(&mut bytes)?;
    Ok(Message {
        ready: says_ready(&bytes[..n]),
        sender: None,
    })
}

/// Whether a notification datagram holds a `READY=1` line.
fn says_ready(message: &[u8]) -> bool {
    message
        .split(|&b| b == b'\n')
        .any(|line| line == b"READY=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_lines() {
        assert!(says_ready(b"READY=1"));
        assert!(says_ready(b"STATUS=x\nREADY=1\n"));
        assert!(!says_ready(b"READY=0\n"));
        assert!(!says_ready(b"XREADY=1"));
    }

    /// The kernel's pid of the sender comes with each datagram.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn sender_pid() {
        let channel = ReadyChannel::new().unwrap();
        let theirs = StdDatagram::from(channel.theirs().try_clone().unwrap());
        let receiver = channel.close_theirs();
        theirs.send(b"READY=1\n").unwrap();
        let got = receiver.recv().await.unwrap();
        assert!(got.ready);
        assert_eq!(got.sender, Some(std::process::id()));
        theirs.send(b"STATUS=hi\n").unwrap();
        assert!(!receiver.recv().await.unwrap().ready);
    }
}
