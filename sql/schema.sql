-- pg_idp's registry of identity providers. It holds shared secrets and keys, so only the
-- extension owner can read or change it; identity functions read it as its owner.
CREATE TABLE idp.provider_registry (
    name       text PRIMARY KEY,
    issuer     text NOT NULL,
    -- Derived from config when it is stored, for the idp.providers view.
    audience   text[] NOT NULL DEFAULT '{}',
    algorithms text[] NOT NULL DEFAULT '{}',
    key_ids    text[] NOT NULL DEFAULT '{}',
    has_secret boolean NOT NULL DEFAULT false,
    -- As registered: holds the secret and the keys.
    config     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX provider_registry_issuer ON idp.provider_registry (issuer);
REVOKE ALL ON idp.provider_registry FROM PUBLIC;

-- The trigger of every table the backends cache (providers, revocations, the directory): each
-- change queues a relcache invalidation of the table, which PostgreSQL delivers to every backend
-- (and hot standby) at commit; each backend then drops what it cached from that table at its
-- next use, and until then uses its cached copy without any query.
CREATE FUNCTION idp._invalidate_caches() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM idp._registry_changed(TG_RELID);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION idp._invalidate_caches() FROM PUBLIC;

CREATE TRIGGER provider_registry_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.provider_registry
    FOR EACH STATEMENT EXECUTE FUNCTION idp._invalidate_caches();

-- pg_dump keeps registered providers.
SELECT pg_catalog.pg_extension_config_dump('idp.provider_registry', '');

-- The registry without secrets or keys, for everyone with USAGE on schema idp. A view runs
-- with its owner's privileges, so readers need no right on the table itself.
CREATE VIEW idp.providers AS
SELECT name, issuer, audience, algorithms, key_ids,
       config ->> 'jwks_uri' AS jwks_uri,
       config -> 'claim_mapping' AS claim_mapping,
       has_secret, created_at, updated_at
FROM idp.provider_registry;
GRANT SELECT ON idp.providers TO PUBLIC;
