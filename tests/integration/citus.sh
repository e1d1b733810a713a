# shellcheck shell=bash
# Citus, simulated as in the `citus` pg_regress spec (Citus's extension row and catalogs, and a
# run_command_on_workers() that runs each command through dblink in a database playing a worker):
# a registry copy whose load fails on a worker is written to the server log with its statement
# (log_min_error_statement = error, the default), and that line holds no secret or key of the
# registry, because the copy travels sealed. (scripts/integration also greps every log for every
# fixture secret at the end.)
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary; run it
# alone with INTEGRATION_SUITES="citus".
say "citus: a registry copy that fails on a worker logs no secret"
LOG="$CLUSTER_DIR/server.log"
SECRET="$(fixture insforge_secret)"
for db in citus_coordinator citus_worker; do
    createdb -h "$PGHOST" -p "$PGPORT" -U postgres "$db"
done
# The worker: pg_idp, and a trigger that refuses every change of its providers (the load fails
# there, as it would on a read-only worker or one on another version).
q -d citus_worker -f - <<'SQL' || FAILED=$((FAILED + 1))
ALTER DATABASE citus_worker SET log_min_error_statement = error;
CREATE EXTENSION pg_idp;
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''citus worker refuses the copy''; END';
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON idp.provider_registry FOR EACH ROW EXECUTE FUNCTION public.refuse();
SQL
before="$(wc -l <"$LOG")"
out="$(q -d citus_coordinator -v conninfo="dbname=%s host=$PGHOST port=$PGPORT user=postgres" -f - <<SQL 2>&1
\\i $FIXTURES
CREATE EXTENSION pg_idp;
CREATE EXTENSION dblink;
$(fake_citus_sql 0 4000000000)
INSERT INTO pg_catalog.pg_dist_node VALUES (1, 1, 'citus_worker', 5432, 'primary', true);
$(fake_run_command_sql)
ALTER DATABASE citus_coordinator SET regress.conninfo = :'conninfo';
\\c
SELECT idp.register_provider(jsonb_build_object('provider', 'insforge', 'issuer', 'https://insforge.example.com',
  'secret', :'insforge_secret')) \\g /dev/null
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'jwks', :'clerk_jwks'::jsonb)) \\g /dev/null
SELECT node || ' ' || in_sync || ' ' || coalesce(error, '') FROM idp.sync_nodes() ORDER BY node;
SQL
)"
check "citus: the worker refused the copy, the coordinator says so" \
    "citus_worker:5432 false citus worker refuses the copy|coordinator true " "$(echo "$out" | tr '\n' '|' | sed 's/|$//')"
new_lines="$(tail -n +"$((before + 1))" "$LOG")"
check "citus: the failed copy's statement is in the worker's log (log_min_error_statement)" "1" \
    "$(echo "$new_lines" | grep -c "STATEMENT:  SELECT pg_catalog.pg_idp_node_call('_load_registry_sealed'::pg_catalog.text, ")"
modulus="$(fixture clerk_jwks | sed -E 's/.*"n":"([^"]+)".*/\1/')"
check "citus: that log holds no secret and no key of the registry (${#modulus}-character modulus searched too)" "0 0" \
    "$(echo "$new_lines" | grep -cF -- "$SECRET") $(echo "$new_lines" | grep -cF -- "$modulus")"
# The worker still holds the key of the failed copy (its statement rolled back) until it expires
# or the next copy; once the trigger is gone, the next copy goes through.
q -d citus_worker -c "DROP TRIGGER refuse ON idp.provider_registry" -c "ALTER DATABASE citus_worker RESET log_min_error_statement"
check "citus: the next copy reaches the worker" "0" \
    "$(q -d citus_coordinator -c "SELECT count(*) FROM idp.sync_nodes() WHERE NOT in_sync")"
for db in citus_coordinator citus_worker; do
    dropdb -h "$PGHOST" -p "$PGPORT" -U postgres "$db"
done
