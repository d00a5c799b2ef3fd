//! Clients: session hygiene and connectors.
//!
//! * [`SessionCache`] wraps a rustls `ClientSessionStore` and forgets a
//!   server's sessions after a connection to it ended badly
//!   ([`SessionPolicy`]); [`SessionCache::forget`] does it on demand.
//! * [`Connector`] makes rustls client connections over any transport as
//!   [`GracefulStream`](crate::GracefulStream)s watched by the cache, and
//!   forces a full handshake for one connection when asked
//!   ([`Connector::connect_full_handshake`]).
//! * With the cargo feature `hyper-client`, `HttpsConnector`: the same for
//!   hyper-util's legacy `Client`, whose pooled connections end with
//!   close_notify.
//!
//! [`GracefulStream::handshake_kind`](crate::GracefulStream::handshake_kind)
//! says whether each connection resumed.

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
