//! With the `pg18` feature, compiles `src/login/oauth_shim.c` (what the OAuth validator reads of
//! PostgreSQL's `Port` and `HbaLine`) against the server headers of the PostgreSQL 18 that
//! pgrx-pg-sys generates its bindings from, found the way its build script finds it:
//! `PGRX_PG_CONFIG_AS_ENV` (the properties in `PGRX_PG_CONFIG_*`), else `PGRX_PG_CONFIG_PATH`,
//! else `pg18` in `$PGRX_HOME/config.toml` (`scripts/setup` writes pgrx-config/config.toml;
//! `cargo pgrx init` writes ~/.pgrx/config.toml). `PGRX_INCLUDEDIR_SERVER[_PG18]` overrides the
//! header directory, as for pgrx-pg-sys. Other versions compile nothing.

use std::path::PathBuf;
use std::process::Command;

use pgrx_pg_config::{PgConfig, Pgrx};

const SHIM: &str = "src/login/oauth_shim.c";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={SHIM}");
    for var in ["PGRX_PG_CONFIG_PATH", "PGRX_PG_CONFIG_AS_ENV", "PGRX_HOME"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if let Ok(config) = Pgrx::config_toml() {
        println!("cargo:rerun-if-changed={}", config.display());
    }
    if std::env::var_os("CARGO_FEATURE_PG18").is_none() {
        return;
    }
    let pg_config = match pg18_config() {
        Ok(pg_config) => pg_config,
        Err(why) => fail(&format!(
            "{why}.\nName PostgreSQL 18's pg_config as pg18 in $PGRX_HOME/config.toml (./scripts/setup \
             writes pgrx-config/config.toml; `cargo pgrx init --pg18 PATH` writes ~/.pgrx/config.toml), or \
             set PGRX_PG_CONFIG_PATH to it"
        )),
    };
    if let Err(why) = compile_shim(&pg_config) {
        fail(&why);
    }
}

fn fail(why: &str) -> ! {
    eprintln!("pg_idp: the pg18 feature compiles {SHIM} against PostgreSQL 18's server headers, and {why}.");
    std::process::exit(1);
}

fn compile_shim(pg_config: &PgConfig) -> Result<(), String> {
    let include = include_dir(pg_config)?;
    if !include.join("libpq").join("hba.h").is_file() {
        return Err(format!("{} has no libpq/hba.h (are the server headers installed?)", include.display()));
    }
    let mut build = cc::Build::new();
    build.file(SHIM).include(&include);
    // The server's preprocessor flags (pgrx-pg-sys compiles its own shim with them too), and its
    // flags for shared libraries where the compiler knows them.
    let cppflags = pg_config.cppflags().map_err(|e| format!("pg_config --cppflags failed: {e}"))?;
    for flag in shlex::split(&cppflags.to_string_lossy()).unwrap_or_default() {
        build.flag(flag);
    }
    if let Some(path) = pg_config.path() {
        let out = Command::new(&path)
            .arg("--cflags_sl")
            .output()
            .map_err(|e| format!("{} --cflags_sl: {e}", path.display()))?;
        for flag in shlex::split(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default() {
            build.flag_if_supported(flag);
        }
    }
    build.try_compile("pg_idp_oauth_shim").map_err(|e| format!("compiling it failed: {e}"))
}

/// The pg_config pgrx-pg-sys uses for the pg18 feature, if it is a 18.
fn pg18_config() -> Result<PgConfig, String> {
    let pg_config = find_pg_config()?;
    let major = pg_config.major_version().map_err(|e| format!("its pg_config cannot be run: {e}"))?;
    if major != 18 {
        return Err(format!("the pg_config found ({}) is PostgreSQL {major}", shown(&pg_config)));
    }
    Ok(pg_config)
}

/// The pg_config pgrx-pg-sys uses for the pg18 feature (pgrx-bindgen's `detect_pg_config`).
fn find_pg_config() -> Result<PgConfig, String> {
    if PgConfig::is_in_environment() {
        return PgConfig::from_env().map_err(|e| format!("PGRX_PG_CONFIG_AS_ENV is set but: {e}"));
    }
    // What Pgrx::from_config() does with it, for a clearer message when it is not a 18.
    if let Some(path) = std::env::var_os("PGRX_PG_CONFIG_PATH") {
        return Ok(PgConfig::new_with_defaults(path.into()));
    }
    let pgrx = Pgrx::from_config().map_err(|e| format!("no PostgreSQL 18 pg_config was found: {e}"))?;
    pgrx.get("pg18").map_err(|e| format!("no PostgreSQL 18 pg_config was found: {e}"))
}

/// The server headers: `PGRX_INCLUDEDIR_SERVER_PG18` or `PGRX_INCLUDEDIR_SERVER` (each also with
/// the target appended) when set, as for pgrx-pg-sys's bindings; otherwise
/// `pg_config --includedir-server`.
fn include_dir(pg_config: &PgConfig) -> Result<PathBuf, String> {
    let target = std::env::var("TARGET").unwrap_or_default();
    let env = |name: String| {
        let with_target = format!("{name}_{target}");
        println!("cargo:rerun-if-env-changed={with_target}");
        println!("cargo:rerun-if-env-changed={name}");
        std::env::var(with_target).or_else(|_| std::env::var(name)).ok()
    };
    let dir = match env("PGRX_INCLUDEDIR_SERVER_PG18".into()).or_else(|| env("PGRX_INCLUDEDIR_SERVER".into())) {
        Some(dir) => PathBuf::from(dir),
        None => pg_config.includedir_server().map_err(|e| format!("pg_config --includedir-server failed: {e}"))?,
    };
    dir.canonicalize().map_err(|e| format!("the server headers {} cannot be found: {e}", dir.display()))
}

fn shown(pg_config: &PgConfig) -> String {
    pg_config.path().map(|p| p.display().to_string()).unwrap_or_else(|| "described by PGRX_PG_CONFIG_*".into())
}
