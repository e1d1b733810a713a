-- Attack corpus: malformed and hostile tokens, each rejected with the error code README.md
-- documents for its reason, none accepted, by idp.verify_jwt() and through the request path.
-- Tokens that need a key come from scripts/fixtures (the atk_* tokens and a few older ones);
-- the rest are built here from fixture pieces, or signed with pgcrypto's hmac() at an HS256
-- provider so that only the one thing under attack is wrong. No token text is ever printed.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS atk CASCADE;
RESET client_min_messages;

-- Providers: Clerk (RS256 JWKS) and its HS256 JWT template at the same issuer; "acme", RS256
-- only with Clerk's key; Auth0 (issuer ends with "/"); an ES256-only provider; and "attack_hs",
-- HS256 with an audience, whose tokens the SQL below signs.
\i :specs/clerk.sql
\i :specs/insforge.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'acme', 'issuer', 'https://login.acme.test', 'jwks', :'clerk_jwks'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'auth0', 'issuer', 'https://acme.us.auth0.com/', 'jwks', :'auth0_jwks'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'ec', 'issuer', 'https://families.example.com', 'jwks', :'fam_es256_jwks'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'attack_hs', 'issuer', 'https://hs.attack.test', 'audience', 'attack-api',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'secret', :'fam_hs_secret'));

-- Helpers. atk.hs(payload, header) signs with attack_hs's secret; in the payload text, $ISS is
-- its issuer, $EXP an hour from now, $PAST an hour ago, $RECENT a minute ago (beyond the
-- default 30 s leeway).
CREATE SCHEMA atk;
CREATE TABLE atk.secret AS SELECT :'fam_hs_secret'::text AS s;
CREATE FUNCTION atk.b64(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT rtrim(translate(encode(b, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION atk.seg(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT atk.b64(convert_to(t, 'UTF8'))
$$;
CREATE FUNCTION atk.sign(h text, p text, secret text, mac text DEFAULT 'sha256') RETURNS text LANGUAGE sql AS $$
  SELECT h || '.' || p || '.' || atk.b64(hmac(convert_to(h || '.' || p, 'UTF8'), convert_to(secret, 'UTF8'), mac))
$$;
CREATE FUNCTION atk.p(t text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT replace(replace(replace(replace(t,
           '$ISS', 'https://hs.attack.test'),
           '$EXP', (extract(epoch FROM now())::bigint + 3600)::text),
           '$PAST', (extract(epoch FROM now())::bigint - 3600)::text),
           '$RECENT', (extract(epoch FROM now())::bigint - 60)::text)
$$;
CREATE FUNCTION atk.hs(payload text, header text DEFAULT '{"alg":"HS256","typ":"JWT"}') RETURNS text LANGUAGE sql STABLE AS $$
  SELECT atk.sign(atk.seg(header), atk.seg(atk.p(payload)), (SELECT s FROM atk.secret))
$$;
-- Raw payload bytes (not valid UTF-8), signed the same way.
CREATE FUNCTION atk.hs_bytes(payload bytea, header bytea DEFAULT convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT atk.sign(atk.b64(header), atk.b64(payload), (SELECT s FROM atk.secret))
$$;

-- Controls: the pieces the corpus is built from are good tokens, and so is what atk.hs signs,
-- so each attack below fails for its own reason, not for the way it was built.
SELECT label, r->>'valid' AS valid, coalesce(r->>'provider' || ' ' || (r->>'user_id'), r->>'error') AS result
FROM (VALUES
  ('control: clerk_alice (RS256)',   :'clerk_alice'),
  ('control: insforge_alice (HS256)', :'insforge_alice'),
  ('control: atk.hs()',              atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('control: atk.hs_bytes()',        atk.hs_bytes(convert_to(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}'), 'UTF8')))
) AS c(label, token), LATERAL (SELECT idp.verify_jwt(token) AS r) v
ORDER BY label;

-- The corpus. Pieces: Alice's and Bob's Clerk tokens (RS256, 342-character signature) and
-- Alice's InsForge token (HS256, 43-character signature).
CREATE TABLE attacks (label text PRIMARY KEY, token text NOT NULL);
WITH pieces AS (
  SELECT split_part(:'clerk_alice', '.', 1) AS ah, split_part(:'clerk_alice', '.', 2) AS ap,
         split_part(:'clerk_alice', '.', 3) AS asig, split_part(:'clerk_bob', '.', 3) AS bsig,
         :'clerk_alice'::text AS alice, :'insforge_alice'::text AS ins,
         'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'::text AS alphabet
)
INSERT INTO attacks (label, token)
SELECT label, token FROM pieces, LATERAL (VALUES
  -- alg: none in any case, unknown or misspelled algorithms, a missing or non-string alg.
  ('alg_none',                     atk.seg('{"alg":"none","typ":"JWT"}') || '.' || ap || '.'),
  ('alg_None',                     atk.seg('{"alg":"None","typ":"JWT"}') || '.' || ap || '.'),
  ('alg_NONE',                     atk.seg('{"alg":"NONE","typ":"JWT"}') || '.' || ap || '.'),
  ('alg_nOnE',                     atk.seg('{"alg":"nOnE","typ":"JWT"}') || '.' || ap || '.'),
  ('alg_none_keeping_signature',   atk.seg('{"alg":"none","typ":"JWT"}') || '.' || ap || '.' || asig),
  ('alg_lowercase_hs256',          atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"hs256"}')),
  ('alg_trailing_space',           atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256 "}')),
  ('alg_with_nul',                 atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256\u0000"}')),
  ('alg_empty_string',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":""}')),
  ('alg_jwe_rsa_oaep',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"RSA-OAEP","enc":"A256GCM"}')),
  ('alg_missing',                  atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"typ":"JWT"}')),
  ('alg_not_a_string',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":["HS256"]}')),
  ('alg_null',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":null}')),
  -- Key confusion: HS256 "signed" with a public key as the HMAC secret; algorithm/key mismatch.
  ('confusion_hs256_rsa_jwks_acme',  :'hs256_with_rsa_public_key'),
  ('confusion_hs256_rsa_jwks_clerk', :'hs256_with_rsa_public_key_clerk'),
  ('confusion_hs256_rsa_pem_acme',   :'atk_hs256_rsa_pem_acme'),
  ('confusion_hs256_rsa_pem_clerk',  :'atk_hs256_rsa_pem_clerk'),
  ('confusion_hs256_rsa_jwk_clerk',  :'atk_hs256_rsa_jwk_clerk'),
  ('confusion_hs256_ec_jwks',        :'atk_hs256_ec_public_key'),
  ('confusion_rs256_on_hs_provider', :'atk_rs256_on_hs_provider'),
  ('confusion_ps256_rs256_only_jwk', :'atk_ps256_with_rs256_jwk'),
  ('confusion_hs384_header_sha256',  atk.sign(atk.seg('{"alg":"HS384"}'), atk.seg(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')), (SELECT s FROM atk.secret), 'sha256')),
  -- kid: hostile strings (signed with Clerk's real key, so only the kid is wrong).
  ('kid_path_traversal',           :'atk_kid_path_traversal'),
  ('kid_sql_injection_or',         :'atk_kid_sqli_or'),
  ('kid_sql_injection_drop',       :'atk_kid_sqli_drop'),
  ('kid_8000_chars',               :'atk_kid_8000_chars'),
  ('kid_empty',                    :'atk_kid_empty'),
  ('kid_with_nul',                 :'atk_kid_nul'),
  ('kid_number',                   :'atk_kid_number'),
  ('kid_null',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256","kid":null}')),
  ('kid_of_other_provider',        :'atk_kid_of_other_provider'),
  ('kid_dev_null_empty_secret',    atk.sign(atk.seg('{"alg":"HS256","kid":"/dev/null"}'), atk.seg(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')), '')),
  ('kid_same_other_key',           :'atk_other_key_same_kid'),
  ('kid_same_impostor_key',        :'impostor_key'),
  -- crit, and RFC 7797's unencoded payload.
  ('crit_b64_false',               :'atk_crit_b64_false'),
  ('crit_unknown_extension',       :'atk_crit_unknown'),
  ('crit_empty_list',              :'atk_crit_empty'),
  -- RFC 7797 in compact form puts the raw payload in the middle segment: not base64url.
  ('crit_b64_raw_payload_segment', atk.sign(atk.seg('{"alg":"HS256","b64":false,"crit":["b64"]}'), atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}'), (SELECT s FROM atk.secret))),
  -- b64 false without crit: the MAC covers the unencoded payload, the token carries it encoded.
  ('b64_false_no_crit_unencoded',  (SELECT h || '.' || atk.seg(pl) || '.' || atk.b64(hmac(convert_to(h || '.' || pl, 'UTF8'), convert_to(k.s, 'UTF8'), 'sha256'))
                                      FROM atk.seg('{"alg":"HS256","b64":false}') AS h,
                                           atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}') AS pl, atk.secret AS k)),
  -- Key-locating headers pointing at the attacker's own key: never used to find a key.
  ('hdr_jku',                      :'atk_jku'),
  ('hdr_jku_victim_kid',           :'atk_jku_victim_kid'),
  ('hdr_x5u',                      :'atk_x5u'),
  ('hdr_jwk_embedded',             :'atk_jwk_embedded'),
  ('hdr_jwk_embedded_no_kid',      :'atk_jwk_embedded_no_kid'),
  -- Compact serialization: segments, dots, alphabet, padding, whitespace.
  ('shape_empty',                  ''),
  ('shape_garbage',                'not-a-jwt'),
  ('shape_one_segment',            ah),
  ('shape_two_segments',           ah || '.' || ap),
  ('shape_four_segments',          alice || '.' || ap),
  ('shape_five_segments_jwe',      atk.seg('{"alg":"RSA-OAEP","enc":"A256GCM"}') || '.' || atk.b64('\x0102030405'::bytea) || '.' || atk.b64('\x0607'::bytea) || '.' || ap || '.' || atk.b64('\x0809'::bytea)),
  ('shape_only_dots',              '..'),
  ('shape_leading_dot',            '.' || alice),
  ('shape_trailing_dot',           alice || '.'),
  ('shape_empty_header',           '.' || ap || '.' || asig),
  ('shape_empty_payload',          ah || '..' || asig),
  ('shape_empty_signature',        ah || '.' || ap || '.'),
  ('shape_bearer_prefix',          'Bearer ' || alice),
  -- Whitespace around a valid token: refused (RFC 7515 has none), never trimmed into it.
  ('ws_leading_space',             ' ' || alice),
  ('ws_trailing_space',            alice || ' '),
  ('ws_trailing_newline',          alice || E'\n'),
  ('ws_trailing_crlf',             alice || E'\r\n'),
  ('b64_plus_in_payload',          ah || '.' || overlay(ap placing '+' from 10 for 1) || '.' || asig),
  ('b64_slash_in_signature',       ah || '.' || ap || '.' || overlay(asig placing '/' from 10 for 1)),
  ('b64_url_encoded_dots',         replace(alice, '.', '%2E')),
  ('b64_padding_on_header',        ah || '=.' || ap || '.' || asig),
  ('b64_padding_on_signature',     alice || '=='),
  ('b64_space_inside_payload',     ah || '.' || overlay(ap placing ' ' from 10 for 0) || '.' || asig),
  ('b64_newline_between_segments', ah || E'.\n' || ap || '.' || asig),
  ('b64_tab_inside_signature',     ah || '.' || ap || '.' || overlay(asig placing E'\t' from 100 for 0)),
  ('b64_noncanonical_last_char',   left(ins, -1) || substr(alphabet, ((strpos(alphabet, right(ins, 1)) - 1) | 1) + 1, 1)),
  ('utf8_overlong_in_payload',     atk.hs_bytes(convert_to(atk.p('{"iss":"$ISS","sub":"user_'), 'UTF8') || '\xc0af'::bytea || convert_to(atk.p('","aud":"attack-api","exp":$EXP}'), 'UTF8'))),
  ('utf8_overlong_nul_in_payload', atk.hs_bytes(convert_to(atk.p('{"iss":"$ISS","sub":"user_'), 'UTF8') || '\xc080'::bytea || convert_to(atk.p('","aud":"attack-api","exp":$EXP}'), 'UTF8'))),
  ('utf8_invalid_byte_in_header',  atk.hs_bytes(convert_to(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}'), 'UTF8'), '\x7b22616c67223a224853323536222c2278223a22ff227d'::bytea)),
  ('utf8_lone_surrogate_in_sub',   atk.hs('{"iss":"$ISS","sub":"\ud800","aud":"attack-api","exp":$EXP}')),
  -- Header and payload that are not JSON objects, or not JSON.
  ('json_header_array',            atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '["HS256"]')),
  ('json_header_string',           atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '"HS256"')),
  ('json_header_null',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', 'null')),
  ('json_header_empty_object',     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{}')),
  ('json_header_trailing_data',    atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256"} {}')),
  ('json_payload_array',           atk.hs('[{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}]')),
  ('json_payload_string',          atk.hs('"user_atk"')),
  ('json_payload_number',          atk.hs('42')),
  ('json_payload_bom',             atk.hs(E'\ufeff{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('json_payload_trailing_comma',  atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,}')),
  ('json_payload_comment',         atk.hs('{"iss":"$ISS",/* */"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('json_payload_single_quotes',   atk.hs('{''iss'':''$ISS'',''sub'':''user_atk'',''aud'':''attack-api'',''exp'':$EXP}')),
  -- Nesting: 5000 levels fit in 16 KiB and reach the parser; 10,000 balanced levels do not
  -- (token_too_large, and malformed under a raised limit, below); 10,000 unclosed levels do.
  ('json_nested_5000_payload',     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"x":' || repeat('[', 5000) || repeat(']', 5000) || '}')),
  ('json_nested_5000_header',      atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256","x":' || repeat('[', 5000) || repeat(']', 5000) || '}')),
  ('json_nested_1500_objects',     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"x":' || repeat('{"a":', 1500) || '1' || repeat('}', 1500) || '}')),
  ('json_nested_10k_unclosed',     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"x":' || repeat('[', 10000))),
  ('json_nested_10k_payload',      atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"x":' || repeat('[', 10000) || repeat(']', 10000) || '}')),
  ('json_nested_10k_header',       atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256","x":' || repeat('[', 10000) || repeat(']', 10000) || '}')),
  -- Duplicate member names, also spelled with a \u escape.
  ('dup_sub',                      atk.hs('{"iss":"$ISS","sub":"user_atk","sub":"admin","aud":"attack-api","exp":$EXP}')),
  ('dup_sub_unicode_escape',       atk.hs('{"iss":"$ISS","sub":"user_atk","\u0073ub":"admin","aud":"attack-api","exp":$EXP}')),
  ('dup_iss',                      atk.hs('{"iss":"$ISS","iss":"https://evil.example.com","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('dup_exp',                      atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$PAST,"exp":$EXP}')),
  ('dup_alg_in_header',            atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256","alg":"none"}')),
  ('dup_kid_unicode_escape',       atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}', '{"alg":"HS256","kid":"a","\u006bid":"b"}')),
  -- exp: wrong types, out of range, missing, in the past.
  ('exp_string',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":"$EXP"}')),
  ('exp_string_nan',               atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":"NaN"}')),
  ('exp_string_infinity',          atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":"Infinity"}')),
  ('exp_bare_nan',                 atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":NaN}')),
  ('exp_bare_infinity',            atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":Infinity}')),
  ('exp_hex_literal',              atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":0x7fffffff}')),
  ('exp_leading_plus',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":+$EXP}')),
  ('exp_1e400',                    atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":1e400}')),
  ('exp_minus_1e400',              atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":-1e400}')),
  ('exp_400_digit_integer',        atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":1' || repeat('0', 400) || '}')),
  ('exp_null',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":null}')),
  ('exp_true',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":true}')),
  ('exp_array',                    atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":[$EXP]}')),
  ('exp_object',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":{"t":$EXP}}')),
  ('exp_missing',                  atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api"}')),
  ('exp_negative',                 atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":-1}')),
  ('exp_zero',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":0}')),
  ('exp_beyond_leeway',            atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$RECENT}')),
  ('exp_expired_clerk',            :'clerk_expired'),
  -- nbf and iat.
  ('nbf_future',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"nbf":$EXP}')),
  ('nbf_future_clerk',             :'clerk_not_yet_valid'),
  ('nbf_string',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"nbf":"0"}')),
  ('nbf_1e400',                    atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"nbf":1e400}')),
  ('iat_future',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"iat":$EXP}')),
  ('iat_future_clerk',             :'atk_iat_future'),
  ('iat_string',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"iat":"0"}')),
  -- aud (attack_hs requires "attack-api").
  ('aud_number',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":1,"exp":$EXP}')),
  ('aud_object',                   atk.hs('{"iss":"$ISS","sub":"user_atk","aud":{"attack-api":true},"exp":$EXP}')),
  ('aud_array_with_number',        atk.hs('{"iss":"$ISS","sub":"user_atk","aud":["attack-api",1],"exp":$EXP}')),
  ('aud_nested_array',             atk.hs('{"iss":"$ISS","sub":"user_atk","aud":[["attack-api"]],"exp":$EXP}')),
  ('aud_null',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":null,"exp":$EXP}')),
  ('aud_true',                     atk.hs('{"iss":"$ISS","sub":"user_atk","aud":true,"exp":$EXP}')),
  ('aud_missing',                  atk.hs('{"iss":"$ISS","sub":"user_atk","exp":$EXP}')),
  ('aud_empty_array',              atk.hs('{"iss":"$ISS","sub":"user_atk","aud":[],"exp":$EXP}')),
  ('aud_other_case',               atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"Attack-API","exp":$EXP}')),
  ('aud_with_nul',                 atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api\u0000","exp":$EXP}')),
  ('aud_of_other_api',             :'wrong_audience'),
  -- iss: near misses, wrong types, missing.
  ('iss_trailing_slash',           atk.hs('{"iss":"$ISS/","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_missing_slash_auth0',      :'auth0_no_slash'),
  ('iss_upper_case',               atk.hs('{"iss":"HTTPS://HS.ATTACK.TEST","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_homoglyph',                atk.hs(E'{"iss":"https://hs.\u0430ttack.test","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_with_nul',                 atk.hs('{"iss":"$ISS\u0000","sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_unregistered',             :'wrong_issuer'),
  ('iss_number',                   atk.hs('{"iss":1,"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_array',                    atk.hs('{"iss":["$ISS"],"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_null',                     atk.hs('{"iss":null,"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_object',                   atk.hs('{"iss":{"$ISS":1},"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  ('iss_missing',                  atk.hs('{"sub":"user_atk","aud":"attack-api","exp":$EXP}')),
  -- sub, the mapped user id: missing, empty, not a string.
  ('sub_missing',                  atk.hs('{"iss":"$ISS","aud":"attack-api","exp":$EXP}')),
  ('sub_missing_clerk',            :'no_sub'),
  ('sub_empty',                    atk.hs('{"iss":"$ISS","sub":"","aud":"attack-api","exp":$EXP}')),
  ('sub_number',                   atk.hs('{"iss":"$ISS","sub":42,"aud":"attack-api","exp":$EXP}')),
  ('sub_null',                     atk.hs('{"iss":"$ISS","sub":null,"aud":"attack-api","exp":$EXP}')),
  ('sub_true',                     atk.hs('{"iss":"$ISS","sub":true,"aud":"attack-api","exp":$EXP}')),
  ('sub_object',                   atk.hs('{"iss":"$ISS","sub":{"id":"user_atk"},"aud":"attack-api","exp":$EXP}')),
  ('sub_empty_array',              atk.hs('{"iss":"$ISS","sub":[],"aud":"attack-api","exp":$EXP}')),
  ('sub_array_of_number',          atk.hs('{"iss":"$ISS","sub":[42],"aud":"attack-api","exp":$EXP}')),
  ('sub_array_of_empty_string',    atk.hs('{"iss":"$ISS","sub":[""],"aud":"attack-api","exp":$EXP}')),
  ('sub_name_with_nul',            atk.hs('{"iss":"$ISS","s\u0000ub":"user_atk","aud":"attack-api","exp":$EXP}')),
  -- A \u0000 inside a claim value: PostgreSQL text cannot hold it, so a user id, email or
  -- tenant would reach SQL cut short at the NUL. Any \u0000 anywhere refuses the token. (A raw
  -- NUL byte cannot be in a PostgreSQL text value at all, so no token carries one.)
  ('sub_value_with_nul',           atk.hs('{"iss":"$ISS","sub":"user_alice\u0000evil","aud":"attack-api","exp":$EXP}')),
  ('sub_value_only_nul',           atk.hs('{"iss":"$ISS","sub":"\u0000","aud":"attack-api","exp":$EXP}')),
  ('unmapped_claim_with_nul',      atk.hs('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP,"note":"a\u0000b"}')),
  -- Signatures: truncated, extended, another token's, tampered, the wrong secret.
  ('sig_truncated_1_char',         left(alice, -1)),
  ('sig_truncated_1_byte',         left(alice, -2)),
  ('sig_truncated_to_half',        ah || '.' || ap || '.' || left(asig, 172)),
  ('sig_two_extra_chars',          alice || 'AA'),
  ('sig_of_another_token',         ah || '.' || ap || '.' || bsig),
  ('sig_tampered_char',            :'tampered_signature'),
  ('sig_tampered_payload',         :'tampered_payload'),
  ('sig_wrong_secret',             atk.sign(atk.seg('{"alg":"HS256"}'), atk.seg(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')), 'not the secret of attack_hs, 32+ bytes')),
  ('sig_other_providers_secret',   atk.sign(atk.seg('{"alg":"HS256"}'), atk.seg(atk.p('{"iss":"$ISS","sub":"user_atk","aud":"attack-api","exp":$EXP}')), :'insforge_secret')),
  -- Size: one byte over the 16 KiB limit, and 1 MiB.
  ('size_16385_bytes',             ah || '.' || repeat('A', 16385 - length(ah) - length(asig) - 2) || '.' || asig),
  ('size_1_mib',                   ah || '.' || repeat('A', 1048576) || '.' || asig)
) AS t(label, token);

-- Every token is rejected; the code is README's for the reason the label names.
SELECT label, idp.verify_jwt(token)->>'error' AS error FROM attacks ORDER BY label;
SELECT count(*) AS accepted FROM attacks WHERE (idp.verify_jwt(token)->>'valid')::boolean;
SELECT count(*) AS tokens, count(DISTINCT token) AS distinct_tokens, count(DISTINCT token) >= 60 AS at_least_60
FROM attacks;
SELECT idp.verify_jwt(token)->>'error' AS error, count(*) FROM attacks GROUP BY 1 ORDER BY 1;

-- No message echoes a token segment.
SELECT count(*) AS leaks
FROM attacks, LATERAL (SELECT idp.verify_jwt(token)::text AS r) v
WHERE (split_part(token, '.', 2) <> '' AND strpos(r, split_part(token, '.', 2)) > 0)
   OR (split_part(token, '.', 3) <> '' AND strpos(r, split_part(token, '.', 3)) > 0);

-- The 10,000-deep tokens reach the JSON parser when the size limit lets them: malformed.
SET idp.max_token_bytes = 65536;
SELECT label, idp.verify_jwt(token)->>'error' AS error FROM attacks WHERE label LIKE 'json_nested_10k%' ORDER BY label;
RESET idp.max_token_bytes;

-- The request path: every token is an ERROR 28000 with verify_jwt's code in the DETAIL; none is
-- anonymous and none yields a user id. (An empty request.jwt is an anonymous request, as
-- README documents, so the empty token is shown on its own.)
CREATE TEMP TABLE requests AS
SELECT label, idp.verify_jwt(token)->>'error' AS code, regress.as_request(token) AS r
FROM attacks WHERE token <> '';
SELECT split_part(r, ' ', 1) AS sqlstate, count(*) FROM requests GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE r = 'NULL') AS anonymous,
       count(*) FILTER (WHERE r NOT LIKE '28000 %') AS not_28000,
       count(*) FILTER (WHERE r NOT LIKE '%[pg_idp error code: ' || code || ']') AS code_differs
FROM requests;
SELECT regress.as_request('') AS empty_token_is_anonymous;

-- No panic crosses into PostgreSQL: the worst inputs, five times over, through every entry
-- point (verify_jwt, the request path with every identity function, authenticate) each end as
-- an answer or an ERROR, caught here; the backend and the postmaster are the same afterwards
-- (scripts/regress also checks the server log for "terminated by signal").
SELECT pg_postmaster_start_time() AS started, pg_backend_pid() AS backend \gset
DO $$
DECLARE t text; answers int := 0; errors int := 0;
BEGIN
    FOR i IN 1..5 LOOP
        FOR t IN SELECT token FROM attacks ORDER BY label LOOP
            PERFORM idp.verify_jwt(t);
            answers := answers + 1;
            BEGIN
                PERFORM set_config('request.jwt', t, true);
                PERFORM idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider(),
                        idp.claims(), idp.claim('$.org.id'), idp.identity(), idp.groups();
                answers := answers + 1;
            EXCEPTION WHEN others THEN
                errors := errors + 1;
            END;
            BEGIN
                PERFORM idp.authenticate(t);
                answers := answers + 1;
            EXCEPTION WHEN others THEN
                errors := errors + 1;
            END;
        END LOOP;
    END LOOP;
    RAISE NOTICE '% answers, % errors caught', answers, errors;
END $$;
SELECT pg_postmaster_start_time() = :'started' AS same_postmaster, pg_backend_pid() = :backend AS same_backend;

DROP TABLE attacks;
DROP SCHEMA atk CASCADE;
