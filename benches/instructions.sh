#!/usr/bin/env bash
# Instructions per 1:1 message, per server process: the repeatable measure of what a message
# costs msg_server, db_proxy_server and route_server, counted by valgrind's callgrind. Wall-clock
# throughput on a shared machine moves with whatever else runs; instruction counts do not, so
# this is what a change is compared by before and after (benches/README.md, "Instructions").
#
# Starts the benchmark cluster (benches/cluster.sh, release build, TT_INSTR_MSG_SERVERS
# msg_servers) with every msg_server, db_proxy_server and route_server under callgrind, seeds
# 2×PAIRS users, then:
#   1. zero the counters, log every user in (tt-load login), dump: the logins' cost;
#   2. zero, run tt-load msg (which logs the same users in again, then sends), dump;
# and prints, per process, (instructions of 2 − instructions of 1) ÷ acked messages. With
# several msg_servers, users are spread over them round-robin (tt-load --msg-server), so every
# pair crosses route_server; each msg_server gets a row and "msg_server (all)" their sum.
#
# Usage: benches/instructions.sh [PAIRS [RATE [SECONDS]]]   (default 20 5 20: 2,000 messages)
# Environment: as benches/cluster.sh (TT_BENCH_PORT, TT_BENCH_DB, TT_BENCH_REDIS, ...);
#   TT_INSTR_DIR          callgrind output and tt-load results (default /tmp/tt-instr; kept)
#   TT_INSTR_MSG_SERVERS  msg_servers in the cluster (default 1)
#   TT_INSTR_BIN          take msg_server and route_server from this directory instead of the
#                         build (to measure another commit's servers with the same cluster)
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly pairs=${1:-20} rate=${2:-5} seconds=${3:-20}
readonly out=${TT_INSTR_DIR:-/tmp/tt-instr}
readonly msg_servers=${TT_INSTR_MSG_SERVERS:-1}
readonly real_bin=${CARGO_TARGET_DIR:-$root_dir/target}/release
readonly alt_bin=${TT_INSTR_BIN:-$real_bin}
readonly base=${TT_BENCH_PORT:-20000}
readonly redis_first=${TT_BENCH_REDIS:-6}
readonly db_url=mysql://root@127.0.0.1:3306/${TT_BENCH_DB:-teamtalk_bench}
readonly measured=(msg_server db_proxy_server route_server)
readonly prefix=instr

log() {
    printf 'instructions: %s\n' "$*" >&2
}

die() {
    printf 'instructions: error: %s\n' "$*" >&2
    exit 1
}

for n in "$pairs" "$rate" "$seconds" "$msg_servers"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] ||
        die "PAIRS, RATE, SECONDS and TT_INSTR_MSG_SERVERS must be positive integers"
done
command -v valgrind >/dev/null || die "valgrind is needed (apt-get install valgrind)"
command -v callgrind_control >/dev/null || die "callgrind_control is needed (valgrind)"
command -v jq >/dev/null || die "jq is needed"

log "building (release)"
(cd "$root_dir" && cargo build --release -q -p tt_bench -p msg_server -p db_proxy_server \
    -p route_server -p login_server --bins)

rm -rf "$out"
mkdir -p "$out/bin"
# The cluster runs the binaries of TT_BENCH_BIN: wrappers that start the measured ones under
# callgrind (the wrapper execs valgrind, so the pid cluster.sh records is callgrind's, and
# each process writes its own file, named by that pid).
for name in "${measured[@]}"; do
    bin=$real_bin/$name
    [[ $name == db_proxy_server ]] || bin=$alt_bin/$name
    [[ -x $bin ]] || die "no $bin"
    cat >"$out/bin/$name" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$out/$name.%p.out $bin "\$@"
WRAP
    chmod +x "$out/bin/$name"
done
ln -s "$real_bin/login_server" "$out/bin/login_server"

cluster() {
    TT_BENCH_BIN=$out/bin "$root_dir/benches/cluster.sh" "$@"
}
trap 'cluster stop >/dev/null 2>&1 || true' EXIT
cluster start "$msg_servers" >/dev/null
load=("$real_bin/tt-load")
"${load[@]}" seed --users $((2 * pairs)) --prefix "$prefix" --mysql-url "$db_url" \
    --group-member-db $((redis_first + 4)) --unread-db "$redis_first" --json >/dev/null
servers=127.0.0.1:$base
for ((i = 1; i < msg_servers; i++)); do
    servers+=,127.0.0.1:$((base + i))
done
target=(--msg-server "$servers" --prefix "$prefix" --quiet --json)

# Under callgrind the servers start slowly: wait until a real login works.
deadline=$((SECONDS + 180))
until "${load[@]}" login --count 2 --concurrency 2 --login-timeout 20 "${target[@]}" \
    2>/dev/null | jq -e '.login.succeeded == 2' >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "the cluster takes no logins"
    sleep 2
done

pid_of() {
    cat "${TT_BENCH_DIR:-/tmp/tt-bench}/$1/bench.pid"
}
# Measured processes: row name → pid (msg_server0 … are the msg_servers in port order).
declare -A pids=(
    [db_proxy_server]=$(pid_of db_proxy_server)
    [route_server]=$(pid_of route_server)
)
for ((i = 0; i < msg_servers; i++)); do
    pids[msg_server$i]=$(pid_of "msg_server$i")
done

# Zeroes every measured process's counters.
zero() {
    local row
    for row in "${!pids[@]}"; do
        callgrind_control -z "${pids[$row]}" >/dev/null 2>&1
    done
}

# Dumps every measured process's counters; prints "row instructions" lines.
dump() {
    local row file
    for row in "${!pids[@]}"; do
        callgrind_control -d "${pids[$row]}" >/dev/null 2>&1
        file=$(ls -t "$out/"*".${pids[$row]}.out".* | head -n 1)
        printf '%s %s\n' "$row" "$(awk '/^(summary|totals):/ { print $2; exit }' "$file")"
    done
}

log "phase 1: $((2 * pairs)) logins"
zero
"${load[@]}" login --count $((2 * pairs)) --concurrency 10 --login-timeout 60 "${target[@]}" \
    --out "$out/login.json" >/dev/null 2>"$out/login.log"
dump >"$out/phase1.txt"
log "phase 2: $pairs pairs × $rate msg/s × ${seconds}s"
zero
"${load[@]}" msg --pairs "$pairs" --rate "$rate" --seconds "$seconds" --window 1 \
    --ack-timeout 30 --login-timeout 60 "${target[@]}" --out "$out/msg.json" >/dev/null 2>"$out/msg.log"
dump >"$out/phase2.txt"
acked=$(jq '.messages.acked' "$out/msg.json")
lost=$(jq '.messages.lost' "$out/msg.json")
((acked > 0)) || die "no message was acked"

printf '| process | instructions per message |\n|---|---:|\n'
all=0
while read -r row logins total; do
    printf '| %s | %s |\n' "$row" $(((total - logins) / acked))
    [[ $row == msg_server* ]] && all=$((all + total - logins))
done < <(join <(sort "$out/phase1.txt") <(sort "$out/phase2.txt"))
((msg_servers == 1)) || printf '| msg_server (all) | %s |\n' $((all / acked))
printf '\n%s messages acked, %s lost; callgrind output in %s\n' "$acked" "$lost" "$out"
