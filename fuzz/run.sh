#!/usr/bin/env bash
# Fuzzes every target (or the ones named) for SECONDS each (default 60), on
# the stable toolchain with RUSTC_BOOTSTRAP=1 as rustls' CI does.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz if it is missing. Each target starts from the committed
# corpus (fuzz/corpus/<target>, read only) plus a working corpus under
# fuzz/target/work-corpus/<target> that keeps growing between runs. Crashes
# land in fuzz/artifacts/<target>/; turn each into a named test in
# tests/fuzz_replay.rs, and refresh the committed corpus with
#   RUSTC_BOOTSTRAP=1 cargo fuzz cmin -O <target> fuzz/corpus/<target>
#
# Builds use -O (release, no debug assertions): rustls debug-asserts on a
# peer's malformed record after our close_notify (rustls/rustls#959), which
# the stream target provokes on purpose. The harness' own checks are
# assert!, which -O keeps.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(machine stream served)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# AddressSanitizer without its two costliest extras (measured on the
# stream corpus: 1.52 s of CPU without these, 0.88 s with): the fake stack
# that finds use after return (safe Rust cannot return a dangling
# reference; the unsafe code this checks is the dependencies' own), and
# LeakSanitizer (a leak is not a memory-safety bug, and libFuzzer's leak
# check hooks every malloc). Set ASAN_OPTIONS to override.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:detect_stack_use_after_return=0}"

# Per-target build and libFuzzer flags. `stream` and `served` decode
# scripts (their clients and peers write well-formed bytes of their own
# choosing); `stream` spends its time in
# rustls' and the fake crypto's byte loops, where comparison tracing
# (libFuzzer's CMP table) doubled the CPU per run and guides nothing: its
# input is a decoded script, not bytes matched against constants. The
# entropic schedule's bookkeeping of rare features took a fifth of its
# time (a run touches ~9,000 edges); the plain schedule runs ~30 % more
# inputs. Without hit-count buckets (`-use_counters=0`) a run has a third
# of the features to file and the corpus grows by new edges and cases only
# (their cases are extra counters, still features): 38 % more runs of
# stream, 15 % of served, side by side, the same edges reached. See
# docs/fuzzing.md, "Speed".
build_flags() {
    case "$1" in
        # A target directory of its own: other flags rebuild every crate.
        stream | served) echo "--no-trace-compares --target-dir target/no-trace-compares" ;;
    esac
}
fuzz_flags() {
    case "$1" in
        stream | served) echo "-entropic=0 -use_counters=0" ;;
    esac
}

status=0
for target in "${targets[@]}"; do
    work="target/work-corpus/$target"
    log="target/fuzz-$target.log"
    mkdir -p "$work" "artifacts/$target"
    echo "== fuzzing $target for ${seconds}s (log: fuzz/$log)"
    # shellcheck disable=SC2046 # the flags are words
    if cargo fuzz run -O $(build_flags "$target") "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -print_final_stats=1 $(fuzz_flags "$target") >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        status=1
        grep -a -E -A8 "panicked|ERROR: libFuzzer|Test unit written" "$log" || tail -30 "$log"
    fi
    cov=$(grep -a -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
    execs=$(grep -a -E "stat::number_of_executed_units" "$log" | grep -a -oE "[0-9]+$" || echo "?")
    echo "== $target: $result, $execs runs, ${cov:-no coverage line}"
done
exit "$status"
