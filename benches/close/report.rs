//! The figures: the five machine-readable lines, the markdown table (the
//! one in docs/benchmarks.md), `target/bench/close.{json,md,svg}` and, after a full run,
//! `docs/bench.svg`.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::chart;
use crate::data_path::Ab;
use crate::mass::{Mass, Run};
use crate::memory::Memory;
use crate::Plan;

pub struct Figures {
    pub plan: Plan,
    pub machine: Machine,
    pub bulk: Ab,
    pub pingpong: Ab,
    pub cancel: Ab,
    pub mass: Mass,
    pub memory: Memory,
    pub seconds: f64,
}

/// The machine the figures come from.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub rustc: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map_or("unknown CPU".into(), |(_, v)| v.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown kernel".into(), |k| k.trim().to_string());
        let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map_or("unknown rustc".into(), |v| v.trim().to_string());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Machine {
            cpu,
            cores,
            kernel,
            rustc,
        }
    }
}

pub fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn runs_median(runs: &[Run]) -> f64 {
    median(&runs.iter().map(|r| r.ms).collect::<Vec<_>>())
}

fn worst(runs: &[Run], count: fn(&Run) -> usize) -> usize {
    runs.iter().map(count).max().unwrap_or(0)
}

/// Every figure the lines, the table, the JSON and the chart show.
pub struct Summary {
    pub bulk_bare: f64,
    pub bulk_graceful: f64,
    pub ping_bare: f64,
    pub ping_graceful: f64,
    pub cancel: [f64; 4], // graceful p50, p99, handrolled p50, p99
    pub mass_graceful_ms: f64,
    pub mass_answering_ms: f64,
    pub mass_bare_ms: f64,
    pub mass_graceful_truncated: usize,
    pub mass_graceful_other: usize,
    pub mass_bare_truncated: usize,
    pub mass_bare_other: usize,
}

impl Figures {
    pub fn summary(&self) -> Summary {
        let (g, h) = (&self.cancel.graceful, &self.cancel.bare);
        let m = &self.mass;
        Summary {
            bulk_bare: median(&self.bulk.bare),
            bulk_graceful: median(&self.bulk.graceful),
            ping_bare: median(&self.pingpong.bare),
            ping_graceful: median(&self.pingpong.graceful),
            cancel: [
                percentile(g, 50.0),
                percentile(g, 99.0),
                percentile(h, 50.0),
                percentile(h, 99.0),
            ],
            mass_graceful_ms: runs_median(&m.graceful),
            mass_answering_ms: runs_median(&m.graceful_answering),
            mass_bare_ms: runs_median(&m.bare),
            mass_graceful_truncated: worst(&m.graceful, |r| r.truncated)
                .max(worst(&m.graceful_answering, |r| r.truncated)),
            mass_graceful_other: worst(&m.graceful, |r| r.other)
                .max(worst(&m.graceful_answering, |r| r.other)),
            mass_bare_truncated: worst(&m.bare, |r| r.truncated),
            mass_bare_other: worst(&m.bare, |r| r.other),
        }
    }

    /// The five machine-readable lines, in the format.
    pub fn lines(&self) -> String {
        let s = self.summary();
        let mem = &self.memory;
        format!(
            "bulk: bare_mbps={:.1} graceful_mbps={:.1} ratio={:.4}\n\
             pingpong: bare_us={:.2} graceful_us={:.2} ratio={:.4}\n\
             cancel_to_close_notify: graceful_p50_us={:.1} graceful_p99_us={:.1} \
             handrolled_p50_us={:.1} handrolled_p99_us={:.1} ratio_p99={:.4}\n\
             mass_close: connections={} graceful_ms={:.1} graceful_truncated={} \
             bare_drop_truncated={}\n\
             memory: wrapper_inline_bytes={} heap_bytes_per_conn={:.0}\n",
            s.bulk_bare,
            s.bulk_graceful,
            s.bulk_graceful / s.bulk_bare,
            s.ping_bare,
            s.ping_graceful,
            s.ping_graceful / s.ping_bare,
            s.cancel[0],
            s.cancel[1],
            s.cancel[2],
            s.cancel[3],
            s.cancel[1] / s.cancel[3],
            self.mass.connections,
            s.mass_graceful_ms,
            s.mass_graceful_truncated,
            s.mass_bare_truncated,
            mem.inline_bytes(),
            mem.heap_bytes_per_conn,
        )
    }

    /// The table of docs/benchmarks.md.
    pub fn markdown(&self) -> String {
        let (s, p, mem, m) = (self.summary(), &self.plan, &self.memory, &self.machine);
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{} run, {} vCPU {}, Linux {}, {}, release profile; medians of {} / {} / {} rounds \
             (bulk / pingpong / mass_close), {} connections per cancel variant.\n",
            if p.quick { "Quick" } else { "Full" },
            m.cores,
            m.cpu,
            m.kernel,
            m.rustc,
            p.bulk_rounds,
            p.pingpong_rounds,
            p.mass_rounds,
            p.cancel_samples,
        );
        t.push_str("| scenario | bare tokio-rustls | graceful-tls | graceful / bare | target |\n");
        t.push_str("|---|---|---|---|---|\n");
        let row = |t: &mut String,
                   name: String,
                   bare: String,
                   ours: String,
                   ratio: String,
                   target: &str| {
            let _ = writeln!(t, "| {name} | {bare} | {ours} | {ratio} | {target} |");
        };
        row(
            &mut t,
            format!("bulk, {} MiB in 16 KiB writes", p.bulk_bytes >> 20),
            format!("{:.0} MB/s", s.bulk_bare),
            format!("{:.0} MB/s", s.bulk_graceful),
            format!("{:.3}", s.bulk_graceful / s.bulk_bare),
            ">= 0.99",
        );
        row(
            &mut t,
            "pingpong, 64-byte round trip".into(),
            format!("{:.2} µs", s.ping_bare),
            format!("{:.2} µs", s.ping_graceful),
            format!("{:.3}", s.ping_graceful / s.ping_bare),
            "<= 1.01",
        );
        row(
            &mut t,
            "cancel → peer has close_notify, p50 (bare: hand-rolled `select!` + `shutdown()`)"
                .into(),
            format!("{:.1} µs", s.cancel[2]),
            format!("{:.1} µs", s.cancel[0]),
            format!("{:.3}", s.cancel[0] / s.cancel[2]),
            "",
        );
        row(
            &mut t,
            "cancel → peer has close_notify, p99".into(),
            format!("{:.1} µs", s.cancel[3]),
            format!("{:.1} µs", s.cancel[1]),
            format!("{:.3}", s.cancel[1] / s.cancel[3]),
            "<= 1.10 and < 100 µs",
        );
        row(
            &mut t,
            format!(
                "mass_close, {} idle connections, one token (bare: drop)",
                self.mass.connections
            ),
            format!(
                "{:.1} ms, {} truncated, {} errors",
                s.mass_bare_ms, s.mass_bare_truncated, s.mass_bare_other
            ),
            format!(
                "{:.1} ms, {} truncated, {} errors",
                s.mass_graceful_ms, s.mass_graceful_truncated, s.mass_graceful_other
            ),
            String::new(),
            "< 300 ms (10,000), 0 truncated",
        );
        row(
            &mut t,
            "mass_close, peers answering each close_notify at once (their work shares the 2 cores)"
                .into(),
            String::new(),
            format!("{:.1} ms", s.mass_answering_ms),
            String::new(),
            "",
        );
        row(
            &mut t,
            "inline size (`size_of`, server stream over `TcpStream`)".into(),
            format!("{} B", mem.stream_bytes),
            format!("{} B", mem.wrapped_bytes),
            format!("+{} B", mem.inline_bytes()),
            "+<= 128 B",
        );
        row(
            &mut t,
            "heap per idle connection, pending read (wrapper's own)".into(),
            String::new(),
            format!("{:.0} B", mem.heap_bytes_per_conn),
            String::new(),
            "",
        );
        row(
            &mut t,
            "allocations per 64-byte round trip (both ends)".into(),
            format!("{:.2}", mem.bare_allocs_per_round_trip),
            format!("{:.2}", mem.graceful_allocs_per_round_trip),
            format!(
                "+{:.2}",
                mem.graceful_allocs_per_round_trip - mem.bare_allocs_per_round_trip
            ),
            "+0",
        );
        t
    }

    pub fn print(&self) {
        println!("\n{}", self.markdown());
        let outcomes: Vec<String> = self
            .mass
            .graceful
            .iter()
            .chain(&self.mass.graceful_answering)
            .map(|r| format!("{:?}", r.outcomes))
            .collect();
        println!(
            "graceful close outcomes per mass_close round: {}; a child_token() costs {:.0} heap bytes \
             (the caller's); whole run {:.0} s\n",
            outcomes.join(" "),
            self.memory.child_token_bytes,
            self.seconds
        );
        print!("{}", self.lines());
    }

    pub fn write_files(&self) {
        let dir = target_dir().join("bench");
        std::fs::create_dir_all(&dir).expect("create target/bench");
        std::fs::write(dir.join("close.json"), self.json()).expect("write close.json");
        std::fs::write(dir.join("close.md"), self.markdown()).expect("write close.md");
        let svg = dir.join("close.svg");
        chart::render(self, &svg);
        let mut written = vec![dir.join("close.json"), dir.join("close.md"), svg.clone()];
        if !self.plan.quick {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/bench.svg");
            std::fs::copy(&svg, &docs).expect("copy the chart to docs/bench.svg");
            written.push(docs);
        }
        for path in written {
            eprintln!("wrote {}", path.display());
        }
    }

    fn json(&self) -> String {
        let s = self.summary();
        let list = |v: &[f64]| {
            let items: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
            format!("[{}]", items.join(", "))
        };
        let runs = |runs: &[Run]| {
            let items: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "{{\"ms\": {:.3}, \"clean\": {}, \"truncated\": {}, \"other\": {}}}",
                        r.ms, r.clean, r.truncated, r.other
                    )
                })
                .collect();
            format!("[{}]", items.join(", "))
        };
        let (m, mem, p) = (&self.machine, &self.memory, &self.plan);
        format!(
            "{{\n  \"machine\": {{\"cpu\": {:?}, \"cores\": {}, \"kernel\": {:?}, \"rustc\": {:?}}},\n  \
             \"quick\": {},\n  \
             \"bulk\": {{\"bytes\": {}, \"bare_mbps\": {:.3}, \"graceful_mbps\": {:.3}, \"ratio\": {:.5}, \"bare_rounds\": {}, \"graceful_rounds\": {}}},\n  \
             \"pingpong\": {{\"round_trips\": {}, \"bare_us\": {:.4}, \"graceful_us\": {:.4}, \"ratio\": {:.5}, \"bare_rounds\": {}, \"graceful_rounds\": {}}},\n  \
             \"cancel_to_close_notify\": {{\"connections_per_variant\": {}, \"graceful_p50_us\": {:.3}, \"graceful_p99_us\": {:.3}, \"handrolled_p50_us\": {:.3}, \"handrolled_p99_us\": {:.3}, \"ratio_p99\": {:.5}}},\n  \
             \"mass_close\": {{\"connections\": {}, \"graceful_ms\": {:.3}, \"graceful_answering_at_once_ms\": {:.3}, \"bare_drop_ms\": {:.3}, \"graceful_truncated\": {}, \"bare_drop_truncated\": {}, \"graceful_rounds\": {}, \"graceful_answering_at_once_rounds\": {}, \"bare_rounds\": {}}},\n  \
             \"memory\": {{\"stream_bytes\": {}, \"wrapped_bytes\": {}, \"wrapper_inline_bytes\": {}, \"heap_bytes_per_conn\": {:.1}, \"child_token_bytes\": {:.1}, \"bare_allocs_per_round_trip\": {:.3}, \"graceful_allocs_per_round_trip\": {:.3}}}\n}}\n",
            m.cpu, m.cores, m.kernel, m.rustc, p.quick,
            p.bulk_bytes, s.bulk_bare, s.bulk_graceful, s.bulk_graceful / s.bulk_bare, list(&self.bulk.bare), list(&self.bulk.graceful),
            p.pingpong_iters, s.ping_bare, s.ping_graceful, s.ping_graceful / s.ping_bare, list(&self.pingpong.bare), list(&self.pingpong.graceful),
            p.cancel_samples, s.cancel[0], s.cancel[1], s.cancel[2], s.cancel[3], s.cancel[1] / s.cancel[3],
            self.mass.connections, s.mass_graceful_ms, s.mass_answering_ms, s.mass_bare_ms, s.mass_graceful_truncated, s.mass_bare_truncated, runs(&self.mass.graceful), runs(&self.mass.graceful_answering), runs(&self.mass.bare),
            mem.stream_bytes, mem.wrapped_bytes, mem.inline_bytes(), mem.heap_bytes_per_conn, mem.child_token_bytes, mem.bare_allocs_per_round_trip, mem.graceful_allocs_per_round_trip,
        )
    }
}

/// `$CARGO_TARGET_DIR`, else the manifest dir's `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}
