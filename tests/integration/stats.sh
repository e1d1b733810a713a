# shellcheck shell=bash
# idp.stats under concurrent pgbench clients, and idp.provider_health as the refresh worker
# fills it, on the primary preloaded by the worker suite.
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run it after jwks and worker: INTEGRATION_SUITES="pgbouncer jwks worker stats".
say "stats: counters under 4 concurrent clients; provider health from the refresh worker"
build_cli
"$PG_IDP" mint --key "$WORK/fixtures/clerk.key.json" --count 200 \
    --claims '{"iss":"https://acme.clerk.accounts.dev","sub":"stats_user_{n}"}' >"$WORK/stats.tokens"
q -d app -c "CREATE TABLE stats_tokens (uid int PRIMARY KEY, tok text NOT NULL)" -c "GRANT SELECT ON stats_tokens TO app_user" >/dev/null
awk '{ printf "%d\t%s\n", NR, $0 }' "$WORK/stats.tokens" | q -d app -c "\\copy stats_tokens FROM pstdin"
cat >"$WORK/stats.pgb" <<'PGB'
\set uid random(1, 200)
BEGIN;
SELECT set_config('request.jwt', tok, true) IS NOT NULL FROM stats_tokens WHERE uid = :uid;
SELECT idp.requesting_user_id();
COMMIT;
PGB
chmod 644 "$WORK/stats.pgb"
check "stats: with pg_idp preloaded, idp.stats answers without a NOTICE" "0" \
    "$(q -d app -c "SELECT count(*) FROM idp.stats WHERE datname = 'app' AND verifications < 0" 2>&1 | grep -vc '^0$')"
q -d app -c "SELECT idp.reset_stats('clerk')" >/dev/null
# 4 clients, 250 transactions each: each transaction resolves its request token once, by a
# verification (a token new to that backend) or from the backend's cache; the clients have
# exited when the counters are read.
"$PGBIN/pgbench" -n -c 4 -j 2 -t 250 -U app_user -f "$WORK/stats.pgb" app >"$WORK/stats.pgbench.out" 2>&1
check "stats: pgbench, 4 clients x 250 transactions" "0 1000/1000" \
    "$? $(sed -nE 's/^number of transactions actually processed: ([0-9]+\/[0-9]+).*/\1/p' "$WORK/stats.pgbench.out")"
check "stats: every transaction counted once: successes + cache hits = 1000, no failures, at most 200 verifications per client" \
    "1000|0|t" \
    "$(q -d app -c "SELECT successes + cache_hits, failures, successes BETWEEN 1 AND 800 FROM idp.stats WHERE datname = 'app' AND provider = 'clerk'")"

# The refresh worker's work in provider_health: 'auto' (refreshed by it all along, every 2 s: its
# next refresh may be due already, for the moment until a job takes it up) and a provider
# whose jwks_uri answers 404, registered with its keys inline so that only the worker fetches.
q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', 'flaky', 'issuer', 'https://flaky.example.com',
    'jwks_uri', '$PLAIN/missing.json', 'jwks', pg_read_file('$WORK/auto1.jwks.json')::jsonb))" >/dev/null
code=""
for _ in $(seq 1 100); do
    code="$(q -d app -c "SELECT last_refresh_error_code FROM idp.provider_health WHERE provider = 'flaky'")"
    [ -n "$code" ] && break
    sleep 0.2
done
check "stats: a failed refresh by the worker: its code, the URL in the message, keys kept, next attempt scheduled" \
    "fetch_failed|t|1|f|t" \
    "$(q -d app -c "SELECT last_refresh_error_code, last_refresh_error LIKE 'JWKS at $PLAIN/missing.json %', key_count,
                           last_refresh_success IS NOT NULL, next_refresh > last_refresh_attempt
                      FROM idp.provider_health WHERE provider = 'flaky'")"
check "stats: the worker's refreshes of auto: source, keys, last success, next refresh" "jwks_uri|1|t|t" \
    "$(q -d app -c "SELECT key_source, key_count, last_refresh_success IS NOT NULL, next_refresh > last_refresh_success
                      FROM idp.provider_health WHERE provider = 'auto'")"
check "stats: provider health is readable by an application role (USAGE on idp)" "t" \
    "$(psql -X -q -At -U app_user -d app -c "SELECT count(*) >= 2 FROM idp.provider_health")"
q -d app -c "SELECT idp.unregister_provider('flaky')" -c "DROP TABLE stats_tokens" >/dev/null
