#!/usr/bin/env bash
# Runs the whole test suite: makes MariaDB and Redis available with an empty teamtalk_test
# schema loaded, and chromium with chromedriver (scripts/services.sh --browser), then `cargo test --workspace`, then the fault suite
# (benches/faults.sh: real server processes killed and restarted under load) and every fuzz
# target for a short fixed time (scripts/fuzz.sh, when fuzz/ is present).
#
# Usage: scripts/test.sh [cargo test arguments]
#   With arguments, only `cargo test` runs, with them instead of --workspace:
#   scripts/test.sh -p netlib conf::tests
#
# Tests that need the databases read these variables, exported here:
#   TT_TEST_MYSQL_URL  mysql://root@127.0.0.1:3306/teamtalk_test
#   TT_TEST_REDIS_URL  redis://127.0.0.1:6379
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
cd "$root_dir"

# Tests get their own database so they never touch the demo cluster's teamtalk.
readonly test_db=teamtalk_test

if ! command -v cargo >/dev/null 2>&1; then
    printf 'test: error: cargo not found; install Rust with rustup (the toolchain is pinned' >&2
    printf ' in rust-toolchain.toml) and put ~/.cargo/bin on PATH\n' >&2
    exit 1
fi

TT_DB_NAME=$test_db scripts/services.sh --browser

export TT_TEST_MYSQL_URL="mysql://root@127.0.0.1:3306/$test_db"
export TT_TEST_REDIS_URL="redis://127.0.0.1:6379"

if [[ $# -gt 0 ]]; then
    cargo test "$@"
    exit
fi

cargo test --workspace
benches/faults.sh
if [[ -d fuzz ]]; then
    scripts/fuzz.sh "${TT_FUZZ_SECONDS:-10}"
fi
