//! warrant's own operations, beyond the AWS API: a workload's provider allowlist and
//! the JWT authorizers it trusts.

use serde::Serialize;
use serde_json::{json, Value};

use super::control::{
    body, decode_token, encode_token, Operation, WorkloadBody, PROVIDER_NAME, WORKLOAD_NAME,
};
use super::data::canonical;
use super::{Caller, Service};
use crate::domain::authorizer::read_authorizers;
use crate::domain::input::{violation, Input, StrRule};
use crate::error::Result;
use warrant_inbound::wat::UserKey;
use warrant_store::AuditQuery;

impl Service {
    /// Put, get or delete the credential providers a workload may use. With an
    /// allowlist, every flow (API key, OAuth2) refuses providers not on it; without
    /// one, the caller's policy alone decides.
    pub(super) async fn workload_allowed_providers(
        &self,
        caller: &Caller,
        op: Operation,
        i: &Input<'_>,
    ) -> Result<Value> {
        let read = || {
            let v = i
                .opt_str_list("allowedProviders", &PROVIDER_NAME, 0, 100)?
                .ok_or_else(|| i.missing("allowedProviders"))?;
            Ok(canonical(v))
        };
        self.workload_setting(caller, op, i, "allowedProviders", read, |b| {
            &mut b.allowed_providers
        })
        .await
    }

    /// Put, get or delete the JWT authorizers a workload trusts for
    /// `GetWorkloadAccessTokenForJWT` (and, later, `CompleteResourceTokenAuth`).
    pub(super) async fn workload_authorizers(
        &self,
        caller: &Caller,
        op: Operation,
        i: &Input<'_>,
    ) -> Result<Value> {
        let read = || {
            i.refuse_unknown(&["workloadName", "authorizers"])?;
            let list = read_authorizers(i)?;
            for (n, a) in list.iter().enumerate() {
                // The outbound guard's static rules (scheme, literal addresses) now;
                // names are resolved and checked again at every fetch.
                self.http
                    .check_url(&a.custom_jwt_authorizer.discovery_url)
                    .map_err(|e| {
                        violation(
                            &format!(
                                "authorizers.{}.member.customJWTAuthorizer.discoveryUrl",
                                n + 1
                            ),
                            &format!("the outbound guard refuses it: {e}"),
                        )
                    })?;
            }
            Ok(list)
        };
        self.workload_setting(caller, op, i, "authorizers", read, |b| &mut b.authorizers)
            .await
    }

    /// One of warrant's own settings in a workload's body: `Get*` reads it, `Put*`
    /// replaces it with what `read` takes from the request (checked before anything
    /// else), `Delete*` removes it; `op` is authorized on the workload. Answers
    /// `{workloadName, member: value}`.
    async fn workload_setting<T: Serialize>(
        &self,
        caller: &Caller,
        op: Operation,
        i: &Input<'_>,
        member: &str,
        read: impl FnOnce() -> Result<T>,
        field: fn(&mut WorkloadBody) -> &mut Option<T>,
    ) -> Result<Value> {
        let name = i.req_str("workloadName", &WORKLOAD_NAME)?;
        let new = if op.name().starts_with("Put") {
            Some(read()?)
        } else {
            None
        };
        let rec = self.authorized_workload(caller, op, name).await?;
        let mut b: WorkloadBody = body(&rec)?;
        if !op.name().starts_with("Get") {
            *field(&mut b) = new;
            let rec = self.save_workload_body(caller, name, &b).await?;
            b = body(&rec)?;
        }
        Ok(json!({ "workloadName": name, member: field(&mut b) }))
    }

    /// Query the caller's account's audit events (`GET /warrant/v1/audit/events`).
    /// Every member arrives as a string (query parameters).
    pub(super) async fn list_audit_events(&self, caller: &Caller, i: &Input<'_>) -> Result<Value> {
        const USER: StrRule = StrRule::len(1, 1024);
        const OPERATION: StrRule = StrRule::pattern(1, 64, "[A-Za-z0-9]+");
        const NUMBER: StrRule = StrRule::pattern(1, 20, "[0-9]+");
        const TIME: StrRule = StrRule::len(1, 64);
        let arn = format!(
            "arn:aws:bedrock-agentcore:{}:{}:audit-log",
            self.settings.region, caller.account_id
        );
        caller.authorize(Operation::ListAuditEvents, &arn)?;
        // A misspelt filter must not silently widen the answer.
        i.refuse_unknown(&[
            "workload",
            "userId",
            "userIss",
            "userSub",
            "provider",
            "operation",
            "since",
            "until",
            "maxResults",
            "nextToken",
        ])?;
        let time = |name: &str| -> Result<Option<i64>> {
            match i.opt_str(name, &TIME)? {
                None => Ok(None),
                Some(t) => super::audit::parse_time(t).map(Some).ok_or_else(|| {
                    violation(&i.path(name), "Member must be RFC 3339 or Unix seconds")
                }),
            }
        };
        let user_key = match (
            i.opt_str("userId", &USER)?,
            i.opt_str("userIss", &USER)?,
            i.opt_str("userSub", &USER)?,
        ) {
            (None, None, None) => None,
            (Some(id), None, None) => Some(UserKey::UserId { user_id: id.into() }.vault_key()),
            (None, Some(iss), Some(sub)) => Some(
                UserKey::Jwt {
                    iss: iss.into(),
                    sub: sub.into(),
                }
                .vault_key(),
            ),
            _ => {
                return Err(violation(
                    "userId",
                    "give either userId, or both userIss and userSub",
                ))
            }
        };
        let max = match i.opt_str("maxResults", &NUMBER)? {
            None => 100,
            Some(n) => match n.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => return Err(violation("maxResults", "Member must be between 1 and 1000")),
            },
        };
        let after_id = match i.opt_str("nextToken", &StrRule::len(1, 256))? {
            None => None,
            Some(t) => Some(decode_token("audit", t)?.parse::<i64>().map_err(|_| {
                violation(
                    "nextToken",
                    "Member must be a token returned by a previous call",
                )
            })?),
        };
        let q = AuditQuery {
            account_id: Some(caller.account_id.clone()),
            workload: i.opt_str("workload", &WORKLOAD_NAME)?.map(str::to_string),
            user_key,
            provider: i.opt_str("provider", &PROVIDER_NAME)?.map(str::to_string),
            operation: i.opt_str("operation", &OPERATION)?.map(str::to_string),
            since_ms: time("since")?,
            until_ms: time("until")?,
            after_id,
            limit: max + 1,
            newest: false,
        };
        let mut rows = self.store.list_audit(&q).await?;
        let more = rows.len() > max as usize;
        rows.truncate(max as usize);
        let mut out = json!({
            "events": rows.iter().map(|r| super::audit::render(r, false)).collect::<Vec<_>>()
        });
        if more {
            if let Some(last) = rows.last() {
                out["nextToken"] = json!(encode_token("audit", &last.id.to_string()));
            }
        }
        Ok(out)
    }
}
