# shellcheck shell=bash
# A slow key server costs its own database only. The issue's endpoint: it answers in 3 s (over
# half of idp.http_timeout) with Cache-Control: max-age=1, registered in three databases; beside
# it in each, a fast one with max-age=1 and one that fails (503). A key server's max-age cannot
# bring a refresh nearer than a minute (the floor), and after a failed or slow refresh the
# provider backs off (a minute, doubling up to 30, less up to a quarter at random): neither its
# schedule nor an unknown kid fetches it sooner. Checked in idp.provider_health and in the key
# server's own request log (scripts/http_fixture.py writes every GET to $WORK/http.log); the
# controls: a healthy provider's unknown kid is refreshed early at the same moment, and under an
# idp.refresh_interval below the floor (the superuser's) the fast server is fetched every 2 s.
# Sourced by scripts/integration (check, q, fixture, the primary with `app`), which starts the
# key server it fetches from for it (key_server: $WWW, $PLAIN, the keys rot1 and rot2).
say "a slow key server: a floor under max-age, a backoff after slow and failed refreshes"
KS_REQUESTS="$WORK/http.log"
KS_OPTS="-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT -c shared_preload_libraries=pg_idp -c idp.check_interval=1"
ks_restart() { # extra server options
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart -o "$KS_OPTS $*" >/dev/null
}
cp "$WORK/rot1.jwks.json" "$WWW/ks.json"
# Requests for PATH from database DB since line MARK of the request log (the database is the
# query string of its providers' URLs).
ks_requests() { # mark path db
    tail -n +"$(($1 + 1))" "$KS_REQUESTS" | grep -c " $2?$3\$"
}
ks_each() { # mark path: the requests of each database
    echo "$(ks_requests "$1" "$2" ks_1) $(ks_requests "$1" "$2" ks_2) $(ks_requests "$1" "$2" ks_3)"
}
# A query's answer in each database (columns joined by spaces), joined by |.
ks_ask() { # sql
    echo "$(q -F ' ' -d ks_1 -c "$1")|$(q -F ' ' -d ks_2 -c "$1")|$(q -F ' ' -d ks_3 -c "$1")"
}
# Wait until each database's three providers have ended a refresh since the server started.
ks_first_round() {
    for _ in $(seq 1 300); do
        [ "$(ks_ask "SELECT count(*) FROM idp.provider_health WHERE last_refresh_duration IS NOT NULL")" = "3|3|3" ] && return 0
        sleep 0.2
    done
    return 1
}
SLOW=/slow/maxage/1/ks.json FAST=/maxage/1/ks.json DOWN=/status/503

# idp.refresh_interval at its default (10 minutes; the worker suite set it with ALTER SYSTEM),
# idp.http_timeout too (5 s).
q -c "ALTER SYSTEM RESET idp.refresh_interval" >/dev/null
ks_restart -c idp.max_workers=4
MARK="$(wc -l <"$KS_REQUESTS")"
for n in 1 2 3; do
    q -c "CREATE DATABASE ks_$n" >/dev/null
    q -d "ks_$n" -f - >/dev/null <<SQL
CREATE EXTENSION pg_idp;
SELECT idp.register_provider(jsonb_build_object('provider', p, 'issuer', 'https://' || p || '.example.com',
    'jwks_uri', '$PLAIN' || path || '?ks_$n'), fetch_keys => false)
  FROM (VALUES ('ks_slow', '$SLOW'), ('ks_fast', '$FAST'), ('ks_down', '$DOWN')) v(p, path);
SQL
done
ks_first_round || echo "# keyserver: the jobs' first refreshes did not all end within 60 s"
# 31 s after the last first fetch of the fast server (an early refresh is never made within 30 s
# of the last fetch), while the slow and the failing ones still back off.
for _ in $(seq 1 500); do
    [ "$(ks_ask "SELECT now() - last_refresh_attempt > interval '31 seconds' FROM idp.provider_health WHERE provider = 'ks_fast'")" = "t|t|t" ] && break
    sleep 0.1
done
check "keyserver: max-age=1 from a fast key server: fetched once per database in over 30 s, the next refresh a minute after the last (the floor)" \
    "1 1 1 t|t|t" \
    "$(ks_each "$MARK" "$FAST") $(ks_ask "SELECT next_refresh - last_refresh_attempt BETWEEN interval '60 seconds' AND interval '65 seconds'
                                            FROM idp.provider_health WHERE provider = 'ks_fast'")"
check "keyserver: max-age=1 from a key server answering in 3 s: keys stored, fetched once per database, one slow refresh, backing off 45 to 60 s, next refresh a minute on" \
    "1 1 1 1 1 t t t|1 1 t t t|1 1 t t t" \
    "$(ks_each "$MARK" "$SLOW") $(ks_ask "SELECT key_count, consecutive_refresh_failures, last_refresh_duration >= interval '3 seconds',
                                                   refresh_backoff_until - (last_refresh_attempt + last_refresh_duration) BETWEEN interval '45 seconds' AND interval '60.1 seconds',
                                                   next_refresh - last_refresh_attempt >= interval '60 seconds'
                                              FROM idp.provider_health WHERE provider = 'ks_slow'")"
check "keyserver: a failing key server (503): fetched once per database, one failure in a row, next attempt at idp.refresh_interval (10 min)" \
    "1 1 1 1 fetch_failed t|1 fetch_failed t|1 fetch_failed t" \
    "$(ks_each "$MARK" "$DOWN") $(ks_ask "SELECT consecutive_refresh_failures, last_refresh_error_code,
                                                   next_refresh - last_refresh_attempt >= interval '599 seconds'
                                              FROM idp.provider_health WHERE provider = 'ks_down'")"
# Unknown kids (tokens signed with a key none of them has) for each provider, in each database.
[ -n "${PG_IDP:-}" ] || build_cli
BEFORE="$(ks_ask "SELECT count(*) FROM idp.provider_health WHERE refresh_backoff_until > now() + interval '5 seconds'")"
for p in ks_fast ks_slow ks_down; do
    t="$("$PG_IDP" mint --key "$WORK/rot2.key.json" --claims "{\"iss\":\"https://$p.example.com\",\"sub\":\"ks_user\"}")"
    for n in 1 2 3; do q -d "ks_$n" -c "SELECT idp.verify_jwt('$t')->>'error'" >/dev/null; done
done
for _ in $(seq 1 100); do [ "$(ks_each "$MARK" "$FAST")" = "2 2 2" ] && break; sleep 0.1; done
sleep 2   # jobs that would refresh the others early have run by now
check "keyserver: an unknown kid: refreshed early where the provider is healthy (control), not where it backs off (slow, failing)" \
    "2|2|2 2 2 2 1 1 1 1 1 1" \
    "$BEFORE $(ks_each "$MARK" "$FAST") $(ks_each "$MARK" "$SLOW") $(ks_each "$MARK" "$DOWN")"

# The control of the floor: idp.refresh_interval below it is the superuser's, and kept; the
# request log then shows the fast server fetched every 2 s, while the slow and the failing ones
# back off.
MARK="$(wc -l <"$KS_REQUESTS")"   # before the restart: its first jobs fetch at once
ks_restart -c idp.max_workers=4 -c idp.refresh_interval=2
ks_first_round || echo "# keyserver: the jobs' first refreshes did not all end within 60 s"
sleep 15
check "keyserver: control: under idp.refresh_interval = 2 s, max-age=1 from a fast server is fetched every 2 s (at least 4 times in 15 s per database)" \
    "t t t" \
    "$(for c in $(ks_each "$MARK" "$FAST"); do [ "$c" -ge 4 ] && echo -n "t " || echo -n "f($c) "; done | sed 's/ $//')"
check "keyserver: ... while the slow and the failing ones are fetched once per database, backing off" \
    "1 1 1 1 1 1 1|1|1" \
    "$(ks_each "$MARK" "$SLOW") $(ks_each "$MARK" "$DOWN") $(ks_ask "SELECT min(consecutive_refresh_failures) FROM idp.provider_health WHERE provider IN ('ks_slow', 'ks_down')")"

# The primary again, as the worker suite left it.
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT \
    -c shared_preload_libraries=pg_idp -c idp.worker_database=app,citus_w -c idp.refresh_interval=2" >/dev/null
for n in 1 2 3; do q -c "DROP DATABASE ks_$n WITH (FORCE)" >/dev/null; done
