//! STS on the same endpoint: GetCallerIdentity, for tools that ask who they
//! are before they act (Ansible's aws_caller_info, Terraform's AWS provider)
//! when one endpoint URL is set for every service. A request is STS's when
//! its SigV4 credential scope names the service `sts`.

use eipd_api::policy::Principal;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_domain::ids::{FNV_OFFSET, fnv1a};
use eipd_protocol::query::Params;
use eipd_protocol::xml::{ToXml, XmlWriter};

pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// What an STS request asked for.
pub(crate) enum StsAction {
    GetCallerIdentity,
}

impl StsAction {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::GetCallerIdentity => "GetCallerIdentity",
        }
    }
}

/// Decodes an STS request: the action and, since GetCallerIdentity takes
/// none, no other parameter.
pub(crate) fn decode(mut params: Params) -> ApiResult<StsAction> {
    params.discard("Version");
    let action = match params.action().ok_or_else(ApiError::missing_action)? {
        "GetCallerIdentity" => StsAction::GetCallerIdentity,
        other => return Err(ApiError::invalid_action(other)),
    };
    params.finish(action.name())?;
    Ok(action)
}

/// GetCallerIdentity needs no permission on AWS (even an explicit deny does
/// not refuse it), so no policy is checked.
pub(crate) fn get_caller_identity(principal: &Principal) -> CallerIdentity {
    let arn = principal.arn();
    CallerIdentity { user_id: user_id(&arn), account: principal.scope.account.to_string(), arn }
}

pub(crate) struct CallerIdentity {
    arn: String,
    user_id: String,
    account: String,
}

impl ToXml for CallerIdentity {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.text("UserId", &self.user_id);
        w.text("Account", &self.account);
        w.text("Arn", &self.arn);
    }
}

/// An IAM user's unique id: `AIDA` and 17 characters of IAM's alphabet,
/// derived from the ARN so that it is stable across restarts and nodes.
fn user_id(arn: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // FNV-1a, stretched: each character hashes the ARN once more.
    let mut h = FNV_OFFSET;
    let mut id = String::from("AIDA");
    for i in 0..17u8 {
        h = fnv1a(h, arn.bytes().chain([i]));
        id.push(ALPHABET[(h >> 59) as usize] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_look_like_iams_and_differ_by_user() {
        let a = user_id("arn:aws:iam::123456789012:user/alice");
        let b = user_id("arn:aws:iam::123456789012:user/bob");
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AIDA") && a.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_ne!(a, b);
        assert_eq!(a, user_id("arn:aws:iam::123456789012:user/alice"));
    }

    #[test]
    fn only_get_caller_identity_is_served() {
        let p = Params::decode(b"Action=GetCallerIdentity&Version=2011-06-15").unwrap();
        assert!(matches!(decode(p), Ok(StsAction::GetCallerIdentity)));
        let p = Params::decode(b"Action=AssumeRole&Version=2011-06-15").unwrap();
        assert_eq!(decode(p).err().unwrap().code, "InvalidAction");
        let p = Params::decode(b"Action=GetCallerIdentity&Colour=red").unwrap();
        assert_eq!(decode(p).err().unwrap().code, "UnknownParameter");
    }
}
