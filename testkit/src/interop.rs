//! Helpers for the OpenSSL interop tests: locating (and refreshing) the
//! example binaries, child processes that are always killed, and live capture
//! of their output with bounded waits.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Every wait in these tests is bounded by this, so a broken case fails
/// instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Bounds the one build of the examples (a no-op when they are fresh; a few
/// seconds when only they changed; longer if another cargo holds the lock).
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// The TLS version a case runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Tls12,
    Tls13,
}

impl Version {
    /// What our examples print after `handshake: `.
    pub fn printed(self) -> &'static str {
        match self {
            Version::Tls12 => "Tls12",
            Version::Tls13 => "Tls13",
        }
    }

    /// Flags for `openssl s_server` / `s_client` (TLS 1.3 is their default).
    pub fn openssl_flags(self) -> &'static [&'static str] {
        match self {
            Version::Tls12 => &["-tls1_2"],
            Version::Tls13 => &[],
        }
    }

    /// Flags for our examples (TLS 1.3 is rustls' default).
    pub fn example_flags(self) -> &'static [&'static str] {
        match self {
            Version::Tls12 => &["--tls12"],
            Version::Tls13 => &[],
        }
    }
}

/// `testkit/certs/<name>`.
pub fn cert(name: &str) -> String {
    crate::certs::path(name)
}

/// The `openssl` command, after checking that it runs.
pub fn openssl() -> Command {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| match Command::new("openssl").arg("version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "openssl CLI not found: install it (apt-get install openssl) \
             (`openssl version` failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "openssl CLI not found: install it (apt-get install openssl) ({e})"
        )),
    });
    if let Err(message) = checked {
        panic!("{message}");
    }
    Command::new("openssl")
}

/// The path of an example binary (`client` or `server`), built and up to date.
///
/// The examples live in `target/<profile>/examples/`, next to the `deps/`
/// directory that holds this test executable. A plain `cargo test` builds
/// them, but `cargo test --test openssl_interop` does not (it builds only the
/// selected targets), and an older binary may be stale. So, once per test
/// process, this runs `cargo build --example client --example server` with
/// the same cargo, profile and target directory (and `--features signals`,
/// which both need): a no-op taking a few tens of
/// milliseconds when they are fresh.
pub fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match DIR.get_or_init(build_examples) {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example binary {} not found after building the examples",
        path.display()
    );
    path
}

/// Like [`example`], for an example that needs features: builds `name`
/// with `--all-features` (what the README's test command builds, so the
/// library's artifacts are shared), once per test process and name.
pub fn example_all_features(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, Result<PathBuf, String>)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|(n, _)| n == name) {
        let result = build(&["--example", name, "--all-features"]);
        built.push((name.to_owned(), result));
    }
    let dir = match built.iter().find(|(n, _)| n == name).map(|(_, r)| r) {
        Some(Ok(dir)) => dir.clone(),
        Some(Err(message)) => panic!("{message}"),
        None => unreachable!("pushed above"),
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example binary {} not found after building it",
        path.display()
    );
    path
}

fn build_examples() -> Result<PathBuf, String> {
    // Both drain (cancel) on signals with `graceful_tls::Signals`.
    build(&[
        "--example",
        "client",
        "--example",
        "server",
        "--features",
        "signals",
    ])
}

fn build(what: &[&str]) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // target/<profile>/deps/openssl_interop-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))?;
    let profile = profile_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::workspace_root())
        .args(["build", "--quiet", "--package", "graceful-tls"])
        .args(what)
        .arg("--target-dir")
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // `cargo test` runs us with the variables it sets for the crate being
    // tested. Passing them on would make build scripts that watch them (ring
    // watches CARGO_MANIFEST_DIR, for instance) rebuild in the nested build,
    // and then again in the next outer one.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let set_by_cargo_test = key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_EXE_")
            || matches!(
                &*key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "OUT_DIR"
            );
        if set_by_cargo_test {
            cmd.env_remove(&*key);
        }
    }
    let mut build = Proc::spawn(&format!("cargo build {}", what.join(" ")), cmd);
    match build.wait_exit(BUILD_TIMEOUT) {
        Some(status) if status.success() => Ok(profile_dir.join("examples")),
        Some(_) => Err(format!(
            "building the examples failed:\n{}",
            build.transcript()
        )),
        None => Err(format!(
            "building the examples took more than {BUILD_TIMEOUT:?}:\n{}",
            build.transcript()
        )),
    }
}

/// A port that was free a moment ago: bind port 0, read it, release it.
/// Ports handed out before by this process are skipped, so parallel cases
/// never share one.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        drop(listener);
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The instant all output timestamps count from (the first use in this test
/// process), so lines of different processes can be compared.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Which output of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    Stderr,
}

/// A line of output and when it was read, relative to [`epoch`].
#[derive(Debug, Clone)]
pub struct Line {
    pub at: Duration,
    pub text: String,
}

#[derive(Default)]
struct Capture {
    state: Mutex<CaptureState>,
    changed: Condvar,
}

#[derive(Default)]
struct CaptureState {
    lines: Vec<Line>,
    eof: bool,
}

impl Capture {
    /// Reads `pipe` line by line on a thread of its own until EOF.
    fn start(pipe: impl Read + Send + 'static) -> Arc<Capture> {
        let capture = Arc::new(Capture::default());
        let writer = capture.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut bytes = Vec::new();
            loop {
                bytes.clear();
                match reader.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&bytes)
                            .trim_end_matches(['\r', '\n'])
                            .to_owned();
                        let mut state = writer.state.lock().unwrap();
                        state.lines.push(Line {
                            at: epoch().elapsed(),
                            text,
                        });
                        writer.changed.notify_all();
                    }
                }
            }
            writer.state.lock().unwrap().eof = true;
            writer.changed.notify_all();
        });
        capture
    }

    /// Waits until a line matches, or EOF, or the deadline.
    fn wait_for(&self, matches: &dyn Fn(&str) -> bool, deadline: Instant) -> Option<Line> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(line) = state.lines.iter().find(|l| matches(&l.text)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if state.eof || now >= deadline {
                return None;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn wait_eof(&self, deadline: Instant) {
        let mut state = self.state.lock().unwrap();
        while !state.eof {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn lines(&self) -> Vec<Line> {
        self.state.lock().unwrap().lines.clone()
    }
}

/// A child process whose stdout and stderr are captured live, and which is
/// killed when dropped (also when a test panics).
pub struct Proc {
    name: String,
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Capture>,
    stderr: Arc<Capture>,
    /// When it was spawned, relative to [`epoch`].
    started: Duration,
    status: Option<ExitStatus>,
}

/// Spawns `cmd`, retrying while the executable is busy (ETXTBSY). Tests
/// that copy a binary and run it race with the other tests' spawns: a child
/// forked while the copy's file was open for writing holds that descriptor
/// until it executes its own program, and until then the kernel refuses to
/// run the copy (rust-lang/rust#114554). The window is a fork's length, so
/// a few short retries close it.
fn spawn_retrying_busy(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

impl Proc {
    /// Spawns `cmd` with all three standard streams piped. Stdin stays open
    /// until [`close_stdin`](Self::close_stdin) or drop.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let command = format!("{cmd:?}");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawn_retrying_busy(&mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}\n  command: {command}"));
        let started = epoch().elapsed();
        let stdin = child.stdin.take();
        let stdout = Capture::start(child.stdout.take().expect("piped stdout"));
        let stderr = Capture::start(child.stderr.take().expect("piped stderr"));
        Proc {
            name: name.to_owned(),
            command,
            child,
            stdin,
            stdout,
            stderr,
            started,
            status: None,
        }
    }

    fn capture(&self, out: Out) -> &Capture {
        match out {
            Out::Stdout => &self.stdout,
            Out::Stderr => &self.stderr,
        }
    }

    /// Waits (at most `timeout`) for a line of `out` that satisfies
    /// `matches`. `None` if the stream ended or the time ran out first.
    pub fn wait_line(
        &self,
        out: Out,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<Line> {
        self.capture(out)
            .wait_for(&matches, Instant::now() + timeout)
    }

    /// Waits (at most `timeout`) for the child to exit, then for its output
    /// to be fully read. `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => self.status = Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => return None,
                Err(e) => panic!("waiting for {}: {e}", self.name),
            }
        }
        // The pipes close when the process is gone; give the reader threads
        // a moment to take the last lines.
        let drained = Instant::now() + Duration::from_secs(2);
        self.stdout.wait_eof(drained);
        self.stderr.wait_eof(drained);
        self.status
    }

    /// Writes `text` to the child's stdin.
    pub fn write_stdin(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to {}'s stdin: {e}", self.name));
    }

    /// Closes the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The lines of `out` read so far.
    pub fn lines(&self, out: Out) -> Vec<Line> {
        self.capture(out).lines()
    }

    /// The texts of the lines of `out` read so far.
    pub fn texts(&self, out: Out) -> Vec<String> {
        self.lines(out).into_iter().map(|l| l.text).collect()
    }

    /// Whether some line of `out` contains `needle`.
    pub fn contains(&self, out: Out, needle: &str) -> bool {
        self.capture(out)
            .lines()
            .iter()
            .any(|l| l.text.contains(needle))
    }

    /// The index of the first line of `out` that contains `needle`.
    pub fn position(&self, out: Out, needle: &str) -> Option<usize> {
        self.capture(out)
            .lines()
            .iter()
            .position(|l| l.text.contains(needle))
    }

    /// Everything captured so far, for assertion messages.
    pub fn transcript(&self) -> String {
        let mut text = format!(
            "===== {} (started at {} ms, {}) =====\n  command: {}\n",
            self.name,
            self.started.as_millis(),
            match self.status {
                Some(status) => format!("exited: {status}"),
                None => "still running".to_owned(),
            },
            self.command
        );
        for out in [Out::Stdout, Out::Stderr] {
            text.push_str(&format!("  --- {out:?} ---\n"));
            for line in self.lines(out) {
                text.push_str(&format!(
                    "  [{:>5} ms] {}\n",
                    line.at.as_millis(),
                    line.text
                ));
            }
        }
        text
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The transcripts of all `procs`, for assertion messages.
pub fn transcripts(procs: &[&Proc]) -> String {
    procs
        .iter()
        .map(|p| p.transcript())
        .collect::<Vec<_>>()
        .join("")
}

impl Proc {
    /// Sends SIGTERM to the child (with the `kill` command).
    #[allow(dead_code)] // used by tests/drain_interop.rs only
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "kill -TERM {} failed",
            self.name
        );
    }
}
