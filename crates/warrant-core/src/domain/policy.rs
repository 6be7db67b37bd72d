//! IAM-style JSON policies: `Effect`, `Action` and `Resource` with `*` and `?`
//! wildcards. An explicit Deny beats any Allow; anything not allowed is denied.
//! Elements warrant does not evaluate (Condition, NotAction, Principal, ...) are
//! refused when the policy is parsed, never silently ignored.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid policy: {0}")]
pub struct PolicyError(String);

fn err(s: impl Into<String>) -> PolicyError {
    PolicyError(s.into())
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| err(format!("{what} must hold only strings")))
            })
            .collect(),
        _ => Err(err(format!(
            "{what} must be a string or a non-empty list of strings"
        ))),
    }
}

impl Policy {
    /// The policy that allows everything (the bootstrap admin key's).
    pub fn allow_all_json() -> &'static str {
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
    }

    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| err(format!("not valid JSON ({e})")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| err("the document must be a JSON object"))?;
        for k in obj.keys() {
            match k.as_str() {
                "Version" | "Statement" | "Id" => {}
                other => return Err(err(format!("element {other:?} is not supported"))),
            }
        }
        if let Some(ver) = obj.get("Version") {
            match ver.as_str() {
                Some("2012-10-17") | Some("2008-10-17") => {}
                _ => return Err(err("Version must be \"2012-10-17\"")),
            }
        }
        let stmts: Vec<&Value> = match obj.get("Statement") {
            Some(Value::Array(a)) if !a.is_empty() => a.iter().collect(),
            Some(s @ Value::Object(_)) => vec![s],
            _ => return Err(err("Statement must be an object or a non-empty list")),
        };
        let mut statements = Vec::with_capacity(stmts.len());
        for (i, s) in stmts.into_iter().enumerate() {
            let s = s
                .as_object()
                .ok_or_else(|| err(format!("Statement {i} must be an object")))?;
            for k in s.keys() {
                match k.as_str() {
                    "Sid" | "Effect" | "Action" | "Resource" => {}
                    other => {
                        return Err(err(format!(
                            "Statement {i}: element {other:?} is not supported"
                        )))
                    }
                }
            }
            let allow = match s.get("Effect").and_then(Value::as_str) {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err(err(format!("Statement {i}: Effect must be Allow or Deny"))),
            };
            let actions = strings(
                s.get("Action")
                    .ok_or_else(|| err(format!("Statement {i}: Action is required")))?,
                "Action",
            )?;
            for a in &actions {
                if a != "*" && !a.contains(':') {
                    return Err(err(format!(
                        "Statement {i}: Action {a:?} must look like service:Operation"
                    )));
                }
            }
            let resources = strings(
                s.get("Resource")
                    .ok_or_else(|| err(format!("Statement {i}: Resource is required")))?,
                "Resource",
            )?;
            statements.push(Statement {
                allow,
                actions: actions
                    .into_iter()
                    .map(|a| a.to_ascii_lowercase())
                    .collect(),
                resources,
            });
        }
        Ok(Policy { statements })
    }

    /// Decide whether `action` (e.g. `bedrock-agentcore:GetWorkloadIdentity`) on
    /// `resource` (an ARN) is allowed.
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let action = action.to_ascii_lowercase();
        let mut allowed = false;
        for s in &self.statements {
            let hit = s.actions.iter().any(|p| glob(p, &action))
                && s.resources.iter().any(|p| glob(p, resource));
            if hit {
                if !s.allow {
                    return Decision::ExplicitDeny;
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// Match `text` against `pattern`, where `*` is any run of characters and `?` is one.
/// Linear in practice: backtracks only to the last `*`. Works on bytes (no allocation:
/// it runs on every request) unless `?` meets non-ASCII text, where it works on chars.
pub fn glob(pattern: &str, text: &str) -> bool {
    if pattern.contains('?') && !text.is_ascii() {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        return glob_units(&p, &t, '*', '?');
    }
    glob_units(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
}

fn glob_units<T: PartialEq + Copy>(p: &[T], t: &[T], star_unit: T, any: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != star_unit && (p[pi] == any || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == star_unit {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == star_unit {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob(
            "arn:*:workload-identity/agent-*",
            "arn:x:workload-identity/agent-7"
        ));
        assert!(!glob(
            "arn:*:workload-identity/agent-*",
            "arn:x:workload-identity/bot-7"
        ));
        assert!(glob("*a*b*", "xxaxxbxx"));
        assert!(!glob("*a*b", "xxaxxbxxc"));
        assert!(glob("r/?", "r/é"), "? is one character, not one byte");
        assert!(!glob("r/?", "r/éé"));
        assert!(glob("r/*", "r/éé"));
    }

    #[test]
    fn deny_beats_allow_and_default_is_deny() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"bedrock-agentcore:Get*","Resource":"*"},
                {"Effect":"Deny","Action":"*","Resource":"arn:x:secret"}]}"#,
        )
        .unwrap();
        assert_eq!(
            p.evaluate("bedrock-agentcore:GetWorkloadIdentity", "arn:x:a"),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("bedrock-agentcore:GetWorkloadIdentity", "arn:x:secret"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            p.evaluate("bedrock-agentcore:CreateWorkloadIdentity", "arn:x:a"),
            Decision::ImplicitDeny
        );
        // Actions are case-insensitive, resources are not.
        assert_eq!(
            p.evaluate("BEDROCK-AGENTCORE:getworkloadidentity", "arn:x:a"),
            Decision::Allow
        );
        let allow_all = Policy::parse(Policy::allow_all_json()).unwrap();
        assert_eq!(
            allow_all.evaluate("bedrock-agentcore:Anything", "x"),
            Decision::Allow
        );
    }

    #[test]
    fn unsupported_or_malformed_policies_are_refused() {
        for bad in [
            "",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Statement":{"Effect":"Allow","NotAction":"x:y","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"x:y","Resource":"*","Condition":{}}}"#,
            r#"{"Statement":{"Effect":"Maybe","Action":"x:y","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"x:y"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"noservice","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":[1],"Resource":"*"}}"#,
            r#"{"Version":"1999","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            r#"{"Principal":"*","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        ] {
            assert!(Policy::parse(bad).is_err(), "accepted {bad}");
        }
    }
}
