//! Identity functions: what the request token (`request.jwt`) says, once verified. All STABLE;
//! NULL for an anonymous request; an invalid token raises SQLSTATE 28000 (or is NULL with
//! `idp.on_invalid_token = null`).

use pg_idp_core::claims::ClaimPath;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::pg::datum::Text;
use crate::pg::errors::{raise_invalid_argument, raise_invalid_token};
use crate::request::identity::{request_identity, request_identity_text, verify_token};

/// The mapped user id (claim_mapping.user_id, default `sub`).
#[pg_extern(stable, parallel_safe)]
fn requesting_user_id() -> Option<Text> {
    request_identity_text(|i| Some(i.user_id.as_str()))
}

/// The mapped email (claim_mapping.email).
#[pg_extern(stable, parallel_safe)]
fn email() -> Option<Text> {
    request_identity_text(|i| i.email.as_deref())
}

/// The mapped tenant (claim_mapping.tenant, e.g. `org_id`).
#[pg_extern(stable, parallel_safe)]
fn tenant_id() -> Option<Text> {
    request_identity_text(|i| i.tenant.as_deref())
}

/// The mapped role (claim_mapping.role, with its default).
#[pg_extern(stable, parallel_safe)]
fn role() -> Option<Text> {
    request_identity_text(|i| i.role.as_deref())
}

/// The name of the provider that verified the request token.
#[pg_extern(stable, parallel_safe)]
fn provider() -> Option<Text> {
    request_identity_text(|i| Some(i.provider.as_str()))
}

/// The verified payload.
#[pg_extern(stable, parallel_safe)]
fn claims() -> Option<JsonB> {
    let id = request_identity()?;
    let claims = id.claims().unwrap_or_else(|e| raise_invalid_token(&e));
    Some(JsonB(Value::Object(claims.clone())))
}

/// One claim of the verified payload: a top-level name (dots, colons, slashes allowed) or a
/// JSONPath starting with `$`.
#[pg_extern(stable, parallel_safe)]
fn claim(name: &str) -> Option<JsonB> {
    let path = ClaimPath::parse(name, "name")
        .unwrap_or_else(|e| raise_invalid_argument(format!("invalid claim name or path: {}", e.message)));
    let id = request_identity()?;
    let claims = id.claims().unwrap_or_else(|e| raise_invalid_token(&e));
    path.lookup(claims).cloned().map(JsonB)
}

/// The directory groups of the request's user (WorkOS directory sync), for policies such as
/// `team_id = ANY ((SELECT idp.groups()))`. Empty when the directory does not know the user;
/// NULL for an anonymous request.
#[pg_extern(stable, parallel_safe)]
fn groups() -> Option<Vec<String>> {
    // Looked up in the directory when the identity was verified, and cached with it.
    request_identity().map(|id| id.groups.clone())
}

/// `verify_jwt`'s shape for the request token, plus `role` and `expires_at`.
#[pg_extern(stable, parallel_safe)]
fn identity() -> Option<JsonB> {
    request_identity().map(|i| JsonB(i.to_full_json()))
}

/// Verify `token`, make it the request token for the rest of the transaction (like
/// `SET LOCAL request.jwt`), and return its identity. Raises on an invalid token, whatever
/// `idp.on_invalid_token` says. VOLATILE: it changes a setting.
#[pg_extern(volatile)]
fn authenticate(token: &str) -> JsonB {
    let id = verify_token(token).unwrap_or_else(|e| raise_invalid_token(&e));
    crate::request::token::set_request_token(token);
    JsonB(id.to_full_json())
}
