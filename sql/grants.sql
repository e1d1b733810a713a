-- Who may call what. Identity functions are for everyone (their answer depends only on the
-- token the caller presents); changing the registry is for the extension owner and superusers.
REVOKE EXECUTE ON FUNCTION idp.register_provider(jsonb, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.set_jwks(text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.unregister_provider(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._registry_changed(oid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.refresh_jwks(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.discover(text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._verify_webhook_signature(text, text, text) FROM PUBLIC;
-- Creating and removing the auth.* compatibility functions (DDL in schema auth).
REVOKE EXECUTE ON FUNCTION idp.install_compat(text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.uninstall_compat(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._launcher_notify() FROM PUBLIC;
-- Names every database of the cluster and their state: for superusers.
REVOKE EXECUTE ON FUNCTION idp.served_databases() FROM PUBLIC;

-- Last: pg_idp's launcher (with pg_idp preloaded) looks at this database once CREATE EXTENSION
-- commits, and serves it.
SELECT idp._launcher_notify();
