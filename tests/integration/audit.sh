# shellcheck shell=bash
# The audit log (idp.log_failures, idp.log_success) as written to the server log, and idp.stats
# on a server that did not preload pg_idp (the primary, until the worker suite restarts it).
# (That no server log holds a token or a key is checked at the end of scripts/integration, over
# every line all the suites made.)
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby audit".
say "audit log: rejected tokens logged once per backend, never the token; idp.stats without preloading"
LOG="$CLUSTER_DIR/server.log"
# Lines of the server log written by sessions with this application_name (every audit line
# names it).
lines() { grep -c "application_name=\"$1\"" "$LOG"; }
# psql on the primary's app database as app_user, with an application_name.
aq() { # application_name psql-args...
    PGAPPNAME="$1" psql -X -q -At -v ON_ERROR_STOP=1 -U app_user -d app "${@:2}"
}

# Without preloading, idp.stats says so (a NOTICE) and answers no rows: a monitoring query
# keeps working.
out="$(q -d app -c "SELECT count(*) FROM idp.stats" 2>&1)"
check "audit: idp.stats without shared_preload_libraries: a NOTICE naming it, and no rows" "yes 0" \
    "$(echo "$out" | grep -q "NOTICE:  pg_idp: idp.stats needs shared_preload_libraries = 'pg_idp'" && echo yes || echo no) $(echo "$out" | tail -n1)"
check "audit: idp.reset_stats() without it is 55000, code not_preloaded" "55000" \
    "$(q -d app -c '\set VERBOSITY sqlstate' -c "SELECT idp.reset_stats()" 2>&1 | sqlstate)"

# A burst of 10,000 rejections of the same token by one backend (idp.log_failures = first, the
# default): one line. A request token rejected in three transactions of another backend: one.
aq audit_burst -c "SELECT count(*) FROM generate_series(1, 10000) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN '$TAMPERED' END) ? 'error'" >/dev/null
for _ in 1 2 3; do echo "BEGIN; SET LOCAL request.jwt = '$TAMPERED'; SELECT idp.requesting_user_id(); ROLLBACK;"; done \
    | PGAPPNAME=audit_request psql -X -q -At -U app_user -d app >/dev/null 2>&1
check "audit: 10,000 rejections of one token write one line (first)" "1" "$(lines audit_burst)"
check "audit: a request token rejected in three transactions of one backend, one line" "1" "$(lines audit_request)"
# Three backends, one line each; a second token in the same backend gets its own line.
for _ in 1 2 3; do aq audit_backends -c "SELECT idp.verify_jwt('$TAMPERED') ? 'error'" >/dev/null; done
aq audit_two_tokens -c "SELECT idp.verify_jwt('$TAMPERED') ? 'error'" -c "SELECT idp.verify_jwt('$(fixture wrong_issuer)') ? 'error'" \
    -c "SELECT idp.verify_jwt('$TAMPERED') ? 'error'" >/dev/null
check "audit: one line per backend, and per distinct token" "3 2" "$(lines audit_backends) $(lines audit_two_tokens)"
# Distinct tokens are bounded too (first): 5,000 distinct bad tokens in one statement of an
# application role write at most idp.log_failures_max (100) rejection lines, and one saying the
# limit was reached (this server does not preload pg_idp: the bound is per backend).
aq audit_flood -c "SELECT count(*) FROM generate_series(1, 5000) g WHERE idp.verify_jwt('not-a-jwt-' || g) ? 'error'" >/dev/null
check "audit: 5,000 distinct rejected tokens in one statement: 100 lines (idp.log_failures_max) and 1 saying the limit was reached" "100 1" \
    "$(lines audit_flood) $(grep -c 'pg_idp: idp.log_failures_max = 100 rejection lines written in this idp.log_failures_window (in this backend)' "$LOG")"
# When the window ends, the first line of the next one comes after the count of those not logged.
PGAPPNAME=audit_window q -d app -c "SET idp.log_failures_max = 3" -c "SET idp.log_failures_window = 1" \
    -c "SELECT count(*) FROM generate_series(1, 50) g WHERE idp.verify_jwt('not-a-jwt-w' || g) ? 'error'" \
    -c "SELECT pg_sleep(1.2)" -c "SELECT idp.verify_jwt('not-a-jwt-after') ? 'error'" >/dev/null
check "audit: the next window says how many were not logged (47 of 50), then logs" "4 1" \
    "$(lines audit_window) $(grep -c 'pg_idp: 47 rejections were not logged in the previous idp.log_failures_window (in this backend)' "$LOG")"
check "audit: an application role cannot raise idp.log_failures_max (42501)" "42501" \
    "$(aq audit_try_max -c '\set VERBOSITY sqlstate' -c "SELECT idp.verify_jwt('x') IS NULL" -c "SET idp.log_failures_max = 100000" 2>&1 | sqlstate)"
# What a line says: the provider (or unknown), the kid, the code, the sub the token claims, the
# application_name; the reason.
check "audit: a line names provider, kid, code, sub and application_name" "1" \
    "$(grep -c 'pg_idp: token rejected: provider=clerk kid="clerk-key-1" code=invalid_signature sub="user_2bob" application_name="audit_burst": ' "$LOG")"
check "audit: a token no provider was found for is logged as provider=unknown" "1" \
    "$(grep -c 'pg_idp: token rejected: provider=unknown kid="clerk-key-1" code=unknown_issuer sub="user_2alice" application_name="audit_two_tokens"' "$LOG")"
check "audit: a token that is not a JWT is logged without kid or sub" "1" \
    "$(aq audit_garbage -c "SELECT idp.verify_jwt('not-a-jwt') ? 'error'" >/dev/null; grep -c 'provider=unknown kid=- code=malformed sub=- application_name="audit_garbage"' "$LOG")"

# idp.log_failures = all logs every rejection; off, none; idp.log_success each new identity of
# a backend, not its cache hits (a superuser's settings).
PGAPPNAME=audit_all q -d app -c "SET idp.log_failures = 'all'" \
    -c "SELECT count(*) FROM generate_series(1, 200) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN '$TAMPERED' END) ? 'error'" >/dev/null
PGAPPNAME=audit_off q -d app -c "SET idp.log_failures = 'off'" \
    -c "SELECT count(*) FROM generate_series(1, 200) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN '$TAMPERED' END) ? 'error'" >/dev/null
check "audit: idp.log_failures = all logs each of 200 rejections; off logs none" "200 0" "$(lines audit_all) $(lines audit_off)"
PGAPPNAME=audit_success q -d app -c "SET idp.log_success = on" \
    -c "SELECT count(*) FROM generate_series(1, 50) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN '$ALICE' END) ? 'user_id'" \
    -c "SELECT idp.verify_jwt('$BOB') ? 'user_id'" >/dev/null
check "audit: idp.log_success logs each new identity once (not cache hits)" "2" "$(lines audit_success)"
check "audit: a success line names provider, kid, sub, user id and application_name" "1" \
    "$(grep -c 'pg_idp: token verified: provider=clerk kid="clerk-key-1" sub="user_2alice" user_id="user_2alice" application_name="audit_success"' "$LOG")"
# An application role cannot turn its audit lines off: with pg_idp loaded SET is refused (42501;
# the stats spec checks it on the preloaded regress server); set before pg_idp is loaded in the
# session, the value is dropped when it loads (a WARNING) and the rejection is logged.
check "audit: an application role cannot turn its audit lines off" "first 1" \
    "$(aq audit_try -c "SET idp.log_failures = off" -c "SELECT idp.verify_jwt('$TAMPERED') ? 'error'" -c "SHOW idp.log_failures" 2>/dev/null | tail -n1) $(lines audit_try)"
