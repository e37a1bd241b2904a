#!/usr/bin/env bash
# Builds every cargo fuzz target in fuzz/ and runs each for a fixed time, one after the other;
# fails if any target finds a crash, a panic or a hang. Installs cargo-fuzz when missing.
#
# Usage: scripts/fuzz.sh [seconds-per-target]   (default 15)
#
# The pinned stable toolchain builds the targets: cargo fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 allows. Targets are built without a sanitizer (the code forbids `unsafe`;
# panics, overflow checks and debug assertions are what catch bugs here), which keeps build
# and run time short. New inputs found during the run go to a scratch directory, so the committed
# seeds in fuzz/corpus/ stay small; a crashing input is left in fuzz/artifacts/<target>/.
#
# Environment: CARGO_TARGET_DIR (fuzz builds go to its `fuzz` subdirectory, default
# target/fuzz).
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
cd "$root_dir/fuzz"

readonly seconds=${1:-15}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    printf 'fuzz: error: seconds-per-target must be a positive integer, got %s\n' "$seconds" >&2
    exit 2
fi

if ! command -v cargo >/dev/null 2>&1; then
    printf 'fuzz: error: cargo not found; install Rust with rustup (the toolchain is pinned' >&2
    printf ' in rust-toolchain.toml) and put ~/.cargo/bin on PATH\n' >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    printf 'fuzz: installing cargo-fuzz\n'
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
readonly target_dir="${CARGO_TARGET_DIR:-$root_dir/target}/fuzz"
readonly build_args=(--sanitizer none --target-dir "$target_dir")

cargo fuzz build "${build_args[@]}"

scratch=$(mktemp -d)
readonly scratch
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $(cargo fuzz list); do
    printf 'fuzz: %s for %ss\n' "$target" "$seconds"
    mkdir -p "$scratch/$target"
    # -timeout: an input that runs this long is a hang (libFuzzer's default is 20 minutes).
    if ! cargo fuzz run "${build_args[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        failed+=("$target")
        # The crash report, without the recommended dictionary that follows a clean run.
        grep -v '^WARNING: Failed to find function' "$scratch/$target.log" | tail -n 60 >&2
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$scratch/$target.log" || true
done

if ((${#failed[@]})); then
    printf 'fuzz: error: crash in %s; reproducers are in fuzz/artifacts/\n' "${failed[*]}" >&2
    exit 1
fi
printf 'fuzz: all targets ran %ss without a crash\n' "$seconds"
