//! A hyper service over TLS with `graceful_tls::server::serve_hyper`:
//! HTTP/1.1 and HTTP/2, drained on SIGINT/SIGTERM. Responses in flight
//! finish, idle keep-alive connections close at once, every connection ends
//! with close_notify and a bounded wait for the client's (`peer-confirmed`
//! when it answers); the deadline cuts the rest.
//!
//! ```text
//! cargo run --features hyper --example hyper_server -- --listen 127.0.0.1:8443 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key
//! curl --cacert testkit/certs/ca.pem https://localhost:8443/slow   # answers after 2 s
//! ```
//!
//! `/slow` answers after 2 s, anything else at once. (Serving hyper by hand
//! over a `ConnectionSet` is in `testkit/src/apps/hyper_conn.rs`.)

mod common;
mod server_cli;

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

const USAGE: &str = "usage: hyper_server --listen ADDR --cert CERT.pem --key KEY.pem [options]\n";

/// What every path but `/slow` answers at once.
const HELLO: &str = "hello from graceful-tls\n";

async fn answer(request: Request<Incoming>) -> Result<Response<String>, Infallible> {
    if request.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(Response::new(HELLO.to_owned()))
}

// Not `#[tokio::main]`: what a restart passes is taken from the
// environment before the runtime's threads start (server_cli::run).
fn main() -> ExitCode {
    server_cli::run(serve)
}

async fn serve() -> ExitCode {
    let args = match server_cli::parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("hyper_server", &format!("{USAGE}\n{}", server_cli::FLAGS)),
    };
    let (tls, listener, shutdown) = match server_cli::start(&args).await {
        Ok(started) => started,
        Err(message) => {
            eprintln!("hyper_server: {message}");
            return ExitCode::from(2);
        }
    };
    let serve = graceful_tls::server::serve_hyper(listener, tls, service_fn(answer));
    let report = server_cli::configure(serve, &args, &shutdown).await;
    shutdown.settle().await;
    server_cli::print_report(&report);
    ExitCode::SUCCESS
}
