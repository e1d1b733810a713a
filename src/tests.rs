//! In-database tests of what pg_regress cannot reach: the backend caches, the threads a fetch
//! starts.

#[pgrx::pg_schema]
mod tests {
    use pg_idp_core::sign::{mint, SigningKey};
    use pg_idp_core::{Alg, ErrorCode};
    use pgrx::prelude::*;
    use serde_json::{json, Map, Value};

    use crate::{registry::cache, request::identity};

    const ISS: &str = "https://tests.example.com";
    const SECRET_A: &str = "secret-a-0123456789abcdef0123456789";
    const SECRET_B: &str = "secret-b-0123456789abcdef0123456789";

    fn register(secret: &str) {
        let cfg = json!({"provider": "t", "issuer": ISS, "secret": secret});
        Spi::run(&format!("SELECT idp.register_provider('{cfg}'::jsonb)")).unwrap();
    }

    fn token(secret: &str, sub: &str, exp_in: i64) -> String {
        let now = crate::request::token::statement_now() as i64;
        let key = SigningKey::from_secret(Alg::HS256, secret.as_bytes(), None).unwrap();
        let claims: Map<String, Value> =
            json!({"iss": ISS, "sub": sub, "iat": now, "exp": now + exp_in}).as_object().unwrap().clone();
        mint(&key, Alg::HS256, &claims, &Map::new()).unwrap()
    }

    #[pg_test]
    fn cache_hit_still_rechecks_exp() {
        register(SECRET_A);
        let t = token(SECRET_A, "user_1", 60);
        assert_eq!(identity::verify_token(&t).unwrap().user_id, "user_1");
        let (reg, _) = cache::current();
        // Same cached token, looked up two minutes later (beyond exp + 30 s leeway).
        let later = pg_idp_core::VerifyOptions::at(crate::request::token::statement_now() + 120.0);
        let err = identity::lookup(&reg, &t, &later).unwrap_err();
        assert_eq!(err.code, ErrorCode::Expired);
        // And still accepted now.
        let now = crate::request::token::verify_options();
        assert!(identity::lookup(&reg, &t, &now).is_ok());
    }

    #[pg_test]
    fn registry_change_in_this_backend_drops_cached_identities() {
        register(SECRET_A);
        let t = token(SECRET_A, "user_2", 3600);
        assert!(identity::verify_token(&t).is_ok());
        // Rotate the secret: the cached identity must not survive.
        register(SECRET_B);
        assert_eq!(identity::verify_token(&t).unwrap_err().code, ErrorCode::InvalidSignature);
        let t2 = token(SECRET_B, "user_2", 3600);
        assert_eq!(identity::verify_token(&t2).unwrap().user_id, "user_2");
    }

    #[pg_test]
    fn requesting_user_id_follows_the_setting() {
        register(SECRET_A);
        let t = token(SECRET_A, "user_3", 3600);
        Spi::run(&format!("SELECT set_config('request.jwt', '{t}', true)")).unwrap();
        let id = Spi::get_one::<String>("SELECT idp.requesting_user_id()").unwrap();
        assert_eq!(id.as_deref(), Some("user_3"));
        Spi::run("SELECT set_config('request.jwt', '', true)").unwrap();
        let id = Spi::get_one::<String>("SELECT idp.requesting_user_id()").unwrap();
        assert_eq!(id, None);
    }

    #[pg_test(error = "JWT expired")]
    fn expired_request_token_raises() {
        register(SECRET_A);
        let t = token(SECRET_A, "user_4", -3600);
        Spi::run(&format!("SELECT set_config('request.jwt', '{t}', true)")).unwrap();
        let _ = Spi::get_one::<String>("SELECT idp.requesting_user_id()");
    }

    #[pg_test]
    fn verify_jwt_never_raises_on_hostile_input() {
        register(SECRET_A);
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let b64 = |s: &str| pg_idp_core::b64::encode(s.as_bytes());
        let inputs = vec![
            String::new(),
            ".".into(),
            "..".into(),
            "a.b.c.d.e".into(),
            "x".repeat(100_000),
            format!("{}.{}.", b64(r#"{"alg":"HS256"}"#), b64(&deep)),
            format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"iss":"https://tests.example.com","sub":"x"}"#)),
            "\u{FEFF}eyJ.eyJ.sig".into(),
        ];
        for input in inputs {
            let v = Spi::get_one_with_args::<pgrx::JsonB>("SELECT idp.verify_jwt($1)", &[input.clone().into()])
                .unwrap()
                .unwrap();
            assert_eq!(v.0["valid"], json!(false), "{input:.40}");
        }
    }

    fn verifications() -> u64 {
        identity::cache_stats().2
    }

    #[pg_test]
    fn a_policy_evaluated_per_row_verifies_once() {
        register(SECRET_A);
        let t = token(SECRET_A, "user_5", 3600);
        Spi::run(&format!("SELECT set_config('request.jwt', '{t}', true)")).unwrap();
        let before = verifications();
        let n = Spi::get_one::<i64>(
            "SELECT count(*) FROM generate_series(1, 10000) WHERE idp.requesting_user_id() = 'user_5'",
        )
        .unwrap();
        assert_eq!(n, Some(10000));
        assert_eq!(verifications() - before, 1);
        // A new token is verified once more; going back to the first is an LRU hit.
        let t2 = token(SECRET_A, "user_6", 3600);
        Spi::run(&format!("SELECT set_config('request.jwt', '{t2}', true)")).unwrap();
        assert_eq!(Spi::get_one::<String>("SELECT idp.requesting_user_id()").unwrap().as_deref(), Some("user_6"));
        Spi::run(&format!("SELECT set_config('request.jwt', '{t}', true)")).unwrap();
        assert_eq!(Spi::get_one::<String>("SELECT idp.requesting_user_id()").unwrap().as_deref(), Some("user_5"));
        assert_eq!(verifications() - before, 2);
    }

    #[pg_test]
    fn the_cache_is_bounded_by_cache_size() {
        register(SECRET_A);
        Spi::run("SET idp.cache_size = 10").unwrap();
        let tokens: Vec<String> = (0..50).map(|i| token(SECRET_A, &format!("user_lru_{i}"), 3600)).collect();
        for t in &tokens {
            assert!(identity::verify_token(t).is_ok());
        }
        let (entries, capacity, _) = identity::cache_stats();
        assert_eq!((entries, capacity), (10, 10));
        // The most recent are kept, the oldest were evicted.
        let before = verifications();
        assert!(identity::verify_token(&tokens[49]).is_ok());
        assert_eq!(verifications(), before);
        assert!(identity::verify_token(&tokens[0]).is_ok());
        assert_eq!(verifications(), before + 1);
        // 0 keeps nothing, and everything still verifies.
        Spi::run("SET idp.cache_size = 0").unwrap();
        assert!(identity::verify_token(&tokens[1]).is_ok());
        assert!(identity::verify_token(&tokens[1]).is_ok());
        assert_eq!(identity::cache_stats().0, 0);
        Spi::run("RESET idp.cache_size").unwrap();
    }

    /// The login snapshot (PostgreSQL 18): what the worker writes is what the validator reads,
    /// revocations and deprovisioned directory users included.
    #[cfg(feature = "pg18")]
    #[pg_test]
    fn login_snapshot_round_trip() {
        let cfg =
            json!({"provider": "t", "issuer": ISS, "secret": SECRET_A, "login": {"roles": ["app"], "audience": "db"}});
        Spi::run(&format!("SELECT idp.register_provider('{cfg}'::jsonb)")).unwrap();
        Spi::run("SELECT idp.revoke_user('t', 'user_revoked', now() + interval '1 minute')").unwrap();
        Spi::run(
            "SELECT idp._apply_directory_event('t', '{\"event\": \"dsync.user.created\", \"data\": {\"id\": \"user_gone\", \"state\": \"inactive\", \"raw_attributes\": {}}}', now())",
        )
        .unwrap();
        // The owner of a table with row-level security is in the snapshot (a login as it is
        // privileged); the owner of a table without is not.
        Spi::run(
            "CREATE ROLE snapshot_rls_owner; CREATE ROLE snapshot_plain_owner; \
             CREATE TABLE snapshot_rls (id int); ALTER TABLE snapshot_rls OWNER TO snapshot_rls_owner; \
             ALTER TABLE snapshot_rls ENABLE ROW LEVEL SECURITY; \
             CREATE TABLE snapshot_plain (id int); ALTER TABLE snapshot_plain OWNER TO snapshot_plain_owner",
        )
        .unwrap();
        let oid_of = |role: &str| {
            Spi::get_one::<pg_sys::Oid>(&format!("SELECT '{role}'::regrole::oid")).unwrap().unwrap().to_u32()
        };
        // What a job does: verify the install, read it by oid, write the file with a generation.
        let crate::registry::trusted::Found::Installed(install) = crate::registry::trusted::inspect().unwrap() else {
            panic!("pg_idp is not trusted in the test database")
        };
        let content = crate::registry::tables::content(&install).unwrap();
        assert_eq!(content.providers.len(), 1);
        // SAFETY: reads a backend global.
        let oid = unsafe { pg_sys::MyDatabaseId };
        let body = crate::login::snapshot::body(&content, &crate::registry::trusted::rls_owners().unwrap());
        crate::login::snapshot::write(oid, "test", 7, &body).unwrap();
        let loaded = crate::login::snapshot::read(oid).unwrap();
        assert_eq!(loaded.generation, 7);
        assert_eq!((loaded.revocations, loaded.deprovisioned), (1, 1));
        assert!(loaded.rls_owners.contains(&oid_of("snapshot_rls_owner")), "{:?}", loaded.rls_owners);
        assert!(!loaded.rls_owners.contains(&oid_of("snapshot_plain_owner")), "{:?}", loaded.rls_owners);
        let opts = pg_idp_core::VerifyOptions::now();
        let code = |sub: &str| loaded.registry.verify(&token(SECRET_A, sub, 3600), &opts).err().map(|e| e.code);
        assert_eq!(code("user_ok"), None);
        assert_eq!(code("user_revoked"), Some(ErrorCode::Revoked));
        assert_eq!(code("user_gone"), Some(ErrorCode::Deprovisioned));
        assert!(loaded.registry.provider("t").unwrap().login.is_some());
        let status = crate::login::snapshot::status();
        assert_eq!(status["readable"], json!(true));
        assert_eq!(status["login_providers"], json!(["t"]));
        // SAFETY: reads a backend global.
        crate::login::snapshot::remove(unsafe { pg_sys::MyDatabaseId });
        assert_eq!(crate::login::snapshot::status()["readable"], json!(false));
    }

    /// The snapshot's temporary file is created new, never opened through a link: a symbolic
    /// link left at its name (or at the snapshot's own name) pointing at another file leaves
    /// that file as it was, and the snapshot is written as a regular file.
    #[cfg(feature = "pg18")]
    #[pg_test]
    fn snapshot_writes_never_follow_a_link() {
        // SAFETY: reads a backend global.
        let oid = unsafe { pg_sys::MyDatabaseId };
        let target = crate::login::snapshot::path(oid);
        let dir = target.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        let victim = std::env::temp_dir().join(format!("pg_idp_snapshot_victim_{}", std::process::id()));
        std::fs::write(&victim, b"not pg_idp's").unwrap();
        let tmp = dir.join(format!(".{}.json.tmp.{}", oid.to_u32(), std::process::id()));
        for link in [&tmp, &target] {
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&victim, link).unwrap();
        }
        let body = json!({"providers": [], "revocations": [], "deprovisioned": [], "rls_owners": []});
        crate::login::snapshot::write(oid, "test", 9, &body).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"not pg_idp's");
        assert!(std::fs::symlink_metadata(&target).unwrap().file_type().is_file());
        assert!(std::fs::symlink_metadata(&tmp).is_err(), "the temporary name is gone");
        assert_eq!(crate::login::snapshot::read(oid).unwrap().generation, 9);
        crate::login::snapshot::remove(oid);
        std::fs::remove_file(&victim).unwrap();
    }

    #[pg_test]
    fn audit_lines_name_kid_and_sub_quoted_never_the_token() {
        let now = crate::request::token::statement_now() as i64;
        let key = SigningKey::from_secret(Alg::HS256, SECRET_A.as_bytes(), None).unwrap();
        let claims: Map<String, Value> =
            json!({"iss": ISS, "sub": "user\"\n7", "exp": now + 60}).as_object().unwrap().clone();
        let hostile_kid = format!("k\"{}", "x".repeat(300));
        let t = mint(&key, Alg::HS256, &claims, json!({"kid": hostile_kid}).as_object().unwrap()).unwrap();
        let (kid, sub) = crate::shmem::audit::kid_and_sub(&t);
        assert_eq!(sub, "\"user\\\"\\n7\"");
        assert!(kid.starts_with("\"k\\\"xxx") && kid.ends_with("…\"") && kid.chars().count() < 110, "{kid}");
        let signature = t.rsplit('.').next().unwrap();
        for part in [&kid, &sub] {
            assert!(!part.contains(&t) && !part.contains(signature) && !part.contains(SECRET_A));
        }
        // Nothing to read in a token that is not one.
        assert_eq!(crate::shmem::audit::kid_and_sub("not a token"), ("-".to_string(), "-".to_string()));
    }

    #[pg_test]
    fn first_logs_a_token_once_per_window() {
        let a = token(SECRET_A, "user_log_a", 3600);
        let b = token(SECRET_A, "user_log_b", 3600);
        assert!(crate::shmem::audit::first_time(&a));
        assert!(!crate::shmem::audit::first_time(&a));
        assert!(crate::shmem::audit::first_time(&b));
        assert!(!crate::shmem::audit::first_time(&b));
    }

    #[pg_test]
    fn without_preloading_stats_answer_no_rows() {
        // The test server does not preload pg_idp: no shared memory, a NOTICE and no rows.
        register(SECRET_A);
        assert!(identity::verify_token(&token(SECRET_A, "user_7", 3600)).is_ok());
        assert_eq!(Spi::get_one::<i64>("SELECT count(*) FROM idp.stats").unwrap(), Some(0));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM idp.provider_health WHERE last_refresh_attempt IS NOT NULL")
                .unwrap(),
            Some(0)
        );
    }

    /// A lookup that takes 3 s and finds nothing.
    fn slow_lookup(_: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        Err(std::io::Error::other("no such host"))
    }

    /// A key fetch in a backend looks host names up on a thread that blocks every signal (a
    /// reload or a termination sent to the backend never runs a handler there), and leaves the
    /// backend's own signal mask as it was.
    #[pg_test]
    fn a_fetch_looks_host_names_up_on_a_thread_that_blocks_every_signal() {
        use crate::pg::threads::proc_status::{blocked, this_thread, threads_named, unblocked};
        // SAFETY: reads a process global.
        assert_eq!(this_thread(), unsafe { pg_sys::MyProcPid }, "a backend runs on its process's own thread");
        let own = blocked(this_thread());
        // The lookup takes 3 s, the fetch 300 ms: the fetch gives up, the lookup goes on.
        let err = crate::registry::fetch::fetch_with(
            "http://localhost:9/.well-known/jwks.json",
            std::time::Duration::from_millis(300),
            None,
            None,
            slow_lookup,
        )
        .err()
        .expect("a lookup of 3 s, given 300 ms");
        assert_eq!(err.code(), "fetch_failed");
        let lookups = threads_named(crate::registry::fetch::LOOKUP_THREAD);
        assert!(!lookups.is_empty(), "no lookup thread in the backend");
        for tid in lookups {
            assert_eq!(
                unblocked(blocked(tid)),
                Vec::<i32>::new(),
                "signals thread {tid} of the backend does not block"
            );
        }
        assert_eq!(blocked(this_thread()), own, "the backend's signal mask changed");
    }

    #[pg_test(
        error = "pg_idp: idp.stats needs shared_preload_libraries = 'pg_idp' (and a restart): without it no counters are kept"
    )]
    fn without_preloading_reset_stats_raises() {
        Spi::run("SELECT idp.reset_stats()").unwrap();
    }
}
