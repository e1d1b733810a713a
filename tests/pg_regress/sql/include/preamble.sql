\set ECHO none
-- Shared by the specs (\i :specs/preamble.sql): the keys and tokens scripts/fixtures made for
-- this run, loaded without echo (nothing secret in the expected output), and a fresh pg_idp,
-- with pgcrypto and dblink, which several specs use to sign webhooks and open other sessions.
\getenv fixtures PG_IDP_FIXTURES
\i :fixtures
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_idp CASCADE;
CREATE EXTENSION pg_idp;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
\set ECHO all
