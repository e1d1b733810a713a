use pgrx::prelude::*;

use crate::errors::raise_invalid_token;
use crate::request::request_identity;

/// The mapped user id of the request token (`request.jwt`); NULL without a token; an ERROR
/// (SQLSTATE 28000) when the token is present but not valid.
#[pg_extern(stable)]
fn requesting_user_id() -> Option<String> {
    match request_identity() {
        Ok(id) => id.map(|i| i.user_id.clone()),
        Err(e) => raise_invalid_token(&e),
    }
}
