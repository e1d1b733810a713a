//! tokio-postgres: the snippet of docs/applications.md ("Drivers"), run against a real database.
//!
//!   PGHOST=... PGPORT=... PGDATABASE=todos PGUSER=todo_api \
//!   TOKEN_ALICE=... TOKEN_BOB=... TOKEN_EXPIRED=... TOKEN_TAMPERED=... pg-idp-example-rust
//!
//! The database is the todo app's (examples/todos/schema.sql) with Alice's two todos and Bob's
//! one. Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.

use std::fmt::Debug;
use std::process::ExitCode;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// What the API answers: the caller's todos, or 401 with pg_idp's error code.
#[derive(Debug, PartialEq)]
enum Answer {
    Todos(Vec<(i64, String)>),
    Unauthorized(String),
}

// snippet: begin
async fn list_todos(client: &mut Client, token: &str) -> Result<Answer, tokio_postgres::Error> {
    let result: Result<Vec<(i64, String)>, tokio_postgres::Error> = async {
        let tx = client.transaction().await?;
        tx.execute("SELECT set_config('request.jwt', $1, true)", &[&token]).await?;
        let rows = tx.query("SELECT id, title FROM todos ORDER BY id", &[]).await?;
        tx.commit().await?; // the connection is anonymous again
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
    .await;
    match result {
        Ok(todos) => Ok(Answer::Todos(todos)),
        // SQLSTATE 28000: answer 401 with the code from the DETAIL, e.g. "expired".
        Err(e) if e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) => {
            let detail = e.as_db_error().and_then(|d| d.detail()).unwrap_or_default();
            Ok(Answer::Unauthorized(detail.trim_start_matches("pg_idp error code: ").to_string()))
        }
        Err(e) => Err(e),
    }
}
// snippet: end

struct Checks {
    via: String,
    failed: usize,
}

impl Checks {
    fn check<T: PartialEq + Debug>(&mut self, name: &str, expected: T, actual: T) {
        if expected == actual {
            println!("ok - tokio-postgres: {}: {name}", self.via);
        } else {
            self.failed += 1;
            println!(
                "not ok - tokio-postgres: {}: {name}\n    expected: {expected:?}\n    actual:   {actual:?}",
                self.via
            );
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// libpq's environment (PGHOST may be a socket directory), which tokio-postgres does not read.
fn config() -> Result<Config, String> {
    let mut c = Config::new();
    c.host(env("PGHOST")?);
    c.port(env("PGPORT")?.parse().map_err(|_| "PGPORT is not a port")?);
    c.user(env("PGUSER")?);
    c.dbname(env("PGDATABASE")?);
    Ok(c)
}

fn titles(a: Answer) -> Result<Vec<String>, String> {
    match a {
        Answer::Todos(t) => Ok(t.into_iter().map(|(_, title)| title).collect()),
        other => Err(format!("{other:?}")),
    }
}

async fn run(checks: &mut Checks) -> Result<(), String> {
    let (mut client, connection) = config()?.connect(NoTls).await.map_err(|e| format!("connect: {e}"))?;
    tokio::spawn(connection);
    let db = |e: tokio_postgres::Error| format!("database: {e}");
    let alice = list_todos(&mut client, &env("TOKEN_ALICE")?).await.map_err(db)?;
    checks.check(
        "Alice's token lists her todos only",
        Ok(vec!["Alice: buy milk".to_string(), "Alice: ship pg_idp".to_string()]),
        titles(alice),
    );
    let bob = list_todos(&mut client, &env("TOKEN_BOB")?).await.map_err(db)?;
    checks.check("Bob's token lists his todos only", Ok(vec!["Bob: walk the dog".to_string()]), titles(bob));
    let expired = list_todos(&mut client, &env("TOKEN_EXPIRED")?).await.map_err(db)?;
    checks.check("an expired token is a 401 with code expired", Answer::Unauthorized("expired".into()), expired);
    let tampered = list_todos(&mut client, &env("TOKEN_TAMPERED")?).await.map_err(db)?;
    checks.check(
        "a tampered token is a 401 with code invalid_signature",
        Answer::Unauthorized("invalid_signature".into()),
        tampered,
    );
    list_todos(&mut client, &env("TOKEN_ALICE")?).await.map_err(db)?;
    let row =
        client.query_one("SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos", &[]).await.map_err(db)?;
    checks.check(
        "after COMMIT the connection is anonymous and sees no todos",
        (true, 0i64),
        (row.get::<_, bool>(0), row.get::<_, i64>(1)),
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut checks = Checks { via: std::env::var("VIA").unwrap_or_else(|_| "direct".into()), failed: 0 };
    if let Err(e) = run(&mut checks).await {
        println!("not ok - tokio-postgres: {}: {e}", checks.via);
        checks.failed += 1;
    }
    if checks.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
