-- Helpers shared by the specs that follow (pg_regress runs them in order, in one database).
CREATE SCHEMA regress;

-- Run a query; return its single value, or the error as "SQLSTATE message [detail]".
CREATE FUNCTION regress.try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text; st text; msg text; det text;
BEGIN
    EXECUTE query INTO result;
    RETURN coalesce(result, 'NULL');
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN format('%s %s%s', st, msg, CASE WHEN det <> '' THEN ' [' || det || ']' ELSE '' END);
END $$;

-- What idp.requesting_user_id() answers for a request carrying this token.
CREATE FUNCTION regress.as_request(token text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt', token, true);
    RETURN regress.try('SELECT idp.requesting_user_id()');
END $$;

GRANT USAGE ON SCHEMA regress TO PUBLIC;
SELECT 'helpers ready' AS setup;
