//! The stream harness' rustls client/server configs, built once per TLS
//! version and [`Crypto`]: real ones (ring, the test certificates compiled
//! in) and ones over the testkit's [`fake_crypto`](crate::fake_crypto)
//! provider, whose handshake costs nothing.
//!
//! The configs are shared by every run of a process, so they must carry no
//! state from one run to the next: the client never resumes and the server
//! remembers no session. Before, the client's ticket cache and the server's
//! session cache lived in these shared configs, so every TLS 1.3 run after
//! the first resumed a session left by an earlier input (a replayed crash
//! could take another path than the one the fuzzer saw), and the caches'
//! growth left each run with more allocations than frees, which made
//! libFuzzer re-run the input and scan the heap for leaks (LeakSanitizer)
//! after most runs: about 40 % of a campaign's time (`perf`), 274 → 528
//! executions/s once gone (README, "Fuzzing").

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, ServerConfig};

use crate::certs as configs;

type Configs = (Arc<ClientConfig>, Arc<ServerConfig>);

/// Which crypto a run's two sides use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crypto {
    /// ring, with real certificates: the real record layer and handshake.
    Real,
    /// The testkit's [`fake_crypto`](crate::fake_crypto) provider: the same
    /// rustls state machines, no arithmetic; records can be forged.
    Fake,
}

/// The client and server configs for TLS 1.3 (`tls13`) or TLS 1.2.
pub(crate) fn configs(tls13: bool, crypto: Crypto) -> Configs {
    static CELLS: [OnceLock<Configs>; 4] = [const { OnceLock::new() }; 4];
    let version = if tls13 {
        &rustls::version::TLS13
    } else {
        &rustls::version::TLS12
    };
    let cell = &CELLS[usize::from(tls13) * 2 + usize::from(crypto == Crypto::Fake)];
    cell.get_or_init(|| match crypto {
        Crypto::Real => build(version),
        Crypto::Fake => {
            let (client, mut server) = crate::fake_crypto::configs(version);
            server.session_storage = Arc::new(ForgetSessions);
            (Arc::new(client), Arc::new(server))
        }
    })
    .clone()
}

fn build(version: &'static rustls::SupportedProtocolVersion) -> Configs {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = configs::server_config(
        provider.clone(),
        &[version],
        configs::SERVER_PEM,
        configs::SERVER_KEY,
    )
    .expect("server config");
    // Tickets and session IDs are still issued (TLS 1.3 tickets are
    // post-handshake records our close must cope with), never stored.
    server.session_storage = Arc::new(ForgetSessions);
    let mut client =
        configs::client_config(provider, &[version], configs::CA_PEM).expect("client config");
    // Each run does a full handshake, whatever ran before it.
    client.resumption = rustls::client::Resumption::disabled();
    (Arc::new(client), Arc::new(server))
}

/// A session store that accepts every session and keeps none, so that the
/// server still issues session IDs and TLS 1.3 tickets (rustls issues none
/// when `put` fails) without any state across runs.
#[derive(Debug)]
struct ForgetSessions;

impl rustls::server::StoresServerSessions for ForgetSessions {
    fn put(&self, _key: Vec<u8>, _value: Vec<u8>) -> bool {
        true
    }

    fn get(&self, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn take(&self, _key: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The `served` harness' server config over `crypto`: TLS 1.2 and 1.3,
/// ALPN `h2` and `http/1.1` (as `serve` would offer; set here so that
/// `serve` uses the shared config as is), no session kept.
#[cfg(feature = "served")]
pub(crate) fn served_server(crypto: Crypto) -> Arc<ServerConfig> {
    static CELLS: [OnceLock<Arc<ServerConfig>>; 2] = [const { OnceLock::new() }; 2];
    let versions = [&rustls::version::TLS12, &rustls::version::TLS13];
    CELLS[usize::from(crypto == Crypto::Fake)]
        .get_or_init(|| {
            let mut server = match crypto {
                Crypto::Real => configs::server_config(
                    Arc::new(rustls::crypto::ring::default_provider()),
                    &versions,
                    configs::SERVER_PEM,
                    configs::SERVER_KEY,
                )
                .expect("server config"),
                Crypto::Fake => crate::fake_crypto::server_config(&versions),
            };
            server.session_storage = Arc::new(ForgetSessions);
            server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Arc::new(server)
        })
        .clone()
}

/// The `served` harness' client config: TLS 1.3 (`tls13`) or 1.2, over
/// `crypto`, offering `alpn` (none when empty); never resumes.
#[cfg(feature = "served")]
pub(crate) fn served_client(crypto: Crypto, tls13: bool, alpn: &'static [u8]) -> Arc<ClientConfig> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type Key = (bool, bool, &'static [u8]);
    static CELLS: OnceLock<Mutex<HashMap<Key, Arc<ClientConfig>>>> = OnceLock::new();
    let cells = CELLS.get_or_init(Default::default);
    let key = (crypto == Crypto::Fake, tls13, alpn);
    let mut cells = cells.lock().expect("client configs");
    cells
        .entry(key)
        .or_insert_with(|| {
            let version = if tls13 {
                &rustls::version::TLS13
            } else {
                &rustls::version::TLS12
            };
            let mut client = match crypto {
                Crypto::Real => {
                    let mut client = configs::client_config(
                        Arc::new(rustls::crypto::ring::default_provider()),
                        &[version],
                        configs::CA_PEM,
                    )
                    .expect("client config");
                    client.resumption = rustls::client::Resumption::disabled();
                    client
                }
                Crypto::Fake => crate::fake_crypto::client_config(version),
            };
            if !alpn.is_empty() {
                client.alpn_protocols = vec![alpn.to_vec()];
            }
            Arc::new(client)
        })
        .clone()
}
