//! `pg-idp`: keys and tokens for pg_idp demos and local development.
//!
//! (About 450 lines: one file per command would be five small files of argument parsing.)
//!
//!   pg-idp keygen --alg ALG [--kid KID] [--out PREFIX]
//!   pg-idp mint (--key FILE | --secret-file PATH|- | --secret TEXT | --secret-base64 B64) [--alg ALG]
//!               [--kid KID | --no-kid] [--claims JSON] [--exp SECONDS] [--nbf SECONDS] [--iat SECONDS]
//!               [--header JSON] [--count N]
//!   pg-idp inspect TOKEN|-
//!   pg-idp verify --provider FILE|JSON TOKEN|-
//!   pg-idp bench-verify --provider FILE|JSON --tokens FILE|- [--repeats R]
//!
//! Exit codes: 0 ok, 1 a token did not verify (verify, bench-verify), 2 usage or input error.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pg_idp_core::sign::{mint, SigningKey};
use pg_idp_core::{b64, error_json, parse_provider, Alg, Provider, Registry, VerifyOptions};
use serde_json::{json, Map, Value};

const USAGE: &str = "\
pg-idp: keys and tokens for pg_idp demos and local development

USAGE:
  pg-idp keygen --alg ALG [--kid KID] [--out PREFIX]
      Generate a signing key. Writes PREFIX.key.json (private, mode 0600) and, for
      asymmetric algorithms, PREFIX.jwks.json (the public JWKS to register with
      idp.register_provider); for HS* the secret is in the key file and PREFIX.secret.
      PREFIX defaults to the algorithm in lower case. The kid defaults to the key's
      RFC 7638 thumbprint.
  pg-idp mint (--key FILE | --secret-file PATH|- | --secret TEXT | --secret-base64 B64) [--alg ALG]
              [--kid KID | --no-kid] [--claims JSON] [--exp SECONDS] [--nbf SECONDS] [--iat SECONDS] [--header JSON]
              [--count N]
      Print a signed JWT. The key: a pg-idp key file, or an HMAC secret read from a
      file (- for stdin; one trailing newline is dropped), given as text, or in base64.
      --secret and --secret-base64 put the secret on the command line, where ps and
      the shell's history show it: prefer --secret-file.
      Times are relative to now (negative is in the past):
      --exp defaults to 3600 and --iat to 0 unless the claims set them; --header
      merges fields into the JOSE header (null removes one).
      --count N (default 1) prints N tokens, one per line. In every string value of
      the claims (at any depth), {n} is replaced by the token's number, 1 to N. With
      N > 1 each token also gets a distinct jti unless the claims set one.
  pg-idp inspect TOKEN|-
      Print the header and claims of a token WITHOUT verifying it.
  pg-idp verify --provider FILE|JSON TOKEN|-
      Verify a token against one provider config (the idp.register_provider body)
      and print the idp.verify_jwt() result. Exit 1 when the token is rejected.
  pg-idp bench-verify --provider FILE|JSON --tokens FILE|- [--repeats R]
      Time the core verifier: verify every token of FILE (one per line, empty lines
      skipped) R times (default 5, after one untimed pass) and print one JSON line with tokens, repeats,
      median_seconds, tokens_per_second and ns_per_token (median over the repeats).
      Every token must verify: otherwise print its number and error code to stderr
      and exit 1.

ALG: HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("keygen") => keygen(&args[1..]),
        Some("mint") => mint_cmd(&args[1..]),
        Some("inspect") => inspect(&args[1..]),
        Some("verify") => verify(&args[1..]),
        Some("bench-verify") => bench_verify(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(Failure::Usage("expected a command: keygen, mint, inspect, verify or bench-verify".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Rejected) => ExitCode::from(1),
        Err(Failure::Usage(msg)) => {
            eprintln!("pg-idp: {msg}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Input(msg)) => {
            eprintln!("pg-idp: {msg}");
            ExitCode::from(2)
        }
    }
}

enum Failure {
    Usage(String),
    Input(String),
    Rejected,
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Input(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Input(s.to_string())
    }
}

/// `--name value` options and positional arguments; `flags` take no value.
struct Opts {
    named: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Opts {
    fn parse(args: &[String], valued: &[&str], flags: &[&str]) -> Result<Opts, Failure> {
        let mut named = Vec::new();
        let mut positional = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                if valued.contains(&name) {
                    let v = it.next().ok_or_else(|| Failure::Usage(format!("--{name} needs a value")))?;
                    named.push((name.to_string(), Some(v.clone())));
                } else if flags.contains(&name) {
                    named.push((name.to_string(), None));
                } else {
                    return Err(Failure::Usage(format!("unknown option --{name}")));
                }
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Opts { named, positional })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.named.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.named.iter().any(|(n, _)| n == name)
    }
}

fn parse_alg(s: &str) -> Result<Alg, Failure> {
    Alg::parse(s).ok_or_else(|| Failure::Usage(format!("unknown algorithm {s:?}")))
}

fn parse_json_object(s: &str, what: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(Failure::Input(format!("{what} must be a JSON object"))),
    }
}

fn parse_seconds(s: &str, what: &str) -> Result<i64, Failure> {
    s.parse().map_err(|_| Failure::Usage(format!("{what} must be a whole number of seconds")))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn read_token(arg: Option<&String>) -> Result<String, Failure> {
    let raw = match arg.map(String::as_str) {
        None => return Err(Failure::Usage("expected a token (or - to read it from stdin)".into())),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| e.to_string())?;
            s
        }
        Some(t) => t.to_string(),
    };
    Ok(raw.trim().to_string())
}

/// The secret of `--secret-file PATH` (`-`: stdin), its bytes as they are but for one trailing
/// newline. Errors name the path, never the content.
fn read_secret_file(path: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    } else {
        bytes = std::fs::read(path).map_err(|e| format!("cannot read the secret file {path}: {e}"))?;
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        let from = if path == "-" { "stdin".to_string() } else { path.to_string() };
        return Err(Failure::Input(format!("the secret read from {from} is empty")));
    }
    Ok(bytes)
}

fn write_file(path: &str, contents: &str, private: bool) -> Result<(), Failure> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| format!("cannot write {path}: {e}"))?;
    f.write_all(contents.as_bytes()).map_err(|e| format!("cannot write {path}: {e}"))?;
    Ok(())
}

fn keygen(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(args, &["alg", "kid", "out"], &[])?;
    let alg = parse_alg(o.get("alg").ok_or_else(|| Failure::Usage("keygen needs --alg".into()))?)?;
    let key = SigningKey::generate(alg, o.get("kid").map(str::to_string))?;
    let prefix = o.get("out").map(str::to_string).unwrap_or_else(|| alg.name().to_lowercase());
    let key_path = format!("{prefix}.key.json");
    write_file(&key_path, &format!("{:#}\n", key.to_file_json()), true)?;
    eprintln!("wrote {key_path} (private: keep it secret)");
    match key.public_jwk() {
        Some(jwk) => {
            let jwks = json!({"keys": [jwk]});
            let path = format!("{prefix}.jwks.json");
            write_file(&path, &format!("{jwks:#}\n"), false)?;
            eprintln!("wrote {path} (public JWKS, kid {})", key.kid.as_deref().unwrap_or(""));
            println!("{jwks}");
        }
        None => {
            let path = format!("{prefix}.secret");
            let secret = String::from_utf8_lossy(key.secret().unwrap_or_default()).to_string();
            write_file(&path, &secret, true)?;
            eprintln!("wrote {path} (the shared secret to register as \"secret\")");
        }
    }
    Ok(())
}

fn mint_cmd(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(
        args,
        &[
            "key",
            "secret",
            "secret-file",
            "secret-base64",
            "alg",
            "kid",
            "claims",
            "exp",
            "nbf",
            "iat",
            "header",
            "count",
        ],
        &["no-kid"],
    )?;
    let count = o.get("count").map(parse_count).transpose()?.unwrap_or(1);
    let alg_opt = o.get("alg").map(parse_alg).transpose()?;
    let sources = ["key", "secret", "secret-file", "secret-base64"];
    if sources.iter().filter(|s| o.has(s)).count() != 1 {
        return Err(Failure::Usage(
            "mint needs exactly one of --key FILE, --secret TEXT, --secret-file PATH or --secret-base64 B64".into(),
        ));
    }
    let secret = if let Some(s) = o.get("secret") {
        Some(s.as_bytes().to_vec())
    } else if let Some(path) = o.get("secret-file") {
        Some(read_secret_file(path)?)
    } else if let Some(b) = o.get("secret-base64") {
        use base64::Engine;
        Some(base64::engine::general_purpose::STANDARD.decode(b).map_err(|_| "--secret-base64 is not valid base64")?)
    } else {
        None
    };
    let mut key = match (o.get("key"), secret) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let v: Value = serde_json::from_str(&text).map_err(|_| format!("{path} is not a pg-idp key file"))?;
            SigningKey::from_file_json(&v)?
        }
        (None, Some(secret)) => SigningKey::from_secret(alg_opt.unwrap_or(Alg::HS256), &secret, None)?,
        _ => unreachable!("exactly one source was given"),
    };
    if let Some(k) = o.get("kid") {
        key.kid = Some(k.to_string());
    }
    if o.has("no-kid") {
        key.kid = None;
    }
    let alg = alg_opt.unwrap_or(key.alg);
    let mut claims = match o.get("claims") {
        Some(c) => parse_json_object(c, "--claims")?,
        None => Map::new(),
    };
    let now = now_secs();
    let exp = o.get("exp").map(|s| parse_seconds(s, "--exp")).transpose()?;
    let nbf = o.get("nbf").map(|s| parse_seconds(s, "--nbf")).transpose()?;
    let iat = o.get("iat").map(|s| parse_seconds(s, "--iat")).transpose()?;
    if !claims.contains_key("iat") || iat.is_some() {
        claims.insert("iat".into(), json!(now + iat.unwrap_or(0)));
    }
    if !claims.contains_key("exp") || exp.is_some() {
        claims.insert("exp".into(), json!(now + exp.unwrap_or(3600)));
    }
    if let Some(n) = nbf {
        claims.insert("nbf".into(), json!(now + n));
    }
    let header = match o.get("header") {
        Some(h) => parse_json_object(h, "--header")?,
        None => Map::new(),
    };
    // Only string values holding "{n}" differ from token to token; the rest is shared.
    let templated = claims.values().any(has_placeholder);
    let jti_prefix = if count > 1 && !claims.contains_key("jti") { Some(random_id()?) } else { None };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut per_token = claims.clone();
    for i in 1..=count {
        if templated {
            per_token.clone_from(&claims);
            let n = i.to_string();
            per_token.values_mut().for_each(|v| fill_placeholder(v, &n));
        }
        if let Some(prefix) = &jti_prefix {
            per_token.insert("jti".into(), json!(format!("{prefix}-{i}")));
        }
        writeln!(out, "{}", mint(&key, alg, &per_token, &header)?).map_err(|e| format!("cannot write tokens: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write tokens: {e}"))?;
    Ok(())
}

fn parse_count(s: &str) -> Result<u64, Failure> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Failure::Usage(format!("--count must be a whole number of at least 1, not {s:?}"))),
    }
}

const PLACEHOLDER: &str = "{n}";

fn has_placeholder(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(PLACEHOLDER),
        Value::Array(a) => a.iter().any(has_placeholder),
        Value::Object(o) => o.values().any(has_placeholder),
        _ => false,
    }
}

/// Replace every "{n}" in the string values of `v`, at any depth, by `n`.
fn fill_placeholder(v: &mut Value, n: &str) {
    match v {
        Value::String(s) if s.contains(PLACEHOLDER) => *s = s.replace(PLACEHOLDER, n),
        Value::Array(a) => a.iter_mut().for_each(|x| fill_placeholder(x, n)),
        Value::Object(o) => o.values_mut().for_each(|x| fill_placeholder(x, n)),
        _ => {}
    }
}

/// 96 random bits as base64url: the per-run prefix of minted `jti`s, so that runs never collide.
fn random_id() -> Result<String, Failure> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut raw = [0u8; 12];
    SystemRandom::new().fill(&mut raw).map_err(|_| "random generator failed")?;
    Ok(b64::encode(&raw))
}

fn inspect(args: &[String]) -> Result<(), Failure> {
    let token = read_token(args.first())?;
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(Failure::Input(format!("not a compact JWS: {} segments, expected 3", parts.len())));
    }
    let decode = |seg: &str, what: &str| -> Result<Value, Failure> {
        let bytes = b64::decode(seg).ok_or_else(|| format!("{what} is not valid base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| Failure::Input(format!("{what} is not JSON")))
    };
    let header = decode(parts[0], "header")?;
    let claims = decode(parts[1], "payload")?;
    let mut out = json!({
        "verified": false,
        "warning": "UNVERIFIED: decoded only; the signature was not checked",
        "header": header,
        "claims": claims,
    });
    if let Some(exp) = out["claims"]["exp"].as_f64() {
        out["expires_in_seconds"] = json!((exp - now_secs() as f64) as i64);
    }
    println!("{out:#}");
    Ok(())
}

/// A provider config given inline (`{...}`) or as a file name.
fn load_provider(p: &str) -> Result<Provider, Failure> {
    let text = if p.trim_start().starts_with('{') {
        p.to_string()
    } else {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {p}: {e}"))?
    };
    let cfg: Value = serde_json::from_str(&text).map_err(|_| "provider config is not JSON")?;
    Ok(parse_provider(&cfg).map_err(|e| format!("invalid provider config: {e}"))?)
}

fn verify(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(args, &["provider"], &[])?;
    let p = o.get("provider").ok_or_else(|| Failure::Usage("verify needs --provider FILE|JSON".into()))?;
    let provider = load_provider(p)?;
    let token = read_token(o.positional.first())?;
    let result = Registry::new(vec![provider]).verify(&token, &VerifyOptions::now());
    match result {
        Ok(id) => {
            println!("{:#}", id.to_json());
            Ok(())
        }
        Err(e) => {
            println!("{:#}", error_json(&e));
            Err(Failure::Rejected)
        }
    }
}

fn bench_verify(args: &[String]) -> Result<(), Failure> {
    let o = Opts::parse(args, &["provider", "tokens", "repeats"], &[])?;
    if let Some(extra) = o.positional.first() {
        return Err(Failure::Usage(format!("bench-verify takes no positional argument, got {:?}", extra)));
    }
    let p = o.get("provider").ok_or_else(|| Failure::Usage("bench-verify needs --provider FILE|JSON".into()))?;
    let path = o.get("tokens").ok_or_else(|| Failure::Usage("bench-verify needs --tokens FILE".into()))?;
    let repeats = match o.get("repeats") {
        Some(r) => match r.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(Failure::Usage(format!("--repeats must be a whole number of at least 1, not {r:?}"))),
        },
        None => 5,
    };
    let registry = Registry::new(vec![load_provider(p)?]);
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| format!("cannot read the tokens from stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
    };
    // (line number, token): the line number is what a failure reports, never the token.
    let tokens: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, t)| !t.is_empty()).collect();
    if tokens.is_empty() {
        return Err(Failure::Input(format!("{path} holds no tokens")));
    }
    let mut times: Vec<Duration> = Vec::with_capacity(repeats);
    // One untimed pass first (warm caches and allocator), as the SQL benchmark does.
    for round in 0..=repeats {
        let opts = VerifyOptions::now();
        let start = Instant::now();
        for (i, (line, token)) in tokens.iter().enumerate() {
            match std::hint::black_box(registry.verify(std::hint::black_box(token), &opts)) {
                Ok(id) => {
                    std::hint::black_box(id);
                }
                Err(e) => {
                    eprintln!("pg-idp: token {} (line {line}) did not verify: {}", i + 1, e.code);
                    return Err(Failure::Rejected);
                }
            }
        }
        if round > 0 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let mid = times.len() / 2;
    let median = if times.len() % 2 == 1 {
        times[mid].as_secs_f64()
    } else {
        (times[mid - 1].as_secs_f64() + times[mid].as_secs_f64()) / 2.0
    };
    let n = tokens.len();
    // In this order, whatever serde_json's map ordering is.
    let fields = [
        ("tokens", json!(n)),
        ("repeats", json!(repeats)),
        ("median_seconds", json!(median)),
        ("tokens_per_second", json!(n as f64 / median)),
        ("ns_per_token", json!(median * 1e9 / n as f64)),
    ];
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    println!("{{{}}}", body.join(", "));
    Ok(())
}
