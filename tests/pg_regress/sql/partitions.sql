-- Partitions are tables of their own: a query on a partition uses the partition's policies, not
-- its parent's. idp.enable_rls on a partitioned table protects every partition, including those
-- created or attached later (an event trigger), and rls_status names any partition left open.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev', 'jwks', :'clerk_jwks'::jsonb));

CREATE TABLE ptodos (id int, user_id text NOT NULL, title text) PARTITION BY HASH (id);
CREATE TABLE ptodos_0 PARTITION OF ptodos FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ptodos_1 PARTITION OF ptodos FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO ptodos SELECT i, CASE WHEN i % 3 = 0 THEN 'user_2bob' ELSE 'user_2alice' END, 'todo ' || i FROM generate_series(1, 12) i;
SELECT idp.enable_rls('ptodos');
SELECT tbl, policy, user_column, rls_enabled, policies, open_partitions FROM idp.rls_status();

CREATE ROLE regress_part_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_part_app;
-- What GRANT ... ON ALL TABLES does: the partitions are granted too (and PostgREST exposes them).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO regress_part_app;
SET ROLE regress_part_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT count(*) AS through_parent FROM ptodos;
-- The review's finding on 0.2.0: the partitions themselves showed (and changed) every row.
SELECT 'ptodos_0' AS part, count(*), count(*) FILTER (WHERE user_id <> 'user_2bob') AS others FROM ptodos_0
UNION ALL
SELECT 'ptodos_1', count(*), count(*) FILTER (WHERE user_id <> 'user_2bob') FROM ptodos_1;
UPDATE ptodos_0 SET title = 'hijacked' WHERE user_id = 'user_2alice';
UPDATE ptodos_1 SET title = 'hijacked' WHERE user_id = 'user_2alice';
SELECT regress.try($$INSERT INTO ptodos_0 (id, user_id, title) VALUES (2, 'user_2alice', 'planted') RETURNING id$$) AS planted;
COMMIT;
SELECT count(*) AS anonymous_on_a_partition FROM ptodos_1;
RESET ROLE;
SELECT count(*) FILTER (WHERE title = 'hijacked') AS hijacked FROM ptodos;

-- A partition created later, and one attached later, get the same policies at once.
CREATE TABLE ptodos_list (id int, user_id text NOT NULL, title text) PARTITION BY LIST (user_id);
CREATE TABLE ptodos_list_a PARTITION OF ptodos_list FOR VALUES IN ('user_2alice');
SELECT idp.enable_rls('ptodos_list');
CREATE TABLE ptodos_list_b PARTITION OF ptodos_list FOR VALUES IN ('user_2bob');
CREATE TABLE ptodos_list_rest (id int, user_id text NOT NULL, title text);
INSERT INTO ptodos_list_rest VALUES (1, 'user_2carol', 'carol 1');
ALTER TABLE ptodos_list ATTACH PARTITION ptodos_list_rest DEFAULT;
-- A sub-partitioned partition: its own partitions too.
CREATE TABLE ptodos_list_c PARTITION OF ptodos_list FOR VALUES IN ('user_2carl') PARTITION BY HASH (id);
CREATE TABLE ptodos_list_c0 PARTITION OF ptodos_list_c FOR VALUES WITH (MODULUS 1, REMAINDER 0);
INSERT INTO ptodos_list VALUES (2, 'user_2alice', 'alice 2'), (3, 'user_2bob', 'bob 3'), (4, 'user_2carl', 'carl 4');
SELECT tbl, policy, rls_enabled, open_partitions FROM idp.rls_status() WHERE tbl::text LIKE 'ptodos_list%';
GRANT SELECT ON ALL TABLES IN SCHEMA public TO regress_part_app;
SET ROLE regress_part_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT (SELECT count(*) FROM ptodos_list_b) AS own_partition, (SELECT count(*) FROM ptodos_list_rest) AS attached_later,
       (SELECT count(*) FROM ptodos_list_c0) AS sub_partition;
COMMIT;
RESET ROLE;

-- Inheritance children are queried on their own too, and are protected the same way.
CREATE TABLE inotes (id int, user_id text NOT NULL, body text);
CREATE TABLE inotes_archive () INHERITS (inotes);
INSERT INTO inotes_archive VALUES (1, 'user_2alice', 'old note');
SELECT idp.enable_rls('inotes');
CREATE TABLE inotes_later (extra int) INHERITS (inotes);
SELECT tbl, policy, open_partitions FROM idp.rls_status() WHERE tbl::text LIKE 'inotes%';

-- A partition that cannot be protected is refused with the DDL, never left open: one that already
-- has a policy of its own named like pg_idp's.
CREATE TABLE ptodos_2_staging (id int, user_id text NOT NULL, title text);
ALTER TABLE ptodos_2_staging ENABLE ROW LEVEL SECURITY;
CREATE POLICY pg_idp_select ON ptodos_2_staging USING (true);
SELECT regress.try($$ALTER TABLE ptodos_list ATTACH PARTITION ptodos_2_staging FOR VALUES IN ('user_2eve')$$) AS refused;
SELECT count(*) AS attached FROM pg_inherits WHERE inhrelid = 'ptodos_2_staging'::regclass;

-- rls_status tells the truth when a partition is open anyway: RLS switched off on it by hand, or
-- a partition made while event triggers were off (session_replication_role = replica).
ALTER TABLE ptodos_1 DISABLE ROW LEVEL SECURITY;
SET session_replication_role = replica;
CREATE TABLE ptodos_list_e PARTITION OF ptodos_list FOR VALUES IN ('user_2erin');
RESET session_replication_role;
SELECT tbl, rls_enabled, open_partitions FROM idp.rls_status() WHERE tbl::text IN ('ptodos', 'ptodos_1', 'ptodos_list');
-- enable_rls again closes them.
SELECT idp.enable_rls('ptodos') IS NOT NULL AS ptodos, idp.enable_rls('ptodos_list') IS NOT NULL AS ptodos_list;
SELECT tbl, rls_enabled, open_partitions FROM idp.rls_status() WHERE tbl::text IN ('ptodos', 'ptodos_1', 'ptodos_list');

-- disable_rls on the parent removes pg_idp's policies from its partitions too.
SELECT idp.disable_rls('ptodos');
SELECT relname, relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c WHERE relname IN ('ptodos', 'ptodos_0', 'ptodos_1') ORDER BY relname;

-- Tables without pg_idp policies are not touched by the event trigger, and a role without any
-- right on schema idp can still create and partition its own tables.
CREATE ROLE regress_part_other NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_part_other;
SET ROLE regress_part_other;
CREATE TABLE other_parts (id int) PARTITION BY RANGE (id);
CREATE TABLE other_parts_1 PARTITION OF other_parts FOR VALUES FROM (0) TO (10);
SELECT relname, relrowsecurity FROM pg_class WHERE relname LIKE 'other_parts%' ORDER BY relname;
RESET ROLE;

DROP TABLE ptodos, ptodos_list, ptodos_2_staging, inotes CASCADE;
DROP TABLE other_parts;
REVOKE CREATE ON SCHEMA public FROM regress_part_other;
DROP OWNED BY regress_part_app;
DROP ROLE regress_part_app, regress_part_other;
