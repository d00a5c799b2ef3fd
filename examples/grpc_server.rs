//! A tonic gRPC service over TLS and HTTP/2 with
//! `graceful_tls::server::serve`, drained on SIGINT/SIGTERM like
//! `examples/axum_server.rs`: calls in flight finish (GOAWAY), then every
//! connection closes with close_notify; the deadline cuts the rest.
//!
//! ```text
//! cargo run --features hyper --example grpc_server -- --listen 127.0.0.1:50051 \
//!     --cert testkit/certs/server.pem --key testkit/certs/server.key
//! ```
//!
//! The service (`demo.Greeter/Hello`, hand-written, no protoc) is in
//! `testkit/src/apps/grpc.rs`; `tests/server.rs` calls it with tonic's
//! client. A tonic `Routes` is a tower service: `serve` takes it as is.

mod common;
mod server_cli;

use std::process::ExitCode;

use graceful_tls_testkit::apps;

const USAGE: &str = "usage: grpc_server --listen ADDR --cert CERT.pem --key KEY.pem [options]\n";

// Not `#[tokio::main]`: what a restart passes is taken from the
// environment before the runtime's threads start (server_cli::run).
fn main() -> ExitCode {
    server_cli::run(serve)
}

async fn serve() -> ExitCode {
    let args = match server_cli::parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => return e.exit("grpc_server", &format!("{USAGE}\n{}", server_cli::FLAGS)),
    };
    let (tls, listener, shutdown) = match server_cli::start(&args).await {
        Ok(started) => started,
        Err(message) => {
            eprintln!("grpc_server: {message}");
            return ExitCode::from(2);
        }
    };
    let routes = tonic::service::Routes::new(apps::grpc::Greeter);
    let serve = graceful_tls::server::serve(listener, tls, routes);
    let report = server_cli::configure(serve, &args, &shutdown).await;
    shutdown.settle().await;
    server_cli::print_report(&report);
    ExitCode::SUCCESS
}
