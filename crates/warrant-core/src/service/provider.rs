//! A credential provider's side of every grant: its endpoints (vendor catalog, stored
//! metadata or discovery), its client, and one token request, counted, for M2M, code
//! redemption and refresh alike.

use serde_json::Value;
use warrant_crypto::ExposeSecret;
use warrant_oauth::{AuthMethod, Granted, OutboundError, TokenRequest};
use warrant_store::ResourceRecord;

use super::data::provider_error;
use super::Service;
use crate::domain::vendor::{vendor_quirks, Oauth2Config};
use crate::error::{Error, Result};

/// The endpoints of a provider and how to authenticate at its token endpoint.
pub(super) struct Endpoints {
    pub issuer: Option<String>,
    pub authorization: Option<String>,
    pub token: String,
    pub auth: AuthMethod,
    /// RFC 9207: the provider always sends `iss` with its authorization responses.
    pub iss_required: bool,
}

impl Service {
    /// The URL the provider sends the browser back to: unique per provider.
    pub(super) fn callback_url(&self, provider: &ResourceRecord) -> String {
        format!(
            "{}/identities/oauth2/callback/{}",
            self.settings.public_url,
            provider.lookup_id.as_deref().unwrap_or_default()
        )
    }

    /// `--danger-vendor-endpoint`: a vendor preset's URL with its origin replaced.
    fn vendor_url(&self, vendor: &str, url: &str) -> String {
        let Some((_, origin)) = self
            .settings
            .vendor_endpoints
            .iter()
            .find(|(v, _)| v == vendor)
        else {
            return url.to_string();
        };
        match url::Url::parse(url) {
            Ok(u) => {
                let mut out = origin.clone();
                out.push_str(u.path());
                if let Some(q) = u.query() {
                    out.push('?');
                    out.push_str(q);
                }
                out
            }
            Err(_) => url.to_string(),
        }
    }

    /// A provider's endpoints: from its stored metadata, or from its discovery document.
    pub(super) async fn endpoints(&self, name: &str, cfg: &Oauth2Config) -> Result<Endpoints> {
        let disc = &cfg.oauth_discovery;
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (issuer, authorization, token, methods, iss_required) =
            if let Some(url) = disc.get("discoveryUrl").and_then(Value::as_str) {
                let m = self
                    .discovery
                    .metadata(url)
                    .await
                    .map_err(|e| provider_error(name, e))?;
                (
                    Some(m.issuer.clone()),
                    m.authorization_endpoint.clone(),
                    m.token_endpoint.clone(),
                    m.token_endpoint_auth_methods_supported
                        .clone()
                        .unwrap_or_default(),
                    m.authorization_response_iss_parameter_supported
                        .unwrap_or(false),
                )
            } else {
                let m = &disc["authorizationServerMetadata"];
                let s = |k: &str| m[k].as_str().map(|u| self.vendor_url(&cfg.vendor, u));
                (
                    m["issuer"].as_str().map(str::to_string),
                    s("authorizationEndpoint"),
                    s("tokenEndpoint"),
                    strings(&m["tokenEndpointAuthMethods"]),
                    false,
                )
            };
        let token = token.ok_or_else(|| {
            Error::validation(format!("Credential provider {name} has no token endpoint"))
        })?;
        let has = |m: &str| methods.iter().any(|x| x == m);
        let auth = match cfg.client_authentication_method.as_deref() {
            Some("CLIENT_SECRET_POST") => AuthMethod::Post,
            Some("CLIENT_SECRET_BASIC") => AuthMethod::Basic,
            // RFC 8414: client_secret_basic is the default when nothing is listed.
            _ if methods.is_empty() || has("client_secret_basic") => AuthMethod::Basic,
            _ if has("client_secret_post") => AuthMethod::Post,
            _ => {
                return Err(Error::validation(format!(
                    "Credential provider {name} supports neither client_secret_basic nor client_secret_post"
                )))
            }
        };
        Ok(Endpoints {
            issuer,
            authorization,
            token,
            auth,
            iss_required,
        })
    }

    /// One request to the provider's token endpoint with `params` (`grant_type` first),
    /// with the provider's client authentication and its vendor's response quirks. The
    /// outer error is warrant's (configuration, secret); the inner one the provider's
    /// answer, for callers that act on it (`invalid_grant`).
    pub(super) async fn token_grant(
        &self,
        provider: &ResourceRecord,
        cfg: &Oauth2Config,
        params: Vec<(&str, &str)>,
    ) -> Result<std::result::Result<Granted, OutboundError>> {
        let ep = self.endpoints(&provider.name, cfg).await?;
        let secret = self.open_secret(provider)?;
        let grant = params.first().map_or("", |p| p.1).to_string();
        let got = warrant_oauth::token_request(
            &self.http,
            &TokenRequest {
                token_endpoint: &ep.token,
                client_id: client_id(provider, cfg)?,
                client_secret: secret.expose_secret(),
                auth: ep.auth,
                params,
                quirks: vendor_quirks(&cfg.vendor).response,
            },
        )
        .await;
        let outcome = if got.is_ok() { "ok" } else { "error" };
        metrics::counter!("warrant_provider_token_requests_total", "grant" => grant, "outcome" => outcome)
            .increment(1);
        Ok(got)
    }
}

pub(super) fn client_id<'a>(provider: &ResourceRecord, cfg: &'a Oauth2Config) -> Result<&'a str> {
    cfg.client_id.as_deref().ok_or_else(|| {
        Error::validation(format!(
            "OAuth2 credential provider {} has no clientId; set one with UpdateOauth2CredentialProvider",
            provider.name
        ))
    })
}
