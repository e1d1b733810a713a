-- A token that expires while a session keeps using it: the identity remembered for the request
-- (and the LRU cache) re-check exp against each statement's start time, so the same
-- request.jwt that was valid a moment ago is refused once it has expired, and the session's
-- cache statistics show that the policy's per-row calls verified the token only once.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- No leeway, so the token is refused the second its exp passes.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clock', 'issuer', 'https://clock.example.com', 'secret', :'insforge_secret',
  'leeway_seconds', 0));

-- A compact HS256 token expiring `seconds` from now (its text is never printed).
CREATE FUNCTION mint_expiring(sub text, seconds int, secret text) RETURNS text LANGUAGE sql AS $$
  WITH parts AS (
    SELECT rtrim(translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS h,
           rtrim(translate(encode(convert_to(jsonb_build_object(
               'iss', 'https://clock.example.com', 'sub', sub,
               'exp', extract(epoch FROM clock_timestamp())::bigint + seconds)::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS p)
  SELECT h || '.' || p || '.' || rtrim(translate(encode(hmac(h || '.' || p, secret, 'sha256'), 'base64'), E'+/\n', '-_'), '=')
    FROM parts
$$;

SELECT set_config('request.jwt', mint_expiring('user_clock', 5, :'insforge_secret'), false) IS NOT NULL AS token_set;
SELECT (idp.cache_stats()->>'verifications')::int AS verifications_before \gset
SELECT count(*) AS rows_seen FROM generate_series(1, 5000) WHERE idp.requesting_user_id() = 'user_clock';
SELECT (idp.cache_stats()->>'verifications')::int - :verifications_before AS verifications_for_5000_rows;
SELECT idp.requesting_user_id() AS still_valid;
SELECT pg_sleep(6);
SELECT regress.try('SELECT idp.requesting_user_id()') AS after_expiry;
SELECT idp.verify_jwt(current_setting('request.jwt'))->>'error' AS verify_jwt_after_expiry;
-- A rejected token is remembered for the statement too: with idp.on_invalid_token = null a
-- per-row policy over 5,000 rows verifies the (now expired) token once, not once per row.
SET idp.on_invalid_token = 'null';
SELECT (idp.cache_stats()->>'verifications')::int AS verifications_before \gset
SELECT count(*) AS rows_seen_anonymous FROM generate_series(1, 5000) WHERE idp.requesting_user_id() IS NULL;
SELECT (idp.cache_stats()->>'verifications')::int - :verifications_before AS verifications_for_5000_rejections;
-- ... and the setting still decides each call: the same rejection raises once it is back to error.
SET idp.on_invalid_token = error;
SELECT regress.try('SELECT idp.requesting_user_id()') AS error_again;
RESET idp.on_invalid_token;
RESET request.jwt;
SELECT jsonb_object_keys(idp.cache_stats()) AS cache_stats_keys ORDER BY 1;

DROP FUNCTION mint_expiring(text, int, text);
