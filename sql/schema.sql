-- pg_idp creates its schema itself (the control file names it, and CREATE EXTENSION creates it
-- when it is missing). It never installs into an idp schema that was already there: a database
-- owner who created one beforehand would own what pg_idp puts in it, and pg_idp's workers, which
-- run with the cluster's authority, would read it. The one exception is the empty schema a DROP
-- EXTENSION pg_idp leaves behind, owned by a superuser, that no one else may create objects in.
DO $$
DECLARE
    ns oid;
    created_now boolean;
    owner_is_superuser boolean;
    others_may_create boolean;
    has_objects boolean;
BEGIN
    SELECT n.oid, n.xmin OPERATOR(pg_catalog.=) e.xmin, COALESCE(r.rolsuper, false),
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                    WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                      AND NOT COALESCE((SELECT g.rolsuper FROM pg_catalog.pg_authid g
                                         WHERE g.oid OPERATOR(pg_catalog.=) a.grantee), false))
      INTO ns, created_now, owner_is_superuser, others_may_create
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_extension e ON e.extname OPERATOR(pg_catalog.=) 'pg_idp'
      LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'idp';
    IF created_now THEN
        RETURN;
    END IF;
    has_objects := EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                              AND d.refobjid OPERATOR(pg_catalog.=) ns
                              AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass);
    IF NOT owner_is_superuser OR others_may_create OR has_objects THEN
        RAISE EXCEPTION 'pg_idp: schema "idp" already exists'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'pg_idp creates schema idp itself and never installs into one made before it.',
                  HINT = 'Drop or rename the existing schema idp, then run CREATE EXTENSION pg_idp again.';
    END IF;
END
$$;

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
