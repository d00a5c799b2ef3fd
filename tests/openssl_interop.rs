//! Proof on the wire: the `client` and `server` examples against the real
//! `openssl s_server` / `s_client`, in TLS 1.3 and TLS 1.2.
//!
//! OpenSSL's `-state` output (on stderr) says what each side really sent:
//! `SSL3 alert read:warning:close notify` means our close_notify arrived;
//! `unexpected eof while reading` means OpenSSL saw a truncation.
//!
//! The examples run as subprocesses (see [`interop::example`] for how they are
//! located and kept up to date). Every child is killed when its guard drops,
//! every wait is bounded by [`interop::TIMEOUT`], and every case uses its own
//! ports, so the cases run in parallel.

use graceful_tls_testkit::interop;

use interop::{cert, example, free_port, openssl, transcripts, Out, Proc, Version, TIMEOUT};
use std::process::Command;
use std::time::Duration;

const CLOSE_NOTIFY_READ: &str = "SSL3 alert read:warning:close notify";
const CLOSE_NOTIFY_WRITE: &str = "SSL3 alert write:warning:close notify";
const UNEXPECTED_EOF: &str = "unexpected eof";

/// Panics with `msg` and the output of every process in `procs`.
macro_rules! check {
    ($cond:expr, $procs:expr, $($msg:tt)+) => {
        if !$cond {
            panic!("{}\n{}", format!($($msg)+), transcripts($procs));
        }
    };
}

/// Runs `case` once per TLS version, as two `#[test]`s: `case::tls13` and
/// `case::tls12`.
macro_rules! both_versions {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn tls13() {
                super::$case(super::Version::Tls13)
            }
            #[test]
            fn tls12() {
                super::$case(super::Version::Tls12)
            }
        }
    )*};
}

both_versions!(
    client_closes_cleanly,
    client_writes_after_cancel_then_closes,
    client_drop_sends_close_notify,
    client_sees_www_close_notify,
    client_sees_abrupt_eof_on_q,
    server_initiated_close,
    server_sees_s_client_close_notify,
);

/// Starts `openssl s_server -naccept 1` on a free port and waits for
/// `ACCEPT`. Its stdin stays open (a pipe we hold) so it does not quit.
fn start_s_server(version: Version, extra: &[&str]) -> (Proc, u16) {
    for _attempt in 0..3 {
        let port = free_port();
        let mut cmd = openssl();
        cmd.arg("s_server")
            .args(["-accept", &port.to_string()])
            .args(["-cert", &cert("server.pem"), "-key", &cert("server.key")])
            .args(["-state", "-naccept", "1"])
            .args(version.openssl_flags())
            .args(extra);
        let mut server = Proc::spawn("openssl s_server", cmd);
        if server
            .wait_line(Out::Stdout, TIMEOUT, |l| l == "ACCEPT")
            .is_some()
        {
            return (server, port);
        }
        // Another process may have taken the port in between: try another.
        server.wait_exit(Duration::from_secs(2));
        let lost_port = server
            .texts(Out::Stderr)
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("address already in use"));
        check!(lost_port, &[&server], "s_server did not print ACCEPT");
    }
    panic!("s_server could not bind a free port in 3 attempts");
}

/// Starts our `client` example against `127.0.0.1:port`, verifying the
/// certificate for (and sending SNI) `localhost`.
fn start_client(port: u16, version: Version, args: &[&str]) -> Proc {
    let mut cmd = Command::new(example("client"));
    cmd.args(["--connect", &format!("127.0.0.1:{port}")])
        .args(["--server-name", "localhost", "--ca", &cert("ca.pem")])
        .args(version.example_flags())
        .args(args);
    Proc::spawn("example client", cmd)
}

/// Starts our `server` example on `127.0.0.1:0` and returns it with the
/// address it printed.
fn start_server(version: Version, args: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new(example("server"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(["--cert", &cert("server.pem"), "--key", &cert("server.key")])
        .args(version.example_flags())
        .args(args);
    let server = Proc::spawn("example server", cmd);
    let listening = server.wait_line(Out::Stdout, TIMEOUT, |l| l.starts_with("listening: "));
    check!(
        listening.is_some(),
        &[&server],
        "server did not print `listening: ADDR`"
    );
    let addr = listening.unwrap().text["listening: ".len()..].to_owned();
    (server, addr)
}

/// Starts `openssl s_client` against `addr`, verifying against our CA.
fn start_s_client(addr: &str, version: Version, extra: &[&str]) -> Proc {
    let mut cmd = openssl();
    cmd.arg("s_client")
        .args(["-connect", addr, "-servername", "localhost"])
        .args(["-CAfile", &cert("ca.pem"), "-state"])
        .args(version.openssl_flags())
        .args(extra);
    Proc::spawn("openssl s_client", cmd)
}

/// Waits for `proc` to exit successfully; `all` are shown on failure.
fn expect_success(proc: &mut Proc, others: &[&Proc]) {
    let status = proc.wait_exit(TIMEOUT);
    let mut all = vec![&*proc];
    all.extend_from_slice(others);
    check!(
        status.is_some_and(|s| s.success()),
        &all,
        "expected a successful exit within {TIMEOUT:?}, got {status:?}"
    );
}

/// OpenSSL saw our close_notify and no truncation.
fn check_close_notify_received(s_server: &Proc, all: &[&Proc]) {
    check!(
        s_server.contains(Out::Stderr, CLOSE_NOTIFY_READ),
        all,
        "s_server's stderr lacks `{CLOSE_NOTIFY_READ}`"
    );
    for out in [Out::Stdout, Out::Stderr] {
        check!(
            !s_server.contains(out, UNEXPECTED_EOF),
            all,
            "s_server reported `{UNEXPECTED_EOF}` on {out:?}"
        );
    }
}

/// (a) The client sends a line, its token fires, and it closes: OpenSSL
/// receives the data and then our close_notify, and answers with its own.
fn client_closes_cleanly(version: Version) {
    let (mut s_server, port) = start_s_server(version, &[]);
    let mut client = start_client(
        port,
        version,
        &["--send", "hello", "--cancel-after-ms", "300"],
    );
    expect_success(&mut client, &[&s_server]);
    expect_success(&mut s_server, &[&client]);
    let all = [&s_server, &client];

    let expected = [
        format!("handshake: {} full", version.printed()),
        "read: cancelled".to_owned(),
        "close: peer-confirmed".to_owned(),
    ];
    check!(
        client.texts(Out::Stdout) == expected,
        &all,
        "expected client stdout {expected:?}"
    );
    check!(
        s_server.contains(Out::Stdout, "hello"),
        &all,
        "s_server did not print `hello`"
    );
    check_close_notify_received(&s_server, &all);
}

/// (b) A read is pending when the token fires; the client then writes and
/// closes. The write must reach OpenSSL before the close_notify.
fn client_writes_after_cancel_then_closes(version: Version) {
    let (mut s_server, port) = start_s_server(version, &[]);
    let mut client = start_client(
        port,
        version,
        &[
            "--cancel-after-ms",
            "300",
            "--send-after-cancel",
            "after-cancel",
        ],
    );
    expect_success(&mut client, &[&s_server]);
    expect_success(&mut s_server, &[&client]);
    let all = [&s_server, &client];

    let expected = [
        format!("handshake: {} full", version.printed()),
        "read: cancelled".to_owned(),
        "close: peer-confirmed".to_owned(),
    ];
    check!(
        client.texts(Out::Stdout) == expected,
        &all,
        "expected client stdout {expected:?}"
    );
    check_close_notify_received(&s_server, &all);
    // s_server prints `DONE` when SSL_read reports the close_notify and reads
    // nothing after it: data printed before `DONE` arrived before it.
    let data = s_server.position(Out::Stdout, "after-cancel");
    let done = s_server.position(Out::Stdout, "DONE");
    check!(
        matches!((data, done), (Some(d), Some(n)) if d < n),
        &all,
        "s_server should print `after-cancel` and then `DONE` (data line {data:?}, DONE line {done:?})"
    );
}

/// (c) Dropping the stream without close() still sends close_notify.
fn client_drop_sends_close_notify(version: Version) {
    let (mut s_server, port) = start_s_server(version, &[]);
    let mut client = start_client(
        port,
        version,
        &["--send", "hello", "--cancel-after-ms", "300", "--drop"],
    );
    expect_success(&mut client, &[&s_server]);
    expect_success(&mut s_server, &[&client]);
    let all = [&s_server, &client];

    let expected = [
        format!("handshake: {} full", version.printed()),
        "read: cancelled".to_owned(),
        "dropped".to_owned(),
    ];
    check!(
        client.texts(Out::Stdout) == expected,
        &all,
        "expected client stdout {expected:?}"
    );
    check!(
        s_server.contains(Out::Stdout, "hello"),
        &all,
        "s_server did not print `hello`"
    );
    check_close_notify_received(&s_server, &all);
}

/// `s_server -www` answers one request and sends close_notify: the client
/// reads the page and then `close-notify`.
fn client_sees_www_close_notify(version: Version) {
    let (mut s_server, port) = start_s_server(version, &["-www"]);
    // One line is enough: s_server -www answers as soon as it reads a line
    // starting with `GET `. Sending more could leave unread bytes at close
    // and turn its FIN into an RST.
    let mut client = start_client(port, version, &["--send", "GET / HTTP/1.0"]);
    expect_success(&mut client, &[&s_server]);
    expect_success(&mut s_server, &[&client]);
    let all = [&s_server, &client];

    let lines = client.texts(Out::Stdout);
    let data: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("read: data "))
        .collect();
    check!(
        lines.first().map(String::as_str)
            == Some(&*format!("handshake: {} full", version.printed())),
        &all,
        "client's first line should be the handshake"
    );
    check!(
        !data.is_empty(),
        &all,
        "client read no data from s_server -www"
    );
    check!(
        lines[1..1 + data.len()]
            .iter()
            .all(|l| l.starts_with("read: data ")),
        &all,
        "client's data lines should come right after the handshake"
    );
    check!(
        lines[1 + data.len()..] == ["read: close-notify", "close: peer-closed-first"],
        &all,
        "client should end with `read: close-notify` and `close: peer-closed-first`"
    );
    check!(
        s_server.contains(Out::Stderr, CLOSE_NOTIFY_WRITE),
        &all,
        "s_server's stderr lacks `{CLOSE_NOTIFY_WRITE}`"
    );
}

/// `q` on s_server's stdin closes the socket without close_notify: the
/// client reports `abrupt-eof`.
fn client_sees_abrupt_eof_on_q(version: Version) {
    let (mut s_server, port) = start_s_server(version, &[]);
    let mut client = start_client(port, version, &["--send", "hi"]);
    // Once s_server printed the client's line, the client is reading.
    let got = s_server.wait_line(Out::Stdout, TIMEOUT, |l| l == "hi");
    check!(
        got.is_some(),
        &[&s_server, &client],
        "s_server did not print `hi`"
    );
    s_server.write_stdin("q\n");
    expect_success(&mut client, &[&s_server]);
    expect_success(&mut s_server, &[&client]);
    let all = [&s_server, &client];

    let expected = [
        format!("handshake: {} full", version.printed()),
        "read: abrupt-eof".to_owned(),
        "close: peer-eof".to_owned(),
    ];
    check!(
        client.texts(Out::Stdout) == expected,
        &all,
        "expected client stdout {expected:?}"
    );
    check!(
        !s_server.contains(Out::Stderr, CLOSE_NOTIFY_WRITE),
        &all,
        "s_server should not have sent close_notify after `q`"
    );
}

/// Our server closes first (`--close-after-ms`): s_client receives the
/// close_notify and answers; the server reports `peer-confirmed`.
fn server_initiated_close(version: Version) {
    let (mut server, addr) =
        start_server(version, &["--close-after-ms", "300", "--max-conns", "1"]);
    let mut s_client = start_s_client(&addr, version, &["-ign_eof"]);
    expect_success(&mut s_client, &[&server]);
    expect_success(&mut server, &[&s_client]);
    let all = [&server, &s_client];

    let expected = [
        format!("listening: {addr}"),
        format!("conn 1: handshake: {}", version.printed()),
        "conn 1: read: cancelled".to_owned(),
        "conn 1: close: peer-confirmed".to_owned(),
        "summary: connections=1 peer-confirmed=1".to_owned(),
    ];
    check!(
        server.texts(Out::Stdout) == expected,
        &all,
        "expected server stdout {expected:?}"
    );
    check!(
        s_client.contains(Out::Stderr, CLOSE_NOTIFY_READ),
        &all,
        "s_client's stderr lacks `{CLOSE_NOTIFY_READ}`"
    );
    check!(
        s_client.contains(Out::Stdout, "Verify return code: 0 (ok)"),
        &all,
        "s_client did not verify the server certificate"
    );
}

/// s_client (without `-ign_eof`) sends close_notify when its stdin ends:
/// our server reports `read: close-notify`.
fn server_sees_s_client_close_notify(version: Version) {
    let (mut server, addr) = start_server(version, &["--reply", "hi", "--max-conns", "1"]);
    let mut s_client = start_s_client(&addr, version, &[]);
    // Wait for the reply: the handshake is done and s_client has read the
    // TLS 1.3 session tickets (sent before it), so closing now leaves nothing
    // unread that could turn its FIN into an RST.
    let got = s_client.wait_line(Out::Stdout, TIMEOUT, |l| l == "hi");
    check!(
        got.is_some(),
        &[&server, &s_client],
        "s_client did not print `hi`"
    );
    s_client.close_stdin();
    expect_success(&mut s_client, &[&server]);
    expect_success(&mut server, &[&s_client]);
    let all = [&server, &s_client];

    let expected = [
        format!("listening: {addr}"),
        format!("conn 1: handshake: {}", version.printed()),
        "conn 1: read: close-notify".to_owned(),
        "conn 1: close: peer-closed-first".to_owned(),
        "summary: connections=1 peer-closed-first=1".to_owned(),
    ];
    check!(
        server.texts(Out::Stdout) == expected,
        &all,
        "expected server stdout {expected:?}"
    );
    check!(
        s_client.contains(Out::Stderr, CLOSE_NOTIFY_WRITE),
        &all,
        "s_client's stderr lacks `{CLOSE_NOTIFY_WRITE}`"
    );
}
