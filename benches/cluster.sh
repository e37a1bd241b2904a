#!/usr/bin/env bash
# A private cluster for benchmarks: db_proxy_server, route_server, login_server and one or
# more msg_servers on their own ports, with their own MySQL database and Redis dbs, so that a
# benchmark never touches the demo cluster of scripts/cluster.sh (or a test run).
#
# Usage: benches/cluster.sh start [MSG_SERVERS] | stop | reset | status | pids
#   start [N]  write the confs, create the database (scripts/services.sh) and start the
#              servers with N msg_servers (default 1); prints the flags for tt-load
#   stop       stop them (SIGTERM, then SIGKILL after 10 s)
#   reset      stop them, drop the database and empty the five Redis dbs, so the next start
#              begins from empty storage (rows earlier runs left make later runs slower)
#   status     show each server's pid and whether it is alive
#   pids       print the msg_server pids, comma-separated (for tt-load --pid)
#
# Environment:
#   TT_BENCH_BIN    directory of the server binaries (default target/release; point it at
#                   the C++ build to measure the original with the same confs)
#   TT_BENCH_DIR    working directory of the servers (default /tmp/tt-bench)
#   TT_BENCH_PORT   base port (default 20000): msg_server N listens on base+N, login_server
#                   HTTP on base+80, route_server on base+200, db_proxy on base+600; the
#                   metrics endpoints (docs/CONFIG.md §1.2) on base+901 login_server, +903
#                   route_server, +904 db_proxy, +910+N msg_server N (builds without metrics
#                   ignore the keys)
#   TT_BENCH_DB     MySQL database (default teamtalk_bench)
#   TT_BENCH_REDIS  first of the five Redis dbs used (default 6: unread 6, group_set 7,
#                   sync 8, token 9, group_member 10; the demo cluster uses 1-5 and the
#                   test suite 11-15)
#   TT_BENCH_DB_THREADS  db_proxy ThreadNum (default 4)
#   TT_BENCH_DB_CONNS    msg_server ConcurrentDBConnCnt per db_proxy entry (default 2, as
#                        conf/msgserver.conf; the original's built-in default is 10)
#   TT_BENCH_TLS    1: msg_server N also offers TLS on base+300+N, WebSocket on base+400+N and
#                   WebSocket over TLS on base+500+N (path /ws), with a throw-away ECDSA P-256
#                   CA and server certificate made by openssl in TT_BENCH_DIR/pki (tt-load
#                   --ca TT_BENCH_DIR/pki/ca.pem)
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly bin_dir=${TT_BENCH_BIN:-$root_dir/target/release}
readonly work_dir=${TT_BENCH_DIR:-/tmp/tt-bench}
readonly base=${TT_BENCH_PORT:-20000}
readonly db_name=${TT_BENCH_DB:-teamtalk_bench}
readonly redis_first=${TT_BENCH_REDIS:-6}
readonly db_threads=${TT_BENCH_DB_THREADS:-4}
readonly db_conns=${TT_BENCH_DB_CONNS:-2}
readonly tls=${TT_BENCH_TLS:-0}
readonly pki_dir=$work_dir/pki
readonly aes_key=12345678901234567890123456789012

readonly login_http=$((base + 80))
readonly login_msg=$((base + 100))
readonly login_client=$((base + 8))
readonly route_port=$((base + 200))
readonly db_port=$((base + 600))

log() {
    printf 'bench-cluster: %s\n' "$*"
}

die() {
    printf 'bench-cluster: error: %s\n' "$*" >&2
    exit 1
}

write_confs() {
    local n=$1 i dir
    mkdir -p "$work_dir/db_proxy_server" "$work_dir/route_server" "$work_dir/login_server"
    cat >"$work_dir/db_proxy_server/dbproxyserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$db_port
ThreadNum=$db_threads
MsfsSite=http://127.0.0.1:$((base + 700))
DBInstances=teamtalk_master,teamtalk_slave
teamtalk_master_host=127.0.0.1
teamtalk_master_port=3306
teamtalk_master_dbname=$db_name
teamtalk_master_username=root
teamtalk_master_maxconncnt=16
teamtalk_slave_host=127.0.0.1
teamtalk_slave_port=3306
teamtalk_slave_dbname=$db_name
teamtalk_slave_username=root
teamtalk_slave_maxconncnt=16
CacheInstances=unread,group_set,token,sync,group_member
unread_host=127.0.0.1
unread_port=6379
unread_db=$redis_first
unread_maxconncnt=16
group_set_host=127.0.0.1
group_set_port=6379
group_set_db=$((redis_first + 1))
group_set_maxconncnt=16
sync_host=127.0.0.1
sync_port=6379
sync_db=$((redis_first + 2))
sync_maxconncnt=1
token_host=127.0.0.1
token_port=6379
token_db=$((redis_first + 3))
token_maxconncnt=16
group_member_host=127.0.0.1
group_member_port=6379
group_member_db=$((redis_first + 4))
group_member_maxconncnt=48
aesKey=$aes_key
MetricsPort=$((base + 904))
EOF
    cat >"$work_dir/route_server/routeserver.conf" <<EOF
ListenIP=127.0.0.1
ListenMsgPort=$route_port
MetricsPort=$((base + 903))
EOF
    cat >"$work_dir/login_server/loginserver.conf" <<EOF
ClientListenIP=127.0.0.1
ClientPort=$login_client
HttpListenIP=127.0.0.1
HttpPort=$login_http
MsgServerListenIP=127.0.0.1
MsgServerPort=$login_msg
msfs=http://127.0.0.1:$((base + 700))/
discovery=http://127.0.0.1/api/discovery
MetricsPort=$((base + 901))
EOF
    for ((i = 0; i < n; i++)); do
        dir=$work_dir/msg_server$i
        mkdir -p "$dir"
        cat >"$dir/msgserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$((base + i))
ConcurrentDBConnCnt=$db_conns
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
MetricsPort=$((base + 910 + i))
EOF
        if [[ $tls == 1 ]]; then
            cat >>"$dir/msgserver.conf" <<EOF
TlsListenPort=$((base + 300 + i))
WsListenPort=$((base + 400 + i))
WssListenPort=$((base + 500 + i))
WsPath=/ws
TlsCertFile=$pki_dir/server.pem
TlsKeyFile=$pki_dir/server.key
EOF
        fi
    done
}

# A CA and a server certificate for 127.0.0.1 and localhost, valid two days, made afresh at
# every start in the run's own directory (never in the repository).
write_pki() {
    rm -rf "$pki_dir"
    mkdir -p "$pki_dir"
    (
        cd "$pki_dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj "/CN=tt-bench CA" -keyout ca.key -out ca.pem
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem
    ) >"$work_dir/pki.log" 2>&1 || die "openssl failed; see $work_dir/pki.log"
}

# Starts $2 (a binary name) in directory $1 and waits until it listens on port $3.
start_one() {
    local dir=$1 name=$2 port=$3 pid hex deadline
    [[ -x $bin_dir/$name ]] || die "$bin_dir/$name not built (cargo build --release -p $name)"
    (cd "$dir" && exec nohup "$bin_dir/$name") >"$dir/server.log" 2>&1 </dev/null &
    pid=$!
    printf '%s' "$pid" >"$dir/bench.pid"
    hex=$(printf ':%04X' "$port")
    deadline=$((SECONDS + 15))
    until awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' /proc/net/tcp; do
        kill -0 "$pid" 2>/dev/null || die "$name exited; see $dir/server.log"
        ((SECONDS < deadline)) || die "$name is not listening on $port; see $dir/server.log"
        sleep 0.2
    done
    log "$name started (pid $pid, port $port)"
}

server_dirs() {
    local d
    for d in "$work_dir"/msg_server* "$work_dir"/login_server "$work_dir"/route_server \
        "$work_dir"/db_proxy_server; do
        [[ -d $d ]] && printf '%s\n' "$d"
    done
}

cmd_start() {
    local n=${1:-1} i servers=()
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "MSG_SERVERS must be a positive number"
    cmd_stop >/dev/null
    rm -rf "$work_dir"/msg_server*
    TT_DB_NAME=$db_name "$root_dir/scripts/services.sh" >/dev/null
    if [[ $tls == 1 ]]; then
        write_pki
    fi
    write_confs "$n"
    start_one "$work_dir/db_proxy_server" db_proxy_server "$db_port"
    start_one "$work_dir/route_server" route_server "$route_port"
    start_one "$work_dir/login_server" login_server "$login_http"
    for ((i = 0; i < n; i++)); do
        start_one "$work_dir/msg_server$i" msg_server $((base + i))
        servers+=("127.0.0.1:$((base + i))")
    done
    # msg_server refuses logins until its db_proxy, login_server and route_server links are
    # up; they connect within a second of start-up.
    sleep 2
    echo
    echo "tt-load flags:"
    echo "  seed:  --mysql-url mysql://root@127.0.0.1:3306/$db_name" \
        "--group-member-db $((redis_first + 4)) --unread-db $redis_first"
    echo "  runs:  --msg-server $(
        IFS=,
        echo "${servers[*]}"
    ) --pid $(cmd_pids)"
    echo "  or:    --login-url http://127.0.0.1:$login_http/msg_server"
    if [[ $tls == 1 ]]; then
        echo "  tls:   --transport tls --ca $pki_dir/ca.pem --msg-server 127.0.0.1:$((base + 300))"
        echo "  ws:    --transport ws --msg-server 127.0.0.1:$((base + 400))"
        echo "  wss:   --transport wss --ca $pki_dir/ca.pem --msg-server 127.0.0.1:$((base + 500))"
        echo "         (or --login-url with --transport: login_server advertises every port)"
    fi
}

cmd_stop() {
    local dir pid deadline
    while read -r dir; do
        [[ -f $dir/bench.pid ]] || continue
        pid=$(<"$dir/bench.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            deadline=$((SECONDS + 10))
            while kill -0 "$pid" 2>/dev/null; do
                if ((SECONDS >= deadline)); then
                    kill -KILL "$pid" 2>/dev/null || true
                    break
                fi
                sleep 0.2
            done
            log "stopped $(basename "$dir") (pid $pid)"
        fi
        rm -f "$dir/bench.pid"
    done < <(server_dirs)
}

cmd_status() {
    local dir pid state
    while read -r dir; do
        pid=-
        state=stopped
        if [[ -f $dir/bench.pid ]]; then
            pid=$(<"$dir/bench.pid")
            if kill -0 "$pid" 2>/dev/null; then state=running; else state=dead; fi
        fi
        printf '%-18s %-8s %s\n' "$(basename "$dir")" "$pid" "$state"
    done < <(server_dirs)
}

cmd_pids() {
    local pids=() dir
    for dir in "$work_dir"/msg_server*; do
        [[ -f $dir/bench.pid ]] && pids+=("$(<"$dir/bench.pid")")
    done
    (
        IFS=,
        echo "${pids[*]}"
    )
}

cmd_reset() {
    local db
    [[ $db_name =~ ^[A-Za-z0-9_]+$ ]] || die "TT_BENCH_DB must be a plain name"
    cmd_stop >/dev/null
    mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db_name\`"
    for ((db = redis_first; db < redis_first + 5; db++)); do
        redis-cli -n "$db" FLUSHDB >/dev/null
    done
}

case ${1:-} in
    start) cmd_start "${2:-1}" ;;
    stop) cmd_stop ;;
    reset) cmd_reset ;;
    status) cmd_status ;;
    pids) cmd_pids ;;
    *)
        sed -n '2,34s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
        exit 2
        ;;
esac
