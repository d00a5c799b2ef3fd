//! What the examples share: output, argument parsing and rustls configs
//! (the shutdown signals are `graceful_tls::Signals`). (`mod common;` in
//! each example; not an example itself.)
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use graceful_tls::Config;
use rustls::{ClientConfig, ServerConfig};

use graceful_tls_testkit::certs as configs;

/// Prints one line on stdout and flushes it, ignoring a closed stdout.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
#[allow(unused_imports)]
pub(crate) use say;

/// What argument parsing wants `main` to do instead of running.
pub enum ArgsError {
    Help,
    Bad(String),
}

impl ArgsError {
    /// Prints the help (exit 0) or the problem and the usage (exit 2).
    pub fn exit(self, program: &str, usage: &str) -> std::process::ExitCode {
        match self {
            ArgsError::Help => {
                say!("{usage}");
                std::process::ExitCode::SUCCESS
            }
            ArgsError::Bad(message) => {
                eprintln!("{program}: {message}");
                eprintln!("{usage}");
                std::process::ExitCode::from(2)
            }
        }
    }
}

/// The command line, one flag at a time.
pub struct Flags<I> {
    args: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    pub fn new(args: I) -> Self {
        Flags { args }
    }

    pub fn next_flag(&mut self) -> Option<String> {
        self.args.next()
    }

    /// The value after `flag`.
    pub fn value(&mut self, flag: &str) -> Result<String, ArgsError> {
        self.args
            .next()
            .ok_or_else(|| ArgsError::Bad(format!("{flag} needs a value")))
    }

    /// The number after `flag`.
    pub fn number(&mut self, flag: &str) -> Result<u64, ArgsError> {
        let text = self.value(flag)?;
        text.parse::<u64>()
            .map_err(|_| ArgsError::Bad(format!("{flag}: not a number: {text:?}")))
    }

    /// The number of milliseconds after `flag`.
    pub fn millis(&mut self, flag: &str) -> Result<Duration, ArgsError> {
        self.number(flag).map(Duration::from_millis)
    }
}

/// `--flag` is required.
pub fn required(value: Option<String>, flag: &str) -> Result<String, ArgsError> {
    value.ok_or_else(|| ArgsError::Bad(format!("{flag} is required")))
}

/// The options every example takes: `--flush-timeout-ms`,
/// `--peer-close-timeout-ms`, `--tls12`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TlsOptions {
    pub flush_timeout: Option<Duration>,
    pub peer_close_timeout: Option<Duration>,
    pub tls12: bool,
}

impl TlsOptions {
    /// Takes `flag` if it is one of ours; `Ok(false)` if it is not.
    pub fn parse<I: Iterator<Item = String>>(
        &mut self,
        flag: &str,
        flags: &mut Flags<I>,
    ) -> Result<bool, ArgsError> {
        match flag {
            "--flush-timeout-ms" => self.flush_timeout = Some(flags.millis(flag)?),
            "--peer-close-timeout-ms" => self.peer_close_timeout = Some(flags.millis(flag)?),
            "--tls12" => self.tls12 = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The close deadlines.
    pub fn graceful_config(&self) -> Config {
        let mut config = Config::default();
        if let Some(timeout) = self.flush_timeout {
            config = config.with_flush_timeout(timeout);
        }
        if let Some(timeout) = self.peer_close_timeout {
            config = config.with_peer_close_timeout(timeout);
        }
        config
    }

    fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        match self.tls12 {
            true => &TLS12_ONLY,
            false => rustls::DEFAULT_VERSIONS,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config from a PEM certificate chain and private key.
pub fn server_tls(
    cert: &str,
    key: &str,
    options: &TlsOptions,
) -> Result<Arc<ServerConfig>, String> {
    let chain = std::fs::read(cert).map_err(|e| format!("cannot read {cert}: {e}"))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("cannot read {key}: {e}"))?;
    let config = configs::server_config(provider(), options.versions(), &chain, &key_pem)
        .map_err(|e| format!("{cert}, {key}: {e}"))?;
    Ok(Arc::new(config))
}

/// A client config trusting the PEM certificates in `ca`.
pub fn client_tls(ca: &str, options: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("cannot read {ca}: {e}"))?;
    let config = configs::client_config(provider(), options.versions(), &pem)
        .map_err(|e| format!("{ca}: {e}"))?;
    Ok(Arc::new(config))
}

/// `testkit/certs/<name>` of this repository (for the demo).
pub fn test_cert(name: &str) -> String {
    configs::path(name)
}

/// An error and its sources on one line (`graceful_tls::Error`'s `Display`
/// leaves the cause to `source()`, so that error reporters do not print it
/// twice; these examples print the whole chain themselves).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        line.push_str(": ");
        line.push_str(&e.to_string());
        source = e.source();
    }
    line
}
