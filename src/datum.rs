//! A text datum made straight from a borrowed `&str`: what the identity functions return, so
//! that their answer is copied once, into PostgreSQL's memory, while the identity is borrowed.

use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

/// A palloc'd `text` datum.
pub struct Text(pg_sys::Datum);

impl Text {
    /// A copy of `s` as text, in the current memory context (the function call's).
    pub fn new(s: &str) -> Text {
        // PostgreSQL text is at most 1 GB; every identity field is far shorter (a token is at
        // most idp.max_token_bytes).
        let len = i32::try_from(s.len()).unwrap_or(i32::MAX);
        // SAFETY: copies `len` bytes of `s` (no NUL needed) into a new palloc'd varlena.
        let t = unsafe { pg_sys::cstring_to_text_with_len(s.as_ptr().cast(), len) };
        Text(pg_sys::Datum::from(t))
    }
}

impl IntoDatum for Text {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::TEXTOID
    }
}

// SAFETY: the datum is a valid text varlena, palloc'd in the function's memory context, which
// is what PostgreSQL expects a function returning text to hand back.
unsafe impl pgrx::callconv::BoxRet for Text {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: see the impl.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

// SAFETY: the SQL type named is the one the datum holds.
unsafe impl SqlTranslatable for Text {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(Text);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("text"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("text")));
}
