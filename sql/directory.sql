-- Directory sync (WorkOS SCIM events, applied by idp.apply_directory_event after its signature
-- is verified). Every row keeps the time of the event that last set it (`event_at`), so an older
-- event arriving late never overwrites a newer state; deletions are kept as tombstones for the
-- same reason. Event ids are remembered, so a replayed event changes nothing.

CREATE TABLE idp.directory_users (
    provider   text NOT NULL,
    id         text NOT NULL,
    -- The id the customer's identity provider gave the user (directory_match "idp_id").
    idp_id     text,
    email      text,
    -- The email folded by idp._email_key (directory_match "email"): the one case folding, shared
    -- with the token side, whatever the database's locale.
    email_key  text,
    first_name text,
    last_name  text,
    state      text NOT NULL,
    raw        jsonb NOT NULL,
    event_at   timestamptz NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE idp.directory_groups (
    provider text NOT NULL,
    id       text NOT NULL,
    name     text,
    deleted  boolean NOT NULL DEFAULT false,
    raw      jsonb NOT NULL,
    event_at timestamptz NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE idp.directory_memberships (
    provider text NOT NULL,
    group_id text NOT NULL,
    user_id  text NOT NULL,
    member   boolean NOT NULL,
    event_at timestamptz NOT NULL,
    PRIMARY KEY (provider, group_id, user_id)
);
CREATE TABLE idp.directory_events (
    provider    text NOT NULL,
    id          text NOT NULL,
    event       text NOT NULL,
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (provider, id)
);
-- Each verified identity is looked up by one of these, and its groups by the last.
CREATE INDEX directory_users_idp_id ON idp.directory_users (provider, idp_id);
CREATE INDEX directory_users_email_key ON idp.directory_users (provider, email_key);
CREATE INDEX directory_memberships_user ON idp.directory_memberships (provider, user_id);
REVOKE ALL ON idp.directory_users, idp.directory_groups, idp.directory_memberships, idp.directory_events FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('idp.directory_users', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_groups', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_memberships', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_events', '');

-- Every backend re-reads who is deprovisioned and who is in which group after a change.
CREATE TRIGGER directory_users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_users
    FOR EACH STATEMENT EXECUTE FUNCTION idp._invalidate_caches();
CREATE TRIGGER directory_groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_groups
    FOR EACH STATEMENT EXECUTE FUNCTION idp._invalidate_caches();
CREATE TRIGGER directory_memberships_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_memberships
    FOR EACH STATEMENT EXECUTE FUNCTION idp._invalidate_caches();

-- Apply one verified event; answers applied, duplicate (a replayed event id), stale (older than
-- what is stored) or ignored (an event type pg_idp does not keep). An event is ordered by its
-- created_at, or without one by the time its signature was made (signed_at). An event that lacks
-- what it needs raises 22023 and records nothing.
CREATE FUNCTION idp._apply_directory_event(p_provider text, ev jsonb, signed_at timestamptz) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ev_id text := ev->>'id';
    kind  text := ev->>'event';
    d     jsonb := ev->'data';
    at    timestamptz := signed_at;
    email text;
    n     int;
BEGIN
    IF jsonb_typeof(ev) IS DISTINCT FROM 'object' OR kind IS NULL OR jsonb_typeof(d) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'directory event refused: a directory event needs "event" and a "data" object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ev ? 'id' AND (jsonb_typeof(ev->'id') IS DISTINCT FROM 'string' OR ev_id = '') THEN
        RAISE EXCEPTION 'directory event refused: "id" must be a non-empty string' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ev ? 'created_at' THEN
        BEGIN
            at := (ev->>'created_at')::timestamptz;
        EXCEPTION WHEN others THEN
            at := NULL;
        END;
        IF at IS NULL THEN
            RAISE EXCEPTION 'directory event refused: "created_at" is not a timestamp' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF kind LIKE 'dsync.user.%' OR kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        IF d->>'id' IS NULL THEN
            RAISE EXCEPTION 'directory event refused: % has no data.id', kind USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        IF d->'user'->>'id' IS NULL OR d->'group'->>'id' IS NULL THEN
            RAISE EXCEPTION 'directory event refused: % needs data.user.id and data.group.id', kind
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    -- A replayed event id changes nothing (events without an id are ordered by time only).
    IF ev_id IS NOT NULL THEN
        INSERT INTO idp.directory_events (provider, id, event, created_at) VALUES (p_provider, ev_id, kind, at)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN 'duplicate';
        END IF;
    END IF;
    IF kind IN ('dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted') THEN
        email := coalesce(d->>'email',
                          (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d->'emails') = 'array' THEN d->'emails' ELSE '[]' END) AS e
                            ORDER BY (e->>'primary') = 'true' DESC LIMIT 1));
        INSERT INTO idp.directory_users AS u (provider, id, idp_id, email, email_key, first_name, last_name, state, raw, event_at)
        VALUES (p_provider, d->>'id', d->>'idp_id', email, idp._email_key(email),
                d->>'first_name', d->>'last_name',
                CASE WHEN kind = 'dsync.user.deleted' THEN 'deleted' ELSE coalesce(d->>'state', 'active') END,
                d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET idp_id = EXCLUDED.idp_id, email = EXCLUDED.email, email_key = EXCLUDED.email_key,
                first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                state = EXCLUDED.state, raw = EXCLUDED.raw, event_at = EXCLUDED.event_at
            WHERE u.event_at <= EXCLUDED.event_at AND u.state IS DISTINCT FROM 'deleted';
    ELSIF kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        INSERT INTO idp.directory_groups AS g (provider, id, name, deleted, raw, event_at)
        VALUES (p_provider, d->>'id', d->>'name', kind = 'dsync.group.deleted', d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET name = EXCLUDED.name, deleted = EXCLUDED.deleted, raw = EXCLUDED.raw, event_at = EXCLUDED.event_at
            WHERE g.event_at <= EXCLUDED.event_at AND NOT g.deleted;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        INSERT INTO idp.directory_memberships AS m (provider, group_id, user_id, member, event_at)
        VALUES (p_provider, d->'group'->>'id', d->'user'->>'id', kind = 'dsync.group.user_added', at)
        ON CONFLICT (provider, group_id, user_id) DO UPDATE
            SET member = EXCLUDED.member, event_at = EXCLUDED.event_at
            WHERE m.event_at <= EXCLUDED.event_at;
    ELSE
        RETURN 'ignored';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN CASE WHEN n > 0 THEN 'applied' ELSE 'stale' END;
END $$;
REVOKE EXECUTE ON FUNCTION idp._apply_directory_event(text, jsonb, timestamptz) FROM PUBLIC;

-- Apply one WorkOS directory-sync webhook: the raw body and its `WorkOS-Signature` header, checked
-- with the provider's webhook_secret (5 minutes tolerance) before anything is read from the body.
-- Answers applied, duplicate, stale or ignored (see idp._apply_directory_event). A bad or stale
-- signature changes nothing and raises 28000 (invalid_webhook_signature); a body that is not a
-- usable event, 22023.
CREATE FUNCTION idp.apply_directory_event(provider text, body text, signature text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb;
    signed_at timestamptz;
    ev jsonb;
BEGIN
    SELECT r.config INTO cfg FROM idp.provider_registry r WHERE r.name = apply_directory_event.provider;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'provider "%" is not registered', provider USING ERRCODE = 'undefined_object';
    END IF;
    IF cfg->>'webhook_secret' IS NULL THEN
        RAISE EXCEPTION 'provider "%" has no webhook_secret', provider USING ERRCODE = 'invalid_parameter_value';
    END IF;
    signed_at := idp._verify_webhook_signature(cfg->>'webhook_secret', coalesce(body, ''), coalesce(signature, ''));
    BEGIN
        ev := body::jsonb;
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION 'directory event refused: the body is not JSON' USING ERRCODE = 'invalid_parameter_value';
    END;
    RETURN idp._apply_directory_event(provider, ev, signed_at);
END $$;
REVOKE EXECUTE ON FUNCTION idp.apply_directory_event(text, text, text) FROM PUBLIC;
