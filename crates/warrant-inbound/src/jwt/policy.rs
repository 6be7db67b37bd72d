//! A JWT authorizer, in the shape of AWS's `customJWTAuthorizer`, and the checks it makes
//! on a token's claims once the signature is known good.
//!
//! Each configured list is its own check, and all configured checks must pass:
//! `allowedAudience` (some `aud` value is listed), `allowedClients` (`client_id`, or
//! `azp` when there is no `client_id`, is listed), `allowedScopes` (every listed scope is
//! granted, in `scope` or `scp`), and each custom claim.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{refuse, Refusal};

/// Longest `sub` accepted: it becomes part of the user's key.
pub const MAX_SUB: usize = 1024;

/// AWS's `AuthorizerConfiguration` union; `customJWTAuthorizer` is its only member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizerConfiguration {
    #[serde(rename = "customJWTAuthorizer")]
    pub custom_jwt_authorizer: JwtAuthorizer,
}

impl AsRef<JwtAuthorizer> for AuthorizerConfiguration {
    fn as_ref(&self) -> &JwtAuthorizer {
        &self.custom_jwt_authorizer
    }
}

impl AsRef<JwtAuthorizer> for JwtAuthorizer {
    fn as_ref(&self) -> &JwtAuthorizer {
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthorizer {
    pub discovery_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_audience: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_claims: Option<Vec<CustomClaim>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomClaim {
    pub inbound_token_claim_name: String,
    pub inbound_token_claim_value_type: ClaimType,
    pub authorizing_claim_match_value: MatchValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimType {
    String,
    StringArray,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchValue {
    pub claim_match_value: ClaimValue,
    pub claim_match_operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ClaimValue {
    MatchValueString(String),
    MatchValueStringList(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operator {
    Equals,
    Contains,
    ContainsAny,
}

/// The user a token proves, once every check passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    pub iss: String,
    pub sub: String,
}

/// Time checks: `exp` is required; `nbf` and `iat` are checked when present.
pub fn check_times(claims: &Map<String, Value>, now: i64, skew: i64) -> Result<(), Refusal> {
    let num = |name: &str| -> Result<Option<f64>, Refusal> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Ok(Some(n)),
                _ => refuse(format!("its {name} claim is not a number")),
            },
        }
    };
    let now = now as f64;
    let skew = skew as f64;
    match num("exp")? {
        None => return refuse("it has no exp claim"),
        Some(exp) if now > exp + skew => return refuse("it has expired (exp)"),
        Some(_) => {}
    }
    if num("nbf")?.is_some_and(|nbf| nbf > now + skew) {
        return refuse("it is not valid yet (nbf is in the future)");
    }
    if num("iat")?.is_some_and(|iat| iat > now + skew) {
        return refuse("it was issued in the future (iat)");
    }
    Ok(())
}

/// The `sub` claim: required, a non-empty string of at most [`MAX_SUB`] bytes.
pub fn subject(claims: &Map<String, Value>) -> Result<&str, Refusal> {
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB => Ok(s),
        Some(Value::String(s)) if !s.is_empty() => {
            refuse(format!("its sub claim is longer than {MAX_SUB} bytes"))
        }
        _ => refuse("it has no sub claim (a non-empty string)"),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl JwtAuthorizer {
    /// Audience, client, scope and custom-claim checks.
    pub fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), Refusal> {
        if let Some(allowed) = &self.allowed_audience {
            let aud = strings(claims.get("aud"));
            if !aud.iter().any(|a| allowed.iter().any(|x| x == a)) {
                return refuse("its audience (aud) does not include any of the allowed audiences");
            }
        }
        if let Some(allowed) = &self.allowed_clients {
            let client = claims
                .get("client_id")
                .or_else(|| claims.get("azp"))
                .and_then(Value::as_str);
            if !client.is_some_and(|c| allowed.iter().any(|x| x == c)) {
                return refuse("its client (client_id, or azp) is not one of the allowed clients");
            }
        }
        if let Some(required) = &self.allowed_scopes {
            let granted: Vec<&str> = match (claims.get("scope"), claims.get("scp")) {
                (Some(Value::String(s)), _) => s.split(' ').collect(),
                (None, Some(Value::String(s))) => s.split(' ').collect(),
                (None, Some(v @ Value::Array(_))) => strings(Some(v)),
                _ => Vec::new(),
            };
            for s in required {
                if !granted.contains(&s.as_str()) {
                    return refuse(format!("it lacks the required scope {s:?}"));
                }
            }
        }
        for c in self.custom_claims.iter().flatten() {
            if !c.matches(claims) {
                return refuse(format!(
                    "its claim {:?} does not match the authorizer's custom claim rule",
                    c.inbound_token_claim_name
                ));
            }
        }
        Ok(())
    }
}

impl CustomClaim {
    fn matches(&self, claims: &Map<String, Value>) -> bool {
        let v = claims.get(&self.inbound_token_claim_name);
        let m = &self.authorizing_claim_match_value;
        match (
            self.inbound_token_claim_value_type,
            m.claim_match_operator,
            &m.claim_match_value,
            v,
        ) {
            (
                ClaimType::String,
                Operator::Equals,
                ClaimValue::MatchValueString(want),
                Some(Value::String(got)),
            ) => got == want,
            (
                ClaimType::StringArray,
                Operator::Contains,
                ClaimValue::MatchValueString(want),
                Some(Value::Array(got)),
            ) => got.iter().any(|g| g.as_str() == Some(want)),
            (
                ClaimType::StringArray,
                Operator::ContainsAny,
                ClaimValue::MatchValueStringList(want),
                Some(Value::Array(got)),
            ) => got
                .iter()
                .filter_map(Value::as_str)
                .any(|g| want.iter().any(|w| w == g)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn authz(v: Value) -> JwtAuthorizer {
        let mut base =
            json!({"discoveryUrl": "https://idp.example/.well-known/openid-configuration"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn times() {
        let c = |v| claims(v);
        assert!(check_times(&c(json!({"exp": 1000})), 1000, 0).is_ok());
        assert!(check_times(&c(json!({"exp": 1000})), 1001, 0)
            .unwrap_err()
            .0
            .contains("expired"));
        assert!(check_times(&c(json!({"exp": 1000})), 1060, 60).is_ok());
        assert!(check_times(&c(json!({})), 0, 0)
            .unwrap_err()
            .0
            .contains("exp"));
        assert!(check_times(&c(json!({"exp": "1"})), 0, 0).is_err());
        assert!(check_times(&c(json!({"exp": 9e9, "nbf": 200})), 100, 60)
            .unwrap_err()
            .0
            .contains("not valid yet"));
        assert!(check_times(&c(json!({"exp": 9e9, "nbf": 160})), 100, 60).is_ok());
        assert!(check_times(&c(json!({"exp": 9e9, "iat": 200})), 100, 60)
            .unwrap_err()
            .0
            .contains("issued in the future"));
    }

    #[test]
    fn subjects() {
        assert_eq!(subject(&claims(json!({"sub": "u1"}))).unwrap(), "u1");
        assert!(subject(&claims(json!({"sub": ""}))).is_err());
        assert!(subject(&claims(json!({"sub": 5}))).is_err());
        assert!(subject(&claims(json!({}))).unwrap_err().0.contains("sub"));
        assert!(subject(&claims(json!({"sub": "x".repeat(MAX_SUB + 1)}))).is_err());
    }

    #[test]
    fn audience_and_clients_combine() {
        let a = authz(json!({"allowedAudience": ["api"], "allowedClients": ["c1"]}));
        assert!(a
            .check_claims(&claims(json!({"aud": "api", "client_id": "c1"})))
            .is_ok());
        assert!(a
            .check_claims(&claims(json!({"aud": ["x", "api"], "azp": "c1"})))
            .is_ok());
        assert!(a
            .check_claims(&claims(json!({"aud": ["x"], "client_id": "c1"})))
            .unwrap_err()
            .0
            .contains("audience"));
        assert!(a
            .check_claims(&claims(
                json!({"aud": "api", "client_id": "c2", "azp": "c1"})
            ))
            .unwrap_err()
            .0
            .contains("client"));
        assert!(a
            .check_claims(&claims(json!({"aud": "api"})))
            .unwrap_err()
            .0
            .contains("client"));
    }

    #[test]
    fn scopes_and_custom_claims() {
        let a = authz(json!({
            "allowedClients": ["c"],
            "allowedScopes": ["read", "write"],
            "customClaims": [
                {"inboundTokenClaimName": "dept", "inboundTokenClaimValueType": "STRING",
                 "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueString": "eng"}, "claimMatchOperator": "EQUALS"}},
                {"inboundTokenClaimName": "groups", "inboundTokenClaimValueType": "STRING_ARRAY",
                 "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueStringList": ["a", "b"]}, "claimMatchOperator": "CONTAINS_ANY"}},
                {"inboundTokenClaimName": "roles", "inboundTokenClaimValueType": "STRING_ARRAY",
                 "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueString": "r"}, "claimMatchOperator": "CONTAINS"}}
            ]
        }));
        let good = json!({"client_id": "c", "scope": "write read x", "dept": "eng", "groups": ["z", "b"], "roles": ["r"]});
        assert!(a.check_claims(&claims(good.clone())).is_ok());
        let mut scp = good.clone();
        scp.as_object_mut().unwrap().remove("scope");
        scp["scp"] = json!(["read", "write"]);
        assert!(a.check_claims(&claims(scp)).is_ok());
        let mut bad = good.clone();
        bad["scope"] = json!("read");
        assert!(a
            .check_claims(&claims(bad))
            .unwrap_err()
            .0
            .contains("\"write\""));
        for (k, v) in [
            ("dept", json!("ops")),
            ("dept", json!(["eng"])),
            ("groups", json!(["z"])),
            ("roles", json!("r")),
        ] {
            let mut bad = good.clone();
            bad[k] = v;
            let w = a.check_claims(&claims(bad)).unwrap_err().0;
            assert!(w.contains("claim") && w.contains(k), "{w}");
        }
    }
}
