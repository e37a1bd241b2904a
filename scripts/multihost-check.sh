#!/usr/bin/env bash
# Checks docs/INSTALL.md's multi-host set-up on one machine, with network namespaces as hosts.
#
# Needs root (it creates network namespaces), iproute2, mariadbd and mariadb-install-db,
# redis-server, the mariadb client and curl, and release binaries of the servers and tt
# (cargo build --release --bins). Not run by CI or scripts/test.sh.
#
# The "hosts", one network namespace each, on a bridge in a namespace of their own
# (10.77.0.0/16; nothing is added to the machine's own network namespace):
#
#   <p>-db      10.77.0.10   MariaDB and Redis (private processes, bound to 10.77.0.10)
#   <p>-back1   10.77.0.2    db_proxy_server
#   <p>-back2   10.77.0.3    route_server, login_server, push_server
#   <p>-front   10.77.0.1    msg_server, file_server, msfs, http_msg_server
#   <p>-client  10.77.1.100  tt and curl: a client outside the cluster's 10.77.0.0/24
#
# The confs are the samples of conf/ with the changes INSTALL.md, section 4, lists (the
# servers link on 10.77.0.0/24, AllowedPeerIPs=10.77.0.0/24). Each server runs as its unit
# would run it (--config <etc>/<name>.conf in its own working directory), started directly,
# not through systemd. Checks:
#   * login_server names the front host's msg_server to a client (HTTP /msg_server);
#   * alice logs in through login_server from the client host; 1:1 and group messages reach
#     a listening user; history lists them; an offline user gets the 1:1 message as unread;
#   * every server-to-server port refuses the client host (outside AllowedPeerIPs) and logs
#     it, while the client ports answer it;
#   * http_msg_server (AppKey set) refuses a wrong app_key from another host and, with the
#     right one, changes a user's group (db_proxy's AdminPeerIPs names the front host);
#   * msfs stores and serves a file for the client host.
#
# Usage: sudo scripts/multihost-check.sh
# Environment:
#   TT_BIN          directory of the binaries (default: $CARGO_TARGET_DIR/release or
#                   target/release)
#   TT_MH_PREFIX    namespace name prefix (default ttmh); namespaces with it must not exist
#   TT_MH_DIR       working directory: confs, data, logs (default /tmp/tt-multihost);
#                   removed at the end unless TT_MH_KEEP=1
# Exit status 0 when every check passed, 1 otherwise. Every process is stopped by pid and
# every namespace deleted on exit.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly bin_dir=${TT_BIN:-${CARGO_TARGET_DIR:-$root_dir/target}/release}
readonly prefix=${TT_MH_PREFIX:-ttmh}
readonly work=${TT_MH_DIR:-/tmp/tt-multihost}
readonly password=tt123456
readonly db_password=mh-secret-1
readonly app_key=mh-app-key-1

readonly ip_db=10.77.0.10 ip_back1=10.77.0.2 ip_back2=10.77.0.3 ip_front=10.77.0.1
readonly ip_client=10.77.1.100
readonly cluster_net=10.77.0.0/24

declare -A host_ip=([db]=$ip_db [back1]=$ip_back1 [back2]=$ip_back2 [front]=$ip_front
    [client]=$ip_client)
readonly hosts=(db back1 back2 front client)

pids=()
namespaces=()
failures=0

log() { printf 'multihost: %s\n' "$*"; }
die() {
    printf 'multihost: error: %s\n' "$*" >&2
    exit 1
}
pass() { printf 'multihost: PASS %s\n' "$*"; }
fail() {
    printf 'multihost: FAIL %s\n' "$*"
    failures=$((failures + 1))
}

cleanup() {
    local pid ns
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for ns in "${namespaces[@]}"; do
        ip netns delete "$ns" 2>/dev/null || true
    done
    if [[ ${TT_MH_KEEP:-0} != 1 ]]; then
        rm -rf "$work"
    else
        log "kept $work (confs and logs)"
    fi
}

((EUID == 0)) || die "needs root (network namespaces)"
for tool in ip mariadbd mariadb-install-db redis-server mariadb curl; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool is needed"
done
for b in login_server msg_server route_server db_proxy_server file_server msfs \
    http_msg_server push_server tt; do
    [[ -x $bin_dir/$b ]] || die "$bin_dir/$b is missing (cargo build --release --bins, or TT_BIN)"
done
for h in sw "${hosts[@]}"; do
    [[ ! -e /run/netns/$prefix-$h ]] || die "namespace $prefix-$h exists already"
done
[[ ! -e $work ]] || die "$work exists already (TT_MH_DIR)"

trap cleanup EXIT
mkdir -p "$work"

in_ns() {
    local h=$1
    shift
    ip netns exec "$prefix-$h" "$@"
}

# --- The network: a bridge in <p>-sw, one veth pair per host. -------------------------
ip netns add "$prefix-sw"
namespaces+=("$prefix-sw")
in_ns sw ip link add br0 type bridge
in_ns sw ip link set br0 up
in_ns sw ip link set lo up
i=0
for h in "${hosts[@]}"; do
    i=$((i + 1))
    ip netns add "$prefix-$h"
    namespaces+=("$prefix-$h")
    # Both ends are created in the host's namespace, then one is moved to the switch.
    in_ns "$h" ip link add eth0 type veth peer name "p$i"
    in_ns "$h" ip link set "p$i" netns "$prefix-sw"
    in_ns sw ip link set "p$i" master br0 up
    in_ns "$h" ip link set lo up
    in_ns "$h" ip addr add "${host_ip[$h]}/16" dev eth0
    in_ns "$h" ip link set eth0 up
done
log "namespaces ${namespaces[*]} on bridge br0 (10.77.0.0/16)"

# start HOST NAME DIR COMMAND...: runs COMMAND in HOST's namespace in DIR, logging to
# DIR/NAME.log.
start() {
    local h=$1 name=$2 dir=$3
    shift 3
    mkdir -p "$dir"
    (cd "$dir" && exec ip netns exec "$prefix-$h" "$@" >>"$dir/$name.log" 2>&1) &
    pids+=($!)
}

# wait_port HOST IP PORT NAME: waits until IP:PORT accepts a connection from HOST.
wait_port() {
    local h=$1 ip=$2 port=$3 name=$4 deadline=$((SECONDS + 30))
    until in_ns "$h" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; do
        ((SECONDS < deadline)) || die "$name is not listening on $ip:$port (logs in $work)"
        sleep 0.2
    done
}

# --- Host db: MariaDB and Redis on the private address (INSTALL.md, section 3). --------
db_dir=$work/db
mkdir -p "$db_dir/mysql"
mariadb-install-db --no-defaults --user=root --datadir="$db_dir/mysql/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$db_dir/mysql/install.log" 2>&1 ||
    die "mariadb-install-db failed; see $db_dir/mysql/install.log"
mariadbd_bin=$(command -v mariadbd || echo /usr/sbin/mariadbd)
start db mariadbd "$db_dir/mysql" "$mariadbd_bin" --no-defaults --user=root \
    --datadir="$db_dir/mysql/data" --bind-address="$ip_db" --port=3306 \
    --socket="$db_dir/mysql/mysqld.sock" --pid-file="$db_dir/mysql/mysqld.pid" \
    --skip-name-resolve --innodb-buffer-pool-size=64M
# Redis refuses clients on other hosts in protected mode (its default when no password is
# set), and db_proxy_server sends none: protected-mode off, reachable on the private address
# only (INSTALL.md, section 3).
start db redis "$db_dir/redis" redis-server --bind "$ip_db" --port 6379 --protected-mode no --save '' \
    --appendonly no --daemonize no
wait_port db "$ip_db" 3306 mariadbd
wait_port db "$ip_db" 6379 redis-server

db_sql() { mariadb --socket="$db_dir/mysql/mysqld.sock" -u root "$@"; }
# INSTALL.md, section 3, with 10.77.0.% for 10.0.0.%.
db_sql -e 'CREATE DATABASE teamtalk CHARACTER SET utf8mb4'
db_sql teamtalk <"$root_dir/sql/schema.sql"
db_sql -e "CREATE USER 'teamtalk'@'10.77.0.%' IDENTIFIED BY '$db_password';
           GRANT SELECT, INSERT, UPDATE, DELETE ON teamtalk.* TO 'teamtalk'@'10.77.0.%'"
# The demo organisation, as INSTALL.md says: sql/demo.sql only. The demo group's members are
# not written to Redis; db_proxy_server rebuilds them from IMGroupMember.
db_sql teamtalk <"$root_dir/sql/demo.sql"
redis_db() { in_ns db redis-cli -h "$ip_db" "$@"; }
log "host db: MariaDB and Redis on $ip_db, database teamtalk with the demo data"

# --- Confs: the samples with INSTALL.md's changes. ------------------------------------
# setkey FILE KEY VALUE: sets KEY (replacing the line, or a commented-out "#KEY=" line,
# or appending).
setkey() {
    local file=$1 key=$2 value=$3
    if grep -q "^$key=" "$file"; then
        sed -i "s|^$key=.*|$key=$value|" "$file"
    elif grep -q "^#$key=" "$file"; then
        sed -i "0,/^#$key=.*/s||$key=$value|" "$file"
    else
        printf '%s=%s\n' "$key" "$value" >>"$file"
    fi
}
etc() { printf '%s/%s/etc' "$work" "$1"; }
conf() {
    mkdir -p "$(etc "$1")"
    cp "$root_dir/conf/$2" "$(etc "$1")/$2"
    printf '%s/%s' "$(etc "$1")" "$2"
}

f=$(conf back1 dbproxyserver.conf)
setkey "$f" ListenIP "$ip_back1"
setkey "$f" MsfsSite "http://$ip_front:8700"
for pool in teamtalk_master teamtalk_slave; do
    setkey "$f" "${pool}_host" "$ip_db"
    setkey "$f" "${pool}_username" teamtalk
    setkey "$f" "${pool}_password" "$db_password"
done
for cache in unread group_set sync token group_member; do
    setkey "$f" "${cache}_host" "$ip_db"
done
setkey "$f" AllowedPeerIPs "$cluster_net"
setkey "$f" AdminPeerIPs "$ip_front"

f=$(conf back2 routeserver.conf)
setkey "$f" ListenIP "$ip_back2"
setkey "$f" AllowedPeerIPs "$cluster_net"
f=$(conf back2 loginserver.conf)
setkey "$f" ClientListenIP "$ip_back2"
setkey "$f" HttpListenIP "$ip_back2"
setkey "$f" MsgServerListenIP "$ip_back2"
setkey "$f" msfs "http://$ip_front:8700/"
setkey "$f" AllowedPeerIPs "$cluster_net"
f=$(conf back2 pushserver.conf)
setkey "$f" ListenIP "$ip_back2"
setkey "$f" AllowedPeerIPs "$cluster_net"
setkey "$f" DBServerIP1 "$ip_back1"
setkey "$f" DBServerPort1 10600

f=$(conf front msgserver.conf)
setkey "$f" ListenIP "$ip_front"
setkey "$f" IpAddr1 "$ip_front"
setkey "$f" IpAddr2 "$ip_front"
setkey "$f" DBServerIP1 "$ip_back1"
setkey "$f" DBServerIP2 "$ip_back1"
setkey "$f" LoginServerIP1 "$ip_back2"
setkey "$f" RouteServerIP1 "$ip_back2"
setkey "$f" PushServerIP1 "$ip_back2"
setkey "$f" FileServerIP1 "$ip_front"
f=$(conf front fileserver.conf)
setkey "$f" ClientListenIP "$ip_front"
setkey "$f" MsgServerListenIP "$ip_front"
setkey "$f" ClientAdvertiseIP "$ip_front"
setkey "$f" AllowedPeerIPs "$cluster_net"
f=$(conf front msfs.conf)
setkey "$f" ListenIP "$ip_front"
f=$(conf front httpmsgserver.conf)
setkey "$f" ListenIP "$ip_front"
setkey "$f" DBServerIP1 "$ip_back1"
setkey "$f" DBServerIP2 "$ip_back1"
setkey "$f" RouteServerIP1 "$ip_back2"
setkey "$f" AppKey "$app_key"

# run HOST SERVER CONF: as the unit does, in <host>/<server>/ with --config.
run() {
    local h=$1 server=$2 conf_name=$3
    start "$h" "$server" "$work/$h/$server" env RUST_LOG=info \
        "$bin_dir/$server" --config "$(etc "$h")/$conf_name"
}

# --- Start, back end first (INSTALL.md, section 4). -----------------------------------
run back1 db_proxy_server dbproxyserver.conf
wait_port back1 "$ip_back1" 10600 db_proxy_server
run back2 route_server routeserver.conf
run back2 login_server loginserver.conf
run back2 push_server pushserver.conf
wait_port back2 "$ip_back2" 8200 route_server
wait_port back2 "$ip_back2" 8100 login_server
wait_port back2 "$ip_back2" 8500 push_server
run front msfs msfs.conf
run front file_server fileserver.conf
run front msg_server msgserver.conf
run front http_msg_server httpmsgserver.conf
wait_port front "$ip_front" 8700 msfs
wait_port front "$ip_front" 8601 file_server
wait_port front "$ip_front" 8000 msg_server
wait_port front "$ip_front" 8400 http_msg_server
log "servers started; waiting for msg_server's links"
sleep 5

# --- Checks. --------------------------------------------------------------------------
login_url="http://$ip_back2:8080/msg_server"
tt() { in_ns client "$bin_dir/tt" --login-url "$login_url" --password "$password" "$@"; }

answer=$(in_ns client curl -s --max-time 5 "$login_url" || true)
if grep -q "\"priorIP\" *: *\"$ip_front\"" <<<"$answer" &&
    grep -q '"port" *: *"8000"' <<<"$answer"; then
    pass "login_server names $ip_front:8000 to the client host"
else
    fail "login_server's answer: $answer"
fi

if out=$(tt --user alice login 2>&1); then
    pass "alice logs in from $ip_client through login_server"
else
    fail "alice's login: $out"
fi

stamp=$(date +%s)
tt --user bob listen --for 12 >"$work/bob.listen" 2>&1 &
listener=$!
tt --user carol listen --for 12 >"$work/carol.listen" 2>&1 &
listener2=$!
sleep 3
tt --user alice send --to bob "one-to-one $stamp" >/dev/null 2>&1 || fail "alice -> bob: send failed"
tt --user alice send --group 1 "group $stamp" >/dev/null 2>&1 || fail "alice -> group 1: send failed"
tt --user alice send --to frank "offline $stamp" >/dev/null 2>&1 || fail "alice -> frank: send failed"
wait "$listener" || true
wait "$listener2" || true
if grep -q "one-to-one $stamp" "$work/bob.listen"; then
    pass "bob received alice's 1:1 message live"
else
    fail "bob did not receive the 1:1 message: $(cat "$work/bob.listen")"
fi
if grep -q "group $stamp" "$work/carol.listen"; then
    pass "carol received alice's group message live"
else
    fail "carol did not receive the group message: $(cat "$work/carol.listen")"
fi
out=$(tt --user bob history --with alice --count 5 2>&1 || true)
if [[ $out == *"one-to-one $stamp"* ]]; then
    pass "bob's history with alice has the message"
else
    fail "bob's history: $out"
fi
out=$(tt --user frank unread 2>&1 || true)
if [[ $out == *"(user 1)"* ]] && tt --user frank history --with alice --count 5 2>&1 |
    grep -q "offline $stamp"; then
    pass "frank, offline when it was sent, finds alice's message (unread and history)"
else
    fail "frank's unread/history: $out"
fi

# A server-to-server port must close a connection from the client host at once (it is
# outside AllowedPeerIPs); a port that accepts it waits for data (timeout, 124).
refused() {
    local ip=$1 port=$2
    in_ns client timeout 3 bash -c "exec 3<>/dev/tcp/$ip/$port && cat <&3 >/dev/null" \
        2>/dev/null
    [[ $? != 124 ]]
}
for peer in "$ip_back1 10600 db_proxy_server back1" "$ip_back2 8200 route_server back2" \
    "$ip_back2 8100 login_server back2" "$ip_back2 8500 push_server back2" \
    "$ip_front 8601 file_server front"; do
    read -r ip port name h <<<"$peer"
    if refused "$ip" "$port"; then
        if grep -qi "$ip_client" "$work/$h/$name/$name.log"; then
            pass "$name:$port refuses $ip_client and logs it"
        else
            fail "$name:$port refuses $ip_client but its log does not name it"
        fi
    else
        fail "$name:$port accepted $ip_client (outside AllowedPeerIPs)"
    fi
done
for client_port in "$ip_front 8000 msg_server" "$ip_back2 8008 login_server" \
    "$ip_front 8600 file_server"; do
    read -r ip port name <<<"$client_port"
    if refused "$ip" "$port"; then
        fail "$name's client port $port refused $ip_client"
    else
        pass "$name's client port $port accepts $ip_client"
    fi
done

# http_msg_server has AppKey set (INSTALL.md: "AppKey or AllowIP"): a caller on another host
# with a wrong key gets error 2; with the key it may change the members of a group it did not
# create, because db_proxy lists the front host in AdminPeerIPs.
admin() {
    in_ns client curl -s --max-time 15 -X POST -d "$2" "http://$ip_front:8400/query/$1" || true
}
out=$(admin ChangeMembers '{"app_key":"wrong","req_user_id":0,"group_id":1,"modify_type":1,"user_id_list":[6]}')
if grep -q '"error_code" *: *2' <<<"$out"; then
    pass "http_msg_server refuses a wrong app_key from another host (error 2)"
else
    fail "http_msg_server, wrong app_key: $out"
fi
out=$(admin ChangeMembers "{\"app_key\":\"$app_key\",\"req_user_id\":0,\"group_id\":1,\"modify_type\":1,\"user_id_list\":[6]}")
if grep -q '"error_code" *: *0' <<<"$out" && [[ $(redis_db -n 5 HEXISTS group_member_1 6) == 1 ]]; then
    pass "http_msg_server with the app_key adds frank to alice's group (AdminPeerIPs)"
else
    fail "http_msg_server admin change of group 1: $out"
fi

printf 'multihost %s\n' "$stamp" >"$work/upload.txt"
out=$(in_ns client curl -s --max-time 5 -F "file=@$work/upload.txt" "http://$ip_front:8700/" ||
    true)
path=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' <<<"$out")
if [[ -n $path ]] && in_ns client curl -s --max-time 5 "http://$ip_front:8700/$path" |
    grep -q "multihost $stamp"; then
    pass "msfs stores and serves a file for the client host ($path)"
else
    fail "msfs upload/download: $out"
fi

if ((failures)); then
    log "$failures check(s) failed; logs in $work (TT_MH_KEEP=1 keeps them)"
    exit 1
fi
log "every check passed"
