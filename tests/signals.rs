//! `graceful_tls::Signals` with real signals: in this process (the test
//! sends them to itself with the `kill` command), and in a server example
//! (`examples/axum_server`, whose `server_cli` uses it) whose drain a
//! streaming response holds: the first SIGTERM drains, the second aborts.
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use graceful_tls::Signals;
use graceful_tls_testkit::{certs, interop, pairs};
use interop::{Out, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// How long any one wait for a signal's effect may take.
const WAIT: Duration = Duration::from_secs(20);

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "kill {signal} {pid} failed"
    );
}

// One test function: every signal this process gets reaches every
// `Signals` in it, so the cases run one after the other.
#[tokio::test]
async fn first_signal_drains_second_aborts() {
    let me = std::process::id();
    let signals = Signals::install().expect("install the handlers");
    assert!(!signals.is_draining() && !signals.is_aborting());
    // Made before the signals: owned futures, resolved by them.
    let (drain, abort) = (signals.drain(), signals.abort());
    kill("-TERM", me);
    timeout(WAIT, drain)
        .await
        .expect("SIGTERM starts the drain");
    assert!(signals.is_draining());
    // The first signal does not abort.
    assert!(timeout(Duration::from_millis(300), signals.abort())
        .await
        .is_err());
    assert!(!signals.is_aborting());
    // SIGINT counts as well.
    kill("-INT", me);
    timeout(WAIT, abort).await.expect("a second signal aborts");
    assert!(signals.is_aborting());
    // Futures made afterwards resolve at once.
    timeout(WAIT, signals.drain()).await.expect("drain again");
    timeout(WAIT, signals.clone().abort())
        .await
        .expect("abort again");

    // Code may start the drain (an admin endpoint): the next signal then
    // aborts.
    let signals = Signals::install().expect("install again");
    signals.drain_token().cancel();
    timeout(WAIT, signals.drain())
        .await
        .expect("drain from code");
    kill("-INT", me);
    timeout(WAIT, signals.abort())
        .await
        .expect("the next signal aborts");
}

/// The server example with a `/stream` response in flight (a tick every
/// 100 ms, until the connection ends) and a 60 s drain: the first SIGTERM
/// begins the drain, which the stream holds; the second aborts at once,
/// forcing the stream's connection with close_notify, and the process
/// exits 0 with its summary, long before the drain's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_example_first_sigterm_drains_second_aborts() {
    let mut cmd = Command::new(interop::example_all_features("axum_server"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(["--cert", &certs::path("server.pem")])
        .args(["--key", &certs::path("server.key")])
        .args(["--drain-timeout-ms", "60000"]);
    let mut server = Proc::spawn("axum_server", cmd);
    let listening = server.wait_line(Out::Stdout, WAIT, |l| l.starts_with("listening: "));
    let addr = match listening {
        Some(line) => line.text["listening: ".len()..]
            .parse()
            .expect("an address"),
        None => panic!("no `listening:`\n{}", server.transcript()),
    };
    let ready = server.wait_line(Out::Stdout, WAIT, |l| l.starts_with("ready: pid "));
    assert!(ready.is_some(), "{}", server.transcript());

    let mut client = pairs::connect_alpn(addr, b"http/1.1").await;
    client
        .write_all(b"GET /stream HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .expect("request");
    client.flush().await.expect("flush");
    let reading = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = client.read(&mut buf).await {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    // Wait for the stream to be under way (its first tick is out).
    tokio::time::sleep(Duration::from_millis(300)).await;

    kill("-TERM", server_pid(&server));
    let begun = server.wait_line(Out::Stdout, WAIT, |l| l == "drain: begun");
    assert!(begun.is_some(), "{}", server.transcript());
    // The stream holds the drain (60 s): the server still runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "exited before the second signal\n{}",
        server.transcript()
    );
    assert!(!server.contains(Out::Stdout, "summary:"));

    kill("-TERM", server_pid(&server));
    let status = tokio::task::block_in_place(|| server.wait_exit(WAIT));
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit after the second signal\n{}",
        server.transcript()
    );
    let texts = server.texts(Out::Stdout);
    let at = |prefix: &str| texts.iter().position(|l| l.starts_with(prefix));
    let (begun, aborting, summary) = (
        at("drain: begun"),
        at("drain: second signal, aborting"),
        at("summary: "),
    );
    assert!(
        begun.is_some() && begun < aborting && aborting < summary,
        "{}",
        server.transcript()
    );
    let summary = &texts[summary.expect("a summary")];
    assert!(
        summary.contains("connections=1 ") && summary.contains("forced=1"),
        "{}",
        server.transcript()
    );
    let seen = timeout(WAIT, reading)
        .await
        .expect("the client's read ended")
        .expect("client task");
    assert!(
        String::from_utf8_lossy(&seen).contains("tick"),
        "the stream was under way"
    );
}

/// The pid of the example (from its `ready: pid N` line).
fn server_pid(server: &Proc) -> u32 {
    server
        .texts(Out::Stdout)
        .iter()
        .find_map(|l| l.strip_prefix("ready: pid "))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `ready: pid`\n{}", server.transcript()))
}
