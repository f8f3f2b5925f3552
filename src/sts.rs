//! STS on the same endpoint: GetCallerIdentity, for tools that ask who they
//! are before they act (Ansible's aws_caller_info, Terraform's AWS provider)
//! when one endpoint URL is set for every service. A request is STS's when
//! its SigV4 credential scope names the service `sts`.

use eipd_api::policy::Principal;
use eipd_domain::error::{ApiError, ApiResult};
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
    CallerIdentity { user_id: principal.user_id(), account: principal.scope.account.to_string(), arn: principal.arn() }
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

#[cfg(test)]
mod tests {
    use super::*;

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
