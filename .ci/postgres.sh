#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests that share an Optuna study between processes.
#
# Sourced (what .ci/run does): defines pg_start and pg_stop.
#   pg_start   installs postgresql if missing, runs a fresh server on 127.0.0.1 on a free port,
#              creates database thunes_test, exports THUNES_TEST_POSTGRES_URL and PG_TEST_DIR.
#   pg_stop    stops that server and deletes its data directory (safe to call twice).
# Run as a command (a developer, locally):
#   eval "$(bash .ci/postgres.sh start)"     # sets THUNES_TEST_POSTGRES_URL in your shell
#   bash .ci/postgres.sh stop <data dir>     # the exact command is printed by start
#
# The server trusts every connection from 127.0.0.1 (no password): it is for tests only.
# As root it runs as the `postgres` system user (postgres refuses to run as root).

PG_TEST_DB=thunes_test

# The directory holding initdb/pg_ctl: $PG_BIN, else Debian's newest, else the PATH.
_pg_bin() {
    if [[ -n ${PG_BIN:-} && -x $PG_BIN/pg_ctl ]]; then
        echo "$PG_BIN"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -n $dir && -x $dir/pg_ctl ]]; then
        echo "$dir"
    elif command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
    fi
}

_pg_install() {
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "postgres.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
            return 1
        }
        sudo=(sudo)
    fi
    echo "postgres.sh: installing postgresql (apt-get)" >&2
    local log rc=0
    log=$(mktemp)
    { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1 || rc=$?
    [[ $rc -eq 0 ]] || cat "$log" >&2  # apt's chatter only when it failed
    rm -f "$log"
    return "$rc"
}

# Runs a server binary as the server's owner, from / (it may not read the current directory).
_pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

_pg_port_in_use() {
    (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

pg_start() {
    local bin dir port attempt
    bin=$(_pg_bin)
    if [[ -z $bin ]]; then
        _pg_install || return 1
        bin=$(_pg_bin)
        [[ -n $bin ]] || { echo "postgres.sh: no pg_ctl after installing" >&2; return 1; }
    fi

    if [[ $EUID -eq 0 ]]; then
        dir=$(mktemp -d /tmp/thunes-pg.XXXXXX)
        chown postgres: "$dir"
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/thunes-pg.XXXXXX")
    fi
    PG_TEST_DIR=$dir
    export PG_TEST_DIR

    if ! _pg_as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --no-locale \
        --no-sync >"$dir.initdb.log" 2>&1; then
        cat "$dir.initdb.log" >&2
        rm -f "$dir.initdb.log"
        pg_stop
        return 1
    fi
    rm -f "$dir.initdb.log"

    # A random free port; if another process takes it first, the start fails and we try again.
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        _pg_port_in_use "$port" && continue
        # Appended settings override earlier ones; no Unix socket, durability off (tests only).
        cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        if _pg_as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 -s start \
            >/dev/null 2>&1; then
            "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$PG_TEST_DB" || {
                pg_stop
                return 1
            }
            THUNES_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/$PG_TEST_DB"
            export THUNES_TEST_POSTGRES_URL
            echo "postgres.sh: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}')" \
                "listening on 127.0.0.1:$port (data $dir)" >&2
            return 0
        fi
    done
    echo "postgres.sh: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 2>/dev/null
    pg_stop
    return 1
}

# Stops the server in $1 (default: the one pg_start started) and deletes its data directory.
pg_stop() {
    local dir=${1:-${PG_TEST_DIR:-}} bin pid
    [[ -n $dir && -d $dir ]] || return 0
    bin=$(_pg_bin)
    if [[ -f $dir/postmaster.pid ]]; then
        if ! _pg_as_owner "$bin/pg_ctl" -D "$dir" -m fast -w -t 20 -s stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$dir/postmaster.pid" 2>/dev/null || true)
            [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -rf "$dir"
    [[ ${PG_TEST_DIR:-} == "$dir" ]] && unset PG_TEST_DIR THUNES_TEST_POSTGRES_URL
    return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    case ${1:-} in
        start)
            pg_start
            echo "export THUNES_TEST_POSTGRES_URL=$THUNES_TEST_POSTGRES_URL"
            echo "# to stop it: bash $0 stop $PG_TEST_DIR"
            ;;
        stop)
            [[ -n ${2:-} ]] || { echo "usage: $0 stop <data dir printed by start>" >&2; exit 2; }
            [[ -f $2/PG_VERSION ]] || { echo "$0: $2 is not a PostgreSQL data dir" >&2; exit 2; }
            pg_stop "$2"
            ;;
        *)
            echo "usage: $0 start | stop <data dir>" >&2
            exit 2
            ;;
    esac
fi
