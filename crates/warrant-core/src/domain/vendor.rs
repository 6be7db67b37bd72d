//! The vendor catalog (authorization-server metadata of the built-in OAuth2 vendors)
//! and the rules of `oauth2ProviderConfigInput`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::input::{unsupported, violation, Input, StrRule};
use crate::error::{Error, Result};

/// Every `CredentialProviderVendorType` of the AWS model.
pub const VENDORS: [&str; 25] = [
    "GoogleOauth2",
    "GithubOauth2",
    "SlackOauth2",
    "SalesforceOauth2",
    "MicrosoftOauth2",
    "CustomOauth2",
    "AtlassianOauth2",
    "LinkedinOauth2",
    "XOauth2",
    "OktaOauth2",
    "OneLoginOauth2",
    "PingOneOauth2",
    "FacebookOauth2",
    "YandexOauth2",
    "RedditOauth2",
    "ZoomOauth2",
    "TwitchOauth2",
    "SpotifyOauth2",
    "DropboxOauth2",
    "NotionOauth2",
    "HubspotOauth2",
    "CyberArkOauth2",
    "FusionAuthOauth2",
    "Auth0Oauth2",
    "CognitoOauth2",
];

/// The members of `Oauth2ProviderConfigInput` (and, by the same names, of the output).
pub const CONFIG_MEMBERS: [&str; 9] = [
    "customOauth2ProviderConfig",
    "googleOauth2ProviderConfig",
    "githubOauth2ProviderConfig",
    "slackOauth2ProviderConfig",
    "salesforceOauth2ProviderConfig",
    "microsoftOauth2ProviderConfig",
    "atlassianOauth2ProviderConfig",
    "linkedinOauth2ProviderConfig",
    "includedOauth2ProviderConfig",
];

/// What warrant knows of a built-in vendor.
#[derive(Debug, Clone, Copy)]
pub struct VendorInfo {
    pub vendor: &'static str,
    /// The config member this vendor takes.
    pub member: &'static str,
    /// Fixed endpoints; `None` for vendors whose endpoints are per tenant (Okta, Auth0,
    /// ...), which the caller must give in `includedOauth2ProviderConfig`.
    pub endpoints: Option<(&'static str, &'static str, &'static str)>,
    /// Client authentication the vendor's token endpoint expects.
    pub token_auth_methods: &'static [&'static str],
}

const BASIC_POST: &[&str] = &["client_secret_basic", "client_secret_post"];
const POST: &[&str] = &["client_secret_post"];
const BASIC: &[&str] = &["client_secret_basic"];

const fn v(
    vendor: &'static str,
    member: &'static str,
    endpoints: Option<(&'static str, &'static str, &'static str)>,
    token_auth_methods: &'static [&'static str],
) -> VendorInfo {
    VendorInfo {
        vendor,
        member,
        endpoints,
        token_auth_methods,
    }
}

const INCLUDED: &str = "includedOauth2ProviderConfig";

/// The catalog: issuer, authorization endpoint, token endpoint. Microsoft's carry a
/// `{tenant}` placeholder filled from `tenantId` (default `common`).
pub const CATALOG: [VendorInfo; 24] = [
    v(
        "GoogleOauth2",
        "googleOauth2ProviderConfig",
        Some((
            "https://accounts.google.com",
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
        )),
        BASIC_POST,
    ),
    v(
        "GithubOauth2",
        "githubOauth2ProviderConfig",
        Some((
            "https://github.com",
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
        )),
        POST,
    ),
    v(
        "SlackOauth2",
        "slackOauth2ProviderConfig",
        Some((
            "https://slack.com",
            "https://slack.com/oauth/v2/authorize",
            "https://slack.com/api/oauth.v2.access",
        )),
        BASIC_POST,
    ),
    v(
        "SalesforceOauth2",
        "salesforceOauth2ProviderConfig",
        Some((
            "https://login.salesforce.com",
            "https://login.salesforce.com/services/oauth2/authorize",
            "https://login.salesforce.com/services/oauth2/token",
        )),
        BASIC_POST,
    ),
    v(
        "MicrosoftOauth2",
        "microsoftOauth2ProviderConfig",
        Some((
            "https://login.microsoftonline.com/{tenant}/v2.0",
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        )),
        BASIC_POST,
    ),
    v(
        "AtlassianOauth2",
        "atlassianOauth2ProviderConfig",
        Some((
            "https://auth.atlassian.com",
            "https://auth.atlassian.com/authorize",
            "https://auth.atlassian.com/oauth/token",
        )),
        POST,
    ),
    v(
        "LinkedinOauth2",
        "linkedinOauth2ProviderConfig",
        Some((
            "https://www.linkedin.com/oauth",
            "https://www.linkedin.com/oauth/v2/authorization",
            "https://www.linkedin.com/oauth/v2/accessToken",
        )),
        POST,
    ),
    v(
        "XOauth2",
        INCLUDED,
        Some((
            "https://x.com",
            "https://x.com/i/oauth2/authorize",
            "https://api.x.com/2/oauth2/token",
        )),
        BASIC,
    ),
    v(
        "FacebookOauth2",
        INCLUDED,
        Some((
            "https://www.facebook.com",
            "https://www.facebook.com/v19.0/dialog/oauth",
            "https://graph.facebook.com/v19.0/oauth/access_token",
        )),
        POST,
    ),
    v(
        "YandexOauth2",
        INCLUDED,
        Some((
            "https://oauth.yandex.com",
            "https://oauth.yandex.com/authorize",
            "https://oauth.yandex.com/token",
        )),
        BASIC_POST,
    ),
    v(
        "RedditOauth2",
        INCLUDED,
        Some((
            "https://www.reddit.com",
            "https://www.reddit.com/api/v1/authorize",
            "https://www.reddit.com/api/v1/access_token",
        )),
        BASIC,
    ),
    v(
        "ZoomOauth2",
        INCLUDED,
        Some((
            "https://zoom.us",
            "https://zoom.us/oauth/authorize",
            "https://zoom.us/oauth/token",
        )),
        BASIC,
    ),
    v(
        "TwitchOauth2",
        INCLUDED,
        Some((
            "https://id.twitch.tv/oauth2",
            "https://id.twitch.tv/oauth2/authorize",
            "https://id.twitch.tv/oauth2/token",
        )),
        POST,
    ),
    v(
        "SpotifyOauth2",
        INCLUDED,
        Some((
            "https://accounts.spotify.com",
            "https://accounts.spotify.com/authorize",
            "https://accounts.spotify.com/api/token",
        )),
        BASIC_POST,
    ),
    v(
        "DropboxOauth2",
        INCLUDED,
        Some((
            "https://www.dropbox.com",
            "https://www.dropbox.com/oauth2/authorize",
            "https://api.dropboxapi.com/oauth2/token",
        )),
        BASIC_POST,
    ),
    v(
        "NotionOauth2",
        INCLUDED,
        Some((
            "https://api.notion.com",
            "https://api.notion.com/v1/oauth/authorize",
            "https://api.notion.com/v1/oauth/token",
        )),
        BASIC,
    ),
    v(
        "HubspotOauth2",
        INCLUDED,
        Some((
            "https://app.hubspot.com",
            "https://app.hubspot.com/oauth/authorize",
            "https://api.hubapi.com/oauth/v1/token",
        )),
        POST,
    ),
    v("OktaOauth2", INCLUDED, None, BASIC_POST),
    v("OneLoginOauth2", INCLUDED, None, BASIC_POST),
    v("PingOneOauth2", INCLUDED, None, BASIC_POST),
    v("CyberArkOauth2", INCLUDED, None, BASIC_POST),
    v("FusionAuthOauth2", INCLUDED, None, BASIC_POST),
    v("Auth0Oauth2", INCLUDED, None, BASIC_POST),
    v("CognitoOauth2", INCLUDED, None, BASIC_POST),
];

pub fn vendor_info(vendor: &str) -> Option<&'static VendorInfo> {
    CATALOG.iter().find(|v| v.vendor == vendor)
}

/// How a vendor's authorization server departs from plain OAuth 2.0 in ways that change
/// the protocol (not just its URLs). Each entry names the vendor documentation's rule.
#[derive(Debug, Clone, Copy)]
pub struct VendorQuirks {
    /// Added to the authorization request; a `customParameters` entry of the same
    /// name replaces it.
    pub authorize_params: &'static [(&'static str, &'static str)],
    /// Scopes added to the authorization request so that a refresh token is issued.
    pub offline_scopes: &'static [&'static str],
    /// The authorization parameter that carries the requested scopes.
    pub scope_param: &'static str,
    pub response: warrant_oauth::ResponseQuirks,
    /// The lifetime assumed when a token response has no `expires_in`.
    pub default_lifetime_secs: i64,
}

const PLAIN: VendorQuirks = VendorQuirks {
    authorize_params: &[],
    offline_scopes: &[],
    scope_param: "scope",
    response: warrant_oauth::ResponseQuirks {
        nested_user_token: false,
        keep: &[],
    },
    default_lifetime_secs: 3600,
};

/// OIDC servers issue refresh tokens for the `offline_access` scope.
const OFFLINE_ACCESS: VendorQuirks = VendorQuirks {
    offline_scopes: &["offline_access"],
    ..PLAIN
};

/// The quirks of a vendor preset (`CustomOauth2` and unknown vendors have none).
pub fn vendor_quirks(vendor: &str) -> VendorQuirks {
    match vendor {
        // Refresh tokens only with access_type=offline, and again on a later consent
        // only with prompt=consent.
        "GoogleOauth2" => VendorQuirks {
            authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
            ..PLAIN
        },
        // Form-encoded responses unless asked for JSON (warrant always asks); errors
        // with HTTP 200 and comma-separated scopes (read for every vendor).
        "GithubOauth2" => PLAIN,
        // OAuth v2: the user's token is `authed_user`; user scopes go in `user_scope`.
        "SlackOauth2" => VendorQuirks {
            scope_param: "user_scope",
            response: warrant_oauth::ResponseQuirks {
                nested_user_token: true,
                keep: &[],
            },
            ..PLAIN
        },
        // No expires_in (sessions last two hours by default); API calls go to the
        // org's instance_url.
        "SalesforceOauth2" => VendorQuirks {
            response: warrant_oauth::ResponseQuirks {
                nested_user_token: false,
                keep: &["instance_url"],
            },
            default_lifetime_secs: 7200,
            ..PLAIN
        },
        // 3LO needs the API audience, and prompt=consent for a refresh token.
        "AtlassianOauth2" => VendorQuirks {
            authorize_params: &[("audience", "api.atlassian.com"), ("prompt", "consent")],
            offline_scopes: &["offline_access"],
            ..PLAIN
        },
        "DropboxOauth2" => VendorQuirks {
            authorize_params: &[("token_access_type", "offline")],
            ..PLAIN
        },
        "RedditOauth2" => VendorQuirks {
            authorize_params: &[("duration", "permanent")],
            ..PLAIN
        },
        "XOauth2" => VendorQuirks {
            offline_scopes: &["offline.access"],
            ..PLAIN
        },
        // Twitch's `scope` is a JSON array (read for every vendor).
        "TwitchOauth2" => PLAIN,
        // (Cognito issues refresh tokens without it, and refuses the scope.)
        "MicrosoftOauth2" | "OktaOauth2" | "Auth0Oauth2" | "FusionAuthOauth2" => OFFLINE_ACCESS,
        _ => PLAIN,
    }
}

pub const CLIENT_ID: StrRule = StrRule::len(1, 256);
pub const CLIENT_SECRET: StrRule = StrRule::len(1, 2048);
const URL: StrRule = StrRule::pattern(1, 2048, r"https?://[^\s/?#]+[^\s]*");
const TENANT: StrRule = StrRule::pattern(1, 2048, r"[A-Za-z0-9._-]+");
pub const DISCOVERY_URL: StrRule = StrRule::pattern(
    1,
    2048,
    r"https?://[^\s?#]+/\.well-known/(openid-configuration|oauth-authorization-server)(/[^\s?#]+)?",
);
const AUTH_METHODS: [&str; 4] = [
    "CLIENT_SECRET_BASIC",
    "CLIENT_SECRET_POST",
    "AWS_IAM_ID_TOKEN_JWT",
    "PRIVATE_KEY_JWT",
];

/// The stored, non-secret configuration of an OAuth2 credential provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oauth2Config {
    pub vendor: String,
    /// The config member the provider was configured through.
    pub member: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The `Oauth2Discovery` structure shown in the output.
    pub oauth_discovery: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_authentication_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of_token_exchange_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// A parsed `oauth2ProviderConfigInput`: the configuration and the client secret, if
/// one was given.
pub struct ParsedOauth2Config<'a> {
    pub config: Oauth2Config,
    pub client_secret: Option<&'a str>,
}

/// Refuse the members that would keep a secret outside warrant: `{prefix}Source`
/// `EXTERNAL` and `{prefix}Config` (AWS Secrets Manager). `prefix` is `clientSecret`
/// or `apiKeySecret`.
pub fn refuse_external_secret(cfg: &Input<'_>, prefix: &str) -> Result<()> {
    let source = format!("{prefix}Source");
    if cfg.opt_enum(&source, &["MANAGED", "EXTERNAL"])? == Some("EXTERNAL") {
        return Err(unsupported(
            &cfg.path(&source),
            "secrets held in AWS Secrets Manager (EXTERNAL); give the secret itself (MANAGED)",
        ));
    }
    let config = format!("{prefix}Config");
    if cfg.has(&config) {
        return Err(unsupported(
            &cfg.path(&config),
            "secrets held in AWS Secrets Manager; give the secret itself",
        ));
    }
    Ok(())
}

/// Read `oauth2ProviderConfigInput` for `vendor`. On create (`creating`), the client
/// id and secret are required; on update they may be left out and are kept.
pub fn parse_oauth2_config<'a>(
    vendor: &str,
    input: &Input<'a>,
    creating: bool,
) -> Result<ParsedOauth2Config<'a>> {
    let root_path = input.here();
    let given: Vec<&str> = CONFIG_MEMBERS
        .iter()
        .copied()
        .filter(|m| input.has(m))
        .collect();
    let expected = if vendor == "CustomOauth2" {
        "customOauth2ProviderConfig"
    } else {
        vendor_info(vendor)
            .map(|v| v.member)
            .ok_or_else(|| Error::validation("unknown credentialProviderVendor"))?
    };
    if given.len() != 1 {
        return Err(violation(
            root_path,
            &format!(
                "Member must set exactly one configuration; credentialProviderVendor {vendor} takes {expected}"
            ),
        ));
    }
    if given[0] != expected {
        return Err(violation(
            &input.path(given[0]),
            &format!(
                "credentialProviderVendor {vendor} takes {expected}, not {}",
                given[0]
            ),
        ));
    }
    let cfg = input.req_obj(expected)?;
    refuse_external_secret(&cfg, "clientSecret")?;
    let client_secret = cfg.opt_str_or_default("clientSecret", &CLIENT_SECRET)?;
    if creating && client_secret.is_none() {
        return Err(violation(
            &cfg.path("clientSecret"),
            "Member must not be null: warrant keeps the client secret sealed in its vault",
        ));
    }
    // Custom providers' clientId is a `DefaultClientIdType` ("" means not given).
    let client_id = if expected == "customOauth2ProviderConfig" {
        cfg.opt_str_or_default("clientId", &CLIENT_ID)?
    } else {
        cfg.opt_str("clientId", &CLIENT_ID)?
    };
    if client_id.is_none() && (creating || expected != "customOauth2ProviderConfig") {
        return Err(cfg.missing("clientId"));
    }

    let mut config = Oauth2Config {
        vendor: vendor.to_string(),
        member: expected.to_string(),
        client_id: client_id.map(str::to_string),
        oauth_discovery: Value::Null,
        client_authentication_method: None,
        on_behalf_of_token_exchange_config: None,
        tenant_id: None,
    };

    if expected == "customOauth2ProviderConfig" {
        parse_custom(&cfg, &mut config)?;
    } else {
        let info = vendor_info(vendor).expect("checked above");
        let tenant = if expected == "microsoftOauth2ProviderConfig" {
            cfg.opt_str("tenantId", &TENANT)?
        } else {
            None
        };
        config.tenant_id = tenant.map(str::to_string);
        let (mut issuer, mut auth, mut token) = match info.endpoints {
            Some((i, a, t)) => {
                let t_id = tenant.unwrap_or("common");
                (
                    Some(i.replace("{tenant}", t_id)),
                    Some(a.replace("{tenant}", t_id)),
                    Some(t.replace("{tenant}", t_id)),
                )
            }
            None => (None, None, None),
        };
        if expected == INCLUDED {
            for (name, slot) in [
                ("issuer", &mut issuer),
                ("authorizationEndpoint", &mut auth),
                ("tokenEndpoint", &mut token),
            ] {
                if let Some(v) = cfg.opt_str(name, &URL)? {
                    *slot = Some(v.to_string());
                } else if slot.is_none() {
                    return Err(violation(
                        &cfg.path(name),
                        &format!("Member must not be null for {vendor}, whose endpoints depend on your tenant"),
                    ));
                }
            }
        }
        config.oauth_discovery = json!({
            "authorizationServerMetadata": {
                "issuer": issuer,
                "authorizationEndpoint": auth,
                "tokenEndpoint": token,
                "responseTypes": ["code"],
                "tokenEndpointAuthMethods": info.token_auth_methods,
            }
        });
    }
    Ok(ParsedOauth2Config {
        config,
        client_secret,
    })
}

fn parse_custom(cfg: &Input<'_>, config: &mut Oauth2Config) -> Result<()> {
    for (member, what) in [
        ("privateEndpoint", "private endpoints (VPC Lattice)"),
        (
            "privateKeyJwtConfig",
            "private_key_jwt client authentication with AWS KMS keys",
        ),
        (
            "certificateConfigurations",
            "private CA certificates from S3 or Secrets Manager",
        ),
    ] {
        if cfg.has(member) {
            return Err(unsupported(&cfg.path(member), what));
        }
    }
    if let Some(list) = cfg.raw("privateEndpointOverrides") {
        if !matches!(list, Value::Array(a) if a.is_empty()) {
            return Err(unsupported(
                &cfg.path("privateEndpointOverrides"),
                "private endpoints (VPC Lattice)",
            ));
        }
    }
    if let Some(m) = cfg.opt_enum("clientAuthenticationMethod", &AUTH_METHODS)? {
        if m == "AWS_IAM_ID_TOKEN_JWT" || m == "PRIVATE_KEY_JWT" {
            return Err(unsupported(
                &cfg.path("clientAuthenticationMethod"),
                &format!("{m}; use CLIENT_SECRET_BASIC or CLIENT_SECRET_POST"),
            ));
        }
        config.client_authentication_method = Some(m.to_string());
    }
    let disc = cfg.req_obj("oauthDiscovery")?;
    let url = disc.opt_str("discoveryUrl", &DISCOVERY_URL)?;
    let meta = disc.opt_obj("authorizationServerMetadata")?;
    config.oauth_discovery = match (url, meta) {
        (Some(u), None) => json!({ "discoveryUrl": u }),
        (None, Some(m)) => {
            let mut out = Map::new();
            for name in ["issuer", "authorizationEndpoint", "tokenEndpoint"] {
                out.insert(
                    name.into(),
                    Value::String(m.req_str(name, &URL)?.to_string()),
                );
            }
            if let Some(rt) = m.opt_str_list("responseTypes", &StrRule::len(1, 64), 0, 16)? {
                out.insert("responseTypes".into(), json!(rt));
            }
            if let Some(am) = m.opt_str_list(
                "tokenEndpointAuthMethods",
                &StrRule::pattern(1, 64, "(client_secret_post|client_secret_basic)"),
                1,
                2,
            )? {
                out.insert("tokenEndpointAuthMethods".into(), json!(am));
            }
            json!({ "authorizationServerMetadata": out })
        }
        _ => {
            return Err(violation(
                disc.here(),
                "Member must set exactly one of discoveryUrl and authorizationServerMetadata",
            ))
        }
    };
    if let Some(obo) = cfg.opt_obj("onBehalfOfTokenExchangeConfig")? {
        obo.req_enum("grantType", &["TOKEN_EXCHANGE", "JWT_AUTHORIZATION_GRANT"])?;
        if let Some(tx) = obo.opt_obj("tokenExchangeGrantTypeConfig")? {
            let actor = tx.req_enum(
                "actorTokenContent",
                &["NONE", "M2M", "AWS_IAM_ID_TOKEN_JWT"],
            )?;
            if actor == "AWS_IAM_ID_TOKEN_JWT" {
                return Err(unsupported(
                    &tx.path("actorTokenContent"),
                    "AWS IAM identity tokens as actor tokens",
                ));
            }
            tx.opt_str_list("actorTokenScopes", &StrRule::len(1, 128), 0, 100)?;
        }
        if let Some(auth) = obo.opt_obj("onBehalfOfAuthenticationConfig")? {
            auth.req_enum("clientAuthenticationMethod", &["NO_CLIENT"])?;
        }
        config.on_behalf_of_token_exchange_config =
            cfg.raw("onBehalfOfTokenExchangeConfig").cloned();
    }
    Ok(())
}

impl Oauth2Config {
    /// On update: keep what the request left out from the stored configuration, when
    /// the vendor is unchanged.
    pub fn keep_unset_from(&mut self, old: &Oauth2Config) {
        if old.vendor != self.vendor {
            return;
        }
        if self.client_id.is_none() {
            self.client_id.clone_from(&old.client_id);
        }
        if self.client_authentication_method.is_none() {
            self.client_authentication_method
                .clone_from(&old.client_authentication_method);
        }
        if self.on_behalf_of_token_exchange_config.is_none() {
            self.on_behalf_of_token_exchange_config
                .clone_from(&old.on_behalf_of_token_exchange_config);
        }
    }

    /// The `Oauth2ProviderConfigOutput` structure.
    pub fn output(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("oauthDiscovery".into(), self.oauth_discovery.clone());
        if let Some(c) = &self.client_id {
            inner.insert("clientId".into(), json!(c));
        }
        if let Some(m) = &self.client_authentication_method {
            inner.insert("clientAuthenticationMethod".into(), json!(m));
        }
        if let Some(o) = &self.on_behalf_of_token_exchange_config {
            inner.insert("onBehalfOfTokenExchangeConfig".into(), o.clone());
        }
        let mut outer = Map::new();
        outer.insert(self.member.clone(), Value::Object(inner));
        Value::Object(outer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vendor: &str, v: Value) -> Result<Oauth2Config> {
        let i = Input::root(&v).unwrap();
        parse_oauth2_config(vendor, &i, true).map(|p| p.config)
    }

    #[test]
    fn catalog_covers_every_vendor_but_custom() {
        for v in VENDORS {
            assert_eq!(vendor_info(v).is_some(), v != "CustomOauth2", "{v}");
        }
    }

    #[test]
    fn builtin_vendor_gets_catalog_metadata() {
        let c = parse(
            "GoogleOauth2",
            json!({"googleOauth2ProviderConfig": {"clientId": "id", "clientSecret": "s"}}),
        )
        .unwrap();
        assert_eq!(
            c.oauth_discovery["authorizationServerMetadata"]["tokenEndpoint"],
            "https://oauth2.googleapis.com/token"
        );
        let out = c.output();
        assert_eq!(out["googleOauth2ProviderConfig"]["clientId"], "id");
        assert!(!out.to_string().contains("\"s\""));
    }

    #[test]
    fn microsoft_tenant_fills_endpoints() {
        let c = parse(
            "MicrosoftOauth2",
            json!({"microsoftOauth2ProviderConfig": {"clientId": "id", "clientSecret": "s", "tenantId": "contoso"}}),
        )
        .unwrap();
        assert_eq!(
            c.oauth_discovery["authorizationServerMetadata"]["issuer"],
            "https://login.microsoftonline.com/contoso/v2.0"
        );
    }

    #[test]
    fn wrong_member_missing_secret_and_tenant_vendors() {
        assert!(parse(
            "GoogleOauth2",
            json!({"githubOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s"}})
        )
        .is_err());
        assert!(parse("GoogleOauth2", json!({})).is_err());
        assert!(parse(
            "GoogleOauth2",
            json!({"googleOauth2ProviderConfig": {"clientId": "i"}})
        )
        .is_err());
        assert!(parse(
            "OktaOauth2",
            json!({"includedOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s"}})
        )
        .is_err());
        let okta = parse("OktaOauth2", json!({"includedOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s",
            "issuer": "https://x.okta.com", "authorizationEndpoint": "https://x.okta.com/a", "tokenEndpoint": "https://x.okta.com/t"}})).unwrap();
        assert_eq!(okta.member, INCLUDED);
        assert!(parse("GoogleOauth2", json!({"googleOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s", "clientSecretSource": "EXTERNAL"}})).is_err());
    }

    #[test]
    fn custom_discovery_rules() {
        let ok = parse("CustomOauth2", json!({"customOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s",
            "clientAuthenticationMethod": "CLIENT_SECRET_POST",
            "oauthDiscovery": {"discoveryUrl": "https://idp.example/.well-known/openid-configuration"}}})).unwrap();
        assert_eq!(
            ok.client_authentication_method.as_deref(),
            Some("CLIENT_SECRET_POST")
        );
        for bad in [
            json!({"discoveryUrl": "https://idp.example/openid"}),
            json!({}),
            json!({"discoveryUrl": "https://idp.example/.well-known/openid-configuration",
                   "authorizationServerMetadata": {"issuer": "https://a", "authorizationEndpoint": "https://a/a", "tokenEndpoint": "https://a/t"}}),
        ] {
            assert!(parse("CustomOauth2", json!({"customOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s", "oauthDiscovery": bad}})).is_err());
        }
        assert!(parse("CustomOauth2", json!({"customOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s",
            "clientAuthenticationMethod": "PRIVATE_KEY_JWT",
            "oauthDiscovery": {"discoveryUrl": "https://idp.example/.well-known/openid-configuration"}}})).is_err());
        assert!(parse("CustomOauth2", json!({"customOauth2ProviderConfig": {"clientId": "i", "clientSecret": "s",
            "privateEndpoint": {},
            "oauthDiscovery": {"discoveryUrl": "https://idp.example/.well-known/openid-configuration"}}})).is_err());
    }
}

#[cfg(test)]
mod quirk_tests {
    use super::*;

    #[test]
    fn every_preset_has_quirks_that_refresh_tokens_need() {
        for v in CATALOG {
            let q = vendor_quirks(v.vendor);
            assert!(q.default_lifetime_secs > 0, "{}", v.vendor);
            assert!(
                matches!(q.scope_param, "scope" | "user_scope"),
                "{}",
                v.vendor
            );
        }
        let g = vendor_quirks("GoogleOauth2");
        assert!(g.authorize_params.contains(&("access_type", "offline")));
        assert!(g.authorize_params.contains(&("prompt", "consent")));
        assert!(vendor_quirks("SlackOauth2").response.nested_user_token);
        assert_eq!(
            vendor_quirks("SalesforceOauth2").default_lifetime_secs,
            7200
        );
        assert_eq!(
            vendor_quirks("SalesforceOauth2").response.keep,
            ["instance_url"]
        );
        assert!(vendor_quirks("CognitoOauth2").offline_scopes.is_empty());
        assert_eq!(
            vendor_quirks("MicrosoftOauth2").offline_scopes,
            ["offline_access"]
        );
        assert_eq!(
            vendor_quirks("CustomOauth2").authorize_params,
            &[] as &[(&str, &str)]
        );
    }
}
