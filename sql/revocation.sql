-- Revocation: a user's tokens issued before a time, or every token of one session, fail with
-- the code `revoked`. Like the registry, the list is read by every backend into its cache and
-- re-read after a change (the same trigger queues a relcache invalidation), so a revocation is
-- seen from each backend's next transaction, cached identities included.

CREATE TABLE idp.revocation_list (
    provider      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('user', 'session')),
    subject       text NOT NULL,
    -- For a user: tokens issued (iat) before this fail. NULL for a session.
    issued_before timestamptz,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (provider, kind, subject),
    CHECK ((kind = 'user') = (issued_before IS NOT NULL))
);
REVOKE ALL ON idp.revocation_list FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('idp.revocation_list', '');

CREATE TRIGGER revocation_list_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.revocation_list
    FOR EACH STATEMENT EXECUTE FUNCTION idp._invalidate_caches();

-- What is revoked, for the extension owner (it names users and sessions).
CREATE VIEW idp.revocations AS
SELECT provider, kind, subject, issued_before, created_at FROM idp.revocation_list;
REVOKE ALL ON idp.revocations FROM PUBLIC;

CREATE FUNCTION idp._check_revocation_args(provider text, subject text, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF provider IS NULL OR subject IS NULL OR subject = '' THEN
        RAISE EXCEPTION 'pg_idp: provider and % must be given', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM idp.provider_registry r WHERE r.name = provider) THEN
        RAISE EXCEPTION 'provider "%" is not registered', provider USING ERRCODE = 'undefined_object';
    END IF;
END $$;

-- Tokens of `user_id` (the mapped user id) issued before `before` fail `revoked`; a token without
-- `iat` cannot show it is newer and fails too. Revoking again moves the time.
CREATE FUNCTION idp.revoke_user(provider text, user_id text, before timestamptz DEFAULT pg_catalog.now())
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM idp._check_revocation_args(provider, user_id, 'user_id');
    IF before IS NULL THEN
        RAISE EXCEPTION 'pg_idp: before must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO idp.revocation_list (provider, kind, subject, issued_before)
    VALUES (provider, 'user', user_id, before)
    ON CONFLICT ON CONSTRAINT revocation_list_pkey
    DO UPDATE SET issued_before = EXCLUDED.issued_before, created_at = pg_catalog.now();
END $$;

-- Every token carrying this `sid` (Clerk, WorkOS sessions) fails `revoked`.
CREATE FUNCTION idp.revoke_session(provider text, sid text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM idp._check_revocation_args(provider, sid, 'sid');
    INSERT INTO idp.revocation_list (provider, kind, subject) VALUES (provider, 'session', sid)
    ON CONFLICT ON CONSTRAINT revocation_list_pkey DO NOTHING;
END $$;

CREATE FUNCTION idp.unrevoke_user(provider text, user_id text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r
               WHERE r.provider = unrevoke_user.provider AND r.kind = 'user' AND r.subject = unrevoke_user.user_id
               RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

CREATE FUNCTION idp.unrevoke_session(provider text, sid text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r
               WHERE r.provider = unrevoke_session.provider AND r.kind = 'session' AND r.subject = unrevoke_session.sid
               RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

-- Drop revocations older than `older_than` (once every token they could match has expired, they
-- only cost memory); returns how many were dropped.
CREATE FUNCTION idp.purge_revocations(older_than interval) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r WHERE r.created_at < pg_catalog.now() - older_than RETURNING 1)
    SELECT count(*) FROM d
$$;

REVOKE EXECUTE ON FUNCTION idp._check_revocation_args(text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.revoke_user(text, text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.revoke_session(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.unrevoke_user(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.unrevoke_session(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.purge_revocations(interval) FROM PUBLIC;
