//! One behaviour suite for every TLS backend: each test body in
//! `tests/conformance/` runs once per (ours, peer) pair of stacks, on both
//! sides (our stream as client and as server) and both TLS versions, with
//! real peers in memory (`tokio::io::duplex`) and over loopback TCP.
//!
//! Pairs: rustls × rustls always; with `--features openssl` also
//! OpenSSL × OpenSSL and the mixed pairs (our rustls stream against an
//! OpenSSL peer, our OpenSSL stream against a rustls peer), which cover a
//! rustls client with an OpenSSL server and the reverse.

#[path = "conformance/cancel.rs"]
mod cancel;
#[path = "conformance/close.rs"]
mod close;
use graceful_tls_testkit::pairs;
#[path = "conformance/drop.rs"]
mod drop;
#[path = "conformance/io.rs"]
mod io;
#[cfg(feature = "openssl")]
#[path = "conformance/openssl_stack.rs"]
mod openssl_stack;
#[path = "conformance/peer.rs"]
mod peer;
#[path = "conformance/reads.rs"]
mod reads;
#[path = "conformance/stack.rs"]
mod stack;

/// Instantiates every test body of the suite for one pair of stacks.
macro_rules! conformance {
    ($name:ident, $ours:expr, $peer:expr) => {
        mod $name {
            use crate::stack::{Pair, Stack};

            const PAIR: Pair = Pair {
                ours: $ours,
                peer: $peer,
            };

            conformance!(@tests PAIR;
                live reads::close_notify_after_all_data,
                live reads::abrupt_eof_after_all_data,
                live reads::read_outcomes_over_tcp,
                live reads::empty_buffer_is_data_zero,
                live reads::garbage_is_a_typed_tls_error,
                live reads::transport_unexpected_eof_is_not_a_truncation,
                paused cancel::cancel_pending_read_then_write_and_close,
                live cancel::cancel_over_tcp,
                paused cancel::decrypted_plaintext_is_delivered_before_cancelled,
                live cancel::already_cancelled_token,
                live cancel::close_notify_stays_after_cancel,
                paused cancel::cancel_wakes_the_task_reading_now,
                paused close::peer_confirmed_with_every_byte_first,
                live close::peer_confirmed_over_tcp_byte_exact,
                paused close::peer_closed_first_then_we_answer,
                paused close::zero_peer_timeout_does_not_wait,
                paused close::silent_peer_times_out,
                paused close::stalled_peer_flush_timeout,
                paused close::peer_eof_instead_of_close_notify,
                paused close::data_during_close_is_counted,
                paused close::writes_after_close_are_refused,
                paused close::shutdown_is_a_half_close,
                paused close::close_resumes_after_its_future_is_dropped,
                live close::reset_during_close_is_a_transport_error,
                live drop::drop_sends_close_notify,
                live drop::drop_sends_close_notify_over_tcp,
                paused drop::drop_finishes_in_background,
                paused drop::drop_with_stalled_peer_is_bounded,
                live drop::into_inner_sends_nothing,
                live drop::drop_with_unread_peer_data_still_delivers_close_notify,
                live io::close_notify_is_eof_and_truncation_is_an_error,
                live io::cancel_is_connection_aborted,
                live io::split_halves_half_close,
                live io::framed_lines,
            );

            #[test]
            fn drop_outside_a_runtime() {
                crate::drop::drop_outside_a_runtime(PAIR);
            }
        }
    };
    (@tests $pair:ident; $($clock:ident $module:ident :: $test:ident,)*) => {
        $(conformance!(@test $clock $pair $module $test);)*
    };
    // Each body on a thread of its own that fails after `HANG` of real
    // time: a hang is a failure, not a stuck suite (testkit `guarded`).
    (@test live $pair:ident $module:ident $test:ident) => {
        #[test]
        fn $test() {
            graceful_tls_testkit::guarded_live(graceful_tls_testkit::HANG, || {
                crate::$module::$test($pair)
            });
        }
    };
    (@test paused $pair:ident $module:ident $test:ident) => {
        #[test]
        fn $test() {
            graceful_tls_testkit::guarded(graceful_tls_testkit::HANG, || crate::$module::$test($pair));
        }
    };
}

conformance!(rustls_vs_rustls, Stack::Rustls, Stack::Rustls);
#[cfg(feature = "openssl")]
conformance!(openssl_vs_openssl, Stack::OpenSsl, Stack::OpenSsl);
#[cfg(feature = "openssl")]
conformance!(rustls_vs_openssl, Stack::Rustls, Stack::OpenSsl);
#[cfg(feature = "openssl")]
conformance!(openssl_vs_rustls, Stack::OpenSsl, Stack::Rustls);

/// The wrapper fits hyper, `Framed` and `tokio::spawn` with every backend.
#[test]
fn wrapper_is_send_sync_unpin_static() {
    use graceful_tls::GracefulStream;
    use tokio::net::TcpStream;
    fn check<T: Send + Sync + Unpin + 'static>() {}
    check::<GracefulStream<tokio_rustls::TlsStream<TcpStream>>>();
    check::<GracefulStream<tokio_rustls::client::TlsStream<TcpStream>>>();
    check::<GracefulStream<tokio_rustls::server::TlsStream<TcpStream>>>();
    #[cfg(feature = "openssl")]
    check::<GracefulStream<tokio_openssl::SslStream<TcpStream>>>();
}
