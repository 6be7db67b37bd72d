//! ARNs in AWS's form, under service `bedrock-agentcore`, partition `aws`, and the
//! configured region; the account is the caller's.

use crate::domain::input::matches_pattern;
use warrant_store::Kind;

/// The vault every account has; AWS names it `default` too.
pub const DEFAULT_VAULT: &str = "default";

/// Partition, region and account: what every ARN of one account shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

impl Scope<'_> {
    fn prefix(&self) -> String {
        format!(
            "arn:aws:bedrock-agentcore:{}:{}:",
            self.region, self.account
        )
    }

    pub fn workload_directory(&self) -> String {
        format!("{}workload-identity-directory/default", self.prefix())
    }

    pub fn token_vault(&self, vault: &str) -> String {
        format!("{}token-vault/{vault}", self.prefix())
    }

    /// The ARN of a named resource of `kind`.
    pub fn resource(&self, kind: Kind, name: &str) -> String {
        match kind {
            Kind::WorkloadIdentity => {
                format!("{}/workload-identity/{name}", self.workload_directory())
            }
            Kind::Oauth2Provider => format!(
                "{}/oauth2credentialprovider/{name}",
                self.token_vault(DEFAULT_VAULT)
            ),
            Kind::ApiKeyProvider => format!(
                "{}/apikeycredentialprovider/{name}",
                self.token_vault(DEFAULT_VAULT)
            ),
            Kind::TokenVault => self.token_vault(name),
        }
    }

    /// A secret reference in the Secrets Manager ARN form, naming warrant's own sealed
    /// storage (it does not point at AWS).
    pub fn secret(&self, what: &str, name: &str, suffix: &str) -> String {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:warrant!default/{what}/{name}-{suffix}",
            self.region, self.account
        )
    }
}

/// The model's pattern for taggable ARNs, with digits allowed in the later segment
/// types. The model's `[a-z-]+` cannot match `oauth2credentialprovider`; AWS gets
/// away with it because Smithy patterns are not anchored, but warrant matches whole
/// values, so it widens that one class instead.
pub const TAGGABLE_ARN_PATTERN: &str =
    r"arn:(?:[^:]+)?:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:([a-z-]+/[^/]+)(?:/[a-z0-9-]+/[^/]+)*";

/// The resource a taggable ARN names, if it is one of warrant's kinds in `scope`.
/// `None` for a well-formed ARN that names nothing warrant keeps.
pub fn parse_taggable(scope: &Scope<'_>, arn: &str) -> Option<(Kind, String)> {
    if !matches_pattern(TAGGABLE_ARN_PATTERN, arn) {
        return None;
    }
    let rest = arn.strip_prefix(&scope.prefix())?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["workload-identity-directory", "default", "workload-identity", name] => {
            Some((Kind::WorkloadIdentity, (*name).to_string()))
        }
        ["token-vault", DEFAULT_VAULT, "oauth2credentialprovider", name] => {
            Some((Kind::Oauth2Provider, (*name).to_string()))
        }
        ["token-vault", DEFAULT_VAULT, "apikeycredentialprovider", name] => {
            Some((Kind::ApiKeyProvider, (*name).to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_round_trip() {
        let s = Scope {
            region: "us-east-1",
            account: "000000000000",
        };
        let wi = s.resource(Kind::WorkloadIdentity, "agent-1");
        assert_eq!(
            wi,
            "arn:aws:bedrock-agentcore:us-east-1:000000000000:workload-identity-directory/default/workload-identity/agent-1"
        );
        assert_eq!(
            parse_taggable(&s, &wi),
            Some((Kind::WorkloadIdentity, "agent-1".into()))
        );
        let o = s.resource(Kind::Oauth2Provider, "gh");
        assert!(o.ends_with(":token-vault/default/oauth2credentialprovider/gh"));
        assert_eq!(
            parse_taggable(&s, &o),
            Some((Kind::Oauth2Provider, "gh".into()))
        );
        let k = s.resource(Kind::ApiKeyProvider, "k");
        assert_eq!(
            parse_taggable(&s, &k),
            Some((Kind::ApiKeyProvider, "k".into()))
        );
        // Another account's ARN names nothing here.
        let other = Scope {
            region: "us-east-1",
            account: "111111111111",
        };
        assert_eq!(parse_taggable(&other, &wi), None);
        assert_eq!(
            parse_taggable(
                &s,
                "arn:aws:bedrock-agentcore:us-east-1:000000000000:gateway/g"
            ),
            None
        );
        assert_eq!(parse_taggable(&s, "not-an-arn"), None);
    }
}
