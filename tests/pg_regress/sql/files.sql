-- The guides' Step 6 for files: "Files: users can only access files they uploaded".
-- files(path, size_bytes, content_type, uploaded_by, uploaded_at) under
-- idp.enable_rls('files', user_column => 'uploaded_by'): each user lists, reads (by path),
-- renames and deletes only what they uploaded; the same path uploaded by two users is two
-- files (unique per uploader); someone else's files are invisible (0 rows), and a file cannot
-- be uploaded in, or handed over to, someone else's name (42501).
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Clerk (Alice and Bob) and Auth0 (a third user) side by side.
\i :specs/clerk.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'auth0', 'issuer', 'https://acme.us.auth0.com/', 'audience', 'https://api.example.com',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email', 'tenant', 'org_id'),
  'jwks', :'auth0_jwks'::jsonb));

CREATE TABLE files (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  path         text NOT NULL,
  size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
  content_type text NOT NULL,
  uploaded_by  text NOT NULL DEFAULT idp.requesting_user_id(),
  uploaded_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (uploaded_by, path)
);
-- The owner column is not called user_id: name it.
SELECT regress.try($$SELECT idp.enable_rls('files')$$) AS without_user_column;
SELECT idp.enable_rls('files', user_column => 'uploaded_by');
SELECT tbl, policy, user_column, tenant_column, rls_enabled, rls_forced, policies FROM idp.rls_status();

CREATE ROLE regress_files_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_files_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON files TO regress_files_app;
SET ROLE regress_files_app;

-- Alice uploads two files; uploaded_by comes from her verified token.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
INSERT INTO files (path, size_bytes, content_type) VALUES
  ('docs/report.pdf', 1000, 'application/pdf'),
  ('avatars/me.png',   200, 'image/png')
RETURNING id, path, size_bytes, uploaded_by;
COMMIT;

-- Bob uploads his own docs/report.pdf (same path, another file) and a note.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
INSERT INTO files (path, size_bytes, content_type) VALUES
  ('docs/report.pdf', 2222, 'application/pdf'),
  ('notes.txt',         30, 'text/plain')
RETURNING id, path, size_bytes, uploaded_by;
COMMIT;

-- The third user (Auth0) uploads one.
BEGIN;
SET LOCAL request.jwt = :'auth0_user';
INSERT INTO files (path, size_bytes, content_type) VALUES ('docs/report.pdf', 3, 'application/pdf')
RETURNING id, path, size_bytes, uploaded_by;
COMMIT;

-- Alice lists her files, and reads docs/report.pdf by path: hers (1000 bytes), not Bob's.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, path, size_bytes, content_type, uploaded_by FROM files ORDER BY id;
SELECT id, size_bytes, uploaded_by FROM files WHERE path = 'docs/report.pdf';
-- Bob's note does not exist for her.
SELECT count(*) AS bobs_note FROM files WHERE path = 'notes.txt';
-- Uploading the same path again is a conflict with her own file only.
SELECT regress.try($$INSERT INTO files (path, size_bytes, content_type)
                     VALUES ('docs/report.pdf', 1, 'application/pdf') RETURNING id$$) AS duplicate_path;
COMMIT;

-- Bob lists and reads only his.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT id, path, size_bytes, content_type, uploaded_by FROM files ORDER BY id;
SELECT id, size_bytes, uploaded_by FROM files WHERE path = 'docs/report.pdf';
SELECT count(*) AS alices_avatar FROM files WHERE path = 'avatars/me.png';
-- Deleting Alice's files, by path or by id: 0 rows.
DELETE FROM files WHERE path = 'avatars/me.png' RETURNING id;
DELETE FROM files WHERE id IN (1, 2) RETURNING id;
-- Renaming Alice's file, or moving it under his own name: 0 rows.
UPDATE files SET path = 'avatars/stolen.png' WHERE path = 'avatars/me.png' RETURNING id;
UPDATE files SET path = 'stolen.pdf', uploaded_by = 'user_2bob' WHERE id = 1 RETURNING id;
-- Handing his own file to Alice is refused (42501), as is uploading in her name, even at a
-- path she already has (the policy answers first: no hint that her file exists).
SELECT regress.try($$UPDATE files SET uploaded_by = 'user_2alice' WHERE path = 'notes.txt' RETURNING id$$) AS give_away;
SELECT regress.try($$INSERT INTO files (path, size_bytes, content_type, uploaded_by)
                     VALUES ('avatars/me.png', 1, 'image/png', 'user_2alice') RETURNING id$$) AS forged_upload;
SELECT regress.try($$INSERT INTO files (path, size_bytes, content_type, uploaded_by)
                     VALUES ('malware.exe', 1, 'application/octet-stream', 'user_2alice') RETURNING id$$) AS forged_new_path;
-- A blanket delete removes only his own note; his report stays for later.
DELETE FROM files WHERE path <> 'docs/report.pdf' RETURNING id, path, uploaded_by;
COMMIT;

-- The third user sees only their one file.
BEGIN;
SET LOCAL request.jwt = :'auth0_user';
SELECT id, path, size_bytes, uploaded_by FROM files ORDER BY id;
COMMIT;

-- Alice's files are untouched; she renames and deletes her own.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, path, size_bytes, uploaded_by FROM files ORDER BY id;
UPDATE files SET path = 'avatars/alice.png' WHERE path = 'avatars/me.png' RETURNING id, path;
DELETE FROM files WHERE path = 'docs/report.pdf' RETURNING id, path, size_bytes;
SELECT id, path, size_bytes, uploaded_by FROM files ORDER BY id;
COMMIT;

-- Anonymous (no token): no files, no upload (the policy refuses a NULL uploader, 42501).
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS anonymous_files FROM files;
SELECT regress.try($$INSERT INTO files (path, size_bytes, content_type) VALUES ('anon.txt', 1, 'text/plain') RETURNING id$$) AS anonymous_upload;
SELECT regress.try($$INSERT INTO files (path, size_bytes, content_type, uploaded_by) VALUES ('anon.txt', 1, 'text/plain', NULL) RETURNING id$$) AS anonymous_null_uploader;
DELETE FROM files RETURNING id;

-- An invalid token is an error, not an empty listing or someone else's files.
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SELECT regress.try('SELECT count(*) FROM files') AS tampered;
ROLLBACK;

RESET ROLE;
-- The owner (not subject to RLS) sees what was really stored: each user's docs/report.pdf
-- apart from Alice's deleted one, Alice's renamed avatar, nothing with a NULL uploader.
SELECT id, path, size_bytes, content_type, uploaded_by FROM files ORDER BY id;
DROP TABLE files;
DROP OWNED BY regress_files_app;
DROP ROLE regress_files_app;
