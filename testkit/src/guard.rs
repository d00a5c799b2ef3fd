//! Tests that fail instead of hanging, whatever the code under test does.
//!
//! [`bounded`](crate::bounded) ends a wait on tokio's clock, which cannot
//! end a task that keeps the runtime busy: a loop that stays `Ready`, or a
//! timer re-armed to the instant it fires, never lets the paused clock
//! advance to the bound, and libtest waits for such a test forever (one
//! test hung that way kept `tests/hostile.rs` from exiting after its
//! other failures, so cargo-mutants saw a timeout). [`guarded`],
//! [`guarded_live`] and [`guarded_sync`] run the test body on a thread of its own and, after
//! [`HANG`] of real time, end the whole test process with a failure,
//! naming the test: a hung thread cannot be stopped, keeps a core busy
//! if it spins, and would make every other hung test wait out its own
//! limit (14 tests of `tests/hostile.rs` hung by one mutant took 142 s in
//! turn; now the first ends the process at 20 s).

use std::future::Future;
use std::io::Write;
use std::time::Duration;

/// Real time a guarded test body may take before it counts as hung: ten
/// times what the slowest of them takes on a loaded 2-core machine.
pub const HANG: Duration = Duration::from_secs(20);

/// Runs `body` on a thread of its own, in a current-thread runtime on the
/// paused clock (`#[tokio::test(start_paused = true)]`); if it does not
/// finish within `limit` of real time, ends the test process with exit
/// code 101 (a failed test's) after saying which test hung.
pub fn guarded<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    guarded_sync(limit, move || runtime(true).block_on(body()));
}

/// Like [`guarded`], on the real clock (`#[tokio::test]`): for tests over
/// loopback TCP or with threads and processes, which the paused clock
/// cannot wait for.
pub fn guarded_live<F, Fut>(limit: Duration, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    guarded_sync(limit, move || runtime(false).block_on(body()));
}

/// Like [`guarded`], for a body that is not async (or runs its own
/// runtime, as the fuzz harness does): the replays of the fuzz corpora and
/// the machine's exhaustive walks, which a mutant can turn into a loop
/// that never ends.
pub fn guarded_sync<F>(limit: Duration, body: F)
where
    F: FnOnce() + Send + 'static,
{
    let (done, finished) = std::sync::mpsc::channel();
    let test = std::thread::current()
        .name()
        .unwrap_or("guarded")
        .to_owned();
    std::thread::Builder::new()
        .name(test.clone())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
            let _ = done.send(result);
        })
        .expect("the guarded test's thread");
    match finished.recv_timeout(limit) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => {
            // Straight to the file descriptor: libtest captures `eprintln!`
            // and would never print it.
            let _ = writeln!(
                std::io::stderr(),
                "\ntest {test} hung: no result within {limit:?} of real time; \
                 ending the test process (a hung thread cannot be stopped)"
            );
            std::process::exit(101);
        }
    }
}

fn runtime(paused: bool) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(paused)
        .build()
        .expect("runtime")
}
