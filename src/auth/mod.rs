//! Who is calling, and in which region: SigV4 credentials to a principal.
//!
//! Two modes (decisions D11, D13). Open (the default, what moto and
//! LocalStack users expect): any well-formed SigV4 Authorization header or
//! presigned query is accepted without a clock check; an access key id of
//! exactly 12 digits is the account id, any other unknown key is account
//! 000000000000; keys configured in the credentials file are still verified.
//! Strict: only configured keys, with verified signatures and clocks.

pub mod sigv4;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, bail};
use axum::http::HeaderMap;
use serde::Deserialize;

pub use eipd_api::policy::{Decision, Policy, Principal, UserIdentity};
use sigv4::{Signature, SignedRequest};

use eipd_domain::Scope;
use eipd_domain::error::{ApiError, ApiResult};
use eipd_protocol::Params;

pub const DEFAULT_ACCOUNT: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Accept any well-formed signature; verify only configured keys.
    #[default]
    Open,
    /// Accept only configured keys with valid signatures and clocks.
    Strict,
}

/// One configured user (`[[user]]` in the credentials file).
#[derive(Clone, Debug)]
pub struct User {
    /// What the actions see of the user: its name and policy.
    pub identity: Arc<UserIdentity>,
    pub access_key_id: String,
    secret_access_key: String,
    pub account_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    account_id: String,
    policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

/// The service a request is for, from its credential scope: one endpoint
/// answers EC2 and, for tools that ask who they are, STS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `ec2`, and any other name: EC2 is what eipd serves.
    Ec2,
    Sts,
}

impl Service {
    fn of(name: &str) -> Self {
        if name == "sts" { Self::Sts } else { Self::Ec2 }
    }
}

/// The parts of a SigV4 credential scope: `AKID/DATE/REGION/SERVICE/aws4_request`,
/// borrowed from the header they came in (this runs on every request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    pub access_key_id: Cow<'a, str>,
    pub date: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub service: Cow<'a, str>,
}

impl<'a> Credential<'a> {
    pub fn parse(value: &'a str) -> ApiResult<Self> {
        // Exactly five parts, without collecting them (this runs on every request).
        let mut parts = value.split('/');
        let fields: [Option<&str>; 5] = std::array::from_fn(|_| parts.next());
        let ([Some(akid), Some(date), Some(region), Some(service), Some(terminator)], None) = (fields, parts.next())
        else {
            return Err(ApiError::incomplete_signature(format!(
                "Credential should be scoped to a valid region, not '{value}'. The Credential must have the form ACCESS_KEY/DATE/REGION/SERVICE/aws4_request."
            )));
        };
        let region_ok = !region.is_empty()
            && region.len() <= 40
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if akid.is_empty() || terminator != "aws4_request" || date.len() != 8 || !region_ok {
            return Err(ApiError::incomplete_signature(format!(
                "Credential should be scoped correctly: '{value}' is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request."
            )));
        }
        Ok(Self {
            access_key_id: Cow::Borrowed(akid),
            date: Cow::Borrowed(date),
            region: Cow::Borrowed(region),
            service: Cow::Borrowed(service),
        })
    }

    pub fn into_owned(self) -> Credential<'static> {
        Credential {
            access_key_id: Cow::Owned(self.access_key_id.into_owned()),
            date: Cow::Owned(self.date.into_owned()),
            region: Cow::Owned(self.region.into_owned()),
            service: Cow::Owned(self.service.into_owned()),
        }
    }
}

/// A request as the authenticator sees it.
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

fn incomplete(what: &str) -> ApiError {
    ApiError::incomplete_signature(format!("Authorization header requires '{what}' parameter."))
}

/// Finds the signature: the `Authorization` header, or the `X-Amz-*` query
/// parameters of a presigned URL (removed from `params`).
fn signature<'a>(headers: &'a HeaderMap, params: &mut Params) -> ApiResult<Option<Signature<'a>>> {
    if let Some(value) = headers.get("authorization") {
        let value = value
            .to_str()
            .map_err(|_| ApiError::incomplete_signature("The Authorization header is not valid ASCII."))?;
        let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return Err(ApiError::incomplete_signature(
                "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
            ));
        };
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for field in rest.split(',') {
            let field = field.trim();
            if let Some(v) = field.strip_prefix("Credential=") {
                credential = Some(Credential::parse(v)?);
            } else if let Some(v) = field.strip_prefix("SignedHeaders=") {
                signed = Some(lowercase(v));
            } else if let Some(v) = field.strip_prefix("Signature=") {
                signature = Some(Cow::Borrowed(v));
            }
        }
        let credential = credential.ok_or_else(|| incomplete("Credential"))?;
        let signed_headers = signed.ok_or_else(|| incomplete("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("Signature"))?;
        let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).map(Cow::Borrowed).ok_or_else(|| {
            ApiError::incomplete_signature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
        return Ok(Some(Signature {
            credential,
            signed_headers,
            signature,
            amz_date,
            presigned: false,
            expires: None,
        }));
    }
    if let Some(value) = params.remove("X-Amz-Credential") {
        let credential = Credential::parse(&value)?.into_owned();
        let algorithm = params.remove("X-Amz-Algorithm");
        let signature = params.remove("X-Amz-Signature");
        let amz_date = params.remove("X-Amz-Date");
        let signed = params.remove("X-Amz-SignedHeaders");
        let expires = params.remove("X-Amz-Expires");
        params.remove("X-Amz-Security-Token");
        let (Some("AWS4-HMAC-SHA256"), Some(signature), Some(amz_date), Some(signed)) =
            (algorithm.as_deref(), signature, amz_date, signed)
        else {
            return Err(ApiError::incomplete_signature(
                "A presigned request needs X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature.",
            ));
        };
        let expires = match expires {
            Some(e) => Some(
                e.parse::<u64>()
                    .map_err(|_| ApiError::incomplete_signature("X-Amz-Expires must be a number of seconds."))?,
            ),
            None => None,
        };
        let signed_headers = Cow::Owned(signed.to_ascii_lowercase());
        let (signature, amz_date) = (Cow::Owned(signature), Cow::Owned(amz_date));
        return Ok(Some(Signature { credential, signed_headers, signature, amz_date, presigned: true, expires }));
    }
    Ok(None)
}

/// The scope of an account and region, from the few this thread used last:
/// a new one is two allocations (and two frees) on every request.
fn scope_of(account: &str, region: &str) -> Scope {
    const RECENT: usize = 16;
    thread_local! {
        static SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    }
    SCOPES.with_borrow_mut(|scopes| {
        if let Some(scope) = scopes.iter().find(|s| &*s.account == account && &*s.region == region) {
            return scope.clone();
        }
        let scope = Scope::new(account, region);
        if scopes.len() == RECENT {
            scopes.remove(0);
        }
        scopes.push(scope.clone());
        scope
    })
}

/// `value` in lowercase, copied only if it is not already.
fn lowercase(value: &str) -> Cow<'_, str> {
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(value.to_ascii_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

/// The account an unconfigured access key id stands for in open mode (D11).
pub fn open_mode_account(access_key_id: &str) -> &str {
    if access_key_id.len() == 12 && access_key_id.bytes().all(|b| b.is_ascii_digit()) {
        access_key_id
    } else {
        DEFAULT_ACCOUNT
    }
}

/// Turns requests into principals.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    pub mode: AuthMode,
    users: HashMap<String, Arc<User>>,
    signing_keys: sigv4::SigningKeys,
}

impl Authenticator {
    pub fn new(mode: AuthMode, users: Vec<User>) -> Self {
        Self {
            mode,
            users: users.into_iter().map(|u| (u.access_key_id.clone(), Arc::new(u))).collect(),
            signing_keys: sigv4::SigningKeys::default(),
        }
    }

    /// Reads the credentials file (`--credentials`).
    pub fn load(mode: AuthMode, file: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = file else {
            if mode == AuthMode::Strict {
                bail!("--auth strict needs --credentials FILE: with no configured keys no request could pass");
            }
            return Ok(Self::new(mode, Vec::new()));
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the credentials file {}", path.display()))?;
        let parsed: CredentialsFile =
            toml::from_str(&text).with_context(|| format!("the credentials file {} is not valid", path.display()))?;
        let mut users = Vec::new();
        for entry in parsed.user {
            if entry.account_id.len() != 12 || !entry.account_id.bytes().all(|b| b.is_ascii_digit()) {
                bail!("user {}: account_id must be 12 digits, not {:?}", entry.name, entry.account_id);
            }
            if users.iter().any(|u: &User| u.access_key_id == entry.access_key_id) {
                bail!("user {}: the access key id {} is configured twice", entry.name, entry.access_key_id);
            }
            let policy = match entry.policy {
                Some(doc) => Some(
                    Policy::parse(&doc)
                        .map_err(|e| anyhow::anyhow!("user {}: the policy is not usable: {e}", entry.name))?,
                ),
                None => None,
            };
            users.push(User {
                identity: Arc::new(UserIdentity { name: entry.name, policy }),
                access_key_id: entry.access_key_id,
                secret_access_key: entry.secret_access_key,
                account_id: entry.account_id,
            });
        }
        Ok(Self::new(mode, users))
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Authenticates a request (D13) and tells which service it was signed
    /// for.
    pub fn authenticate(&self, req: &RequestParts, params: &mut Params) -> ApiResult<(Principal, Service)> {
        let Some(sig) = signature(req.headers, params)? else {
            return match self.mode {
                AuthMode::Strict => Err(ApiError::missing_authentication_token()),
                // Unsigned requests (curl) are the default account, as in moto.
                AuthMode::Open => {
                    Ok((Principal { scope: scope_of(DEFAULT_ACCOUNT, DEFAULT_REGION), user: None }, Service::Ec2))
                }
            };
        };
        let service = Service::of(&sig.credential.service);
        self.principal(req, sig).map(|principal| (principal, service))
    }

    fn principal(&self, req: &RequestParts, sig: Signature) -> ApiResult<Principal> {
        // Most setups configure no user: then no key needs hashing.
        let user = if self.users.is_empty() { None } else { self.users.get(&*sig.credential.access_key_id) };
        let Some(user) = user else {
            return match self.mode {
                AuthMode::Strict => Err(ApiError::signature_does_not_match()),
                AuthMode::Open => Ok(Principal {
                    scope: scope_of(open_mode_account(&sig.credential.access_key_id), &sig.credential.region),
                    user: None,
                }),
            };
        };
        let signed = SignedRequest { request: req, sig: &sig };
        let check_clock = self.mode == AuthMode::Strict;
        sigv4::verify(&signed, &user.secret_access_key, &self.signing_keys, SystemTime::now(), check_clock)?;
        Ok(Principal { scope: scope_of(&user.account_id, &sig.credential.region), user: Some(user.identity.clone()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &HeaderMap) -> RequestParts<'_> {
        RequestParts { method: "POST", path: "/", query: "", headers, body: b"" }
    }

    #[test]
    fn open_mode_reads_account_and_region() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=123456789012/20261125/eu-west-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20261125T000000Z".parse().unwrap());
        let (p, service) = Authenticator::default().authenticate(&parts(&headers), &mut Params::default()).unwrap();
        assert_eq!(service, Service::Ec2);
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
            headers.insert("x-amz-date", "20261125T000000Z".parse().unwrap());
            let e = Authenticator::default().authenticate(&parts(&headers), &mut Params::default()).unwrap_err();
            assert_eq!(e.code, "IncompleteSignature", "{bad}");
        }
    }

    #[test]
    fn strict_mode_refuses_unsigned_and_unknown() {
        let strict = Authenticator::new(AuthMode::Strict, Vec::new());
        let e = strict.authenticate(&parts(&HeaderMap::new()), &mut Params::default()).unwrap_err();
        assert_eq!((e.code, e.status), ("MissingAuthenticationToken", 403));
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=1"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20261125T000000Z".parse().unwrap());
        let e = strict.authenticate(&parts(&headers), &mut Params::default()).unwrap_err();
        assert_eq!((e.code, e.status), ("AuthFailure", 401));
    }
}
