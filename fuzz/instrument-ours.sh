#!/usr/bin/env bash
# A RUSTC_WRAPPER for cargo-fuzz builds: coverage instrumentation for our
# own crates and hyper's (the served connection's protocol state machines),
# none for the rest. cargo-fuzz instruments every crate (RUSTFLAGS), and
# rustc has no per-crate allowlist (rust-lang/rust#124158), so this drops
# the SanitizerCoverage flags from every other crate's rustc command line.
# AddressSanitizer and every other flag stay on everywhere.
#
# Why (docs/fuzzing.md, "Speed"): a `stream` run touches ~9,000 edges, 4,200
# in rustls' handshake and 600 in tokio, the same ones every run, and
# libFuzzer files each one's feature after every run: a quarter of the
# target's time. Their code still runs, checked by AddressSanitizer and by
# the harness; only libFuzzer's feedback from inside them is gone (rustls
# fuzzes its own state machines, rustls/fuzz). hyper and h2 keep theirs:
# the `served` target's clients send partial heads and frames, and which
# of hyper's states they reach is what guides it.
#
#   RUSTC_WRAPPER=fuzz/instrument-ours.sh cargo fuzz build ...
#
# cargo does not see the list below in its fingerprints: after changing
# it, remove fuzz/target/scripted so that every crate is built again.
set -euo pipefail
rustc="$1"
shift
ours=(graceful_tls graceful_tls_testkit machine stream stream_real served hyper h2)
crate=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "--crate-name" ]; then
        crate="$arg"
        break
    fi
    prev="$arg"
done
for name in "${ours[@]}"; do
    if [ "$crate" = "$name" ]; then
        exec "$rustc" "$@"
    fi
done
args=()
for arg in "$@"; do
    case "$arg" in
        -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage-*) ;;
        *) args+=("$arg") ;;
    esac
done
exec "$rustc" "${args[@]}"
