# shellcheck shell=bash
# 20,000 pgbench transactions through PgBouncer with tokens of 1,000 users while the registry
# changes underneath; each transaction raises on any row of another user.
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby" (worker needs jwks).
# Soak: pgbench through the pooler, 2 clients, tokens of 1,000 users switching every transaction,
# each transaction raising if it sees a row that is not its user's, while a third client keeps
# changing the registry (same keys re-registered, revocations of other users) underneath.
say "soak: $((SOAK_TXNS * 2)) pgbench transactions through PgBouncer while the registry changes"
build_cli
"$PG_IDP" mint --key "$WORK/fixtures/clerk.key.json" --count 1000 \
    --claims '{"iss":"https://acme.clerk.accounts.dev","sub":"soak_user_{n}"}' >"$WORK/soak.tokens"
q -d app -f - <<SQL || FAILED=$((FAILED + 1))
CREATE TABLE soak_tokens (uid int PRIMARY KEY, tok text NOT NULL);
CREATE TABLE soak_todos (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO soak_todos (user_id, title) SELECT 'soak_user_' || u, 'todo ' || i FROM generate_series(1, 1000) u, generate_series(1, 2) i;
CREATE INDEX ON soak_todos (user_id);
SELECT idp.enable_rls('soak_todos') \\g /dev/null
GRANT SELECT ON soak_tokens, soak_todos TO app_user;
-- Raises on any row of another user, or on a wrong row count, or without an identity.
CREATE FUNCTION soak_check() RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE me text := idp.requesting_user_id(); others int; mine int;
BEGIN
    SELECT count(*) FILTER (WHERE user_id IS DISTINCT FROM me), count(*) INTO others, mine FROM soak_todos;
    IF me IS NULL OR others > 0 OR mine <> 2 THEN
        RAISE EXCEPTION 'soak: % saw % rows of others and % in all', me, others, mine;
    END IF;
    RETURN mine;
END \$\$;
SQL
awk '{ printf "%d\t%s\n", NR, $0 }' "$WORK/soak.tokens" | q -d app -c "\\copy soak_tokens FROM pstdin"
cat >"$WORK/soak.pgb" <<'PGB'
\set uid random(1, 1000)
BEGIN;
SELECT set_config('request.jwt', tok, true) IS NOT NULL FROM soak_tokens WHERE uid = :uid;
SELECT soak_check();
COMMIT;
PGB
chmod 644 "$WORK/soak.pgb"
CLERK_JWKS_FILE="$WORK/fixtures/clerk.jwks.json"
chmod 755 "$WORK" "$WORK/fixtures"; chmod 644 "$CLERK_JWKS_FILE"   # read by the server (pg_read_file)
( while [ ! -f "$WORK/soak.done" ]; do
      q -d app -c "SELECT idp.set_jwks('clerk', pg_read_file('$CLERK_JWKS_FILE')::jsonb)" \
            -c "SELECT idp.revoke_user('clerk', 'someone_else_' || (random() * 100)::int)" \
            -c "SELECT idp.purge_revocations(interval '-1 hour')" >/dev/null 2>>"$WORK/soak.changer.err" \
          && echo x >>"$WORK/soak.changes"
      sleep 0.1
  done ) & CHANGER=$!
"$PGBIN/pgbench" -n -c 2 -j 2 -t "$SOAK_TXNS" -h 127.0.0.1 -p "$BOUNCER_PORT" -U app_user -f "$WORK/soak.pgb" app \
    >"$WORK/soak.out" 2>&1
soak_rc=$?
touch "$WORK/soak.done"; wait "$CHANGER"
check "soak: pgbench finished without an error (no leaked row, no unexpected error)" "0" "$soak_rc"
check "soak: every transaction ran" "$((SOAK_TXNS * 2))/$((SOAK_TXNS * 2))" \
    "$(sed -nE 's/^number of transactions actually processed: ([0-9]+\/[0-9]+).*/\1/p' "$WORK/soak.out")"
check "soak: the registry changed underneath it (set_jwks and revocations committed)" "yes" \
    "$([ "$(wc -l <"$WORK/soak.changes" 2>/dev/null || echo 0)" -ge 3 ] && [ ! -s "$WORK/soak.changer.err" ] && echo yes || echo "no: $(wc -l <"$WORK/soak.changes" 2>/dev/null) changes, $(head -c 300 "$WORK/soak.changer.err")")"
[ "$soak_rc" -eq 0 ] || tail -5 "$WORK/soak.out" >&2
check "soak: control: the check does raise when it can see others' rows (as the owner, RLS bypassed)" "P0001" \
    "$(q -d app -c '\set VERBOSITY sqlstate' -c "SET request.jwt = '$(head -n1 "$WORK/soak.tokens")'" -c "SELECT soak_check()" 2>&1 | sqlstate)"

kill "$(cat "$BOUNCER_DIR/pgbouncer.pid")" 2>/dev/null; rm -f "$BOUNCER_DIR/pgbouncer.pid"
