#![doc = include_str!("../docs/client.md")]
// Without the `hyper-client` feature, `HttpsConnector` links to docs.rs
// (built with every feature) instead of breaking; the empty `//!` line keeps
// the definition out of the page's last paragraph.
//!
#![cfg_attr(
    not(feature = "hyper-client"),
    doc = "[`HttpsConnector`]: https://docs.rs/graceful-tls/latest/graceful_tls/client/struct.HttpsConnector.html"
)]

mod connector;
mod error;
#[cfg(feature = "hyper-client")]
mod hyper;
mod policy;
mod session;

#[cfg(feature = "hyper-client")]
pub use self::hyper::{ConnectionInfo, HttpsConnector, HttpsStream};
pub use connector::Connector;
pub use error::ConnectError;
pub use policy::SessionPolicy;
pub use session::SessionCache;
