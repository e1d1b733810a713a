-- The guides' Step 6 for vectors: "Vectors: automatically filtered by the user_id extracted from
-- the JWT sub claim", and the `vectors/search` call ({"query": ..., "top_k": 5}).
-- documents(user_id, content, embedding) under idp.enable_rls, and search_documents(query, k):
-- the top k rows by cosine distance, SECURITY INVOKER so that RLS filters the rows BEFORE the
-- ORDER BY ... LIMIT. Bob's vectors are deliberately nearer to Alice's query than her own: a
-- search that ranked first and filtered after (or not at all) would show them, or return fewer
-- than k rows. No pgvector: the embedding is a real[] and the distance a SQL function.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Clerk (Alice and Bob) and Stytch (a third user, with no documents) side by side.
\i :specs/clerk.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'stytch', 'issuer', 'stytch.com/project-test-6e3f1a2b',
  'audience', 'project-test-6e3f1a2b',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'emails'),
  'jwks', :'stytch_jwks'::jsonb));

-- Cosine distance (1 - cosine similarity) of two real[] of the same length. Vectors of
-- different lengths are an error (as pgvector's "different vector dimensions"), never a
-- distance computed over the common prefix.
CREATE FUNCTION vector_dims_error(m int, n int) RETURNS double precision
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'different vector dimensions % and %', m, n USING ERRCODE = 'data_exception';
END $$;
CREATE FUNCTION cosine_distance(a real[], b real[]) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN cardinality(a) <> cardinality(b) THEN vector_dims_error(cardinality(a), cardinality(b))
        ELSE 1 - sum(x.v::float8 * y.v) / (sqrt(sum(x.v::float8 * x.v)) * sqrt(sum(y.v::float8 * y.v)))
    END
    FROM unnest(a) WITH ORDINALITY AS x(v, i)
    JOIN unnest(b) WITH ORDINALITY AS y(v, i) USING (i)
$$;
SELECT round(cosine_distance('{1,0,0}', '{1,0,0}')::numeric, 4) AS same,
       round(cosine_distance('{1,0,0}', '{0,1,0}')::numeric, 4) AS orthogonal,
       round(cosine_distance('{1,0,0}', '{-2,0,0}')::numeric, 4) AS opposite,
       round(cosine_distance('{3,4,0}', '{6,8,0}')::numeric, 4) AS scaled;
-- A dimension mismatch is a clear error, not the distance of the first two components.
SELECT regress.try($$SELECT cosine_distance('{1,0,0}', '{1,0}')$$) AS dims_3_2;
SELECT regress.try($$SELECT cosine_distance('{1,0}', '{1,0,0}')$$) AS dims_2_3;

CREATE TABLE documents (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id   text NOT NULL DEFAULT idp.requesting_user_id(),
  content   text NOT NULL,
  embedding real[] NOT NULL CHECK (cardinality(embedding) = 3)
);
SELECT idp.enable_rls('documents');

-- The `vectors/search` call: top k by cosine distance (ties by id), as the calling user.
-- STRICT: a NULL k is no rows, not "LIMIT NULL" (every row).
CREATE FUNCTION search_documents(query real[], k int)
RETURNS TABLE (id bigint, user_id text, content text, distance double precision)
LANGUAGE sql STABLE STRICT SECURITY INVOKER AS $$
    SELECT d.id, d.user_id, d.content, cosine_distance(d.embedding, query) AS distance
      FROM documents d
     ORDER BY distance, d.id
     LIMIT k
$$;

CREATE ROLE regress_vectors_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_vectors_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO regress_vectors_app;
SET ROLE regress_vectors_app;

-- Alice stores four documents, each as herself (user_id from her verified token).
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
INSERT INTO documents (content, embedding) VALUES
  ('alice: oauth sign-in notes',  '{0.8,0.6,0}'),
  ('alice: session handling',     '{0.6,0.8,0}'),
  ('alice: password reset flow',  '{0,1,0}'),
  ('alice: recipes',              '{-1,0,0}')
RETURNING id, user_id, content;
COMMIT;

-- Bob stores two, both pointing almost exactly where Alice will search ({1,0,0}).
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
INSERT INTO documents (content, embedding) VALUES
  ('bob: user authentication patterns', '{1,0,0}'),
  ('bob: jwt verification',             '{0.99,0.1,0}')
RETURNING id, user_id, content;
COMMIT;

-- Alice's top 3 for {1,0,0}: exactly 3 rows, all hers, nearest first; Bob's two nearer rows
-- are not among them and do not take places in the top k.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, user_id, content, round(distance::numeric, 4) AS distance
  FROM search_documents('{1,0,0}', 3);
-- top_k 5 with 4 documents: all 4 of hers, no more.
SELECT id, user_id, content, round(distance::numeric, 4) AS distance
  FROM search_documents('{1,0,0}', 5);
SELECT count(*) AS k0 FROM search_documents('{1,0,0}', 0);
SELECT count(*) AS k_null FROM search_documents('{1,0,0}', NULL);
-- A query of the wrong dimension is an error, not a ranking over two components.
SELECT regress.try($$SELECT count(*) FROM search_documents('{1,0}', 3)$$) AS wrong_dims;
COMMIT;

-- Bob, top 3: he has only two documents, so two rows, both his.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT id, user_id, content, round(distance::numeric, 4) AS distance
  FROM search_documents('{1,0,0}', 3);
-- Even a query aimed exactly at Alice's vectors finds only his.
SELECT id, user_id, content, round(distance::numeric, 4) AS distance
  FROM search_documents('{0,1,0}', 5);
-- A vector stored in Alice's name is refused (42501).
SELECT regress.try($$INSERT INTO documents (user_id, content, embedding)
                     VALUES ('user_2alice', 'bob: planted for alice', '{1,0,0}') RETURNING id$$) AS forged_insert;
-- Alice's documents cannot be re-pointed, handed over, or deleted by him: 0 rows.
UPDATE documents SET embedding = '{0,0,1}' WHERE content LIKE 'alice:%' RETURNING id;
DELETE FROM documents WHERE id IN (1, 2, 3, 4) RETURNING id;
SELECT regress.try($$UPDATE documents SET user_id = 'user_2alice' WHERE content LIKE 'bob:%' RETURNING id$$) AS give_away;
COMMIT;

-- A third user (Stytch) with no documents: an empty search, not someone else's nearest rows.
BEGIN;
SET LOCAL request.jwt = :'stytch_user';
SELECT idp.requesting_user_id();
SELECT count(*) AS stytch_hits FROM search_documents('{1,0,0}', 5);
COMMIT;

-- Anonymous (no token): zero rows, and nothing can be stored.
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS anonymous_hits
  FROM search_documents('{1,0,0}', 5);
SELECT regress.try($$INSERT INTO documents (content, embedding) VALUES ('anonymous', '{1,0,0}') RETURNING id$$) AS anonymous_insert;

-- An invalid token is an error, not an empty result or someone else's rows.
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SELECT regress.try($$SELECT count(*) FROM search_documents('{1,0,0}', 5)$$) AS tampered;
ROLLBACK;
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT regress.try($$SELECT count(*) FROM search_documents('{1,0,0}', 5)$$) AS expired;
ROLLBACK;

RESET ROLE;
-- The owner (not subject to RLS) sees what the search ranks without the filter: Bob's two
-- documents first. This is what the policy kept from Alice's top 3.
SELECT id, user_id, content, round(distance::numeric, 4) AS distance
  FROM search_documents('{1,0,0}', 3);
SELECT id, user_id, content, embedding FROM documents ORDER BY id;
DROP TABLE documents;
DROP FUNCTION search_documents(real[], int);
DROP FUNCTION cosine_distance(real[], real[]);
DROP FUNCTION vector_dims_error(int, int);
DROP OWNED BY regress_vectors_app;
DROP ROLE regress_vectors_app;
