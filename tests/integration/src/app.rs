//! The database most suites start from: `app`, the todos app of the README, with Alice's and
//! Bob's rows.

use crate::cluster::Cluster;
use crate::conn::lit;
use crate::tokens::{Fixtures, CLERK_ISS};

/// Create database `app` on `cluster`: pg_idp, the Clerk provider (claim mapping user_id from
/// `sub`, email), table `todos` under `idp.enable_rls`, role `app_user` (LOGIN, USAGE on idp,
/// DML on todos), and as app_user with their tokens Alice's 2 rows and Bob's 3.
pub fn todos_app(cluster: &Cluster, f: &Fixtures) {
    cluster.createdb("app");
    let mut c = cluster.conn("app");
    c.batch("CREATE EXTENSION pg_idp");
    c.q(&format!(
        "SELECT idp.register_provider(jsonb_build_object(
           'provider', 'clerk', 'issuer', {},
           'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
           'jwks', {}::jsonb))",
        lit(CLERK_ISS),
        lit(&f.clerk_jwks)
    ));
    c.batch(
        "CREATE TABLE todos (
           id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           user_id text NOT NULL DEFAULT idp.requesting_user_id(),
           title   text NOT NULL
         );
         SELECT idp.enable_rls('todos');
         CREATE ROLE app_user LOGIN;
         GRANT USAGE ON SCHEMA idp TO app_user;
         GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO app_user;",
    );
    c.batch("SET ROLE app_user");
    for (token, rows) in
        [(&f.clerk_alice, "('alice 1'), ('alice 2')"), (&f.clerk_bob, "('bob 1'), ('bob 2'), ('bob 3')")]
    {
        c.batch("BEGIN");
        c.batch(&format!("SELECT set_config('request.jwt', {}, true)", lit(token)));
        c.batch(&format!("INSERT INTO todos (title) VALUES {rows}"));
        c.batch("COMMIT");
    }
}
