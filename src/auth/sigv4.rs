//! SigV4 verification: the canonical request and string to sign are rebuilt
//! from the request as received, exactly as AWS specifies them; aws-sigv4
//! derives the signing key and computes the HMAC; the comparison is constant
//! time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::{Credential, RequestParts};
use eipd_domain::error::{ApiError, ApiResult};

/// RFC 3986 unreserved characters stay; everything else is encoded.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
const SIGV4_PATH_ENCODE: &AsciiSet = &SIGV4_ENCODE.remove(b'/');

/// How far a request's date may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The SigV4 signature a request carries, from its headers or presigned query.
#[derive(Clone, Debug)]
pub struct Signature<'a> {
    pub credential: Credential<'a>,
    /// `SignedHeaders`, lowercased: names separated by `;`.
    pub signed_headers: Cow<'a, str>,
    pub signature: Cow<'a, str>,
    /// `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
    pub amz_date: Cow<'a, str>,
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned URL.
    pub expires: Option<u64>,
}

/// A request and its signature, as verification needs them.
pub struct SignedRequest<'a> {
    pub request: &'a RequestParts<'a>,
    pub sig: &'a Signature<'a>,
}

pub fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = PrimitiveDateTime::parse(value, format).ok()?.assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (utf8_percent_encode(&k, SIGV4_ENCODE).to_string(), utf8_percent_encode(&v, SIGV4_ENCODE).to_string())
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_header_value(headers: &HeaderMap, name: &str) -> ApiResult<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            let v = String::from_utf8_lossy(v.as_bytes());
            v.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    if values.is_empty() {
        return Err(ApiError::signature_does_not_match());
    }
    Ok(values.join(","))
}

/// The canonical request of SigV4.
pub fn canonical_request(req: &SignedRequest) -> ApiResult<String> {
    // Services other than S3 encode the (already encoded) path once more.
    let path = if req.request.path.is_empty() { "/" } else { req.request.path };
    let canonical_path = utf8_percent_encode(path, SIGV4_PATH_ENCODE).to_string();
    let mut headers = String::new();
    for name in req.sig.signed_headers.split(';') {
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&canonical_header_value(req.request.headers, name)?);
        headers.push('\n');
    }
    let payload = match req.request.headers.get("x-amz-content-sha256").and_then(|v| v.to_str().ok()) {
        Some(hash) => hash.to_owned(),
        None => sha256_hex(req.request.body),
    };
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.request.method,
        canonical_path,
        canonical_query(req.request.query, req.sig.presigned),
        headers,
        req.sig.signed_headers,
        payload
    ))
}

/// Signing keys already derived, by secret, date, region and service.
/// Deriving one takes four HMACs, and a client signs every request of a day
/// in a region with the same key.
#[derive(Clone, Default)]
pub struct SigningKeys {
    keys: Arc<Mutex<HashMap<String, Arc<[u8]>>>>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves.
        f.debug_struct("SigningKeys").finish_non_exhaustive()
    }
}

/// Keys kept at most; the cache starts over when full (one key per user,
/// region and day is the usual need).
const SIGNING_KEYS_KEPT: usize = 4096;

impl SigningKeys {
    fn get(&self, secret: &str, signed_at: SystemTime, credential: &Credential) -> Arc<[u8]> {
        let id = format!("{secret}\n{}\n{}\n{}", credential.date, credential.region, credential.service);
        if let Some(key) = self.keys.lock().expect("not poisoned").get(&id) {
            return key.clone();
        }
        let key: Arc<[u8]> = Arc::from(
            aws_sigv4::sign::v4::generate_signing_key(secret, signed_at, &credential.region, &credential.service)
                .as_ref(),
        );
        let mut keys = self.keys.lock().expect("not poisoned");
        if keys.len() >= SIGNING_KEYS_KEPT {
            keys.clear();
        }
        keys.insert(id, key.clone());
        key
    }
}

/// Verifies the signature with `secret`; checks the clock when `check_clock`.
pub fn verify(
    req: &SignedRequest,
    secret: &str,
    keys: &SigningKeys,
    now: SystemTime,
    check_clock: bool,
) -> ApiResult<()> {
    let signed_at = parse_amz_date(&req.sig.amz_date).ok_or_else(|| {
        ApiError::incomplete_signature(format!("X-Amz-Date '{}' is not of the form YYYYMMDDTHHMMSSZ", req.sig.amz_date))
    })?;
    if !req.sig.amz_date.starts_with(&*req.sig.credential.date) {
        return Err(ApiError::signature_does_not_match());
    }
    if check_clock {
        let skew = now.duration_since(signed_at).or_else(|e| Ok::<_, ()>(e.duration())).unwrap_or_default();
        if req.sig.presigned {
            let expires = Duration::from_secs(req.sig.expires.unwrap_or(900));
            let expired = now.duration_since(signed_at).is_ok_and(|age| age > expires);
            if expired || signed_at.duration_since(now).is_ok_and(|ahead| ahead > MAX_SKEW) {
                return Err(ApiError::request_expired(format!(
                    "Request has expired. Signed at {}, valid for {}s.",
                    req.sig.amz_date,
                    expires.as_secs()
                )));
            }
        } else if skew > MAX_SKEW {
            return Err(ApiError::request_expired(format!(
                "Request timestamp {} is more than 15 minutes away from the server's time.",
                req.sig.amz_date
            )));
        }
    }
    let canonical = canonical_request(req)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        req.sig.credential.date, req.sig.credential.region, req.sig.credential.service
    );
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{}\n{}\n{}", req.sig.amz_date, scope, sha256_hex(canonical.as_bytes()));
    let key = keys.get(secret, signed_at, &req.sig.credential);
    let expected = aws_sigv4::sign::v4::calculate_signature(&*key, string_to_sign.as_bytes());
    if bool::from(expected.as_bytes().ct_eq(req.sig.signature.as_bytes())) {
        Ok(())
    } else {
        tracing::debug!(canonical = %canonical, "signature mismatch");
        Err(ApiError::signature_does_not_match())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example: "GET with query string" of the SigV4 test
    /// suite style, signed for service `ec2`, computed independently with
    /// botocore (see tests/py/test_auth.py for the live cross-check).
    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query("b=2&a=1&a=0&c=x%20y", false), "a=0&a=1&b=2&c=x%20y");
        assert_eq!(canonical_query("X-Amz-Signature=abc&A=1", true), "A=1");
        assert_eq!(canonical_query("k=a+b", false), "k=a%20b");
    }

    #[test]
    fn parses_amz_dates() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
        assert!(parse_amz_date("2015-08-30").is_none());
    }

    /// The signing example of the AWS SigV4 documentation (IAM ListUsers).
    #[test]
    fn matches_the_aws_documentation_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let request = RequestParts {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let sig = Signature {
            credential: Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                date: "20150830".into(),
                region: "us-east-1".into(),
                service: "iam".into(),
            },
            signed_headers: "content-type;host;x-amz-date".into(),
            signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7".into(),
            amz_date: "20150830T123600Z".into(),
            presigned: false,
            expires: None,
        };
        let req = SignedRequest { request: &request, sig: &sig };
        let canonical = canonical_request(&req).unwrap();
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let signed_at = parse_amz_date("20150830T123600Z").unwrap();
        let keys = SigningKeys::default();
        verify(&req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &keys, signed_at, true).unwrap();
        // Again, with the key from the cache.
        verify(&req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &keys, signed_at, true).unwrap();
        let wrong = verify(&req, "not-the-secret", &keys, signed_at, true).unwrap_err();
        assert_eq!(wrong.code, "AuthFailure");
        let later = signed_at + Duration::from_secs(16 * 60);
        assert_eq!(
            verify(&req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &keys, later, true).unwrap_err().code,
            "RequestExpired"
        );
    }
}
