# shellcheck shell=bash
# The launcher's limits (issue 28), each attack performed, each with a control:
# - only a superuser fills the table of served databases: the launcher learns where pg_idp is
#   installed from a record only a superuser can write (pg_idp's security label on the database),
#   not by running a job in every database: a database owner cannot write or remove it; a role
#   with CREATEDB makes more empty databases than the table holds (idp.max_databases, lowered for
#   the test), and a superuser's new database with pg_idp and a provider is still served, gets
#   its keys and (18) logs in. Controls: databases the superuser recorded do fill the table (the
#   next is left out, with a WARNING), and past idp.max_databases_per_owner a WARNING names the
#   owner;
# - every job is bounded in time, and no database or owner holds more than its share: a database
#   owner keeps an idle transaction holding a lock on pg_catalog.pg_namespace, with a VACUUM FULL
#   queued behind it, in two databases with pg_idp (and a role with only CREATEDB does it in two
#   new empty databases): their jobs wait for the lock, end at their lock_timeout, and back off
#   (idp.served_databases() says why); meanwhile another database stays confirmed throughout,
#   its keys keep being refreshed and (18) its logins keep working. Controls: the same attack
#   holds a session without lock_timeout (as 0.5.0's jobs ran) for as long as it lasts, and the
#   jobs were seen waiting for its lock;
# - a job ends itself at idp.job_timeout; one that cannot (stopped here with SIGSTOP) is ended by
#   the launcher 5 s later; neither crashes anything.
# Sourced by scripts/integration (check, q, the primary with `app`).
say "launcher: only a superuser fills the served table; every job is bounded; no database or owner holds more than its share"
[ -n "${PG_IDP:-}" ] || build_cli
LN="$WORK/launcher"
mkdir -p "$LN/www"
chmod 755 "$WORK" "$LN" "$LN/www"
LOG="$CLUSTER_DIR/server.log"
LN_OPTS="-c shared_preload_libraries=pg_idp -c idp.check_interval=2"
[ "$PG_VERSION" -ge 18 ] && LN_OPTS="$LN_OPTS -c oauth_validator_libraries=pg_idp"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$LOG" -w -t 60 -m fast restart \
    -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT $LN_OPTS" >/dev/null \
    || { echo "not ok - launcher: restart with pg_idp preloaded"; FAILED=$((FAILED + 1)); return 0; }
ln_sql() { q -d app -c "$1"; }
# A column of idp.served_databases() for database DB (empty: no entry).
ln_row() { # db column
    ln_sql "SELECT $2 FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = '$1')"
}
# Poll until COLUMN of DB's entry is WANT (at most SECONDS, 30 by default); print what it was.
ln_wait() { # db column want [seconds]
    local v=""
    for _ in $(seq 1 $((${4:-30} * 5))); do
        v="$(ln_row "$1" "$2")"
        [ "$v" = "$3" ] && break
        sleep 0.2
    done
    echo "${v:-no entry}"
}
ln_entries() { # LIKE pattern: entries of the databases whose names match
    ln_sql "SELECT count(*) FROM idp.served_databases() s JOIN pg_database d ON d.oid = s.datid WHERE d.datname LIKE '$1'"
}
ln_reload() { q -c "SELECT pg_reload_conf()" >/dev/null; sleep 0.3; }
ln_log_since() { tail -c +$(($1 + 1)) "$LOG"; }

"$PG_IDP" keygen --alg ES256 --kid steady-1 --out "$LN/steady" >/dev/null 2>&1
cp "$LN/steady.jwks.json" "$LN/www/steady.json"
LN_PORT="$(free_port)"
python3 -m http.server "$LN_PORT" --bind 127.0.0.1 --directory "$LN/www" >"$LN/http.log" 2>&1 &
LN_HTTP=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$LN_PORT") 2>/dev/null && break; sleep 0.1; done
STEADY="$("$PG_IDP" mint --key "$LN/steady.key.json" --claims '{"iss":"https://steady.test","sub":"user_steady","aud":"urn:launcher:db","scope":"openid db"}')"
# A superuser's database with pg_idp and a provider registered without keys (the jobs fetch them).
ln_newdb() { # db [owner]
    q -c "CREATE DATABASE $1${2:+ OWNER $2}" >/dev/null
    q -d "$1" -c "CREATE EXTENSION pg_idp" \
        -c "SELECT idp.register_provider('{\"provider\": \"steady\", \"issuer\": \"https://steady.test\", \"jwks_uri\": \"http://127.0.0.1:$LN_PORT/steady.json\", \"login\": {\"roles\": [\"ln_user\"], \"audience\": \"urn:launcher:db\"}}', fetch_keys => false)" \
        -c "GRANT USAGE ON SCHEMA idp TO PUBLIC" >/dev/null
}
ln_valid() { # db: poll until the steady token verifies there (its keys were fetched by a job)
    local v=""
    for _ in $(seq 1 100); do
        v="$(q -d "$1" -c "SELECT idp.verify_jwt('$STEADY')->>'valid'")"
        [ "$v" = true ] && break
        sleep 0.2
    done
    echo "$v"
}
q -c "CREATE ROLE ln_user LOGIN" >/dev/null
if [ "$PG_VERSION" -ge 18 ]; then
    [ -x "${OAUTH_CLIENT:-}" ] || {
        OAUTH_CLIENT="$WORK/oauth_client"
        cc -O2 -I"$("$PG_CONFIG" --includedir)" "$ROOT/tests/oauth/oauth_client.c" -L"$("$PG_CONFIG" --libdir)" \
            -Wl,-rpath,"$("$PG_CONFIG" --libdir)" -lpq -o "$OAUTH_CLIENT"
    }
    cp "$PGDATA_DIR/pg_hba.conf" "$LN/pg_hba.conf.saved"
    { echo "local all ln_user oauth issuer=\"https://steady.test\" scope=\"openid db\" delegate_ident_mapping=1"
      cat "$LN/pg_hba.conf.saved"; } >"$PGDATA_DIR/pg_hba.conf"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA_DIR/pg_hba.conf"
    ln_reload
    ln_login() { # db: the steady token logs in as ln_user (prints the user id, or the failure)
        PG_IDP_TOKEN="$STEADY" "$OAUTH_CLIENT" "host=$PGHOST port=$PGPORT dbname=$1 user=ln_user \
oauth_issuer=https://steady.test/.well-known/openid-configuration oauth_client_id=pg_idp_tests" \
            "SELECT idp.requesting_user_id()" 2>&1 | grep -v '^WARNING:' | head -n1
    }
    ln_poll_login() { # db
        local got=""
        for _ in $(seq 1 100); do got="$(ln_login "$1")"; [ "$got" = user_steady ] && break; sleep 0.2; done
        echo "$got"
    }
fi

say "launcher: the record of where pg_idp is installed (only a superuser writes it)"
check "launcher: CREATE EXTENSION recorded pg_idp in its database (pg_idp's security label), and the database is served" \
    "pg_idp installed serving" \
    "$(q -c "SELECT provider || ' ' || label FROM pg_seclabels WHERE objtype = 'database' AND objname = 'app'") $(ln_wait app state serving)"
q -c "CREATE ROLE ln_filler LOGIN CREATEDB" >/dev/null
q -U ln_filler -c "CREATE DATABASE ln_own" >/dev/null
check "launcher: a database owner cannot write pg_idp's record on her database (42501, label_not_superuser), with FOR pg_idp or without" \
    "42501 label_not_superuser 42501" \
    "$(q -d ln_own -U ln_filler -v VERBOSITY=verbose -c "SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'installed'" 2>&1 | grep -oE '42501|label_not_superuser' | tr '\n' ' ')$(q -d ln_own -U ln_filler -v VERBOSITY=verbose -c "SECURITY LABEL ON DATABASE ln_own IS 'installed'" 2>&1 | grep -oE '42501' | head -n1)"
q -c "SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'installed'" >/dev/null
check "launcher: ... nor remove it (42501)" "42501" \
    "$(q -d ln_own -U ln_filler -v VERBOSITY=verbose -c "SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS NULL" 2>&1 | grep -oE '42501' | head -n1)"
check "launcher: pg_idp's label is for databases, and says 'installed' (22023, label_invalid)" "22023 22023" \
    "$(for s in "SECURITY LABEL FOR pg_idp ON ROLE ln_filler IS 'installed'" "SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'other'"; do
        q -v VERBOSITY=verbose -c "$s" 2>&1 | grep -oE '22023' | head -n1; done | tr '\n' ' ' | sed 's/ $//')"
check "launcher: control: the superuser's record is taken up; the job finds no pg_idp there and removes it (no entry left)" \
    "0 0" \
    "$(for _ in $(seq 1 100); do n="$(q -c "SELECT count(*) FROM pg_seclabels WHERE objname = 'ln_own'")"; [ "$n" = 0 ] && break; sleep 0.2; done
       sleep 1; echo "$n $(ln_entries ln_own)")"

say "launcher: a CREATEDB role makes more databases than the served table holds"
# Room for one more database in the table: the next one pg_idp is installed in.
LN_MAX=$(( $(ln_sql "SELECT count(*) FROM idp.served_databases()") + 1 ))
q -c "ALTER SYSTEM SET idp.max_databases = $LN_MAX" -c "ALTER SYSTEM SET idp.max_databases_per_owner = 2" >/dev/null
ln_reload
for i in $(seq 1 $((LN_MAX + 2))); do q -U ln_filler -c "CREATE DATABASE ln_fill_$i" >/dev/null; done
sleep 2   # rounds of the launcher
check "launcher: the CREATEDB role's $((LN_MAX + 2)) empty databases take no entry (idp.max_databases = $LN_MAX)" "0" "$(ln_entries 'ln\_fill\_%')"
ln_newdb ln_late
check "launcher: ... and a superuser's new database with pg_idp and a provider is served" "serving" "$(ln_wait ln_late state serving)"
check "launcher: ... and gets its keys" "true" "$(ln_valid ln_late)"
if [ "$PG_VERSION" -ge 18 ]; then
    check "launcher: ... and logs in (OAuth)" "user_steady" "$(ln_poll_login ln_late)"
fi
# Controls: databases the superuser recorded do take the entries. Past the limit per owner (2),
# a WARNING names the owner; past the table's size, the next database is not served.
q -c "ALTER SYSTEM RESET idp.max_databases" >/dev/null
ln_reload
off=$(stat -c %s "$LOG")
for i in 1 2 3; do q -d "ln_fill_$i" -c "CREATE EXTENSION pg_idp" >/dev/null; done
check "launcher: control: pg_idp installed in 3 of the CREATEDB role's databases: 2 served (idp.max_databases_per_owner = 2)" "2" \
    "$(for _ in $(seq 1 50); do n="$(ln_entries 'ln\_fill\_%')"; [ "$n" = 2 ] && break; sleep 0.2; done; sleep 1; ln_entries 'ln\_fill\_%')"
check "launcher: ... and a WARNING names the owner and the database left out" "1" \
    "$(for _ in $(seq 1 50); do ln_log_since "$off" | grep -q 'idp.max_databases_per_owner' && break; sleep 0.2; done
       ln_log_since "$off" | grep -c 'pg_idp: role "ln_filler" owns more than idp.max_databases_per_owner = 2 databases with pg_idp: 1 of them not served ("ln_fill_3")')"
q -c "ALTER SYSTEM SET idp.max_databases = $(ln_sql "SELECT count(*) FROM idp.served_databases()")" >/dev/null
ln_reload
off=$(stat -c %s "$LOG")
ln_newdb ln_full
sleep 2
check "launcher: control: with the table full of the superuser's databases, a new one is not served" "no entry" "$(v="$(ln_row ln_full state)"; echo "${v:-no entry}")"
check "launcher: ... and a WARNING names it" "1" \
    "$(ln_log_since "$off" | grep -c "pg_idp: more than idp.max_databases = [0-9]* databases with pg_idp: database \"ln_full\" is not served")"
q -c "ALTER SYSTEM RESET idp.max_databases" -c "ALTER SYSTEM RESET idp.max_databases_per_owner" >/dev/null
ln_reload
check "launcher: ... and served once there is room" "serving" "$(ln_wait ln_full state serving)"

say "launcher: a database owner holds a lock on pg_namespace with a VACUUM FULL queued behind it, in two databases (and a CREATEDB role in two empty ones)"
q -c "CREATE ROLE ln_mallory LOGIN" -c "CREATE DATABASE ln_hostile1 OWNER ln_mallory" -c "CREATE DATABASE ln_hostile2 OWNER ln_mallory" >/dev/null
for d in ln_hostile1 ln_hostile2; do q -d "$d" -c "CREATE EXTENSION pg_idp" >/dev/null; done
q -U ln_filler -c "CREATE DATABASE ln_empty1" -c "CREATE DATABASE ln_empty2" >/dev/null
# The healthy database: its provider's keys are due every 4 s (a job schedules them as it fetches).
q -c "ALTER SYSTEM SET idp.refresh_interval = 4" >/dev/null
ln_reload
ln_newdb ln_steady
check "launcher: the databases are served before the attack" "serving serving serving true" \
    "$(ln_wait ln_hostile1 state serving) $(ln_wait ln_hostile2 state serving) $(ln_wait ln_steady state serving) $(ln_valid ln_steady)"
# The attack: in each database, an idle transaction holding a lock on pg_namespace (its session
# reads from a fifo this suite keeps open), and a VACUUM FULL of pg_namespace queued behind it.
LN_FDS=()
ln_bg() { # command...: in the background, without the fifos' write ends (or it would keep them open)
    ( for f in ${LN_FDS[@]+"${LN_FDS[@]}"}; do eval "exec $f>&-"; done; exec "$@" ) &
}
ln_hold() { # db role
    local fifo="$LN/hold_$1" fd
    rm -f "$fifo"; mkfifo "$fifo"
    ( for f in ${LN_FDS[@]+"${LN_FDS[@]}"}; do eval "exec $f>&-"; done
      exec psql -X -q -d "$1" -U "$2" <"$fifo" >"$LN/hold_$1.out" 2>&1 ) &
    exec {fd}>"$fifo"
    LN_FDS+=("$fd")
    echo "BEGIN; LOCK TABLE pg_catalog.pg_namespace IN ACCESS SHARE MODE;" >&"$fd"
    for _ in $(seq 1 100); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND state = 'idle in transaction'")" = 1 ] && break
        sleep 0.1
    done
    ln_bg psql -X -q -d "$1" -U "$2" -c "VACUUM FULL pg_catalog.pg_namespace" >"$LN/vacuum_$1.out" 2>&1
    for _ in $(seq 1 100); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$1' AND query LIKE 'VACUUM FULL%' AND wait_event_type = 'Lock'")" = 1 ] && break
        sleep 0.1
    done
}
ln_release() {
    for fd in ${LN_FDS[@]+"${LN_FDS[@]}"}; do eval "exec $fd>&-"; done
    LN_FDS=()
    for _ in $(seq 1 100); do
        [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'VACUUM FULL pg_catalog.pg_namespace%' OR (datname LIKE 'ln\_%' AND state = 'idle in transaction')")" = 0 ] && break
        sleep 0.1
    done
}
ln_hold ln_hostile1 ln_mallory
ln_hold ln_hostile2 ln_mallory
ln_hold ln_empty1 ln_filler
ln_hold ln_empty2 ln_filler
check "launcher: the attack is in place: 4 idle transactions holding the lock, 4 VACUUM FULL waiting" "4 4" \
    "$(q -c "SELECT count(*) FILTER (WHERE state = 'idle in transaction') || ' ' || count(*) FILTER (WHERE query LIKE 'VACUUM FULL%' AND wait_event_type = 'Lock') FROM pg_stat_activity WHERE datname IN ('ln_hostile1', 'ln_hostile2', 'ln_empty1', 'ln_empty2')")"
# 30 s of attack (more than 12 check intervals: the periodic looks come due in every database).
# Watch the healthy database: how long since it was last confirmed (at most), its key refreshes,
# and (18) a login every round; and whether a job was seen waiting for the attack's lock.
WORST=0 REFRESHED="" SEEN_WAITING=0 LOGINS=0 LOGINS_OK=0
T_END=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -lt "$T_END" ]; do
    a="$(ln_row ln_steady confirmed_seconds_ago)"
    WORST="$(awk -v a="${a:-999}" -v w="$WORST" 'BEGIN { print (a > w) ? a : w }')"
    REFRESHED="$REFRESHED $(q -d ln_steady -c "SELECT extract(epoch FROM last_refresh_success) FROM idp.provider_health WHERE provider = 'steady'")"
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_idp job' AND datname IN ('ln_hostile1', 'ln_hostile2') AND wait_event_type = 'Lock'")" != 0 ] \
        && SEEN_WAITING=$((SEEN_WAITING + 1))
    if [ "$PG_VERSION" -ge 18 ]; then
        LOGINS=$((LOGINS + 1))
        [ "$(ln_login ln_steady)" = user_steady ] && LOGINS_OK=$((LOGINS_OK + 1))
    fi
    sleep 0.5
done
check "launcher: control: the hostile databases' jobs were seen waiting for the attack's lock" "yes" \
    "$([ "$SEEN_WAITING" -gt 0 ] && echo yes || echo "no ($SEEN_WAITING)")"
check "launcher: control: the same attack holds a session without lock_timeout, as 0.5.0's jobs ran (its query still waiting for the lock after 3 s)" \
    "canceling statement due to statement timeout" \
    "$(q -d ln_hostile1 -c "SET lock_timeout = 0" -c "SET statement_timeout = '3s'" -c "SELECT count(*) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace" 2>&1 | grep -oE 'canceling statement due to statement timeout' | head -n1)"
check "launcher: ... the same in the CREATEDB role's empty database" "canceling statement due to statement timeout" \
    "$(q -d ln_empty1 -c "SET lock_timeout = 0" -c "SET statement_timeout = '3s'" -c "SELECT count(*) FROM pg_catalog.pg_namespace" 2>&1 | grep -oE 'canceling statement due to statement timeout' | head -n1)"
check "launcher: each hostile database's job ended at its lock_timeout, and the database backs off (idp.served_databases() says why)" \
    "lock_timeout|true|true|true lock_timeout|true|true|true" \
    "$(for d in ln_hostile1 ln_hostile2; do ln_row "$d" "last_job || '|' || (failures >= 2) || '|' || (retry_at IS NOT NULL) || '|' || (reason LIKE '%lock_timeout (2000 ms)%')"; done | tr '\n' ' ' | sed 's/ $//')"
check "launcher: ... and the log says so" "yes" \
    "$(grep -q 'pg_idp: job in database "ln_hostile1" failed: canceling statement due to lock timeout (it waits at most 2000 ms for a lock)' "$LOG" && echo yes || echo no)"
check "launcher: the CREATEDB role's empty databases have no entry: no job ever waits there" "0" "$(ln_entries 'ln\_empty%')"
check "launcher: throughout the attack, the healthy database stayed confirmed within the validator's bound (3 x idp.check_interval = 6 s)" \
    "yes" "$(awk -v w="$WORST" 'BEGIN { print (w <= 6) ? "yes" : "no (" w " s)" }')"
check "launcher: ... and its keys kept being refreshed (more than 2 refreshes during the attack)" "yes" \
    "$(n=$(echo "$REFRESHED" | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l); [ "$n" -gt 2 ] && echo yes || echo "no ($n)")"
if [ "$PG_VERSION" -ge 18 ]; then
    check "launcher: ... and its logins kept working ($LOGINS_OK of $LOGINS)" "$LOGINS" "$LOGINS_OK"
fi

say "launcher: the attack ends"
ln_release
for d in ln_hostile1 ln_hostile2; do q -d "$d" -c "SELECT idp._launcher_notify()" >/dev/null; done
check "launcher: told (idp._launcher_notify() ends the backoff), the hostile databases are served again" \
    "succeeded 0 succeeded 0" \
    "$(for d in ln_hostile1 ln_hostile2; do
        for _ in $(seq 1 100); do v="$(ln_row "$d" "last_job || ' ' || failures")"; [ "$v" = "succeeded 0" ] && break; sleep 0.2; done; echo "$v"; done | tr '\n' ' ' | sed 's/ $//')"

say "launcher: a job that runs past idp.job_timeout"
q -c "CREATE DATABASE ln_stuck OWNER ln_mallory" >/dev/null
q -d ln_stuck -c "CREATE EXTENSION pg_idp" >/dev/null
check "launcher: served before the attack" "serving" "$(ln_wait ln_stuck state serving)"
q -c "ALTER SYSTEM SET idp.job_timeout = 1" >/dev/null
ln_reload
off=$(stat -c %s "$LOG")
ln_hold ln_stuck ln_mallory
# Its next periodic look (within 6 check intervals) waits for the lock: with idp.job_timeout =
# 1 s (the lock_timeout too, but armed later), the job's own deadline ends it.
check "launcher: with idp.job_timeout = 1 s, a job waiting for the lock ends itself at its deadline (timed_out)" "timed_out" \
    "$(for _ in $(seq 1 200); do v="$(ln_row ln_stuck last_job)"; [ "$v" = timed_out ] && break; sleep 0.2; done; echo "$v")"
check "launcher: ... and says so" "yes" \
    "$(ln_log_since "$off" | grep -q 'pg_idp: job in database "ln_stuck" failed: canceling statement due to statement timeout (idp.job_timeout is 1 s)' && echo yes || echo no)"
# A job that cannot look at its interrupts (stopped here) is ended by the launcher 5 s after
# idp.job_timeout; it ends when it runs again, its transaction rolled back.
q -c "ALTER SYSTEM SET idp.job_timeout = 3" >/dev/null
ln_reload
off=$(stat -c %s "$LOG")
JOB=""
for _ in $(seq 1 600); do
    JOB="$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_idp job' AND datname = 'ln_stuck' AND wait_event_type = 'Lock'")"
    [ -n "$JOB" ] && break
    sleep 0.1
done
[ -n "$JOB" ] && kill -STOP "$JOB"
check "launcher: a job that cannot end itself is ended by the launcher (idp.job_timeout + 5 s)" "1" \
    "$(for _ in $(seq 1 100); do ln_log_since "$off" | grep -q 'job in database "ln_stuck" ran past idp.job_timeout (3 s): ended' && break; sleep 0.2; done
       ln_log_since "$off" | grep -c 'pg_idp: job in database "ln_stuck" ran past idp.job_timeout (3 s): ended')"
[ -n "$JOB" ] && kill -CONT "$JOB"
check "launcher: ... it exits once it runs again (timed_out), without crashing anything" "timed_out 0 0" \
    "$(for _ in $(seq 1 100); do [ -z "$(q -c "SELECT pid FROM pg_stat_activity WHERE pid = ${JOB:-0}")" ] && break; sleep 0.1; done
       echo "$(ln_row ln_stuck last_job) $(grep -c 'terminated by signal' "$LOG") $(ln_log_since "$off" | grep -c 'PANIC')")"
ln_release
q -c "ALTER SYSTEM RESET idp.job_timeout" -c "ALTER SYSTEM RESET idp.refresh_interval" >/dev/null
ln_reload
q -d ln_stuck -c "SELECT idp._launcher_notify()" >/dev/null
check "launcher: ... and its database is served again once the lock is gone" "succeeded 0" \
    "$(for _ in $(seq 1 100); do v="$(ln_row ln_stuck "last_job || ' ' || failures")"; [ "$v" = "succeeded 0" ] && break; sleep 0.2; done; echo "$v")"

if [ "$PG_VERSION" -ge 18 ]; then
    cp "$LN/pg_hba.conf.saved" "$PGDATA_DIR/pg_hba.conf"
    ln_reload
fi
kill "$LN_HTTP" 2>/dev/null
for d in ln_own ln_late ln_full ln_steady ln_hostile1 ln_hostile2 ln_stuck ln_empty1 ln_empty2 $(seq -f 'ln_fill_%g' 1 $((LN_MAX + 2))); do
    q -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
done
q -c "DROP ROLE IF EXISTS ln_mallory" -c "DROP ROLE IF EXISTS ln_filler" -c "DROP ROLE IF EXISTS ln_user" >/dev/null 2>&1
check "launcher: no pg_idp process crashed" "0" \
    "$(grep -cE 'background worker "pg_idp (job|launcher)" \(PID [0-9]+\) was terminated by signal' "$LOG")"
