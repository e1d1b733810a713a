//! PostgREST passes each request's HTTP headers to the database as a JSON object in the
//! `request.headers` setting; this finds the bearer token in it.

/// The bearer token in a PostgREST `request.headers` value (a JSON object of header names to
/// values): the `authorization` header, its name matched case-insensitively, with the `Bearer`
/// scheme (also case-insensitive). Other schemes and a missing header are no token.
pub fn bearer_token(headers: &str) -> Result<Option<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(headers).map_err(|_| "request.headers is not valid JSON".to_string())?;
    let obj = value.as_object().ok_or_else(|| "request.headers is not a JSON object".to_string())?;
    let mut found = None;
    for (name, v) in obj {
        if name.eq_ignore_ascii_case("authorization") {
            if found.is_some() {
                return Err("request.headers has more than one authorization header".to_string());
            }
            found = Some(
                v.as_str().ok_or_else(|| "the authorization header in request.headers is not a string".to_string())?,
            );
        }
    }
    let Some(auth) = found else { return Ok(None) };
    let auth = auth.trim();
    let Some((scheme, rest)) = auth.split_once([' ', '\t']) else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    Ok(if token.is_empty() { None } else { Some(token.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn finds_the_bearer_token_whatever_the_case() {
        assert_eq!(bearer_token(r#"{"authorization":"Bearer a.b.c"}"#).unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(bearer_token(r#"{"Authorization":"bearer   a.b.c "}"#).unwrap().as_deref(), Some("a.b.c"));
        assert_eq!(
            bearer_token(r#"{"AUTHORIZATION":"BEARER a.b.c","accept":"*/*"}"#).unwrap().as_deref(),
            Some("a.b.c")
        );
    }

    #[test]
    fn other_schemes_and_missing_headers_are_no_token() {
        assert_eq!(bearer_token(r#"{"authorization":"Basic dXNlcjpwdw=="}"#).unwrap(), None);
        assert_eq!(bearer_token(r#"{"authorization":"Bearer"}"#).unwrap(), None);
        assert_eq!(bearer_token(r#"{"authorization":"Bearer    "}"#).unwrap(), None);
        assert_eq!(bearer_token(r#"{"accept":"application/json"}"#).unwrap(), None);
        assert_eq!(bearer_token("{}").unwrap(), None);
    }

    #[test]
    fn malformed_headers_are_errors_that_do_not_echo_them() {
        for bad in [
            r#"not json"#,
            r#"["Bearer a.b.c"]"#,
            r#"{"authorization":["Bearer a.b.c"]}"#,
            r#"{"authorization":"Bearer a.b.c","Authorization":"Bearer d.e.f"}"#,
        ] {
            let e = bearer_token(bad).unwrap_err();
            assert!(!e.contains("a.b.c"), "{e}");
        }
    }
}
