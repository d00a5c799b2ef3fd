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

#[tokio::main]
async fn main() -> ExitCode {
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
    let report = graceful_tls::server::serve(listener, tls, routes)
        .with_handshake_timeout(args.handshake_timeout)
        .with_max_connections(args.max_connections)
        .with_header_read_timeout(args.header_read_timeout)
        .with_keep_alive_timeout(args.keep_alive_timeout)
        .with_drain_timeout(args.drain_timeout)
        .with_close_config(args.tls.graceful_config())
        .with_graceful_shutdown(shutdown.begin.clone().cancelled_owned())
        .abort_on(shutdown.abort.clone().cancelled_owned())
        .await;
    shutdown.settle().await;
    server_cli::print_report(&report);
    ExitCode::SUCCESS
}
