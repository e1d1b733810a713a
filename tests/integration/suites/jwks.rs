//! idp.discover and idp.refresh_jwks against local HTTP and HTTPS key servers (a CA made for the
//! suite, trusted only through idp.tls_ca_file): discovery, rotation, a lying issuer, 404, an
//! untrusted certificate, oversize, slow, redirect, not JSON, an empty key set, plain http to a
//! remote host; every failure keeps the current keys.

use pg_idp_itests::{lit, run, todos_app, Alg, Cluster, Fixtures, HttpServer, Key, Tls};
use serde_json::json;

#[test]
fn suite() {
    run("jwks", |s| {
        let f = Fixtures::new(s);
        let pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        s.say("JWKS over http and https: idp.discover, idp.refresh_jwks");
        // A CA and a certificate for 127.0.0.1 signed by it, made here and trusted only through
        // idp.tls_ca_file.
        let tls = Tls::make(&s.dir().join("tls"), "IP:127.0.0.1,DNS:localhost");
        let plain = HttpServer::start(s, "http", None);
        let https = HttpServer::start(s, "https", Some(&tls));
        let (iss, plain_url) = (https.url(), plain.url());
        let rot1 = Key::generate(s, "rot1", Alg::RS256, Some("rot-1"));
        let rot2 = Key::generate(s, "rot2", Alg::RS256, Some("rot-2"));
        https.put("jwks.json", rot1.jwks());
        https.put(
            ".well-known/openid-configuration",
            json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks.json")}).to_string(),
        );
        https.put(
            "liar/.well-known/openid-configuration",
            json!({"issuer": "https://evil.example.com", "jwks_uri": format!("{iss}/jwks.json")}).to_string(),
        );
        plain.put("big.json", format!("{{\"keys\":[],\"padding\":\"{}\"}}", "x".repeat(70000)));
        plain.put("not-json.json", "hello");
        plain.put("empty.json", "{\"keys\":[]}");
        let t1 = rot1.mint(json!({"iss": iss, "sub": "user_rot"}));
        let t2 = rot2.mint(json!({"iss": iss, "sub": "user_rot"}));

        let mut c = pg.conn("app");
        c.batch(
            r"CREATE FUNCTION outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; st text; det text;
BEGIN
    EXECUTE q INTO r;
    RETURN coalesce(r, 'NULL');
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, det = PG_EXCEPTION_DETAIL;
    RETURN st || coalesce(' ' || substring(det FROM 'pg_idp error code: (\w+)'), '');
END $$",
        );
        let ca = format!("SET idp.tls_ca_file = {}", lit(&tls.ca().display().to_string()));
        // outcome(query) in a session of its own trusting the test CA, under `timeout`.
        let out_with = |query: &str, timeout: &str| -> String {
            let mut c = pg.conn("app");
            c.batch(&ca);
            c.batch(timeout);
            c.q(&format!("SELECT outcome($q${query}$q$)"))
        };
        let out = |query: &str| out_with(query, "SET idp.http_timeout = '5s'");

        s.check(
            "discover: the issuer's OpenID configuration and keys, over https with the test CA",
            "1",
            out(&format!("SELECT idp.discover('{iss}', 'rot')::text")),
        );
        s.check(
            "discover: the provider verifies tokens of the discovered key",
            "user_rot",
            out(&format!("SELECT idp.verify_jwt('{t1}')->>'user_id'")),
        );
        s.check(
            "discover: jwks_uri is stored",
            format!("{iss}/jwks.json"),
            c.q("SELECT jwks_uri FROM idp.providers WHERE name = 'rot'"),
        );
        https.put("jwks.json", rot2.jwks());
        s.check("refresh_jwks: a rotated key set is loaded", "1", out("SELECT idp.refresh_jwks('rot')::text"));
        s.check(
            "refresh_jwks: the new kid is accepted, the retired one refused",
            "user_rot unknown_key",
            out(&format!("SELECT (idp.verify_jwt('{t2}')->>'user_id') || ' ' || (idp.verify_jwt('{t1}')->>'error')")),
        );
        https.remove("jwks.json");
        s.check(
            "refresh_jwks: a failed fetch (404) is 08000 fetch_failed",
            "08000 fetch_failed",
            out("SELECT idp.refresh_jwks('rot')::text"),
        );
        s.check(
            "refresh_jwks: ... and the current keys stay",
            "user_rot",
            out(&format!("SELECT idp.verify_jwt('{t2}')->>'user_id'")),
        );
        https.put("jwks.json", rot2.jwks());
        s.check(
            "refresh_jwks: https to a server the trusted CAs do not vouch for is refused",
            "08000 fetch_failed",
            c.q("SELECT outcome($q$SELECT idp.refresh_jwks('rot')::text$q$)"),
        );
        s.check(
            "discover: a configuration naming another issuer is refused",
            "22023 invalid_response",
            out(&format!("SELECT idp.discover('{iss}/liar', 'liar')::text")),
        );
        s.check(
            "discover: ... and registers nothing",
            "0",
            c.q("SELECT count(*) FROM idp.providers WHERE name = 'liar'"),
        );

        // Providers whose keys (rot1's, inline) only a refresh from jwks_uri would change.
        plain.put("jwks.json", rot2.jwks());
        let mut register_uri = |name: &str, uri: &str| {
            c.q(&format!(
                "SELECT idp.register_provider(jsonb_build_object('provider', '{name}', 'issuer', 'https://{name}.example.com',
                   'jwks_uri', {}, 'jwks', {}::jsonb))",
                lit(uri),
                lit(&rot1.jwks())
            ));
        };
        register_uri("big", &format!("{plain_url}/big.json"));
        register_uri("slow", &format!("{plain_url}/slow/jwks.json"));
        register_uri("moved", &format!("{plain_url}/redirect/jwks.json"));
        register_uri("garbage", &format!("{plain_url}/not-json.json"));
        register_uri("empty", &format!("{plain_url}/empty.json"));
        register_uri("remote", "http://example.com/jwks.json");
        register_uri("plain", &format!("{plain_url}/jwks.json"));
        s.check("refresh_jwks: plain http to loopback works", "1", out("SELECT idp.refresh_jwks('plain')::text"));
        s.check(
            "refresh_jwks: an answer over 64 KiB is 54000 response_too_large",
            "54000 response_too_large",
            out("SELECT idp.refresh_jwks('big')::text"),
        );
        s.check(
            "refresh_jwks: a slow answer fails at idp.http_timeout",
            "08000 fetch_failed",
            out_with("SELECT idp.refresh_jwks('slow')::text", "SET idp.http_timeout = '500ms'"),
        );
        s.check(
            "refresh_jwks: redirects are not followed",
            "08000 fetch_failed",
            out("SELECT idp.refresh_jwks('moved')::text"),
        );
        s.check(
            "refresh_jwks: an answer that is not JSON is refused",
            "22023 invalid_response",
            out("SELECT idp.refresh_jwks('garbage')::text"),
        );
        s.check(
            "refresh_jwks: an empty key set is refused",
            "22023 invalid_response",
            out("SELECT idp.refresh_jwks('empty')::text"),
        );
        s.check(
            "refresh_jwks: plain http to a non-loopback host is refused before any network",
            "22023 url_not_allowed",
            out("SELECT idp.refresh_jwks('remote')::text"),
        );
        s.check(
            "refresh_jwks: failed refreshes left every key set as it was",
            "rot-1 rot-1 rot-1 rot-1 rot-1",
            c.q("SELECT string_agg(key_ids[1], ' ' ORDER BY name) FROM idp.providers WHERE name IN ('big', 'slow', 'moved', 'garbage', 'empty')"),
        );
        let mut u = pg.conn("app");
        u.batch("SET ROLE app_user");
        s.check(
            "refresh_jwks: an application role may not call it (42501)",
            "42501",
            u.q("SELECT outcome($q$SELECT idp.refresh_jwks('rot')::text$q$)"),
        );
    });
}
