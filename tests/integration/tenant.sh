# shellcheck shell=bash
# The cluster's trust boundary. A database owner who is not a superuser (a tenant, in a cluster
# with one database per tenant) attacks what pg_idp does with the cluster's authority: its
# launcher and jobs (they run as the bootstrap superuser in every database), the install, and on
# PostgreSQL 18 the login snapshot the OAuth validator trusts. Every attack must fail, and each
# has a control showing that the same check sees the attack when it works. Then what the
# boundary comes with: every database where a superuser installed pg_idp is served, with no
# list and no restart.
# Sourced by scripts/integration (check, q, fixture, the primary with `app`).
say "tenant owner: a database owner never gains what the superuser has"
[ -n "${PG_IDP:-}" ] || build_cli
TN="$WORK/tenant"
mkdir -p "$TN/www"
chmod 755 "$WORK" "$TN" "$TN/www"
LOG="$CLUSTER_DIR/server.log"
TENANT_OPTS="-c shared_preload_libraries=pg_idp -c idp.check_interval=1"
[ "$PG_VERSION" -ge 18 ] && TENANT_OPTS="$TENANT_OPTS -c oauth_validator_libraries=pg_idp"
restart_primary() { # extra server options
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart \
        -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT $TENANT_OPTS $*" >/dev/null
}
oid_of() { q -c "SELECT oid FROM pg_database WHERE datname = '$1'"; }
# What pg_idp's launcher says of database DB, once it is STATE (waited for, at most 20 s).
wait_state() { # db state
    local s=""
    for _ in $(seq 1 200); do
        s="$(q -d app -c "SELECT state FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = '$1')")"
        [ "$s" = "$2" ] && break
        sleep 0.1
    done
    echo "${s:-none}"
}
# The attacker's trap: a function that records who ran it (and from which kind of process) and,
# run by a superuser, makes its owner a superuser.
trap_sql() { # owner
    cat <<SQL
CREATE TABLE public.hijacks (who text, backend text);
GRANT INSERT ON public.hijacks TO PUBLIC;
CREATE SCHEMA IF NOT EXISTS idp;
CREATE FUNCTION idp.escalate() RETURNS text LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO public.hijacks SELECT current_user, backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid();
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE $1 SUPERUSER';
    END IF;
    RETURN 'none';
END \$\$;
CREATE FUNCTION idp._citus_role() RETURNS text LANGUAGE sql AS \$\$ SELECT idp.escalate() \$\$;
CREATE FUNCTION idp.registry_fingerprint() RETURNS text LANGUAGE sql AS \$\$ SELECT idp.escalate() \$\$;
CREATE FUNCTION idp.sync_nodes() RETURNS TABLE (in_sync boolean) LANGUAGE sql AS \$\$ SELECT idp.escalate() IS NULL \$\$;
-- The registry as a view: reading it runs the trap.
CREATE VIEW idp.provider_registry AS
    SELECT 'trap'::text AS name, idp.escalate() AS issuer, '{}'::jsonb AS config;
CREATE VIEW idp.revocation_list AS
    SELECT 'trap'::text AS provider, idp.escalate() AS kind, 'x'::text AS subject, now() AS issued_before;
SQL
}
# Wait until the launcher keeps no entry for database DB (at most 20 s): pg_idp is not recorded
# there (or no longer).
wait_gone() { # db
    local s=""
    for _ in $(seq 1 200); do
        s="$(q -d app -c "SELECT state FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = '$1')")"
        [ -z "$s" ] && break
        sleep 0.1
    done
    echo "${s:-no entry}"
}
is_super() { q -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$1'"; }
# Rows the trap wrote from pg_idp's own processes (jobs, launcher), and from client backends.
hijacks() { # db
    q -d "$1" -c "SELECT count(*) FILTER (WHERE backend LIKE 'pg_idp%') || ' ' || count(*) FILTER (WHERE backend = 'client backend') FROM public.hijacks"
}

say "tenant owner: a trap where pg_idp is not installed (launcher serving every database)"
q -f - >/dev/null <<'SQL' || FAILED=$((FAILED + 1))
CREATE ROLE mallory LOGIN;
CREATE DATABASE tenant OWNER mallory;
SQL
q -d tenant -U mallory -f - >/dev/null <<<"$(trap_sql mallory)" || FAILED=$((FAILED + 1))
restart_primary || { echo "not ok - tenant: restart with pg_idp preloaded"; FAILED=$((FAILED + 1)); return 0; }
check "tenant: the launcher keeps no entry for the tenant's database (nothing records pg_idp there)" "no entry" "$(wait_gone tenant)"
sleep 2   # more rounds of the launcher, and of any job it would start
check "tenant: nothing of the tenant's schema idp ran in pg_idp's processes; the owner is no superuser" "0 0 f" \
    "$(hijacks tenant) $(is_super mallory)"
say "tenant owner: the same trap in a database the allow-lists name"
ALLOW="-c idp.worker_database=tenant"
[ "$PG_VERSION" -ge 18 ] && ALLOW="$ALLOW -c idp.login_databases=tenant,app"
restart_primary "$ALLOW"
for _ in $(seq 1 50); do grep -q 'pg_idp: launcher started' <(tail -n 20 "$LOG") && break; sleep 0.1; done
sleep 3
check "tenant: named by idp.worker_database (and idp.login_databases): still nothing ran; the owner is no superuser" "0 0 f" \
    "$(hijacks tenant) $(is_super mallory)"
if [ "$PG_VERSION" -ge 18 ]; then
    check "tenant: and no login snapshot was written for it" "no" \
        "$([ -e "$PGDATA_DIR/pg_idp/$(oid_of tenant).json" ] && echo yes || echo no)"
fi
restart_primary
# The control: the trap works, and these checks see it, when a superuser session calls it.
q -d tenant -c "SELECT idp._citus_role()" >/dev/null
check "tenant: control: called by a superuser, the trap runs and makes its owner a superuser" "0 1 t" \
    "$(hijacks tenant) $(is_super mallory)"
q -c "ALTER ROLE mallory NOSUPERUSER" -d tenant -c "TRUNCATE public.hijacks" >/dev/null

say "tenant owner: a schema idp made before CREATE EXTENSION"
q -d tenant -U mallory -c "DROP SCHEMA idp CASCADE" >/dev/null 2>&1
q -d tenant -U mallory -c "CREATE SCHEMA idp" -c "CREATE FUNCTION idp.escalate() RETURNS text LANGUAGE sql AS 'SELECT 1::text'" >/dev/null
check "tenant: CREATE EXTENSION pg_idp refuses a schema idp it did not create (42P06)" "42P06" \
    "$(q -d tenant -v VERBOSITY=verbose -c "CREATE EXTENSION pg_idp" 2>&1 | grep -oE '42P06' | head -n1)"
check "tenant: ... and installed nothing" "0" "$(q -d tenant -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_idp'")"
q -d tenant -U mallory -c "DROP SCHEMA idp CASCADE" >/dev/null 2>&1
check "tenant: control: without that schema, CREATE EXTENSION works" "ok" \
    "$(q -d tenant -c "CREATE EXTENSION pg_idp" >/dev/null 2>&1 && echo ok || echo failed)"
check "tenant: the owner cannot rename, drop, or add to pg_idp's schema (42501 each)" "42501 42501 42501" \
    "$(for s in "ALTER SCHEMA idp RENAME TO x" "DROP SCHEMA idp CASCADE" "CREATE FUNCTION idp.requesting_user_id(int) RETURNS text LANGUAGE sql AS 'SELECT 1::text'"; do
        q -d tenant -U mallory -v VERBOSITY=verbose -c "$s" 2>&1 | grep -oE '42501' | head -n1; done | tr '\n' ' ' | sed 's/ $//')"
check "tenant: ... nor drop the extension (42501)" "42501" \
    "$(q -d tenant -U mallory -v VERBOSITY=verbose -c "DROP EXTENSION pg_idp" 2>&1 | grep -oE '42501' | head -n1)"
check "tenant: the launcher serves the database once the superuser installed pg_idp" "serving" "$(wait_state tenant serving)"
check "tenant: control: DROP EXTENSION and CREATE EXTENSION again reuse the empty schema left behind" "ok" \
    "$(q -d tenant -c "DROP EXTENSION pg_idp" -c "CREATE EXTENSION pg_idp" >/dev/null 2>&1 && echo ok || echo failed)"

say "tenant owner: a schema idp handed to the owner (as a 0.4.0 install into the owner's schema was)"
q -c "CREATE ROLE mallory3 LOGIN" -c "CREATE DATABASE legacy OWNER mallory3" >/dev/null
q -d legacy -c "CREATE EXTENSION pg_idp" >/dev/null
check "tenant: served while pg_idp's schema is the superuser's" "serving" "$(wait_state legacy serving)"
off=$(stat -c %s "$LOG")
q -d legacy -c "ALTER SCHEMA idp OWNER TO mallory3" -c "SELECT idp._launcher_notify()" >/dev/null
check "tenant: once a non-superuser owns schema idp the database is not served (untrusted)" "untrusted" "$(wait_state legacy untrusted)"
check "tenant: ... and the log says why" "1" \
    "$(tail -c +$((off + 1)) "$LOG" | grep -c 'pg_idp: database "legacy" is not served: schema idp is owned by a role that is not a superuser')"
q -d legacy -c "ALTER SCHEMA idp OWNER TO postgres" -c "SELECT idp._launcher_notify()" >/dev/null
check "tenant: control: given back to the superuser, it is served again" "serving" "$(wait_state legacy serving)"

say "tenant owner: every database with pg_idp is served, with no list and no restart"
"$PG_IDP" keygen --alg ES256 --kid fresh-1 --out "$TN/fresh" >/dev/null 2>&1
cp "$TN/fresh.jwks.json" "$TN/www/fresh.json"
TN_PORT="$(free_port)"
python3 -m http.server "$TN_PORT" --bind 127.0.0.1 --directory "$TN/www" >"$TN/http.log" 2>&1 &
TN_HTTP=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$TN_PORT") 2>/dev/null && break; sleep 0.1; done
q -c "CREATE DATABASE newdb" >/dev/null
q -d newdb -c "CREATE EXTENSION pg_idp" \
    -c "SELECT idp.register_provider('{\"provider\": \"fresh\", \"issuer\": \"https://fresh.test\", \"jwks_uri\": \"http://127.0.0.1:$TN_PORT/fresh.json\", \"login\": {\"roles\": [\"fresh_user\"], \"audience\": \"urn:tenant:db\"}}', fetch_keys => false)" >/dev/null
FRESH="$("$PG_IDP" mint --key "$TN/fresh.key.json" --claims '{"iss":"https://fresh.test","sub":"user_fresh","aud":"urn:tenant:db"}')"
got=""
for _ in $(seq 1 100); do
    got="$(q -d newdb -c "SELECT idp.verify_jwt('$FRESH')->>'valid'")"
    [ "$got" = true ] && break
    sleep 0.2
done
check "tenant: a database created now, with pg_idp and a provider registered without keys, gets its keys" "true" "$got"
if [ "$PG_VERSION" -ge 18 ]; then
    [ -x "${OAUTH_CLIENT:-}" ] || {
        OAUTH_CLIENT="$WORK/oauth_client"
        cc -O2 -I"$("$PG_CONFIG" --includedir)" "$ROOT/tests/oauth/oauth_client.c" -L"$("$PG_CONFIG" --libdir)" \
            -Wl,-rpath,"$("$PG_CONFIG" --libdir)" -lpq -o "$OAUTH_CLIENT"
    }
    # Each role's pg_hba.conf line names the issuer of its tokens (below); the client is told it.
    tlogin() { # db role token sql...
        local db="$1" role="$2" token="$3" iss=https://fresh.test; shift 3
        [ "$role" = victim_super ] && iss=https://mine.test
        PG_IDP_TOKEN="$token" "$OAUTH_CLIENT" "host=$PGHOST port=$PGPORT dbname=$db user=$role \
oauth_issuer=$iss/.well-known/openid-configuration oauth_client_id=pg_idp_tests" "$@" 2>&1 | grep -v '^WARNING:'
    }
    poll_tlogin() { # want db role token sql
        local want="$1" got=""; shift
        for _ in $(seq 1 100); do got="$(tlogin "$@")"; [ "$got" = "$want" ] && break; sleep 0.1; done
        echo "$got"
    }
    refused_code() { # db role token: the pg_idp error code of the log line the refusal wrote
        local off line
        off=$(stat -c %s "$LOG")
        tlogin "$@" "SELECT 1" >/dev/null
        for _ in $(seq 1 50); do
            line="$(tail -c +$((off + 1)) "$LOG" | grep -m1 'pg_idp: login refused' || true)"
            [ -n "$line" ] && break
            sleep 0.1
        done
        echo "$line" | grep -oE 'pg_idp error code: [a-z_]+' | sed 's/pg_idp error code: //'
    }
    cp "$PGDATA_DIR/pg_hba.conf" "$TN/pg_hba.conf.saved"
    cat >"$PGDATA_DIR/pg_hba.conf" <<HBA
local all postgres trust
local replication postgres trust
local all fresh_user,app_user oauth issuer="https://fresh.test" scope="openid" delegate_ident_mapping=1
local all victim_super oauth issuer="https://mine.test" scope="openid" delegate_ident_mapping=1
local all all trust
HBA
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA_DIR/pg_hba.conf"
    q -c "CREATE ROLE fresh_user LOGIN" -c "CREATE ROLE victim_super LOGIN SUPERUSER" -c "SELECT pg_reload_conf()" >/dev/null
    q -d newdb -c "GRANT USAGE ON SCHEMA idp TO fresh_user" >/dev/null
    check "tenant: ... and logs in there (OAuth), with no restart" "user_fresh|fresh_user" \
        "$(poll_tlogin "user_fresh|fresh_user" newdb fresh_user "$FRESH" "SELECT idp.requesting_user_id(), current_user")"

    say "tenant owner: a forged login snapshot (PostgreSQL 18)"
    q -c "CREATE ROLE mallory2 LOGIN" -c "CREATE DATABASE tenant2 OWNER mallory2" >/dev/null
    FORGE_SECRET="forged-by-the-tenant-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    FORGED_BODY="{\"provider\": \"mine\", \"issuer\": \"https://mine.test\", \"secret\": \"$FORGE_SECRET\", \"login\": {\"roles\": [\"victim_super\"], \"audience\": \"urn:tenant:db\"}}"
    q -d tenant2 -U mallory2 -f - >/dev/null <<SQL || FAILED=$((FAILED + 1))
CREATE SCHEMA idp;
CREATE TABLE idp.provider_registry (name text PRIMARY KEY, config jsonb);
INSERT INTO idp.provider_registry VALUES ('mine', '$FORGED_BODY');
SQL
    MINE="$("$PG_IDP" mint --alg HS256 --secret "$FORGE_SECRET" --no-kid --claims '{"iss":"https://mine.test","sub":"mallory2","aud":"urn:tenant:db"}')"
    sleep 2
    check "tenant: no snapshot is written from the tenant's own idp.provider_registry (no entry for her database)" "no no entry" \
        "$([ -e "$PGDATA_DIR/pg_idp/$(oid_of tenant2).json" ] && echo yes || echo no) $(wait_gone tenant2)"
    check "tenant: her token does not log in as a superuser (registry_unavailable)" "registry_unavailable" \
        "$(refused_code tenant2 victim_super "$MINE")"
    # Control: the same body registered by the superuser where pg_idp is installed does let the
    # same token in: the refusal above is the boundary, not a broken login.
    q -c "CREATE DATABASE legit" >/dev/null
    q -d legit -c "CREATE EXTENSION pg_idp" -c "SELECT idp.register_provider('$FORGED_BODY')" >/dev/null
    check "tenant: control: registered by the superuser, the same token logs in as victim_super" "victim_super|t" \
        "$(poll_tlogin "victim_super|t" legit victim_super "$MINE" "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")"
    q -d legit -c "SELECT idp.unregister_provider('mine')" >/dev/null

    say "tenant owner: snapshots follow the database's state (PostgreSQL 18)"
    q -d legit -c "SELECT idp.register_provider(jsonb_build_object('provider', 'fresh', 'issuer', 'https://fresh.test', 'jwks', pg_read_file('$TN/fresh.jwks.json')::jsonb, 'login', '{\"roles\": [\"app_user\"], \"audience\": \"urn:tenant:db\"}'::jsonb))" \
        -c "GRANT USAGE ON SCHEMA idp TO app_user" >/dev/null
    check "tenant: control: a login to legit works" "user_fresh" \
        "$(poll_tlogin user_fresh legit app_user "$FRESH" "SELECT idp.requesting_user_id()")"
    q -c "ALTER SYSTEM SET idp.worker_database = 'app'" -c "SELECT pg_reload_conf()" >/dev/null
    check "tenant: a database no longer allowed loses its snapshot at once" "not_served" \
        "$(for _ in $(seq 1 50); do [ -e "$PGDATA_DIR/pg_idp/$(oid_of legit).json" ] || { echo not_served; break; }; sleep 0.1; done)"
    check "tenant: ... and its logins are refused (registry_unavailable)" "registry_unavailable" \
        "$(refused_code legit app_user "$FRESH")"
    q -c "ALTER SYSTEM RESET idp.worker_database" -c "SELECT pg_reload_conf()" >/dev/null
    check "tenant: allowed again, it is served again" "user_fresh" \
        "$(poll_tlogin user_fresh legit app_user "$FRESH" "SELECT idp.requesting_user_id()")"
    q -d legit -c "SELECT idp.revoke_user('fresh', 'user_fresh')" >/dev/null
    check "tenant: a revocation reaches logins" "revoked" \
        "$(for _ in $(seq 1 50); do c="$(refused_code legit app_user "$FRESH")"; [ "$c" = revoked ] && break; sleep 0.1; done; echo "$c")"
    q -d legit -c "SELECT idp.unrevoke_user('fresh', 'user_fresh')" >/dev/null
    q -c "ALTER DATABASE legit OWNER TO mallory3" >/dev/null

    say "tenant owner: the database's own settings (ALTER DATABASE ... SET by its owner)"
    # M2: revocation times must not be read as text under the owner's extra_float_digits.
    q -d legit -U mallory3 -c "ALTER DATABASE legit SET extra_float_digits = -11" -c "ALTER DATABASE legit SET DateStyle = 'SQL, DMY'" \
        -c "ALTER DATABASE legit SET role = mallory3" -c "ALTER DATABASE legit SET session_authorization = mallory3" -c "ALTER DATABASE legit SET search_path = public, idp" >/dev/null
    check "tenant: control: the owner's settings are in force in a session (epoch as text, current_user)" "e+09 mallory3" \
        "$(q -d legit -c "SELECT date_part('epoch', now())::text" | grep -oE 'e\+09') $(q -d legit -c "SELECT current_user")"
    restart_primary
    check "tenant: after a restart under those settings, legit is served" "serving" "$(wait_state legit serving)"
    EARLY="$("$PG_IDP" mint --key "$TN/fresh.key.json" --claims '{"iss":"https://fresh.test","sub":"user_early","aud":"urn:tenant:db"}' --iat -600)"
    check "tenant: control: a token issued 10 minutes ago logs in" "user_early" \
        "$(poll_tlogin user_early legit app_user "$EARLY" "SELECT idp.requesting_user_id()")"
    q -d legit -c "SET ROLE NONE" -c "SELECT idp.revoke_user('fresh', 'user_early')" >/dev/null
    check "tenant: revoked now, a token issued 10 minutes before is refused (the time is read typed)" "revoked" \
        "$(for _ in $(seq 1 50); do c="$(refused_code legit app_user "$EARLY")"; [ "$c" = revoked ] && break; sleep 0.1; done; echo "$c")"
    check "tenant: the jobs ran as the superuser, not as the role the owner set (none failed)" "0" \
        "$(grep -cE 'pg_idp: (job in database "legit" failed|database "legit" is not served)' "$LOG")"
    q -d legit -U mallory3 -c "ALTER DATABASE legit RESET ALL" >/dev/null

    say "tenant owner: a snapshot no launcher vouches for is refused (PostgreSQL 18)"
    check "tenant: control: a login to legit works" "user_fresh" \
        "$(poll_tlogin user_fresh legit app_user "$FRESH" "SELECT idp.requesting_user_id()")"
    q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_idp launcher'" >/dev/null
    check "tenant: with the launcher stopped, logins are refused (registry_unavailable)" "registry_unavailable" \
        "$(refused_code legit app_user "$FRESH")"
    got=""
    for _ in $(seq 1 300); do got="$(tlogin legit app_user "$FRESH" "SELECT idp.requesting_user_id()")"; [ "$got" = user_fresh ] && break; sleep 0.1; done
    check "tenant: the launcher is started again, and logins work again" "user_fresh" "$got"

    say "tenant owner: the snapshot goes with the extension (PostgreSQL 18)"
    q -d newdb -c "DROP EXTENSION pg_idp" >/dev/null
    check "tenant: DROP EXTENSION: the database's snapshot is removed at once, and its record and entry with it" "no entry no 0" \
        "$(wait_gone newdb) $([ -e "$PGDATA_DIR/pg_idp/$(oid_of newdb).json" ] && echo yes || echo no) $(q -c "SELECT count(*) FROM pg_seclabels WHERE objname = 'newdb'")"
    check "tenant: ... and its logins are refused (registry_unavailable)" "registry_unavailable" \
        "$(refused_code newdb fresh_user "$FRESH")"
    cp "$TN/pg_hba.conf.saved" "$PGDATA_DIR/pg_hba.conf"
    q -c "SELECT pg_reload_conf()" >/dev/null
fi
check "tenant: DROP DATABASE of a served database is not held up by pg_idp's jobs" "ok" \
    "$(q -c "DROP DATABASE IF EXISTS newdb" -c "DROP DATABASE legacy" >/dev/null 2>&1 && echo ok || echo failed)"
check "tenant: the launcher forgets dropped databases" "0" \
    "$(sleep 1.5; q -d app -c "SELECT count(*) FROM idp.served_databases() s WHERE NOT EXISTS (SELECT 1 FROM pg_database d WHERE d.oid = s.datid)")"
# A job reports its own failures (the WARNING); one that exits with code 1 was ended by SIGTERM
# (a restart, the launcher stopping), as PostgreSQL ends a background worker.
check "tenant: no pg_idp job failed, and no pg_idp process crashed" "0" \
    "$(grep -cE 'pg_idp: job in database .* failed|background worker "pg_idp (job|launcher)" \(PID [0-9]+\) was terminated by signal' "$LOG")"
kill "$TN_HTTP" 2>/dev/null
q -c "DROP DATABASE tenant" -c "DROP DATABASE IF EXISTS tenant2" -c "DROP DATABASE IF EXISTS legit" >/dev/null 2>&1
