//! Unit tests of `token`, beside it so that the module reads as its own code.

use super::*;

fn seg(json: &str) -> String {
    b64::encode(json.as_bytes())
}

/// Split, decode and parse both objects, as verification does.
fn parse_all(t: &str, max: usize) -> Result<(), VerifyError> {
    let tok = parse(t, max)?;
    Members::parse(&tok.header_json, "header")?;
    Members::parse(&tok.payload_json, "payload")?;
    Ok(())
}

#[test]
fn splits_three_segments() {
    let t = format!(
        "{}.{}.c2ln",
        seg(r#"{"alg":"HS256"}"#),
        seg(r#"{"sub":"u","n":[1,{"x":"\u00e9"}],"e\u0301":"\"q\""}"#)
    );
    let tok = parse(&t, 16384).unwrap();
    let header = Members::parse(&tok.header_json, "header").unwrap();
    let claims = Members::parse(&tok.payload_json, "payload").unwrap();
    assert_eq!(header.get("alg").and_then(raw_str).as_deref(), Some("HS256"));
    assert_eq!(claims.get("sub").and_then(raw_str).as_deref(), Some("u"));
    assert_eq!(claims.get("n").map(|r| r.get()), Some(r#"[1,{"x":"\u00e9"}]"#));
    assert_eq!(claims.get("e\u{301}").and_then(raw_str).as_deref(), Some("\"q\""));
    assert_eq!(json_type(claims.get("n").unwrap()).as_str(), "array");
    assert_eq!(object_map(&tok.payload_json).unwrap()["sub"], "u");
    assert_eq!(tok.signature, "c2ln");
    assert!(t.starts_with(tok.signing_input));
}

#[test]
fn many_members_and_a_late_duplicate() {
    let mut body: Vec<String> = (0..500).map(|i| format!("\"c{i}\":{i}")).collect();
    let ok = format!("{{{}}}", body.join(","));
    assert!(Members::parse(&ok, "payload").is_ok());
    body.push("\"c7\":0".into());
    let dup = format!("{{{}}}", body.join(","));
    let e = Members::parse(&dup, "payload").unwrap_err();
    assert!(e.message.contains("duplicate member 'c7'"), "{}", e.message);
}

#[test]
fn rejects_shapes() {
    let h = seg(r#"{"alg":"HS256"}"#);
    let p = seg(r#"{"sub":"u"}"#);
    for bad in [
        String::new(),
        "abc".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.c2ln."),
        format!("{h}.{p}.c2ln.x.y"),
        format!(".{p}.c2ln"),
        format!("{h}=.{p}.c2ln"),
        format!("{h}.{p}.c2ln="),
        format!("{h} .{p}.c2ln"),
        format!("{h}.{}.c2ln", seg("[1]")),
        format!("{h}.{}.c2ln", seg("{\"a\":1} x")),
        format!("{h}.{}.c2ln", seg(r#"{"a":1,"a":2}"#)),
        format!("{h}.{}.c2ln", b64::encode(&[0xc0, 0xaf])),
    ] {
        let e = parse_all(&bad, 16384).unwrap_err();
        assert_eq!(e.code, ErrorCode::Malformed, "{bad}: {}", e.message);
    }
}

#[test]
fn duplicate_claim_is_named() {
    let t = format!("{}.{}.c2ln", seg(r#"{"alg":"HS256"}"#), seg(r#"{"sub":"a","sub":"b"}"#));
    let e = parse_all(&t, 16384).unwrap_err();
    assert!(e.message.contains("duplicate member 'sub'"), "{}", e.message);
}

#[test]
fn deep_nesting_is_malformed_not_a_crash() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let t = format!("{}.{}.c2ln", seg(r#"{"alg":"HS256"}"#), seg(&deep));
    assert_eq!(parse_all(&t, usize::MAX).unwrap_err().code, ErrorCode::Malformed);
}

#[test]
fn nesting_is_counted_outside_strings() {
    assert!(!nesting_exceeds(br#"{"a":"[[[[[[","b":[[1]]}"#, 3));
    assert!(nesting_exceeds(br#"{"a":[[[1]]]}"#, 3));
    assert!(!nesting_exceeds(br#"{"a":"\"[[[[\\","b":{}}"#, 2));
    assert!(!nesting_exceeds(br#"[[],[],[],[],[]]"#, 3));
    let just_fits = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(!nesting_exceeds(just_fits.as_bytes(), MAX_DEPTH));
}

#[test]
fn a_payload_a_full_parse_refuses_is_an_error_when_read_in_full() {
    // Verification reads only the members it needs; the rest is parsed on demand, and a
    // number out of range then is a clear error, not a silently empty map.
    assert!(Members::parse(r#"{"sub":"x","big":[1e400]}"#, "payload").is_ok());
    assert!(object_map(r#"{"sub":"x","big":[1e400]}"#).is_err());
    assert_eq!(object_map(r#"{"sub":"x"}"#).unwrap()["sub"], "x");
}

#[test]
fn nul_characters_are_refused() {
    assert!(has_nul_escape(br#"{"sub":"a\u0000b"}"#));
    assert!(has_nul_escape(br#"{"s\u0000ub":"a"}"#));
    assert!(!has_nul_escape(br#"{"sub":"a\\u0000b"}"#));
    assert!(has_nul_escape(br#"{"sub":"a\\\u0000b"}"#));
    assert!(!has_nul_escape(br#"{"sub":"u0000"}"#));
    let e = Members::parse(r#"{"sub":"user_alice\u0000evil"}"#, "payload").unwrap_err();
    assert_eq!(e.code, ErrorCode::Malformed);
    assert!(e.message.contains("NUL"), "{}", e.message);
}

#[test]
fn size_limit_checked_first() {
    let t = "x".repeat(20_000);
    assert_eq!(parse_all(&t, 16384).unwrap_err().code, ErrorCode::TokenTooLarge);
}
