//! Hostile peers: every deadline holds whatever the peer does (floods,
//! stalls, resets, sends garbage or alerts, vanishes), and every fault at
//! every close step and read state is a typed outcome.

#[path = "hostile/await_peer.rs"]
mod await_peer;
mod common;
#[path = "hostile/deadlines.rs"]
mod deadlines;
#[path = "hostile/drop.rs"]
mod drop;
#[path = "hostile/flood.rs"]
mod flood;
#[path = "hostile/flood_memory.rs"]
mod flood_memory;
#[path = "hostile/flush.rs"]
mod flush;
#[path = "hostile/kit.rs"]
mod kit;
#[path = "hostile/pump.rs"]
mod pump;
#[path = "hostile/reads.rs"]
mod reads;
#[path = "hostile/shutdown.rs"]
mod shutdown;
#[path = "hostile/tcp.rs"]
mod tcp;
#[path = "hostile/thread_peer.rs"]
mod thread_peer;
#[path = "hostile/transport.rs"]
mod transport;
