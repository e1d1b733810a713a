# shellcheck shell=bash
# Logging in with a provider's token (PostgreSQL 18: pg_idp as the OAuth validator).
#
# Which client, and why:
# - Real clients with tokens a real provider issued (the main path): psql, psycopg 3 and a plain
#   libpq program (tests/oauth/oauth_client.c with no hook set: PQconnectdb alone) run libpq's own
#   OAuth flow, the device flow, against the test OpenID Provider (tests/oidc: oidc-provider over
#   HTTPS, the CA trusted through the system store in a private mount namespace); headless
#   Chromium plays the person (tests/oidc/person.mjs). Covers: psql's prompt; alice and bob
#   logged in, RLS on todos showing each their own rows; a login per key family (RS256, ES256,
#   PS256, EdDSA: one per client); the identity functions and system_user; and the refusals that
#   happen on the way: a denied consent, an expired device code, a user whose token lacks the
#   role claim, and a client that does not trust the provider's certificate.
# - The hook client (tests/oauth/oauth_client.c handing the token over through
#   PQsetAuthDataHook, as PostgreSQL's own oauth_hook_client does) with tokens minted by pg-idp:
#   wherever the token must be of a shape or a key no provider would issue on request: expired,
#   forged, wrong audience, unknown issuer, a shared-secret (HS256) provider, revoked users and
#   deprovisioned ones (a chosen sub and iat), role claims naming other roles, subs that
#   pg_ident.conf maps to privileged roles, keys rotated with set_jwks and providers registered
#   after start, and the cases that need many logins or a long-lived session: the session
#   identity (request tokens override it, a request that sets request.jwt to '' or PostgREST's
#   headers without a token is anonymous, it expires with the token, revocation and
#   deprovisioning reach it, parallel workers see it), 20 concurrent logins with one token, a
#   standby, two databases with different providers, and idp.log_failures (off, and the bound of
#   idp.log_failures_max lines per window).
# Authorization, not only authentication (each with its control): the token's issuer must be the
# one the pg_hba.conf line names (an identifier, or a discovery URL of either kind); a provider
# with login must name an audience (login.audience, by default its audience), and a login token
# issued for another API is refused; every scope the line names but OpenID Connect's own must be
# in the token (scope, scp, or login.scope_claim); role claims that are arrays, groups mapped to
# roles (login.group_roles), and idp.groups() in the session; members of pg_monitor,
# pg_read_all_stats, pg_read_all_settings, pg_signal_backend, pg_maintain and
# pg_create_subscription refused unless named; a login provider stored by 0.5.0 without an
# audience, refused with a line saying what to set; idp.stats counting logins by reason. With
# libpq's own flow: a client whose token lacks the line's database scope, a token requested for
# another resource, and a second issuer on another line (a second OpenID Provider).
# The hook client's logins go through a line that names the token's issuer (use_line rewrites the
# oauth lines and reloads), as a correct configuration would; LINE_FOR overrides it where another
# issuer's line is the point.
# Also covered with it: which roles a token may become (delegate_ident_mapping=1 with
# login.roles and a role claim, a pg_ident.conf map; privileged roles refused unless named:
# superuser, BYPASSRLS, REPLICATION, CREATEROLE, pg_read_all_data directly and through another
# role, the owner of a table under enable_rls; the database's owner keeps pg_database_owner);
# every failure refused with a generic message, one log line with provider, kid and code, and no
# token or secret in the log; what the validator reads of the connection (src/oauth_shim.c: role,
# database, the line's mode) against what each client asked for, and a database that does not
# exist.
# Sourced by scripts/integration (check, q, fixture, the primary with `app`, todos, app_user).
say "login with a provider token (PostgreSQL 18 OAuth validator)"
if [ "$PG_VERSION" -lt 18 ]; then
    echo "skip - oauth: skipped on PostgreSQL $PG_VERSION (<18 has no OAuth validator modules)"
    return 0
fi

[ -n "${PG_IDP:-}" ] || build_cli
# The real provider (tests/oidc/provider.mjs): its issuer is the one pg_hba.conf names.
# shellcheck source=../oidc/provider.sh
source "$ROOT/tests/oidc/provider.sh"
if ! why="$(oidc_available)"; then
    echo "not ok - oauth: $why"; FAILED=$((FAILED + 1)); return 0
fi
chmod 755 "$WORK"
oidc_init "$WORK/oauth_idp" && oidc_start \
    || { echo "not ok - oauth: start the test OpenID Provider"; FAILED=$((FAILED + 1)); return 0; }
OAUTH_CLIENT="$WORK/oauth_client"
cc -O2 -I"$("$PG_CONFIG" --includedir)" "$ROOT/tests/oauth/oauth_client.c" -L"$("$PG_CONFIG" --libdir)" \
    -Wl,-rpath,"$("$PG_CONFIG" --libdir)" -lpq -o "$OAUTH_CLIENT" || { echo "not ok - oauth: build the client"; FAILED=$((FAILED + 1)); return 0; }
OK="$WORK/oauth"
mkdir -p "$OK"
for a in RS256 PS256 ES256 EdDSA; do "$PG_IDP" keygen --alg "$a" --kid "$a-1" --out "$OK/$a" >/dev/null 2>&1; done
"$PG_IDP" keygen --alg RS256 --kid RS256-2 --out "$OK/RS256b" >/dev/null 2>&1
"$PG_IDP" keygen --alg ES256 --kid named-1 --out "$OK/named" >/dev/null 2>&1
# The public key sets are read by the server (pg_read_file); the private keys stay 0600.
chmod 755 "$WORK" "$OK"; chmod 644 "$OK"/*.jwks.json
HS_SECRET="oauth-login-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# login_rs: the app's provider (roles app_user and super_named; its users' rows are in todos).
q -d app -f - <<SQL >/dev/null || FAILED=$((FAILED + 1))
-- oidc: the real provider, discovered; its access tokens must carry db_role = the role asked for.
SET idp.tls_ca_file = '$OIDC_CA';
SELECT idp.discover('$OIDC_ISSUER', 'oidc', '{"audience": "urn:pg-idp:app", "claim_mapping": {"email": "email"},
  "login": {"roles": ["app_user"], "role_claim": "db_role"}}');
-- The crafted-token providers: their login tokens are for urn:pg-idp:db (login.audience).
SELECT idp.register_provider(jsonb_build_object('provider', 'login_rs', 'issuer', 'https://rs.login.test',
  'claim_mapping', '{"email": "email"}'::jsonb, 'jwks', pg_read_file('$OK/RS256.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user", "super_named"]}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_ps', 'issuer', 'https://ps.login.test',
  'jwks', pg_read_file('$OK/PS256.jwks.json')::jsonb, 'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user"]}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_es', 'issuer', 'https://es.login.test',
  'jwks', pg_read_file('$OK/ES256.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user", "mapped_user"], "role_claim": "db_role"}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_ed', 'issuer', 'https://ed.login.test',
  'jwks', pg_read_file('$OK/EdDSA.jwks.json')::jsonb, 'login', '{"audience": "urn:pg-idp:db"}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_hs', 'issuer', 'https://hs.login.test',
  'audience', 'db-login', 'secret', '$HS_SECRET', 'leeway_seconds', 0, 'login', '{"roles": ["app_user"]}'::jsonb));
CREATE ROLE mapped_user LOGIN;
CREATE ROLE super_login LOGIN SUPERUSER;
CREATE ROLE super_named LOGIN SUPERUSER;
CREATE ROLE bypass_login LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA idp TO mapped_user, bypass_login;
GRANT SELECT, INSERT ON todos TO mapped_user, bypass_login;
-- Privileged roles, each refused unless login.roles names it: login_ed's tokens
-- (login {}) reach them through the pg_ident.conf map; login_named's name them in login.roles.
SELECT idp.register_provider(jsonb_build_object('provider', 'login_named', 'issuer', 'https://named.login.test',
  'jwks', pg_read_file('$OK/named.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["repl_login", "createrole_login", "readall_login", "readall_via_login", "owner_login", "monitor_login", "viasuper_login"]}'::jsonb));
CREATE ROLE repl_login LOGIN REPLICATION;
CREATE ROLE createrole_login LOGIN CREATEROLE;
CREATE ROLE readall_login LOGIN IN ROLE pg_read_all_data;
CREATE ROLE readers NOLOGIN IN ROLE pg_read_all_data;
CREATE ROLE readall_via_login LOGIN IN ROLE readers;
-- The predefined roles added in 0.6.0: each member refused unless named (monitor_login is named
-- by login_named, as the control).
CREATE ROLE monitor_login LOGIN IN ROLE pg_monitor;
CREATE ROLE readstats_login LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE readsettings_login LOGIN IN ROLE pg_read_all_settings;
CREATE ROLE signal_login LOGIN IN ROLE pg_signal_backend;
CREATE ROLE maintain_login LOGIN IN ROLE pg_maintain;
CREATE ROLE subscription_login LOGIN IN ROLE pg_create_subscription;
GRANT USAGE ON SCHEMA idp TO monitor_login;
-- Members of a role with an attribute (SET ROLE reaches it), each refused unless named:
-- viasuper_login is named by login_named, as the control; viasuper2_login is reached through a group.
CREATE ROLE adm_group NOLOGIN SUPERUSER;
CREATE ROLE bypass_group NOLOGIN BYPASSRLS;
CREATE ROLE repl_group NOLOGIN REPLICATION;
CREATE ROLE createrole_group NOLOGIN CREATEROLE;
CREATE ROLE viasuper_login LOGIN IN ROLE adm_group;
CREATE ROLE viabypass_login LOGIN IN ROLE bypass_group;
CREATE ROLE viarepl_login LOGIN IN ROLE repl_group;
CREATE ROLE viacreaterole_login LOGIN IN ROLE createrole_group;
CREATE ROLE viasuper2_login LOGIN IN ROLE adm_group;
-- The owner of a table under enable_rls, with three users' rows in it: owners bypass RLS.
CREATE ROLE owner_login LOGIN;
GRANT USAGE ON SCHEMA idp TO owner_login;
CREATE TABLE owned_notes (id serial PRIMARY KEY, user_id text NOT NULL DEFAULT idp.requesting_user_id(), body text);
INSERT INTO owned_notes (user_id, body) VALUES ('user_2alice', 'a'), ('user_2bob', 'b'), ('user_2carol', 'c');
ALTER TABLE owned_notes OWNER TO owner_login;
SELECT idp.enable_rls('owned_notes');
-- The owner of app2 logs in there (pg_database_owner must stay its own).
CREATE ROLE dbowner_login LOGIN;
SQL
createdb -h "$PGHOST" -p "$PGPORT" -U postgres app2
q -d app2 -f - <<SQL >/dev/null || FAILED=$((FAILED + 1))
CREATE EXTENSION pg_idp;
SELECT idp.register_provider(jsonb_build_object('provider', 'other', 'issuer', 'https://other.login.test',
  'jwks', pg_read_file('$OK/EdDSA.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user", "dbowner_login"]}'::jsonb));
GRANT USAGE ON SCHEMA idp TO app_user, dbowner_login;
ALTER DATABASE app2 OWNER TO dbowner_login;
SQL
# Who may log in how: app_user, super_login and super_named with delegate_ident_mapping=1 (pg_idp
# decides), mapped_user and bypass_login through a pg_ident.conf map; postgres and the rest as before.
# The oauth lines name one issuer and scope at a time: the real provider's to begin with; use_line
# (below) switches them.
LINE_ISSUER="$OIDC_ISSUER" LINE_SCOPE="openid db"
PRIVILEGED_ROLES="repl_login,createrole_login,readall_login,readall_via_login,owner_login,monitor_login,readstats_login,readsettings_login,signal_login,maintain_login,subscription_login,viasuper_login,viabypass_login,viarepl_login,viacreaterole_login"
write_hba() { # data directory
    local opts="issuer=\"$LINE_ISSUER\" scope=\"$LINE_SCOPE\""
    cat >"$1/pg_hba.conf" <<HBA
local all postgres trust
local replication postgres trust
${EXTRA_HBA:-}
local all app_user,super_login,super_named,dbowner_login,analyst_login,admin_login,viasuper2_login oauth $opts delegate_ident_mapping=1
local all mapped_user,bypass_login oauth $opts map=oauth
local all $PRIVILEGED_ROLES oauth $opts map=oauth
local all all trust
HBA
    [ "$(id -u)" -eq 0 ] && chown postgres: "$1/pg_hba.conf"
}
write_hba "$PGDATA_DIR"
cat >"$PGDATA_DIR/pg_ident.conf" <<'IDENT'
oauth  login_ed:user_mapped  mapped_user
oauth  login_ed:user_bypass  bypass_login
oauth  login_ed:user_repl  repl_login
oauth  login_ed:user_createrole  createrole_login
oauth  login_ed:user_readall  readall_login
oauth  login_ed:user_readall_via  readall_via_login
oauth  login_ed:user_owner  owner_login
oauth  login_ed:user_monitor  monitor_login
oauth  login_ed:user_readstats  readstats_login
oauth  login_ed:user_readsettings  readsettings_login
oauth  login_ed:user_signal  signal_login
oauth  login_ed:user_maintain  maintain_login
oauth  login_ed:user_subscription  subscription_login
oauth  login_ed:user_viasuper  viasuper_login
oauth  login_ed:user_viabypass  viabypass_login
oauth  login_ed:user_viarepl  viarepl_login
oauth  login_ed:user_viacreaterole  viacreaterole_login
oauth  /^login_named:(.*_login)$  \1
IDENT
[ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA_DIR/pg_ident.conf"
OAUTH_OPTS="-c shared_preload_libraries=pg_idp -c oauth_validator_libraries=pg_idp -c idp.worker_database=app -c idp.login_databases=app2 -c idp.check_interval=1 -c idp.tls_ca_file=$OIDC_CA"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart \
    -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT $OAUTH_OPTS" >/dev/null \
    || { echo "not ok - oauth: restart with the validator"; FAILED=$((FAILED + 1)); return 0; }
LOG="$CLUSTER_DIR/server.log"

# mint ALG CLAIMS [mint options]: a token of that algorithm's provider (exp in an hour), for
# urn:pg-idp:db with scope "openid db" unless CLAIMS say otherwise ("aud": null, "scope": null:
# none).
with_login_defaults() { # claims
    python3 -c 'import json, sys
c = json.loads(sys.argv[1]); c.setdefault("aud", "urn:pg-idp:db"); c.setdefault("scope", "openid db")
print(json.dumps({k: v for k, v in c.items() if v is not None}))' "$1"
}
mint_login() {
    local alg="$1" claims; claims="$(with_login_defaults "$2")"; shift 2
    case "$alg" in
        HS256) printf '%s' "$HS_SECRET" | "$PG_IDP" mint --alg HS256 --secret-file - --no-kid --claims "$claims" "$@" ;;
        *) "$PG_IDP" mint --key "$OK/$alg.key.json" --claims "$claims" "$@" ;;
    esac
}
iss_of() { case "$1" in RS256) echo https://rs.login.test ;; PS256) echo https://ps.login.test ;;
    ES256) echo https://es.login.test ;; EdDSA) echo https://ed.login.test ;; HS256) echo https://hs.login.test ;; esac; }
# The (unverified) iss of a token, empty when it has none.
iss_of_token() {
    python3 -c 'import base64, json, sys
try:
    p = sys.argv[1].split(".")[1]
    print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))).get("iss", ""))
except Exception:
    pass' "$1"
}
# reload_and_wait HOST PORT: pg_reload_conf(), and wait until new sessions have the new files.
reload_and_wait() {
    local before now
    before="$("$PGBIN/psql" -X -qAt -h "$1" -p "$2" -U postgres -d postgres -c "SELECT pg_conf_load_time()")"
    "$PGBIN/psql" -X -qAt -h "$1" -p "$2" -U postgres -d postgres -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 100); do
        now="$("$PGBIN/psql" -X -qAt -h "$1" -p "$2" -U postgres -d postgres -c "SELECT pg_conf_load_time()")"
        [ "$now" != "$before" ] && break
        sleep 0.05
    done
}
# use_line ISSUER [SCOPE]: the oauth lines name ISSUER and SCOPE (default "openid db") on the
# primary and, while it runs, the standby. What the lines name is kept in a file, since logins
# run in subshells ($(login ...)): line_now reads it into LINE_ISSUER and LINE_SCOPE.
LINE_STATE="$OK/line.state"
printf '%s\n%s\n' "$LINE_ISSUER" "$LINE_SCOPE" >"$LINE_STATE"
line_now() { { read -r LINE_ISSUER; read -r LINE_SCOPE; } <"$LINE_STATE"; }
use_line() {
    local scope="${2:-openid db}"
    line_now
    [ "$1" = "$LINE_ISSUER" ] && [ "$scope" = "$LINE_SCOPE" ] && return 0
    LINE_ISSUER="$1" LINE_SCOPE="$scope"
    printf '%s\n%s\n' "$LINE_ISSUER" "$LINE_SCOPE" >"$LINE_STATE"
    write_hba "$PGDATA_DIR"; reload_and_wait "$PGHOST" "$PGPORT"
    if [ -n "${OAUTH_STANDBY:-}" ]; then
        write_hba "$OAUTH_STANDBY/data"; reload_and_wait "$OAUTH_STANDBY" "$OAUTH_STANDBY_PORT"
    fi
}
# What PostgreSQL tells a client of a line's issuer: its discovery URL (libpq maps it back to the
# issuer, which must be the client's oauth_issuer).
discovery_of() { case "$1" in */.well-known/*) echo "$1" ;; *) echo "$1/.well-known/openid-configuration" ;; esac; }
# login HOST PORT DB ROLE TOKEN [SQL...]: log in with the token through a line that names its
# issuer (LINE_FOR=ISSUER: through a line naming ISSUER instead; LINE_SCOPE_FOR=SCOPE: with that
# scope), print the answers.
login_at() {
    local host="$1" port="$2" db="$3" role="$4" token="$5" iss; shift 5
    iss="${LINE_FOR:-$(iss_of_token "$token")}"
    [ -n "$iss" ] && use_line "$iss" "${LINE_SCOPE_FOR:-openid db}"
    line_now
    PG_IDP_TOKEN="$token" "$OAUTH_CLIENT" "host=$host port=$port dbname=$db user=$role \
oauth_issuer=$(discovery_of "$LINE_ISSUER") oauth_client_id=pg_idp_tests" "$@" 2>&1
}
login() { login_at "$PGHOST" "$PGPORT" "$@"; }
# The first line of the log written since byte OFFSET that matches PATTERN, waited for.
log_since() { # offset pattern
    local line=""
    for _ in $(seq 1 50); do
        line="$(tail -c +"$(($1 + 1))" "$LOG" | grep -m1 -E "$2" || true)"
        [ -n "$line" ] && break
        sleep 0.1
    done
    echo "$line"
}
log_size() { stat -c %s "$LOG"; }
# log_setting NAME VALUE SHOWN: ALTER SYSTEM SET (RESET with an empty value), reload, and wait until new
# sessions show SHOWN for it.
log_setting() { # name value shown
    if [ -n "$2" ]; then q -d app -c "ALTER SYSTEM SET $1 = '$2'" >/dev/null
    else q -d app -c "ALTER SYSTEM RESET $1" >/dev/null; fi
    q -d app -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 50); do
        [ "$(q -d app -c "SELECT setting FROM pg_settings WHERE name = '$1'")" = "$3" ] && break
        sleep 0.1
    done
}
# Poll a login until it answers EXPECTED (at most SECONDS): for changes that reach the snapshot.
poll_via() { # login-function seconds expected login-args...
    local via="$1" secs="$2" want="$3" got=""; shift 3
    for _ in $(seq 1 $((secs * 10))); do
        got="$("$via" "$@")"
        [ "$got" = "$want" ] && break
        sleep 0.1
    done
    echo "$got"
}
poll_login() { poll_via login "$@"; }
# A provider registered now, in database app, whose tokens may log in as app_user, with a key of
# its own: new_login_provider NAME ISSUER ALG KID; its keys are in $OK/NAME.*.
new_login_provider() {
    "$PG_IDP" keygen --alg "$3" --kid "$4" --out "$OK/$1" >/dev/null 2>&1
    chmod 644 "$OK/$1.jwks.json"
    q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', '$1', 'issuer', '$2',
        'jwks', pg_read_file('$OK/$1.jwks.json')::jsonb, 'login', '{\"audience\": \"urn:pg-idp:db\", \"roles\": [\"app_user\"]}'::jsonb))" >/dev/null
}

# refused NAME CODE PROVIDER KID DB ROLE TOKEN: the client sees PostgreSQL's generic failure; the log
# has pg_idp's line with the code, provider and kid; neither the token nor its signature is logged.
refused() {
    local name="$1" code="$2" provider="$3" kid="$4" db="$5" role="$6" token="$7" off out line sig
    off="$(log_size)"
    out="$(login "$db" "$role" "$token" "SELECT 1")"
    line="$(log_since "$off" "pg_idp: login refused")"
    REFUSED_LINE="$line"
    sig="${token##*.}"
    check "oauth: $name: refused with a generic message" "OAuth bearer authentication failed for user \"$role\"" \
        "$(echo "$out" | grep -oE 'OAuth bearer authentication failed for user "[^"]*"' | head -n1)"
    check "oauth: $name: one log line naming provider, kid and code" "1 provider \"$provider\", kid \"$kid\", pg_idp error code: $code" \
        "$(tail -c +"$((off + 1))" "$LOG" | grep -c 'pg_idp: login refused') $(echo "$line" | grep -oE 'provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+')"
    check "oauth: $name: neither the token nor its signature in the log" "0" \
        "$(grep -cF -e "$token" -e "${sig:-no-signature}" "$LOG")"
}
# What idp.login_snapshot() reports under KEY in database DB, once it is VALUE (waited for).
wait_snapshot() { # db key value
    local n=""
    for _ in $(seq 1 100); do
        n="$(q -d "$1" -c "SELECT idp.login_snapshot()->>'$2'")"
        [ "$n" = "$3" ] && break
        sleep 0.1
    done
    echo "$n"
}

# The worker has written app's snapshot (and app2's) once it runs.
check "oauth: each login database has its snapshot, owner-only" "true true 600 700" \
    "$(wait_snapshot app readable true) $(wait_snapshot app2 readable true) \
$(stat -c %a "$(q -d app -c "SELECT idp.login_snapshot()->>'path'")") $(stat -c %a "$PGDATA_DIR/pg_idp")"

say "oauth: psql, psycopg and a plain libpq program log in with libpq's own OAuth flow (device flow; the person in Chromium)"
# libpq 18's built-in flow (libpq-oauth): it fetches the issuer's discovery document, asks for a
# device code, prints "Visit URL and enter the code: CODE", and polls the token endpoint until
# the person has signed in and allowed access; then it logs in with the access token. The person
# is tests/oidc/person.mjs in headless Chromium; each client runs in a mount namespace whose
# system CA bundle holds the test CA (oidc_trusting: libpq trusts nothing else), or, in a chroot
# where none can be made, with PGOAUTHDEBUG=UNSAFE and PGOAUTHCAFILE. Each client is
# registered at the provider with its own signing family: psql RS256, psql-es256 ES256, psycopg
# PS256, libpq-app EdDSA; idp.log_success's line shows the kid each login's token had.
DEV="$WORK/device"
mkdir -p "$DEV"
use_line "$OIDC_ISSUER"
echo "# oauth: libpq trusts the test CA through: $(oidc_trust_method) (see tests/oidc/provider.sh)"
q -d app -c "ALTER SYSTEM SET idp.log_success = on" -c "SELECT pg_reload_conf()" >/dev/null
PG18_LIBDIR="$("$PG_CONFIG" --libdir)"
conninfo() { echo "host=$PGHOST port=$PGPORT dbname=app user=app_user oauth_issuer=$OIDC_ISSUER oauth_client_id=$1"; }
WHO="SELECT idp.requesting_user_id(), current_user, system_user, count(*) FILTER (WHERE user_id = idp.requesting_user_id()), count(*) FILTER (WHERE user_id <> idp.requesting_user_id()) FROM todos"
# verified_kid SUB: the kid of idp.log_success's newest line for SUB from provider oidc.
verified_kid() { grep -E "pg_idp: token verified: provider=oidc kid=\"[^\"]*\" sub=\"$1\"" "$LOG" | tail -n1 | sed -E 's/.* kid="([^"]*)".*/\1/'; }
device_psql() { # user action out client sql...
    local user="$1" action="$2" out="$3" client="$4" args=() sql
    shift 4
    for sql in "$@"; do args+=(-c "$sql"); done
    oidc_device "$user" "$action" "$out" "$PGBIN/psql" -X -qAt "${args[@]}" "$(conninfo "$client")"
}
check "oauth: control: psql without the test CA in its trust store stops at the discovery document (libcurl's certificate check)" \
    "failed to fetch OpenID discovery document: SSL certificate problem" \
    "$("$PGBIN/psql" -X -At -c 'SELECT 1' "$(conninfo psql)" </dev/null 2>&1 | grep -oE 'failed to fetch OpenID discovery document|SSL certificate problem' | head -n2 | tr '\n' ' ' | sed 's/ $//; s/document /document: /')"
device_psql alice allow "$DEV/alice" psql "$WHO"
check "oauth: psql prints libpq's prompt: visit the provider's device page and enter the code" \
    "Visit $OIDC_ISSUER/device and enter the code: XXXX-XXXX" \
    "$(grep -oE 'Visit [^ ]+ and enter the code: [A-Z]{4}-[A-Z]{4}' "$DEV/alice.err" | sed -E 's/[A-Z]{4}-[A-Z]{4}$/XXXX-XXXX/')"
check "oauth: the person (Chromium) opens it, enters the code, signs in as alice and allows access" \
    "person: last page: \"Signed in\": You are signed in: you can close this page." "$(tail -n1 "$DEV/alice.person")"
check "oauth: psql is logged in as alice (RS256 token): requesting_user_id, role, system_user; RLS shows her 2 rows and no one else's" \
    "user_2alice|app_user|oauth:oidc:user_2alice|2|0 rs-1" "$(cat "$DEV/alice") $(verified_kid user_2alice)"
device_psql bob allow "$DEV/bob" psql "$WHO"
check "oauth: a second user: psql logged in as bob sees his 3 rows and no one else's" \
    "user_2bob|app_user|oauth:oidc:user_2bob|3|0 rs-1" "$(cat "$DEV/bob") $(verified_kid user_2bob)"
device_psql alice allow "$DEV/alice_es" psql-es256 "SELECT idp.provider(), idp.email()" \
    "INSERT INTO todos (title) VALUES ('from psql') RETURNING user_id, title"
check "oauth: psql (client psql-es256, ES256 token): the identity functions, and a row inserted with the default user_id" \
    "oidc|alice@example.com user_2alice|from psql es-1" "$(tr '\n' ' ' <"$DEV/alice_es")$(verified_kid user_2alice)"
oidc_device alice allow "$DEV/psycopg" env PSYCOPG_IMPL=python LD_LIBRARY_PATH="$PG18_LIBDIR" \
    "$ROOT/examples/.venv/bin/python" "$ROOT/tests/oidc/psycopg_login.py" "$(conninfo psycopg)" "$WHO"
check "oauth: psycopg 3 (pure Python, with PostgreSQL 18's libpq) logs in as alice through the same flow (PS256 token)" \
    "libpq $(q -c 'SHOW server_version_num') $(readlink -f "$PG18_LIBDIR/libpq.so.5") user_2alice|app_user|oauth:oidc:user_2alice|3|0 ps-1" \
    "$(head -n1 "$DEV/psycopg" | grep -oE 'libpq [0-9]+ [^ ]+$') $(sed -n 2p "$DEV/psycopg") $(verified_kid user_2alice)"
# The plain libpq program: tests/oauth/oauth_client.c without PG_IDP_TOKEN sets no hook at all,
# so PQconnectdb runs libpq's own flow, as any libpq application does.
oidc_device bob allow "$DEV/libpq" env -u PG_IDP_TOKEN "$OAUTH_CLIENT" "$(conninfo libpq-app)" "$WHO"
check "oauth: a plain libpq program (PQconnectdb, no hook) logs in as bob through the same flow (EdDSA token)" \
    "user_2bob|app_user|oauth:oidc:user_2bob|3|0 ed-1" "$(cat "$DEV/libpq") $(verified_kid user_2bob)"
check "oauth: the device-flow logins left no access token in the server log" "0" \
    "$(grep -c 'eyJ[A-Za-z0-9_-]*\.eyJ' "$LOG")"

say "oauth: the device flow refused: consent denied, the device code expired, a user whose role is not allowed"
# Every device-flow login starts with a connection that only asks the server where to get a token
# (libpq has none yet): PostgreSQL answers with the issuer's discovery URL and the scope of
# pg_hba.conf, and logs that connection as "FATAL: OAuth bearer authentication failed" (with no
# "Validator failed" line: no token was presented). When the flow fails at the provider, that is
# all the server sees.
# server_saw OFFSET: the log since OFFSET: FATAL lines, validator failures, pg_idp lines.
server_saw() { tail -c +"$(($1 + 1))" "$LOG" | awk '/FATAL:  OAuth bearer authentication failed/ { f++ } /Validator failed/ { v++ } /pg_idp: login refused/ { p++ }
    END { printf "%d FATAL, %d validator, %d pg_idp\n", f, v, p }'; }
off="$(log_size)"
device_psql alice deny "$DEV/deny" psql "SELECT 1"; rc=$?
check "oauth: consent denied: psql fails with the provider's access_denied; the provider logs the denial" \
    "2 failed to obtain access token: the user denied access (access_denied) 1" \
    "$rc $(grep -oE 'failed to obtain access token: .*\(access_denied\)' "$DEV/deny.err") $(grep -c 'grant.error client=psql error=access_denied' "$OIDC_DIR/provider.log")"
check "oauth: ... the server saw the discovery connection only" "1 FATAL, 0 validator, 0 pg_idp" "$(sleep 0.2; server_saw "$off")"
off="$(log_size)"
device_psql nobody none "$DEV/expired" psql-short "SELECT 1"; rc=$?
check "oauth: the device code expired (nobody came within 3 s): psql fails with expired_token; the provider logs it" \
    "2 (expired_token) 1" \
    "$rc $(grep -oE '\(expired_token\)' "$DEV/expired.err") $(grep -c 'grant.error client=psql-short error=expired_token' "$OIDC_DIR/provider.log")"
check "oauth: ... the server saw the discovery connection only" "1 FATAL, 0 validator, 0 pg_idp" "$(sleep 0.2; server_saw "$off")"
off="$(log_size)"
device_psql carol allow "$DEV/carol" psql "SELECT 1"; rc=$?
check "oauth: carol signs in and allows, but her token has no db_role: refused with PostgreSQL's generic message" \
    "2 FATAL:  OAuth bearer authentication failed for user \"app_user\"" \
    "$rc $(grep -oE 'FATAL: +OAuth bearer authentication failed for user "app_user"' "$DEV/carol.err" | head -n1)"
check "oauth: ... and the server logs pg_idp's line: provider oidc, kid rs-1, role_not_allowed" \
    "provider \"oidc\", kid \"rs-1\", pg_idp error code: role_not_allowed" \
    "$(log_since "$off" 'pg_idp: login refused for role "app_user"' | grep -oE 'provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+')"
say "oauth: libpq's own flow, refused where the client is not authorized: the line's scope, another resource, another issuer"
# device_refusal NAME OUT CLIENT-CONNINFO CODE: a device-flow login (alice allows) that the
# validator refuses: psql fails with PostgreSQL's generic message, the log has pg_idp's line.
device_refusal() { # name out conninfo code
    local off rc
    off="$(log_size)"
    oidc_device alice allow "$DEV/$2" "$PGBIN/psql" -X -qAt -c "SELECT 1" "$3"; rc=$?
    check "oauth: $1: psql fails with PostgreSQL's generic message" \
        "2 FATAL:  OAuth bearer authentication failed for user \"app_user\"" \
        "$rc $(grep -oE 'FATAL: +OAuth bearer authentication failed for user "app_user"' "$DEV/$2.err" | head -n1)"
    check "oauth: $1: the server's line names the provider, the kid and $4" \
        "provider \"$5\", kid \"rs-1\", pg_idp error code: $4" \
        "$(log_since "$off" 'pg_idp: login refused for role "app_user"' | grep -oE 'provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+')"
}
# The client asks for less than the line's scope (a connection's oauth_scope overrides the scope
# the server advertises): the provider grants "read", not "db".
device_refusal "a client whose token lacks the line's database scope (it asked for openid read)" noscope \
    "$(conninfo psql) oauth_scope='openid read'" insufficient_scope oidc
check "oauth: ... the log line says which scope is missing" "1" \
    "$(grep 'pg_idp: login refused for role "app_user"' "$LOG" | tail -n1 | grep -c 'lacks scope "db" that the pg_hba.conf line requires (scope="openid db") in its scope and scp claims: it has "read"')"
# A token requested for another resource of the same provider: psql-billing's tokens are for
# urn:pg-idp:billing.
device_refusal "a token issued for another resource (urn:pg-idp:billing)" billing "$(conninfo psql-billing)" invalid_audience oidc
# A second OpenID Provider (another issuer), registered in both databases (its tokens may log in
# as app_user); the line for app2 names it, app's names the first. Same TLS certificate, so the
# person's browser trusts both.
OIDC2_DIR="$WORK/oauth_idp2"
mkdir -p "$OIDC2_DIR" && cp -r "$OIDC_DIR/tls" "$OIDC_DIR/client_secret" "$OIDC2_DIR/" && chmod 755 "$OIDC2_DIR"
OIDC2_PORT="$(free_port)"
OIDC2_ISSUER="https://127.0.0.1:$OIDC2_PORT"
"$OIDC_NODE" "$ROOT/tests/oidc/provider.mjs" "$OIDC2_DIR" "$OIDC2_PORT" >>"$OIDC2_DIR/provider.log" 2>&1 &
OIDC2_PID=$!
for _ in $(seq 1 300); do [ -f "$OIDC2_DIR/state.json" ] && break; sleep 0.1; done
for db in app app2; do
    q -d "$db" -c "SET idp.tls_ca_file = '$OIDC_CA'" -c "SELECT idp.discover('$OIDC2_ISSUER', 'oidc2', '{\"audience\": \"urn:pg-idp:app\",
      \"login\": {\"roles\": [\"app_user\"]}}')" >/dev/null || FAILED=$((FAILED + 1))
done
EXTRA_HBA="local app2 app_user oauth issuer=\"$OIDC2_ISSUER\" scope=\"openid db\" delegate_ident_mapping=1"
line_now; write_hba "$PGDATA_DIR"; reload_and_wait "$PGHOST" "$PGPORT"
for db in app app2; do
    for _ in $(seq 1 100); do
        [ "$(q -d "$db" -c "SELECT idp.login_snapshot()->'login_providers' ? 'oidc2'")" = t ] && break; sleep 0.1
    done
done
conninfo2() { echo "host=$PGHOST port=$PGPORT dbname=$1 user=app_user oauth_issuer=$2 oauth_client_id=psql"; }
oidc_device alice allow "$DEV/second" "$PGBIN/psql" -X -qAt -c "SELECT current_database(), system_user" \
    "$(conninfo2 app2 "$OIDC2_ISSUER")"
check "oauth: control: the second issuer's token logs in through its own line (app2)" "app2|oauth:oidc2:user_2alice" "$(cat "$DEV/second")"
# libpq's own flow never presents the second issuer's token through the first issuer's line: it
# asks the server first, and stops when the line's issuer is not its oauth_issuer (RFC 9207's
# mix-up defence), whether oauth_issuer is the issuer or its discovery URL.
check "oauth: libpq's own flow to app with the second issuer stops before any token (its mix-up defence)" \
    "is incompatible with oauth_issuer is incompatible with oauth_issuer" \
    "$(for i in "$OIDC2_ISSUER" "$OIDC2_ISSUER/.well-known/openid-configuration"; do
        "$PGBIN/psql" -X -qAt -c "SELECT 1" "$(conninfo2 app "$i")" </dev/null 2>&1 | grep -oE 'is incompatible with oauth_issuer' | head -n1
      done | tr '\n' ' ' | sed 's/ $//')"
# The server holds the line to it all the same: a token the second provider issued (client
# credentials), handed over by the hook client through app's line, which names the first issuer.
SECOND="$(OIDC_CLIENT_SECRET="$(cat "$OIDC2_DIR/client_secret")" "$OIDC_NODE" "$ROOT/tests/oidc/token.mjs" "$OIDC2_ISSUER" "$OIDC_CA" svc-rs256)"
LINE_FOR="$OIDC_ISSUER" refused "the second issuer's token through the first issuer's line" issuer_mismatch oidc2 rs-1 app app_user "$SECOND"
check "oauth: ... the line names both issuers" \
    "the token's issuer \"$OIDC2_ISSUER\" is not the one the pg_hba.conf line names (issuer=\"$OIDC_ISSUER\")" \
    "$(echo "$REFUSED_LINE" | grep -oE 'the token.s issuer "[^"]*" is not the one the pg_hba.conf line names \(issuer="[^"]*"\)' || echo "$REFUSED_LINE")"
check "oauth: control: the same token through a line naming the second issuer logs in" "svc-rs256|oidc2" \
    "$(LINE_FOR="$OIDC2_ISSUER" login app app_user "$SECOND" "SELECT idp.requesting_user_id(), idp.provider()")"
kill "$OIDC2_PID" 2>/dev/null; wait "$OIDC2_PID" 2>/dev/null
EXTRA_HBA=""
line_now; write_hba "$PGDATA_DIR"; reload_and_wait "$PGHOST" "$PGPORT"
for db in app app2; do q -d "$db" -c "SELECT idp.unregister_provider('oidc2')" >/dev/null; done

q -d app -c "ALTER SYSTEM RESET idp.log_success" -c "SELECT pg_reload_conf()" >/dev/null

say "oauth: crafted-token logins (the hook client): a shared-secret provider, a pg_ident.conf map"
check "oauth: HS256 (a shared secret, which no OpenID Provider publishes) login as app_user" "user_2alice|app_user|3|0" \
    "$(login app app_user "$(mint_login HS256 '{"iss":"https://hs.login.test","sub":"user_2alice","aud":"db-login"}')" \
        "SELECT idp.requesting_user_id(), current_user, count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos")"
check "oauth: EdDSA login as mapped_user through the pg_ident.conf map" "user_mapped|mapped_user|0|0" \
    "$(login app mapped_user "$(mint_login EdDSA '{"iss":"https://ed.login.test","sub":"user_mapped"}')" \
        "SELECT idp.requesting_user_id(), current_user, count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos")"
ALICE_LOGIN="$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","email":"alice@example.com"}')"
# Parallel workers get the login identity from the leader (idp.login_token is copied to them).
check "oauth: parallel workers see the login identity" "user_2alice|3" \
    "$(login app app_user "$ALICE_LOGIN" "SET debug_parallel_query = on" \
        "SELECT idp.requesting_user_id(), count(*) FROM todos WHERE user_id = idp.requesting_user_id()")"

say "oauth: the session identity: override, expiry, revocation and deprovisioning"
BOB="$(fixture clerk_bob)"
check "oauth: a request token overrides the login identity for its transaction, which then comes back" \
    "user_2alice user_2bob user_2alice" \
    "$(login app app_user "$ALICE_LOGIN" "SELECT idp.requesting_user_id()" "BEGIN" \
        "SELECT set_config('request.jwt', '$BOB', true) IS NULL" "SELECT idp.requesting_user_id()" "COMMIT" \
        "SELECT idp.requesting_user_id()" | grep -v '^f$' | tr '\n' ' ' | sed 's/ $//')"
# A request without a token is anonymous, whatever the connection logged in with: one that sets
# request.jwt to '' (examples/todos without a token) or PostgREST's request.headers without an
# Authorization header sees no rows; the login identity answers only while the session has set
# neither (a SET LOCAL ends with its transaction, COMMIT included).
check "oauth: the login identity, then request.jwt = '' (anonymous, no rows), then the login identity again after COMMIT" \
    "user_2alice|3 t|0 user_2alice|3" \
    "$(login app app_user "$ALICE_LOGIN" "SELECT idp.requesting_user_id(), count(*) FROM todos" "BEGIN" \
        "SELECT set_config('request.jwt', '', true) IS NULL" "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos" \
        "COMMIT" "SELECT idp.requesting_user_id(), count(*) FROM todos" | grep -v '^f$' | tr '\n' ' ' | sed 's/ $//')"
check "oauth: PostgREST's request.headers without an Authorization header: anonymous, no rows; then the login identity" \
    "t|0 t|0 user_2alice|3" \
    "$(login app app_user "$ALICE_LOGIN" "BEGIN" \
        "SELECT set_config('request.headers', '{\"accept\": \"application/json\", \"user-agent\": \"curl/8\"}', true) IS NULL" \
        "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos" "COMMIT" \
        "BEGIN" "SELECT set_config('request.headers', '{\"accept\": \"application/json\"}', true) IS NULL" \
        "SELECT set_config('request.jwt', '', true) IS NULL" "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos" "ROLLBACK" \
        "SELECT idp.requesting_user_id(), count(*) FROM todos" | grep -v '^f$' | tr '\n' ' ' | sed 's/ $//')"
check "oauth: a session-level SET request.jwt = '' stays anonymous until RESET" "t|0 t|0 user_2alice" \
    "$(login app app_user "$ALICE_LOGIN" "SET request.jwt = ''" "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos" \
        "BEGIN" "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos" "COMMIT" "RESET request.jwt" \
        "SELECT idp.requesting_user_id()" | tr '\n' ' ' | sed 's/ $//')"
check "oauth: the login token cannot be changed (55P02) or read (42501) by the session" "error: 55P02 error: 42501" \
    "$(login app app_user "$ALICE_LOGIN" "SET idp.login_token = 'x'" "SHOW idp.login_token" | grep -oE '^error: [0-9A-Z]{5}' | tr '\n' ' ' | sed 's/ $//')"
check "oauth: a client cannot give its own login token in the startup options" "FATAL" \
    "$(PG_IDP_TOKEN='' "$OAUTH_CLIENT" "host=$PGHOST port=$PGPORT dbname=app user=postgres options='-c idp.login_token=abc'" "SELECT 1" | grep -o FATAL | head -n1)"
# send FD LINE: a statement to a session fed through a fifo. In a subshell: when the session has
# already ended (its login was refused), the write's SIGPIPE ends only the subshell, and the
# checks below report the failure instead of the suite dying.
send() { (echo "$2" >&"$1") 2>/dev/null || true; }
# Short-lived tokens (Clerk's live 60 s): the identity ends with the token, as for a request token.
SHORT="$(mint_login HS256 '{"iss":"https://hs.login.test","sub":"user_short","aud":"db-login"}' --exp 2)"
mkfifo "$OK/short.in"
login app app_user "$SHORT" <"$OK/short.in" >"$OK/short.out" &
short_pid=$!
exec 6>"$OK/short.in"
send 6 "SELECT idp.requesting_user_id()"
for _ in $(seq 1 50); do grep -q user_short "$OK/short.out" 2>/dev/null && break; sleep 0.1; done
sleep_until=$(( $(date +%s) + 3 )); while [ "$(date +%s)" -lt "$sleep_until" ]; do sleep 0.2; done
send 6 "SELECT idp.requesting_user_id()"
send 6 "SELECT idp.email() IS NULL"
exec 6>&-
wait $short_pid
check "oauth: the login identity expires with its token (expired, 28000)" "user_short error 28000 expired" \
    "$(head -n2 "$OK/short.out" | sed -E 's/^error: ([0-9A-Z]{5}) .*pg_idp error code: ([a-z_]+)$/error \1 \2/' | tr '\n' ' ' | sed 's/ $//')"

# session_check NAME TOKEN ACTION: one session asks who it is, ACTION runs elsewhere, it asks again.
session_check() {
    local name="$1" token="$2" action="$3" out="$OK/$1.out"
    rm -f "$OK/$name.in"; mkfifo "$OK/$name.in"
    login app app_user "$token" <"$OK/$name.in" >"$out" &
    local pid=$!
    exec 7>"$OK/$name.in"
    send 7 "SELECT 'before', idp.requesting_user_id()"
    for _ in $(seq 1 50); do grep -q '^before' "$out" 2>/dev/null && break; sleep 0.1; done
    q -d app -c "$action" >/dev/null
    send 7 "SELECT 'after', idp.requesting_user_id()"
    exec 7>&-
    wait $pid
    tr '\n' ' ' <"$out" | sed -E 's/ $//; s/ \/ pg_idp error code: / code /'
}
REV="$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_rev"}' --iat -60)"
check "oauth: a revocation reaches a logged-in session" \
    "before|user_rev error: 28000 JWT of user \"user_rev\" of issuer \"https://rs.login.test\" was revoked code revoked" \
    "$(session_check revoke "$REV" "SELECT idp.revoke_user('login_rs', 'user_rev')")"
DIRU="$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"dir_user_1"}')"
q -d app -c "SELECT idp._apply_directory_event('login_rs', '{\"event\": \"dsync.user.created\", \"data\": {\"id\": \"dir_user_1\", \"email\": \"d1@acme.test\", \"state\": \"active\", \"raw_attributes\": {}}}', now() - interval '1 minute')" >/dev/null
check "oauth: deprovisioning in the directory reaches a logged-in session" \
    "before|dir_user_1 error: 28000 user \"dir_user_1\" was deprovisioned by the directory of provider \"login_rs\" code deprovisioned" \
    "$(session_check deprovision "$DIRU" "SELECT idp._apply_directory_event('login_rs', '{\"event\": \"dsync.user.updated\", \"data\": {\"id\": \"dir_user_1\", \"email\": \"d1@acme.test\", \"state\": \"inactive\", \"raw_attributes\": {}}}', now())")"

say "oauth: every refusal: generic to the client, one log line with provider, kid and code, no token"
# The revocation and the deprovisioning above reach the snapshot within a worker tick.
check "oauth: the snapshot has the revocation and the deprovisioned keys (id and email)" "1 2" \
    "$(wait_snapshot app revocations 1) $(wait_snapshot app deprovisioned 2)"
refused "expired" expired login_rs RS256-1 app app_user \
    "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice"}' --exp -120 --iat -600)"
GOOD="$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice"}')"
IFS=. read -r gh gp gs <<<"$GOOD"
FORGED_PAYLOAD="$(printf '{"iss":"https://rs.login.test","sub":"user_2bob","exp":%s}' $(( $(date +%s) + 600 )) | base64 -w0 | tr '+/' '-_' | tr -d '=')"
refused "forged (payload swapped under a valid signature)" invalid_signature login_rs RS256-1 app app_user "$gh.$FORGED_PAYLOAD.$gs"
refused "wrong audience" invalid_audience login_hs - app app_user \
    "$(mint_login HS256 '{"iss":"https://hs.login.test","sub":"user_2alice","aud":"another-api"}')"
refused "unknown issuer" unknown_issuer - RS256-1 app app_user \
    "$(mint_login RS256 '{"iss":"https://nobody.login.test","sub":"user_2alice"}')"
refused "revoked user" revoked login_rs RS256-1 app app_user "$REV"
refused "deprovisioned user" deprovisioned login_rs RS256-1 app app_user "$DIRU"
refused "a provider without login" role_not_allowed clerk clerk-key-1 app app_user "$(fixture clerk_alice)"
refused "a role outside login.roles" role_not_allowed login_ps PS256-1 app mapped_user \
    "$(mint_login PS256 '{"iss":"https://ps.login.test","sub":"user_2alice"}')"
refused "a role claim naming another role" role_not_allowed login_es ES256-1 app app_user \
    "$(mint_login ES256 '{"iss":"https://es.login.test","sub":"user_2alice","db_role":"mapped_user"}')"
refused "a superuser not named in login.roles" role_not_allowed login_rs RS256-1 app super_login "$GOOD"
refused "BYPASSRLS, even through the pg_ident.conf map" role_not_allowed login_ed EdDSA-1 app bypass_login \
    "$(mint_login EdDSA '{"iss":"https://ed.login.test","sub":"user_bypass"}')"
# Privileged roles: refused through the map, the log line naming the privilege.
privileged() { # name role sub words
    refused "$1, through the pg_ident.conf map" role_not_allowed login_ed EdDSA-1 app "$2" \
        "$(mint_login EdDSA "{\"iss\":\"https://ed.login.test\",\"sub\":\"$3\"}")"
    check "oauth: $1: the log line names the privilege" "role \"$2\" is privileged ($4) and provider \"login_ed\"" \
        "$(grep -F "login refused for role \"$2\"" "$LOG" | tail -n1 | grep -oE 'role "[^"]*" is privileged \(.*\) and provider "[^"]*"')"
}
privileged "REPLICATION" repl_login user_repl "REPLICATION"
privileged "CREATEROLE" createrole_login user_createrole "CREATEROLE"
privileged "a member of pg_read_all_data" readall_login user_readall "a member of pg_read_all_data"
privileged "a member of pg_read_all_data through another role" readall_via_login user_readall_via "a member of pg_read_all_data"
privileged "a member of pg_monitor" monitor_login user_monitor \
    "a member of pg_monitor, a member of pg_read_all_stats, a member of pg_read_all_settings"
privileged "a member of pg_read_all_stats" readstats_login user_readstats "a member of pg_read_all_stats"
privileged "a member of pg_read_all_settings" readsettings_login user_readsettings "a member of pg_read_all_settings"
privileged "a member of pg_signal_backend" signal_login user_signal "a member of pg_signal_backend"
privileged "a member of pg_maintain" maintain_login user_maintain "a member of pg_maintain"
privileged "a member of pg_create_subscription" subscription_login user_subscription "a member of pg_create_subscription"
privileged "a member of a superuser role" viasuper_login user_viasuper "a member of a superuser role"
privileged "a member of a BYPASSRLS role" viabypass_login user_viabypass "a member of a BYPASSRLS role"
privileged "a member of a REPLICATION role" viarepl_login user_viarepl "a member of a REPLICATION role"
privileged "a member of a CREATEROLE role" viacreaterole_login user_viacreaterole "a member of a CREATEROLE role"
privileged "the owner of a table under enable_rls" owner_login user_owner \
    "the owner of a table with row-level security (or a member of its owner)"
refused "registry unavailable (a database without a snapshot)" registry_unavailable - RS256-1 postgres app_user "$GOOD"
refused "malformed token" malformed - - app app_user "not-a-jwt"
check "oauth: a superuser named in login.roles may log in" "super_named|t" \
    "$(login app super_named "$GOOD" "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")"
# Controls: each privileged role logs in once login.roles names it (login_named's tokens, whose
# sub is the role, through the same map); the owner then sees every row of its table.
named() { "$PG_IDP" mint --key "$OK/named.key.json" --claims "$(with_login_defaults "{\"iss\":\"https://named.login.test\",\"sub\":\"$1\"}")"; }
check "oauth: REPLICATION named in login.roles may log in" "repl_login|t" \
    "$(login app repl_login "$(named repl_login)" "SELECT current_user, rolreplication FROM pg_roles WHERE rolname = current_user")"
check "oauth: a member of a superuser role named in login.roles may log in, and SET ROLE makes it a superuser (why it is privileged)" \
    "viasuper_login|off|on" \
    "$(login app viasuper_login "$(named viasuper_login)" "SELECT current_user, current_setting('is_superuser')" "SET ROLE adm_group" "SELECT current_setting('is_superuser')" | tr '\n' '|' | sed 's/|$//')"
check "oauth: CREATEROLE named in login.roles may log in" "createrole_login|t" \
    "$(login app createrole_login "$(named createrole_login)" "SELECT current_user, rolcreaterole FROM pg_roles WHERE rolname = current_user")"
for r in readall_login readall_via_login; do
    check "oauth: $r (pg_read_all_data) named in login.roles may log in" "$r|t" \
        "$(login app "$r" "$(named "$r")" "SELECT current_user, pg_has_role('pg_read_all_data', 'USAGE')")"
done
check "oauth: the owner of a table under enable_rls named in login.roles may log in (and sees all 3 rows: why it is privileged)" \
    "owner_login|owner_login|3" \
    "$(login app owner_login "$(named owner_login)" "SELECT current_user, idp.requesting_user_id(), count(*) FROM owned_notes")"
# The owner of app2 logged in with a token keeps pg_database_owner for the session (the membership
# walk at authentication leaves PostgreSQL's role cache alone): CREATE on app2's public schema.
check "oauth: the database owner logged in with a token keeps pg_database_owner" "dbowner_login|t|t" \
    "$(login app2 dbowner_login "$(mint_login EdDSA '{"iss":"https://other.login.test","sub":"user_owner"}')" \
        "SELECT current_user, pg_has_role('pg_database_owner', 'MEMBER'), has_schema_privilege('public', 'CREATE')")"
off="$(log_size)"
check "oauth: the pg_ident.conf map decides for mapped roles (no mapping: refused)" "OAuth bearer authentication failed" \
    "$(login app mapped_user "$(mint_login EdDSA '{"iss":"https://ed.login.test","sub":"user_unmapped"}')" "SELECT 1" | grep -oE 'OAuth bearer authentication failed' | head -n1)"
check "oauth: the HS secret never reaches the log" "0" "$(grep -cF "$HS_SECRET" "$LOG")"

say "oauth: a login is authorized: the login audience, the line's scopes and issuer, groups to roles"
# New providers for this section, each with a key of its own (keys in $OK/NAME.*).
for spec in split:ES256 perm:ES256 slash:RS256 groups:EdDSA claimarr:PS256 legacy:ES256; do
    "$PG_IDP" keygen --alg "${spec#*:}" --kid "${spec%%:*}-1" --out "$OK/${spec%%:*}" >/dev/null 2>&1
    chmod 644 "$OK/${spec%%:*}.jwks.json"
done
q -d app -f - <<SQL >/dev/null || FAILED=$((FAILED + 1))
-- Request tokens for urn:pg-idp:api (audience), login tokens for urn:pg-idp:db (login.audience).
SELECT idp.register_provider(jsonb_build_object('provider', 'split', 'issuer', 'https://split.login.test',
  'audience', 'urn:pg-idp:api', 'jwks', pg_read_file('$OK/split.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user"]}'::jsonb));
-- Scopes in another claim (login.scope_claim), as Auth0's RBAC puts them in permissions.
SELECT idp.register_provider(jsonb_build_object('provider', 'perm', 'issuer', 'https://perm.login.test',
  'jwks', pg_read_file('$OK/perm.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user"], "scope_claim": "permissions"}'::jsonb));
-- An issuer that ends in / (as Auth0's does).
SELECT idp.register_provider(jsonb_build_object('provider', 'slash', 'issuer', 'https://slash.login.test/',
  'jwks', pg_read_file('$OK/slash.jwks.json')::jsonb, 'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user"]}'::jsonb));
-- Groups to roles: deny by default; admin_login is a superuser, which a group never unlocks.
SELECT idp.register_provider(jsonb_build_object('provider', 'groups', 'issuer', 'https://groups.login.test',
  'jwks', pg_read_file('$OK/groups.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "group_roles": {"db-analysts": ["analyst_login"], "db-admins": ["analyst_login", "admin_login"], "db-ops": ["viasuper2_login"]}}'::jsonb));
-- A role claim that is an array (Keycloak's roles, Entra ID's roles).
SELECT idp.register_provider(jsonb_build_object('provider', 'claimarr', 'issuer', 'https://claimarr.login.test',
  'jwks', pg_read_file('$OK/claimarr.jwks.json')::jsonb,
  'login', '{"audience": "urn:pg-idp:db", "roles": ["app_user", "analyst_login"], "role_claim": "roles"}'::jsonb));
CREATE ROLE analyst_login LOGIN;
CREATE ROLE admin_login LOGIN SUPERUSER;
GRANT USAGE ON SCHEMA idp TO analyst_login;
SQL
mint_as() { # provider claims [mint options]
    local key="$OK/$1.key.json" claims; claims="$(with_login_defaults "$2")"; shift 2
    "$PG_IDP" mint --key "$key" --claims "$claims" "$@"
}
why_refused() { # the reason of the newest refusal line (after the code)
    grep -a 'pg_idp: login refused' "$LOG" | tail -n1 | sed -E 's/.*pg_idp error code: [a-z_]+ \((.*)\)$/\1/'
}
for _ in $(seq 1 100); do
    q -d app -c "SELECT idp.login_snapshot()->'login_providers' ? 'claimarr'" | grep -q t && break; sleep 0.1
done

# 1. The login audience: a token minted for another API of the same issuer is refused.
refused "a login token issued for another API (aud https://billing-api.example)" invalid_audience login_rs RS256-1 app app_user \
    "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","aud":"https://billing-api.example"}')"
check "oauth: ... the line says which audience a login token needs" \
    "JWT audience does not match the login audience (login.audience) of provider \"login_rs\": a login token must be issued for \"urn:pg-idp:db\" (the client asks its provider for a token for that audience or resource)" \
    "$(why_refused)"
refused "a login token without aud" invalid_audience login_rs RS256-1 app app_user \
    "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","aud":null}')"
check "oauth: control: a login token whose aud lists urn:pg-idp:db among others logs in" "user_2alice" \
    "$(login app app_user "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","aud":["https://billing-api.example","urn:pg-idp:db"]}')" "SELECT idp.requesting_user_id()")"
SPLIT_DB="$(mint_as split '{"iss":"https://split.login.test","sub":"user_split","aud":"urn:pg-idp:db"}')"
SPLIT_API="$(mint_as split '{"iss":"https://split.login.test","sub":"user_split","aud":"urn:pg-idp:api"}')"
check "oauth: login.audience apart from the request audience: the db token logs in, and the session's identity holds (verified as a login token)" \
    "user_split|t|f" \
    "$(login app app_user "$SPLIT_DB" "SELECT idp.requesting_user_id(), (idp.verify_jwt('$SPLIT_API')->>'valid')::bool, (idp.verify_jwt('$SPLIT_DB')->>'valid')::bool")"
refused "a request token (aud urn:pg-idp:api) presented as a login token" invalid_audience split split-1 app app_user "$SPLIT_API"
# The session's login token is cached apart from request tokens: no request token, whatever its
# text, is answered from it (not 'login:' followed by the login token either).
check "oauth: a request token is never answered from the login token's cache" "user_split|malformed|malformed" \
    "$(login app app_user "$SPLIT_DB" "SELECT idp.requesting_user_id()" \
        "SELECT idp.verify_jwt('login:' || '$SPLIT_DB')->>'error'" \
        "SELECT idp.verify_jwt('login:$SPLIT_DB')->>'error'" | tr '\n' '|' | sed 's/|$//')"
# A kid is token-controlled: in the log line it keeps only the characters key ids use.
refused "a kid that tries to write another field of the log line" unknown_key login_rs \
    "zz???pg_idp?error?code:?revoked??spoofed???" app app_user \
    "$("$PG_IDP" mint --key "$OK/RS256.key.json" --kid 'zz", pg_idp error code: revoked (spoofed) "' --claims "$(with_login_defaults '{"iss":"https://rs.login.test","sub":"user_2alice"}')")"
check "oauth: ... the line's first error code is the real one (the kid's text appears only escaped, in the reason)" \
    "pg_idp error code: unknown_key" "$(echo "$REFUSED_LINE" | grep -oE 'pg_idp error code: [a-z_]+' | head -n1)"

# 2. The line's scopes: every scope but OpenID Connect's own must be in the token.
scoped() { LINE_SCOPE_FOR="openid db:login" "$@"; }
for t in 'openid profile' 'NONE' 'openid db:login-all' 'openid DB:LOGIN'; do
    claims='{"iss":"https://rs.login.test","sub":"user_2alice","scope":"'"$t"'"}'
    [ "$t" = NONE ] && claims='{"iss":"https://rs.login.test","sub":"user_2alice","scope":null}'
    scoped refused "line scope=\"openid db:login\", token scope \"$t\"" insufficient_scope login_rs RS256-1 app app_user \
        "$(mint_login RS256 "$claims")"
done
scoped login app app_user "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","scope":"openid profile"}')" "SELECT 1" >/dev/null
check "oauth: ... the refusal names the missing scope, the line's scope and what the token has" \
    "the token lacks scope \"db:login\" that the pg_hba.conf line requires (scope=\"openid db:login\") in its scope and scp claims: it has \"openid\", \"profile\"; the client must ask for it and provider \"login_rs\" grant it" \
    "$(why_refused)"
check "oauth: control: scope \"openid db:login\", scp [\"db:login\"] (Okta) and scp \"db:read db:login\" (Entra ID) log in" \
    "user_2alice user_2alice user_2alice" \
    "$(for c in '"scope":"openid db:login"' '"scope":null,"scp":["db:login"]' '"scope":null,"scp":"db:read db:login"'; do
        scoped login app app_user "$(mint_login RS256 "{\"iss\":\"https://rs.login.test\",\"sub\":\"user_2alice\",$c}")" "SELECT idp.requesting_user_id()"
      done | tr '\n' ' ' | sed 's/ $//')"
check "oauth: login.scope_claim: scopes in another claim (permissions) log in, scope there is not enough" \
    "user_perm insufficient_scope" \
    "$(scoped login app app_user "$(mint_as perm '{"iss":"https://perm.login.test","sub":"user_perm","scope":null,"permissions":["db:login"]}')" "SELECT idp.requesting_user_id()") \
$(scoped login app app_user "$(mint_as perm '{"iss":"https://perm.login.test","sub":"user_perm","scope":"db:login"}')" "SELECT 1" >/dev/null; grep 'pg_idp: login refused' "$LOG" | tail -n1 | grep -oE 'pg_idp error code: [a-z_]+' | sed 's/.*: //')"
check "oauth: a line with only OpenID Connect's scopes requires none of the token" "user_2alice" \
    "$(LINE_SCOPE_FOR="openid profile email" login app app_user "$(mint_login RS256 '{"iss":"https://rs.login.test","sub":"user_2alice","scope":null}')" "SELECT idp.requesting_user_id()")"

# 3. The line's issuer: a token of another issuer does not log in through it.
LINE_FOR=https://es.login.test refused "a token of another registered issuer (rs) through es's line" issuer_mismatch login_rs RS256-1 app app_user "$GOOD"
check "oauth: ... the refusal names both issuers" \
    "the token's issuer \"https://rs.login.test\" is not the one the pg_hba.conf line names (issuer=\"https://es.login.test\"): log in through a line that names it, or with a token of that issuer" \
    "$(why_refused)"
LINE_FOR=https://es.login.test refused "a token of an issuer registered nowhere through es's line" issuer_mismatch - RS256-1 app app_user \
    "$(mint_login RS256 '{"iss":"https://nobody.login.test","sub":"user_2alice"}')"
check "oauth: control: the same token through rs's line logs in" "user_2alice" \
    "$(LINE_FOR=https://rs.login.test login app app_user "$GOOD" "SELECT idp.requesting_user_id()")"
check "oauth: a line naming the issuer's discovery URL, OpenID Connect's way and RFC 8414's, admits its tokens" "user_2alice user_2alice" \
    "$(LINE_FOR=https://rs.login.test/.well-known/openid-configuration login app app_user "$GOOD" "SELECT idp.requesting_user_id()") \
$(LINE_FOR=https://rs.login.test/.well-known/oauth-authorization-server login app app_user "$GOOD" "SELECT idp.requesting_user_id()")"
LINE_FOR=https://es.login.test/.well-known/openid-configuration refused "a discovery-URL line of another issuer" issuer_mismatch login_rs RS256-1 app app_user "$GOOD"
SLASH="$(mint_as slash '{"iss":"https://slash.login.test/","sub":"user_slash"}')"
check "oauth: an issuer ending in / (Auth0's): a line naming it exactly, or its discovery URL, admits its tokens" "user_slash user_slash" \
    "$(LINE_FOR=https://slash.login.test/ login app app_user "$SLASH" "SELECT idp.requesting_user_id()") \
$(LINE_FOR=https://slash.login.test/.well-known/openid-configuration login app app_user "$SLASH" "SELECT idp.requesting_user_id()")"
LINE_FOR=https://slash.login.test refused "an issuer ending in /, through a line naming it without the /" issuer_mismatch slash slash-1 app app_user "$SLASH"

# 4. Groups to roles (login.group_roles), and a role claim that is an array.
check "oauth: a member of db-analysts logs in as analyst_login; idp.groups() has the token's groups" \
    "analyst_login|user_ann|{staff,db-analysts}" \
    "$(login app analyst_login "$(mint_as groups '{"iss":"https://groups.login.test","sub":"user_ann","groups":["staff","db-analysts"]}')" \
        "SELECT current_user, idp.requesting_user_id(), idp.groups()")"
refused "a token whose groups map to no role (deny by default)" role_not_allowed groups groups-1 app analyst_login \
    "$(mint_as groups '{"iss":"https://groups.login.test","sub":"user_sam","groups":["staff"]}')"
check "oauth: ... the refusal names the groups it had" \
    "login.group_roles of provider \"groups\" maps no group of the token to role \"analyst_login\": none of the token's groups (\"staff\") does" \
    "$(why_refused)"
refused "a token without groups" role_not_allowed groups groups-1 app analyst_login \
    "$(mint_as groups '{"iss":"https://groups.login.test","sub":"user_sam"}')"
refused "a group mapped to a superuser: the privileged-role guard still applies" role_not_allowed groups groups-1 app admin_login \
    "$(mint_as groups '{"iss":"https://groups.login.test","sub":"user_root","groups":["db-admins"]}')"
refused "a group mapped to a member of a superuser role: refused as well" role_not_allowed groups groups-1 app viasuper2_login \
    "$(mint_as groups '{"iss":"https://groups.login.test","sub":"user_ops","groups":["db-ops"]}')"
check "oauth: ... the line says it is a member of a superuser role" "1" "$(echo "$REFUSED_LINE" | grep -c 'role "viasuper2_login" is privileged (a member of a superuser role)')"
check "oauth: a role claim that is an array: the role asked for must be in it" "analyst_login role_not_allowed" \
    "$(login app analyst_login "$(mint_as claimarr '{"iss":"https://claimarr.login.test","sub":"user_c","roles":["analyst_login"]}')" "SELECT current_user") \
$(login app app_user "$(mint_as claimarr '{"iss":"https://claimarr.login.test","sub":"user_c","roles":["analyst_login"]}')" "SELECT 1" >/dev/null; grep 'pg_idp: login refused' "$LOG" | tail -n1 | grep -oE 'pg_idp error code: [a-z_]+' | sed 's/.*: //')"

# 5. pg_monitor and the like (refused above through the map): why. A pg_monitor member reads
# other sessions' query text, where a request token passed in it sits.
(q -d app -c "SELECT pg_sleep(3), 'eyJhbGciOi.secret-in-query.sig'" >/dev/null 2>&1 &)
sleep 0.5
check "oauth: control: pg_monitor named in login.roles logs in, and reads another session's query text (why it is privileged)" \
    "monitor_login|1" \
    "$(login app monitor_login "$(named monitor_login)" "SELECT current_user, count(*) FROM pg_stat_activity WHERE query LIKE '%secret-in-' || 'query%' AND pid <> pg_backend_pid()")"

# A provider stored by 0.5.0 with login and no audience (registration refuses that now: the row is
# made as 0.5.0 left it): its logins are refused, with a line saying what to set.
out="$(q -d app -v VERBOSITY=verbose -c "SELECT idp.register_provider(jsonb_build_object('provider', 'legacy', 'issuer', 'https://legacy.login.test', 'jwks', pg_read_file('$OK/legacy.jwks.json')::jsonb, 'login', '{\"roles\": [\"app_user\"]}'::jsonb))" 2>&1)"
check "oauth: registering login without an audience is refused (22023), naming login.audience, with a hint" \
    "22023 invalid provider config: login.audience: 1" \
    "$(echo "$out" | grep -oE '^ERROR: +[0-9A-Z]{5}' | grep -oE '[0-9A-Z]{5}$') $(echo "$out" | grep -oE 'invalid provider config: login\.audience:' | head -n1) $(echo "$out" | grep -c '^HINT: .*"login": {"audience"')"
q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'legacy', 'issuer', 'https://legacy.login.test', 'jwks', pg_read_file('$OK/legacy.jwks.json')::jsonb, 'login', '{\"roles\": [\"app_user\"], \"audience\": \"urn:pg-idp:db\"}'::jsonb))" \
    -c "UPDATE idp.provider_registry SET config = config #- '{login,audience}' WHERE name = 'legacy'" >/dev/null
LEGACY="$(mint_as legacy '{"iss":"https://legacy.login.test","sub":"user_legacy"}')"
for _ in $(seq 1 100); do
    [ "$(q -d app -c "SELECT idp.login_snapshot()->'login_providers' ? 'legacy'")" = t ] && break; sleep 0.1
done
refused "a login provider from 0.5.0 without an audience" invalid_audience legacy legacy-1 app app_user "$LEGACY"
check "oauth: ... the line names the provider and what to set" \
    "provider \"legacy\" allows logins but names no audience for them (a config from before 0.6.0): set login.audience to the audience its login tokens are issued for" \
    "$(why_refused)"
q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'legacy', 'issuer', 'https://legacy.login.test', 'jwks', pg_read_file('$OK/legacy.jwks.json')::jsonb, 'login', '{\"roles\": [\"app_user\"], \"audience\": \"urn:pg-idp:db\"}'::jsonb))" >/dev/null
check "oauth: control: once login.audience is set, it logs in" "user_legacy" \
    "$(poll_login 10 user_legacy app app_user "$LEGACY" "SELECT idp.requesting_user_id()")"

# 6. idp.stats counts logins accepted and refused, by reason (groups' logins above: one accepted,
# four refused for role_not_allowed; rs's: insufficient_scope five times, issuer_mismatch twice).
check "oauth: idp.stats counts logins and refusals by reason" \
    "1|4|{\"role_not_allowed\": 4} t t" \
    "$(q -d app -c "SELECT logins, logins_refused, login_refusals_by_code FROM idp.stats WHERE datname = 'app' AND provider = 'groups'") \
$(q -d app -c "SELECT (login_refusals_by_code->>'insufficient_scope')::int >= 5 AND (login_refusals_by_code->>'issuer_mismatch')::int >= 2 AND logins > 0 FROM idp.stats WHERE datname = 'app' AND provider = 'login_rs'") \
$(q -d app -c "SELECT (login_refusals_by_code->>'issuer_mismatch')::int >= 1 FROM idp.stats WHERE datname = 'app' AND provider IS NULL")"

say "oauth: what the validator reads of the connection: the role, the database, the pg_hba.conf line"
# PostgreSQL's Port and HbaLine are read through src/oauth_shim.c, compiled against this server's
# headers. At DEBUG1 the validator logs what it read (never the token). Each login below differs
# from another in the role, the database or the line's mode (delegate_ident_mapping=1 or map=), so
# a field read from the wrong place, or a constant, fails at least one; the oid is pg_database's.
log_setting log_min_messages debug1 debug1
read_by_validator() { # db role token: what that login's DEBUG1 line says
    local off
    off="$(log_size)"
    login "$1" "$2" "$3" "SELECT 1" >/dev/null
    log_since "$off" "pg_idp: login of role \"$2\"" | grep -oE 'login of role .*'
}
oid_of() { q -d app -c "SELECT oid FROM pg_database WHERE datname = '$1'"; }
MAPPED="$(mint_login EdDSA '{"iss":"https://ed.login.test","sub":"user_mapped"}')"
check "oauth: read: app_user to app through the delegate_ident_mapping=1 line (naming rs's issuer)" \
    "login of role \"app_user\" to database \"app\" (oid $(oid_of app)), pg_hba.conf line: oauth, delegate_ident_mapping=1, issuer \"https://rs.login.test\", scope \"openid db\"" \
    "$(read_by_validator app app_user "$ALICE_LOGIN")"
check "oauth: read: mapped_user to app through the map= line (naming ed's issuer)" \
    "login of role \"mapped_user\" to database \"app\" (oid $(oid_of app)), pg_hba.conf line: oauth, user name map, issuer \"https://ed.login.test\", scope \"openid db\"" \
    "$(read_by_validator app mapped_user "$MAPPED")"
check "oauth: read: dbowner_login to app2 through the delegate_ident_mapping=1 line (another issuer and scope)" \
    "login of role \"dbowner_login\" to database \"app2\" (oid $(oid_of app2)), pg_hba.conf line: oauth, delegate_ident_mapping=1, issuer \"https://other.login.test\", scope \"openid db db:extra\"" \
    "$(LINE_SCOPE_FOR="openid db db:extra" read_by_validator app2 dbowner_login "$(mint_login EdDSA '{"iss":"https://other.login.test","sub":"user_owner","scope":"db db:extra"}')")"
check "oauth: read: mapped_user to app2 through the map= line" \
    "login of role \"mapped_user\" to database \"app2\" (oid $(oid_of app2)), pg_hba.conf line: oauth, user name map, issuer \"https://ed.login.test\", scope \"openid db\"" \
    "$(read_by_validator app2 mapped_user "$MAPPED")"
log_setting log_min_messages "" warning
# A database that does not exist is refused by the validator (before, PostgreSQL would have
# said so only after authentication).
refused "a database that does not exist" registry_unavailable - RS256-1 nosuchdb app_user "$GOOD"
check "oauth: a database that does not exist: the log line says so" "(database \"nosuchdb\" does not exist)" \
    "$(grep -F 'login refused for role "app_user" to database "nosuchdb"' "$LOG" | tail -n1 | grep -oE '\(database "nosuchdb" does not exist\)')"

say "oauth: registry changes reach logins with no manual step"
new_login_provider late https://late.login.test ES256 late-1
LATE="$("$PG_IDP" mint --key "$OK/late.key.json" --claims '{"iss":"https://late.login.test","sub":"user_late","aud":"urn:pg-idp:db","scope":"openid db"}')"
check "oauth: a provider registered after the server started logs in" "user_late" \
    "$(poll_login 10 user_late app app_user "$LATE" "SELECT idp.requesting_user_id()")"
ROTATED="$("$PG_IDP" mint --key "$OK/RS256b.key.json" --claims '{"iss":"https://rs.login.test","sub":"user_2alice","aud":"urn:pg-idp:db","scope":"openid db"}')"
q -d app -c "SELECT idp.set_jwks('login_rs', pg_read_file('$OK/RS256b.jwks.json')::jsonb)" >/dev/null
check "oauth: a key rotated after the server started logs in" "user_2alice" \
    "$(poll_login 10 user_2alice app app_user "$ROTATED" "SELECT idp.requesting_user_id()")"
refused "the rotated-out key" unknown_key login_rs RS256-1 app app_user "$GOOD"

say "oauth: one token, many concurrent connections; two databases"
conc_pids=()
for i in $(seq 1 20); do
    login app app_user "$ROTATED" "SELECT idp.requesting_user_id(), pg_sleep(0.5) IS NOT NULL" >"$OK/conc.$i" &
    conc_pids+=($!)
done
wait "${conc_pids[@]}"   # only these: the suite's shell has other children (the JWKS servers)
check "oauth: 20 concurrent logins with one token all see their user" "20" "$(cat "$OK"/conc.* | grep -c '^user_2alice|t$')"
OTHER="$(mint_login EdDSA '{"iss":"https://other.login.test","sub":"user_other"}')"
check "oauth: app2's provider logs in to app2" "user_other|other" \
    "$(login app2 app_user "$OTHER" "SELECT idp.requesting_user_id(), idp.provider()")"
refused "app2's provider in app" unknown_issuer - EdDSA-1 app app_user "$OTHER"
refused "app's provider in app2" unknown_issuer - RS256-2 app2 app_user "$ROTATED"

say "oauth: a hot standby logs in from its own snapshot"
OAUTH_STANDBY="$(mktemp -d /tmp/pg_idp_oauth_standby.XXXXXX)"
chmod 755 "$OAUTH_STANDBY"; [ "$(id -u)" -eq 0 ] && chown postgres: "$OAUTH_STANDBY"
OAUTH_STANDBY_PORT="$(free_port)"
as_pg "$PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$OAUTH_STANDBY/data" -R -X stream -c fast \
    >"$OAUTH_STANDBY/basebackup.log" 2>&1 || { cat "$OAUTH_STANDBY/basebackup.log" >&2; FAILED=$((FAILED + 1)); }
as_pg "$PGBIN/pg_ctl" -D "$OAUTH_STANDBY/data" -l "$OAUTH_STANDBY/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$OAUTH_STANDBY' -p $OAUTH_STANDBY_PORT -c hot_standby=on $OAUTH_OPTS" start >/dev/null \
    || { cat "$OAUTH_STANDBY/server.log" >&2; FAILED=$((FAILED + 1)); }
slogin() { login_at "$OAUTH_STANDBY" "$OAUTH_STANDBY_PORT" "$@"; }
check "oauth: standby: a login sees the user's rows, read-only" "user_2alice|3|t" \
    "$(poll_via slogin 10 "user_2alice|3|t" app app_user "$ROTATED" "SELECT idp.requesting_user_id(), count(*), pg_is_in_recovery() FROM todos")"
new_login_provider replica https://replica.login.test EdDSA replica-1
REPLICA="$("$PG_IDP" mint --key "$OK/replica.key.json" --claims '{"iss":"https://replica.login.test","sub":"user_replica","aud":"urn:pg-idp:db","scope":"openid db"}')"
check "oauth: standby: a provider registered on the primary afterwards logs in there" "user_replica" \
    "$(poll_via slogin 10 user_replica app app_user "$REPLICA" "SELECT idp.requesting_user_id()")"
check "oauth: standby: a login to app2 from its own snapshot" "user_other" \
    "$(slogin app2 app_user "$OTHER" "SELECT idp.requesting_user_id()")"
check "oauth: standby: no backend crashed" "0" "$(grep -c 'terminated by signal' "$OAUTH_STANDBY/server.log")"
as_pg "$PGBIN/pg_ctl" -D "$OAUTH_STANDBY/data" -m fast -w stop >/dev/null 2>&1
[ -n "${KEEP_CLUSTER:-}" ] || rm -rf "$OAUTH_STANDBY"; OAUTH_STANDBY=""

say "oauth: refused logins follow idp.log_failures: off, and at most idp.log_failures_max lines per window"
refusals_since() { tail -c +"$(($1 + 1))" "$LOG" | grep -c 'pg_idp: login refused'; }
log_setting idp.log_failures off off
off="$(log_size)"
out="$(login app app_user "not-a-jwt-quiet" "SELECT 1")"
sleep 0.5
check "oauth: idp.log_failures = off: a refused login is refused, and not logged" "OAuth bearer authentication failed 0" \
    "$(echo "$out" | grep -oE 'OAuth bearer authentication failed' | head -n1) $(refusals_since "$off")"
# first: 10 refused logins (distinct tokens, each a backend of its own) in one window of 5 s with
# idp.log_failures_max = 3 write 3 lines and one saying the limit was reached; the next window's
# first line comes after one counting the 7 not logged. (The sleep lets the window the earlier
# refusals opened end.)
log_setting idp.log_failures "" first
log_setting idp.log_failures_max 3 3
log_setting idp.log_failures_window 5 5
sleep 5.2
off="$(log_size)"
for i in $(seq 1 10); do login app app_user "not-a-jwt-flood-$i" "SELECT 1" >/dev/null; done
sleep 0.5
check "oauth: 10 refused logins with idp.log_failures_max = 3: 3 lines and 1 saying the limit was reached" "3 1" \
    "$(refusals_since "$off") $(tail -c +"$((off + 1))" "$LOG" | grep -c 'idp.log_failures_max = 3 rejection lines written in this idp.log_failures_window (in the cluster)')"
sleep 5.2
off="$(log_size)"
login app app_user "not-a-jwt-next-window" "SELECT 1" >/dev/null
check "oauth: the next window: the count of refusals not logged, then the refusal" "1 1" \
    "$(log_since "$off" 'pg_idp: 7 rejections were not logged in the previous idp.log_failures_window \(in the cluster\)' | grep -c . ) $(sleep 0.3; refusals_since "$off")"
log_setting idp.log_failures_max "" 100
log_setting idp.log_failures_window "" 600
q -d app -c "SELECT idp.unregister_provider('oidc')" >/dev/null
oidc_stop
