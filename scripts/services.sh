#!/usr/bin/env bash
# Makes MariaDB (127.0.0.1:3306, root with an empty password) and Redis (127.0.0.1:6379)
# available, creates the TeamTalk database and loads sql/schema.sql into it.
#
# Usage: scripts/services.sh [--demo] [--reset] [--browser]
#   --demo   also load sql/demo.sql and the demo group's Redis keys, then check that
#            alice ... judy can log in with tt123456 (fails naming any id that holds
#            other data)
#   --reset  drop and recreate the database, and flush Redis dbs 1-5, before loading
#   --browser  also install Debian's chromium and chromium-driver when missing (the admin
#            console's browser test drives them)
#
# Environment: TT_DB_NAME  database to create and load (default: teamtalk)
#
# Safe to run again and again: packages are installed and servers started only when
# missing, the schema only creates tables that do not exist, and demo rows and keys are
# only added when absent. Nothing is dropped unless --reset is given.
set -euo pipefail

readonly MYSQL_HOST=127.0.0.1
readonly MYSQL_PORT=3306
readonly REDIS_HOST=127.0.0.1
readonly REDIS_PORT=6379

# Redis db indexes as conf/dbproxyserver.conf sets them: unread=1, group_set=2, sync=3,
# token=4, group_member=5.
readonly REDIS_DB_UNREAD=1
readonly REDIS_DB_GROUP_MEMBER=5
readonly REDIS_DBS_OWNED=(1 2 3 4 5)

# The one group sql/demo.sql creates.
readonly DEMO_GROUP_ID=1

readonly WAIT_SECONDS=60

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly root_dir
readonly db_name=${TT_DB_NAME:-teamtalk}

log() {
    printf 'services: %s\n' "$*"
}

die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# The database name is spliced into SQL text, so only plain identifiers are accepted.
if [[ ! $db_name =~ ^[A-Za-z0-9_]+$ ]]; then
    die "TT_DB_NAME must be letters, digits and underscores, got '$db_name'"
fi

demo=0
reset=0
browser=0
for arg in "$@"; do
    case $arg in
        --demo) demo=1 ;;
        --reset) reset=1 ;;
        --browser) browser=1 ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            exit 2
            ;;
    esac
done

# Debian puts the daemons in /usr/sbin, which is not on every user's PATH.
find_bin() {
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
        if [[ -x /usr/sbin/$name ]]; then
            printf '%s\n' "/usr/sbin/$name"
            return 0
        fi
    done
    return 1
}

run_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

mysql_up() {
    # mysqladmin ping succeeds whenever the server answers, even if the password is refused,
    # so this tells "not running" apart from "running but root cannot log in". The one
    # refusal it reports as failure is a host with no account at all (error 1130, seen
    # with skip-name-resolve and only root@localhost); that server is up too.
    local admin out
    admin=$(find_bin mariadb-admin mysqladmin) || return 1
    out=$("$admin" --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root \
        --connect-timeout=2 ping 2>&1) && return 0
    [[ $out == *"is not allowed to connect"* ]]
}

redis_up() {
    local cli
    cli=$(find_bin redis-cli) || return 1
    [[ $("$cli" -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

# apt-get only when something is missing: the usual case is a machine that already has
# both servers, and CI machines may have no package cache at all.
install_missing() {
    local packages=()
    if ! mysql_up && ! find_bin mariadbd >/dev/null; then
        packages+=(mariadb-server)
    fi
    if ! find_bin mariadb mysql >/dev/null; then
        packages+=(mariadb-client)
    fi
    if ! redis_up && ! find_bin redis-server >/dev/null; then
        packages+=(redis-server)
    fi
    if ! find_bin redis-cli >/dev/null; then
        packages+=(redis-tools)
    fi
    if ((browser)) && ! find_bin chromedriver >/dev/null; then
        packages+=(chromium chromium-driver)
    fi
    if [[ ${#packages[@]} -eq 0 ]]; then
        return 0
    fi
    log "installing ${packages[*]}"
    run_as_root apt-get update
    run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
}

wait_for() {
    local what=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
    until "$check"; do
        if ((SECONDS >= deadline)); then
            die "$what did not answer within ${WAIT_SECONDS}s"
        fi
        sleep 0.5
    done
}

start_mariadb() {
    local mariadbd install_db datadir=/var/lib/mysql
    mariadbd=$(find_bin mariadbd) || die "mariadbd not found"
    log "starting MariaDB"
    # Without systemd nothing creates the socket directory or, on some images, the system
    # tables; the Debian package normally does both.
    run_as_root mkdir -p /run/mysqld
    run_as_root chown mysql:mysql /run/mysqld
    if command -v my_print_defaults >/dev/null 2>&1; then
        datadir=$(my_print_defaults mysqld | sed -n 's/^--datadir=//p' | tail -n 1)
        datadir=${datadir:-/var/lib/mysql}
    fi
    if [[ ! -d $datadir/mysql ]]; then
        install_db=$(find_bin mariadb-install-db mysql_install_db) ||
            die "no system tables in $datadir and mariadb-install-db not found"
        run_as_root "$install_db" --user=mysql --datadir="$datadir" >/dev/null
    fi
    # --user: mariadbd refuses to run as root, and Debian's config does not always say
    # which user to switch to (systemd normally does).
    run_as_root start-stop-daemon --start --oknodo --background --exec "$mariadbd" \
        -- --user=mysql
}

start_redis() {
    local server
    server=$(find_bin redis-server) || die "redis-server not found"
    log "starting Redis"
    # Nothing the servers keep in Redis needs to outlive the Redis process on a development
    # or CI machine, so it is started without persistence.
    "$server" --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no >/dev/null
}

mysql_cli=
redis_cli=
mysql_tcp() {
    "$mysql_cli" --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root "$@"
}

redis_cmd() {
    # -e: exit non-zero on an error reply, which redis-cli otherwise only prints.
    "$redis_cli" -e -h "$REDIS_HOST" -p "$REDIS_PORT" "$@" >/dev/null
}

# The servers and tests log in as root with an empty password over TCP. A fresh Debian
# install lets root in through the unix socket only, so that is used once to add the
# empty password; a server where TCP login already works is left untouched.
ensure_root_over_tcp() {
    if mysql_tcp -e 'SELECT 1' >/dev/null 2>&1; then
        return 0
    fi
    log "allowing root@127.0.0.1 with an empty password"
    if ! run_as_root "$mysql_cli" -u root -e 'SELECT 1' >/dev/null 2>&1; then
        die "root can log in neither over TCP with an empty password nor through the" \
            "unix socket; grant root@127.0.0.1 an empty password by hand"
    fi
    run_as_root "$mysql_cli" -u root -e \
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password
         USING PASSWORD('') OR unix_socket"
    if mysql_tcp -e 'SELECT 1' >/dev/null 2>&1; then
        return 0
    fi
    # With skip-name-resolve, 127.0.0.1 is not 'localhost' and needs its own account.
    run_as_root "$mysql_cli" -u root -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password
         USING PASSWORD('');
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION"
    mysql_tcp -e 'SELECT 1' >/dev/null || die "root still cannot log in over TCP"
}

# Group membership is read from Redis at runtime (group_member_<gid>: user id -> join
# time), so the demo group needs its hash. It is built from the IMGroupMember rows. HSETNX
# keeps existing fields: a re-run must not move a member's join time, which would hide
# older group history from them.
load_demo_redis() {
    local rows user_id created count=0
    rows=$(mysql_tcp -N -B -e "SELECT userId, created FROM IMGroupMember
        WHERE groupId = $DEMO_GROUP_ID AND status = 0 ORDER BY id" "$db_name")
    while read -r user_id created; do
        [[ -n $user_id ]] || continue
        redis_cmd -n "$REDIS_DB_GROUP_MEMBER" HSETNX "group_member_$DEMO_GROUP_ID" \
            "$user_id" "$created"
        count=$((count + 1))
    done <<<"$rows"
    # The server sets the group's message-id counter to 0 when it creates a group.
    redis_cmd -n "$REDIS_DB_UNREAD" SET "group_msg_id_$DEMO_GROUP_ID" 0 NX
    log "demo group $DEMO_GROUP_ID: $count members in Redis db $REDIS_DB_GROUP_MEMBER"
}

# The demo users by id, as sql/demo.sql writes them.
readonly DEMO_USERS=(alice bob carol dave erin frank grace heidi ivan judy)
readonly DEMO_PASSWORD=tt123456

# Checks, after loading, that every demo user can log in: the row with the demo id has the
# demo name, is active and has the demo password (the check db_proxy makes at login:
# md5hex(md5hex(password) || salt)), and no lower id holds the same name (db_proxy takes
# the first). demo.sql uses INSERT IGNORE, so rows already holding those ids are kept and
# would otherwise be reported as loaded; the same for the demo group and departments.
check_demo() {
    local values="" i problems
    for i in "${!DEMO_USERS[@]}"; do
        values+="${values:+ UNION ALL }SELECT $((i + 1)) AS id, '${DEMO_USERS[$i]}' AS name"
    done
    problems=$(mysql_tcp -N -B "$db_name" -e "
        SELECT CONCAT('user id ', d.id, ': ',
                      CASE WHEN u.id IS NULL THEN 'missing'
                           WHEN u.name <> d.name THEN CONCAT('holds user ''', u.name,
                                                             ''', not ''', d.name, '''')
                           WHEN u.status <> 0 THEN CONCAT('''', d.name, ''' is disabled')
                           ELSE CONCAT('''', d.name, ''' has another password') END)
        FROM ($values) d LEFT JOIN IMUser u ON u.id = d.id
        WHERE u.id IS NULL OR u.name <> d.name OR u.status <> 0
           OR u.password <> MD5(CONCAT(MD5('$DEMO_PASSWORD'), u.salt))
        UNION ALL
        SELECT CONCAT('user id ', u.id, ': also named ''', u.name, ''' and a lower id than ',
                      d.id, ', so logins as ', u.name, ' reach it')
        FROM ($values) d JOIN IMUser u ON u.name = d.name AND u.id < d.id AND u.status = 0
        UNION ALL
        SELECT CONCAT('group id $DEMO_GROUP_ID: holds ''', name, ''', not ''Demo Team''')
        FROM IMGroup WHERE id = $DEMO_GROUP_ID AND name <> 'Demo Team'
        UNION ALL
        SELECT CONCAT('department id ', id, ': holds ''', departName, '''')
        FROM IMDepart WHERE (id, departName) NOT IN
            ((1, 'Engineering'), (2, 'Product'), (3, 'Operations')) AND id IN (1, 2, 3)")
    if [[ -n $problems ]]; then
        printf 'services: error: database %s already holds other rows with the demo ids;
' \
            "$db_name" >&2
        printf '    %s\n' "${problems//$'\n'/$'\n'    }" >&2
        printf 'services: use another database (TT_DB_NAME=...) or --reset to drop this one\n' >&2
        exit 1
    fi
    log "demo users alice ... judy can log in with $DEMO_PASSWORD (checked in $db_name)"
}

install_missing
mysql_cli=$(find_bin mariadb mysql) || die "no MariaDB client found"
redis_cli=$(find_bin redis-cli) || die "redis-cli not found"

if ! mysql_up; then
    start_mariadb
    wait_for MariaDB mysql_up
fi
if ! redis_up; then
    start_redis
    wait_for Redis redis_up
fi
ensure_root_over_tcp

if ((reset)); then
    # Only the dbs the TeamTalk confs use are flushed; db 0 and any others may belong to
    # something else sharing this Redis. They are shared by every TeamTalk database on this
    # machine (teamtalk and teamtalk_test alike).
    log "dropping database $db_name and flushing Redis dbs ${REDIS_DBS_OWNED[*]}"
    mysql_tcp -e "DROP DATABASE IF EXISTS \`$db_name\`"
    for n in "${REDIS_DBS_OWNED[@]}"; do
        redis_cmd -n "$n" FLUSHDB
    done
fi

mysql_tcp -e "CREATE DATABASE IF NOT EXISTS \`$db_name\` CHARACTER SET utf8mb4"
mysql_tcp "$db_name" <"$root_dir/sql/schema.sql"
log "database $db_name: schema loaded"

if ((demo)); then
    mysql_tcp "$db_name" <"$root_dir/sql/demo.sql"
    # Checked before the Redis keys are written: a conflicting database gets none.
    check_demo
    load_demo_redis
    log "database $db_name: demo data loaded (users alice ... judy, password tt123456)"
fi

log "ready: MariaDB $MYSQL_HOST:$MYSQL_PORT, Redis $REDIS_HOST:$REDIS_PORT"
