# shellcheck shell=bash
# A real OpenID Provider: panva's oidc-provider (tests/oidc/provider.mjs, pinned in
# examples/package-lock.json) on loopback over HTTPS, with a CA made for this run. Nothing here is
# minted by pg_idp: the provider issues every token (client_credentials grants with a resource
# indicator; its JWT access tokens, typ at+jwt). Covers: idp.discover of the provider; its
# access tokens verified for each algorithm family (RS256, PS256, ES256, EdDSA); the audience
# check and a tampered token as controls; RLS on todos with the tokens of two clients; key
# rotation by restarting the provider with a new key, of the same family and of another, with
# the window during which the new tokens fail measured and printed (the kid-miss early refresh,
# the refresh worker's schedule); idp.refresh_jwks picking a new key up at once; no provider
# token in the server log.
# Sourced by scripts/integration (check, q, the primary with `app`, todos, app_user). Restarts the
# primary with pg_idp preloaded (the refresh worker in `app`, the test CA in idp.tls_ca_file).
say "a real OpenID Provider (oidc-provider): discovery, its at+jwt access tokens, rotation windows"
# shellcheck source=../oidc/provider.sh
source "$ROOT/tests/oidc/provider.sh"
if ! why="$(oidc_available)"; then
    echo "not ok - oidc: $why"; FAILED=$((FAILED + 1)); return 0
fi
chmod 755 "$WORK"   # the server reads the test CA under it
oidc_init "$WORK/oidc" && oidc_start \
    || { echo "not ok - oidc: start the test OpenID Provider"; FAILED=$((FAILED + 1)); return 0; }
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$CLUSTER_DIR/server.log" -w -t 60 -m fast restart \
    -o "-c listen_addresses='' -c unix_socket_directories='$CLUSTER_DIR' -p $PGPORT \
-c shared_preload_libraries=pg_idp -c idp.worker_database=app -c idp.tls_ca_file=$OIDC_CA" >/dev/null \
    || { echo "not ok - oidc: restart with pg_idp preloaded"; FAILED=$((FAILED + 1)); oidc_stop; return 0; }
OIDC_TOKENS="$WORK/oidc/tokens"
: >"$OIDC_TOKENS"
# A client's access token, kept to check the server log for it at the end.
otoken() { local t; t="$(oidc_token "$1")" && echo "$t" >>"$OIDC_TOKENS" && echo "$t"; }
# A token's JOSE header member (typ, alg, kid).
jwt_header() { # token member
    local h="${1%%.*}"
    h="$(printf '%s' "$h" | tr '_-' '/+')"
    while [ $((${#h} % 4)) -ne 0 ]; do h="$h="; done
    printf '%s' "$h" | base64 -d 2>/dev/null | python3 -c "import json, sys; print(json.load(sys.stdin).get('$2', ''))"
}
verify() { q -d app -c "SELECT coalesce(idp.verify_jwt('$1')->>'user_id', idp.verify_jwt('$1')->>'error')"; }

discovered="$(q -d app -c "SELECT idp.discover('$OIDC_ISSUER', 'oidc', '{\"audience\": \"urn:pg-idp:app\"}')") \
$(q -d app -c "SELECT jwks_uri FROM idp.providers WHERE name = 'oidc'")"
check "oidc: idp.discover registers the provider with the keys of its jwks_uri (one per family)" "4 $OIDC_ISSUER/jwks" "$discovered"
[ "$discovered" = "4 $OIDC_ISSUER/jwks" ] || { oidc_stop; return 0; }   # nothing below can pass

say "oidc: the provider's JWT access tokens (client_credentials, resource urn:pg-idp:app), per family"
for fam in RS256:svc-rs256:rs-1 PS256:svc-ps256:ps-1 ES256:svc-es256:es-1 EdDSA:svc-eddsa:ed-1; do
    IFS=: read -r alg client kid <<<"$fam"
    t="$(otoken "$client")"
    check "oidc: $alg: the access token is typ at+jwt, alg $alg, kid $kid, and verifies as $client" \
        "at+jwt $alg $kid $client" "$(jwt_header "$t" typ) $(jwt_header "$t" alg) $(jwt_header "$t" kid) $(verify "$t")"
done
T_RS="$(otoken svc-rs256)" T_ED="$(otoken svc-eddsa)"
IFS=. read -r th tp ts <<<"$T_RS"
check "oidc: control: a provider token with another token's signature is refused (invalid_signature)" "invalid_signature" \
    "$(verify "$th.$tp.$(cut -d. -f3 <<<"$T_ED")")"
q -d app -c "SELECT idp.discover('$OIDC_ISSUER', 'oidc', '{\"audience\": \"urn:pg-idp:other\"}')" >/dev/null
check "oidc: control: registered with another audience, its tokens are refused (invalid_audience)" "invalid_audience" "$(verify "$T_RS")"
q -d app -c "SELECT idp.discover('$OIDC_ISSUER', 'oidc', '{\"audience\": \"urn:pg-idp:app\"}')" >/dev/null
check "oidc: ... and accepted again with the provider's audience" "svc-rs256" "$(verify "$T_RS")"

say "oidc: RLS on todos with the tokens of two clients"
# as_token TOKEN SQL...: statements of app_user in one transaction with request.jwt = TOKEN.
as_token() { local t="$1"; shift; printf "BEGIN;\nSELECT set_config('request.jwt', '%s', true) IS NULL;\n%s\nCOMMIT;\n" "$t" "$*" \
    | q -d app -U app_user | grep -vx f; }
as_token "$T_RS" "INSERT INTO todos (title) VALUES ('svc-rs256 1'), ('svc-rs256 2');" >/dev/null
as_token "$T_ED" "INSERT INTO todos (title) VALUES ('svc-eddsa 1');" >/dev/null
check "oidc: RLS: svc-rs256's token sees its 2 rows and nobody else's" "svc-rs256|2|2" \
    "$(as_token "$T_RS" "SELECT idp.requesting_user_id(), count(*), count(*) FILTER (WHERE user_id = 'svc-rs256') FROM todos;")"
check "oidc: RLS: svc-eddsa's token sees its 1 row and nobody else's" "svc-eddsa|1|1" \
    "$(as_token "$T_ED" "SELECT idp.requesting_user_id(), count(*), count(*) FILTER (WHERE user_id = 'svc-eddsa') FROM todos;")"
check "oidc: RLS: svc-eddsa's token updates none of svc-rs256's rows" "0" \
    "$(as_token "$T_ED" "WITH u AS (UPDATE todos SET title = 'taken' WHERE user_id = 'svc-rs256' RETURNING 1) SELECT count(*) FROM u;")"
check "oidc: RLS: ... which are as they were" "svc-rs256 1,svc-rs256 2" \
    "$(q -d app -c "SELECT string_agg(title, ',' ORDER BY title) FROM todos WHERE user_id = 'svc-rs256'")"
q -d app -c "DELETE FROM todos WHERE user_id LIKE 'svc-%'" >/dev/null

say "oidc: key rotation: the provider restarts with a new key; how long do its new tokens fail?"
# window TOKEN: verify TOKEN every 0.1 s until it is valid (60 s at most); prints the first
# answer and the seconds from the first request to the first success.
window() {
    local t="$1" first="" got start now end=""
    start="$(date +%s.%N)"
    for _ in $(seq 1 600); do
        got="$(verify "$t")"
        [ -n "$first" ] || first="$got"
        if [ "$got" = svc-rotating ]; then end="$(date +%s.%N)"; break; fi
        sleep 0.1
    done
    [ -n "$end" ] || end=never
    awk -v f="$first" -v s="$start" -v e="$end" 'BEGIN { if (e == "never") print f, "never"; else printf "%s %.1f\n", f, e - s }'
}
since_fetch() { q -d app -c "SELECT round(extract(epoch FROM now() - last_refresh_attempt)::numeric, 1) FROM idp.provider_health WHERE provider = 'oidc'"; }
log_lines() { grep -c "$1" "$CLUSTER_DIR/server.log"; }
T_OLD="$(otoken svc-rotating)"
check "oidc: before the rotation, svc-rotating's token (RS256, rs-1) verifies" "rs-1 svc-rotating" "$(jwt_header "$T_OLD" kid) $(verify "$T_OLD")"
# Later fetches are scheduled 3 s apart (the refresh worker's own schedule, for the second window);
# each job reads the setting when it starts.
q -d app -c "ALTER SYSTEM SET idp.refresh_interval = '3s'" -c "SELECT pg_reload_conf()" >/dev/null
# 1. Same family: RS256 rs-1 -> rs-2. pg_idp fetched the keys a few seconds ago (discover); an
# unknown kid asks the worker for an early refresh, made at most once per 30 s per provider.
oidc_start --keys RS256:rs-2,PS256:ps-1,ES256:es-1,EdDSA:ed-1 || echo "not ok - oidc: restart the provider"
early0="$(log_lines 'refreshed JWKS of provider "oidc": 4 keys (early: unknown kid)')"
T1="$(otoken svc-rotating)"; S1="$(since_fetch)"
read -r first1 w1 <<<"$(window "$T1")"
echo "# oidc: rotation window, same family (RS256 rs-1 -> rs-2), the kid-miss early refresh: ${w1} s (the last fetch was ${S1} s before the first request, and early refreshes come at most every 30 s: $(awk -v w="$w1" -v s="$S1" 'BEGIN { if (w == "never") print "never"; else printf "%.1f", w - (30 - s) }') s after the 30 s were up)"
check "oidc: same family: the new kid fails unknown_key, then the kid-miss early refresh lets it in (within 30 s of the last fetch + 3 s)" \
    "unknown_key yes 1" \
    "$first1 $(awk -v w="$w1" -v s="$S1" 'BEGIN { print (w != "never" && w <= 30 - s + 3) ? "yes" : "no (" w " s)" }') \
$(( $(log_lines 'refreshed JWKS of provider "oidc": 4 keys (early: unknown kid)') - early0 ))"
# 2. Another family: svc-rotating now signs with ES256 es-2. The last fetch was the early refresh
# just now, so the kid miss is not refreshed early: the worker's next scheduled fetch (3 s after
# the last) picks the key up.
oidc_start --keys RS256:rs-2,PS256:ps-1,ES256:es-2,EdDSA:ed-1 --alg svc-rotating=ES256 || echo "not ok - oidc: restart the provider"
T2="$(otoken svc-rotating)"; S2="$(since_fetch)"
read -r first2 w2 <<<"$(window "$T2")"
echo "# oidc: rotation window, another family (RS256 -> ES256 es-2), the refresh worker's schedule (idp.refresh_interval = 3s): ${w2} s (first answer: ${first2}; the last fetch was ${S2} s before the first request)"
# (The first request may already succeed, when a scheduled fetch came between the restart and it.)
check "oidc: another family: the worker's scheduled refresh lets the ES256 kid in (within 3 s + 2 s)" \
    "ES256 yes" \
    "$(jwt_header "$T2" alg) $(awk -v w="$w2" 'BEGIN { print (w != "never" && w <= 5) ? "yes" : "no (" w " s)" }')"
check "oidc: the retired key's tokens are refused (unknown_key)" "unknown_key" "$(verify "$T_OLD")"
q -d app -c "ALTER SYSTEM RESET idp.refresh_interval" -c "SELECT pg_reload_conf()" >/dev/null
# Wait for one more scheduled fetch, which schedules the next at the default 10 minutes.
for _ in $(seq 1 100); do
    [ "$(q -d app -c "SELECT next_refresh > now() + interval '5 minutes' FROM idp.provider_health WHERE provider = 'oidc'")" = t ] && break
    sleep 0.1
done
# 3. idp.refresh_jwks: EdDSA ed-2, fetched by hand at once.
oidc_start --keys RS256:rs-2,PS256:ps-1,ES256:es-2,EdDSA:ed-2 --alg svc-rotating=EdDSA || echo "not ok - oidc: restart the provider"
T3="$(otoken svc-rotating)"
check "oidc: refresh_jwks: before it, the new EdDSA kid is unknown (no refresh is due for 5 minutes)" "ed-2 unknown_key" \
    "$(jwt_header "$T3" kid) $(verify "$T3")"
check "oidc: refresh_jwks picks the new key up at once: the very next request verifies" "4 svc-rotating" \
    "$(q -d app -c "SELECT idp.refresh_jwks('oidc')") $(verify "$T3")"

check "oidc: no provider token (nor its signature) in the server log" "0" \
    "$(while read -r t; do grep -cF -e "$t" -e "${t##*.}" "$CLUSTER_DIR/server.log"; done <"$OIDC_TOKENS" | awk '{ n += $1 } END { print n + 0 }')"
q -d app -c "SELECT idp.unregister_provider('oidc')" >/dev/null
oidc_stop
