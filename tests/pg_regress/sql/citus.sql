-- Citus, simulated: each node verifies tokens with its own registry, so the coordinator's must
-- reach every worker. Citus is not available here, so this spec stands in for it with what pg_idp
-- uses of it: the `citus` extension's row in pg_extension, its catalogs pg_catalog.pg_dist_node
-- and pg_catalog.pg_dist_local_group (how pg_idp finds Citus and this node's part), and
-- pg_catalog.run_command_on_workers(), here running each command through dblink (a connection of
-- its own, as Citus does) in one of two other databases, each with pg_idp, playing the workers.
-- On a real cluster the same SQL runs.
--   * enable_rls writes per-row policies where Citus is (it refuses sub-selects in policies on
--     distributed tables); rls_status and disable_rls work for both forms;
--   * idp.sync_nodes() copies providers, keys, revocations and the directory to the workers,
--     sealed to a one-time key of each worker: no command sent holds a secret (the stand-in
--     records every command it sends, and every private key the workers stored), a copy opens
--     once, and idp.node_registry_status() shows any node that differs;
--   * the commands name no function of a worker's database, only pg_catalog.pg_idp_node_call,
--     which verifies the worker's install before it runs anything: a worker database owned by a
--     role that is not a superuser, with her own schema idp (pg_idp not installed, or pg_idp's
--     schema made hers, a function of it made hers, a function planted in it), runs nothing of
--     hers and is sent no registry, while a properly installed worker gets the copy.
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
SELECT format(:'conninfo', 'regress_citus_w1') AS w1, format(:'conninfo', 'regress_citus_w2') AS w2 \gset

-- Without Citus, the cluster functions say so.
SELECT idp._citus_role() AS no_citus, regress.try('SELECT count(*) FROM idp.sync_nodes()') AS without_citus;

-- The stand-in for Citus's catalogs (this node is group 0, with two active primary workers) and
-- its run_command_on_workers(), which records what it sends and, after each command, the private
-- keys the worker holds.
SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_node (nodeid int, groupid int, nodename text, nodeport int, noderole text, isactive boolean);
CREATE TABLE pg_catalog.pg_dist_local_group (groupid int);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_local_group VALUES (0);
INSERT INTO pg_catalog.pg_dist_node VALUES (1, 1, 'regress_citus_w1', 5432, 'primary', true),
                                           (2, 2, 'regress_citus_w2', 5432, 'primary', true);
CREATE TABLE regress_citus_sent (seq serial, node text, sent text);
CREATE TABLE regress_citus_worker_keys (node text, private_key bytea);
CREATE FUNCTION pg_catalog.run_command_on_workers(command text, parallel boolean DEFAULT true,
    OUT nodename text, OUT nodeport int, OUT success boolean, OUT result text)
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
DECLARE n record; conn text;
BEGIN
    FOR n IN SELECT d.nodename, d.nodeport FROM pg_catalog.pg_dist_node d ORDER BY d.nodeid LOOP
        nodename := n.nodename; nodeport := n.nodeport;
        conn := format(current_setting('regress.conninfo'), n.nodename);
        INSERT INTO public.regress_citus_sent (node, sent) VALUES (n.nodename, command);
        BEGIN
            SELECT r INTO result FROM public.dblink(conn, command) AS t(r text);
            success := true;
        EXCEPTION WHEN others THEN
            success := false; result := SQLERRM;
        END;
        BEGIN
            INSERT INTO public.regress_citus_worker_keys
            SELECT n.nodename, k FROM public.dblink(conn, 'SELECT private_key FROM idp.sync_keys') AS t(k bytea);
            -- To test expiry: the worker's keys made 11 minutes older after each command.
            IF current_setting('regress.age_keys', true) = 'on' THEN
                PERFORM public.dblink_exec(conn, $$UPDATE idp.sync_keys SET created_at = created_at - interval '11 minutes'$$);
            END IF;
        EXCEPTION WHEN others THEN
            NULL; -- a node that cannot be reached
        END;
        RETURN NEXT;
    END LOOP;
END $fn$;
SELECT set_config('regress.conninfo', :'conninfo', false) IS NOT NULL AS conninfo_set;

-- Catalogs are not enough: Citus is there when its extension is, owned by a superuser (anyone
-- else's "citus" is not trusted with the registry).
SELECT idp._citus_role() AS catalogs_only;
CREATE ROLE regress_citus_owner NOLOGIN;
INSERT INTO pg_catalog.pg_extension (oid, extname, extowner, extnamespace, extrelocatable, extversion)
VALUES (4000000000, 'citus', 'regress_citus_owner'::regrole, 'pg_catalog'::regnamespace, false, '13.2');
SELECT idp._citus_role() AS owned_by_a_non_superuser,
       regress.try('SELECT count(*) FROM idp.sync_nodes()') AS sync_then;
UPDATE pg_catalog.pg_extension SET extowner = 'postgres'::regrole WHERE extname = 'citus';
SELECT idp._citus_role() AS owned_by_a_superuser;
-- A node of another group is a worker (it gets its registry, it does not send it); so is group 0
-- without active primary nodes, as for citus_is_coordinator().
UPDATE pg_catalog.pg_dist_local_group SET groupid = 1;
SELECT idp._citus_role() AS group_1, regress.try('SELECT count(*) FROM idp.sync_nodes()') AS sync_on_a_worker;
UPDATE pg_catalog.pg_dist_local_group SET groupid = 0;
UPDATE pg_catalog.pg_dist_node SET isactive = false;
SELECT idp._citus_role() AS no_active_node;
UPDATE pg_catalog.pg_dist_node SET isactive = true;

-- A provider registered on the coordinator only: the workers differ.
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'), 'jwks', :'clerk_jwks'::jsonb));
SELECT node, in_sync, error FROM idp.node_registry_status();
-- One call copies it (keys included) to every worker; each worker then verifies tokens itself.
SELECT node, in_sync, error FROM idp.sync_nodes();
SELECT * FROM dblink(:'w1', format('SELECT idp.verify_jwt(%L)->>%L', :'clerk_alice', 'user_id')) AS t(worker_1 text);
-- What was sent so far: the fingerprints asked for by node_registry_status(), then, for the copy,
-- a one-time key asked of each worker and the sealed copy; the worker keeps no key once the copy
-- is loaded.
SELECT node, CASE WHEN sent = $$SELECT pg_catalog.pg_idp_node_call('registry_fingerprint'::pg_catalog.text)$$ THEN 'fingerprint'
                  WHEN sent = $$SELECT pg_catalog.pg_idp_node_call('_sync_begin'::pg_catalog.text)$$ THEN 'one-time key'
                  WHEN sent LIKE $$SELECT pg_catalog.pg_idp_node_call('_load_registry_sealed'::pg_catalog.text, '{%"format":"pg_idp sealed registry v1"%}'::pg_catalog.text)$$ THEN 'sealed copy'
                  ELSE 'other: ' || left(sent, 60) END AS command
  FROM regress_citus_sent ORDER BY seq;
SELECT * FROM dblink(:'w1', 'SELECT count(*) FROM idp.sync_keys') AS t(keys_left_on_worker_1 bigint);
-- A rotation, and a revocation: out of sync until copied, then the same everywhere.
SELECT idp.set_jwks('clerk', :'rot1_jwks'::jsonb);
SELECT idp.revoke_user('clerk', 'user_2bob');
SELECT node, in_sync FROM idp.node_registry_status();
SELECT node, in_sync FROM idp.sync_nodes();
SELECT sent AS copy_with_bob_revoked FROM regress_citus_sent
 WHERE node = 'regress_citus_w2' AND sent LIKE '%_load_registry_sealed%' ORDER BY seq DESC LIMIT 1 \gset
SELECT * FROM dblink(:'w2', format('SELECT idp.verify_jwt(%L)->>%L', :'clerk_alice', 'error')) AS t(worker_2_after_rotation text);
SELECT * FROM dblink(:'w2', $$SELECT string_agg(provider || ' ' || kind || ' ' || subject, ',') FROM idp.revocations$$) AS t(worker_2_revocations text);
-- Back to the first key; a provider removed on the coordinator is removed on the workers.
SELECT idp.set_jwks('clerk', :'clerk_jwks'::jsonb);
SELECT idp.unrevoke_user('clerk', 'user_2bob');
SELECT idp.register_provider(jsonb_build_object('provider', 'gone', 'issuer', 'https://gone.example.com', 'secret', :'insforge_secret'));
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;
-- The secret reached the worker...
SELECT * FROM dblink(:'w1', format('SELECT count(*) FROM idp.provider_registry WHERE strpos(config::text, %L) > 0', :'insforge_secret')) AS t(worker_1_has_the_secret bigint);
SELECT idp.unregister_provider('gone');
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;
SELECT * FROM dblink(:'w1', 'SELECT string_agg(name, '','' ORDER BY name) FROM idp.providers') AS t(worker_1_providers text);
-- ... and no command sent to a worker held it, nor a key of the registry (a JWKS modulus, as
-- registered and rotated), nor a revoked user, nor any private key a worker stored (hex or
-- base64 in either alphabet): only key ids, public keys and ciphertext travel.
SELECT count(*) AS commands_sent,
       count(*) FILTER (WHERE strpos(sent, :'insforge_secret') > 0) AS with_the_secret,
       count(*) FILTER (WHERE strpos(sent, :'clerk_jwks'::jsonb->'keys'->0->>'n') > 0
                           OR strpos(sent, :'rot1_jwks'::jsonb->'keys'->0->>'n') > 0) AS with_a_registry_key,
       count(*) FILTER (WHERE strpos(sent, 'user_2bob') > 0) AS with_a_revoked_user
  FROM regress_citus_sent;
SELECT count(DISTINCT k.private_key) AS worker_keys_recorded,
       count(*) FILTER (WHERE strpos(s.sent, encode(k.private_key, 'hex')) > 0
                           OR strpos(s.sent, encode(k.private_key, 'base64')) > 0
                           OR strpos(s.sent, rtrim(translate(encode(k.private_key, 'base64'), '+/', '-_'), '=')) > 0) AS with_a_private_key
  FROM regress_citus_worker_keys k CROSS JOIN regress_citus_sent s;
-- A copy opens once. The copy sent while Bob was revoked, replayed to a worker now that he is
-- not, is refused (its key was used) and changes nothing: an old copy cannot roll a worker back.
SELECT regress.try(format('SELECT r FROM dblink(%L, %L) AS t(r text)', :'w2', :'copy_with_bob_revoked')) AS replayed_copy;
SELECT * FROM dblink(:'w2', $$SELECT count(*) FROM idp.revocations$$) AS t(worker_2_revocations bigint);
-- Nor does a copy made for another node's key open (worker 2 holds a fresh key; the old copy is
-- not for it).
SELECT length(r) > 0 AS worker_2_key FROM dblink(:'w2', 'SELECT idp._sync_begin()') AS t(r text);
SELECT regress.try(format('SELECT r FROM dblink(%L, %L) AS t(r text)', :'w2', :'copy_with_bob_revoked')) AS for_another_key;
-- Anything that is not a sealed copy is refused before any key is looked at.
SELECT regress.try($$SELECT idp._load_registry_sealed('{"providers": "all of them"}')$$) AS not_a_sealed_copy;
-- 0.4.0's loader, which took the registry as command text, is gone.
SELECT to_regprocedure('idp._load_registry_snapshot(jsonb)') AS old_loader;
-- A key unused for 10 minutes is refused: with the workers' keys aged between the two steps,
-- the copy changes nothing and says why; the next copy deletes the aged keys and succeeds.
SELECT idp.register_provider(jsonb_build_object('provider', 'late', 'issuer', 'https://late.example.com', 'jwks', :'clerk_jwks'::jsonb));
SET regress.age_keys = on;
SELECT node, in_sync, error FROM idp.sync_nodes();
RESET regress.age_keys;
SELECT * FROM dblink(:'w1', $$SELECT count(*) FROM idp.providers WHERE name = 'late'$$) AS t(late_on_worker_1 bigint);
SELECT node, in_sync FROM idp.sync_nodes();
SELECT * FROM dblink(:'w1', 'SELECT count(*) FROM idp.sync_keys') AS t(keys_left_on_worker_1 bigint);
SELECT idp.unregister_provider('late');
-- A worker whose load fails (here a trigger refusing every provider) shows its error and keeps
-- its registry; the other worker is copied. (That the failed command's log line holds no secret
-- is checked in the server log by the citus integration suite.)
SELECT dblink_exec(:'w1', $$CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''worker 1 refuses''; END'$$);
SELECT dblink_exec(:'w1', 'CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON idp.provider_registry FOR EACH ROW EXECUTE FUNCTION public.refuse()');
SELECT node, in_sync, error FROM idp.sync_nodes();
SELECT dblink_exec(:'w1', 'DROP TRIGGER refuse ON idp.provider_registry');
SELECT dblink_exec(:'w1', 'DROP FUNCTION public.refuse()');
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;

-- The directory is copied too: a user the coordinator's directory deprovisions is refused on
-- every worker after the copy, and the fingerprint shows the difference until then.
SELECT idp.register_provider(jsonb_build_object('provider', 'workos', 'issuer', 'https://api.workos.com',
  'jwks', :'workos_jwks'::jsonb, 'directory_claim', 'directory_user_id',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email')));
SELECT idp._apply_directory_event('workos', '{"id":"ev1","event":"dsync.user.created","created_at":"2026-01-01T00:00:01Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"active"}}', now()),
       idp._apply_directory_event('workos', '{"id":"ev2","event":"dsync.group.created","created_at":"2026-01-01T00:00:02Z","data":{"id":"directory_group_eng","name":"Engineering"}}', now()),
       idp._apply_directory_event('workos', '{"id":"ev3","event":"dsync.group.user_added","created_at":"2026-01-01T00:00:03Z","data":{"user":{"id":"directory_user_01JANE"},"group":{"id":"directory_group_eng"}}}', now());
SELECT node, in_sync FROM idp.sync_nodes();
SELECT * FROM dblink(:'w1', format('SELECT idp.verify_jwt(%L)->>%L', :'workos_jane', 'user_id')) AS t(worker_1_jane text);
SELECT * FROM dblink(:'w1', format('SELECT idp.groups()::text FROM (SELECT set_config(%L, %L, true) OFFSET 0) s', 'request.jwt', :'workos_jane')) AS t(worker_1_jane_groups text);
SELECT idp._apply_directory_event('workos', '{"id":"ev4","event":"dsync.user.updated","created_at":"2026-01-01T00:00:04Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"inactive"}}', now()) AS deprovisioned;
SELECT regress.as_request(:'workos_jane') AS coordinator_jane;
SELECT node, in_sync FROM idp.node_registry_status();
SELECT node, in_sync FROM idp.sync_nodes();
SELECT * FROM dblink(:'w1', format('SELECT idp.verify_jwt(%L)->>%L', :'workos_jane', 'error')) AS t(worker_1_jane_after text);
SELECT * FROM dblink(:'w2', format('SELECT idp.verify_jwt(%L)->>%L', :'workos_jane', 'error')) AS t(worker_2_jane_after text);

-- No lookalike operator put first on the search_path runs, on the coordinator or on a worker
-- whose database owner set such a path (each raises if it runs): the copy's queries name every
-- operator OPERATOR(pg_catalog.…) under a pinned search_path.
SELECT $do$DO $$
DECLARE o record;
BEGIN
    CREATE SCHEMA regress_evil;
    GRANT USAGE ON SCHEMA regress_evil TO PUBLIC;
    FOR o IN SELECT * FROM (VALUES ('=', 'text', 'text', 'boolean'), ('=', 'name', 'name', 'boolean'),
                                   ('=', 'oid', 'oid', 'boolean'), ('=', 'int4', 'int4', 'boolean'),
                                   ('=', '"char"', '"char"', 'boolean'), ('<', 'timestamptz', 'timestamptz', 'boolean'),
                                   ('>=', 'timestamptz', 'timestamptz', 'boolean'), ('-', 'timestamptz', 'interval', 'timestamptz')) v(op, l, r, res) LOOP
        EXECUTE format('CREATE FUNCTION regress_evil.%I(%s, %s) RETURNS %s LANGUAGE plpgsql AS %L',
                       'hijack_' || md5(o.op || o.l), o.l, o.r, o.res,
                       format('BEGIN RAISE EXCEPTION %L; END', format('hijacked: regress_evil.%s (%s, %s) ran', o.op, o.l, o.r)));
        EXECUTE format('CREATE OPERATOR regress_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = regress_evil.%I)',
                       o.op, o.l, o.r, 'hijack_' || md5(o.op || o.l));
    END LOOP;
END $$$do$ AS make_lookalikes \gset
:make_lookalikes;
SELECT dblink_exec(:'w1', :'make_lookalikes');
SELECT dblink_exec(:'w1', 'ALTER DATABASE regress_citus_w1 SET search_path = regress_evil, pg_catalog, public');
SELECT regress.try(format('SELECT r FROM dblink(%L, %L) AS t(r text)', :'w1', $$SELECT ('a' = 'a')::text$$)) AS lookalike_raises_on_worker_1;
SET search_path = regress_evil, pg_catalog, public;
SELECT regress.try($$SELECT ('a' = 'a')::text$$) AS lookalike_raises_here;
SELECT idp._apply_directory_event('workos', '{"id":"ev5","event":"dsync.user.updated","created_at":"2026-01-01T00:00:05Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"active"}}', now()) AS reactivated;
SELECT idp._citus_role() AS role_under_lookalikes;
SELECT node, in_sync, error FROM idp.node_registry_status();
SELECT node, in_sync, error FROM idp.sync_nodes();
RESET search_path;
SELECT * FROM dblink(:'w1', format('SELECT idp.verify_jwt(%L) OPERATOR(pg_catalog.->>) %L', :'workos_jane', 'user_id')) AS t(worker_1_jane_back text);
SELECT dblink_exec(:'w1', 'ALTER DATABASE regress_citus_w1 RESET search_path');
SELECT dblink_exec(:'w1', 'DROP SCHEMA regress_evil CASCADE');
DROP SCHEMA regress_evil CASCADE;

-- A worker's database owned by a role that is not a superuser, where pg_idp is not installed:
-- her own schema idp, with functions named like the ones 0.5.0's commands called by name, each
-- of which keeps what it is given and, run by a superuser, makes her one. (Her _sync_begin
-- answers a real one-time key, so that a coordinator that ran it would seal the registry to it:
-- her_gains() counts the commands that name that key.) The coordinator's commands name only
-- pg_catalog.pg_idp_node_call, which she cannot create: nothing of hers runs, nothing is sealed
-- to her, the node's error says why, and the properly installed workers get the copy.
CREATE ROLE regress_citus_mallory NOLOGIN;
CREATE DATABASE regress_citus_w3 OWNER regress_citus_mallory;
SELECT format(:'conninfo', 'regress_citus_w3') AS w3 \gset
SELECT r AS offer FROM dblink(:'w2', 'SELECT idp._sync_begin()') AS t(r text) \gset
SELECT dblink_exec(:'w2', 'DELETE FROM idp.sync_keys');
SELECT $sql$
SET ROLE regress_citus_mallory;
CREATE TABLE public.loot (fn text, ran_as text, arg text);
CREATE FUNCTION public.trap(fn text, arg text) RETURNS void LANGUAGE plpgsql AS $t$
BEGIN
    INSERT INTO public.loot VALUES (fn, current_user, arg);
    BEGIN
        EXECUTE 'ALTER ROLE regress_citus_mallory SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
END $t$;
-- And the new name, where she can: a lookalike in public, first on her database's search_path.
CREATE FUNCTION public.pg_idp_node_call(function text, argument text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $t$ BEGIN PERFORM public.trap('pg_idp_node_call', argument); RETURN 'mine'; END $t$;
ALTER DATABASE regress_citus_w3 SET search_path = public, pg_catalog;
RESET ROLE;
$sql$ AS her_setup \gset
SELECT format($sql$
SET ROLE regress_citus_mallory;
CREATE SCHEMA idp;
CREATE FUNCTION idp._sync_begin() RETURNS text LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.trap('_sync_begin', NULL); RETURN %L; END $t$;
CREATE FUNCTION idp._load_registry_sealed(sealed text) RETURNS text LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.trap('_load_registry_sealed', sealed); RETURN 'mine'; END $t$;
CREATE FUNCTION idp.registry_fingerprint() RETURNS text LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.trap('registry_fingerprint', NULL); RETURN 'mine'; END $t$;
RESET ROLE;
$sql$, :'offer') AS her_idp \gset
SELECT dblink_exec(:'w3', :'her_setup');
SELECT dblink_exec(:'w3', :'her_idp');
INSERT INTO pg_catalog.pg_dist_node VALUES (4, 4, 'regress_citus_w3', 5432, 'primary', true);
CREATE FUNCTION pg_temp.her_gains() RETURNS TABLE (ran text, superuser boolean, sealed_to_her bigint)
LANGUAGE sql AS $$
    SELECT (SELECT coalesce(string_agg(fn || ' as ' || ran_as, ', ' ORDER BY fn), 'nothing')
              FROM dblink(current_setting('regress.w3'), 'SELECT fn, ran_as FROM public.loot') AS l(fn text, ran_as text)),
           (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_citus_mallory'),
           (SELECT count(*) FROM public.regress_citus_sent
             WHERE strpos(sent, current_setting('regress.her_key_id')) > 0)
$$;
SELECT set_config('regress.w3', :'w3', false) IS NOT NULL AS w3_set,
       set_config('regress.her_key_id', :'offer'::jsonb->>'key_id', false) IS NOT NULL AS her_key_id_set;
SELECT node, in_sync, error FROM idp.sync_nodes();
SELECT node, in_sync, error FROM idp.node_registry_status();
SELECT * FROM pg_temp.her_gains();
-- Control: her trap works when a superuser does call it (as 0.5.0's coordinator did).
SELECT r IS NOT NULL AS trap_called FROM dblink(:'w3', 'SELECT idp._sync_begin()') AS t(r text);
SELECT * FROM pg_temp.her_gains();
ALTER ROLE regress_citus_mallory NOSUPERUSER;
SELECT dblink_exec(:'w3', 'TRUNCATE public.loot');

-- pg_idp installed there by a superuser, its schema then made hers (as 0.4.0 installed into a
-- database owner's schema): she moves it aside and puts her own schema idp in its place. The
-- worker is not trusted (its error says why), and nothing of hers runs.
SELECT dblink_exec(:'w3', 'DROP SCHEMA idp CASCADE');
SELECT dblink_exec(:'w3', 'CREATE EXTENSION pg_idp');
SELECT node, in_sync FROM idp.sync_nodes() WHERE node LIKE '%w3%';
SELECT dblink_exec(:'w3', 'ALTER SCHEMA idp OWNER TO regress_citus_mallory');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';
SELECT dblink_exec(:'w3', 'SET ROLE regress_citus_mallory; ALTER SCHEMA idp RENAME TO idp_aside; RESET ROLE');
SELECT dblink_exec(:'w3', :'her_idp');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';
SELECT * FROM pg_temp.her_gains();
-- Control: put right by a superuser (her schema gone, pg_idp's back and a superuser's; pg_idp's
-- event triggers held meanwhile, since they name schema idp), the worker gets the copy.
SELECT dblink_exec(:'w3', 'SET session_replication_role = replica; DROP SCHEMA idp CASCADE; '
                          'ALTER SCHEMA idp_aside RENAME TO idp; ALTER SCHEMA idp OWNER TO postgres');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';

-- A function of pg_idp made hers: given to her, with CREATE on the schema (as 0.4.0 did), she
-- replaces its body; CREATE is taken back, her function stays. Not trusted, nothing of hers runs.
SELECT dblink_exec(:'w3', 'GRANT CREATE ON SCHEMA idp TO regress_citus_mallory; ALTER FUNCTION idp._load_registry_sealed(text) OWNER TO regress_citus_mallory');
SELECT dblink_exec(:'w3', $$SET ROLE regress_citus_mallory;
CREATE OR REPLACE FUNCTION idp._load_registry_sealed(sealed text) RETURNS text LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.trap('_load_registry_sealed', sealed); RETURN 'mine'; END $t$;
RESET ROLE$$);
SELECT dblink_exec(:'w3', 'REVOKE CREATE ON SCHEMA idp FROM regress_citus_mallory');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';
SELECT * FROM pg_temp.her_gains();
-- Control: pg_idp installed again by the superuser: the worker gets the copy.
SELECT dblink_exec(:'w3', 'DROP EXTENSION pg_idp; CREATE EXTENSION pg_idp');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';

-- A function planted in pg_idp's schema while she could create there (an overload of one that
-- is called): not trusted either, and it never runs.
SELECT dblink_exec(:'w3', 'GRANT CREATE ON SCHEMA idp TO regress_citus_mallory');
SELECT dblink_exec(:'w3', $$SET ROLE regress_citus_mallory;
CREATE FUNCTION idp._load_registry_sealed(sealed varchar) RETURNS text LANGUAGE plpgsql AS $t$
BEGIN PERFORM public.trap('_load_registry_sealed(varchar)', sealed); RETURN 'mine'; END $t$;
RESET ROLE$$);
SELECT dblink_exec(:'w3', 'REVOKE CREATE ON SCHEMA idp FROM regress_citus_mallory');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';
SELECT * FROM pg_temp.her_gains();
-- Control: her function dropped by the superuser, the worker gets the copy.
SELECT dblink_exec(:'w3', 'DROP FUNCTION idp._load_registry_sealed(varchar)');
SELECT node, in_sync, error FROM idp.sync_nodes() WHERE node LIKE '%w3%';

-- Her settings for every connection to her database (ALTER DATABASE ... SET role, a search_path
-- with her lookalike of pg_idp_node_call first, DateStyle and a lock_timeout of 1 ms) do not
-- change what the coordinator's call runs or as whom: the worker, properly installed, gets the
-- copy. Control: they are in force in a session there (and her lookalike runs, as her).
SELECT dblink_exec(:'w3', 'SET ROLE regress_citus_mallory; ALTER DATABASE regress_citus_w3 SET role = regress_citus_mallory; '
                          'ALTER DATABASE regress_citus_w3 SET DateStyle = ''SQL, DMY''; '
                          'ALTER DATABASE regress_citus_w3 SET lock_timeout = 1; RESET ROLE');
SELECT idp.register_provider(jsonb_build_object('provider', 'after_her_settings', 'issuer', 'https://after.example.com', 'jwks', :'clerk_jwks'::jsonb)) IS NOT NULL AS registered;
SELECT node, in_sync, error FROM idp.sync_nodes();
SELECT * FROM dblink(:'w3', $$SELECT current_user::text || ' ' || current_setting('search_path') || ' ' || current_setting('DateStyle')
                               || ' ' || current_setting('lock_timeout') || ' ' || pg_idp_node_call('registry_fingerprint')$$) AS t(in_a_session_there text);
SELECT * FROM pg_temp.her_gains();
DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = 4;
SELECT idp.unregister_provider('after_her_settings');
SELECT count(*) AS behind FROM idp.sync_nodes() WHERE NOT in_sync;
-- What such a call refuses itself: a connection logged in as a role that is not a superuser, and
-- a call from a SECURITY DEFINER function a non-superuser owns, run in a superuser's session.
CREATE ROLE regress_citus_login LOGIN;
SELECT regress.try(format($$SELECT r FROM dblink(%L, 'SELECT pg_catalog.pg_idp_node_call(''registry_fingerprint'')') AS t(r text)$$,
                          :'w1' || ' user=regress_citus_login')) AS not_a_superuser;
SELECT dblink_exec(:'w1', $$CREATE FUNCTION public.through_her() RETURNS text LANGUAGE sql SECURITY DEFINER
    AS 'SELECT pg_catalog.pg_idp_node_call(''_sync_begin'')'$$);
SELECT dblink_exec(:'w1', 'ALTER FUNCTION public.through_her() OWNER TO regress_citus_mallory');
SELECT regress.try(format($$SELECT r FROM dblink(%L, 'SELECT public.through_her()') AS t(r text)$$, :'w1')) AS security_definer;
SELECT dblink_exec(:'w1', 'DROP FUNCTION public.through_her()');
SELECT regress.try(format($$SELECT r FROM dblink(%L, 'SELECT pg_catalog.pg_idp_node_call(''nothing_of_ours'')') AS t(r text)$$, :'w1')) AS not_a_node_function;
DROP ROLE regress_citus_login;
DROP DATABASE regress_citus_w3;

-- A worker that cannot be reached is shown, never skipped.
INSERT INTO pg_catalog.pg_dist_node VALUES (3, 3, 'regress_citus_missing', 5432, 'primary', true);
SELECT node, in_sync, error IS NOT NULL AS has_error FROM idp.node_registry_status();
SELECT node, in_sync, error IS NOT NULL AS has_error FROM idp.sync_nodes();
DELETE FROM pg_catalog.pg_dist_node WHERE nodeid = 3;
-- Only the extension owner syncs, loads, or reads the workers' keys.
CREATE ROLE regress_citus_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_citus_app;
SET ROLE regress_citus_app;
SELECT regress.try('SELECT count(*) FROM idp.sync_nodes()') AS app_role_sync;
SELECT regress.try('SELECT count(*) FROM idp.node_registry_status()') AS app_role_status;
SELECT regress.try('SELECT idp.registry_fingerprint()') AS app_role_fingerprint;
SELECT regress.try('SELECT idp._sync_begin()') AS app_role_begin;
SELECT regress.try($$SELECT idp._load_registry_sealed('x')$$) AS app_role_load;
SELECT regress.try('SELECT count(*) FROM idp.sync_keys') AS app_role_keys;
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
DROP TABLE pg_catalog.pg_dist_node, pg_catalog.pg_dist_partition, pg_catalog.pg_dist_local_group;
RESET allow_system_table_mods;
DELETE FROM pg_catalog.pg_extension WHERE extname = 'citus';
DROP TABLE regress_citus_sent, regress_citus_worker_keys;
DROP OWNED BY regress_citus_app;
DROP ROLE regress_citus_app, regress_citus_owner, regress_citus_mallory;
DROP DATABASE regress_citus_w1;
DROP DATABASE regress_citus_w2;
