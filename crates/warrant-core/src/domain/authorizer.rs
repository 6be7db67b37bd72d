//! Reading a workload's JWT authorizers (AWS's `customJWTAuthorizer` shape) from a
//! request, with the model's rules and warrant's own:
//! - `discoveryUrl` must be a discovery URL (OIDC, or RFC 8414 as well);
//! - at least one of `allowedAudience` and `allowedClients` (an authorizer that accepts
//!   any audience is not a safe default);
//! - each custom claim's operator fits its value type and match value;
//! - unknown members are refused (a misspelt `allowedScopes` must not drop the check);
//! - private endpoints are refused: warrant reaches issuers over the network it has.

use warrant_inbound::jwt::policy::{
    AuthorizerConfiguration, ClaimType, ClaimValue, CustomClaim, JwtAuthorizer, MatchValue,
    Operator,
};
use warrant_oauth::expected_issuer;

use super::input::{unsupported, violation, Input, StrRule};
use crate::error::Result;

/// Most authorizers one workload trusts.
pub const MAX_AUTHORIZERS: usize = 10;
const DISCOVERY_URL: StrRule = StrRule::pattern(1, 2048, r"https?://.+/\.well-known/.+");
const AUDIENCE: StrRule = StrRule::len(1, 255);
const SCOPE: StrRule = StrRule::pattern(1, 255, r"[\x21\x23-\x5B\x5D-\x7E]+");
const CLAIM_NAME: StrRule = StrRule::pattern(1, 255, r"[A-Za-z0-9_.\-:]+");
const MATCH_VALUE: StrRule = StrRule::len(1, 255);
const MAX_LIST: usize = 100;
const MAX_CLAIMS: usize = 20;

/// The `authorizers` member of a PUT: 1 to [`MAX_AUTHORIZERS`] authorizers.
pub fn read_authorizers(i: &Input<'_>) -> Result<Vec<AuthorizerConfiguration>> {
    let items = i
        .opt_obj_list("authorizers")?
        .ok_or_else(|| i.missing("authorizers"))?;
    if items.is_empty() || items.len() > MAX_AUTHORIZERS {
        return Err(violation(
            &i.path("authorizers"),
            &format!("Member must have between 1 and {MAX_AUTHORIZERS} items"),
        ));
    }
    items
        .iter()
        .map(|item| {
            item.refuse_unknown(&["customJWTAuthorizer"])?;
            Ok(AuthorizerConfiguration {
                custom_jwt_authorizer: read_one(&item.req_obj("customJWTAuthorizer")?)?,
            })
        })
        .collect()
}

fn read_one(c: &Input<'_>) -> Result<JwtAuthorizer> {
    for name in ["privateEndpoint", "privateEndpointOverrides"] {
        if c.has(name) {
            return Err(unsupported(
                &c.path(name),
                "warrant reaches issuers directly, through its outbound guard",
            ));
        }
    }
    c.refuse_unknown(&[
        "discoveryUrl",
        "allowedAudience",
        "allowedClients",
        "allowedScopes",
        "customClaims",
        "privateEndpoint",
        "privateEndpointOverrides",
    ])?;
    let url = c.req_str("discoveryUrl", &DISCOVERY_URL)?;
    if expected_issuer(url).is_none() {
        return Err(violation(
            &c.path("discoveryUrl"),
            "Member must be a discovery URL: {issuer}/.well-known/openid-configuration or {issuer}/.well-known/oauth-authorization-server",
        ));
    }
    let audience = c.opt_str_list("allowedAudience", &AUDIENCE, 1, MAX_LIST)?;
    let clients = c.opt_str_list("allowedClients", &AUDIENCE, 1, MAX_LIST)?;
    if audience.is_none() && clients.is_none() {
        return Err(violation(
            c.here(),
            "an authorizer must restrict allowedAudience, allowedClients or both; one that accepts any audience is not a safe default",
        ));
    }
    let scopes = c.opt_str_list("allowedScopes", &SCOPE, 1, MAX_LIST)?;
    let claims = match c.opt_obj_list("customClaims")? {
        None => None,
        Some(list) => {
            if list.is_empty() || list.len() > MAX_CLAIMS {
                return Err(violation(
                    &c.path("customClaims"),
                    &format!("Member must have between 1 and {MAX_CLAIMS} items"),
                ));
            }
            Some(list.iter().map(read_claim).collect::<Result<Vec<_>>>()?)
        }
    };
    Ok(JwtAuthorizer {
        discovery_url: url.to_string(),
        allowed_audience: audience,
        allowed_clients: clients,
        allowed_scopes: scopes,
        custom_claims: claims,
    })
}

fn read_claim(c: &Input<'_>) -> Result<CustomClaim> {
    c.refuse_unknown(&[
        "inboundTokenClaimName",
        "inboundTokenClaimValueType",
        "authorizingClaimMatchValue",
    ])?;
    let name = c.req_str("inboundTokenClaimName", &CLAIM_NAME)?;
    let ty = match c.req_enum("inboundTokenClaimValueType", &["STRING", "STRING_ARRAY"])? {
        "STRING" => ClaimType::String,
        _ => ClaimType::StringArray,
    };
    let m = c.req_obj("authorizingClaimMatchValue")?;
    m.refuse_unknown(&["claimMatchValue", "claimMatchOperator"])?;
    let op = match m.req_enum(
        "claimMatchOperator",
        &["EQUALS", "CONTAINS", "CONTAINS_ANY"],
    )? {
        "EQUALS" => Operator::Equals,
        "CONTAINS" => Operator::Contains,
        _ => Operator::ContainsAny,
    };
    let v = m.req_obj("claimMatchValue")?;
    v.refuse_unknown(&["matchValueString", "matchValueStringList"])?;
    let one = v.opt_str("matchValueString", &MATCH_VALUE)?;
    let list = v.opt_str_list("matchValueStringList", &MATCH_VALUE, 1, MAX_LIST)?;
    let value = match (one, list) {
        (Some(s), None) => ClaimValue::MatchValueString(s.to_string()),
        (None, Some(l)) => ClaimValue::MatchValueStringList(l),
        _ => {
            return Err(violation(
                v.here(),
                "Member must hold exactly one of matchValueString and matchValueStringList",
            ))
        }
    };
    let fits = matches!(
        (ty, op, &value),
        (
            ClaimType::String,
            Operator::Equals,
            ClaimValue::MatchValueString(_)
        ) | (
            ClaimType::StringArray,
            Operator::Contains,
            ClaimValue::MatchValueString(_)
        ) | (
            ClaimType::StringArray,
            Operator::ContainsAny,
            ClaimValue::MatchValueStringList(_)
        )
    );
    if !fits {
        return Err(violation(
            m.here(),
            "the operator must fit the value type: STRING takes EQUALS with matchValueString; STRING_ARRAY takes CONTAINS with matchValueString or CONTAINS_ANY with matchValueStringList",
        ));
    }
    Ok(CustomClaim {
        inbound_token_claim_name: name.to_string(),
        inbound_token_claim_value_type: ty,
        authorizing_claim_match_value: MatchValue {
            claim_match_value: value,
            claim_match_operator: op,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn read(v: Value) -> Result<Vec<AuthorizerConfiguration>> {
        read_authorizers(&Input::root(&v)?)
    }

    fn one(c: Value) -> Result<Vec<AuthorizerConfiguration>> {
        read(json!({"authorizers": [{"customJWTAuthorizer": c}]}))
    }

    const URL: &str = "https://idp.example/.well-known/openid-configuration";

    #[test]
    fn reads_a_full_authorizer_and_round_trips() {
        let c = json!({
            "discoveryUrl": URL,
            "allowedAudience": ["api"],
            "allowedClients": ["c1"],
            "allowedScopes": ["read"],
            "customClaims": [{"inboundTokenClaimName": "dept", "inboundTokenClaimValueType": "STRING",
                "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueString": "eng"}, "claimMatchOperator": "EQUALS"}}]
        });
        let a = one(c.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&a[0]).unwrap(),
            json!({ "customJWTAuthorizer": c })
        );
    }

    #[test]
    fn refuses_what_it_must() {
        let bad = [
            json!({"allowedAudience": ["a"]}),
            json!({"discoveryUrl": "https://idp.example/token", "allowedAudience": ["a"]}),
            json!({"discoveryUrl": "ftp://idp.example/.well-known/openid-configuration", "allowedAudience": ["a"]}),
            json!({"discoveryUrl": URL}),
            json!({"discoveryUrl": URL, "allowedAudience": []}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "allowedScope": ["x"]}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "allowedScopes": ["a b"]}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "privateEndpoint": {}}),
            json!({"discoveryUrl": URL, "allowedAudience": ["x".repeat(256)]}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "customClaims": [{"inboundTokenClaimName": "d", "inboundTokenClaimValueType": "STRING",
                "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueStringList": ["x"]}, "claimMatchOperator": "EQUALS"}}]}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "customClaims": [{"inboundTokenClaimName": "d", "inboundTokenClaimValueType": "STRING",
                "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueString": "x", "matchValueStringList": ["x"]}, "claimMatchOperator": "EQUALS"}}]}),
            json!({"discoveryUrl": URL, "allowedAudience": ["a"], "customClaims": [{"inboundTokenClaimName": "d e", "inboundTokenClaimValueType": "STRING",
                "authorizingClaimMatchValue": {"claimMatchValue": {"matchValueString": "x"}, "claimMatchOperator": "EQUALS"}}]}),
        ];
        for c in bad {
            assert!(one(c.clone()).is_err(), "{c}");
        }
        assert!(read(json!({})).is_err());
        assert!(read(json!({"authorizers": []})).is_err());
        let many: Vec<Value> = (0..11)
            .map(|_| json!({"customJWTAuthorizer": {"discoveryUrl": URL, "allowedClients": ["c"]}}))
            .collect();
        assert!(read(json!({ "authorizers": many })).is_err());
        assert!(read(json!({"authorizers": [{"other": {}}]})).is_err());
    }
}
