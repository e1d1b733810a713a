-- Directory sync (WorkOS SCIM events, applied by idp.apply_directory_event after its signature
-- is verified). Every row keeps the time of the event that last set it (`event_at`), so an older
-- event arriving late never overwrites a newer state; deletions are kept as tombstones for the
-- same reason. Event ids are remembered, so a replayed event changes nothing.

CREATE TABLE idp.directory_users (
    provider   text NOT NULL,
    id         text NOT NULL,
    email      text,
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
REVOKE ALL ON idp.directory_users, idp.directory_groups, idp.directory_memberships, idp.directory_events FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('idp.directory_users', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_groups', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_memberships', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_events', '');

-- Every backend re-reads who is deprovisioned and who is in which group after a change.
CREATE TRIGGER directory_users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_users
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();
CREATE TRIGGER directory_groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_groups
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();
CREATE TRIGGER directory_memberships_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_memberships
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();

-- Apply one verified event; answers applied, duplicate (a replay), stale (older than what is
-- stored) or ignored (an event type pg_idp does not keep), or 'invalid: <why>' for an event
-- that lacks what it needs (raised as 22023 by the caller, and nothing is recorded).
CREATE FUNCTION idp._apply_directory_event(p_provider text, ev jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ev_id text := ev->>'id';
    kind  text := ev->>'event';
    d     jsonb := ev->'data';
    at    timestamptz;
    n     int;
BEGIN
    BEGIN
        at := (ev->>'created_at')::timestamptz;
    EXCEPTION WHEN others THEN
        at := NULL;
    END;
    IF ev_id IS NULL OR kind IS NULL OR at IS NULL OR jsonb_typeof(d) IS DISTINCT FROM 'object' THEN
        RETURN 'invalid: a directory event needs "id", "event", "created_at" (a timestamp) and a "data" object';
    END IF;
    IF kind LIKE 'dsync.user.%' OR kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        IF d->>'id' IS NULL THEN
            RETURN format('invalid: %s has no data.id', kind);
        END IF;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        IF d->'user'->>'id' IS NULL OR d->'group'->>'id' IS NULL THEN
            RETURN format('invalid: %s needs data.user.id and data.group.id', kind);
        END IF;
    END IF;
    INSERT INTO idp.directory_events (provider, id, event, created_at) VALUES (p_provider, ev_id, kind, at)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    IF kind IN ('dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted') THEN
        INSERT INTO idp.directory_users AS u (provider, id, email, first_name, last_name, state, raw, event_at)
        VALUES (p_provider, d->>'id',
                lower(coalesce(d->>'email',
                               (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d->'emails') = 'array' THEN d->'emails' ELSE '[]' END) AS e
                                ORDER BY (e->>'primary') = 'true' DESC LIMIT 1))),
                d->>'first_name', d->>'last_name',
                CASE WHEN kind = 'dsync.user.deleted' THEN 'deleted' ELSE coalesce(d->>'state', 'active') END,
                d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
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
REVOKE EXECUTE ON FUNCTION idp._apply_directory_event(text, jsonb) FROM PUBLIC;
