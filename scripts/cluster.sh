#!/usr/bin/env bash
# Runs a local TeamTalk cluster from the sample confs in conf/.
#
# Usage: scripts/cluster.sh start|stop|status|restart
#   start    load the demo organisation (scripts/services.sh --demo), build the release
#            binaries, then start every built server in run/<server>/ with its conf, the
#            admin console last; creates the console's first administrator (`admin`, with a
#            generated password kept in run/admin_server/first-admin.txt) and prints both
#   stop     stop the servers whose pids are recorded in run/<server>/server.pid
#   status   show each server's pid, whether it is alive, and its listening ports
#   restart  stop, then start
#
# Each server runs in its own working directory, as the originals expect: it reads
# ./<name>.conf there and writes server.pid; stdout and stderr are appended to server.log
# (each start marked by a line), so a restart keeps the log of the run before it.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly conf_dir=$root_dir/conf
readonly run_dir=$root_dir/run
readonly bin_dir=$root_dir/target/release
# msg_server's WebSocket port for the web client demo, unless its conf sets one.
readonly WEB_WS_PORT=8002

# Start order: storage first, then everything msg_server dials, then msg_server, then the
# admin API that needs db_proxy and route_server, then the admin console over it. The
# servers reconnect on their own, so the order only avoids a burst of failed connects and
# log noise at start-up.
readonly SERVERS=(db_proxy_server route_server login_server msfs file_server push_server
    msg_server http_msg_server admin_server)

# How long a server gets to open its ports, and to exit after SIGTERM (db_proxy waits 4 s
# before exiting so that its peers stop sending first).
readonly START_SECONDS=10
readonly STOP_SECONDS=10

log() {
    printf 'cluster: %s\n' "$*"
}

die() {
    printf 'cluster: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

conf_name() {
    case $1 in
        login_server) echo loginserver.conf ;;
        msg_server) echo msgserver.conf ;;
        route_server) echo routeserver.conf ;;
        db_proxy_server) echo dbproxyserver.conf ;;
        file_server) echo fileserver.conf ;;
        msfs) echo msfs.conf ;;
        http_msg_server) echo httpmsgserver.conf ;;
        push_server) echo pushserver.conf ;;
        admin_server) echo adminserver.conf ;;
        *) die "unknown server $1" ;;
    esac
}

# The conf keys holding each server's listening ports.
port_keys() {
    case $1 in
        login_server) echo ClientPort HttpPort MsgServerPort ;;
        route_server) echo ListenMsgPort ;;
        file_server) echo ClientListenPort MsgServerListenPort ;;
        *) echo ListenPort ;;
    esac
}

# Reads one key the way the servers do: everything from the first '#' is a comment, the
# key ends at the first '=', spaces and tabs around key and value are trimmed, an empty
# value counts as missing and the first occurrence wins.
conf_value() {
    awk -v key="$2" '
        {
            sub(/#.*/, "")
            i = index($0, "=")
            if (i == 0) next
            k = substr($0, 1, i - 1)
            v = substr($0, i + 1)
            gsub(/^[ \t]+|[ \t\r]+$/, "", k)
            gsub(/^[ \t]+|[ \t\r]+$/, "", v)
            if (k == key && v != "") { print v; exit }
        }' "$1"
}

ports_of() {
    local server=$1 conf key port
    conf=$conf_dir/$(conf_name "$server")
    for key in $(port_keys "$server"); do
        port=$(conf_value "$conf" "$key")
        if [[ -n $port ]]; then
            printf '%s\n' "$port"
        fi
    done
}

# Looks for a listening socket in the kernel's tables rather than connecting, so that a
# status check never shows up as a client on the servers.
port_listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v port="$hex" '
        FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { found = 1 }
        END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

recorded_pid() {
    local file=$run_dir/$1/server.pid pid
    [[ -f $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid ]] || return 1
    printf '%s\n' "$pid"
}

# True when the pid is alive and runs this server's binary. A pid file can outlive its
# process and the pid be reused, so a bare `kill -0` is not enough before sending signals.
is_our_server() {
    local pid=$1 server=$2 exe
    kill -0 "$pid" 2>/dev/null || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    # A rebuild replaces the file under a running server.
    exe=${exe% (deleted)}
    [[ $exe == "$bin_dir/$server" ]]
}

# The metrics endpoint (CONFIG §1.2) of each server in the local cluster, on loopback.
metrics_port() {
    case $1 in
        login_server) echo 9101 ;;
        msg_server) echo 9102 ;;
        route_server) echo 9103 ;;
        db_proxy_server) echo 9104 ;;
        file_server) echo 9105 ;;
        msfs) echo 9106 ;;
        http_msg_server) echo 9107 ;;
        push_server) echo 9108 ;;
    esac
}

# msfs writes its file counter back to its own msfs.conf when it exits; that count is kept
# when the conf is copied again, so new uploads do not restart from directory 000/000.
copy_conf() {
    local server=$1 name src dst count=
    name=$(conf_name "$server")
    src=$conf_dir/$name
    dst=$run_dir/$server/$name
    if [[ $server == msfs && -f $dst ]]; then
        count=$(conf_value "$dst" FileCnt)
    fi
    cp "$src" "$dst"
    if [[ $count =~ ^[0-9]+$ ]]; then
        sed -i "s/^\([[:space:]]*FileCnt[[:space:]]*=\)[^#]*/\1$count/" "$dst"
    fi
    # The console has no metrics endpoint of its own; its conf lists the others'.
    if [[ $server == admin_server ]]; then
        return 0
    fi
    printf '\n# Added by scripts/cluster.sh: the metrics endpoint of the local cluster.\n' >>"$dst"
    printf 'MetricsListenIP=127.0.0.1\nMetricsPort=%s\n' "$(metrics_port "$server")" >>"$dst"
    # The browser demo (docs/WEB_CLIENT.md): login_server serves the page, msg_server a
    # WebSocket port for it (plain ws:// on loopback here; wss:// needs a certificate).
    if [[ $server == login_server && -z $(conf_value "$src" WebClient) ]]; then
        printf '\n# Added by scripts/cluster.sh: the web client demo.\nWebClient=1\n' >>"$dst"
    fi
    if [[ $server == msg_server && -z $(conf_value "$src" WsListenPort) ]]; then
        printf '\n# Added by scripts/cluster.sh: for the web client demo.\nWsListenPort=%s\n' \
            "$WEB_WS_PORT" >>"$dst"
    fi
}

# Creates the console's first administrator, `admin`, with a password the console generates
# (there is no default password), kept readable only by this user so that later starts can
# print it again. Creating is tried at every start: after `services.sh --reset` the account
# is made again and the file replaced. Prints the console's URL and the credentials.
first_admin() {
    local dir=$run_dir/admin_server file out port
    file=$dir/first-admin.txt
    [[ -x $bin_dir/admin_server && -d $dir ]] || return 0
    port=$(conf_value "$conf_dir/adminserver.conf" ListenPort)
    echo "Admin console:  http://127.0.0.1:${port}/"
    if out=$(cd "$dir" && "$bin_dir/admin_server" --create-admin admin 2>&1); then
        (umask 077 && printf '%s\n' "${out##*password: }" >"$file")
    elif [[ $out != *"already exists"* ]]; then
        log "could not create the console's first administrator: $out"
        return 0
    elif [[ ! -s $file ]]; then
        echo "                administrator admin exists (created elsewhere); add another with"
        echo "                (cd run/admin_server && $bin_dir/admin_server --create-admin NAME)"
        return 0
    fi
    echo "                name: admin   password: $(cat "$file")  (run/admin_server/first-admin.txt)"
}

# Returns 1 if the server did not come up.
start_one() {
    local server=$1 bin=$bin_dir/$1 dir=$run_dir/$1 pid port deadline waiting
    if [[ ! -x $bin ]]; then
        log "skipping $server: not built yet"
        return 0
    fi
    if pid=$(recorded_pid "$server") && is_our_server "$pid" "$server"; then
        log "$server already running (pid $pid)"
        return 0
    fi
    mkdir -p "$dir"
    copy_conf "$server"
    rm -f "$dir/server.pid"
    # nohup: keep running when the terminal that started the cluster goes away. The
    # subshell and nohup both exec, so $! is the server's own pid.
    printf '=== %s: scripts/cluster.sh starts %s\n' "$(date -u +%FT%TZ)" "$server" \
        >>"$dir/server.log"
    (cd "$dir" && exec nohup "$bin") >>"$dir/server.log" 2>&1 </dev/null &
    pid=$!

    deadline=$((SECONDS + START_SECONDS))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$server exited at start-up; last lines of run/$server/server.log:"
            tail -n 5 "$dir/server.log" | sed 's/^/    /'
            rm -f "$dir/server.pid"
            return 1
        fi
        waiting=()
        for port in $(ports_of "$server"); do
            port_listening "$port" || waiting+=("$port")
        done
        if [[ ${#waiting[@]} -eq 0 ]]; then
            break
        fi
        if ((SECONDS >= deadline)); then
            log "$server (pid $pid) is running but not listening on ${waiting[*]} yet"
            break
        fi
        sleep 0.2
    done
    # The servers write server.pid once their listeners are open; one that does not (yet)
    # gets it written here so that stop and status can find it.
    if [[ ! -s $dir/server.pid ]]; then
        printf '%s' "$pid" >"$dir/server.pid"
    fi
    log "$server started (pid $pid, ports $(ports_of "$server" | paste -sd ' ' -))"
}

stop_one() {
    local server=$1 pid deadline
    pid=$(recorded_pid "$server") || return 0
    if ! is_our_server "$pid" "$server"; then
        if kill -0 "$pid" 2>/dev/null; then
            log "$server: pid $pid is not $bin_dir/$server; leaving it alone"
        fi
        rm -f "$run_dir/$server/server.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_SECONDS))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$server (pid $pid) ignored SIGTERM for ${STOP_SECONDS}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$run_dir/$server/server.pid"
    log "$server stopped (pid $pid)"
}

status_one() {
    local server=$1 pid=- state ports=() port
    if pid=$(recorded_pid "$server"); then
        if is_our_server "$pid" "$server"; then
            state=running
        else
            state="stale pid file"
        fi
    elif [[ -x $bin_dir/$server ]]; then
        pid=-
        state=stopped
    else
        pid=-
        state="not built"
    fi
    for port in $(ports_of "$server"); do
        if port_listening "$port"; then
            ports+=("$port:listening")
        else
            ports+=("$port:closed")
        fi
    done
    printf '%-16s %-8s %-22s %s\n' "$server" "$pid" "$state" "${ports[*]}"
}

cmd_start() {
    local db_name failed=0 server http_port
    db_name=$(conf_value "$conf_dir/dbproxyserver.conf" teamtalk_master_dbname)
    TT_DB_NAME=${db_name:-teamtalk} "$root_dir/scripts/services.sh" --demo

    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found; install Rust with rustup and put ~/.cargo/bin on PATH"
    log "building release binaries"
    (cd "$root_dir" && cargo build --release --bins) || die "build failed"

    mkdir -p "$run_dir"
    for server in "${SERVERS[@]}"; do
        start_one "$server" || failed=1
    done

    http_port=$(conf_value "$conf_dir/loginserver.conf" HttpPort)
    echo
    echo "Discovery URL:  http://127.0.0.1:${http_port}/msg_server"
    echo "Web client:     http://127.0.0.1:${http_port}/web/  (a demo; docs/WEB_CLIENT.md)"
    echo "Demo users:     alice bob carol dave erin frank grace heidi ivan judy"
    echo "Password:       tt123456 (every demo user; see sql/README.md)"
    echo "Logs:           run/<server>/server.log    Stop: scripts/cluster.sh stop"
    echo "Metrics:        http://127.0.0.1:PORT/metrics (also /healthz, /readyz), PORT ="
    for server in "${SERVERS[@]}"; do
        if [[ $server != admin_server ]]; then
            printf '                  %-16s %s\n' "$server" "$(metrics_port "$server")"
        fi
    done
    first_admin
    if ((failed)); then
        die "some servers did not start; see above"
    fi
}

cmd_stop() {
    local i
    # Reverse start order: clients of a server go away before the server does.
    for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do
        stop_one "${SERVERS[i]}"
    done
}

cmd_status() {
    local server
    printf '%-16s %-8s %-22s %s\n' SERVER PID STATE PORTS
    for server in "${SERVERS[@]}"; do
        status_one "$server"
    done
}

if [[ $# -ne 1 ]]; then
    usage >&2
    exit 2
fi
case $1 in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart)
        cmd_stop
        cmd_start
        ;;
    -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
