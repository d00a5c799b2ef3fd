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
    targets=(machine stream stream_real served)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# AddressSanitizer without its costliest extras (measured on the stream
# corpus: 1.52 s of CPU without the first two, 0.88 s with; the third, 9 %
# more runs of stream side by side): the fake stack that finds use after
# return (safe Rust cannot return a dangling reference; the unsafe code
# this checks is the dependencies' own), LeakSanitizer (a leak is not a
# memory-safety bug, and libFuzzer's leak check hooks every malloc), and
# the allocation and free stacks recorded at every malloc and free (a
# report still shows the bad access's stack; replay the crash without
# run.sh, `cargo fuzz run -O <target> <crash file>`, for those two).
# Set ASAN_OPTIONS to override.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:detect_stack_use_after_return=0:malloc_context_size=0}"

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
        # A target directory of their own: other flags rebuild every crate.
        stream | stream_real | served) echo "--no-trace-compares --target-dir target/scripted" ;;
    esac
}
# Coverage for our crates and hyper's only (instrument-ours.sh says why):
# rustls' handshake and tokio are the same in every run, and libFuzzer
# filing their ~4,800 edges after each run took a quarter of stream's time.
build_wrapper() {
    case "$1" in
        stream | stream_real | served) echo "$PWD/instrument-ours.sh" ;;
        *) echo "${RUSTC_WRAPPER:-}" ;;
    esac
}
fuzz_flags() {
    case "$1" in
        stream | stream_real | served) echo "-entropic=0 -use_counters=0" ;;
    esac
}

# The committed corpus a target starts from: stream_real takes stream's
# (the same scripts, over real crypto).
seed_corpus() {
    case "$1" in
        stream_real) echo "corpus/stream" ;;
        *) echo "corpus/$1" ;;
    esac
}
# One libFuzzer process per core (FUZZ_WORKERS to choose), sharing the
# working corpus: each writes its finds there and reloads the others'.
workers="${FUZZ_WORKERS:-$(nproc)}"

status=0
for target in "${targets[@]}"; do
    work="target/work-corpus/$target"
    mkdir -p "$work" "artifacts/$target"
    wrapper="$(build_wrapper "$target")"
    echo "== fuzzing $target for ${seconds}s, $workers processes (logs: fuzz/target/fuzz-$target.<N>.log)"
    # shellcheck disable=SC2046 # the flags are words
    RUSTC_WRAPPER="$wrapper" cargo fuzz build -O $(build_flags "$target") "$target" >"target/fuzz-$target.build.log" 2>&1 ||
        { tail -30 "target/fuzz-$target.build.log"; exit 1; }
    pids=()
    for worker in $(seq 1 "$workers"); do
        # shellcheck disable=SC2046 # the flags are words
        RUSTC_WRAPPER="$wrapper" cargo fuzz run -O $(build_flags "$target") "$target" "$work" "$(seed_corpus "$target")" -- \
            -max_total_time="$seconds" -timeout=20 -print_final_stats=1 $(fuzz_flags "$target") \
            >"target/fuzz-$target.$worker.log" 2>&1 &
        pids+=("$!")
    done
    result=ok
    runs=0
    for worker in $(seq 1 "$workers"); do
        log="target/fuzz-$target.$worker.log"
        if ! wait "${pids[$((worker - 1))]}"; then
            result=FAILED
            status=1
            grep -a -E -A8 "panicked|ERROR: libFuzzer|Test unit written" "$log" || tail -30 "$log"
        fi
        execs=$(grep -a -E "stat::number_of_executed_units" "$log" | grep -a -oE "[0-9]+$" || echo 0)
        runs=$((runs + execs))
        cov=$(grep -a -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
        echo "   process $worker: $execs runs, ${cov:-no coverage line}"
    done
    echo "== $target: $result, $runs runs in ${seconds}s ($((runs / seconds / workers)) per second per process)"
done
exit "$status"
