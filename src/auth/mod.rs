//! Who is calling, and in which region: SigV4 credentials to a principal.
//!
//! Open mode (the default, decisions D11/D13): any well-formed SigV4
//! Authorization header or presigned query is accepted; an access key id of
//! exactly 12 digits is the account id, any other key is account
//! 000000000000; the region is the credential scope's.

use axum::http::HeaderMap;

use crate::domain::Scope;
use crate::error::{ApiError, ApiResult};
use crate::protocol::Params;

pub const DEFAULT_ACCOUNT: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub access_key_id: String,
    pub scope: Scope,
}

/// The parts of a SigV4 credential scope: `AKID/DATE/REGION/SERVICE/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    pub fn parse(value: &str) -> ApiResult<Self> {
        let parts: Vec<&str> = value.split('/').collect();
        let [akid, date, region, service, terminator] = parts.as_slice() else {
            return Err(ApiError::incomplete_signature(format!(
                "Credential should be scoped to a valid region, not '{value}'. The Credential must have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request."
            )));
        };
        let region_ok = !region.is_empty()
            && region.len() <= 40
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if akid.is_empty() || *terminator != "aws4_request" || date.len() != 8 || !region_ok {
            return Err(ApiError::incomplete_signature(format!(
                "Credential should be scoped correctly: '{value}' is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request."
            )));
        }
        Ok(Self {
            access_key_id: (*akid).to_owned(),
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        })
    }
}

/// Finds the credential of a request: the `Authorization` header, or the
/// `X-Amz-*` query parameters of a presigned URL (removed from `params`).
pub fn credential(headers: &HeaderMap, params: &mut Params) -> ApiResult<Option<Credential>> {
    if let Some(value) = headers.get("authorization") {
        let value = value
            .to_str()
            .map_err(|_| ApiError::incomplete_signature("The Authorization header is not valid ASCII."))?;
        let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return Err(ApiError::incomplete_signature(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            ));
        };
        let mut cred = None;
        let (mut signed, mut signature) = (false, false);
        for field in rest.split(',') {
            let field = field.trim();
            if let Some(v) = field.strip_prefix("Credential=") {
                cred = Some(Credential::parse(v)?);
            } else if field.starts_with("SignedHeaders=") {
                signed = true;
            } else if field.starts_with("Signature=") {
                signature = true;
            }
        }
        return match cred {
            Some(c) if signed && signature => Ok(Some(c)),
            _ => Err(ApiError::incomplete_signature(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
            )),
        };
    }
    if let Some(value) = params.remove("X-Amz-Credential") {
        let cred = Credential::parse(&value)?;
        let algorithm = params.remove("X-Amz-Algorithm");
        let signature = params.remove("X-Amz-Signature");
        for extra in ["X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires", "X-Amz-Security-Token"] {
            params.remove(extra);
        }
        if algorithm.as_deref() != Some("AWS4-HMAC-SHA256") || signature.is_none() {
            return Err(ApiError::incomplete_signature(
                "A presigned request needs X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential and X-Amz-Signature.",
            ));
        }
        return Ok(Some(cred));
    }
    Ok(None)
}

/// The account an access key id stands for in open mode (D11).
pub fn open_mode_account(access_key_id: &str) -> &str {
    if access_key_id.len() == 12 && access_key_id.bytes().all(|b| b.is_ascii_digit()) {
        access_key_id
    } else {
        DEFAULT_ACCOUNT
    }
}

/// Authenticates a request in open mode.
pub fn authenticate(headers: &HeaderMap, params: &mut Params) -> ApiResult<Principal> {
    match credential(headers, params)? {
        Some(cred) => Ok(Principal {
            scope: Scope::new(open_mode_account(&cred.access_key_id), &cred.region),
            access_key_id: cred.access_key_id,
        }),
        // Unsigned requests (curl) are taken as the default account, as moto does.
        None => Ok(Principal { access_key_id: String::new(), scope: Scope::new(DEFAULT_ACCOUNT, DEFAULT_REGION) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authorization_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=123456789012/20261125/eu-west-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
                .parse()
                .unwrap(),
        );
        let p = authenticate(&headers, &mut Params::default()).unwrap();
        assert_eq!(&*p.scope.account, "123456789012");
        assert_eq!(&*p.scope.region, "eu-west-1");
    }

    #[test]
    fn other_keys_map_to_the_default_account() {
        assert_eq!(open_mode_account("AKIAIOSFODNN7EXAMPLE"), DEFAULT_ACCOUNT);
        assert_eq!(open_mode_account("1234567890123"), DEFAULT_ACCOUNT);
    }

    #[test]
    fn malformed_headers_are_incomplete_signatures() {
        for bad in [
            "AWS4-HMAC-SHA256 Credential=x",
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=1",
            "AWS4-HMAC-SHA256 Credential=AK/20261125/US_EAST/ec2/aws4_request, SignedHeaders=host, Signature=1",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", bad.parse().unwrap());
            let e = authenticate(&headers, &mut Params::default()).unwrap_err();
            assert_eq!(e.code, "IncompleteSignature", "{bad}");
        }
    }
}
