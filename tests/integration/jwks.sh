# shellcheck shell=bash
# Idp.discover and idp.refresh_jwks against local HTTP and HTTPS servers: every failure mode
# keeps the current keys.
# Sourced by scripts/integration, which defines check, q, fixture and starts the primary with its
# `app` database; run only some suites with INTEGRATION_SUITES="pgbouncer standby" (worker needs jwks).
say "JWKS over http and https: idp.discover, idp.refresh_jwks"
WWW="$WORK/www" TLS="$WORK/tls"
mkdir -p "$WWW/.well-known" "$WWW/liar/.well-known" "$TLS"
# A CA and a certificate for 127.0.0.1 signed by it, made here and trusted only through
# idp.tls_ca_file.
make_test_tls "$TLS" "IP:127.0.0.1,DNS:localhost"
chmod 755 "$WORK"
HTTP_PORT="$(free_port)" HTTPS_PORT="$(free_port)"
ISS="https://127.0.0.1:$HTTPS_PORT" PLAIN="http://127.0.0.1:$HTTP_PORT"
build_cli
"$PG_IDP" keygen --alg RS256 --kid rot-1 --out "$WORK/rot1" >/dev/null 2>&1
"$PG_IDP" keygen --alg RS256 --kid rot-2 --out "$WORK/rot2" >/dev/null 2>&1
cp "$WORK/rot1.jwks.json" "$WWW/jwks.json"
printf '{"issuer":"%s","jwks_uri":"%s/jwks.json"}' "$ISS" "$ISS" >"$WWW/.well-known/openid-configuration"
printf '{"issuer":"https://evil.example.com","jwks_uri":"%s/jwks.json"}' "$ISS" >"$WWW/liar/.well-known/openid-configuration"
printf '{"keys":[],"padding":"%s"}' "$(head -c 70000 /dev/zero | tr '\0' 'x')" >"$WWW/big.json"
printf 'hello' >"$WWW/not-json.json"
printf '{"keys":[]}' >"$WWW/empty.json"
python3 "$ROOT/scripts/http_fixture.py" "$WWW" "$HTTP_PORT" >"$WORK/http.log" 2>&1 & HTTP_PID=$!
python3 "$ROOT/scripts/http_fixture.py" "$WWW" "$HTTPS_PORT" "$TLS/server.pem" "$TLS/server.key" >"$WORK/https.log" 2>&1 & HTTPS_PID=$!
for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$HTTPS_PORT") 2>/dev/null && break
    sleep 0.1
done
T1=$("$PG_IDP" mint --key "$WORK/rot1.key.json" --claims "{\"iss\":\"$ISS\",\"sub\":\"user_rot\"}")
T2=$("$PG_IDP" mint --key "$WORK/rot2.key.json" --claims "{\"iss\":\"$ISS\",\"sub\":\"user_rot\"}")
q -d app -c "CREATE FUNCTION outcome(q text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE r text; st text; det text;
BEGIN
    EXECUTE q INTO r;
    RETURN coalesce(r, 'NULL');
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
    RETURN st || coalesce(' ' || substring(det FROM 'pg_idp error code: (\w+)'), '');
END \$\$" >/dev/null
CA="SET idp.tls_ca_file = '$TLS/ca.pem'"
out() { q -d app -c "$CA" -c "${2:-SET idp.http_timeout = '5s'}" -c "SELECT outcome(\$q\$$1\$q\$)"; }
check "discover: the issuer's OpenID configuration and keys, over https with the test CA" "1" \
    "$(out "SELECT idp.discover('$ISS', 'rot')::text")"
check "discover: the provider verifies tokens of the discovered key" "user_rot" \
    "$(out "SELECT idp.verify_jwt('$T1')->>'user_id'")"
check "discover: jwks_uri is stored" "$ISS/jwks.json" \
    "$(q -d app -c "SELECT jwks_uri FROM idp.providers WHERE name = 'rot'")"
cp "$WORK/rot2.jwks.json" "$WWW/jwks.json"
check "refresh_jwks: a rotated key set is loaded" "1" "$(out "SELECT idp.refresh_jwks('rot')::text")"
check "refresh_jwks: the new kid is accepted, the retired one refused" "user_rot unknown_key" \
    "$(out "SELECT (idp.verify_jwt('$T2')->>'user_id') || ' ' || (idp.verify_jwt('$T1')->>'error')")"
mv "$WWW/jwks.json" "$WWW/jwks.json.away"
check "refresh_jwks: a failed fetch (404) is 08000 fetch_failed" "08000 fetch_failed" "$(out "SELECT idp.refresh_jwks('rot')::text")"
check "refresh_jwks: ... and the current keys stay" "user_rot" "$(out "SELECT idp.verify_jwt('$T2')->>'user_id'")"
mv "$WWW/jwks.json.away" "$WWW/jwks.json"
check "refresh_jwks: https to a server the trusted CAs do not vouch for is refused" "08000 fetch_failed" \
    "$(q -d app -c "SELECT outcome(\$q\$SELECT idp.refresh_jwks('rot')::text\$q\$)")"
check "discover: a configuration naming another issuer is refused" "22023 invalid_response" \
    "$(out "SELECT idp.discover('$ISS/liar', 'liar')::text")"
check "discover: ... and registers nothing" "0" "$(q -d app -c "SELECT count(*) FROM idp.providers WHERE name = 'liar'")"
register_uri() { # name uri
    q -d app -c "SELECT idp.register_provider(jsonb_build_object('provider', '$1', 'issuer', 'https://$1.example.com',
        'jwks_uri', '$2', 'jwks', pg_read_file('$WORK/rot1.jwks.json')::jsonb))" >/dev/null
}
register_uri big "$PLAIN/big.json"
register_uri slow "$PLAIN/slow/jwks.json"
register_uri moved "$PLAIN/redirect/jwks.json"
register_uri garbage "$PLAIN/not-json.json"
register_uri empty "$PLAIN/empty.json"
register_uri remote "http://example.com/jwks.json"
register_uri plain "$PLAIN/jwks.json"
check "refresh_jwks: plain http to loopback works" "1" "$(out "SELECT idp.refresh_jwks('plain')::text")"
check "refresh_jwks: an answer over 64 KiB is 54000 response_too_large" "54000 response_too_large" "$(out "SELECT idp.refresh_jwks('big')::text")"
check "refresh_jwks: a slow answer fails at idp.http_timeout" "08000 fetch_failed" \
    "$(out "SELECT idp.refresh_jwks('slow')::text" "SET idp.http_timeout = '500ms'")"
check "refresh_jwks: redirects are not followed" "08000 fetch_failed" "$(out "SELECT idp.refresh_jwks('moved')::text")"
check "refresh_jwks: an answer that is not JSON is refused" "22023 invalid_response" "$(out "SELECT idp.refresh_jwks('garbage')::text")"
check "refresh_jwks: an empty key set is refused" "22023 invalid_response" "$(out "SELECT idp.refresh_jwks('empty')::text")"
check "refresh_jwks: plain http to a non-loopback host is refused before any network" "22023 url_not_allowed" \
    "$(out "SELECT idp.refresh_jwks('remote')::text")"
check "refresh_jwks: failed refreshes left every key set as it was" "rot-1 rot-1 rot-1 rot-1 rot-1" \
    "$(q -d app -c "SELECT string_agg(key_ids[1], ' ' ORDER BY name) FROM idp.providers WHERE name IN ('big', 'slow', 'moved', 'garbage', 'empty')")"
check "refresh_jwks: an application role may not call it (42501)" "42501" \
    "$(q -d app -c "SET ROLE app_user" -c "SELECT outcome(\$q\$SELECT idp.refresh_jwks('rot')::text\$q\$)")"
