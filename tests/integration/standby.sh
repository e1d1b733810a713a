# shellcheck shell=bash
# A pg_basebackup hot standby verifies tokens and enforces the policies read-only, including
# changes made on the primary after the backup, and counts its own verifications (pg_idp
# preloaded there, not on the primary yet).
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby" (worker needs jwks).
say "hot standby: pg_basebackup, streaming replication, read-only verification"
STANDBY_DIR="$(mktemp -d /tmp/pg_idp_standby.XXXXXX)"
chmod 755 "$STANDBY_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$STANDBY_DIR"
STANDBY_PORT="$(free_port)"
as_pg "$PGBIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$STANDBY_DIR/data" -R -X stream -c fast \
    >"$STANDBY_DIR/basebackup.log" 2>&1 || { cat "$STANDBY_DIR/basebackup.log" >&2; FAILED=1; finish; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$STANDBY_DIR' -p $STANDBY_PORT -c hot_standby=on \
        -c shared_preload_libraries=pg_idp" start >/dev/null \
    || { cat "$STANDBY_DIR/server.log" >&2; FAILED=1; finish; exit 1; }
sq() { psql -X -q -At -h "$STANDBY_DIR" -p "$STANDBY_PORT" -d app "$@"; }

# Changes made on the primary after the backup reach the standby by streaming: a row, and a
# provider registered only now (the standby's backends must see the new registry).
q -d app -f - <<SQL || FAILED=$((FAILED + 1))
\\i $FIXTURES
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'auth0', 'issuer', 'https://acme.us.auth0.com/', 'audience', 'https://api.example.com',
  'jwks', :'auth0_jwks'::jsonb)) \\g /dev/null
SET ROLE app_user;
BEGIN;
SELECT set_config('request.jwt', :'auth0_user', true) \\g /dev/null
INSERT INTO todos (title) VALUES ('auth0 user 1');
COMMIT;
SQL
# Wait until the standby has replayed everything the primary has written so far.
wait_replay() {
    local target ok=f
    target="$(q -d app -c 'SELECT pg_current_wal_lsn()')"
    for _ in $(seq 1 100); do
        ok="$(sq -U postgres -c "SELECT coalesce(pg_last_wal_replay_lsn() >= '$target', false)" 2>/dev/null)"
        [ "$ok" = t ] && return 0
        sleep 0.1
    done
    return 1
}
replayed=f
wait_replay && replayed=t
check "standby: in recovery and caught up with the primary" "t t" "$(sq -U postgres -c 'SELECT pg_is_in_recovery()') $replayed"

as_user() { # token query
    sq -U app_user -c "BEGIN" -c "SELECT set_config('request.jwt', '$1', true) IS NOT NULL" -c "$2" -c "COMMIT" 2>&1 | sed -n 2p
}
check "standby: Alice sees only her rows" "user_2alice|2|0" \
    "$(as_user "$ALICE" "SELECT idp.requesting_user_id(), count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos")"
check "standby: Bob sees only his rows" "user_2bob|3|0" \
    "$(as_user "$BOB" "SELECT idp.requesting_user_id(), count(*) FILTER (WHERE user_id = 'user_2bob'), count(*) FILTER (WHERE user_id <> 'user_2bob') FROM todos")"
check "standby: a provider registered on the primary after the backup verifies here" "auth0|abc123|auth0 user 1" \
    "$(as_user "$(fixture auth0_user)" "SELECT idp.requesting_user_id(), string_agg(title, ',') FROM todos")"
check "standby: idp.authenticate() sets the identity for the transaction" "user_2bob|3" \
    "$(sq -U app_user -c "BEGIN" -c "SELECT idp.authenticate('$BOB') IS NOT NULL" -c "SELECT idp.requesting_user_id(), count(*) FROM todos" -c "COMMIT" 2>&1 | sed -n 2p)"
check "standby: no token, no rows" "0" "$(sq -U app_user -c 'SELECT count(*) FROM todos')"
check "standby: verify_jwt answers read-only" "clerk user_2bob" \
    "$(sq -U app_user -c "SELECT v->>'provider', v->>'user_id' FROM idp.verify_jwt('$BOB') v" | tr '|' ' ')"
check "standby: a tampered token is refused with 28000" "28000" \
    "$(sq -U app_user -c '\set VERBOSITY sqlstate' -c "BEGIN" -c "SET LOCAL request.jwt = '$TAMPERED'" -c "SELECT count(*) FROM todos" 2>&1 | sqlstate)"
check "standby: writes are refused as read-only (25006)" "25006" \
    "$(sq -U app_user -c '\set VERBOSITY sqlstate' -c "BEGIN" -c "SET LOCAL request.jwt = '$ALICE'" -c "INSERT INTO todos (title) VALUES ('on the standby')" 2>&1 | sqlstate)"
check "standby: registering a provider is refused as read-only (25006)" "25006" \
    "$(sq -U postgres -c '\set VERBOSITY sqlstate' -c "SELECT idp.unregister_provider('clerk')" 2>&1 | sqlstate)"

# One long-lived session on the standby keeps its cached registry until the primary changes it:
# the change reaches that same session through the WAL's invalidation messages.
mkfifo "$STANDBY_DIR/session.in"
sq -U app_user <"$STANDBY_DIR/session.in" >"$STANDBY_DIR/session.out" 2>&1 &
session=$!
exec 5>"$STANDBY_DIR/session.in"
echo "SELECT 'before', idp.verify_jwt('$(fixture auth0_user)')->>'valid';" >&5
for _ in $(seq 1 100); do grep -q '^before' "$STANDBY_DIR/session.out" 2>/dev/null && break; sleep 0.05; done
q -d app -c "SELECT idp.unregister_provider('auth0')" >/dev/null
wait_replay
echo "SELECT 'after', idp.verify_jwt('$(fixture auth0_user)')->>'error';" >&5
exec 5>&-
wait $session
check "standby: a long-lived session sees a provider removed on the primary" "before|true after|unknown_issuer" \
    "$(tr '\n' ' ' <"$STANDBY_DIR/session.out" | sed 's/ $//')"

# The standby counts the verifications made on it, in its own shared memory (read-only: nothing
# is written), and resets them; the primary, which does not preload pg_idp, counts nothing.
sq -U postgres -c "SELECT idp.reset_stats()" >/dev/null
sq -U app_user -c "SELECT idp.verify_jwt('$ALICE')->>'valid'" -c "SELECT idp.verify_jwt('$ALICE')->>'valid'" \
    -c "SELECT idp.verify_jwt('$TAMPERED')->>'error'" >/dev/null
check "standby: idp.stats counts the verifications made here (2 verifications, 1 cache hit, 1 success, 1 invalid_signature)" \
    "clerk|2|1|1|1|invalid_signature" \
    "$(sq -U postgres -c "SELECT provider, verifications, cache_hits, successes, failures_by_code->'invalid_signature', last_failure_code FROM idp.stats WHERE datname = 'app' AND provider = 'clerk'")"
check "standby: provider health from the replayed registry, no refreshes (the standby never fetches)" "clerk|inline|1|||" \
    "$(sq -U app_user -c "SELECT provider, key_source, key_count, last_refresh_attempt, last_refresh_error_code, next_refresh FROM idp.provider_health WHERE provider = 'clerk'")"
