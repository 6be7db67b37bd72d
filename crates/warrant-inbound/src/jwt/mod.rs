//! End users' JWTs from their own identity providers, validated as RFC 8725 (JWT BCP)
//! and OWASP ASVS V9 ask:
//!
//! - [`parse`]: strict compact serialisation (three base64url segments, no padding, no
//!   JWE), JSON objects without duplicate members, an asymmetric algorithm only (never
//!   `none`, never HMAC), and no key-carrying header (`jku`, `x5u`, `jwk`, `x5c`) or
//!   `crit`: the key always comes from the issuer's discovery document, never from the
//!   token.
//! - [`keys`]: a JWKS parsed once into verification keys, each bound to its key type,
//!   so an algorithm can only be used with a key of its own family.
//! - [`policy`]: the authorizer (AWS's `customJWTAuthorizer` shape) and the claim checks.
//! - [`validator`]: discovery, JWKS caching and refetching, and the whole validation in
//!   one reusable piece (`GetWorkloadAccessTokenForJWT` and `CompleteResourceTokenAuth`).
//!
//! Every refusal is a [`Refusal`] whose message says which check failed and never
//! contains the token or any part of it.

pub mod keys;
pub mod policy;
pub mod validator;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest user token accepted (bytes). Large enough for group-heavy Entra or Keycloak
/// tokens, small enough that parsing an attacker's token costs little.
pub const MAX_LEN: usize = 32_768;
/// Longest `kid` accepted.
const MAX_KID: usize = 256;

/// Why a token was refused: a sentence that completes "The user token was refused: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// A token split and decoded, not yet verified.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    /// `header.payload`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature segment, base64url.
    pub signature: &'a str,
}

/// Split, decode and check the shape of a compact JWS. No key is used yet.
pub fn parse(token: &str) -> Result<Parsed<'_>, Refusal> {
    if token.len() > MAX_LEN {
        return refuse(format!("it is larger than {MAX_LEN} bytes"));
    }
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() == 5 {
        return refuse("it is a JWE (an encrypted token); only signed tokens (JWS) are accepted");
    }
    if segments.len() != 3 || segments.iter().any(|s| s.is_empty()) {
        return refuse(
            "it is not a compact JWS (three non-empty base64url segments separated by dots)",
        );
    }
    let header_bytes = decode_segment(segments[0], "header")?;
    let header = strict_object(&header_bytes, "header")?;
    let alg = algorithm(&header)?;
    for name in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if header.contains_key(name) {
            return refuse(format!(
                "header {name:?} is not accepted: keys come only from the issuer's discovery document"
            ));
        }
    }
    if let Some(typ) = header.get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            t == "jwt" || t == "at+jwt"
        });
        if !ok {
            return refuse("its type (typ) is not JWT or at+jwt");
        }
    }
    if let Some(cty) = header.get("cty") {
        if cty.as_str().is_some_and(|c| {
            c.eq_ignore_ascii_case("jwt") || c.eq_ignore_ascii_case("application/jwt")
        }) {
            return refuse("it is a nested JWT (cty JWT), which is not accepted");
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k))
            if !k.is_empty() && k.len() <= MAX_KID && !k.chars().any(char::is_control) =>
        {
            Some(k.clone())
        }
        Some(_) => return refuse("its key id (kid) is malformed"),
    };
    let payload = decode_segment(segments[1], "claims")?;
    if serde_json::from_slice::<de::IgnoredAny>(&payload).is_err() {
        return refuse("its claims are not JSON: a nested or encrypted token is not accepted");
    }
    let claims = strict_object(&payload, "claims")?;
    decode_segment(segments[2], "signature")?;
    let dot = segments[0].len() + 1 + segments[1].len();
    Ok(Parsed {
        alg,
        kid,
        claims,
        signing_input: &token[..dot],
        signature: segments[2],
    })
}

fn decode_segment(s: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    // The engine refuses padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD.decode(s).or_else(|_| {
        refuse(format!(
            "its {what} segment is not base64url without padding"
        ))
    })
}

/// The header's `alg`, which must be an asymmetric signature algorithm.
fn algorithm(header: &Map<String, Value>) -> Result<Algorithm, Refusal> {
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        _ => return refuse("its header has no algorithm (alg)"),
    };
    let printable: String = alg.chars().take(16).filter(|c| !c.is_control()).collect();
    if let Some(a) = keys::alg_named(alg) {
        return Ok(a);
    }
    if alg.eq_ignore_ascii_case("none") {
        return refuse(format!(
            "algorithm {printable:?} is not accepted: tokens must be signed"
        ));
    }
    if alg.to_ascii_uppercase().starts_with("HS") {
        return refuse(format!(
            "algorithm {printable:?} is not accepted: only asymmetric signatures (RS*, PS*, ES256, ES384, EdDSA) are"
        ));
    }
    refuse(format!(
        "algorithm {printable:?} is not accepted: only RS*, PS*, ES256, ES384 and EdDSA are"
    ))
}

/// Parse a JSON object, refusing duplicate members at any depth (a parser that keeps the
/// first and one that keeps the last would read different claims).
fn strict_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(m))) => Ok(m),
        Ok(_) => refuse(format!("its {what} is not a JSON object")),
        Err(e) if e.to_string().starts_with(DUPLICATE) => {
            refuse(format!("a duplicate member appears in its {what}"))
        }
        Err(_) => refuse(format!("its {what} is not a JSON object")),
    }
}

const DUPLICATE: &str = "duplicate member";

/// A JSON value read without tolerating duplicate object members.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(k, v).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(claims), b64("sig"))
    }

    fn why(t: &str) -> String {
        parse(t).expect_err("refused").0
    }

    #[test]
    fn accepts_a_plain_rs256_token() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let p = parse(&t).unwrap();
        assert_eq!(p.alg, Algorithm::RS256);
        assert_eq!(p.kid.as_deref(), Some("k1"));
        assert_eq!(p.claims["sub"], "a");
        assert_eq!(p.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn refuses_unsigned_and_symmetric_algorithms() {
        for alg in ["none", "None", "NONE"] {
            let w = why(&token(&format!(r#"{{"alg":"{alg}"}}"#), "{}"));
            assert!(w.contains("algorithm") && w.contains(alg), "{w}");
        }
        for alg in ["HS256", "HS384", "HS512", "hs256"] {
            let w = why(&token(&format!(r#"{{"alg":"{alg}"}}"#), "{}"));
            assert!(w.contains(alg), "{w}");
        }
        assert!(why(&token(r#"{"alg":"RSA-OAEP"}"#, "{}")).contains("algorithm"));
        assert!(why(&token(r#"{"kid":"x"}"#, "{}")).contains("alg"));
    }

    #[test]
    fn refuses_key_carrying_headers() {
        for h in ["jku", "x5u", "jwk", "x5c", "crit"] {
            let w = why(&token(&format!(r#"{{"alg":"RS256","{h}":"x"}}"#), "{}"));
            assert!(w.contains(h) && w.contains("header"), "{w}");
        }
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(why("a.b").contains("compact JWS"));
        assert!(why("a..c").contains("compact JWS"));
        assert!(why("a.b.c.d.e").contains("JWE"));
        let big = "a".repeat(MAX_LEN + 1);
        assert!(why(&big).contains("larger than"));
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        let padded = good.replacen('.', "=.", 1);
        assert!(why(&padded).contains("base64url"));
        assert!(why(&format!("{}+", good)).contains("base64url"));
        assert!(why(&token("[1]", "{}")).contains("JSON object"));
        assert!(why(&token(r#"{"alg":"RS256","alg":"RS256"}"#, "{}")).contains("duplicate"));
        assert!(
            why(&token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"b"}"#)).contains("duplicate")
        );
        assert!(why(&token(r#"{"alg":"RS256"}"#, r#"{"x":{"a":1,"a":2}}"#)).contains("duplicate"));
        assert!(why(&token(r#"{"alg":"RS256","cty":"JWT"}"#, "{}")).contains("nested"));
        let inner = token(r#"{"alg":"RS256"}"#, "{}");
        assert!(why(&token(r#"{"alg":"RS256"}"#, &inner)).contains("nested"));
        assert!(why(&token(r#"{"alg":"RS256","typ":"wat+jwt"}"#, "{}")).contains("type"));
        assert!(why(&token(r#"{"alg":"RS256","kid":""}"#, "{}")).contains("key id"));
        let long = "k".repeat(MAX_KID + 1);
        assert!(why(&token(
            &format!(r#"{{"alg":"RS256","kid":"{long}"}}"#),
            "{}"
        ))
        .contains("key id"));
        assert!(why(&token(r#"{"alg":"RS256","kid":"a\u0000b"}"#, "{}")).contains("key id"));
    }

    #[test]
    fn accepts_explicit_access_token_types() {
        for typ in ["JWT", "jwt", "at+jwt", "application/at+jwt"] {
            let t = token(&format!(r#"{{"alg":"ES256","typ":"{typ}"}}"#), "{}");
            assert!(parse(&t).is_ok(), "{typ}");
        }
    }
}
