//! Small jsonb objects built directly in PostgreSQL's binary form, for `idp.verify_jwt`'s answer:
//! no JSON text is written or parsed, and the keys are given already in jsonb's canonical order
//! (shorter keys first, then bytewise), so PostgreSQL has nothing to sort.

use pgrx::pg_sys;

crate::pg::datum::raw_datum_type!(
    /// A jsonb datum, returned as is.
    Jsonb,
    pg_sys::JSONBOID,
    "jsonb"
);

/// A scalar member value.
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Null,
}

fn value(v: &Scalar<'_>) -> pg_sys::JsonbValue {
    // SAFETY: JsonbValue is plain old data; every field read by PostgreSQL for the given type is set.
    let mut jv: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
    match v {
        Scalar::Str(s) => {
            jv.type_ = pg_sys::jbvType::jbvString;
            jv.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
                len: s.len() as i32,
                val: s.as_ptr() as *mut std::ffi::c_char,
            };
        }
        Scalar::Bool(b) => {
            jv.type_ = pg_sys::jbvType::jbvBool;
            jv.val.boolean = *b;
        }
        Scalar::Null => jv.type_ = pg_sys::jbvType::jbvNull,
    }
    jv
}

/// True when `a` sorts before `b` as jsonb object keys do.
fn key_before(a: &str, b: &str) -> bool {
    (a.len(), a.as_bytes()) < (b.len(), b.as_bytes())
}

/// A jsonb object of these members. Keys must be distinct and in jsonb order (checked: a
/// programming error, not input, would break it). Strings longer than jsonb allows are an error
/// raised by PostgreSQL.
pub(crate) fn object(members: &[(&str, Scalar<'_>)]) -> Jsonb {
    assert!(members.windows(2).all(|w| key_before(w[0].0, w[1].0)), "jsonb keys out of order");
    let mut pairs: Vec<pg_sys::JsonbPair> = members
        .iter()
        .enumerate()
        .map(|(i, (k, v))| pg_sys::JsonbPair { key: value(&Scalar::Str(k)), value: value(v), order: i as u32 })
        .collect();
    // SAFETY: as above; the pairs (and the strings they point to) outlive the call, which copies
    // everything into one palloc'd jsonb.
    unsafe {
        let mut obj: pg_sys::JsonbValue = std::mem::zeroed();
        obj.type_ = pg_sys::jbvType::jbvObject;
        obj.val.object =
            pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_3 { nPairs: pairs.len() as i32, pairs: pairs.as_mut_ptr() };
        Jsonb(pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(&mut obj)))
    }
}

#[cfg(test)]
mod tests {
    use super::key_before;

    #[test]
    fn jsonb_key_order() {
        assert!(key_before("email", "valid"));
        assert!(key_before("valid", "tenant"));
        assert!(key_before("user_id", "provider"));
        assert!(!key_before("valid", "error"));
    }
}
