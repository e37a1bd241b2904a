#!/usr/bin/env bash
# Runs the benchmark matrix of benches/README.md against a private cluster (benches/cluster.sh)
# and writes one JSON result per run plus report.md and the SVG charts.
#
# Usage: benches/measure.sh OUT_DIR [login|msg|msg-links|group|idle|transports ...]
#   With no scenario names every part but transports runs (about 20 minutes). The cluster is
#   (re)started by this script for every run, from empty storage (cluster.sh reset) with the
#   part's users and groups seeded again: one msg_server, two for the two-server group runs.
#   transports (or one of its parts transport-login, transport-msg, transport-idle) runs
#   mobile logins, 1:1 messages and idle connections over each transport of
#   TT_BENCH_TRANSPORTS against a cluster with TLS, WS and WSS ports (cluster.sh TT_BENCH_TLS).
#
# Environment: as benches/cluster.sh (TT_BENCH_BIN selects the servers under test), plus
#   TT_BENCH_SECONDS  sending time of each msg/group run (default 20)
#   TT_BENCH_IDLE     idle connection counts (default "5000 10000 19500")
#   TT_BENCH_LABEL    name of the servers under test in labels (default teamtalk-rs)
#   TT_BENCH_LOAD     the tt-load binary (default target/release/tt-load)
#   TT_BENCH_WAIT     longest wait, in seconds, for a 90 % idle machine before a run (300)
#   TT_BENCH_TRANSPORTS        transports of the transports part (default "plain tls wss")
#   TT_BENCH_TRANSPORT_PAIRS   its 1:1 pair counts, window 1 (default "100 1000")
#   TT_BENCH_TRANSPORT_IDLE    its idle connection counts (default 19500)
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly cluster=$root_dir/benches/cluster.sh
readonly load=${TT_BENCH_LOAD:-$root_dir/target/release/tt-load}
readonly quiet_wait=${TT_BENCH_WAIT:-300}
readonly transports=${TT_BENCH_TRANSPORTS:-plain tls wss}
readonly transport_pairs=${TT_BENCH_TRANSPORT_PAIRS:-100 1000}
readonly transport_idle=${TT_BENCH_TRANSPORT_IDLE:-19500}
readonly work_dir=${TT_BENCH_DIR:-/tmp/tt-bench}
readonly seconds=${TT_BENCH_SECONDS:-20}
readonly idle_counts=${TT_BENCH_IDLE:-5000 10000 19500}
readonly impl_name=${TT_BENCH_LABEL:-teamtalk-rs}
readonly base=${TT_BENCH_PORT:-20000}
readonly db_name=${TT_BENCH_DB:-teamtalk_bench}
readonly redis_first=${TT_BENCH_REDIS:-6}

[[ $# -ge 1 ]] || {
    sed -n '2,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}
out=$1
shift
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(login msg msg-links group idle)
mkdir -p "$out"
[[ -x $load ]] || (cd "$root_dir" && cargo build --release -p tt_bench)

storage=(--mysql-url "mysql://root@127.0.0.1:3306/$db_name"
    --group-member-db $((redis_first + 4)) --unread-db "$redis_first")

# The seeds of the current part: every run starts from empty storage (cluster.sh reset) and
# seeds them again, so no run pays for the rows earlier runs left.
seeds=()

# seed ARGS...: adds `tt-load seed ARGS` to the current part's seeds.
seed() {
    seeds+=("$*")
}

start_cluster() {
    local args s
    "$cluster" reset
    "$cluster" start "$1" >/dev/null
    for s in "${seeds[@]}"; do
        read -ra args <<<"$s"
        "$load" seed "${storage[@]}" "${args[@]}" --json >/dev/null
    done
    servers=$(for ((i = 0; i < $1; i++)); do printf '127.0.0.1:%d,' $((base + i)); done)
    servers=${servers%,}
    pids=$("$cluster" pids)
}

# Percent of CPU time idle over two seconds.
idle_percent() {
    local a b
    read -ra a </proc/stat
    sleep 2
    read -ra b </proc/stat
    local idle=$((b[4] + b[5] - a[4] - a[5])) total=0 i
    for i in 1 2 3 4 5 6 7 8; do
        total=$((total + b[i] - a[i]))
    done
    echo $((total > 0 ? 100 * idle / total : 100))
}

# The machine may be shared (builds, other test runs): wait up to 5 minutes (TT_BENCH_WAIT)
# for it to be at least 90 % idle before a run, so that the servers under test get the CPUs.
wait_quiet() {
    local deadline=$((SECONDS + quiet_wait)) idle
    while idle=$(idle_percent) && ((idle < 90)); do
        if ((SECONDS >= deadline)); then
            echo "   (machine only ${idle}% idle; measuring anyway)"
            return
        fi
        sleep 5
    done
}

# run NAME ARGS...: one tt-load run, its JSON kept as OUT/NAME.json even when it fails.
run() {
    local name=$1
    shift
    wait_quiet
    echo "== $name"
    "$load" "$@" --msg-server "$servers" --pid "$pids" --quiet --out "$out/$name.json" ||
        echo "   (run reported failures; see $out/$name.json)"
}

# The msg_server address and tt-load flags of transport $1 on the TLS cluster (one
# msg_server; ports as in cluster.sh).
transport_flags() {
    local ca=$work_dir/pki/ca.pem
    case $1 in
        plain) servers=127.0.0.1:$base flags=(--transport plain) ;;
        tls) servers=127.0.0.1:$((base + 300)) flags=(--transport tls --ca "$ca") ;;
        ws) servers=127.0.0.1:$((base + 400)) flags=(--transport ws) ;;
        wss) servers=127.0.0.1:$((base + 500)) flags=(--transport wss --ca "$ca") ;;
        *)
            echo "unknown transport $1" >&2
            exit 2
            ;;
    esac
}

# run_over TRANSPORT NAME ARGS...: run NAME on a fresh TLS cluster over TRANSPORT.
run_over() {
    local transport=$1 flags
    shift
    TT_BENCH_TLS=1 start_cluster 1
    transport_flags "$transport"
    run "$@" "${flags[@]}"
}

group_id() {
    mysql -h127.0.0.1 -uroot -N -e "SELECT id FROM IMGroup WHERE name = '$1' ORDER BY id DESC
        LIMIT 1" "$db_name"
}

for part in "${parts[@]}"; do
    seeds=()
    case $part in
        login)
            seed --prefix load --users 2000
            for type in pc mobile; do
                start_cluster 1
                run "login-$type" login --count 2000 --concurrency 50 --client-type "$type" \
                    --label "$impl_name $type"
            done
            ;;
        msg)
            seed --prefix load --users 2000
            for window in 1 16; do
                for pairs in 1 10 100 1000; do
                    start_cluster 1
                    run "msg-w$window-p$pairs" msg --pairs "$pairs" --window "$window" \
                        --rate 15 --seconds "$seconds" --drain 20 --concurrency 50 \
                        --label "$impl_name w=$window"
                done
            done
            ;;
        msg-links)
            # The same 1:1 load with msg_server opening 10 links per db_proxy entry (the
            # original's built-in default) instead of the sample conf's 2.
            seed --prefix load --users 2000
            for pairs in 100 1000; do
                TT_BENCH_DB_CONNS=10 start_cluster 1
                run "msg-links10-p$pairs" msg --pairs "$pairs" --window 1 --rate 15 \
                    --seconds "$seconds" --drain 20 --concurrency 50 \
                    --label "$impl_name w=1, 10 DB links"
            done
            ;;
        group)
            seed --prefix grp50 --users 50 --groups 1 --group-size 50
            seed --prefix grp500 --users 500 --groups 1 --group-size 500
            for n in 1 2; do
                for size in 50 500; do
                    for senders in 5 15; do
                        start_cluster "$n"
                        run "group-g$size-k$senders-s$n" group --prefix "grp$size" \
                            --group-id "$(group_id "grp${size}_g0")" --members "$size" \
                            --senders "$senders" --rate 15 --seconds "$seconds" --drain 20 \
                            --label "G=$size K=$senders x$n"
                    done
                done
            done
            ;;
        idle)
            seed --prefix idle --users 19500
            for conns in $idle_counts; do
                start_cluster 1
                run "idle-$conns" idle --prefix idle --conns "$conns" --seconds 60 \
                    --concurrency 200 --label "$impl_name mobile"
            done
            ;;
        transports | transport-login | transport-msg | transport-idle)
            seed --prefix load --users 2000
            if [[ $part == transports || $part == transport-login ]]; then
                for t in $transports; do
                    run_over "$t" "transport-login-$t" login --count 2000 --concurrency 50 \
                        --client-type mobile --label "$impl_name mobile $t"
                done
            fi
            if [[ $part == transports || $part == transport-msg ]]; then
                for pairs in $transport_pairs; do
                    for t in $transports; do
                        run_over "$t" "transport-msg-p$pairs-$t" msg --pairs "$pairs" \
                            --window 1 --rate 15 --seconds "$seconds" --drain 20 \
                            --concurrency 50 --label "$impl_name w=1 $t"
                    done
                done
            fi
            if [[ $part == transports || $part == transport-idle ]]; then
                seed --prefix idle --users 19500
                for conns in $transport_idle; do
                    for t in $transports; do
                        run_over "$t" "transport-idle-$conns-$t" idle --prefix idle \
                            --conns "$conns" --seconds 60 --concurrency 200 \
                            --label "$impl_name mobile $t"
                    done
                done
            fi
            ;;
        *)
            echo "unknown part $part" >&2
            exit 2
            ;;
    esac
done
"$cluster" stop >/dev/null
"$load" report "$out"/*.json "$root_dir/benches/baseline/cpp-original.json" --out "$out" \
    --title "tt-load results"
