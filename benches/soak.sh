#!/usr/bin/env bash
# The soak run: do the servers stay flat over a long run with logins churning?
#
# Starts a private cluster of real server processes (db_proxy, route, login, two
# msg_servers) on its own ports, with its own MySQL database and a private redis-server,
# and runs for DURATION seconds at once:
#   * 1:1 traffic   tt-load msg, 100 pairs at 2 msgs/s per sender, PC clients, senders and
#                   receivers alternating between the two msg_servers (every message
#                   crosses route_server)
#   * group traffic tt-load group, 20 members (PC), 4 senders at 1 msg/s
#   * login churn   50 more users, logged in (concurrency 10) by one short tt-load login
#                   run after another, PC and mobile in turn; each run ends by closing its
#                   connections, which is how most clients leave
# Every SAMPLE seconds one CSV row: VmRSS (KiB) and open fds of every server process, the
# key count of each Redis db, the rows of the message tables, and the last msg_server
# stats line's users, conns and pending (requests waiting for a back end; logged every
# 300 s). One more row after the load has stopped, with the servers still up.
#
# At the end a summary: per server RSS at warm-up against the end of the load, max fds,
# pending max, Redis keys, the tt-load results. Exit 1 when a server's RSS grew by more
# than 20 % (and more than 1 MiB) from warm-up to the end of the load, when a tt-load
# traffic run lost, duplicated or reordered a message or left one unacked, when a churn
# login failed, or when a server died; 2 on errors.
#
# Usage: benches/soak.sh [DURATION]    (seconds, default 3600)
#
# Environment:
#   TT_SOAK_PORT      base port (default 26000; msg_servers base+0/1, login HTTP base+80,
#                     route base+200, db_proxy base+600, Redis base+379)
#   TT_SOAK_DB        MySQL database, created and dropped (default teamtalk_soak)
#   TT_SOAK_DIR       working directory (default /tmp/tt-soak); logs, JSON and the CSV stay
#   TT_SOAK_OUT       where the CSV and summary are copied at the end (default: none)
#   TT_SOAK_SAMPLE    seconds between samples (default 60)
#   TT_SOAK_WARMUP    warm-up seconds (default 300, at most a quarter of DURATION)
#   TT_SOAK_PAIRS     1:1 pairs (default 100, at most 100; 0 = no 1:1 traffic)
#   TT_SOAK_GROUP_SENDERS  group senders (default 4, at most 20; 0 = no group traffic)
#   TT_SOAK_CHURN     users logged in and out by the churn (default 50; 0 = no churn)
#   TT_SOAK_PROFILE   cargo profile of the binaries, debug or release (default debug)
#   TT_SOAK_NO_BUILD=1  use the binaries as they are
#   CARGO_TARGET_DIR  as for cargo
#
# MariaDB at 127.0.0.1:3306 (root, no password) must be running. Everything listens on
# 127.0.0.1 only; every process is stopped by pid on exit and the database dropped.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly duration=${1:-3600}
readonly base=${TT_SOAK_PORT:-26000}
readonly db_name=${TT_SOAK_DB:-teamtalk_soak}
readonly work_dir=${TT_SOAK_DIR:-/tmp/tt-soak}
readonly out_dir=${TT_SOAK_OUT:-}
readonly sample_every=${TT_SOAK_SAMPLE:-60}
readonly profile=${TT_SOAK_PROFILE:-debug}
readonly target_dir=${CARGO_TARGET_DIR:-$root_dir/target}
readonly bin_dir=$target_dir/$profile
readonly aes_key=12345678901234567890123456789012

readonly login_http=$((base + 80))
readonly login_msg=$((base + 100))
readonly login_client=$((base + 8))
readonly route_port=$((base + 200))
readonly redis_port=$((base + 379))
readonly db_port=$((base + 600))
readonly mysql_url=mysql://root@127.0.0.1:3306/$db_name
readonly msg_servers=127.0.0.1:$base,127.0.0.1:$((base + 1))

# Users: group 0-19 (seeded groups take the first users), pairs 20-219, churn 220-269.
readonly prefix=soak
readonly group_size=20
readonly pairs_first=20
readonly pairs=${TT_SOAK_PAIRS:-100}
readonly pair_rate=2
readonly group_senders=${TT_SOAK_GROUP_SENDERS:-4}
readonly group_rate=1
readonly churn_first=220
readonly churn_count=${TT_SOAK_CHURN:-50}
readonly servers=(db_proxy route login msg0 msg1)
readonly redis_dbs=(1 2 3 4 5)

declare -A pids=()

log() {
    printf 'soak: %s: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

die() {
    printf 'soak: error: %s\n' "$*" >&2
    exit 2
}

usage() {
    sed -n '2,40s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
}

# Stops a process we started, by pid: SIGTERM, SIGKILL after 5 s.
stop_pid() {
    local pid=$1 deadline
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local name
    set +e
    # The churn loop first, so that it starts no new tt-load.
    for name in churn tt_load_msg tt_load_group "${!pids[@]}"; do
        [[ -n ${pids[$name]:-} ]] && stop_pid "${pids[$name]}"
        unset "pids[$name]"
    done
    mysql -h 127.0.0.1 -P 3306 -u root -e "DROP DATABASE IF EXISTS \`$db_name\`" 2>/dev/null
}

listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' /proc/net/tcp
}

# Starts process NAME (key in pids) running COMMAND... in directory DIR and waits until
# it listens on PORT.
start() {
    local name=$1 dir=$2 port=$3 deadline
    shift 3
    mkdir -p "$dir"
    (cd "$dir" && exec "$@") >>"$dir/$name.log" 2>&1 </dev/null &
    pids[$name]=$!
    deadline=$((SECONDS + 20))
    until listening "$port"; do
        kill -0 "${pids[$name]}" 2>/dev/null || die "$name exited; see $dir/$name.log"
        ((SECONDS < deadline)) || die "$name is not listening on $port; see $dir/$name.log"
        sleep 0.1
    done
}

start_server() {
    local name=$1 port=$2 binary=$3
    # RUST_LOG=info: msg_server's stats line (with pending=) is an info line. The malloc
    # setting is the one dist/systemd's units use (see there).
    start "$name" "$work_dir/$name" "$port" env RUST_LOG=info MALLOC_MMAP_THRESHOLD_=131072 \
        "$bin_dir/$binary"
}

write_confs() {
    local i
    mkdir -p "$work_dir"/{db_proxy,route,login,msg0,msg1,redis,load}
    cat >"$work_dir/db_proxy/dbproxyserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$db_port
ThreadNum=2
MsfsSite=http://127.0.0.1:$((base + 700))
DBInstances=teamtalk_master,teamtalk_slave
teamtalk_master_host=127.0.0.1
teamtalk_master_port=3306
teamtalk_master_dbname=$db_name
teamtalk_master_username=root
teamtalk_master_maxconncnt=8
teamtalk_slave_host=127.0.0.1
teamtalk_slave_port=3306
teamtalk_slave_dbname=$db_name
teamtalk_slave_username=root
teamtalk_slave_maxconncnt=8
CacheInstances=unread,group_set,token,sync,group_member
unread_host=127.0.0.1
unread_port=$redis_port
unread_db=1
unread_maxconncnt=8
group_set_host=127.0.0.1
group_set_port=$redis_port
group_set_db=2
group_set_maxconncnt=8
sync_host=127.0.0.1
sync_port=$redis_port
sync_db=3
sync_maxconncnt=1
token_host=127.0.0.1
token_port=$redis_port
token_db=4
token_maxconncnt=8
group_member_host=127.0.0.1
group_member_port=$redis_port
group_member_db=5
group_member_maxconncnt=8
aesKey=$aes_key
EOF
    cat >"$work_dir/route/routeserver.conf" <<EOF
ListenIP=127.0.0.1
ListenMsgPort=$route_port
EOF
    cat >"$work_dir/login/loginserver.conf" <<EOF
ClientListenIP=127.0.0.1
ClientPort=$login_client
HttpListenIP=127.0.0.1
HttpPort=$login_http
MsgServerListenIP=127.0.0.1
MsgServerPort=$login_msg
msfs=http://127.0.0.1:$((base + 700))/
discovery=http://127.0.0.1/api/discovery
EOF
    for i in 0 1; do
        cat >"$work_dir/msg$i/msgserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$((base + i))
ConcurrentDBConnCnt=2
DBServerIP1=127.0.0.1
DBServerPort1=$db_port
DBServerIP2=127.0.0.1
DBServerPort2=$db_port
LoginServerIP1=127.0.0.1
LoginServerPort1=$login_msg
RouteServerIP1=127.0.0.1
RouteServerPort1=$route_port
IpAddr1=127.0.0.1
IpAddr2=127.0.0.1
MaxConnCnt=100000
aesKey=$aes_key
EOF
    done
}

start_cluster() {
    start redis "$work_dir/redis" "$redis_port" redis-server --bind 127.0.0.1 \
        --port "$redis_port" --save '' --appendonly no --daemonize no
    start_server db_proxy "$db_port" db_proxy_server
    start_server route "$route_port" route_server
    start_server login "$login_http" login_server
    start_server msg0 "$base" msg_server
    start_server msg1 $((base + 1)) msg_server
    # msg_server refuses logins until its links are up; login_server lists a msg_server
    # once it has registered.
    local deadline=$((SECONDS + 30))
    until curl -sf "http://127.0.0.1:$login_http/msg_server" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "login_server gives no msg_server"
        sleep 0.2
    done
    sleep 1
}

csv_header() {
    local s d
    printf 'elapsed_s,utc,phase'
    for s in "${servers[@]}"; do
        printf ',%s_rss_kib,%s_fds' "$s" "$s"
    done
    printf ',redis_rss_kib'
    for d in "${redis_dbs[@]}"; do
        printf ',redis_db%s_keys' "$d"
    done
    printf ',message_rows,group_message_rows'
    for s in msg0 msg1; do
        printf ',%s_users,%s_conns,%s_pending' "$s" "$s" "$s"
    done
    printf '\n'
}

# Prints VmRSS (KiB) of pid $1, or nothing when it is gone.
rss_of() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

fds_of() {
    local n
    n=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || true
    printf '%s' "$n"
}

# Sum of COUNT(*) over the sharded tables IMMessage_0..7 or IMGroupMessage_0..7.
count_rows() {
    local table=$1 i sql=""
    for i in 0 1 2 3 4 5 6 7; do
        sql+="${sql:+ + }(SELECT COUNT(*) FROM ${table}_$i)"
    done
    mysql -h 127.0.0.1 -P 3306 -u root -N -B "$db_name" -e "SELECT $sql" 2>/dev/null || true
}

# Prints "users,conns,pending" of the last stats line in msg_server log $1 (empty fields
# before the first one).
last_stats() {
    grep -a 'stats: users=' "$1" 2>/dev/null | tail -1 |
        sed -E 's/.*users=([0-9]+) conns=([0-9]+).* pending=([0-9]+).*/\1,\2,\3/;t;s/.*/,,/' |
        grep . || printf ',,\n'
}

sample() {
    local phase=$1 s d pid
    printf '%s,%s,%s' "$((SECONDS - load_started))" "$(date -u +%H:%M:%S)" "$phase"
    for s in "${servers[@]}"; do
        pid=${pids[$s]}
        printf ',%s,%s' "$(rss_of "$pid")" "$(fds_of "$pid")"
    done
    printf ',%s' "$(rss_of "${pids[redis]}")"
    for d in "${redis_dbs[@]}"; do
        printf ',%s' "$(redis-cli -h 127.0.0.1 -p "$redis_port" -n "$d" dbsize 2>/dev/null)"
    done
    printf ',%s,%s' "$(count_rows IMMessage)" "$(count_rows IMGroupMessage)"
    for s in msg0 msg1; do
        printf ',%s' "$(last_stats "$work_dir/$s/$s.log")"
    done
    printf '\n'
}

# Logs the churn users in and out until $1 (SECONDS), one tt-load login run after another;
# appends one line per run to churn.txt: client type, exit status, succeeded, failed.
churn() {
    local until=$1 type=pc n=0 rc out
    while ((SECONDS < until)); do
        out=$work_dir/load/churn-last.json
        rc=0
        "$bin_dir/tt-load" login --first "$churn_first" --count "$churn_count" \
            --concurrency 10 --client-type "$type" --prefix "$prefix" --password tt-load \
            --msg-server "$msg_servers" --quiet --json >"$out" 2>>"$work_dir/load/churn.log" ||
            rc=$?
        printf '%s %s %s\n' "$type" "$rc" \
            "$(jq -r '"\(.login.succeeded) \(.login.failed)"' "$out" 2>/dev/null || echo '- -')" \
            >>"$work_dir/load/churn.txt"
        n=$((n + 1))
        if [[ $type == pc ]]; then type=mobile; else type=pc; fi
        sleep 1
    done
}

# Prints the summary of the CSV $1 and returns 1 when RSS grew past the limit.
summarize() {
    local csv=$1 warmup=$2
    awk -F, -v warmup="$warmup" -v servers="${servers[*]} redis" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { rows++; phase[rows] = $3; el[rows] = $1
          for (k in col) v[rows, k] = $(col[k]) }
        END {
            n = split(servers, s, " ")
            w = 0; e = 0
            for (r = 1; r <= rows; r++) {
                if (phase[r] == "load" && w == 0 && el[r] >= warmup) w = r
                if (phase[r] == "load") e = r
                if (phase[r] == "after") a = r
            }
            if (w == 0) w = e
            printf "warm-up sample at %s s, end of load at %s s\n\n", el[w], el[e]
            printf "| process | RSS warm-up KiB | RSS end KiB | growth | RSS after KiB "
            printf "| fds warm-up | fds end | fds max | fds after |\n"
            printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            bad = 0
            for (i = 1; i <= n; i++) {
                p = s[i]; rw = v[w, p "_rss_kib"]; re = v[e, p "_rss_kib"]
                mx = 0
                for (r = 1; r <= rows; r++)
                    if (v[r, p "_fds"] + 0 > mx) mx = v[r, p "_fds"] + 0
                g = (rw > 0) ? sprintf("%+.1f %%", (re - rw) * 100 / rw) : "-"
                if (rw > 0 && re > rw * 1.2 && re - rw > 1024) { bad = 1; g = g " GREW" }
                if (p == "redis") {
                    printf "| redis-server | %s | %s | %s | %s | | | | |\n", rw, re, g,
                        v[a, "redis_rss_kib"]
                } else {
                    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p, rw, re, g,
                        v[a, p "_rss_kib"], v[w, p "_fds"], v[e, p "_fds"], mx, v[a, p "_fds"]
                }
            }
            printf "\n| | warm-up | end of load | after |\n|---|---:|---:|---:|\n"
            for (d = 1; d <= 5; d++) {
                k = "redis_db" d "_keys"
                printf "| Redis db %d keys | %s | %s | %s |\n", d, v[w, k], v[e, k], v[a, k]
            }
            k = "message_rows"
            printf "| message rows | %s | %s | %s |\n", v[w, k], v[e, k], v[a, k]
            k = "group_message_rows"
            printf "| group message rows | %s | %s | %s |\n", v[w, k], v[e, k], v[a, k]
            for (i = 0; i <= 1; i++) {
                m = "msg" i; pm = ""
                for (r = 1; r <= rows; r++) {
                    k = v[r, m "_pending"]
                    if (k != "" && k + 0 >= pm + 0) pm = k
                }
                printf "| %s users / conns (stats line) | %s / %s | %s / %s | %s / %s |\n", m,
                    v[w, m "_users"], v[w, m "_conns"], v[e, m "_users"], v[e, m "_conns"],
                    v[a, m "_users"], v[a, m "_conns"]
                printf "| %s pending, max over the run | | %s | |\n", m,
                    (pm == "" ? "no stats line yet" : pm)
            }
            exit bad
        }' "$csv"
}

main() {
    local warmup end_at rc_msg=0 rc_group=0 failed=0 csv summary group_id next
    if [[ ${1:-} == -h || ${1:-} == --help ]]; then
        usage
        exit 0
    fi
    [[ $duration =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive number of seconds"
    [[ $pairs =~ ^[0-9]+$ ]] && ((pairs <= 100)) || die "TT_SOAK_PAIRS must be 0 to 100"
    [[ $group_senders =~ ^[0-9]+$ ]] && ((group_senders <= group_size)) ||
        die "TT_SOAK_GROUP_SENDERS must be 0 to $group_size"
    [[ $churn_count =~ ^[0-9]+$ ]] || die "TT_SOAK_CHURN must be a number"
    warmup=${TT_SOAK_WARMUP:-300}
    ((warmup > duration / 4)) && warmup=$((duration / 4))
    command -v jq >/dev/null || die "jq is needed"
    command -v redis-server >/dev/null || die "redis-server is needed"
    [[ $db_name =~ ^[A-Za-z0-9_]+$ ]] || die "TT_SOAK_DB must be a plain identifier"
    for p in "$base" $((base + 1)) "$login_http" "$login_msg" "$login_client" "$route_port" \
        "$redis_port" "$db_port"; do
        listening "$p" && die "port $p is in use (set TT_SOAK_PORT)"
    done
    if [[ ${TT_SOAK_NO_BUILD:-0} != 1 ]]; then
        local release=()
        [[ $profile == release ]] && release=(--release)
        log "building ($profile)"
        (cd "$root_dir" && cargo build "${release[@]}" -q -p tt_bench -p db_proxy_server \
            -p route_server -p login_server -p msg_server --bins)
    fi

    trap cleanup EXIT
    trap 'exit 130' INT TERM
    rm -rf "$work_dir"
    mkdir -p "$work_dir"
    TT_DB_NAME=$db_name "$root_dir/scripts/services.sh" >/dev/null
    write_confs
    start_cluster
    group_id=$("$bin_dir/tt-load" seed --users $((churn_first + churn_count)) --groups 1 \
        --group-size "$group_size" --prefix "$prefix" --password tt-load \
        --mysql-url "$mysql_url" --redis-url "redis://127.0.0.1:$redis_port" \
        --group-member-db 5 --unread-db 1 --json | jq -r '.groups[0].id')
    [[ $group_id =~ ^[0-9]+$ ]] || die "seeding gave no group id"

    csv=$work_dir/soak.csv
    csv_header >"$csv"
    log "load for ${duration}s: $pairs pairs at $pair_rate/s, group of $group_size with" \
        "$group_senders senders at $group_rate/s, churn of $churn_count logins; samples" \
        "every ${sample_every}s into $csv"
    load_started=$SECONDS
    end_at=$((SECONDS + duration))
    if ((pairs > 0)); then
        "$bin_dir/tt-load" msg --first "$pairs_first" --pairs "$pairs" --rate "$pair_rate" \
            --seconds "$duration" --drain 30 --client-type pc --prefix "$prefix" \
            --password tt-load --msg-server "$msg_servers" --label "soak 1:1" --quiet --json \
            --out "$work_dir/load/msg.json" >/dev/null 2>"$work_dir/load/msg.log" &
        pids[tt_load_msg]=$!
    fi
    if ((group_senders > 0)); then
        "$bin_dir/tt-load" group --group-id "$group_id" --members "$group_size" \
            --senders "$group_senders" --rate "$group_rate" --seconds "$duration" --drain 30 \
            --client-type pc --prefix "$prefix" --password tt-load --msg-server "$msg_servers" \
            --label "soak group" --quiet --json --out "$work_dir/load/group.json" \
            >/dev/null 2>"$work_dir/load/group.log" &
        pids[tt_load_group]=$!
    fi
    if ((churn_count > 0)); then
        churn "$end_at" &
        pids[churn]=$!
    fi

    sample load >>"$csv"
    next=$((load_started + sample_every))
    while ((SECONDS < end_at)); do
        sleep 1
        local s
        for s in redis "${servers[@]}"; do
            kill -0 "${pids[$s]}" 2>/dev/null || {
                log "$s died; see $work_dir/$s/$s.log"
                failed=1
            }
        done
        ((failed)) && break
        if ((SECONDS >= next)); then
            sample load >>"$csv"
            log "$(tail -1 "$csv")"
            next=$((next + sample_every))
        fi
    done
    # The end of the load, unless the last sample was taken this very second.
    if ((failed == 0 && SECONDS + sample_every > next)); then
        sample load >>"$csv"
    fi
    if [[ -n ${pids[churn]:-} ]]; then
        wait "${pids[churn]}" || true
    fi
    unset "pids[churn]"
    if [[ -n ${pids[tt_load_msg]:-} ]]; then
        wait "${pids[tt_load_msg]}" || rc_msg=$?
    fi
    if [[ -n ${pids[tt_load_group]:-} ]]; then
        wait "${pids[tt_load_group]}" || rc_group=$?
    fi
    unset "pids[tt_load_msg]" "pids[tt_load_group]"
    # Let the servers notice the closed connections, then one more row.
    sleep 5
    ((failed)) || sample after >>"$csv"

    summary=$work_dir/summary.md
    {
        echo "soak: ${duration}s, $pairs pairs at $pair_rate msgs/s per sender, group of" \
            "$group_size with $group_senders senders at $group_rate msg/s, churn of" \
            "$churn_count users; $profile build"
        echo
        summarize "$csv" "$warmup" || failed=1
        echo
        printf '%s' "| tt-load run | exit | sent | acked | delivered | lost | duplicated "
        echo "| reordered | unacked | resends | disconnects | p99 delivery ms |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        local run rc senders
        for run in msg group; do
            rc=$rc_msg
            [[ $run == group ]] && rc=$rc_group
            senders=$pairs
            [[ $run == group ]] && senders=$group_senders
            if ((senders == 0)); then
                echo "| $run | not run | | | | | | | | | | |"
                continue
            fi
            if [[ -s $work_dir/load/$run.json ]]; then
                jq -r --arg run "$run" --arg rc "$rc" '.messages as $m |
                    [$run, $rc, $m.sent, $m.acked, $m.delivered, $m.lost, $m.duplicated,
                     $m.reordered, $m.unacked, $m.resends, $m.disconnects,
                     ($m.delivery_latency.p99_ms * 10 | round / 10)]
                    | map(tostring) | "| " + join(" | ") + " |"' "$work_dir/load/$run.json"
            else
                echo "| $run | $rc | no result | | | | | | | | | |"
            fi
            [[ $rc == 0 ]] || failed=1
        done
        echo
        touch "$work_dir/load/churn.txt"
        awk '{ runs++; if ($2 != 0) bad++; ok += $3; fl += $4 }
            END { printf "login churn: %d tt-load login runs (%d with a non-zero exit), %d logins" \
                " succeeded, %d failed\n", runs, bad, ok, fl; exit (bad > 0 || fl > 0) }' \
            "$work_dir/load/churn.txt" || failed=1
        echo
        echo "Redis keys at the end, by pattern (digits as N):"
        local d
        for d in "${redis_dbs[@]}"; do
            redis-cli -h 127.0.0.1 -p "$redis_port" -n "$d" --scan 2>/dev/null |
                sed -E 's/[0-9]+/N/g' | sort | uniq -c | sed "s/^/  db $d: /" || true
        done
    } >"$summary"
    cat "$summary"
    if [[ -n $out_dir ]]; then
        mkdir -p "$out_dir"
        cp "$csv" "$summary" "$out_dir/"
        cp "$work_dir/load/msg.json" "$work_dir/load/group.json" "$out_dir/" 2>/dev/null || true
    fi
    log "$([[ $failed == 0 ]] && echo passed || echo FAILED); files in $work_dir"
    return "$failed"
}

main "$@"
