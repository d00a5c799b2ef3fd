//! A scripted client of the `served` harness: it connects through the
//! in-memory listener, handshakes (or not), plays its [`ClientScript`]
//! while reading everything the server sends, and logs what it did and
//! saw, with the paused clock's times ([`ClientLog`]), for the checks.
//!
//! HTTP/1.1 is written by hand, one request at a time; HTTP/2 as raw frames
//! (the preface, SETTINGS, a HEADERS frame per request; SETTINGS and PINGs
//! are acknowledged), so that partial requests, silence and every byte's
//! time are the script's.

use std::time::Duration;

use graceful_tls::CancellationToken;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{sleep, timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::served_listener::{connection, Dialer, Reset};
use super::served_vocab::{ms, Action, Alpn, ClientScript, Connect, MAX_ACTIONS};
use super::tls::{served_client, Crypto};

/// Where the client's side of the conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connected, no handshake done yet.
    Connecting,
    /// Handshake done, nothing of a request sent.
    AwaitingFirst,
    /// Part of a request sent; `first` if it is the first request.
    ReadingHead { first: bool },
    /// A request sent, its response not complete.
    Serving,
    /// Every response complete.
    Idle,
}

/// How the client left on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Left {
    CloseNotify,
    Fin,
    Reset,
}

/// How the server's side ended, as the client read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// close_notify (then possibly the transport's end).
    CloseNotify,
    /// The transport ended without close_notify.
    Eof,
    /// A TLS or transport error.
    Error,
}

/// One request the client sent in full.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// When its last byte was written.
    pub(crate) at: Instant,
    /// How long the service takes to answer it.
    pub(crate) slow: Duration,
    /// Its HTTP/2 stream (0 for HTTP/1.1).
    pub(crate) stream: u32,
    /// Whether it was the connection's first request.
    pub(crate) first: bool,
    /// When its response was complete, and whether it was a 200 with the
    /// service's body.
    pub(crate) answered: Option<(Instant, bool)>,
}

/// What one client did and saw.
#[derive(Debug, Clone)]
pub(crate) struct ClientLog {
    pub(crate) script: ClientScript,
    pub(crate) h2: bool,
    /// When it handed its connection to the listener (`None`: it never
    /// did, the server had stopped accepting).
    pub(crate) connected: Option<Instant>,
    pub(crate) handshake: Option<Instant>,
    /// Its phase, from each time on.
    pub(crate) phases: Vec<(Instant, Phase)>,
    pub(crate) requests: Vec<Sent>,
    /// The last time it sent a byte or a response completed.
    pub(crate) last_activity: Option<Instant>,
    /// Its first own close, if any.
    pub(crate) left: Option<(Instant, Left)>,
    /// When it reset the connection, if it did.
    pub(crate) reset: Option<Instant>,
    pub(crate) server_end: Option<(Instant, End)>,
    /// When an HTTP/2 GOAWAY first came.
    pub(crate) goaway: Option<Instant>,
    /// Whether it answered the server's close_notify with its own.
    pub(crate) answered_close: bool,
}

impl ClientLog {
    /// Its phase just before `at` (the last change strictly before it).
    pub(crate) fn phase_before(&self, at: Instant) -> Option<Phase> {
        self.phases
            .iter()
            .rev()
            .find(|(when, _)| *when < at)
            .map(|(_, phase)| *phase)
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Plays `script` as client `index`.
pub(crate) async fn run(
    index: usize,
    script: ClientScript,
    crypto: Crypto,
    dial: Dialer,
    served: CancellationToken,
    done: ScriptDone,
) -> ClientLog {
    let mut done = done;
    let mut log = ClientLog {
        h2: script.alpn == Alpn::H2,
        script,
        connected: None,
        handshake: None,
        phases: Vec::new(),
        requests: Vec::new(),
        last_activity: None,
        left: None,
        reset: None,
        server_end: None,
        goaway: None,
        answered_close: false,
    };
    let script = log.script.clone();
    sleep(ms(2 * u64::from(script.start))).await;
    let (mut io, pipe, reset) = connection();
    if dial.send((index, pipe)).is_err() {
        done.fire();
        return log;
    }
    drop(dial);
    let now = Instant::now();
    log.connected = Some(now);
    log.phases.push((now, Phase::Connecting));
    match script.connect {
        Connect::Handshake => {}
        Connect::LateHandshake(n) => sleep(ms(2 * u64::from(n))).await,
        Connect::Silent => {
            done.fire();
            raw_end(&mut io, &mut log, &served).await;
            served.cancelled().await;
            return log;
        }
        Connect::Leave(rst, n) => {
            sleep(ms(2 * u64::from(n))).await;
            let now = Instant::now();
            if rst {
                log.left = Some((now, Left::Reset));
                log.reset = Some(now);
                reset.reset();
                drop(io);
                done.fire();
            } else {
                log.left = Some((now, Left::Fin));
                let _ = io.shutdown().await;
                done.fire();
                raw_end(&mut io, &mut log, &served).await;
                served.cancelled().await;
            }
            return log;
        }
    }
    let config = served_client(crypto, script.tls13, script.alpn.bytes());
    let name = ServerName::try_from("localhost").expect("server name");
    let connect = TlsConnector::from(config).connect(name, io);
    let tls = tokio::select! {
        tls = connect => tls,
        () = served.cancelled() => return log,
    };
    let Ok(tls) = tls else {
        done.fire();
        // The server dropped the connection during the handshake.
        log.server_end = Some((Instant::now(), End::Eof));
        served.cancelled().await;
        return log;
    };
    let now = Instant::now();
    log.handshake = Some(now);
    log.last_activity = Some(now);
    log.phases.push((now, Phase::AwaitingFirst));
    let mut client = Client {
        tls,
        log,
        reset,
        received: Vec::new(),
        pending: None,
        acks: Vec::new(),
        preface_sent: false,
        next_stream: 1,
    };
    for action in script.actions.iter().take(MAX_ACTIONS) {
        client.pump_until(Instant::now()).await;
        if client.log.server_end.is_some() || client.log.reset.is_some() {
            break;
        }
        client.act(*action).await;
    }
    done.fire();
    let Client { tls, log, .. } = if client.log.reset.is_none() {
        // Reads to the end: the server ends every connection by its drain.
        tokio::select! {
            () = client.pump_to_end() => {}
            () = served.cancelled() => {}
        }
        client
    } else {
        client
    };
    if log.reset.is_some() {
        drop(tls);
        served.cancelled().await;
    } else {
        // Held until the server is done: a client that does not answer
        // close_notify neither leaves (which the server would see).
        served.cancelled().await;
        drop(tls);
    }
    log
}

/// Tells the harness that a client's script is over (once; on drop at
/// the latest).
#[derive(Debug)]
pub(crate) struct ScriptDone(Option<tokio::sync::mpsc::UnboundedSender<()>>);

impl ScriptDone {
    pub(crate) fn new(tell: tokio::sync::mpsc::UnboundedSender<()>) -> Self {
        ScriptDone(Some(tell))
    }

    fn fire(&mut self) {
        if let Some(tell) = self.0.take() {
            let _ = tell.send(());
        }
    }
}

impl Drop for ScriptDone {
    fn drop(&mut self) {
        self.fire();
    }
}

/// Reads the raw transport (no TLS session) until it ends or the server
/// is done.
async fn raw_end(io: &mut DuplexStream, log: &mut ClientLog, served: &CancellationToken) {
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::select! {
            read = io.read(&mut buf) => read,
            () = served.cancelled() => return,
        };
        match read {
            Ok(0) => {
                log.server_end = Some((Instant::now(), End::Eof));
                return;
            }
            Ok(_) => {}
            Err(_) => {
                log.server_end = Some((Instant::now(), End::Error));
                return;
            }
        }
    }
}

struct Client {
    tls: TlsStream<DuplexStream>,
    log: ClientLog,
    reset: Reset,
    /// Plaintext received and not parsed yet.
    received: Vec<u8>,
    /// The rest of a partly sent request.
    pending: Option<Pending>,
    /// HTTP/2 acknowledgements to send.
    acks: Vec<u8>,
    preface_sent: bool,
    next_stream: u32,
}

impl Client {
    fn h2(&self) -> bool {
        self.log.h2
    }

    fn set_phase(&mut self, phase: Phase) {
        let now = Instant::now();
        self.log.phases.push((now, phase));
    }

    fn in_flight(&self) -> bool {
        self.log.requests.iter().any(|r| r.answered.is_none())
    }

    /// The bytes of the next request, and its stream and delay.
    fn next_request(&mut self, slow: u8) -> (Vec<u8>, u32, Duration) {
        let delay = ms(2 * u64::from(slow));
        let path = if slow == 0 {
            "/".to_string()
        } else {
            format!("/slow/{}", delay.as_millis())
        };
        if !self.h2() {
            let bytes = if slow == 0 {
                GET.to_vec()
            } else {
                format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").into_bytes()
            };
            return (bytes, 0, delay);
        }
        let mut bytes = Vec::new();
        if !self.preface_sent {
            self.preface_sent = true;
            bytes.extend_from_slice(PREFACE);
            bytes.extend(frame(0x4, 0, 0, &[]));
        }
        // :method GET, :scheme https (static table), :path and :authority
        // as literals without indexing.
        let mut block = vec![0x82, 0x87, 0x04, path.len() as u8];
        block.extend_from_slice(path.as_bytes());
        block.extend_from_slice(&[0x01, 9]);
        block.extend_from_slice(b"localhost");
        let stream = self.next_stream;
        self.next_stream += 2;
        bytes.extend(frame(0x1, 0x5, stream, &block));
        (bytes, stream, delay)
    }

    /// Whether it may start a new request now: HTTP/1.1 waits for the
    /// previous response (no pipelining), at most 1 s.
    async fn ready_for_request(&mut self) -> bool {
        if !self.h2() && self.in_flight() {
            self.await_responses(ms(1000)).await;
        }
        self.log.server_end.is_none() && (self.h2() || !self.in_flight())
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Wait(n) => {
                let until = Instant::now() + ms(2 * u64::from(n));
                self.pump_until(until).await;
            }
            Action::Request(slow) => {
                if self.pending.is_none() {
                    if !self.ready_for_request().await {
                        return;
                    }
                    self.start_request(slow);
                }
                self.send_rest(usize::MAX).await;
            }
            Action::Partial(n) => {
                if self.pending.is_none() {
                    if !self.ready_for_request().await {
                        return;
                    }
                    self.start_request(0);
                }
                let Some(pending) = self.pending.as_mut() else {
                    return;
                };
                if pending.rest.len() < 2 {
                    return;
                }
                let take = 1 + usize::from(n) % (pending.rest.len() - 1);
                let bytes: Vec<u8> = pending.rest.drain(..take).collect();
                self.write(&bytes).await;
                let first = self.log.requests.is_empty();
                self.set_phase(Phase::ReadingHead { first });
            }
            Action::Rest(n) => self.send_rest(1 + usize::from(n % 8)).await,
            Action::AwaitResponses(n) => self.await_responses(ms(2 * u64::from(n))).await,
            Action::CloseNotify => {
                self.leave(Left::CloseNotify);
                self.tls.get_mut().1.send_close_notify();
                let _ = self.tls.flush().await;
            }
            Action::Fin => {
                self.leave(Left::Fin);
                let _ = self.tls.get_mut().0.shutdown().await;
            }
            Action::Reset => {
                self.leave(Left::Reset);
                self.log.reset = Some(Instant::now());
                self.reset.reset();
                // The client's end goes when the task ends; the reset
                // switch makes the server's fail from now on. Shutting the
                // pipe down wakes a server that waits to read.
                let _ = self.tls.get_mut().0.shutdown().await;
            }
        }
    }

    fn leave(&mut self, how: Left) {
        if self.log.left.is_none() {
            self.log.left = Some((Instant::now(), how));
        }
    }

    fn start_request(&mut self, slow: u8) {
        let first = self.log.requests.is_empty();
        let (rest, stream, slow) = self.next_request(slow);
        self.pending = Some(Pending {
            rest,
            stream,
            slow,
            first,
        });
    }

    /// Sends the rest of the pending request in pieces of `piece` bytes,
    /// 2 ms apart (reading meanwhile); once all is sent, it is a request
    /// in flight.
    async fn send_rest(&mut self, piece: usize) {
        while let Some(pending) = self.pending.as_mut() {
            let take = piece.min(pending.rest.len());
            let bytes: Vec<u8> = pending.rest.drain(..take).collect();
            let done = pending.rest.is_empty();
            if !self.write(&bytes).await {
                return;
            }
            if done {
                let Some(pending) = self.pending.take() else {
                    return;
                };
                self.log.requests.push(Sent {
                    at: Instant::now(),
                    slow: pending.slow,
                    stream: pending.stream,
                    first: pending.first,
                    answered: None,
                });
                self.set_phase(Phase::Serving);
                return;
            }
            let until = Instant::now() + ms(2);
            self.pump_until(until).await;
            if self.log.server_end.is_some() {
                return;
            }
        }
    }

    /// Writes `bytes`; whether it could.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let ok = self.tls.write_all(bytes).await.is_ok() && self.tls.flush().await.is_ok();
        if ok {
            self.log.last_activity = Some(Instant::now());
        }
        ok
    }

    async fn await_responses(&mut self, limit: Duration) {
        let until = Instant::now() + limit;
        while self.in_flight() && self.log.server_end.is_none() && Instant::now() < until {
            self.pump_until(until).await;
        }
    }

    async fn pump_to_end(&mut self) {
        while self.log.server_end.is_none() {
            self.pump_until(Instant::now() + ms(60_000)).await;
        }
    }

    /// Reads until `until`, the server's end, or (when `until` is now)
    /// nothing more is ready.
    async fn pump_until(&mut self, until: Instant) {
        let mut buf = [0u8; 16 * 1024];
        while self.log.server_end.is_none() {
            let read = match timeout_at(until, self.tls.read(&mut buf)).await {
                Err(_) => break,
                Ok(read) => read,
            };
            let now = Instant::now();
            match read {
                Ok(0) => {
                    self.log.server_end = Some((now, End::CloseNotify));
                    if self.log.script.answers_close && self.log.left.is_none() {
                        self.log.answered_close = true;
                        let _ = self.tls.shutdown().await;
                    }
                }
                Ok(n) => {
                    self.received.extend_from_slice(&buf[..n]);
                    self.parse(now);
                    // Between whole frames only, and after the preface.
                    if !self.acks.is_empty() && self.preface_sent && self.pending.is_none() {
                        let acks = std::mem::take(&mut self.acks);
                        let _ = self.tls.write_all(&acks).await;
                        let _ = self.tls.flush().await;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.log.server_end = Some((now, End::Eof));
                }
                Err(_) => self.log.server_end = Some((now, End::Error)),
            }
        }
    }

    fn answered(&mut self, now: Instant, stream: u32, ok: bool) {
        let request = self
            .log
            .requests
            .iter_mut()
            .find(|r| r.answered.is_none() && r.stream == stream);
        if let Some(request) = request {
            request.answered = Some((now, ok));
            self.log.last_activity = Some(now);
        }
        if !self.in_flight() && self.pending.is_none() {
            self.set_phase(Phase::Idle);
        }
    }

    fn parse(&mut self, now: Instant) {
        if self.h2() {
            self.parse_frames(now);
        } else {
            self.parse_responses(now);
        }
    }

    /// Complete HTTP/1.1 responses (every one has a content-length).
    fn parse_responses(&mut self, now: Instant) {
        while let Some(end) = find(&self.received, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&self.received[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            if self.received.len() < total {
                return;
            }
            let ok = head.starts_with("http/1.1 200")
                && &self.received[end + 4..total] == super::served_app::BODY.as_bytes();
            self.received.drain(..total);
            self.answered(now, 0, ok);
        }
    }

    /// Complete HTTP/2 frames: responses end with END_STREAM; SETTINGS and
    /// PINGs are acknowledged.
    fn parse_frames(&mut self, now: Instant) {
        while self.received.len() >= 9 {
            let len = (usize::from(self.received[0]) << 16)
                | (usize::from(self.received[1]) << 8)
                | usize::from(self.received[2]);
            if self.received.len() < 9 + len {
                return;
            }
            let frame_bytes: Vec<u8> = self.received.drain(..9 + len).collect();
            let (kind, flags) = (frame_bytes[3], frame_bytes[4]);
            let stream = u32::from_be_bytes([
                frame_bytes[5] & 0x7f,
                frame_bytes[6],
                frame_bytes[7],
                frame_bytes[8],
            ]);
            let payload = &frame_bytes[9..];
            match kind {
                // DATA or HEADERS with END_STREAM: a response complete.
                0x0 | 0x1 if flags & 0x1 != 0 => self.answered(now, stream, kind == 0x0),
                0x4 if flags & 0x1 == 0 => self.acks.extend(frame(0x4, 0x1, 0, &[])),
                0x6 if flags & 0x1 == 0 => self.acks.extend(frame(0x6, 0x1, 0, payload)),
                0x7 => {
                    self.log.goaway.get_or_insert(now);
                }
                _ => {}
            }
        }
    }
}

/// A request partly sent.
struct Pending {
    rest: Vec<u8>,
    stream: u32,
    slow: Duration,
    first: bool,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
