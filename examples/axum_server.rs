//! An axum app over TLS with `graceful_tls::server::serve`: HTTP/1.1 and
//! HTTP/2 (ALPN), drained on SIGINT/SIGTERM with a deadline, close_notify on
//! every connection and a report.
//!
//! ```text
//! cargo run --features axum --example axum_server -- --listen 127.0.0.1:8443 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key
//! curl -v --cacert testkit/certs/ca.pem https://localhost:8443/slow?ms=3000
//! curl -N --http2 --cacert testkit/certs/ca.pem https://localhost:8443/stream
//! ```
//!
//! Routes: `GET /` answers `hello`; `GET /slow?ms=N` answers `done` after N
//! ms; `GET /stream` sends `tick` every 100 ms until the connection ends;
//! `GET /ws` is a WebSocket that sends `tick` every 100 ms; `GET /ready`
//! answers 503 once the drain began (a readiness probe); `POST /upload`
//! reads the whole body and answers its length.

mod common;
mod server_cli;

use std::process::ExitCode;

use graceful_tls::server::Readiness;
use graceful_tls_testkit::apps;

const USAGE: &str = "usage: axum_server --listen ADDR --cert CERT.pem --key KEY.pem [options]\n";

// Not `#[tokio::main]`: what a restart passes is taken from the
// environment before the runtime's threads start (server_cli::run).
fn main() -> ExitCode {
    server_cli::run(serve)
}

async fn serve() -> ExitCode {
    let args = match server_cli::parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("axum_server", &format!("{USAGE}\n{}", server_cli::FLAGS)),
    };
    let (tls, listener, shutdown) = match server_cli::start(&args).await {
        Ok(started) => started,
        Err(message) => {
            eprintln!("axum_server: {message}");
            return ExitCode::from(2);
        }
    };
    let readiness = Readiness::new();
    let draining = readiness.clone();
    let app = apps::axum::app(move || draining.is_draining());
    let serve = graceful_tls::server::serve(listener, tls, app).with_readiness(&readiness);
    let report = server_cli::configure(serve, &args, &shutdown).await;
    shutdown.settle().await;
    server_cli::print_report(&report);
    ExitCode::SUCCESS
}
