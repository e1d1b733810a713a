//! Return types that hand PostgreSQL a datum built by hand: `Text`, made straight from a borrowed
//! `&str` (what the identity functions return, so that their answer is copied once, into
//! PostgreSQL's memory, while the identity is borrowed), and `Jsonb` (crate::pg::jsonb).

use pgrx::pg_sys;

/// Declares `$name`, a datum of SQL type `$sql` (type oid `$oid`) that a `#[pg_extern]` returns
/// as is. Whoever builds one must give it a valid datum of that type, palloc'd in the function
/// call's memory context.
macro_rules! raw_datum_type {
    ($(#[$doc:meta])* $name:ident, $oid:expr, $sql:literal) => {
        $(#[$doc])*
        pub struct $name(pgrx::pg_sys::Datum);

        impl pgrx::datum::IntoDatum for $name {
            fn into_datum(self) -> Option<pgrx::pg_sys::Datum> {
                Some(self.0)
            }

            fn type_oid() -> pgrx::pg_sys::Oid {
                $oid
            }
        }

        // SAFETY: the datum is a valid value of the type, palloc'd in the function's memory
        // context (what the constructors promise), which is what PostgreSQL expects a function
        // returning that type to hand back.
        unsafe impl pgrx::callconv::BoxRet for $name {
            unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
                // SAFETY: see the impl.
                unsafe { fcinfo.return_raw_datum(self.0) }
            }
        }

        // SAFETY: the SQL type named is the one the datum holds.
        unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for $name {
            const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!($name);
            const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
                pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
            const ARGUMENT_SQL: Result<
                pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
                pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
            > = Ok(pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal($sql));
            const RETURN_SQL: Result<
                pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
                pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
            > = Ok(pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef::One(
                pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal($sql),
            ));
        }
    };
}
pub(crate) use raw_datum_type;

raw_datum_type!(
    /// A palloc'd `text` datum.
    Text,
    pg_sys::TEXTOID,
    "text"
);

impl Text {
    /// A copy of `s` as text, in the current memory context (the function call's).
    pub(crate) fn new(s: &str) -> Text {
        // PostgreSQL text is at most 1 GB; every identity field is far shorter (a token is at
        // most idp.max_token_bytes).
        let len = i32::try_from(s.len()).unwrap_or(i32::MAX);
        // SAFETY: copies `len` bytes of `s` (no NUL needed) into a new palloc'd varlena.
        let t = unsafe { pg_sys::cstring_to_text_with_len(s.as_ptr().cast(), len) };
        Text(pg_sys::Datum::from(t))
    }
}
