-- Every query pg_idp runs is immune to search_path and to user-defined operators: its SQL
-- functions pin search_path = pg_catalog, pg_temp, and its own queries (SPI, the worker) are
-- schema-qualified, OPERATOR(pg_catalog.=) and all, and run under a pinned search_path. Here
-- every entry point runs with a search_path that puts lookalike operators first, as the
-- superuser and as an application role; any of them that ran would raise.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

CREATE SCHEMA evil;
CREATE FUNCTION evil.hijack_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.= (text, text) ran'; END $$;
CREATE FUNCTION evil.hijack_name(name, name) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.= (name, name) ran'; END $$;
CREATE FUNCTION evil.hijack_oid(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.= (oid, oid) ran'; END $$;
CREATE FUNCTION evil.hijack_exists(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.? ran'; END $$;
CREATE FUNCTION evil.hijack_arrow(jsonb, text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.->> ran'; END $$;
CREATE FUNCTION evil.hijack_like(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'hijacked: evil.~~ ran'; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.hijack_text);
CREATE OPERATOR evil.= (LEFTARG = name, RIGHTARG = name, FUNCTION = evil.hijack_name);
CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.hijack_oid);
CREATE OPERATOR evil.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.hijack_exists);
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.hijack_arrow);
CREATE OPERATOR evil.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.hijack_like);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE todos (id int, user_id text NOT NULL, title text);
INSERT INTO todos VALUES (1, 'user_2alice', 'a'), (2, 'user_2bob', 'b');
CREATE TABLE ptodos (id int, user_id text NOT NULL) PARTITION BY LIST (user_id);
CREATE TABLE ptodos_a PARTITION OF ptodos FOR VALUES IN ('user_2alice');
CREATE FUNCTION sign_event(body text) RETURNS text LANGUAGE sql AS $$
  SELECT format('t=%s, v1=%s', ms, encode(hmac(ms || '.' || body, 'whsec_regress_0123456789', 'sha256'), 'hex'))
    FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) t
$$;
\set event '{"id":"event_1","event":"dsync.user.created","data":{"id":"user_2bob","email":"bob@example.com","state":"inactive"}}'
SELECT sign_event(:'event') AS signature \gset

-- As the extension owner (the superuser), with the lookalikes first.
SET search_path = evil, pg_catalog, public;
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'jwks', :'clerk_jwks'::jsonb, 'webhook_secret', 'whsec_regress_0123456789'));
SELECT idp.set_jwks('clerk', :'clerk_jwks'::jsonb);
SELECT idp.apply_directory_event('clerk', :'event', :'signature');
SELECT idp.revoke_session('clerk', 'sess_nobody'), idp.revoke_user('clerk', 'user_nobody');
SELECT idp.unrevoke_session('clerk', 'sess_nobody'), idp.unrevoke_user('clerk', 'user_nobody');
SELECT idp.purge_revocations(interval '1 day');
SELECT idp.enable_rls('todos') IS NOT NULL AS todos, idp.enable_rls('ptodos') IS NOT NULL AS ptodos;
CREATE TABLE public.ptodos_b PARTITION OF public.ptodos FOR VALUES IN ('user_2bob');
SELECT tbl, policy, open_partitions FROM idp.rls_status();
SELECT idp.verify_jwt(:'clerk_alice') OPERATOR(pg_catalog.->>) 'user_id' AS alice,
       idp.verify_jwt(:'clerk_bob') OPERATOR(pg_catalog.->>) 'error' AS bob_deprovisioned;
SELECT name, issuer, key_ids FROM idp.providers;

-- As an application role, with the same path.
CREATE ROLE regress_sp_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_sp_app;
GRANT SELECT ON todos, ptodos, ptodos_a, ptodos_b TO regress_sp_app;
SET ROLE regress_sp_app;
SET search_path = evil, pg_catalog, public;
BEGIN;
SELECT set_config('request.jwt', :'clerk_alice', true) IS NOT NULL AS token_set;
SELECT idp.requesting_user_id(), idp.provider(), idp.groups(), idp.claim('sub') AS sub;
SELECT count(*) AS alices_todos FROM todos;
SELECT count(*) AS alices_partition_rows FROM ptodos_b;
COMMIT;
RESET ROLE;
SET search_path = evil, pg_catalog, public;
SELECT idp.disable_rls('todos'), idp.disable_rls('ptodos');
SELECT idp.unregister_provider('clerk');
RESET search_path;

DROP TABLE todos, ptodos;
DROP FUNCTION sign_event(text);
DROP SCHEMA evil CASCADE;
DROP OWNED BY regress_sp_app;
DROP ROLE regress_sp_app;
