-- Parallel query: the identity functions and verify_jwt are PARALLEL SAFE, because a parallel
-- worker computes the same answer as the leader: it gets the leader's settings (request.jwt,
-- request.headers, idp.*) and statement start time, reads the registry itself (as the registry
-- owner, read-only) and verifies the token itself. Here every row is filtered in the workers
-- (parallel_leader_participation = off), so a worker that answered differently would show.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

\i :specs/clerk.sql
\i :specs/insforge.sql

-- Which functions may run in a worker: s(afe) for the identity functions and verify_jwt;
-- u(nsafe) for authenticate (it sets request.jwt) and the registry changes.
SELECT proname, provolatile, proparallel FROM pg_proc
 WHERE pronamespace = 'idp'::regnamespace AND proname NOT LIKE '\_%' AND prokind = 'f'
 ORDER BY proname;

CREATE TABLE big_todos (id int PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO big_todos
SELECT g, CASE g % 4 WHEN 0 THEN 'user_2alice' WHEN 1 THEN 'user_2bob' ELSE 'user_2carol' END, 'todo ' || g
  FROM generate_series(1, 20000) AS g;
ANALYZE big_todos;
SELECT idp.enable_rls('big_todos');
CREATE ROLE regress_parallel_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_parallel_app;
GRANT SELECT ON big_todos TO regress_parallel_app;

-- "Workers Launched: N" of a query's plan, or what ran instead.
CREATE FUNCTION workers_launched(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        IF line ~ 'Workers Launched' THEN
            RETURN trim(line);
        END IF;
    END LOOP;
    RETURN 'not parallel';
END $$;
GRANT EXECUTE ON FUNCTION workers_launched(text) TO regress_parallel_app;

-- Make parallel plans cheap, and keep the leader out of the scan.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET ROLE regress_parallel_app;

-- The policy (wrapped form) and the unwrapped per-row form both run in the workers.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
EXPLAIN (COSTS OFF) SELECT count(*) FROM big_todos;
SELECT workers_launched('SELECT count(*) FROM big_todos') AS policy_scan;
SELECT count(*), min(user_id), max(user_id) FROM big_todos;
EXPLAIN (COSTS OFF) SELECT count(*) FROM big_todos WHERE user_id = idp.requesting_user_id();
SELECT workers_launched('SELECT count(*) FROM big_todos WHERE user_id = idp.requesting_user_id()') AS per_row;
SELECT count(*) FROM big_todos WHERE user_id = idp.requesting_user_id();
COMMIT;

-- Bob's HS256 template token: another provider, same answers in the workers.
BEGIN;
SET LOCAL request.jwt = :'insforge_bob';
SELECT count(*), min(user_id), max(user_id) FROM big_todos;
SELECT count(*) FROM big_todos WHERE idp.provider() = 'insforge' AND idp.requesting_user_id() = user_id;
COMMIT;

-- No token: nothing, in the workers too.
SELECT count(*) AS anonymous FROM big_todos;

-- A bad token raised in a worker reaches the client as the same 28000 error; with
-- idp.on_invalid_token = null (a setting the workers inherit) it is anonymous there too.
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SELECT regress.try('SELECT count(*) FROM big_todos') AS tampered;
ROLLBACK;
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SET LOCAL idp.on_invalid_token = 'null';
SELECT count(*) AS tampered_as_null FROM big_todos;
ROLLBACK;

-- PostgREST's request.headers reaches the workers as well.
BEGIN;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'clerk_alice')::text, true) IS NOT NULL AS headers_set;
SELECT count(*) FROM big_todos WHERE user_id = idp.requesting_user_id();
COMMIT;
RESET ROLE;

-- The same bad token checked per row by the workers themselves: as the table owner (no policy
-- runs first in the leader) and with a plan made beforehand (the planner would otherwise
-- evaluate the STABLE function once while estimating, and fail there). The worker's error
-- reaches the client with its code, and "parallel worker" in its context.
SET plan_cache_mode = force_generic_plan;
PREPARE per_row_count AS SELECT count(*) FROM big_todos WHERE user_id = idp.requesting_user_id();
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
EXECUTE per_row_count;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
EXECUTE per_row_count;
ROLLBACK;
DEALLOCATE per_row_count;
RESET plan_cache_mode;

-- force_parallel_mode = regress runs every query in a worker: each function answers there
-- exactly as in the leader. (PostgreSQL 16 renamed it debug_parallel_query: the psql variable
-- force_parallel_mode names the setting this server has.)
\set ECHO none
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel_mode \gset
\set ECHO all
SET :force_parallel_mode = regress;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SET LOCAL :force_parallel_mode = on;  -- (regress hides the Gather from EXPLAIN; on shows it)
SELECT workers_launched('SELECT idp.requesting_user_id(), idp.claims(), idp.verify_jwt(''x'')') AS single_row_query;
SET LOCAL :force_parallel_mode = regress;
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider(),
       idp.claims()->>'sid' AS sid, idp.claim('email') AS email_claim,
       idp.identity()->>'user_id' AS identity_user, idp.groups() AS groups,
       idp.verify_jwt(:'clerk_alice')->>'user_id' AS verified,
       idp.verify_jwt(:'alg_none')->>'error' AS refused;
-- authenticate() is parallel unsafe: the planner keeps it in the leader, and it works.
SELECT idp.authenticate(:'clerk_alice')->>'user_id' AS authenticated;
SELECT idp.requesting_user_id() AS after_authenticate;
COMMIT;
RESET :force_parallel_mode;

RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
DROP TABLE big_todos;
DROP FUNCTION workers_launched(text);
DROP OWNED BY regress_parallel_app;
DROP ROLE regress_parallel_app;
