//! The `server` example drains on SIGTERM: every `openssl s_client`
//! connected to it receives close_notify, and the summary says how each
//! connection ended. TLS 1.3 and 1.2.

#[allow(dead_code)]
use graceful_tls_testkit::interop;

use std::process::Command;

use interop::{cert, example, openssl, transcripts, Out, Proc, Version, TIMEOUT};

const CLOSE_NOTIFY_READ: &str = "SSL3 alert read:warning:close notify";
const CLIENTS: usize = 6;

/// Starts the server with `args`, connects [`CLIENTS`] idle s_clients (each
/// has read the server's `hi`), sends SIGTERM and waits for everyone.
fn drain_on_sigterm(version: Version, args: &[&str]) -> (Proc, Vec<Proc>) {
    let mut cmd = Command::new(example("server"));
    cmd.args(["--listen", "127.0.0.1:0", "--reply", "hi"])
        .args(["--cert", &cert("server.pem"), "--key", &cert("server.key")])
        .args(version.example_flags())
        .args(args);
    let mut server = Proc::spawn("example server", cmd);
    let listening = server.wait_line(Out::Stdout, TIMEOUT, |l| l.starts_with("listening: "));
    let addr = match listening {
        Some(line) => line.text["listening: ".len()..].to_owned(),
        None => panic!("no `listening:`\n{}", server.transcript()),
    };
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut cmd = openssl();
        cmd.arg("s_client")
            .args(["-connect", &addr, "-servername", "localhost"])
            .args(["-CAfile", &cert("ca.pem"), "-state", "-ign_eof"])
            .args(version.openssl_flags());
        let client = Proc::spawn("openssl s_client", cmd);
        let hi = client.wait_line(Out::Stdout, TIMEOUT, |l| l == "hi");
        assert!(
            hi.is_some(),
            "no `hi`\n{}",
            transcripts(&[&server, &client])
        );
        clients.push(client);
    }
    server.terminate();
    let status = server.wait_exit(TIMEOUT);
    for client in &mut clients {
        client.wait_exit(TIMEOUT);
    }
    let mut all = vec![&server];
    all.extend(clients.iter());
    assert!(
        status.is_some_and(|s| s.success()),
        "server did not exit cleanly\n{}",
        transcripts(&all)
    );
    for client in &clients {
        assert!(
            client.contains(Out::Stderr, CLOSE_NOTIFY_READ),
            "an s_client got no close_notify\n{}",
            transcripts(&all)
        );
    }
    (server, clients)
}

fn summary(server: &Proc) -> String {
    server
        .texts(Out::Stdout)
        .into_iter()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary\n{}", server.transcript()))
}

/// The drain lets each connection close: cancelled read, close_notify, the
/// client's answer within the peer close timeout.
#[test]
fn sigterm_drains_every_connection_gracefully() {
    for version in [Version::Tls13, Version::Tls12] {
        let (server, _clients) = drain_on_sigterm(version, &[]);
        assert_eq!(
            summary(&server),
            format!("summary: connections={CLIENTS} peer-confirmed={CLIENTS}"),
            "\n{}",
            server.transcript()
        );
        assert!(server.contains(
            Out::Stdout,
            &format!("drain: begun, timeout 5000 ms, {CLIENTS} live")
        ));
    }
}

/// A zero drain timeout forces every connection at once: still close_notify,
/// without waiting for the client's answer.
#[test]
fn sigterm_with_zero_timeout_forces_with_close_notify() {
    for version in [Version::Tls13, Version::Tls12] {
        let (server, _clients) = drain_on_sigterm(version, &["--drain-timeout-ms", "0"]);
        assert_eq!(
            summary(&server),
            format!("summary: connections={CLIENTS} forced={CLIENTS} not-awaited={CLIENTS}"),
            "\n{}",
            server.transcript()
        );
        for id in 1..=CLIENTS {
            assert!(server.contains(
                Out::Stdout,
                &format!("conn {id}: close: not-awaited (forced)")
            ));
        }
    }
}
