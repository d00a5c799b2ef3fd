//! Real rustls client/server configs for the stream harness (ring provider,
//! the test certificates compiled in), built once per TLS version.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, ServerConfig};

#[path = "../../tests/certs/configs.rs"]
mod configs;

type Configs = (Arc<ClientConfig>, Arc<ServerConfig>);

/// The client and server configs for TLS 1.3 (`tls13`) or TLS 1.2.
pub(crate) fn configs(tls13: bool) -> Configs {
    static TLS12: OnceLock<Configs> = OnceLock::new();
    static TLS13: OnceLock<Configs> = OnceLock::new();
    let (cell, version) = if tls13 {
        (&TLS13, &rustls::version::TLS13)
    } else {
        (&TLS12, &rustls::version::TLS12)
    };
    cell.get_or_init(|| build(version)).clone()
}

fn build(version: &'static rustls::SupportedProtocolVersion) -> Configs {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = configs::server_config(
        provider.clone(),
        &[version],
        configs::SERVER_PEM,
        configs::SERVER_KEY,
    )
    .expect("server config");
    let client =
        configs::client_config(provider, &[version], configs::CA_PEM).expect("client config");
    (Arc::new(client), Arc::new(server))
}
