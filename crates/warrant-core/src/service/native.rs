//! warrant's own operations, beyond the AWS API: a workload's provider allowlist and
//! the JWT authorizers it trusts.

use serde::Serialize;
use serde_json::{json, Value};

use super::control::{body, Operation, WorkloadBody, PROVIDER_NAME, WORKLOAD_NAME};
use super::data::canonical;
use super::{Caller, Service};
use crate::domain::authorizer::read_authorizers;
use crate::domain::input::{violation, Input};
use crate::error::Result;

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
        let name = i.req_str("workloadName", &WORKLOAD_NAME)?;
        let list = if op == Operation::PutWorkloadAllowedProviders {
            let v = i
                .opt_str_list("allowedProviders", &PROVIDER_NAME, 0, 100)?
                .ok_or_else(|| i.missing("allowedProviders"))?;
            Some(canonical(v))
        } else {
            None
        };
        let get = op == Operation::GetWorkloadAllowedProviders;
        self.workload_setting(caller, op, name, get, list, "allowedProviders", |b| {
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
        let name = i.req_str("workloadName", &WORKLOAD_NAME)?;
        let list = if op == Operation::PutWorkloadAuthorizers {
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
            Some(list)
        } else {
            None
        };
        let get = op == Operation::GetWorkloadAuthorizers;
        self.workload_setting(caller, op, name, get, list, "authorizers", |b| {
            &mut b.authorizers
        })
        .await
    }

    /// Read (`get`) or replace one of warrant's own settings in a workload's body,
    /// after authorizing `op` on the workload; answers `{workloadName, member: value}`.
    #[allow(clippy::too_many_arguments)]
    async fn workload_setting<T: Serialize>(
        &self,
        caller: &Caller,
        op: Operation,
        name: &str,
        get: bool,
        new: Option<T>,
        member: &str,
        field: fn(&mut WorkloadBody) -> &mut Option<T>,
    ) -> Result<Value> {
        let rec = self.authorized_workload(caller, op, name).await?;
        let mut b: WorkloadBody = body(&rec)?;
        if !get {
            *field(&mut b) = new;
            let rec = self.save_workload_body(caller, name, &b).await?;
            b = body(&rec)?;
        }
        Ok(json!({ "workloadName": name, member: field(&mut b) }))
    }
}
