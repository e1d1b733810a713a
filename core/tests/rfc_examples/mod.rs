//! The worked examples of RFC 7515 (Appendix A), RFC 7520 (§3 keys, §4 signatures) and RFC 8037
//! (Appendix A), as the RFCs print them (their line breaks removed; long values are split into
//! lines of 64 characters here): public key members and compact serializations. Shared by the
//! full-token tests (tests/known_answers.rs, public API) and the signature-layer tests inside
//! the crate (src/known_answers/rfc.rs). Valid signatures must verify, so a mistyped byte fails
//! a test.
//!
//! The RFCs print private keys as well; only the public members are here, as a provider's JWKS
//! has them (pg_idp refuses a JWK with private members).

// Each user takes the examples it needs.
#![allow(dead_code)]

/// RFC 7520: the `kid` of its RSA and EC keys.
pub const RFC7520_KID: &str = "bilbo.baggins@hobbiton.example";

/// RFC 7520 §3.5: the `kid` of its symmetric key for MAC computation.
pub const RFC7520_HMAC_KID: &str = "018c0ae5-4d9b-471b-bfd6-eef314bc7037";

/// The `exp` of the RFC 7515 claims.
pub const RFC7515_EXP: i64 = 1_300_819_380;

/// RFC 7515 §A.1.1: `k` of the HMAC key (64 bytes).
pub const RFC7515_A1_K: &str =
    concat!("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i", "PS4hcgUuTwjAzZr1Z9CAow");

/// RFC 7515 §A.1.1: HS256, compact. Its payload, the claims of every A.1 to A.3 and A.5
/// example, is `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
pub const RFC7515_A1: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
);

/// RFC 7515 §A.2.1: `n` of the RSA key (2048 bits, `e` is `AQAB`).
pub const RFC7515_A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp",
    "-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOW",
    "vG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs",
    "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9k",
    "G4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2",
    "PAcDTW9gb54h4FRWyuXpoQ",
);

/// RFC 7515 §A.2.1: RS256, compact.
pub const RFC7515_A2: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);

/// RFC 7515 §A.3.1: `x` of the EC P-256 key.
pub const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";

/// RFC 7515 §A.3.1: `y` of the EC P-256 key.
pub const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

/// RFC 7515 §A.3.1: ES256, compact.
pub const RFC7515_A3: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA",
    "pmWQxfKTUJqPP3-Kg6NU1Q",
);

/// RFC 7515 §A.4.1: `x` of the EC P-521 key.
pub const RFC7515_A4_X: &str =
    concat!("AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvL", "FV1jSfS9tsz4qUxcWceqwQGk");

/// RFC 7515 §A.4.1: `y` of the EC P-521 key.
pub const RFC7515_A4_Y: &str =
    concat!("ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4K", "kd0AZMaZmh9ubmf63e3kyMj2");

/// RFC 7515 §A.4.1: ES512 over the payload `Payload`, compact.
pub const RFC7515_A4: &str = concat!(
    "eyJhbGciOiJFUzUxMiJ9.",
    "UGF5bG9hZA.",
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq",
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp",
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn",
);

/// RFC 7515 §A.5: an unsecured JWS (`{"alg":"none"}`, empty signature), compact.
pub const RFC7515_A5: &str = concat!(
    "eyJhbGciOiJub25lIn0.",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.",
    "",
);

/// RFC 8037 §A.2: `x` of the Ed25519 public key.
pub const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

/// RFC 8037 §A.4: EdDSA (Ed25519) over the payload `Example of Ed25519 signing`, compact.
pub const RFC8037_A4: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9.",
    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5B",
    "hVsPt9g7sVvpAr_MuM0KAg",
);

/// RFC 7520 §4: the payload of every JWS example, base64url-encoded.
pub const RFC7520_PAYLOAD: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlv",
    "dXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24n",
    "dCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
);

/// RFC 7520 §3.3: `n` of the RSA public key (2048 bits, `e` is `AQAB`).
pub const RFC7520_RSA_N: &str = concat!(
    "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRoj",
    "dNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2l",
    "bzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6c",
    "S6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3",
    "-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwU",
    "kRz5iaiQkqgc5gHdrNP5zw",
);

/// RFC 7520 §3.1: `x` of the EC P-521 public key.
pub const RFC7520_EC_X: &str =
    concat!("AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqv", "jyekWF-7ytDyRXYgCF5cj0Kt");

/// RFC 7520 §3.1: `y` of the EC P-521 public key.
pub const RFC7520_EC_Y: &str =
    concat!("AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgD", "PrwQrJmbnX9cwlGfP-HqHZR1");

/// RFC 7520 §3.5: `k` of the symmetric key for MAC computation.
pub const RFC7520_HMAC_K: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";

/// RFC 7520 §4.1.3: RS256, compact.
pub const RFC7520_4_1: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhh",
    "bXBsZSJ9.",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlv",
    "dXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24n",
    "dCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.",
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZo",
    "pdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmD",
    "LJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9e",
    "Ro4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2",
    "aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH8",
    "4ogoree7vjbU5y18kDquDg",
);

/// RFC 7520 §4.2.3: PS384, compact.
pub const RFC7520_4_2: &str = concat!(
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhh",
    "bXBsZSJ9.",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlv",
    "dXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24n",
    "dCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.",
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN",
    "6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvW",
    "Xzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRXe8P_ij",
    "Q7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6ui",
    "P1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmW",
    "jwZ6oD4ifKo8DYM-X72Eaw",
);

/// RFC 7520 §4.3.3: ES512, compact.
pub const RFC7520_4_3: &str = concat!(
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhh",
    "bXBsZSJ9.",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlv",
    "dXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24n",
    "dCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.",
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9",
    "Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD89",
    "0jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2",
);

/// RFC 7520 §4.4.3: HS256, compact.
pub const RFC7520_4_4: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVl",
    "ZjMxNGJjNzAzNyJ9.",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlv",
    "dXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24n",
    "dCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91",
    "IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.",
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
);

/// RFC 7520 §4.5.3: HS256 with detached content, compact (empty payload segment).
pub const RFC7520_4_5: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVl",
    "ZjMxNGJjNzAzNyJ9.",
    ".",
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
);

/// RFC 7520 §4.6.2: the protected header `{"alg":"HS256"}` (its `kid` is in the unprotected header).
pub const RFC7520_4_6_PROTECTED: &str = "eyJhbGciOiJIUzI1NiJ9";

/// RFC 7520 §4.6.2: the HS256 signature over the protected header and the payload.
pub const RFC7520_4_6_SIGNATURE: &str = "bWUSVaxorn7bEF1djytBd0kHv70Ly5pvbomzMWSOr20";

/// RFC 7520 §4.7.2: the HS256 signature over an empty protected header and the payload.
pub const RFC7520_4_7_SIGNATURE: &str = "xuLifqLGiblpv9zBpuZczWhNj1gARaLV3UxvxhJxZuk";

/// RFC 7520 §4.8.2.1: the first signature's protected header, `{"alg":"RS256"}` (`kid` unprotected).
pub const RFC7520_4_8_RS256_PROTECTED: &str = "eyJhbGciOiJSUzI1NiJ9";

/// RFC 7520 §4.8.2.1: the first signature, RS256.
pub const RFC7520_4_8_RS256_SIGNATURE: &str = concat!(
    "MIsjqtVlOpa71KE-Mss8_Nq2YH4FGhiocsqrgi5NvyG53uoimic1tcMdSg-qptrz",
    "Zc7CG6Svw2Y13TDIqHzTUrL_lR2ZFcryNFiHkSw129EghGpwkpxaTn_THJTCglNb",
    "ADko1MZBCdwzJxwqZc-1RlpO2HibUYyXSwO97BSe0_evZKdjvvKSgsIqjytKSeAM",
    "bhMBdMma622_BG5t4sdbuCHtFjp9iJmkio47AIwqkZV1aIZsv33uPUqBBCXbYoQJ",
    "wt7mxPftHmNlGoOSMxR_3thmXTCm4US-xiNOyhbm8afKK64jU6_TPtQHiJeQJxz9",
    "G3Tx-083B745_AfYOnlC9w",
);

/// RFC 7520 §4.8.2.3: the third signature, HS256 under the protected header of §4.4.
pub const RFC7520_4_8_HS256_SIGNATURE: &str = "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";
