//! The service the `served` harness serves: hyper's `service_fn`, `GET /`
//! answered at once, `GET /slow/N` after N ms (on the paused clock); every
//! body is [`BODY`].

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};

/// Every response's body.
pub(crate) const BODY: &str = "hello";

/// The service: `Clone + Send`, as `serve` needs.
pub(crate) fn service() -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<String>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
       + Send
       + 'static {
    hyper::service::service_fn(|request: Request<Incoming>| async move {
        let slow = request
            .uri()
            .path()
            .strip_prefix("/slow/")
            .and_then(|ms| ms.parse::<u64>().ok());
        if let Some(ms) = slow {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok::<_, Infallible>(Response::new(BODY.to_string()))
    })
}
