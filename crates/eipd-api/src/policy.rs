//! A faithful subset of IAM policy evaluation: Effect Allow/Deny, Action and
//! Resource with `*`/`?` wildcards, explicit deny wins, default deny.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use eipd_domain::Scope;
use eipd_domain::filter::glob_match;
use eipd_domain::ids::{FNV_OFFSET, fnv1a};

/// Who an action runs for: the caller's account and region (from its
/// credentials), and the configured IAM user its key belongs to, if any.
#[derive(Clone, Debug)]
pub struct Principal {
    pub scope: Scope,
    pub user: Option<Arc<UserIdentity>>,
}

/// What the actions know of a configured user.
#[derive(Debug)]
pub struct UserIdentity {
    pub name: String,
    pub policy: Option<Policy>,
}

impl Principal {
    /// `arn:aws:iam::ACCOUNT:user/NAME`, for messages.
    pub fn arn(&self) -> String {
        let name = self.user.as_ref().map_or("eipd-default", |u| u.name.as_str());
        format!("arn:aws:iam::{}:user/{name}", self.scope.account)
    }

    /// The IAM user's unique id (STS's `UserId`, an interface's
    /// `requesterId`): `AIDA` and 17 characters of IAM's alphabet, derived
    /// from the ARN so that it is stable across restarts and nodes.
    pub fn user_id(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let arn = self.arn();
        // FNV-1a, stretched: each character hashes the ARN once more.
        let mut h = FNV_OFFSET;
        let mut id = String::from("AIDA");
        for i in 0..17u8 {
            h = fnv1a(h, arn.bytes().chain([i]));
            id.push(ALPHABET[(h >> 59) as usize] as char);
        }
        id
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Statement {
    effect: Effect,
    /// Lower-cased `service:Action` patterns (IAM matches actions case-insensitively).
    actions: Vec<String>,
    resources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it (IAM's implicit deny).
    ImplicitDeny,
    /// A Deny statement matches.
    ExplicitDeny,
}

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{what} entries must be strings")))
            .collect(),
        Some(_) => Err(format!("{what} must be a string or a list of strings")),
        None => Err(format!("every statement needs {what}")),
    }
}

impl Policy {
    /// Parses an IAM policy document. Elements eipd does not evaluate
    /// (Condition, NotAction, NotResource, Principal) are refused, so a
    /// policy never silently means more than it says.
    pub fn parse(document: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(document).map_err(|e| format!("not JSON: {e}"))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => return Err("the policy needs a Statement (an object or a list)".into()),
        };
        let mut out = Vec::new();
        for st in statements {
            let Value::Object(map) = &st else { return Err("a statement must be an object".into()) };
            for key in map.keys() {
                if !matches!(key.as_str(), "Effect" | "Action" | "Resource" | "Sid") {
                    return Err(format!("the statement element {key} is not supported by eipd"));
                }
            }
            let effect = match map.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                _ => return Err("Effect must be Allow or Deny".into()),
            };
            let actions = strings(map.get("Action"), "Action")?.into_iter().map(|a| a.to_ascii_lowercase()).collect();
            let resources = strings(map.get("Resource"), "Resource")?;
            out.push(Statement { effect, actions, resources });
        }
        Ok(Self { statements: out })
    }

    /// Evaluates `action` (`ec2:Name`) on every resource ARN of a request
    /// (`*` for actions without resource-level permissions): allowed only if
    /// each resource is allowed and none is denied.
    pub fn evaluate(&self, action: &str, resources: &[String]) -> Decision {
        let action = action.to_ascii_lowercase();
        let applies = |st: &Statement, resource: &str| {
            st.actions.iter().any(|p| glob_match(p, &action)) && st.resources.iter().any(|p| glob_match(p, resource))
        };
        let star = ["*".to_owned()];
        let resources = if resources.is_empty() { &star[..] } else { resources };
        if self.statements.iter().any(|st| st.effect == Effect::Deny && resources.iter().any(|r| applies(st, r))) {
            return Decision::ExplicitDeny;
        }
        let allowed =
            resources.iter().all(|r| self.statements.iter().any(|st| st.effect == Effect::Allow && applies(st, r)));
        if allowed { Decision::Allow } else { Decision::ImplicitDeny }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ec2:us-east-1:111122223333:elastic-ip/eipalloc-0123456789abcdef0";

    #[test]
    fn user_ids_look_like_iams_and_differ_by_user() {
        let user = |name: &str| Principal {
            scope: Scope::new("123456789012", "us-east-1"),
            user: Some(Arc::new(UserIdentity { name: name.into(), policy: None })),
        };
        let (a, b) = (user("alice").user_id(), user("bob").user_id());
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AIDA") && a.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(a, b);
        assert_eq!(a, user("alice").user_id());
    }

    #[test]
    fn allow_all() {
        let p = Policy::parse(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("ec2:DisassociateAddress", &[ARN.into()]), Decision::Allow);
        assert_eq!(p.evaluate("ec2:DescribeAddresses", &[]), Decision::Allow);
    }

    #[test]
    fn wildcards_and_explicit_deny() {
        let p = Policy::parse(
            r#"{"Statement":[
                {"Effect":"Allow","Action":["ec2:*Address*"],"Resource":"arn:aws:ec2:*:111122223333:elastic-ip/*"},
                {"Effect":"Deny","Action":"ec2:ReleaseAddress","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(p.evaluate("ec2:DisassociateAddress", &[ARN.into()]), Decision::Allow);
        assert_eq!(p.evaluate("EC2:disassociateaddress", &[ARN.into()]), Decision::Allow);
        assert_eq!(p.evaluate("ec2:ReleaseAddress", &[ARN.into()]), Decision::ExplicitDeny);
        assert_eq!(p.evaluate("ec2:RunInstances", &["*".into()]), Decision::ImplicitDeny);
        let other = "arn:aws:ec2:us-east-1:999999999999:elastic-ip/eipalloc-0123456789abcdef0";
        assert_eq!(p.evaluate("ec2:DisassociateAddress", &[other.into()]), Decision::ImplicitDeny);
        // Every resource must be allowed.
        let inst = "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0";
        assert_eq!(p.evaluate("ec2:AssociateAddress", &[ARN.into(), inst.into()]), Decision::ImplicitDeny);
    }

    #[test]
    fn unsupported_elements_are_refused() {
        assert!(
            Policy::parse(r#"{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{}}]}"#)
                .is_err()
        );
        assert!(Policy::parse(r#"{"Statement":[{"Effect":"Maybe","Action":"ec2:*","Resource":"*"}]}"#).is_err());
        assert!(Policy::parse("nope").is_err());
    }
}
