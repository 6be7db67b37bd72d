//! Workload access tokens (WAT): compact JWS (RFC 7515) signed with Ed25519 (`EdDSA`,
//! RFC 8037), explicitly typed `wat+jwt` (RFC 8725 §3.11) so no other JWT can pass for
//! one. This module signs and verifies; which keys exist, and for how long, is the
//! service's business.
//!
//! Verification is strict: exactly three base64url parts without padding, a header
//! of `alg` `EdDSA`, `typ` `wat+jwt` and a known `kid` (nothing else is honoured: no
//! `jku`, `x5u` or `jwk`), the signature, then issuer, audience and time.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
pub use ed25519_dalek::VerifyingKey;
use ed25519_dalek::{Signer, SigningKey, Verifier};
use serde::{Deserialize, Serialize};

/// The `typ` header of every WAT.
pub const TYPE: &str = "wat+jwt";
/// The audience of every WAT: only warrant accepts it.
pub const AUDIENCE: &str = "warrant:workload-access-token";
/// The longest token accepted (the model's limit on `workloadIdentityToken`).
pub const MAX_LEN: usize = 131_072;
/// How far in the future `iat` may be (clock drift between nodes).
pub const IAT_SKEW_SECS: i64 = 60;

/// Who the workload acts for. A JWT user and a `userId` user never share a key: the
/// two shapes serialise differently and [`UserKey::vault_key`] prefixes each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserKey {
    /// An opaque user id the caller vouched for (`GetWorkloadAccessTokenForUserId`).
    UserId { user_id: String },
    /// A user proven by a JWT from a trusted issuer.
    Jwt { iss: String, sub: String },
}

impl UserKey {
    /// A string that names the user in vault keys; the two kinds never collide.
    pub fn vault_key(&self) -> String {
        match self {
            UserKey::UserId { user_id } => format!("user_id:{user_id}"),
            UserKey::Jwt { iss, sub } => format!("jwt:{}:{iss}{sub}", iss.len()),
        }
    }
}

/// The claims of a WAT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatClaims {
    /// warrant's public URL.
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// The workload identity's ARN.
    pub sub: String,
    pub workload_name: String,
    pub account: String,
    /// The workload's version: its creation time in ms. A workload deleted and created
    /// again under the same name does not accept the old one's tokens.
    pub workload_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserKey>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a token was refused. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatError {
    #[error("the workload access token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the workload access token is signed with an unknown key")]
    UnknownKey,
    #[error("the workload access token's signature does not verify")]
    BadSignature,
    #[error("the workload access token was issued by another issuer")]
    WrongIssuer,
    #[error("the workload access token has the wrong audience")]
    WrongAudience,
    #[error("the workload access token has expired")]
    Expired,
    #[error("the workload access token was issued in the future")]
    IssuedInFuture,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// A signing key, parsed once.
pub struct WatSigner {
    kid: String,
    key: SigningKey,
    /// The encoded header, the same for every token of this key.
    header_b64: String,
}

impl fmt::Debug for WatSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl WatSigner {
    pub fn from_seed(kid: &str, seed: &[u8; 32]) -> Self {
        let header = serde_json::to_vec(&Header {
            alg: "EdDSA",
            typ: TYPE,
            kid,
        })
        .expect("header serialises");
        Self {
            kid: kid.to_string(),
            key: SigningKey::from_bytes(seed),
            header_b64: URL_SAFE_NO_PAD.encode(header),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A detached Ed25519 signature of `msg` (audit checkpoints).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    pub fn sign(&self, claims: &WatClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialise");
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 90);
        out.push_str(&self.header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let sig = self.key.sign(out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.to_bytes(), &mut out);
        out
    }
}

/// A public key as a JWK (RFC 8037).
pub fn jwk(kid: &str, public_key: &[u8; 32]) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(public_key),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    })
}

/// Parse a public key; `None` when the bytes are not a valid Ed25519 point.
pub fn verifying_key(public_key: &[u8]) -> Option<VerifyingKey> {
    let bytes: &[u8; 32] = public_key.try_into().ok()?;
    VerifyingKey::from_bytes(bytes).ok()
}

/// Check a detached signature made by [`WatSigner::sign_bytes`].
pub fn verify_bytes(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(msg, &sig).is_ok()
}

/// The `kid` of a token, read without verifying anything (to pick the key).
pub fn peek_kid(token: &str) -> Result<String, WatError> {
    let (header, _, _) = split(token)?;
    let raw = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| WatError::Malformed("the header is not base64url"))?;
    let h: Header<'_> = serde_json::from_slice(&raw)
        .map_err(|_| WatError::Malformed("the header is not a WAT header"))?;
    if h.alg != "EdDSA" {
        return Err(WatError::Malformed("the algorithm is not EdDSA"));
    }
    if h.typ != TYPE {
        return Err(WatError::Malformed("the type is not wat+jwt"));
    }
    Ok(h.kid.to_string())
}

fn split(token: &str) -> Result<(&str, &str, &str), WatError> {
    if token.is_empty() || token.len() > MAX_LEN {
        return Err(WatError::Malformed("the length is out of range"));
    }
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.';
    if !token.bytes().all(ok) {
        return Err(WatError::Malformed(
            "it is not three base64url parts separated by dots",
        ));
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => {
            Ok((h, p, s))
        }
        _ => Err(WatError::Malformed(
            "it is not three base64url parts separated by dots",
        )),
    }
}

/// Verify `token` with `key` (the key named by its `kid`), for `issuer`, at `now_secs`.
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    issuer: &str,
    now_secs: i64,
) -> Result<WatClaims, WatError> {
    peek_kid(token)?;
    let (header, payload, sig) = split(token)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| WatError::Malformed("the signature is not base64url"))?;
    let sig = ed25519_dalek::Signature::from_slice(&sig).map_err(|_| WatError::BadSignature)?;
    let signed = &token[..header.len() + 1 + payload.len()];
    key.verify(signed.as_bytes(), &sig)
        .map_err(|_| WatError::BadSignature)?;
    let raw = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| WatError::Malformed("the payload is not base64url"))?;
    let claims: WatClaims = serde_json::from_slice(&raw)
        .map_err(|_| WatError::Malformed("the claims are not a WAT's"))?;
    if claims.iss != issuer {
        return Err(WatError::WrongIssuer);
    }
    if claims.aud != AUDIENCE {
        return Err(WatError::WrongAudience);
    }
    if now_secs >= claims.exp {
        return Err(WatError::Expired);
    }
    if claims.iat > now_secs + IAT_SKEW_SECS {
        return Err(WatError::IssuedInFuture);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> WatClaims {
        WatClaims {
            iss: "https://warrant.example".into(),
            aud: AUDIENCE.into(),
            sub: "arn:aws:bedrock-agentcore:us-east-1:000000000000:workload-identity-directory/default/workload-identity/a".into(),
            workload_name: "a".into(),
            account: "000000000000".into(),
            workload_version: 1,
            user: Some(UserKey::UserId {
                user_id: "alice".into(),
            }),
            iat: now,
            exp: now + 900,
            jti: "j".into(),
        }
    }

    fn signer() -> WatSigner {
        WatSigner::from_seed("k1", &[7u8; 32])
    }

    #[test]
    fn round_trip() {
        let s = signer();
        let t = s.sign(&claims(1000));
        assert_eq!(peek_kid(&t).unwrap(), "k1");
        let key = verifying_key(&s.public_key()).unwrap();
        let c = verify(&t, &key, "https://warrant.example", 1001).unwrap();
        assert_eq!(c, claims(1000));
    }

    #[test]
    fn refuses_tampering_expiry_issuer_and_other_keys() {
        let s = signer();
        let key = verifying_key(&s.public_key()).unwrap();
        let t = s.sign(&claims(1000));
        assert_eq!(
            verify(&t, &key, "https://warrant.example", 1900),
            Err(WatError::Expired)
        );
        assert_eq!(
            verify(&t, &key, "https://other.example", 1000),
            Err(WatError::WrongIssuer)
        );
        assert_eq!(
            verify(
                &t,
                &key,
                "https://warrant.example",
                1000 - IAT_SKEW_SECS - 1
            ),
            Err(WatError::IssuedInFuture)
        );
        let other = WatSigner::from_seed("k1", &[8u8; 32]);
        let okey = verifying_key(&other.public_key()).unwrap();
        assert_eq!(
            verify(&t, &okey, "https://warrant.example", 1000),
            Err(WatError::BadSignature)
        );
        // A claim changed after signing (the user), keeping the signature.
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let mut c = claims(1000);
        c.user = Some(UserKey::UserId {
            user_id: "mallory".into(),
        });
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(
            verify(&parts.join("."), &key, "https://warrant.example", 1000),
            Err(WatError::BadSignature)
        );
    }

    #[test]
    fn refuses_other_headers_and_shapes() {
        let s = signer();
        let key = verifying_key(&s.public_key()).unwrap();
        let t = s.sign(&claims(1000));
        let rest = t.split_once('.').unwrap().1;
        for header in [
            r#"{"alg":"none","typ":"wat+jwt","kid":"k1"}"#,
            r#"{"alg":"HS256","typ":"wat+jwt","kid":"k1"}"#,
            r#"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"EdDSA","typ":"wat+jwt","kid":"k1","jku":"https://evil"}"#,
        ] {
            let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
            assert!(
                matches!(
                    verify(&forged, &key, "https://warrant.example", 1000),
                    Err(WatError::Malformed(_))
                ),
                "{header}"
            );
        }
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            "a.b.c=",
            &"a".repeat(MAX_LEN + 1),
        ] {
            assert!(matches!(
                verify(bad, &key, "https://warrant.example", 1000),
                Err(WatError::Malformed(_))
            ));
        }
    }

    #[test]
    fn user_keys_of_the_two_kinds_never_collide() {
        let id = UserKey::UserId {
            user_id: "https://idp|alice".into(),
        };
        let jwt = UserKey::Jwt {
            iss: "https://idp".into(),
            sub: "alice".into(),
        };
        assert_ne!(id.vault_key(), jwt.vault_key());
        let a = UserKey::Jwt {
            iss: "ab".into(),
            sub: "c".into(),
        };
        let b = UserKey::Jwt {
            iss: "a".into(),
            sub: "bc".into(),
        };
        assert_ne!(a.vault_key(), b.vault_key());
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!({"user_id": "https://idp|alice"})
        );
    }
}
