-- Citus, simulated: each node verifies tokens with its own registry, so the coordinator's must
-- reach every worker. Citus is not available here, so this spec stands in for it with what pg_idp
-- uses of it: pg_catalog.pg_dist_node (how pg_idp finds Citus) and
-- pg_catalog.run_command_on_workers(), here running each command through dblink in one of two
-- other databases, each with pg_idp, playing the workers. On a real cluster the same SQL runs.
--   * enable_rls writes per-row policies where Citus is (it refuses sub-selects in policies on
--     distributed tables); rls_status and disable_rls work for both forms;
--   * idp.sync_nodes() copies providers, keys and revocations to the workers, and
--     idp.node_registry_status() shows any node that differs.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_citus_w1;
DROP DATABASE IF EXISTS regress_citus_w2;
RESET client_min_messages;
CREATE DATABASE regress_citus_w1;
CREATE DATABASE regress_citus_w2;
SELECT format('dbname=%%s host=%s port=%s user=postgres',
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS conninfo \gset
SELECT dblink_exec(format(:'conninfo', w), 'CREATE EXTENSION pg_idp')
  FROM (VALUES ('regress_citus_w1'), ('regress_citus_w2')) AS n(w);

-- Without Citus, the cluster functions say so.
SELECT regress.try('SELECT count(*) FROM idp.sync_nodes()') AS without_citus;

-- The stand-in for Citus's catalog and its run_command_on_workers().
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_node (nodeid int, nodename text, nodeport int, noderole text);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_node VALUES (1, 'regress_citus_w1', 5432, 'primary'), (2, 'regress_citus_w2', 5432, 'primary');
CREATE FUNCTION pg_catalog.run_command_on_workers(command text, parallel boolean DEFAULT true,
    OUT nodename text, OUT nodeport int, OUT success boolean, OUT result text)
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
DECLARE n record;
BEGIN
    FOR n IN SELECT d.nodename, d.nodeport FROM pg_catalog.pg_dist_node d ORDER BY d.nodeid LOOP
        nodename := n.nodename; nodeport := n.nodeport;
        BEGIN
            SELECT r INTO result FROM public.dblink(format(current_setting('regress.conninfo'), n.nodename), command) AS t(r text);
            success := true;
        EXCEPTION WHEN others THEN
            success := false; result := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $fn$;
SELECT set_config('regress.conninfo', :'conninfo', false) IS NOT NULL AS conninfo_set;

-- A provider registered on the coordinator only: the workers differ.
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'), 'jwks', :'clerk_jwks'::jsonb));
SELECT node, in_sync, error FROM idp.node_registry_status();
-- One call copies it (keys included) to every worker; each worker then verifies tokens itself.
SELECT node, in_sync, error FROM idp.sync_nodes();
SELECT * FROM dblink(format(:'conninfo', 'regress_citus_w1'),
                     format('SELECT idp.verify_jwt(%L)->>%L', :'clerk_alice', 'user_id')) AS t(worker_1 text);
-- A rotation, and a revocation: out of sync until copied, then the same everywhere.
SELECT idp.set_jwks('clerk', :'rot1_jwks'::jsonb);
SELECT idp.revoke_user('clerk', 'user_2bob');
SELECT node, in_sync FROM idp.node_registry_status();
SELECT node, in_sync FROM idp.sync_nodes();
SELECT * FROM dblink(format(:'conninfo', 'regress_citus_w2'),
                     format('SELECT idp.verify_jwt(%L)->>%L', :'clerk_alice', 'error')) AS t(worker_2_after_rotation text);
SELECT * FROM dblink(format(:'conninfo', 'regress_citus_w2'),
                     $$SELECT string_agg(provider || ' ' || kind || ' ' || subject, ',') FROM idp.revocations$$) AS t(worker_2_revocations text);
-- Back to the first key; a provider removed on the coordinator is removed on the workers.
SELECT idp.set_jwks('clerk', :'clerk_jwks'::jsonb);
SELECT idp.unrevoke_user('clerk', 'user_2bob');
SELECT idp.register_provider(jsonb_build_object('provider', 'gone', 'issuer', 'https://gone.example.com', 'secret', :'insforge_secret'));
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;
SELECT idp.unregister_provider('gone');
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;
SELECT * FROM dblink(format(:'conninfo', 'regress_citus_w1'), 'SELECT string_agg(name, '','' ORDER BY name) FROM idp.providers') AS t(worker_1_providers text);
-- A worker that cannot be reached is shown, never skipped.
INSERT INTO pg_catalog.pg_dist_node VALUES (3, 'regress_citus_missing', 5432, 'primary');
SELECT node, in_sync, error IS NOT NULL AS has_error FROM idp.node_registry_status();
DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = 3;
-- What a worker loads must be a snapshot: anything else changes nothing there.
SELECT regress.try($$SELECT idp._load_registry_snapshot('{"providers": "all of them"}')$$) AS not_a_snapshot;
-- Only the extension owner syncs.
CREATE ROLE regress_citus_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_citus_app;
SET ROLE regress_citus_app;
SELECT regress.try('SELECT count(*) FROM idp.sync_nodes()') AS app_role_sync;
SELECT regress.try('SELECT count(*) FROM idp.node_registry_status()') AS app_role_status;
RESET ROLE;

-- enable_rls where Citus is: per-row policies by default (no sub-select), or as asked.
CREATE TABLE todos (id bigint PRIMARY KEY, user_id text NOT NULL, org_id text, title text);
INSERT INTO todos VALUES (1, 'user_2alice', 'org_a', 'alice 1'), (2, 'user_2bob', 'org_a', 'bob 1');
SELECT idp.enable_rls('todos');
SELECT polname, pg_get_expr(polqual, polrelid) AS using_expr FROM pg_policy WHERE polrelid = 'todos'::regclass ORDER BY polname;
CREATE TABLE utodos (id bigint PRIMARY KEY, owner uuid NOT NULL);
SELECT idp.enable_rls('utodos', user_column => 'owner');
SELECT pg_get_expr(polqual, polrelid) AS uuid_per_row FROM pg_policy WHERE polrelid = 'utodos'::regclass AND polname = 'pg_idp_select';
SELECT idp.enable_rls('todos', tenant_column => 'org_id', policy => 'owner_in_tenant', form => 'subselect') IS NOT NULL AS subselect_asked;
SELECT regress.try($$SELECT idp.enable_rls('todos', form => 'nested')::text$$) AS bad_form;
-- Citus's catalog of distributed tables, simulated: the sub-select form is refused there, and
-- the refusal changes nothing.
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_partition (logicalrelid regclass);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_partition VALUES ('todos');
SELECT regress.try($$SELECT idp.enable_rls('todos', form => 'subselect')::text$$) AS subselect_on_distributed;
SELECT form FROM idp.rls_tables WHERE tbl = 'todos'::regclass;
-- Every kind in the per-row form: what each writes.
CREATE FUNCTION per_row_policies(kind text) RETURNS TABLE (polname name, using_expr text, check_expr text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM idp.enable_rls('todos', tenant_column => 'org_id', policy => kind, form => 'per_row');
    RETURN QUERY SELECT p.polname, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
                   FROM pg_policy p WHERE p.polrelid = 'todos'::regclass AND p.polname IN ('pg_idp_select', 'pg_idp_insert')
                  ORDER BY 1;
END $$;
SELECT 'strict' AS kind, * FROM per_row_policies('strict');
SELECT 'tenant' AS kind, * FROM per_row_policies('tenant');
SELECT 'owner_in_tenant' AS kind, * FROM per_row_policies('owner_in_tenant');
SELECT 'tenant_read_owner_write' AS kind, * FROM per_row_policies('tenant_read_owner_write');
SELECT idp.enable_rls('todos') IS NOT NULL AS per_row_again;
-- Hand-written per-row policies (what works on Citus without enable_rls) are listed as custom.
CREATE TABLE notes (id int, user_id text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_own ON notes USING (user_id = idp.requesting_user_id());
SELECT tbl, policy, form, user_column, tenant_column, policies, open_partitions FROM idp.rls_status();
GRANT SELECT ON todos TO regress_citus_app;
SET ROLE regress_citus_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, title FROM todos ORDER BY id;
COMMIT;
RESET ROLE;
SELECT idp.disable_rls('todos'), idp.disable_rls('utodos');
SELECT tbl, policy FROM idp.rls_status();

DROP TABLE todos, utodos, notes;
DROP FUNCTION per_row_policies(text);
DROP FUNCTION pg_catalog.run_command_on_workers(text, boolean);
SET allow_system_table_mods = on;
DROP TABLE pg_catalog.pg_dist_node, pg_catalog.pg_dist_partition;
RESET allow_system_table_mods;
DROP OWNED BY regress_citus_app;
DROP ROLE regress_citus_app;
DROP DATABASE regress_citus_w1;
DROP DATABASE regress_citus_w2;
