#!/usr/bin/env bash
# One tt-load run on a fresh benchmark cluster, with the CPU time (user and system, from
# /proc) each server, MariaDB and Redis spent during it: where a run's work goes, which a
# throughput number alone does not say (benches/README.md, "Link spread, presence batches and
# pool checks").
#
# Every run starts from an empty bench database and empty Redis dbs (`cluster.sh reset`), so
# a run never pays for the rows earlier runs left (see "A bench database that grows skews
# every run").
#
# Usage: benches/cpu.sh MSG_SERVERS SEED-ARGS TT-LOAD-ARGS...
#   e.g. benches/cpu.sh 1 "--users 2000" msg --pairs 1000 --rate 15 --seconds 20 --window 1
#        benches/cpu.sh 1 "--users 2000" login --count 2000 --concurrency 50 --client-type pc
#        benches/cpu.sh 2 "--prefix g --users 500 --groups 1 --group-size 500" \
#            group --prefix g --group-id 1 --members 500 --senders 15 --rate 15 --seconds 20
#        (the database is new, so the first seeded group has id 1)
# Seeds with `tt-load seed SEED-ARGS` (split on spaces), runs `tt-load ARGS --msg-server <all>`,
# writes its JSON to TT_CPU_OUT (default /tmp/tt-cpu.json) and prints one line per process.
# Environment: as benches/cluster.sh (TT_BENCH_BIN, TT_BENCH_DB, TT_BENCH_REDIS, ...).
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly base=${TT_BENCH_PORT:-20000}
readonly work_dir=${TT_BENCH_DIR:-/tmp/tt-bench}
readonly db_name=${TT_BENCH_DB:-teamtalk_bench}
readonly redis_first=${TT_BENCH_REDIS:-6}
readonly out=${TT_CPU_OUT:-/tmp/tt-cpu.json}
readonly load=${CARGO_TARGET_DIR:-$root_dir/target}/release/tt-load

die() {
    printf 'cpu: error: %s\n' "$*" >&2
    exit 1
}

(($# >= 3)) || die "usage: benches/cpu.sh MSG_SERVERS SEED-ARGS TT-LOAD-ARGS..."
readonly msg_servers=$1
read -ra seed_args <<<"$2"
shift 2
[[ $msg_servers =~ ^[1-9][0-9]*$ ]] || die "MSG_SERVERS must be a positive integer"
[[ -x $load ]] || (cd "$root_dir" && cargo build --release -q -p tt_bench --bin tt-load)

cluster() {
    "$root_dir/benches/cluster.sh" "$@"
}
trap 'cluster stop >/dev/null 2>&1 || true' EXIT

cluster reset
cluster start "$msg_servers" >/dev/null
"$load" seed "${seed_args[@]}" --mysql-url "mysql://root@127.0.0.1:3306/$db_name" \
    --group-member-db $((redis_first + 4)) --unread-db "$redis_first" --json >/dev/null

# Measured processes: name → pid.
declare -A pids=(
    [db_proxy_server]=$(<"$work_dir/db_proxy_server/bench.pid")
    [route_server]=$(<"$work_dir/route_server/bench.pid")
    [login_server]=$(<"$work_dir/login_server/bench.pid")
)
servers=()
for ((i = 0; i < msg_servers; i++)); do
    pids[msg_server$i]=$(<"$work_dir/msg_server$i/bench.pid")
    servers+=("127.0.0.1:$((base + i))")
done
mariadb=$(pgrep -xo mariadbd || pgrep -xo mysqld || true)
redis=$(pgrep -xo redis-server || true)
[[ -n $mariadb ]] && pids[mariadb]=$mariadb
[[ -n $redis ]] && pids[redis]=$redis

# "user system" clock ticks of pid $1.
ticks() {
    awk '{ print $14, $15 }' "/proc/$1/stat"
}

declare -A before
for name in "${!pids[@]}"; do
    before[$name]=$(ticks "${pids[$name]}")
done
list=$(IFS=,; echo "${servers[*]}")
# bash's `time` reports tt-load's own user and system seconds.
TIMEFORMAT='%3U %3S'
{ time "$load" "$@" --msg-server "$list" --quiet --json --out "$out" >/dev/null \
    2>"$out.log"; } 2>"$out.time" || printf 'cpu: tt-load reported failures; see %s\n' "$out" >&2

hz=$(getconf CLK_TCK)
printf '| process | user ms | system ms |\n|---|---:|---:|\n'
for name in $(printf '%s\n' "${!pids[@]}" | sort); do
    read -r u0 s0 <<<"${before[$name]}"
    read -r u1 s1 <<<"$(ticks "${pids[$name]}")"
    printf '| %s | %d | %d |\n' "$name" $(((u1 - u0) * 1000 / hz)) $(((s1 - s0) * 1000 / hz))
done
read -r lu ls <"$out.time"
awk -v u="$lu" -v s="$ls" 'BEGIN { printf "| tt-load | %.0f | %.0f |\n", u * 1000, s * 1000 }'
printf '\ntt-load result: %s (its log: %s.log)\n' "$out" "$out"
