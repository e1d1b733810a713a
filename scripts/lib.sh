# Shared helpers for pg_idp's scripts. Source it; it does nothing by itself.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGRX_HOME="$ROOT/pgrx-config"
export USER="${USER:-$(id -un)}"
PGBIN=/usr/lib/postgresql/15/bin
PG_CONFIG="$PGBIN/pg_config"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Build the extension and install it into the system PostgreSQL 15 (needs root or sudo).
# Files are staged with `cargo pgrx package` and renamed into place, so a backend that has the
# previous pg_idp.so loaded (a cluster still running) keeps its copy instead of crashing.
#   PG_IDP_PROFILE=release selects an optimized build (scripts/bench); the default is debug.
install_extension() {
    say "building and installing pg_idp into PostgreSQL 15 (${PG_IDP_PROFILE:-debug})"
    local stage profile=(--debug)
    [ "${PG_IDP_PROFILE:-debug}" = release ] && profile=()
    stage="$(mktemp -d /tmp/pg_idp_stage.XXXXXX)"
    (cd "$ROOT" && cargo pgrx package --pg-config "$PG_CONFIG" "${profile[@]}" --out-dir "$stage" >/dev/null) \
        || { rm -rf "$stage"; return 1; }
    local f rel dest sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    while IFS= read -r f; do
        rel="${f#"$stage"}"
        dest="$(dirname "$rel")"
        "${sudo[@]}" mkdir -p "$dest"
        "${sudo[@]}" cp "$f" "$dest/.$(basename "$rel").new"
        "${sudo[@]}" mv -f "$dest/.$(basename "$rel").new" "$rel"
    done < <(find "$stage" -type f)
    rm -rf "$stage"
}

# Build the pg-idp CLI; sets PG_IDP to its path.
build_cli() {
    if [ "${PG_IDP_PROFILE:-debug}" = release ]; then
        (cd "$ROOT" && cargo build -q --release -p pg_idp_core --bin pg-idp)
        PG_IDP="$ROOT/target/release/pg-idp"
    else
        (cd "$ROOT" && cargo build -q -p pg_idp_core --bin pg-idp)
        PG_IDP="$ROOT/target/debug/pg-idp"
    fi
}

# Run a command as the postgres OS user when we are root (PostgreSQL refuses to run as root).
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Start a throwaway cluster listening only on a unix socket in a private directory.
# Sets PGDATA_DIR, PGHOST, PGPORT, PGUSER; stop it with stop_cluster (use a trap).
start_cluster() {
    CLUSTER_DIR="$(mktemp -d /tmp/pg_idp_cluster.XXXXXX)"
    chmod 755 "$CLUSTER_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CLUSTER_DIR"
    PGDATA_DIR="$CLUSTER_DIR/data"
    export PGHOST="$CLUSTER_DIR" PGUSER=postgres PGDATABASE=postgres
    PGPORT="$(free_port)"
    export PGPORT
    as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --no-instructions -E UTF8 --locale=C >"$CLUSTER_DIR/initdb.log" 2>&1 \
        || { cat "$CLUSTER_DIR/initdb.log" >&2; return 1; }
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT ${PG_EXTRA_OPTS:-}" start >/dev/null \
        || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
}

stop_cluster() {
    if [ -n "${PGDATA_DIR:-}" ] && [ -d "$PGDATA_DIR" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ] && [ -z "${KEEP_CLUSTER:-}" ]; then
        rm -rf "$CLUSTER_DIR"
    fi
}

# A TCP port nobody listens on (the cluster itself only uses it to name its socket file).
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo 54329
}
