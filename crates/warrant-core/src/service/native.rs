//! warrant's own operations, beyond the AWS API: a workload's provider allowlist.

use super::control::{body, Operation, WorkloadBody, PROVIDER_NAME, WORKLOAD_NAME};
use super::data::canonical;
use super::{Caller, Service};
use crate::domain::input::Input;
use crate::error::Result;
use serde_json::{json, Value};

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
        let rec = self.authorized_workload(caller, op, name).await?;
        let mut b: WorkloadBody = body(&rec)?;
        if op == Operation::GetWorkloadAllowedProviders {
            return Ok(json!({ "workloadName": name, "allowedProviders": b.allowed_providers }));
        }
        b.allowed_providers = list;
        let rec = self.save_workload_body(caller, name, &b).await?;
        let b: WorkloadBody = body(&rec)?;
        Ok(json!({ "workloadName": name, "allowedProviders": b.allowed_providers }))
    }
}
