//! An issuer's JWKS (RFC 7517), parsed once into verification keys. Each key keeps its
//! family (RSA, P-256, P-384, Ed25519), so an algorithm is only ever tried with a key of
//! its own type: never HMAC with a public key, never ES256 with an RSA key.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::{refuse, Parsed, Refusal};

/// Most keys taken from one JWKS.
pub const MAX_KEYS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Family {
    fn allows(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Family::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Family::P256 => alg == ES256,
            Family::P384 => alg == ES384,
            Family::Ed25519 => alg == EdDSA,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Rsa => "RSA",
            Family::P256 => "EC P-256",
            Family::P384 => "EC P-384",
            Family::Ed25519 => "Ed25519",
        }
    }
}

pub struct VerifyKey {
    pub kid: Option<String>,
    pub family: Family,
    /// The key's own `alg`, when the JWKS names one: then only that algorithm.
    pub alg: Option<Algorithm>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The usable signing keys of one JWKS.
#[derive(Debug, Default)]
pub struct KeySet {
    pub keys: Vec<VerifyKey>,
}

fn str_of<'a>(k: &'a Value, name: &str) -> Option<&'a str> {
    k.get(name).and_then(Value::as_str)
}

/// The algorithms warrant accepts, by their JOSE names.
pub(crate) fn alg_named(a: &str) -> Option<Algorithm> {
    Some(match a {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

impl KeySet {
    /// Parse a JWKS document. Keys that cannot sign (`use` other than `sig`, symmetric,
    /// unknown types or curves, an `alg` warrant does not accept) are skipped; a set
    /// with no usable key is an error.
    pub fn parse(doc: &[u8]) -> Result<KeySet, String> {
        let v: Value = serde_json::from_slice(doc).map_err(|_| "it is not JSON".to_string())?;
        let list = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("it has no \"keys\" array")?;
        let mut keys = Vec::new();
        for k in list.iter().take(MAX_KEYS) {
            if let Some(key) = Self::one(k) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err("it holds no usable signing key".into());
        }
        Ok(KeySet { keys })
    }

    fn one(k: &Value) -> Option<VerifyKey> {
        if str_of(k, "use").is_some_and(|u| u != "sig") {
            return None;
        }
        let alg = match str_of(k, "alg") {
            Some(a) => Some(alg_named(a)?),
            None => None,
        };
        let (family, key) = match (str_of(k, "kty")?, str_of(k, "crv")) {
            ("RSA", _) => (
                Family::Rsa,
                DecodingKey::from_rsa_components(str_of(k, "n")?, str_of(k, "e")?).ok()?,
            ),
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let (x, y) = (str_of(k, "x")?, str_of(k, "y")?);
                let family = if crv == "P-256" {
                    Family::P256
                } else {
                    Family::P384
                };
                let len = if family == Family::P256 { 43 } else { 64 };
                if x.len() != len || y.len() != len {
                    return None;
                }
                (family, DecodingKey::from_ec_components(x, y).ok()?)
            }
            ("OKP", Some("Ed25519")) => (
                Family::Ed25519,
                DecodingKey::from_ed_components(str_of(k, "x")?).ok()?,
            ),
            _ => return None,
        };
        if alg.is_some_and(|a| !family.allows(a)) {
            return None;
        }
        Some(VerifyKey {
            kid: str_of(k, "kid").map(str::to_string),
            family,
            alg,
            key,
        })
    }

    /// The key a token names. `Ok(None)`: no key has its `kid` (the caller may refetch).
    /// A token without `kid` may use the set's only key of its algorithm's type.
    pub fn find(&self, t: &Parsed<'_>) -> Result<Option<&VerifyKey>, Refusal> {
        let key =
            match &t.kid {
                Some(kid) => match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                    Some(k) => k,
                    None => return Ok(None),
                },
                None => {
                    let mut fitting = self.keys.iter().filter(|k| k.family.allows(t.alg));
                    match (fitting.next(), fitting.next()) {
                        (Some(k), None) => k,
                        (None, _) => return Ok(None),
                        (Some(_), Some(_)) => return refuse(
                            "it has no key id (kid) and the issuer has several keys of its type",
                        ),
                    }
                }
            };
        if !key.family.allows(t.alg) || key.alg.is_some_and(|a| a != t.alg) {
            return refuse(format!(
                "its algorithm {:?} does not match the issuer's key, which is {}{}",
                t.alg,
                key.family.name(),
                key.alg.map(|a| format!(" for {a:?}")).unwrap_or_default()
            ));
        }
        Ok(Some(key))
    }
}

/// Check the token's signature with `key` (already matched to its algorithm).
pub fn verify_signature(t: &Parsed<'_>, key: &VerifyKey) -> Result<(), Refusal> {
    match jsonwebtoken::crypto::verify(t.signature, t.signing_input.as_bytes(), &key.key, t.alg) {
        Ok(true) => Ok(()),
        _ => refuse("its signature does not verify with the issuer's key"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::parse;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::rand::SystemRandom;
    use ring::signature::{self as rs, KeyPair};
    use serde_json::json;

    fn b64(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    struct Es256 {
        pair: rs::EcdsaKeyPair,
    }

    impl Es256 {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let alg = &rs::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            Self {
                pair: rs::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap(),
            }
        }
        fn jwk(&self, kid: &str) -> Value {
            let p = self.pair.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(&p[1..33]), "y": b64(&p[33..65])})
        }
        fn sign(&self, header: Value, claims: Value) -> String {
            let si = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(claims.to_string().as_bytes())
            );
            let sig = self.pair.sign(&SystemRandom::new(), si.as_bytes()).unwrap();
            format!("{si}.{}", b64(sig.as_ref()))
        }
    }

    fn set(keys: Vec<Value>) -> KeySet {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn es256_verifies_with_its_key_only() {
        let (a, b) = (Es256::new(), Es256::new());
        let keys = set(vec![a.jwk("a"), b.jwk("b")]);
        let t = a.sign(json!({"alg": "ES256", "kid": "a"}), json!({"sub": "u"}));
        let p = parse(&t).unwrap();
        verify_signature(&p, keys.find(&p).unwrap().unwrap()).unwrap();
        // The same token claiming b's kid: the signature does not verify.
        let t = a.sign(json!({"alg": "ES256", "kid": "b"}), json!({"sub": "u"}));
        let p = parse(&t).unwrap();
        let w = verify_signature(&p, keys.find(&p).unwrap().unwrap()).unwrap_err();
        assert!(w.0.contains("signature"));
        // An unknown kid is for the caller to refetch.
        let t = a.sign(json!({"alg": "ES256", "kid": "c"}), json!({}));
        assert!(keys.find(&parse(&t).unwrap()).unwrap().is_none());
        // A tampered payload fails.
        let good = a.sign(json!({"alg": "ES256", "kid": "a"}), json!({"sub": "u"}));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64(br#"{"sub":"admin"}"#), parts[2]);
        let p = parse(&forged).unwrap();
        assert!(verify_signature(&p, keys.find(&p).unwrap().unwrap()).is_err());
    }

    #[test]
    fn algorithms_are_bound_to_key_types() {
        let a = Es256::new();
        let keys = set(vec![a.jwk("a")]);
        for alg in ["RS256", "PS256", "ES384", "EdDSA"] {
            let t = a.sign(json!({"alg": alg, "kid": "a"}), json!({}));
            let w = keys.find(&parse(&t).unwrap()).unwrap_err();
            assert!(w.0.contains("does not match"), "{alg}: {w}");
        }
        // A JWK that names its alg allows only that one.
        let mut jwk = a.jwk("a");
        jwk["alg"] = json!("ES256");
        let keys = set(vec![jwk]);
        let t = a.sign(json!({"alg": "ES256", "kid": "a"}), json!({}));
        assert!(keys.find(&parse(&t).unwrap()).unwrap().is_some());
    }

    #[test]
    fn a_token_without_kid_needs_a_single_fitting_key() {
        let (a, b) = (Es256::new(), Es256::new());
        let t = a.sign(json!({"alg": "ES256"}), json!({}));
        let p = parse(&t).unwrap();
        let one = set(vec![a.jwk("a")]);
        verify_signature(&p, one.find(&p).unwrap().unwrap()).unwrap();
        let two = set(vec![a.jwk("a"), b.jwk("b")]);
        assert!(two.find(&p).unwrap_err().0.contains("several keys"));
    }

    #[test]
    fn eddsa_and_unusable_keys() {
        let rng = SystemRandom::new();
        let pkcs8 = rs::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = rs::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": b64(pair.public_key().as_ref())});
        let si = format!(
            "{}.{}",
            b64(br#"{"alg":"EdDSA","kid":"e"}"#),
            b64(br#"{"sub":"u"}"#)
        );
        let t = format!("{si}.{}", b64(pair.sign(si.as_bytes()).as_ref()));
        let keys = set(vec![
            jwk,
            json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"}),
            json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB", "kid": "x"}),
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p"}),
        ]);
        assert_eq!(keys.keys.len(), 1, "only the Ed25519 key is usable");
        let p = parse(&t).unwrap();
        verify_signature(&p, keys.find(&p).unwrap().unwrap()).unwrap();
        assert!(KeySet::parse(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"not json").is_err());
    }
}
