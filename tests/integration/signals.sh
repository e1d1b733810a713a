# shellcheck shell=bash
# Signals while pg_idp fetches keys. A PostgreSQL process is single-threaded: a signal handler
# must never run on a thread a library started (the HTTP client resolves host names on one), or
# the process aborts and the postmaster restarts the whole cluster. This suite sends what every
# cluster sees, reloads (pg_reload_conf(), pg_ctl reload), terminations (pg_terminate_backend of
# the jobs and of a backend running idp.refresh_jwks, DROP DATABASE ... WITH (FORCE) of a
# database whose job is fetching) and at the end a fast shutdown, for SIGNALS_SECONDS (60 by
# default), while jobs and a backend fetch keys
#   (a) from hosts that do not resolve (at once, and after a slow resolver's delay),
#   (b) through a slow resolver (a host that resolves, after 2 s),
#   (c) from an HTTPS server that answers after 3 s,
# and checks that no process of the server was terminated by a signal. The resolver is a small
# DNS server of the test's own (scripts/dns_fixture.py), which the server uses through a private
# /etc/resolv.conf in a mount namespace of its own; where no mount namespace can be made (a
# chroot), the server's own resolver is used for (a) and (b) is not tested (the suite says so).
# How much of the attack hit a fetch under way is checked too (the control: signals that arrived
# while a lookup was pending, jobs terminated and databases dropped mid-fetch).
# Sourced by scripts/integration (check, q, fixture, the primary with `app`), which starts the
# key server it fetches from for it (key_server: $WWW, $PLAIN, the keys rot1 and rot2).
say "signals while keys are fetched: reloads, terminations, DROP DATABASE ... WITH (FORCE), a fast shutdown"
SIG="$WORK/signals"
mkdir -p "$SIG"
chmod 755 "$WORK" "$SIG"
LOG="$CLUSTER_DIR/server.log"
# The storm's server log is a file of its own: the jobs it terminates exit with status 1 (as
# any terminated background worker does), which the other suites count as failures in theirs.
SIG_LOG="$SIG/server.log"
touch "$SIG_LOG"
[ "$(id -u)" -eq 0 ] && chown postgres: "$SIG_LOG"
SIGNALS_SECONDS="${SIGNALS_SECONDS:-60}"
DNS_DELAY_MS=2000
# Host names are fetched over https (plain http goes to loopback addresses only): a server of the
# suite's own, with a certificate for the names below signed by a CA made for it.
make_test_tls "$SIG/tls" "DNS:k.late.test,DNS:k.fast.test,DNS:k.nx-late.test,DNS:nowhere.nx.test,IP:127.0.0.1"
SIG_HTTPS_PORT="$(free_port)"
python3 "$ROOT/scripts/http_fixture.py" "$WWW" "$SIG_HTTPS_PORT" "$SIG/tls/server.pem" "$SIG/tls/server.key" >"$SIG/https.log" 2>&1 &
SIG_PIDS="$!"
# A loopback address of its own for the DNS server (port 53), so that nothing else answers there.
DNS_ADDR="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).53"
printf 'nameserver %s\noptions timeout:5 attempts:1\n' "$DNS_ADDR" >"$SIG/resolv.conf"
chmod 644 "$SIG/resolv.conf"
: >"$SIG/dns.log"
if unshare --mount --propagation private -- /bin/true 2>/dev/null; then
    SIG_NS=1
    python3 "$ROOT/scripts/dns_fixture.py" "$DNS_ADDR" "$DNS_DELAY_MS" "$SIG/dns.log" >"$SIG/dns.out" 2>&1 &
    SIG_PIDS="$SIG_PIDS $!"
    for _ in $(seq 1 50); do grep -q 'dns fixture on' "$SIG/dns.out" 2>/dev/null && break; sleep 0.1; done
    LATE="https://k.late.test:$SIG_HTTPS_PORT" GONE_LATE="https://k.nx-late.test:$SIG_HTTPS_PORT"
    FAST="https://k.fast.test:$SIG_HTTPS_PORT" GONE="https://nowhere.nx.test:$SIG_HTTPS_PORT"
else
    SIG_NS=""
    echo "# signals: no private mount namespace can be made here: the server's own resolver is used, and the slow resolver (b) is not tested"
    LATE="" GONE_LATE="" FAST="$PLAIN"
    GONE="https://pg-idp-nowhere.invalid:$SIG_HTTPS_PORT"
fi
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SIG_HTTPS_PORT") 2>/dev/null && break; sleep 0.1; done
SIG_OPTS="-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT -c shared_preload_libraries=pg_idp \
-c idp.refresh_interval=1 -c idp.max_workers=4 -c idp.http_timeout=10s -c idp.check_interval=1 -c idp.tls_ca_file=$SIG/tls/ca.pem"
# Start the primary; with a mount namespace, in one of its own where /etc/resolv.conf (and the
# 17 root's) names the test's DNS server. The postmaster keeps the namespace; the host's is
# untouched.
sig_start() {
    local pg=(runuser -u postgres --)
    [ -n "$PG_CHROOT" ] && pg=(env PG17_AS=postgres)
    if [ -n "$SIG_NS" ]; then
        unshare --mount --propagation private -- /bin/sh -c \
            'mount --bind "$0" /etc/resolv.conf && { [ -z "$1" ] || mount --bind "$0" "$1/etc/resolv.conf"; } && shift && exec "$@"' \
            "$SIG/resolv.conf" "$PG_CHROOT" \
            "${pg[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SIG_LOG" -w -t 60 start -o "$SIG_OPTS" >/dev/null
    else
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SIG_LOG" -w -t 60 start -o "$SIG_OPTS" >/dev/null
    fi
}
cp "$WORK/rot1.jwks.json" "$WWW/sig.json"
sig_db() { # database provider=url...
    local db="$1" sql="CREATE EXTENSION pg_idp;" p
    shift
    for p in "$@"; do
        sql="$sql SELECT idp.register_provider(jsonb_build_object('provider', '${p%%=*}', 'issuer', 'https://${p%%=*}.example.com',
            'jwks_uri', '${p#*=}'), fetch_keys => false);"
    done
    q -c "CREATE DATABASE $db" >/dev/null && q -d "$db" -c "$sql" >/dev/null
}
# The template of the databases dropped mid-fetch: never served itself (a template).
SIG_TMPL_PROVIDERS=("gone=$GONE/sig.json")
[ -n "$SIG_NS" ] && SIG_TMPL_PROVIDERS=("late=$LATE/sig.json" "gone_late=$GONE_LATE/sig.json")
sig_db sig_tmpl "${SIG_TMPL_PROVIDERS[@]}"
q -c "ALTER DATABASE sig_tmpl IS_TEMPLATE true" >/dev/null
sig_db sig_gone "gone=$GONE/sig.json"
sig_db sig_slowhttp "slowhttp=$FAST/slow/sig.json"
if [ -n "$SIG_NS" ]; then
    sig_db sig_late "late=$LATE/sig.json"
    sig_db sig_gone_late "gone_late=$GONE_LATE/sig.json"
fi
SIG_REFRESH_PROVIDER=gone SIG_REFRESH_DB=sig_gone
[ -n "$SIG_NS" ] && SIG_REFRESH_PROVIDER=gone_late SIG_REFRESH_DB=sig_gone_late
# The databases are made before the restart, so that no job is in the template when it becomes one.
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -m fast stop >/dev/null
sig_start || { echo "not ok - signals: start the primary with the test's resolver"; FAILED=$((FAILED + 1)); }

# A backend refreshing keys over and over (the request path fetches too); terminated now and
# then by the storm below, and started again.
(
    end=$((SECONDS + SIGNALS_SECONDS))
    while [ "$SECONDS" -lt "$end" ]; do
        q -d "$SIG_REFRESH_DB" -c "SET application_name = 'sig_refresher'" \
            -c "SELECT idp.refresh_jwks('$SIG_REFRESH_PROVIDER')" >/dev/null 2>&1
    done
) & SIG_REFRESHER=$!

# The storm, one psql call every 0.1 s: a reload each time (one in five by pg_ctl reload, which
# signals the postmaster as an operator does); one job in three calls terminated; the
# refreshing backend every 2 s; every 3 s a database made from the template, dropped WITH
# (FORCE) as soon as its first job (which fetches the template's providers) is there.
now() { date +%s.%N | cut -c1-14; }
# Every thread of the server's processes other than a process's own: its name and the signals
# it blocks (SigBlk), one line each, at every tick of the storm.
sample_threads() {
    local pm p t
    pm="$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null)"
    [ -n "$pm" ] || return 0
    for p in $(pgrep -P "$pm"); do
        for t in /proc/"$p"/task/*; do
            [ "${t##*/}" = "$p" ] && continue
            echo "$(cat "$t/comm" 2>/dev/null)|$(sed -n 's/^SigBlk:[[:space:]]*//p' "$t/status" 2>/dev/null)"
        done
    done | grep -v '^|\||$' >>"$SIG/threads"
}
: >"$SIG/sent"
: >"$SIG/threads"
n=0 made=""
end=$((SECONDS + SIGNALS_SECONDS))
while [ "$SECONDS" -lt "$end" ]; do
    n=$((n + 1))
    sql=()
    if [ $((n % 5)) -eq 0 ]; then
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" reload >/dev/null 2>&1 && echo "$(now) reload" >>"$SIG/sent"
        sql+=(-c "SELECT 'reloaded'")
    else
        sql+=(-c "SELECT pg_reload_conf()")
    fi
    [ $((n % 3)) -eq 0 ] && sql+=(-c "SELECT 'job ' || count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_idp job' ORDER BY random() LIMIT 1) j")
    [ $((n % 20)) -eq 7 ] && sql+=(-c "SELECT 'backend ' || count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sig_refresher'")
    [ -n "$made" ] && sql+=(-c "SELECT 'made ' || count(*) FROM pg_stat_activity WHERE datname = '$made' AND backend_type = 'pg_idp job'")
    out="$(q "${sql[@]}" 2>/dev/null)"
    at="$(now)"
    sample_threads
    case "$out" in t*) echo "$at reload" >>"$SIG/sent" ;; esac
    case "$out" in *"job 1"*) echo "$at terminate_job" >>"$SIG/sent" ;; esac
    case "$out" in *"backend 1"*) echo "$at terminate_backend" >>"$SIG/sent" ;; esac
    case "$out" in
        *"made 1"*)
            # Its job is there (fetching, or about to): DROP DATABASE ... WITH (FORCE) ends it.
            q -c "DROP DATABASE $made WITH (FORCE)" >/dev/null 2>&1 && echo "$(now) drop_force" >>"$SIG/sent"
            made="" ;;
    esac
    if [ $((n % 30)) -eq 0 ]; then
        [ -n "$made" ] && q -c "DROP DATABASE $made WITH (FORCE)" >/dev/null 2>&1
        made="sig_drop_$n"
        # A copy of a template is not recorded as an install until a superuser says so there
        # (docs/operations.md): then the launcher starts its job at once.
        q -c "CREATE DATABASE $made TEMPLATE sig_tmpl" >/dev/null 2>&1 \
            && q -d "$made" -c "SELECT idp._launcher_notify()" >/dev/null 2>&1 || made=""
    fi
    sleep 0.1
done
wait "$SIG_REFRESHER"
[ -n "$made" ] && q -c "DROP DATABASE $made WITH (FORCE)" >/dev/null 2>&1
# Once the storm is over, keys fetched through the slow resolver are stored: a change told to
# sig_late ends the backoff its terminated jobs put it in, and its next job fetches them (a job
# stores keys only when it commits, which a terminated one never did).
LATE_KEYS=""
if [ -n "$SIG_NS" ]; then
    q -d sig_late -c "SELECT idp._launcher_notify()" >/dev/null 2>&1
    for _ in $(seq 1 150); do
        LATE_KEYS="$(q -d sig_late -c "SELECT key_count FROM idp.provider_health WHERE provider = 'late'")"
        [ "$LATE_KEYS" = 1 ] && break
        sleep 0.2
    done
fi

# The last signal: a fast shutdown while a job runs.
for _ in $(seq 1 100); do
    [ "$(q -c "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_idp job'")" = t ] && break
    sleep 0.1
done
echo "$(now) fast_shutdown" >>"$SIG/sent"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -w -t 60 -m fast stop >/dev/null
shutdown_rc=$?

# What hit a fetch under way: signals sent while the DNS server held a lookup (received, not yet
# answered), per kind; and how many lookups there were.
sleep $((DNS_DELAY_MS / 1000 + 1))   # lookups still held are answered and logged
hits="$(awk 'FILENAME == ARGV[1] { start[FNR] = $1; stop[FNR] = $2; lookups = FNR; next }
             { for (i = 1; i <= lookups; i++) if ($1 >= start[i] && $1 <= stop[i]) { hit[$2]++; all++; break } }
             END { printf "%d %d %d %d %d %d", lookups, all, hit["reload"], hit["terminate_job"] + hit["terminate_backend"], hit["drop_force"], hit["fast_shutdown"] }' \
             "$SIG/dns.log" "$SIG/sent")"
read -r lookups during reloads_during terms_during drops_during _ <<<"$hits"
sent="$(wc -l <"$SIG/sent")"
echo "# signals: $sent signals sent ($(grep -c ' reload$' "$SIG/sent") reloads, $(grep -c ' terminate_' "$SIG/sent") terminations, $(grep -c ' drop_force$' "$SIG/sent") forced drops of a database with a job, a fast shutdown); $lookups lookups; $during signals while a lookup was pending ($reloads_during reloads, $terms_during terminations, $drops_during forced drops)"
check "signals: no signal handler ran off a process's own thread, no process was terminated by a signal, the server never restarted" "0 0 0" \
    "$(grep -c 'may not be called from multiple threads' "$SIG_LOG") $(grep -c 'terminated by signal' "$SIG_LOG") $(grep -c 'terminating any other active server processes' "$SIG_LOG")"
# Every signal blocked: all 64 bits but SIGKILL's and SIGSTOP's (nothing blocks them) and glibc's
# own 32 and 33 (it never lets a thread block them).
ALL_BLOCKED=fffffffe7ffbfeff
echo "# signals: threads sampled besides the processes' own: $(sort "$SIG/threads" | uniq -c | sort -rn | awk '{ printf "%s%s x %s", (NR > 1 ? ", " : ""), $1, substr($0, index($0, $2)) }')"
check "signals: every thread of the server's processes but their own, sampled at each round, is pg_idp's lookup thread and blocks every signal" "0" \
    "$(grep -cv "^pg_idp lookup|$ALL_BLOCKED\$" "$SIG/threads")"
check "signals: control: the sampling saw lookup threads (over 20)" "yes" \
    "$([ "$(wc -l <"$SIG/threads")" -gt 20 ] && echo yes || echo no)"
check "signals: the fast shutdown during fetches ended cleanly" "0 1" \
    "$shutdown_rc $(grep -c 'database system is shut down' "$SIG_LOG")"
check "signals: control: the storm reached fetches under way (jobs terminated, a DROP DATABASE ... WITH (FORCE) of a database with a job, over 100 signals sent)" "yes" \
    "$([ "$(grep -c ' terminate_job$' "$SIG/sent")" -gt 10 ] && [ "$(grep -c ' drop_force$' "$SIG/sent")" -gt 2 ] && [ "$sent" -gt 100 ] && echo yes || echo no)"
if [ -n "$SIG_NS" ]; then
    check "signals: control: over 100 signals arrived while the slow resolver held a lookup, reloads and terminations among them" "yes" \
        "$([ "$during" -gt 100 ] && [ "$reloads_during" -gt 50 ] && [ "$terms_during" -gt 5 ] && echo yes || echo no)"
fi

# The primary again, as the worker suite left it (without the test's resolver).
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -w -t 60 start -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT \
    -c shared_preload_libraries=pg_idp -c idp.worker_database=app,citus_w -c idp.refresh_interval=2" >/dev/null \
    || { echo "not ok - signals: restart the primary"; FAILED=$((FAILED + 1)); }
if [ -n "$SIG_NS" ]; then
    check "signals: after the storm, keys fetched through the slow resolver were stored, and the hosts that do not resolve failed as fetch_failed" "1 fetch_failed" \
        "$LATE_KEYS $(grep -q 'JWKS refresh of provider "gone_late" failed' "$SIG_LOG" && echo fetch_failed)"
fi
# shellcheck disable=SC2086
kill $SIG_PIDS 2>/dev/null
SIG_PIDS=""
for db in $(q -c "SELECT datname FROM pg_database WHERE datname LIKE 'sig\_%'"); do
    q -c "ALTER DATABASE $db IS_TEMPLATE false" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
done
