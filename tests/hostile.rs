//! Hostile peers: every deadline holds whatever the peer does (floods,
//! stalls, resets, sends garbage or alerts, vanishes), and every fault at
//! every close step and read state is a typed outcome.

mod common;
#[path = "hostile/flood.rs"]
mod flood;
#[path = "hostile/thread_peer.rs"]
mod thread_peer;
