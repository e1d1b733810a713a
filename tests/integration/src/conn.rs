//! A client session, answering as `psql -X -q -At` does.
//!
//! Every query goes through the simple query protocol, so a value comes back as the server's
//! text, exactly what psql prints: columns joined by `|`, a NULL as nothing, rows one per line.
//! It also works through PgBouncer in transaction pooling (no prepared statements). A query
//! string may hold several statements: they are sent together, in one round trip, and run as one
//! implicit transaction (as `psql -c` sends its string). To send statements one by one, as
//! `psql -c A -c B` does, use [`Conn::each`]: do that whenever a statement holding a token might
//! fail, since the server logs a failed statement's whole text.

use std::sync::{Arc, Mutex};

use postgres::error::DbError;
use postgres::{Client, NoTls, SimpleQueryMessage};

/// One session (see the module's comment).
pub struct Conn {
    client: Client,
    notices: Arc<Mutex<Vec<DbError>>>,
    what: String,
}

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// A unix socket directory (a path) or a host name / address.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    pub application_name: Option<String>,
}

impl Target {
    /// The same target with another database.
    pub fn db(mut self, dbname: &str) -> Target {
        self.dbname = dbname.into();
        self
    }

    /// The same target as another role.
    pub fn user(mut self, user: &str) -> Target {
        self.user = user.into();
        self
    }

    /// The same target with an application_name (what `PGAPPNAME` sets for psql).
    pub fn app(mut self, name: &str) -> Target {
        self.application_name = Some(name.into());
        self
    }

    /// Connect (panics with the reason when it cannot).
    pub fn connect(&self) -> Conn {
        self.try_connect().unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.describe()))
    }

    /// Connect, or the reason it could not.
    pub fn try_connect(&self) -> Result<Conn, String> {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let sink = notices.clone();
        let mut config = postgres::Config::new();
        if self.host.starts_with('/') {
            config.host_path(&self.host);
        } else {
            config.host(&self.host);
        }
        config.port(self.port).user(&self.user).dbname(&self.dbname).notice_callback(move |n| {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(n);
        });
        if let Some(a) = &self.application_name {
            config.application_name(a);
        }
        let client = config.connect(NoTls).map_err(|e| error_text(&e))?;
        Ok(Conn { client, notices, what: self.describe() })
    }

    fn describe(&self) -> String {
        format!("{} as {} at {}:{}", self.dbname, self.user, self.host, self.port)
    }
}

/// An error as psql shows it: `ERROR:  message`, and the SQLSTATE.
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}:  {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Conn {
    /// The rows of `sql` (one string, sent as one query), as `psql -At` prints them. Panics on
    /// an error: use it where none is expected; [`Conn::each`] and [`Conn::sqlstate`] show errors.
    pub fn q(&mut self, sql: &str) -> String {
        self.try_q(sql).unwrap_or_else(|e| panic!("{}: {e}\n  in: {}", self.what, first_line(sql)))
    }

    /// The rows of `sql`, or the error as psql prints it.
    pub fn try_q(&mut self, sql: &str) -> Result<String, String> {
        let messages = self.client.simple_query(sql).map_err(|e| error_text(&e))?;
        let mut lines = Vec::new();
        for m in messages {
            if let SimpleQueryMessage::Row(row) = m {
                let cols: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
                lines.push(cols.join("|"));
            }
        }
        Ok(lines.join("\n"))
    }

    /// Run `sql` (one or more statements, one round trip, one implicit transaction), ignoring
    /// any rows. Panics on an error.
    pub fn batch(&mut self, sql: &str) {
        self.q(sql);
    }

    /// Each statement sent on its own (as `psql -c A -c B` sends them), ignoring any rows;
    /// panics at the first error, where none is expected.
    pub fn batch_each(&mut self, statements: &[&str]) {
        for s in statements {
            self.q(s);
        }
    }

    /// Each statement sent on its own, as `psql -v ON_ERROR_STOP=1 -c A -c B ...` does: what
    /// each printed, one entry per statement run; an error ends the list with the error as psql
    /// prints it (`ERROR:  message (SQLSTATE code)`), without panicking.
    pub fn each(&mut self, statements: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for s in statements {
            match self.try_q(s) {
                Ok(rows) => out.push(rows),
                Err(e) => {
                    out.push(e);
                    break;
                }
            }
        }
        out
    }

    /// The SQLSTATE of the first statement that fails, each sent on its own (as with
    /// `\set VERBOSITY sqlstate` and ON_ERROR_STOP); empty when none fails.
    pub fn sqlstate(&mut self, statements: &[&str]) -> String {
        for s in statements {
            if let Err(e) = self.client.simple_query(s) {
                return e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}"));
            }
        }
        String::new()
    }

    /// The notices, warnings and other messages the server sent so far (`SEVERITY:  message`,
    /// what psql prints on stderr), taken: the next call returns only newer ones.
    pub fn take_notices(&mut self) -> Vec<String> {
        self.take_notice_errors().iter().map(|n| format!("{}:  {}", n.severity(), n.message())).collect()
    }

    fn take_notice_errors(&mut self) -> Vec<DbError> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What `psql -X -q -At -v VERBOSITY=verbose -v ON_ERROR_STOP=1 -c A -c B ... 2>&1` prints:
    /// each statement sent on its own, its notices (`NOTICE:  00000: message`, with their
    /// DETAIL, HINT, CONTEXT and LOCATION lines), then its rows; a failure ends it with the error
    /// as verbose psql shows it (`ERROR:  42501: message`, then its other fields). For the checks
    /// that look for a SQLSTATE or a pg_idp error code in psql's verbose output.
    pub fn verbose(&mut self, statements: &[&str]) -> String {
        let mut out: Vec<String> = Vec::new();
        for s in statements {
            let result = self.client.simple_query(s);
            out.extend(self.take_notice_errors().iter().map(verbose_text));
            match result {
                Ok(messages) => {
                    for m in messages {
                        if let SimpleQueryMessage::Row(row) = m {
                            let cols: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
                            out.push(cols.join("|"));
                        }
                    }
                }
                Err(e) => {
                    out.push(e.as_db_error().map(verbose_text).unwrap_or_else(|| e.to_string()));
                    break;
                }
            }
        }
        out.join("\n")
    }

    /// The underlying client (COPY, parameters, prepared statements: not through PgBouncer).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// A message (an error or a notice) as psql prints it with VERBOSITY=verbose.
fn verbose_text(e: &DbError) -> String {
    let mut t = format!("{}:  {}: {}", e.severity(), e.code().code(), e.message());
    for (label, field) in [("DETAIL", e.detail()), ("HINT", e.hint()), ("CONTEXT", e.where_())] {
        if let Some(v) = field {
            t.push_str(&format!("\n{label}:  {v}"));
        }
    }
    if let Some(routine) = e.routine() {
        t.push_str(&format!("\nLOCATION:  {routine}, {}:{}", e.file().unwrap_or(""), e.line().unwrap_or(0)));
    }
    t
}

fn first_line(sql: &str) -> String {
    let l = sql.trim().lines().next().unwrap_or("");
    l.chars().take(200).collect()
}

/// `s` as an SQL string literal (standard_conforming_strings, the default: only `'` doubled).
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
