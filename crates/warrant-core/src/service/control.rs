//! The control-plane operations of `bedrock-agentcore-control` (Identity).

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};
use warrant_crypto::Aad;
use warrant_store::{Kind, ResourceRecord, ResourceUpdate};

use super::{Caller, Service};
use crate::domain::arn::{parse_taggable, DEFAULT_VAULT, TAGGABLE_ARN_PATTERN};
use crate::domain::input::{unsupported, violation, Input, StrRule};
use crate::domain::vendor::{parse_oauth2_config, refuse_external_secret, Oauth2Config, VENDORS};
use crate::error::{Error, Result};

macro_rules! operations {
    (aws: [$($op:ident),* $(,)?], native: [$($nop:ident),* $(,)?]) => {
        /// Every operation warrant answers: the AWS ones, then warrant's own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($op,)* $($nop,)* }
        impl Operation {
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op),)*
                    $(Operation::$nop => stringify!($nop),)*
                }
            }
            /// The IAM action a policy names: `bedrock-agentcore:{name}` for the AWS
            /// operations, `warrant:{name}` for warrant's own.
            pub fn action(self) -> &'static str {
                match self {
                    $(Operation::$op => concat!("bedrock-agentcore:", stringify!($op)),)*
                    $(Operation::$nop => concat!("warrant:", stringify!($nop)),)*
                }
            }
        }
    };
}

operations!(
    aws: [
        CreateWorkloadIdentity,
        GetWorkloadIdentity,
        UpdateWorkloadIdentity,
        DeleteWorkloadIdentity,
        ListWorkloadIdentities,
        CreateOauth2CredentialProvider,
        GetOauth2CredentialProvider,
        UpdateOauth2CredentialProvider,
        DeleteOauth2CredentialProvider,
        ListOauth2CredentialProviders,
        CreateApiKeyCredentialProvider,
        GetApiKeyCredentialProvider,
        UpdateApiKeyCredentialProvider,
        DeleteApiKeyCredentialProvider,
        ListApiKeyCredentialProviders,
        GetTokenVault,
        SetTokenVaultCMK,
        ResetTokenVaultKeyMaterial,
        TagResource,
        UntagResource,
        ListTagsForResource,
        GetWorkloadAccessToken,
        GetWorkloadAccessTokenForUserId,
        GetWorkloadAccessTokenForJWT,
        GetResourceApiKey,
        GetResourceOauth2Token,
        CompleteResourceTokenAuth,
    ],
    native: [
        PutWorkloadAllowedProviders,
        GetWorkloadAllowedProviders,
        DeleteWorkloadAllowedProviders,
        PutWorkloadAuthorizers,
        GetWorkloadAuthorizers,
        DeleteWorkloadAuthorizers,
        ListAuditEvents,
    ]
);

pub(super) const WORKLOAD_NAME: StrRule = StrRule::pattern(3, 255, "[A-Za-z0-9_.-]+");
pub(super) const PROVIDER_NAME: StrRule = StrRule::pattern(1, 128, r"[a-zA-Z0-9\-_]+");
pub(super) const RETURN_URL: StrRule = StrRule::pattern(1, 2048, r"\w+:(\/?\/?)[^\s]+");
const TAG_KEY: StrRule = StrRule::pattern(1, 128, r"[a-zA-Z0-9\s._:/=+@-]*");
const TAG_VALUE: StrRule = StrRule::pattern(0, 256, r"[a-zA-Z0-9\s._:/=+@-]*");
const TAGGABLE_ARN: StrRule = StrRule::pattern(20, 1011, TAGGABLE_ARN_PATTERN);
const VAULT_ID: StrRule = StrRule::pattern(1, 64, r"[a-zA-Z0-9\-_]+");
const KMS_KEY_ARN: StrRule = StrRule::pattern(
    1,
    2048,
    r"arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}",
);
const API_KEY: StrRule = StrRule::len(1, 65536);
/// AWS's limit on tags per resource.
pub const MAX_TAGS: usize = 50;

fn secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn tags(input: &Input<'_>) -> Result<Vec<(String, String)>> {
    Ok(input
        .opt_str_map("tags", &TAG_KEY, &TAG_VALUE, MAX_TAGS)?
        .unwrap_or_default())
}

/// An opaque page token: where the previous page ended (a name, an id), for one
/// listing (`scope`: a resource kind, `audit`), so a token of one listing is refused by
/// another.
pub(super) fn encode_token(scope: &str, last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1\n{scope}\n{last}"))
}

pub(super) fn decode_token(scope: &str, token: &str) -> Result<String> {
    let bad = || {
        Error::validation("1 validation error detected: Value at 'nextToken' failed to satisfy constraint: Member must be a token returned by a previous call")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(k), Some(last)) if k == scope => Ok(last.to_string()),
        _ => Err(bad()),
    }
}

pub(super) fn not_found(what: &str, name: &str) -> Error {
    Error::NotFound(format!("{what} {name} does not exist"))
}

fn conflict(what: &str, name: &str) -> Error {
    Error::Conflict(format!("{what} {name} already exists"))
}

fn map_conflict<'a>(
    what: &'static str,
    name: &'a str,
) -> impl FnOnce(warrant_store::StoreError) -> Error + 'a {
    move |e| match e {
        warrant_store::StoreError::Conflict => conflict(what, name),
        other => other.into(),
    }
}

fn new_suffix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id[..6].to_string()
}

pub(super) fn body<T: serde::de::DeserializeOwned>(rec: &ResourceRecord) -> Result<T> {
    serde_json::from_str(&rec.body)
        .map_err(|e| Error::Internal(format!("stored body of {}: {e}", rec.arn)))
}

/// Stored body of a workload identity.
#[derive(serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WorkloadBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_resource_oauth2_return_urls: Option<Vec<String>>,
    /// warrant's own: the credential providers (by name) this workload may use;
    /// `None` means any the caller's policy allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_providers: Option<Vec<String>>,
    /// warrant's own: the JWT authorizers whose users may get this workload's tokens
    /// (`GetWorkloadAccessTokenForJWT`); `None`: no JWT user is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizers: Option<Vec<warrant_inbound::jwt::policy::AuthorizerConfiguration>>,
}

/// Stored body of an OAuth2 credential provider.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Oauth2Body {
    pub config: Oauth2Config,
    pub secret_suffix: String,
}

/// Stored body of an API-key credential provider.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyBody {
    secret_suffix: String,
}

/// Stored body of a token vault.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct VaultBody {
    key_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_arn: Option<String>,
}

pub(super) fn to_body<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("bodies serialize")
}

impl Service {
    /// Run `op` for `caller` on the request `input` (the JSON body, with any URI and
    /// query members merged in by the API layer), as a console request, recording its
    /// audit event (see [`Service::call_as`]). Returns the response body.
    pub async fn call(&self, caller: &Caller, op: Operation, input: &Value) -> Result<Value> {
        self.call_as(caller, op, input, &super::audit::RequestMeta::cli())
            .await
    }

    /// Run `op` without recording anything.
    pub(super) async fn dispatch(
        &self,
        caller: &Caller,
        op: Operation,
        input: &Value,
        meta: &super::audit::RequestMeta,
    ) -> Result<Value> {
        let i = Input::root(input)?;
        use Operation::*;
        match op {
            GetWorkloadAccessToken
            | GetWorkloadAccessTokenForUserId
            | GetWorkloadAccessTokenForJWT => self.get_workload_access_token(caller, op, &i).await,
            GetResourceApiKey => self.get_resource_api_key(caller, &i).await,
            GetResourceOauth2Token => self.get_resource_oauth2_token(caller, &i, meta.wait).await,
            CompleteResourceTokenAuth => self.complete_resource_token_auth(caller, &i).await,
            PutWorkloadAllowedProviders
            | GetWorkloadAllowedProviders
            | DeleteWorkloadAllowedProviders => {
                self.workload_allowed_providers(caller, op, &i).await
            }
            PutWorkloadAuthorizers | GetWorkloadAuthorizers | DeleteWorkloadAuthorizers => {
                self.workload_authorizers(caller, op, &i).await
            }
            ListAuditEvents => self.list_audit_events(caller, &i).await,
            CreateWorkloadIdentity => self.create_workload(caller, &i).await,
            GetWorkloadIdentity => self.get_workload(caller, &i).await,
            UpdateWorkloadIdentity => self.update_workload(caller, &i).await,
            DeleteWorkloadIdentity => {
                self.delete_named(caller, op, Kind::WorkloadIdentity, &i)
                    .await
            }
            ListWorkloadIdentities => {
                self.list_named(caller, op, Kind::WorkloadIdentity, &i, 20)
                    .await
            }
            CreateOauth2CredentialProvider => self.create_oauth2(caller, &i).await,
            GetOauth2CredentialProvider => self.get_oauth2(caller, &i).await,
            UpdateOauth2CredentialProvider => self.update_oauth2(caller, &i).await,
            DeleteOauth2CredentialProvider => {
                self.delete_named(caller, op, Kind::Oauth2Provider, &i)
                    .await
            }
            ListOauth2CredentialProviders => {
                self.list_named(caller, op, Kind::Oauth2Provider, &i, 20)
                    .await
            }
            CreateApiKeyCredentialProvider => self.create_apikey(caller, &i).await,
            GetApiKeyCredentialProvider => self.get_apikey(caller, &i).await,
            UpdateApiKeyCredentialProvider => self.update_apikey(caller, &i).await,
            DeleteApiKeyCredentialProvider => {
                self.delete_named(caller, op, Kind::ApiKeyProvider, &i)
                    .await
            }
            ListApiKeyCredentialProviders => {
                self.list_named(caller, op, Kind::ApiKeyProvider, &i, 100)
                    .await
            }
            GetTokenVault => self.get_token_vault(caller, &i).await,
            SetTokenVaultCMK => self.set_token_vault_cmk(caller, &i).await,
            ResetTokenVaultKeyMaterial => self.reset_token_vault(caller, &i).await,
            TagResource => self.tag_resource(caller, &i).await,
            UntagResource => self.untag_resource(caller, &i).await,
            ListTagsForResource => self.list_tags(caller, &i).await,
        }
    }

    fn name_rule(kind: Kind) -> &'static StrRule {
        match kind {
            Kind::WorkloadIdentity => &WORKLOAD_NAME,
            _ => &PROVIDER_NAME,
        }
    }

    fn what(kind: Kind) -> &'static str {
        match kind {
            Kind::WorkloadIdentity => "Workload identity",
            Kind::Oauth2Provider => "OAuth2 credential provider",
            Kind::ApiKeyProvider => "API key credential provider",
            Kind::TokenVault => "Token vault",
        }
    }

    /// Read `name`, authorize `op` on the resource's ARN, and return both.
    fn named<'a>(
        &self,
        caller: &Caller,
        op: Operation,
        kind: Kind,
        i: &Input<'a>,
    ) -> Result<(&'a str, String)> {
        let name = i.req_str("name", Self::name_rule(kind))?;
        let arn = self.scope(&caller.account_id).resource(kind, name);
        caller.authorize(op, &arn)?;
        Ok((name, arn))
    }

    pub(super) async fn load(
        &self,
        caller: &Caller,
        kind: Kind,
        name: &str,
    ) -> Result<Arc<ResourceRecord>> {
        self.store
            .get_resource(&caller.account_id, kind, name)
            .await?
            .ok_or_else(|| not_found(Self::what(kind), name))
    }

    fn new_record(
        &self,
        caller: &Caller,
        kind: Kind,
        name: &str,
        arn: String,
        body: String,
    ) -> ResourceRecord {
        let now = self.now();
        ResourceRecord {
            account_id: caller.account_id.clone(),
            kind,
            name: name.to_string(),
            arn,
            body,
            secret_sealed: None,
            lookup_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn seal_for(&self, rec: &ResourceRecord, secret: &str) -> Result<Vec<u8>> {
        Ok(self.keyring.seal(
            &Aad {
                account: &rec.account_id,
                kind: rec.kind.as_str(),
                resource: &rec.name,
            },
            secret.as_bytes(),
        )?)
    }

    async fn delete_named(
        &self,
        caller: &Caller,
        op: Operation,
        kind: Kind,
        i: &Input<'_>,
    ) -> Result<Value> {
        let (name, _) = self.named(caller, op, kind, i)?;
        if self
            .store
            .delete_resource(&caller.account_id, kind, name)
            .await?
        {
            Ok(json!({}))
        } else {
            Err(not_found(Self::what(kind), name))
        }
    }

    async fn list_named(
        &self,
        caller: &Caller,
        op: Operation,
        kind: Kind,
        i: &Input<'_>,
        max: i64,
    ) -> Result<Value> {
        let limit = i.opt_int("maxResults", 1, max)?.unwrap_or(max) as u32;
        let after = match i.opt_str("nextToken", &StrRule::len(1, 2048))? {
            Some(t) => Some(decode_token(kind.as_str(), t)?),
            None => None,
        };
        let scope = self.scope(&caller.account_id);
        let list_arn = match kind {
            Kind::WorkloadIdentity => scope.workload_directory(),
            _ => scope.token_vault(DEFAULT_VAULT),
        };
        caller.authorize(op, &list_arn)?;
        // One extra row tells whether another page exists.
        let mut rows = self
            .store
            .list_resources(&caller.account_id, kind, after.as_deref(), limit + 1)
            .await?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| encode_token(kind.as_str(), &r.name))
        } else {
            None
        };
        let (member, items): (&str, Vec<Value>) = match kind {
            Kind::WorkloadIdentity => (
                "workloadIdentities",
                rows.iter()
                    .map(|r| json!({"name": r.name, "workloadIdentityArn": r.arn}))
                    .collect(),
            ),
            Kind::Oauth2Provider => (
                "credentialProviders",
                rows.iter()
                    .map(|r| {
                        let b: Oauth2Body = body(r)?;
                        Ok(json!({
                            "name": r.name,
                            "credentialProviderVendor": b.config.vendor,
                            "credentialProviderArn": r.arn,
                            "createdTime": secs(r.created_at),
                            "lastUpdatedTime": secs(r.updated_at),
                        }))
                    })
                    .collect::<Result<_>>()?,
            ),
            _ => (
                "credentialProviders",
                rows.iter()
                    .map(|r| {
                        json!({
                            "name": r.name,
                            "credentialProviderArn": r.arn,
                            "createdTime": secs(r.created_at),
                            "lastUpdatedTime": secs(r.updated_at),
                        })
                    })
                    .collect(),
            ),
        };
        let mut out = Map::new();
        out.insert(member.into(), Value::Array(items));
        if let Some(n) = next {
            out.insert("nextToken".into(), json!(n));
        }
        Ok(Value::Object(out))
    }

    // ---- workload identities ----

    fn workload_output(rec: &ResourceRecord, with_times: bool) -> Result<Value> {
        let b: WorkloadBody = body(rec)?;
        let mut out = json!({"name": rec.name, "workloadIdentityArn": rec.arn});
        if let Some(urls) = b.allowed_resource_oauth2_return_urls {
            out["allowedResourceOauth2ReturnUrls"] = json!(urls);
        }
        if with_times {
            out["createdTime"] = secs(rec.created_at);
            out["lastUpdatedTime"] = secs(rec.updated_at);
        }
        Ok(out)
    }

    fn return_urls(i: &Input<'_>) -> Result<Option<Vec<String>>> {
        i.opt_str_list(
            "allowedResourceOauth2ReturnUrls",
            &RETURN_URL,
            0,
            usize::MAX,
        )
    }

    async fn create_workload(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &WORKLOAD_NAME)?;
        let urls = Self::return_urls(i)?;
        let tags = tags(i)?;
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::WorkloadIdentity, name);
        caller.authorize(Operation::CreateWorkloadIdentity, &arn)?;
        let rec = self.new_record(
            caller,
            Kind::WorkloadIdentity,
            name,
            arn,
            to_body(&WorkloadBody {
                allowed_resource_oauth2_return_urls: urls,
                allowed_providers: None,
                authorizers: None,
            }),
        );
        self.store
            .insert_resource(&rec, &tags)
            .await
            .map_err(map_conflict("Workload identity", name))?;
        Self::workload_output(&rec, false)
    }

    async fn get_workload(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let (name, _) = self.named(
            caller,
            Operation::GetWorkloadIdentity,
            Kind::WorkloadIdentity,
            i,
        )?;
        let rec = self.load(caller, Kind::WorkloadIdentity, name).await?;
        Self::workload_output(&rec, true)
    }

    async fn update_workload(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &WORKLOAD_NAME)?;
        let urls = Self::return_urls(i)?;
        let old = self
            .authorized_workload(caller, Operation::UpdateWorkloadIdentity, name)
            .await?;
        let mut b: WorkloadBody = body(&old)?;
        if urls.is_some() {
            b.allowed_resource_oauth2_return_urls = urls;
        }
        let rec = self.save_workload_body(caller, name, &b).await?;
        Self::workload_output(&rec, true)
    }

    /// Authorize `op` on the workload `name` and load it.
    pub(super) async fn authorized_workload(
        &self,
        caller: &Caller,
        op: Operation,
        name: &str,
    ) -> Result<Arc<ResourceRecord>> {
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::WorkloadIdentity, name);
        caller.authorize(op, &arn)?;
        self.load(caller, Kind::WorkloadIdentity, name).await
    }

    /// Store a workload's new body.
    pub(super) async fn save_workload_body(
        &self,
        caller: &Caller,
        name: &str,
        b: &WorkloadBody,
    ) -> Result<ResourceRecord> {
        self.store
            .update_resource(
                &caller.account_id,
                Kind::WorkloadIdentity,
                name,
                &ResourceUpdate {
                    body: to_body(b),
                    secret_sealed: None,
                    updated_at: self.now(),
                },
            )
            .await?
            .ok_or_else(|| not_found("Workload identity", name))
    }

    // ---- OAuth2 credential providers ----

    /// The provider as Create (`full` false) or Get/Update (`full` true) answer it.
    fn oauth2_output(&self, rec: &ResourceRecord, full: bool) -> Result<Value> {
        let b: Oauth2Body = body(rec)?;
        let scope = self.scope(&rec.account_id);
        let mut out = json!({
            "clientSecretArn": {"secretArn": scope.secret("oauth2", &rec.name, &b.secret_suffix)},
            "name": rec.name,
            "credentialProviderArn": rec.arn,
            "callbackUrl": self.callback_url(rec),
            "oauth2ProviderConfigOutput": b.config.output(),
            "status": "READY",
        });
        if full {
            out["credentialProviderVendor"] = json!(b.config.vendor);
            out["createdTime"] = secs(rec.created_at);
            out["lastUpdatedTime"] = secs(rec.updated_at);
        }
        Ok(out)
    }

    async fn create_oauth2(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &PROVIDER_NAME)?;
        let vendor = i.req_enum("credentialProviderVendor", &VENDORS)?;
        let cfg = i.req_obj("oauth2ProviderConfigInput")?;
        let parsed = parse_oauth2_config(vendor, &cfg, true)?;
        let tags = tags(i)?;
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::Oauth2Provider, name);
        caller.authorize(Operation::CreateOauth2CredentialProvider, &arn)?;
        let mut rec = self.new_record(
            caller,
            Kind::Oauth2Provider,
            name,
            arn,
            to_body(&Oauth2Body {
                config: parsed.config,
                secret_suffix: new_suffix(),
            }),
        );
        rec.lookup_id = Some(uuid::Uuid::new_v4().to_string());
        let secret = parsed.client_secret.expect("required on create");
        rec.secret_sealed = Some(self.seal_for(&rec, secret)?);
        self.store
            .insert_resource(&rec, &tags)
            .await
            .map_err(map_conflict("OAuth2 credential provider", name))?;
        self.oauth2_output(&rec, false)
    }

    async fn get_oauth2(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let (name, _) = self.named(
            caller,
            Operation::GetOauth2CredentialProvider,
            Kind::Oauth2Provider,
            i,
        )?;
        let rec = self.load(caller, Kind::Oauth2Provider, name).await?;
        self.oauth2_output(&rec, true)
    }

    async fn update_oauth2(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &PROVIDER_NAME)?;
        let vendor = i.req_enum("credentialProviderVendor", &VENDORS)?;
        let cfg = i.req_obj("oauth2ProviderConfigInput")?;
        let parsed = parse_oauth2_config(vendor, &cfg, false)?;
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::Oauth2Provider, name);
        caller.authorize(Operation::UpdateOauth2CredentialProvider, &arn)?;
        let old = self.load(caller, Kind::Oauth2Provider, name).await?;
        let old_body: Oauth2Body = body(&old)?;
        let mut config = parsed.config;
        if config.vendor != old_body.config.vendor && parsed.client_secret.is_none() {
            return Err(violation(
                "oauth2ProviderConfigInput",
                "Member must carry clientSecret when credentialProviderVendor changes",
            ));
        }
        config.keep_unset_from(&old_body.config);
        if config.client_id.is_none() {
            return Err(cfg.missing("clientId"));
        }
        let sealed = match parsed.client_secret {
            Some(s) => Some(self.seal_for(&old, s)?),
            None => None,
        };
        let rec = self
            .store
            .update_resource(
                &caller.account_id,
                Kind::Oauth2Provider,
                name,
                &ResourceUpdate {
                    body: to_body(&Oauth2Body {
                        config,
                        secret_suffix: old_body.secret_suffix,
                    }),
                    secret_sealed: sealed,
                    updated_at: self.now(),
                },
            )
            .await?
            .ok_or_else(|| not_found("OAuth2 credential provider", name))?;
        self.oauth2_output(&rec, true)
    }

    // ---- API-key credential providers ----

    fn apikey_output(&self, rec: &ResourceRecord, with_times: bool) -> Result<Value> {
        let b: ApiKeyBody = body(rec)?;
        let mut out = json!({
            "apiKeySecretArn": {"secretArn": self.scope(&rec.account_id).secret("apikey", &rec.name, &b.secret_suffix)},
            "name": rec.name,
            "credentialProviderArn": rec.arn,
        });
        if with_times {
            out["createdTime"] = secs(rec.created_at);
            out["lastUpdatedTime"] = secs(rec.updated_at);
        }
        Ok(out)
    }

    fn api_key<'a>(i: &Input<'a>) -> Result<Option<&'a str>> {
        refuse_external_secret(i, "apiKeySecret")?;
        i.opt_str_or_default("apiKey", &API_KEY)
    }

    async fn create_apikey(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &PROVIDER_NAME)?;
        let key = Self::api_key(i)?.ok_or_else(|| i.missing("apiKey"))?;
        let tags = tags(i)?;
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::ApiKeyProvider, name);
        caller.authorize(Operation::CreateApiKeyCredentialProvider, &arn)?;
        let mut rec = self.new_record(
            caller,
            Kind::ApiKeyProvider,
            name,
            arn,
            to_body(&ApiKeyBody {
                secret_suffix: new_suffix(),
            }),
        );
        rec.secret_sealed = Some(self.seal_for(&rec, key)?);
        self.store
            .insert_resource(&rec, &tags)
            .await
            .map_err(map_conflict("API key credential provider", name))?;
        self.apikey_output(&rec, false)
    }

    async fn get_apikey(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let (name, _) = self.named(
            caller,
            Operation::GetApiKeyCredentialProvider,
            Kind::ApiKeyProvider,
            i,
        )?;
        let rec = self.load(caller, Kind::ApiKeyProvider, name).await?;
        self.apikey_output(&rec, true)
    }

    async fn update_apikey(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let name = i.req_str("name", &PROVIDER_NAME)?;
        let key = Self::api_key(i)?;
        let arn = self
            .scope(&caller.account_id)
            .resource(Kind::ApiKeyProvider, name);
        caller.authorize(Operation::UpdateApiKeyCredentialProvider, &arn)?;
        let old = self.load(caller, Kind::ApiKeyProvider, name).await?;
        let sealed = match key {
            Some(k) => Some(self.seal_for(&old, k)?),
            None => None,
        };
        let rec = self
            .store
            .update_resource(
                &caller.account_id,
                Kind::ApiKeyProvider,
                name,
                &ResourceUpdate {
                    body: old.body.clone(),
                    secret_sealed: sealed,
                    updated_at: self.now(),
                },
            )
            .await?
            .ok_or_else(|| not_found("API key credential provider", name))?;
        self.apikey_output(&rec, true)
    }

    // ---- token vault ----

    fn vault_id<'a>(i: &Input<'a>, required: bool) -> Result<&'a str> {
        let id = if required {
            i.req_str("tokenVaultId", &VAULT_ID)?
        } else {
            i.opt_str("tokenVaultId", &VAULT_ID)?
                .unwrap_or(DEFAULT_VAULT)
        };
        Ok(id)
    }

    /// The account's vault, created on first use (every account has `default`).
    async fn vault(&self, caller: &Caller, id: &str) -> Result<Arc<ResourceRecord>> {
        if id != DEFAULT_VAULT {
            return Err(not_found("Token vault", id));
        }
        if let Some(r) = self
            .store
            .get_resource(&caller.account_id, Kind::TokenVault, id)
            .await?
        {
            return Ok(r);
        }
        let arn = self.scope(&caller.account_id).token_vault(id);
        let rec = self.new_record(
            caller,
            Kind::TokenVault,
            id,
            arn,
            to_body(&VaultBody {
                key_type: "ServiceManagedKey".into(),
                kms_key_arn: None,
            }),
        );
        match self.store.insert_resource(&rec, &[]).await {
            Ok(()) | Err(warrant_store::StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        self.load(caller, Kind::TokenVault, id).await
    }

    fn vault_output(rec: &ResourceRecord) -> Result<Value> {
        let b: VaultBody = body(rec)?;
        let mut kms = json!({"keyType": b.key_type});
        if let Some(k) = b.kms_key_arn {
            kms["kmsKeyArn"] = json!(k);
        }
        Ok(json!({
            "tokenVaultId": rec.name,
            "kmsConfiguration": kms,
            "lastModifiedDate": secs(rec.updated_at),
        }))
    }

    async fn get_token_vault(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let id = Self::vault_id(i, false)?;
        caller.authorize(
            Operation::GetTokenVault,
            &self.scope(&caller.account_id).token_vault(id),
        )?;
        Self::vault_output(&*self.vault(caller, id).await?)
    }

    async fn set_token_vault_cmk(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let id = Self::vault_id(i, false)?;
        let kms = i.req_obj("kmsConfiguration")?;
        let key_type = kms.req_enum("keyType", &["CustomerManagedKey", "ServiceManagedKey"])?;
        let key_arn = kms.opt_str("kmsKeyArn", &KMS_KEY_ARN)?;
        caller.authorize(
            Operation::SetTokenVaultCMK,
            &self.scope(&caller.account_id).token_vault(id),
        )?;
        if key_type == "CustomerManagedKey" {
            return Err(unsupported(
                &kms.path("keyType"),
                "CustomerManagedKey is not yet supported; the vault is sealed with warrant's own master key (ServiceManagedKey)",
            ));
        }
        if key_arn.is_some() {
            return Err(violation(
                "kmsConfiguration.kmsKeyArn",
                "Member must be null when keyType is ServiceManagedKey",
            ));
        }
        self.vault(caller, id).await?;
        let rec = self
            .store
            .update_resource(
                &caller.account_id,
                Kind::TokenVault,
                id,
                &ResourceUpdate {
                    body: to_body(&VaultBody {
                        key_type: key_type.into(),
                        kms_key_arn: None,
                    }),
                    secret_sealed: None,
                    updated_at: self.now(),
                },
            )
            .await?
            .ok_or_else(|| not_found("Token vault", id))?;
        Self::vault_output(&rec)
    }

    async fn reset_token_vault(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let id = Self::vault_id(i, true)?;
        caller.authorize(
            Operation::ResetTokenVaultKeyMaterial,
            &self.scope(&caller.account_id).token_vault(id),
        )?;
        let rec = self.vault(caller, id).await?;
        let b: VaultBody = body(&rec)?;
        Err(Error::validation(format!(
            "Token vault {id} uses a {}; there is no customer managed key material to reset",
            b.key_type
        )))
    }

    // ---- tags ----

    /// Read and authorize `resourceArn`, and check the resource exists.
    async fn tagged(&self, caller: &Caller, op: Operation, i: &Input<'_>) -> Result<String> {
        let arn = i.req_str("resourceArn", &TAGGABLE_ARN)?;
        caller.authorize(op, arn)?;
        let scope = self.scope(&caller.account_id);
        let (kind, name) = parse_taggable(&scope, arn)
            .ok_or_else(|| Error::NotFound(format!("Resource {arn} does not exist")))?;
        if self
            .store
            .get_resource(&caller.account_id, kind, &name)
            .await?
            .is_none()
        {
            return Err(Error::NotFound(format!("Resource {arn} does not exist")));
        }
        Ok(arn.to_string())
    }

    async fn tag_resource(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let tags = i
            .opt_str_map("tags", &TAG_KEY, &TAG_VALUE, MAX_TAGS)?
            .ok_or_else(|| i.missing("tags"))?;
        let arn = self.tagged(caller, Operation::TagResource, i).await?;
        self.store
            .tag_resource(&caller.account_id, &arn, &tags, MAX_TAGS)
            .await?;
        Ok(json!({}))
    }

    async fn untag_resource(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let keys = i
            .opt_str_list("tagKeys", &TAG_KEY, 0, 200)?
            .ok_or_else(|| i.missing("tagKeys"))?;
        let arn = self.tagged(caller, Operation::UntagResource, i).await?;
        self.store
            .untag_resource(&caller.account_id, &arn, &keys)
            .await?;
        Ok(json!({}))
    }

    async fn list_tags(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        let arn = self
            .tagged(caller, Operation::ListTagsForResource, i)
            .await?;
        let tags: Map<String, Value> = self
            .store
            .list_tags(&caller.account_id, &arn)
            .await?
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Ok(json!({ "tags": tags }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let (wl, ak) = (
            Kind::WorkloadIdentity.as_str(),
            Kind::ApiKeyProvider.as_str(),
        );
        let t = encode_token(wl, "abc");
        assert_eq!(decode_token(wl, &t).unwrap(), "abc");
        assert!(decode_token(ak, &t).is_err());
        assert!(decode_token(wl, "!!!").is_err());
        assert!(decode_token(wl, "aGVsbG8").is_err());
    }
}
