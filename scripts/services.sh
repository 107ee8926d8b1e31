# scripts/services.sh -- start and stop the real servers the tests talk to:
# a private redis-server and a private PostgreSQL cluster, each on a free
# loopback port, in a temporary directory.  Sourced by scripts/test and
# .ci/run (bash).
#
#   services_start    starts both unless the environment already names them,
#                     and exports CHANHOST_TEST_REDIS_URL, CHANHOST_TEST_PG_URL
#                     and CHANHOST_TEST_PG_CTL (a script taking stop, start or
#                     restart, for the outage tests)
#   services_stop     stops what services_start started (idempotent)
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# postgres user and is driven through su.

SERVICES_DIR=""
SERVICES_STARTED=()

services_free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

services_wait() {   # services_wait SECONDS COMMAND...: until COMMAND succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            echo "services: timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

services_redis_start() {
    local port
    port=$(services_free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
    services_wait 10 redis-cli -p "$port" ping
    SERVICES_STARTED+=(redis)
    export CHANHOST_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    echo "services: redis-server on 127.0.0.1:$port"
}

services_pg_start() {
    local bin port data ctl run_as
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -z $bin ]]; then
        echo "services: PostgreSQL server binaries not found (install postgresql)" >&2
        return 1
    fi
    port=$(services_free_port)
    data=$SERVICES_DIR/pg
    mkdir -p "$data"
    run_as=""
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres "$SERVICES_DIR" "$data"
        run_as="su postgres -s /bin/sh -c"
    fi
    ctl=$SERVICES_DIR/pgctl
    cat >"$ctl" <<CTL
#!/bin/sh
# \$1: stop, start or restart
cmd="$bin/pg_ctl -D $data/data -l $data/log -w -o '-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=on' \$1 -m fast"
if [ -n "$run_as" ]; then exec $run_as "\$cmd"; else exec sh -c "\$cmd"; fi
CTL
    chmod 755 "$ctl"
    if [[ -n $run_as ]]; then
        $run_as "$bin/initdb -D $data/data -A trust -U postgres" >"$SERVICES_DIR/initdb.log" 2>&1
    else
        "$bin/initdb" -D "$data/data" -A trust -U postgres >"$SERVICES_DIR/initdb.log" 2>&1
    fi
    "$ctl" start >/dev/null
    SERVICES_STARTED+=(postgresql)
    services_wait 20 "$bin/pg_isready" -h 127.0.0.1 -p "$port"
    psql -h 127.0.0.1 -p "$port" -U postgres -qc 'CREATE DATABASE chanhost_test' >/dev/null
    export CHANHOST_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/chanhost_test"
    export CHANHOST_TEST_PG_CTL="$ctl"
    echo "services: PostgreSQL on 127.0.0.1:$port"
}

services_start() {
    SERVICES_DIR=$(mktemp -d /tmp/chanhost-services.XXXXXX)
    chmod 755 "$SERVICES_DIR"
    if [[ -z ${CHANHOST_TEST_REDIS_URL:-} ]]; then
        services_redis_start
    fi
    if [[ -z ${CHANHOST_TEST_PG_URL:-} ]]; then
        services_pg_start
    fi
}

services_stop() {
    local s
    for s in "${SERVICES_STARTED[@]+"${SERVICES_STARTED[@]}"}"; do
        case $s in
        redis)
            if [[ -f $SERVICES_DIR/redis.pid ]]; then
                kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
            fi
            ;;
        postgresql)
            "$SERVICES_DIR/pgctl" stop >/dev/null 2>&1 || true
            ;;
        esac
        echo "services: stopped $s"
    done
    SERVICES_STARTED=()
    if [[ -n $SERVICES_DIR ]]; then
        rm -rf "$SERVICES_DIR"
        SERVICES_DIR=""
    fi
}
