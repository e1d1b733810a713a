-- Logging in with a provider's token (PostgreSQL 18): idp.login_snapshot() tells where the
-- snapshot of this database is and how old it is; superusers only (it names a path in the data
-- directory).
COMMENT ON FUNCTION idp.login_snapshot() IS
  'The login snapshot of this database (PostgreSQL 18 OAuth validator): path, providers, age. NULL before 18.';
REVOKE EXECUTE ON FUNCTION idp.login_snapshot() FROM PUBLIC;
