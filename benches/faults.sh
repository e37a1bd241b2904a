#!/usr/bin/env bash
# The fault suite: does a crash or restart lose or duplicate an acknowledged message?
#
# Starts a private cluster of real server processes (db_proxy, route, login, two
# msg_servers, file, push) on its own ports, with a private MariaDB server (its own data
# directory), a private redis-server and two tt-relay processes (msg_servers -> db_proxy,
# db_proxy -> MySQL). For
# each fault it runs steady 1:1 and group traffic with tt-load (clients resend after an ack
# timeout and reconnect through login_server, as real clients do), injects the fault once,
# lets the traffic run out and checks:
#   * lost        deliveries of acked messages that never arrived (live or in the history
#                 a reconnected client reads), from both tt-load runs
#   * duplicated  deliveries seen twice by a receiver
#   * stored      MySQL rows of the run's messages: an acked message without a row, extra
#                 rows for one message, a msg id used twice in a conversation
#   * pending     client requests still in a msg_server's pending table (its
#                 teamtalk_pending_requests metric) once the traffic has ended and the
#                 request deadline (RequestTimeout, 15 s) has passed: every entry must have
#                 ended, answered or failed, by then
# The suite fails (exit 1) when any of these is non-zero in any fault. It also reports,
# as numbers and not as failures: messages resent after an ack timeout (requests that
# stalled), messages never acked at the end, reconnects, and the seconds to heal (the
# longest time any sender waited for an ack: from the fault to its first ack afterwards,
# plus at most one send period).
#
# Usage: benches/faults.sh [FAULT...]    (default: every fault, in the order below)
# Faults: none db_proxy route msg_server login file push redis mysql db_link_stall mysql_cut
#
# Environment:
#   TT_FAULTS_PORT     base port (default 23000; msg_servers base+0/1, login HTTP base+80,
#                      route base+200, db_proxy base+600, Redis base+379, MariaDB
#                      base+336, relays +601/+306)
#   TT_FAULTS_DB       database name in the private MariaDB (default teamtalk_faults)
#   TT_FAULTS_DIR      working directory (default /tmp/tt-faults); removed at the end
#                      unless TT_FAULTS_KEEP=1 (server logs and JSON results are there)
#   TT_FAULTS_PROFILE  cargo profile of the binaries, debug or release (default debug)
#   TT_FAULTS_NO_BUILD=1  use the binaries as they are
#   TT_FAULTS_SECONDS  sending time per fault (default 16); the fault comes 5 s in
#   CARGO_TARGET_DIR   as for cargo
#
# MariaDB and Redis are private processes on their own ports, so faults on them touch no
# other data: "mysql" kills mariadbd with SIGKILL and starts it again on the same data
# directory (InnoDB crash recovery), "redis" kills redis-server and starts it empty (it runs
# without persistence, as the suite's Redis data must be rebuilt from MySQL). "mysql_cut"
# closes db_proxy's MySQL connections at a relay and refuses new ones for 5 s while
# MariaDB stays up. The MariaDB binaries (mariadbd, mariadb-install-db) come with the
# packages scripts/services.sh installs.
# Everything listens on 127.0.0.1 only; every process is stopped by pid on exit.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly base=${TT_FAULTS_PORT:-23000}
readonly db_name=${TT_FAULTS_DB:-teamtalk_faults}
readonly work_dir=${TT_FAULTS_DIR:-/tmp/tt-faults}
readonly profile=${TT_FAULTS_PROFILE:-debug}
readonly seconds=${TT_FAULTS_SECONDS:-16}
readonly target_dir=${CARGO_TARGET_DIR:-$root_dir/target}
readonly bin_dir=$target_dir/$profile
readonly aes_key=12345678901234567890123456789012
readonly all_faults=(none db_proxy route msg_server login file push redis mysql db_link_stall
    mysql_cut)

readonly login_http=$((base + 80))
readonly login_msg=$((base + 100))
readonly login_client=$((base + 8))
readonly route_port=$((base + 200))
readonly redis_port=$((base + 379))
readonly mysql_port=$((base + 336))
readonly mysql_relay=$((base + 306))
readonly mysql_relay_ctl=$((base + 307))
readonly push_port=$((base + 500))
readonly db_port=$((base + 600))
readonly db_relay=$((base + 601))
readonly db_relay_ctl=$((base + 602))
readonly file_client=$((base + 800))
readonly file_msg=$((base + 801))
readonly metrics_base=$((base + 900))
readonly mysql_url=mysql://root@127.0.0.1:$mysql_port/$db_name
readonly login_url=http://127.0.0.1:$login_http/msg_server

# Traffic: 6 pairs (users 8-19) and a group of 8 (users 0-7, 3 senders), 5 msgs/s each.
readonly prefix=flt
readonly fault_at=5
readonly down_for=2

declare -A pids=()
results=()
failed=0

log() {
    printf 'faults: %s\n' "$*" >&2
}

die() {
    printf 'faults: error: %s\n' "$*" >&2
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
    for name in "${!pids[@]}"; do
        stop_pid "${pids[$name]}"
    done
    if [[ ${TT_FAULTS_KEEP:-0} != 1 ]]; then
        rm -rf "$work_dir"
    else
        log "kept $work_dir"
    fi
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
    local name=$1 port=$2 binary=${3:-$1}
    start "$name" "$work_dir/$name" "$port" "$bin_dir/$binary"
}

# The private MariaDB: system tables are created on first start; root may log in over TCP
# from 127.0.0.1 without a password, as on the shared development server.
start_mysql() {
    local dir=$work_dir/mysql
    if [[ ! -d $dir/data/mysql ]]; then
        mkdir -p "$dir"
        "$mysql_install_db" --no-defaults --user="$(id -un)" --datadir="$dir/data" \
            --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
            die "mariadb-install-db failed; see $dir/install.log"
    fi
    start mysql "$dir" "$mysql_port" "$mariadbd" --no-defaults --user="$(id -un)" \
        --datadir="$dir/data" --bind-address=127.0.0.1 --port="$mysql_port" \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --skip-name-resolve \
        --innodb-buffer-pool-size=64M
}

mysql_cmd() {
    mariadb --protocol=TCP -h 127.0.0.1 -P "$mysql_port" -u root "$@"
}

start_redis() {
    start redis "$work_dir/redis" "$redis_port" redis-server --bind 127.0.0.1 \
        --port "$redis_port" --save '' --appendonly no --daemonize no
}

# Kills NAME with SIGKILL and waits until it is gone.
kill9() {
    local pid=${pids[$1]}
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "pids[$1]"
}

relay_command() {
    local port=$1 cmd=$2 answer
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%s\n' "$cmd" >&3
    read -r -t 5 answer <&3 || answer="(no answer)"
    exec 3>&-
    log "relay $port: $cmd -> $answer"
}

write_confs() {
    local i
    mkdir -p "$work_dir"/{db_proxy,route,login,msg0,msg1,file,push,redis,relay_db,relay_mysql}
    cat >"$work_dir/db_proxy/dbproxyserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$db_port
ThreadNum=2
MsfsSite=http://127.0.0.1:$((base + 700))
DBInstances=teamtalk_master,teamtalk_slave
teamtalk_master_host=127.0.0.1
teamtalk_master_port=$mysql_relay
teamtalk_master_dbname=$db_name
teamtalk_master_username=root
teamtalk_master_maxconncnt=8
teamtalk_slave_host=127.0.0.1
teamtalk_slave_port=$mysql_relay
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
    cat >"$work_dir/file/fileserver.conf" <<EOF
ClientListenIP=127.0.0.1
ClientListenPort=$file_client
MsgServerListenIP=127.0.0.1
MsgServerListenPort=$file_msg
TaskTimeout=3600
EOF
    cat >"$work_dir/push/pushserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$push_port
CertPath=./apns-dev-cert.pem
KeyPath=./apns-dev-key.pem
KeyPassword=changeme
SandBox=1
EOF
    for i in 0 1; do
        cat >"$work_dir/msg$i/msgserver.conf" <<EOF
ListenIP=127.0.0.1
ListenPort=$((base + i))
ConcurrentDBConnCnt=2
DBServerIP1=127.0.0.1
DBServerPort1=$db_relay
DBServerIP2=127.0.0.1
DBServerPort2=$db_relay
LoginServerIP1=127.0.0.1
LoginServerPort1=$login_msg
RouteServerIP1=127.0.0.1
RouteServerPort1=$route_port
PushServerIP1=127.0.0.1
PushServerPort1=$push_port
FileServerIP1=127.0.0.1
FileServerPort1=$file_msg
IpAddr1=127.0.0.1
IpAddr2=127.0.0.1
MaxConnCnt=100000
aesKey=$aes_key
MetricsListenIP=127.0.0.1
MetricsPort=$((metrics_base + i))
EOF
    done
}

start_cluster() {
    start_mysql
    mysql_cmd -e "CREATE DATABASE \`$db_name\` CHARACTER SET utf8mb4"
    mysql_cmd "$db_name" <"$root_dir/sql/schema.sql"
    start_redis
    start relay_mysql "$work_dir/relay_mysql" "$mysql_relay" "$bin_dir/tt-relay" \
        "127.0.0.1:$mysql_relay" "127.0.0.1:$mysql_port" "127.0.0.1:$mysql_relay_ctl"
    start relay_db "$work_dir/relay_db" "$db_relay" "$bin_dir/tt-relay" \
        "127.0.0.1:$db_relay" "127.0.0.1:$db_port" "127.0.0.1:$db_relay_ctl"
    start_server db_proxy "$db_port" db_proxy_server
    start_server route "$route_port" route_server
    start_server login "$login_http" login_server
    start_server file "$file_msg" file_server
    start_server push "$push_port" push_server
    start_server msg0 "$base" msg_server
    start_server msg1 $((base + 1)) msg_server
}

# Restarts whatever died, so one fault never leaks into the next one's numbers.
revive() {
    local name
    if ! kill -0 "${pids[mysql]:-0}" 2>/dev/null; then
        log "mysql was not running; starting it again"
        start_mysql
    fi
    if ! kill -0 "${pids[redis]:-0}" 2>/dev/null; then
        log "redis was not running; starting it again"
        start_redis
    fi
    for name in db_proxy route login file push msg0 msg1; do
        if [[ -z ${pids[$name]:-} ]] || ! kill -0 "${pids[$name]}" 2>/dev/null; then
            log "$name was not running; starting it again"
            case $name in
                db_proxy) start_server db_proxy "$db_port" db_proxy_server ;;
                route) start_server route "$route_port" route_server ;;
                login) start_server login "$login_http" login_server ;;
                file) start_server file "$file_msg" file_server ;;
                push) start_server push "$push_port" push_server ;;
                msg0) start_server msg0 "$base" msg_server ;;
                msg1) start_server msg1 $((base + 1)) msg_server ;;
            esac
        fi
    done
}

# Waits until both msg_servers accept logins again: login_server lists them and a real login
# on each succeeds (after a fault their db_proxy links may still be dialling again).
wait_ready() {
    local deadline=$((SECONDS + 60))
    until curl -sf "$login_url" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "login_server gives no msg_server"
        sleep 0.2
    done
    until "$bin_dir/tt-load" login --count 2 --concurrency 2 --first 18 --prefix "$prefix" \
        --password tt-load --msg-server "127.0.0.1:$base,127.0.0.1:$((base + 1))" \
        --login-timeout 5 --quiet --json 2>/dev/null |
        jq -e '.login.failed == 0 and .login.succeeded == 2' >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "the msg_servers take no logins"
        sleep 0.5
    done
}

inject() {
    case $1 in
        none) ;;
        db_proxy)
            kill9 db_proxy
            sleep "$down_for"
            start_server db_proxy "$db_port" db_proxy_server
            ;;
        route)
            kill9 route
            sleep "$down_for"
            start_server route "$route_port" route_server
            ;;
        msg_server)
            kill9 msg1
            sleep "$down_for"
            start_server msg1 $((base + 1)) msg_server
            ;;
        login)
            kill9 login
            sleep "$down_for"
            start_server login "$login_http" login_server
            ;;
        file)
            kill9 file
            sleep "$down_for"
            start_server file "$file_msg" file_server
            ;;
        push)
            kill9 push
            sleep "$down_for"
            start_server push "$push_port" push_server
            ;;
        redis)
            kill9 redis
            sleep "$down_for"
            start_redis
            ;;
        mysql)
            kill9 mysql
            sleep "$down_for"
            start_mysql
            ;;
        db_link_stall) relay_command "$db_relay_ctl" blackhole ;;
        mysql_cut) relay_command "$mysql_relay_ctl" "cut 5" ;;
        *) die "unknown fault $1" ;;
    esac
}

# Sum of a numeric field over the JSON results given.
field() {
    local expr=$1
    shift
    jq -s "map(.messages | $expr // 0) | add" "$@"
}

# Client requests in msg_server I's pending table (from its metrics endpoint); empty when
# the endpoint does not answer.
pending_in() {
    curl -sf "http://127.0.0.1:$((metrics_base + $1))/metrics" 2>/dev/null |
        awk '$1 == "teamtalk_pending_requests" { print $2 }' || true
}

# Waits (at most the request deadline and a little) until both msg_servers' pending tables
# are empty; prints how many requests are left in them ("?" if they cannot be read).
pending_left() {
    local deadline=$((SECONDS + 20)) a b
    while :; do
        a=$(pending_in 0)
        b=$(pending_in 1)
        if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
            if ((a + b == 0 || SECONDS >= deadline)); then
                printf '%s\n' $((a + b))
                return
            fi
        elif ((SECONDS >= deadline)); then
            printf '?\n'
            return
        fi
        sleep 1
    done
}

gap() {
    jq -s 'map(.messages.longest_ack_gap_s // 0) | max' "$@"
}

run_fault() {
    local fault=$1
    local dir=$work_dir/runs/$fault common msg_pid group_pid rc_msg=0 rc_group=0
    local lost dup stored_bad resent unacked reconnects heal unhealed verdict pending
    mkdir -p "$dir"
    revive
    wait_ready
    log "fault $fault: traffic for ${seconds}s, fault at ${fault_at}s"
    common=(--prefix "$prefix" --password tt-load --client-type pc --rate 5
        --seconds "$seconds" --drain 30 --ack-timeout 3 --resends 12 --reconnect
        --login-url "$login_url" --msg-server "127.0.0.1:$base,127.0.0.1:$((base + 1))"
        --check-mysql "$mysql_url" --quiet --json)
    "$bin_dir/tt-load" msg --first 8 --pairs 6 --label "$fault 1:1" "${common[@]}" \
        --out "$dir/msg.json" >/dev/null 2>"$dir/msg.log" &
    msg_pid=$!
    pids[tt_load_msg]=$msg_pid
    "$bin_dir/tt-load" group --group-id "$group_id" --members 8 --senders 3 \
        --label "$fault group" "${common[@]}" --out "$dir/group.json" \
        >/dev/null 2>"$dir/group.log" &
    group_pid=$!
    pids[tt_load_group]=$group_pid
    sleep "$fault_at"
    inject "$fault"
    wait "$msg_pid" || rc_msg=$?
    wait "$group_pid" || rc_group=$?
    unset "pids[tt_load_msg]" "pids[tt_load_group]"
    if [[ ! -s $dir/msg.json || ! -s $dir/group.json ]]; then
        log "fault $fault: a tt-load run ended without a result (exit $rc_msg/$rc_group)"
        tail -5 "$dir/msg.log" "$dir/group.log" >&2 || true
        results+=("$(printf '| %s | error | error | error | error | | | | | | FAIL |' "$fault")")
        failed=1
        return
    fi
    lost=$(field '.lost' "$dir"/{msg,group}.json)
    dup=$(field '.duplicated' "$dir"/{msg,group}.json)
    stored_bad=$(field '(.stored.acked_missing + .stored.extra_rows + .stored.reused_msg_ids)' \
        "$dir"/{msg,group}.json)
    resent=$(field '.resent_messages' "$dir"/{msg,group}.json)
    unacked=$(field '.unacked' "$dir"/{msg,group}.json)
    reconnects=$(field '.reconnects' "$dir"/{msg,group}.json)
    unhealed=$(field '.unhealed_senders' "$dir"/{msg,group}.json)
    heal=$(printf '%.1f' "$(gap "$dir"/{msg,group}.json)")
    local sent acked
    sent=$(field '.sent' "$dir"/{msg,group}.json)
    acked=$(field '.acked' "$dir"/{msg,group}.json)
    if ((unhealed > 0)); then
        heal="not healed ($unhealed senders)"
    fi
    pending=$(pending_left)
    verdict=pass
    # A run that sent nothing proves nothing.
    if ((lost + dup + stored_bad > 0 || sent == 0 || acked == 0)) || [[ $pending != 0 ]]; then
        verdict=FAIL
        failed=1
    fi
    results+=("$(printf '| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' \
        "$fault" "$sent" "$acked" "$lost" "$dup" "$stored_bad" "$pending" "$resent" \
        "$unacked" "$reconnects" "$heal" "$verdict")")
    log "fault $fault: ${results[-1]}"
}

main() {
    local faults=("$@") f started=$SECONDS
    if [[ ${1:-} == -h || ${1:-} == --help ]]; then
        usage
        exit 0
    fi
    ((${#faults[@]})) || faults=("${all_faults[@]}")
    for f in "${faults[@]}"; do
        [[ " ${all_faults[*]} " == *" $f "* ]] || die "unknown fault $f (see --help)"
    done
    command -v jq >/dev/null || die "jq is needed"
    command -v redis-server >/dev/null || die "redis-server is needed"
    mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
    [[ -x $mariadbd ]] || die "mariadbd is needed"
    mysql_install_db=$(command -v mariadb-install-db) || die "mariadb-install-db is needed"
    [[ $db_name =~ ^[A-Za-z0-9_]+$ ]] || die "TT_FAULTS_DB must be a plain identifier"
    for p in "$base" $((base + 1)) "$login_http" "$login_msg" "$login_client" "$route_port" \
        "$redis_port" "$mysql_port" "$mysql_relay" "$mysql_relay_ctl" "$push_port" "$db_port" "$db_relay" \
        "$db_relay_ctl" "$file_client" "$file_msg" "$metrics_base" $((metrics_base + 1)); do
        listening "$p" && die "port $p is in use (set TT_FAULTS_PORT)"
    done
    if [[ ${TT_FAULTS_NO_BUILD:-0} != 1 ]]; then
        log "building ($profile)"
        if [[ $profile == release ]]; then
            (cd "$root_dir" && cargo build --release -q -p tt_bench -p db_proxy_server \
                -p route_server -p login_server -p msg_server -p file_server -p push_server --bins)
        else
            # As `cargo test --workspace` builds them (same feature unification), so after
            # the test suite this finds nothing to compile.
            (cd "$root_dir" && cargo build -q --workspace --tests)
        fi
    fi

    trap cleanup EXIT
    trap 'exit 130' INT TERM
    rm -rf "$work_dir"
    mkdir -p "$work_dir"
    # The packages (MariaDB, Redis, jq) and the shared servers the test suite uses.
    "$root_dir/scripts/services.sh" >/dev/null
    write_confs
    start_cluster
    group_id=$("$bin_dir/tt-load" seed --users 20 --groups 1 --group-size 8 --prefix "$prefix" \
        --mysql-url "$mysql_url" --redis-url "redis://127.0.0.1:$redis_port" \
        --group-member-db 5 --unread-db 1 --json | jq -r '.groups[0].id')
    [[ $group_id =~ ^[0-9]+$ ]] || die "seeding gave no group id"

    for f in "${faults[@]}"; do
        run_fault "$f"
    done

    {
        printf '%s' "| fault | sent / acked | lost | duplicated | stored wrong | pending left "
        printf '%s\n' "| resent after timeout | unacked at end | reconnects | seconds to heal | result |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        printf '%s\n' "${results[@]}"
    } | tee "$work_dir/results.md"
    log "$(((SECONDS - started))) s in all; $([[ $failed == 0 ]] && echo passed || echo FAILED)"
    return "$failed"
}

main "$@"
