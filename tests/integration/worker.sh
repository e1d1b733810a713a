# shellcheck shell=bash
# The refresh worker (pg_idp preloaded): rotations, keys for a provider registered without them,
# early refresh on an unknown kid, and a hostile search_path in its database.
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby" (worker needs jwks).
say "background worker (shared_preload_libraries): refresh on its own, and early on an unknown kid"
for k in 1 2 3; do "$PG_IDP" keygen --alg RS256 --kid "auto-$k" --out "$WORK/auto$k" >/dev/null 2>&1; done
cp "$WORK/auto1.jwks.json" "$WWW/auto.json"
# The review's attack on 0.2.0: the worker (now the launcher's jobs) runs as the bootstrap
# superuser in the database, whose owner may set its search_path. An operator ?(jsonb, text) first on that path, and an
# ambiguous ?(jsonb, jsonb) in public (which any role with CREATE there can add), must neither run
# nor stop the refresh.
q -d app -f - <<'SQL' >/dev/null || FAILED=$((FAILED + 1))
CREATE TABLE public.worker_hijacks (who text, backend text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON public.worker_hijacks TO PUBLIC;
CREATE SCHEMA evil;
CREATE FUNCTION evil.exists_hijack(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.worker_hijacks (who, backend)
    SELECT current_user, backend_type FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    RETURN $1 OPERATOR(pg_catalog.?) $2;
END $$;
CREATE OPERATOR evil.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.exists_hijack);
CREATE FUNCTION evil.arrow_hijack(jsonb, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.worker_hijacks (who, backend)
    SELECT current_user, backend_type FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    RETURN $1 OPERATOR(pg_catalog.->>) $2;
END $$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow_hijack);
CREATE FUNCTION public.exists_jsonb(jsonb, jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.? (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.exists_jsonb);
ALTER DATABASE app SET search_path = evil, pg_catalog, public;
SQL
# idp.refresh_interval in postgresql.auto.conf, not on the command line (which ALTER SYSTEM cannot
# override): the suite changes it with a reload below, and resets it at its end.
q -c "LOAD 'pg_idp'" -c "ALTER SYSTEM SET idp.refresh_interval = 2" >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT \
    -c shared_preload_libraries=pg_idp -c idp.worker_database=app,citus_w" >/dev/null
q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'auto', 'issuer', 'https://auto.example.com',
    'jwks_uri', '$PLAIN/auto.json', 'jwks', pg_read_file('$WORK/auto1.jwks.json')::jsonb))" >/dev/null
TA2=$("$PG_IDP" mint --key "$WORK/auto2.key.json" --claims '{"iss":"https://auto.example.com","sub":"user_auto"}')
TA3=$("$PG_IDP" mint --key "$WORK/auto3.key.json" --claims '{"iss":"https://auto.example.com","sub":"user_auto"}')
cp "$WORK/auto2.jwks.json" "$WWW/auto.json"
poll_valid() { # token seconds
    local v=""
    for _ in $(seq 1 $(($2 * 5))); do
        v="$(q -d app -c "SELECT idp.verify_jwt('$1')->>'valid'")"
        [ "$v" = true ] && break
        sleep 0.2
    done
    echo "$v"
}
check "worker: a key rotation at the provider is picked up with no SQL call" "true" "$(poll_valid "$TA2" 20)"
# A provider registered without keys (fetch_keys => false, as a database that cannot reach the
# provider at setup time does): its tokens fail no_keys until the worker has fetched them.
cp "$WORK/auto2.jwks.json" "$WWW/later.json"
q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'later', 'issuer', 'https://later.example.com',
    'jwks_uri', '$PLAIN/later.json'), fetch_keys => false)" >/dev/null
TL=$("$PG_IDP" mint --key "$WORK/auto2.key.json" --claims '{"iss":"https://later.example.com","sub":"user_later"}')
check "worker: a provider registered without keys gets them with no SQL call" "true" "$(poll_valid "$TL" 20)"
q -d app -c "ALTER SYSTEM SET idp.refresh_interval = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
# Each job reads the settings as it starts: wait until auto's next refresh is an hour away (one
# more refresh at the old interval), so that only an early refresh can fetch the next key.
far=""
for _ in $(seq 1 300); do
    far="$(q -d app -c "SELECT next_refresh > now() + interval '30 minutes' FROM idp.provider_health WHERE provider = 'auto'")"
    [ "$far" = t ] && break
    sleep 0.1
done
if [ "$far" != t ]; then
    echo "    auto's health: $(q -d app -c "SELECT row_to_json(h) FROM idp.provider_health h WHERE provider = 'auto'")"
    echo "    now: $(q -d app -c "SELECT now()")"
    grep -E 'provider "auto"|refresh_interval' "$CLUSTER_DIR/server.log" | tail -n 5 | sed 's/^/    /'
fi
check "worker: once idp.refresh_interval is an hour, auto's next refresh is an hour away" "t" "$far"
cp "$WORK/auto3.jwks.json" "$WWW/auto.json"
first="$(q -d app -c "SELECT idp.verify_jwt('$TA3')->>'error'")"
check "worker: an unknown kid fails at once, and an early refresh lets it in" "unknown_key true" "$first $(poll_valid "$TA3" 40)"
check "worker: refreshes are logged with the provider and key count" "yes" \
    "$(grep -q 'refreshed JWKS of provider "auto": 1 keys (early: unknown kid)' "$CLUSTER_DIR/server.log" && echo yes || echo no)"
q -d app -c "ALTER SYSTEM SET idp.refresh_interval = 2" -c "SELECT pg_reload_conf()" >/dev/null
# (This script's own psql sessions use ->> under that path too: the operators do work, and run
# there, as the control shows; only the worker must never run them.)
check "worker: a hostile search_path in its database ran none of its operators in the worker" "0 yes" \
    "$(q -d app -c "SELECT count(*) FILTER (WHERE backend LIKE 'pg_idp%') || ' ' || CASE WHEN count(*) FILTER (WHERE backend = 'client backend') > 0 THEN 'yes' ELSE 'no' END FROM public.worker_hijacks")"
check "worker: ... and did not stop it (no ambiguous operator, the launcher started once, no job failed)" "0 1 0" \
    "$(grep -c 'operator is not unique' "$CLUSTER_DIR/server.log") $(grep -c 'pg_idp: launcher started' "$CLUSTER_DIR/server.log") $(grep -cE 'pg_idp: job in database .* failed|"pg_idp (job|launcher)" \(PID [0-9]+\) was terminated by signal' "$CLUSTER_DIR/server.log")"
q -d app -c "ALTER DATABASE app RESET search_path" >/dev/null

# A registration committed while a job fetches that provider's keys is never overwritten with
# the config the job read before it (the job's update finds the row changed and leaves it).
cp "$WORK/auto2.jwks.json" "$WWW/racy.json"
racy() { # extra config members
    q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'racy', 'issuer', 'https://racy.example.com',
        'jwks_uri', '$PLAIN/slow/racy.json'$1), fetch_keys => false)" >/dev/null
}
racy ""
# The job starts fetching (the slow path answers after 3 s): register again meanwhile.
for _ in $(seq 1 100); do
    [ "$(q -d app -c "SELECT last_refresh_attempt IS NOT NULL FROM idp.provider_health WHERE provider = 'racy'")" = t ] && break
    sleep 0.1
done
racy ", 'claim_mapping', '{\"role\": \"role\"}'::jsonb"
for _ in $(seq 1 100); do grep -q 'provider "racy" changed while its JWKS was fetched' "$CLUSTER_DIR/server.log" && break; sleep 0.1; done
check "worker: a registration made while a job fetched its keys is kept, not overwritten" "role" \
    "$(q -d app -c "SELECT config->'claim_mapping'->>'role' FROM idp.provider_registry WHERE name = 'racy'")"
check "worker: ... and the next job fetches the keys for it" "auto-2 role" \
    "$(for _ in $(seq 1 100); do k="$(q -d app -c "SELECT key_ids[1] FROM idp.providers WHERE name = 'racy'")"; [ -n "$k" ] && break; sleep 0.1; done
       echo "$k $(q -d app -c "SELECT config->'claim_mapping'->>'role' FROM idp.provider_registry WHERE name = 'racy'")")"
q -d app -c "SELECT idp.unregister_provider('racy')" >/dev/null

# A Citus worker gets its registry, keys included, from the coordinator (idp.sync_nodes): the
# jobs never fetch keys there. Citus is simulated by its catalogs (fake_citus_sql), as in the
# citus suite, with pg_dist_local_group saying group 1.
q -c "CREATE DATABASE citus_w" >/dev/null
q -d citus_w -f - >/dev/null <<SQL || FAILED=$((FAILED + 1))
CREATE EXTENSION pg_idp;
$(fake_citus_sql 1 4000000001)
SELECT idp.register_provider(jsonb_build_object('provider', 'on_worker', 'issuer', 'https://on-worker.example.com',
    'jwks_uri', '$PLAIN/auto.json'), fetch_keys => false);
SQL
for _ in $(seq 1 100); do
    [ "$(q -d app -c "SELECT state FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'citus_w')")" = serving ] && break
    sleep 0.1
done
sleep 3   # jobs at the 2 s refresh interval, had it been due
check "worker: on a Citus worker node, the jobs serve the database but never fetch keys" "serving|t" \
    "$(q -d app -c "SELECT state FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'citus_w')")|$(q -d citus_w -c "SELECT last_refresh_attempt IS NULL FROM idp.provider_health WHERE provider = 'on_worker'")"
q -d citus_w -c "DELETE FROM pg_catalog.pg_extension WHERE extname = 'citus'" -c "SELECT idp._launcher_notify()" >/dev/null
check "worker: control: without Citus, the same provider's keys are fetched" "f" \
    "$(for _ in $(seq 1 100); do v="$(q -d citus_w -c "SELECT last_refresh_attempt IS NULL FROM idp.provider_health WHERE provider = 'on_worker'")"; [ "$v" = f ] && break; sleep 0.1; done; echo "$v")"
q -c "DROP DATABASE citus_w" >/dev/null

# A Citus coordinator's jobs copy the registry to the workers (simulated as in the citus suite:
# fake_citus_sql, fake_run_command_sql). A worker's database owned by a role that is not a
# superuser, where pg_idp is not installed, holds her own schema idp with functions named like
# pg_idp's that make her a superuser when a superuser runs them: the job runs none of them, and
# its WARNING names the node and why; the worker where a superuser installed pg_idp gets the copy.
q -f - >/dev/null <<'SQL' || FAILED=$((FAILED + 1))
CREATE ROLE citus_mallory NOLOGIN;
CREATE DATABASE citus_w;
CREATE DATABASE citus_w_hers OWNER citus_mallory;
CREATE DATABASE citus_w_ok;
SQL
q -d citus_w_ok -c "CREATE EXTENSION pg_idp" >/dev/null
q -d citus_w_hers -f - >/dev/null <<'SQL' || FAILED=$((FAILED + 1))
SET ROLE citus_mallory;
CREATE TABLE public.loot (fn text, ran_as text);
CREATE FUNCTION public.trap(fn text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.loot VALUES (fn, current_user);
    BEGIN
        EXECUTE 'ALTER ROLE citus_mallory SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN 'mine';
END $$;
CREATE SCHEMA idp;
CREATE FUNCTION idp._sync_begin() RETURNS text LANGUAGE sql AS $$ SELECT public.trap('_sync_begin') $$;
CREATE FUNCTION idp._load_registry_sealed(text) RETURNS text LANGUAGE sql AS $$ SELECT public.trap('_load_registry_sealed') $$;
CREATE FUNCTION idp.registry_fingerprint() RETURNS text LANGUAGE sql AS $$ SELECT public.trap('registry_fingerprint') $$;
SQL
before="$(wc -l <"$CLUSTER_DIR/server.log")"
q -d citus_w -v conninfo="dbname=%s host=$PGHOST port=$PGPORT user=postgres" -f - >/dev/null <<SQL || FAILED=$((FAILED + 1))
CREATE EXTENSION pg_idp;
CREATE EXTENSION dblink;
$(fake_citus_sql 0 4000000002)
INSERT INTO pg_catalog.pg_dist_node VALUES (1, 1, 'citus_w_hers', 5432, 'primary', true),
                                           (2, 2, 'citus_w_ok', 5432, 'primary', true);
$(fake_run_command_sql)
ALTER DATABASE citus_w SET regress.conninfo = :'conninfo';
SELECT idp.register_provider(jsonb_build_object('provider', 'copied', 'issuer', 'https://copied.example.com',
    'jwks', pg_read_file('$WORK/auto1.jwks.json')::jsonb));
SELECT idp._launcher_notify();
SQL
for _ in $(seq 1 900); do
    tail -n +"$((before + 1))" "$CLUSTER_DIR/server.log" | grep -q 'registry copy left 1 Citus node(s) out of sync' && break
    sleep 0.1
done
warning="$(tail -n +"$((before + 1))" "$CLUSTER_DIR/server.log" | grep -m1 'registry copy left 1 Citus node(s) out of sync')"
if [ -z "$warning" ]; then   # what the jobs did meanwhile, to debug a miss
    echo "    citus_w: $(q -d app -c "SELECT row_to_json(s) FROM idp.served_databases() s WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'citus_w')" 2>&1)"
    tail -n +"$((before + 1))" "$CLUSTER_DIR/server.log" | grep -E 'pg_idp|citus' | tail -n 8 | sed 's/^/    /'
fi
check "worker: a coordinator's job runs nothing in a worker database where a non-superuser's schema idp stands for pg_idp's" \
    "nothing|f" "$(q -d citus_w_hers -c "SELECT coalesce(string_agg(fn, ','), 'nothing') FROM public.loot")|$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'citus_mallory'")"
check "worker: ... its WARNING names that node and why" "yes" \
    "$(echo "$warning" | grep -q 'WARNING:.*citus_w_hers:5432: nothing was run there: this version of pg_idp is not installed in that database' && echo yes || echo "no: ${warning:-no such WARNING}")"
check "worker: ... and the worker where a superuser installed pg_idp gets the copy" \
    "$(q -d citus_w -c "SELECT idp.registry_fingerprint()")" "$(q -d citus_w_ok -c "SELECT idp.registry_fingerprint()")"
check "worker: control: her trap makes her a superuser when a superuser runs it" "_sync_begin|t" \
    "$(q -d citus_w_hers -c "SELECT idp._sync_begin()" >/dev/null; q -d citus_w_hers -c "SELECT string_agg(fn, ',') FROM public.loot")|$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'citus_mallory'")"
for db in citus_w citus_w_hers citus_w_ok; do q -c "DROP DATABASE $db" >/dev/null; done
q -c "DROP ROLE citus_mallory" >/dev/null
q -c "ALTER SYSTEM RESET idp.refresh_interval" -c "SELECT pg_reload_conf()" >/dev/null
