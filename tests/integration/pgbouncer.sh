# shellcheck shell=bash
# PgBouncer in transaction pooling with one server connection: interleaved clients never see each
# other's rows; a session-level SET does leak (the control); a tampered token is refused.
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby" (worker needs jwks).
say "PgBouncer: transaction pooling, one server connection, $((2 * TXNS_PER_USER + TXNS_ANON)) transactions"
BOUNCER_DIR="$CLUSTER_DIR/pgbouncer"
mkdir -p "$BOUNCER_DIR"
BOUNCER_PORT="$(free_port)"
cat >"$BOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
app = host=$PRIMARY_HOST port=$PRIMARY_PORT dbname=app user=app_user

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 20
server_reset_query =
logfile = $BOUNCER_DIR/pgbouncer.log
pidfile = $BOUNCER_DIR/pgbouncer.pid
INI
echo '"app_user" ""' >"$BOUNCER_DIR/userlist.txt"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$BOUNCER_DIR"
as_pg /usr/sbin/pgbouncer -d "$BOUNCER_DIR/pgbouncer.ini" || { cat "$BOUNCER_DIR/pgbouncer.log" >&2; FAILED=1; finish; exit 1; }
for _ in $(seq 1 50); do
    psql -X -At -h 127.0.0.1 -p "$BOUNCER_PORT" -U app_user -d app -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done
# The SQLSTATE of the first error in psql's output (run with VERBOSITY sqlstate).
sqlstate() { sed -nE 's/^(psql:[^ ]* )?ERROR: +([0-9A-Z]{5})$/\2/p' | head -n1; }
bq() { psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BOUNCER_PORT" -U app_user -d app "$@"; }

# One client's script: N transactions, each a single round trip (psql sends the statements joined
# by \; as one query string), setting the token with set_config(..., true) as a driver would and
# answering "backend pid|who|own rows|others' rows".
user_script() { # token user n
    printf "\\\\set tok '%s'\n" "$1"
    for _ in $(seq 1 "$3"); do
        echo "BEGIN \\; SELECT set_config('request.jwt', :'tok', true) IS NOT NULL AS token_set \\; SELECT pg_backend_pid(), idp.requesting_user_id(), count(*) FILTER (WHERE user_id = '$2'), count(*) FILTER (WHERE user_id <> '$2'), to_char(clock_timestamp(), 'HH24MISSUS') FROM todos \\; COMMIT;"
    done
}
# A client that forgets to set a token.
anon_script() { # n
    for _ in $(seq 1 "$1"); do
        echo "BEGIN \\; SELECT pg_backend_pid(), coalesce(idp.requesting_user_id(), 'anonymous'), count(*), 0, to_char(clock_timestamp(), 'HH24MISSUS') FROM todos \\; COMMIT;"
    done
}
user_script "$ALICE" user_2alice "$TXNS_PER_USER" >"$WORK/alice.sql"
user_script "$BOB" user_2bob "$TXNS_PER_USER" >"$WORK/bob.sql"
anon_script "$TXNS_ANON" >"$WORK/anon.sql"
bq -f "$WORK/alice.sql" >"$WORK/alice.out" 2>"$WORK/alice.err" & pa=$!
bq -f "$WORK/bob.sql" >"$WORK/bob.out" 2>"$WORK/bob.err" & pb=$!
bq -f "$WORK/anon.sql" >"$WORK/anon.out" 2>"$WORK/anon.err" & pc=$!
wait $pa; ra=$?; wait $pb; rb=$?; wait $pc; rc=$?
check "pgbouncer: three clients ran without errors" "0 0 0 / 0 bytes" "$ra $rb $rc / $(cat "$WORK"/*.err | wc -c) bytes"
cat "$WORK"/*.err >&2
summary() { grep '|' "$1" | cut -d'|' -f2-4 | sort | uniq -c | sed -E 's/^ +//' | tr '\n' ' ' | sed 's/ $//'; }
check "pgbouncer: Alice saw only her 2 rows in each of her $TXNS_PER_USER transactions" \
    "$TXNS_PER_USER user_2alice|2|0" "$(summary "$WORK/alice.out")"
check "pgbouncer: Bob saw only his 3 rows in each of his $TXNS_PER_USER transactions" \
    "$TXNS_PER_USER user_2bob|3|0" "$(summary "$WORK/bob.out")"
check "pgbouncer: a client that never sets a token saw nothing in $TXNS_ANON transactions" \
    "$TXNS_ANON anonymous|0|0" "$(summary "$WORK/anon.out")"
check "pgbouncer: all $((2 * TXNS_PER_USER + TXNS_ANON)) transactions ran on one server connection" \
    "1" "$(cat "$WORK"/alice.out "$WORK"/bob.out "$WORK"/anon.out | grep '|' | cut -d'|' -f1 | sort -u | wc -l)"
# The clients really took turns: each one's transactions started before another's ended.
span() { grep '|' "$1" | cut -d'|' -f5 | sort -n | sed -n '1p;$p' | tr '\n' ' '; }
read -r a_first a_last <<<"$(span "$WORK/alice.out")"
read -r b_first b_last <<<"$(span "$WORK/bob.out")"
check "pgbouncer: Alice's and Bob's transactions were interleaved on the connection" "yes" \
    "$([ "${a_first:-1}" -lt "${b_last:-0}" ] && [ "${b_first:-1}" -lt "${a_last:-0}" ] && echo yes || echo "no: alice $a_first..$a_last bob $b_first..$b_last")"

# Control: the pooled connection really is shared, so a session-level SET (the mistake the README
# warns about) does leak to the next client; SET LOCAL and set_config(..., true) do not.
bq -c "SET request.jwt = '$ALICE'" >/dev/null
check "pgbouncer: control: a session-level SET request.jwt leaks to the next pooled client" \
    "user_2alice" "$(bq -c 'SELECT idp.requesting_user_id()')"
bq -c "RESET request.jwt" >/dev/null
bq -c "BEGIN; SET LOCAL request.jwt = '$ALICE'; COMMIT;" >/dev/null
check "pgbouncer: SET LOCAL does not outlive its transaction on the pooled connection" \
    "anonymous" "$(bq -c "SELECT coalesce(idp.requesting_user_id(), 'anonymous')")"
check "pgbouncer: a tampered token is refused with 28000 through the pooler" \
    "28000" "$(bq -c "\\set VERBOSITY sqlstate" -c "BEGIN" -c "SET LOCAL request.jwt = '$TAMPERED'" -c "SELECT count(*) FROM todos" 2>&1 | sqlstate)"

check "primary: verifying a request's token assigns no transaction id (no xid burn, no WAL)" "user_2alice|2|t" \
    "$(q -U app_user -d app -c "BEGIN" -c "SELECT set_config('request.jwt', '$ALICE', true) IS NOT NULL" -c "SELECT idp.requesting_user_id(), count(*), pg_current_xact_id_if_assigned() IS NULL FROM todos" -c "COMMIT" | sed -n 2p)"
