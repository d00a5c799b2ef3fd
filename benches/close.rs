//! What graceful closing costs, side by side with bare tokio-rustls.
//!
//! `cargo bench --bench close` (full) or `cargo bench --bench close -- --quick`
//! (under two minutes on 2 cores). Loopback TCP, real rustls (ring), TLS 1.3
//! with AES-128-GCM only. Every scenario runs the baseline and the crate
//! interleaved (A B, B A, A B ...: who goes first alternates) in one process and reports medians. Prints one
//! machine-readable line per scenario, a markdown table (the one in
//! docs/benchmarks.md), and writes `target/bench/close.{json,md,svg}`; a full
//! run also refreshes `docs/bench.svg`, which the README and
//! docs/benchmarks.md embed.
//!
//! `mass_close` runs its peers in a child process (this binary re-executed
//! with `--mass-close-peer`): 10,000 connections need 20,000 descriptors in
//! one process, more than common `ulimit -n` settings allow.

#[path = "close/alloc.rs"]
mod alloc;
#[path = "close/cancel.rs"]
mod cancel;
#[path = "close/chart.rs"]
mod chart;
#[path = "close/data_path.rs"]
mod data_path;
#[path = "close/mass.rs"]
mod mass;
#[path = "close/memory.rs"]
mod memory;
#[path = "close/report.rs"]
mod report;
#[path = "close/tls.rs"]
mod tls;

use std::time::Instant;

use report::Figures;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub quick: bool,
    pub bulk_bytes: usize,
    pub bulk_rounds: usize,
    pub pingpong_iters: usize,
    pub pingpong_rounds: usize,
    pub cancel_samples: usize,
    pub mass_connections: usize,
    pub mass_rounds: usize,
    pub memory_connections: usize,
    pub memory_round_trips: usize,
}

impl Plan {
    fn new(quick: bool) -> Self {
        const MIB: usize = 1024 * 1024;
        if quick {
            Plan {
                quick,
                bulk_bytes: 64 * MIB,
                bulk_rounds: 10,
                pingpong_iters: 5_000,
                pingpong_rounds: 10,
                cancel_samples: 300,
                mass_connections: 1_000,
                mass_rounds: 3,
                memory_connections: 200,
                memory_round_trips: 1_000,
            }
        } else {
            Plan {
                quick,
                bulk_bytes: 256 * MIB,
                bulk_rounds: 12,
                pingpong_iters: 20_000,
                pingpong_rounds: 12,
                cancel_samples: 2_000,
                mass_connections: 10_000,
                mass_rounds: 3,
                memory_connections: 1_000,
                memory_round_trips: 5_000,
            }
        }
    }
}

/// `--profile-round-trips bare|graceful N`: only N pingpong round trips, for
/// instruction counts (`valgrind --tool=callgrind`); see docs/benchmarks.md.
const PROFILE_ARG: &str = "--profile-round-trips";

fn profile_round_trips(args: &[String]) {
    let graceful = match args.first().map(String::as_str) {
        Some("bare") => false,
        Some("graceful") => true,
        _ => panic!("usage: {PROFILE_ARG} bare|graceful N"),
    };
    let n: usize = args.get(1).and_then(|n| n.parse().ok()).expect("N");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(data_path::profile(graceful, n));
}

/// `--profile-bulk bare|graceful MIB`: only MIB MiB of bulk transfer, one
/// way, for instruction counts (`valgrind --tool=callgrind`); see
/// docs/benchmarks.md.
const PROFILE_BULK_ARG: &str = "--profile-bulk";

fn profile_bulk(args: &[String]) {
    let graceful = match args.first().map(String::as_str) {
        Some("bare") => false,
        Some("graceful") => true,
        _ => panic!("usage: {PROFILE_BULK_ARG} bare|graceful MIB"),
    };
    let mib: usize = args.get(1).and_then(|n| n.parse().ok()).expect("MIB");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(data_path::profile_bulk(graceful, mib));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == mass::PEER_ARG) {
        mass::peer_main(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == PROFILE_ARG) {
        profile_round_trips(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == PROFILE_BULK_ARG) {
        profile_bulk(&args[i + 1..]);
        return;
    }
    let plan = Plan::new(args.iter().any(|a| a == "--quick"));
    let started = Instant::now();
    let current_thread = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    let multi_thread = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    };

    eprintln!(
        "bulk: {} MiB x {} rounds",
        plan.bulk_bytes >> 20,
        plan.bulk_rounds
    );
    let bulk = multi_thread().block_on(data_path::bulk(plan.bulk_bytes, plan.bulk_rounds));
    eprintln!(
        "pingpong: {} round trips x {} rounds",
        plan.pingpong_iters, plan.pingpong_rounds
    );
    let pingpong = current_thread().block_on(data_path::pingpong(
        plan.pingpong_iters,
        plan.pingpong_rounds,
    ));
    eprintln!(
        "cancel_to_close_notify: {} connections per variant",
        plan.cancel_samples
    );
    let cancel = current_thread().block_on(cancel::cancel_to_close_notify(plan.cancel_samples));
    let connections = mass::connections_that_fit(plan.mass_connections);
    eprintln!(
        "mass_close: {connections} connections x {} rounds",
        plan.mass_rounds
    );
    let mass = multi_thread().block_on(mass::mass_close(connections, plan.mass_rounds));
    eprintln!("memory: {} connections", plan.memory_connections);
    let memory = current_thread().block_on(memory::memory(
        plan.memory_connections,
        plan.memory_round_trips,
    ));

    let figures = Figures {
        plan,
        machine: report::Machine::describe(),
        bulk,
        pingpong,
        cancel,
        mass,
        memory,
        seconds: started.elapsed().as_secs_f64(),
    };
    figures.print();
    figures.write_files();
}
