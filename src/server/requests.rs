//! What a served connection knows of its requests: how many reached the
//! service, how many are still in flight (until hyper drops the response's
//! body), and whether they are HTTP/2; and the service wrapper that counts
//! them and says `connection: close` during a drain.
//!
//! The counts tell the connection's [`PhaseWatch`](super::phase::PhaseWatch)
//! when it is idle. HTTP/2 runs each stream in a task of its own, so the
//! last response of a busy spell ends outside the connection's task: the
//! body's drop then wakes the connection, so that its idle timeout starts.
//! HTTP/1.1 drops the body while hyper's connection future is polled; the
//! connection looks at the counts right after that poll, so no wake-up is
//! needed (nor paid) then ([`Requests::polling`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONNECTION};
use hyper::service::Service;
use hyper::{Request, Response, StatusCode, Version};

use super::phase::ServerPhases;
use crate::ShutdownSignal;

/// One connection's request counts, shared by its task, its service
/// wrapper and its responses' bodies (one allocation per connection).
#[derive(Debug, Default)]
pub(super) struct Requests {
    /// Requests that reached the service.
    started: AtomicU64,
    /// Requests whose response body hyper has not dropped yet.
    in_flight: AtomicUsize,
    /// A request came over HTTP/2.
    http2: AtomicBool,
    /// A response switched protocols (a WebSocket): the connection is the
    /// application's once hyper lets go of it.
    upgraded: AtomicBool,
    /// Set while the connection's task polls hyper: a response that ends
    /// then is seen right after the poll, without a wake-up.
    polling: AtomicBool,
    /// The connection's task, woken when the last response in flight ends
    /// outside its poll (HTTP/2's stream tasks).
    waker: Mutex<Option<Waker>>,
}

impl Requests {
    /// Requests started so far, and requests in flight.
    pub(super) fn counts(&self) -> (u64, usize) {
        (
            self.started.load(Ordering::SeqCst),
            self.in_flight.load(Ordering::SeqCst),
        )
    }

    /// Whether a request came over HTTP/2.
    pub(super) fn http2(&self) -> bool {
        self.http2.load(Ordering::Relaxed)
    }

    /// Whether hyper completed every exchange when it ended cleanly: at
    /// least one request, none in flight, and none switched protocols (an
    /// upgraded connection goes on in the application's hands). A client
    /// that never sent a request exchanged nothing.
    pub(super) fn all_complete(&self) -> bool {
        let (started, in_flight) = self.counts();
        started > 0 && in_flight == 0 && !self.upgraded.load(Ordering::Relaxed)
    }

    /// Marks the connection's task as polling hyper (`true`) or done
    /// polling (`false`). After `false`, [`counts`](Self::counts) sees every
    /// response that ended during the poll: either the response's end
    /// comes before this store in the order of sequentially consistent
    /// operations, or its check of `polling` comes after it and wakes the
    /// task.
    pub(super) fn set_polling(&self, polling: bool) {
        self.polling.store(polling, Ordering::SeqCst);
    }

    /// After a poll of hyper that left `in_flight` requests in flight:
    /// registers the task to wake when the last of them ends outside its
    /// poll. Only HTTP/2 ends responses there (in its stream tasks);
    /// HTTP/1.1's end is seen right after the poll, and with nothing in
    /// flight there is nothing to wait for: no waker is kept then.
    pub(super) fn wake_on_idle(&self, in_flight: usize, http2: bool, waker: &Waker) {
        if in_flight > 0 && http2 {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(registered) if registered.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }

    fn begin(self: &Arc<Self>, http2: bool) -> InFlight {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// One request in flight: its end is this value's drop (with the response
/// body hyper drops once sent, or with the response future if the request
/// ended before a response).
#[derive(Debug)]
struct InFlight(Arc<Requests>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let requests = &self.0;
        if requests.in_flight.fetch_sub(1, Ordering::SeqCst) == 1
            && !requests.polling.load(Ordering::SeqCst)
        {
            let waker = requests
                .waker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// Wraps the application's service: counts requests ([`Requests`]), and
/// makes the response to an HTTP/1.x request that reached the service once
/// the drain (or the lame duck) had begun say `connection: close`, so that hyper closes the
/// connection after it. Hyper's graceful shutdown does the same for a
/// request it is busy with when it runs, but a request read after the
/// drain began can be answered within the same poll in which hyper reads
/// it, before the graceful shutdown runs. HTTP/2 responses and `101
/// Switching Protocols` are left alone.
///
/// The drain is checked when the request reaches the service (one atomic
/// load), not when its response is ready: the response future would
/// otherwise hold a clone of the signal, a reference count shared by every
/// connection, taken and dropped per request.
#[derive(Clone)]
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) signal: ShutdownSignal,
    pub(super) requests: Arc<Requests>,
    /// The server's shared state: its lame duck's signal.
    pub(super) phases: Arc<ServerPhases>,
}

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let version = request.version();
        let http1 = matches!(version, Version::HTTP_10 | Version::HTTP_11);
        TrackedFuture {
            close: http1 && (self.signal.is_begun() || self.phases.lame_duck.is_fired()),
            in_flight: Some(self.requests.begin(version == Version::HTTP_2)),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Tracked`]'s response future.
    pub(super) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        // HTTP/1.x, and the drain had begun.
        close: bool,
        // Moves into the response's body.
        in_flight: Option<InFlight>,
    }
}

impl<F, B, E> std::future::Future for TrackedFuture<F>
where
    F: std::future::Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match std::task::ready!(this.inner.poll(cx)) {
            Ok(response) => response,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let in_flight = this.in_flight.take();
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(InFlight(requests)) = &in_flight {
                requests.upgraded.store(true, Ordering::Relaxed);
            }
        } else if *this.close {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts as a request in flight until hyper drops
    /// it (sent, or its stream reset). Otherwise the application's body as
    /// it is.
    pub(super) struct TrackedBody<B> {
        #[pin]
        inner: B,
        _in_flight: Option<InFlight>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_count::WakeCount;

    /// The last response in flight that ends outside the connection's
    /// poll (an HTTP/2 stream task) wakes the task that registered last,
    /// once; one that ends while the connection polls hyper (HTTP/1.1) or
    /// while others are still in flight wakes nobody.
    #[test]
    fn the_last_response_wakes_the_connection_only_outside_its_poll() {
        let requests = Arc::new(Requests::default());
        let (stale, latest) = (
            Arc::new(WakeCount::default()),
            Arc::new(WakeCount::default()),
        );
        let first = requests.begin(true);
        let second = requests.begin(true);
        assert_eq!(requests.counts(), (2, 2));
        assert!(requests.http2());
        requests.wake_on_idle(2, true, &Waker::from(stale.clone()));
        requests.wake_on_idle(2, true, &Waker::from(latest.clone()));
        drop(first);
        assert_eq!(latest.count(), 0, "a response is still in flight");
        drop(second);
        assert_eq!((stale.count(), latest.count()), (0, 1));
        assert_eq!(requests.counts(), (2, 0));

        // Ended during the connection's poll: seen right after it, no
        // wake-up.
        let third = requests.begin(true);
        requests.wake_on_idle(1, true, &Waker::from(latest.clone()));
        requests.set_polling(true);
        drop(third);
        requests.set_polling(false);
        assert_eq!(latest.count(), 1, "woken during its own poll");
        assert_eq!(requests.counts(), (3, 0));
    }

    /// Only a connection with HTTP/2 responses in flight keeps a waker:
    /// HTTP/1.1 responses end within the connection's poll, and with
    /// nothing in flight a waker kept would only wake the task for nothing
    /// later.
    #[test]
    fn only_http2_responses_in_flight_keep_a_waker() {
        let requests = Arc::new(Requests::default());
        let wakes = Arc::new(WakeCount::default());
        let waker = Waker::from(wakes.clone());
        let http1 = requests.begin(false);
        requests.wake_on_idle(1, false, &waker);
        drop(http1);
        assert_eq!(wakes.count(), 0, "HTTP/1.1");
        requests.wake_on_idle(0, true, &waker);
        drop(requests.begin(true));
        assert_eq!(wakes.count(), 0, "nothing was in flight");
        let http2 = requests.begin(true);
        requests.wake_on_idle(1, true, &waker);
        drop(http2);
        assert_eq!(wakes.count(), 1, "HTTP/2");
    }

    /// Complete: at least one request, none in flight, none upgraded.
    #[test]
    fn every_exchange_complete() {
        let requests = Arc::new(Requests::default());
        assert!(!requests.all_complete(), "no request yet");
        let one = requests.begin(false);
        assert!(!requests.http2());
        assert!(!requests.all_complete(), "one in flight");
        drop(one);
        assert!(requests.all_complete());
        requests.upgraded.store(true, Ordering::Relaxed);
        assert!(!requests.all_complete(), "upgraded");
    }
}
