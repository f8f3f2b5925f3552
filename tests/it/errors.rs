//! Raw HTTP for what the SDK will not send: unknown and missing actions,
//! unknown parameters, malformed signatures, oversized and non-UTF-8 bodies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use crate::server::shared_url;

const AMZ_DATE: (&str, &str) = ("x-amz-date", "20260101T000000Z");
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/ec2/aws4_request, \
                    SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef";

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The text of the first `<tag>…</tag>` in the body.
    fn element(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{tag}>"))? + start;
        Some(&self.body[start..end])
    }
}

fn host_port() -> String {
    shared_url().trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// One HTTP/1.1 POST / on a fresh connection; the body is written from another
/// thread so that a server answering early (413) is never blocked on.
fn post(headers: &[(&str, &str)], body: Vec<u8>) -> RawResponse {
    let addr = host_port();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head =
        format!("POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        for chunk in body.chunks(64 * 1024) {
            if writer.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after the answer arrived is fine; no answer at all is not.
        assert!(!raw.is_empty(), "no answer: {e}");
    }
    let _ = sender.join();
    parse(&raw)
}

fn parse(raw: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = body.to_owned();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    RawResponse { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn form_post(body: &str) -> RawResponse {
    post(
        &[("content-type", "application/x-www-form-urlencoded; charset=utf-8"), ("authorization", AUTH), AMZ_DATE],
        body.as_bytes().to_vec(),
    )
}

/// An EC2 error document: `<Response><Errors><Error><Code>CODE</Code>…` and a
/// `<RequestID>` that equals the x-amzn-requestid header.
#[track_caller]
fn assert_ec2_error(r: &RawResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(
        r.body.contains(&format!("<Response><Errors><Error><Code>{code}</Code>")),
        "expected the EC2 error envelope with {code}: {r:?}"
    );
    assert!(r.element("Message").is_some_and(|m| !m.is_empty()), "an error has a message: {r:?}");
    let id = r.element("RequestID").unwrap_or_else(|| panic!("no <RequestID>: {r:?}"));
    assert!(!id.is_empty());
    assert_eq!(r.header("x-amzn-requestid"), Some(id), "header and body name the same request: {r:?}");
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/xml")), "{r:?}");
}

#[test]
fn unknown_action_is_invalid_action() {
    let r = form_post("Action=FrobnicateAddress&Version=2016-11-15");
    assert_ec2_error(&r, 400, "InvalidAction");
    assert!(r.element("Message").unwrap().contains("FrobnicateAddress"), "{r:?}");
}

#[test]
fn missing_action_is_missing_action() {
    let r = form_post("Version=2016-11-15&AssociationId=eipassoc-12345678");
    assert_ec2_error(&r, 400, "MissingAction");
    let r = form_post("");
    assert_ec2_error(&r, 400, "MissingAction");
}

#[test]
fn unknown_parameter_is_unknown_parameter() {
    let r = form_post("Action=DescribeAddresses&Version=2016-11-15&Colour=red");
    assert_ec2_error(&r, 400, "UnknownParameter");
    assert!(r.element("Message").unwrap().contains("Colour"), "{r:?}");
    let r = form_post("Action=DisassociateAddress&Version=2016-11-15&AssociationId=eipassoc-12345678&Force=true");
    assert_ec2_error(&r, 400, "UnknownParameter");
}

#[test]
fn malformed_authorization_is_incomplete_signature() {
    for auth in [
        "AWS4-HMAC-SHA256 Credential=x",
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=123456789012/2026/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00",
    ] {
        let r = post(
            &[("content-type", "application/x-www-form-urlencoded"), ("authorization", auth), AMZ_DATE],
            b"Action=DescribeAddresses&Version=2016-11-15".to_vec(),
        );
        assert_ec2_error(&r, 400, "IncompleteSignature");
    }
}

#[test]
fn oversized_body_is_refused_not_hung() {
    let started = std::time::Instant::now();
    let mut body = b"Action=DescribeAddresses&Version=2016-11-15&Filter.1.Name=tag-key&Filter.1.Value.1=".to_vec();
    body.resize(body.len() + 1024 * 1024 + 4096, b'a');
    let r = post(&[("content-type", "application/x-www-form-urlencoded"), ("authorization", AUTH), AMZ_DATE], body);
    assert_eq!(r.status, 413, "{:?}", (r.status, &r.headers));
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}

/// Writes `request(host)` as it is on a fresh connection and reads the answer.
fn exchange(request: impl FnOnce(&str) -> String) -> RawResponse {
    let addr = host_port();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request(&addr).as_bytes()).expect("write");
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // A reset after the answer arrived is fine; no answer at all is not.
        assert!(!raw.is_empty(), "no answer: {e}");
    }
    parse(&raw)
}

#[test]
fn badly_chunked_body_is_incomplete_body() {
    let r = exchange(|addr| {
        format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\
             content-type: application/x-www-form-urlencoded\r\nauthorization: {AUTH}\r\n{}: {}\r\n\r\n\
             10\r\nAction=DescribeA\r\nzz\r\nddresses\r\n0\r\n\r\n",
            AMZ_DATE.0, AMZ_DATE.1
        )
    });
    assert_ec2_error(&r, 400, "IncompleteBody");
}

#[test]
fn non_utf8_body_is_a_400() {
    let mut body = b"Action=DescribeAddresses&Version=2016-11-15&PublicIp.1=".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    let r = post(&[("content-type", "application/x-www-form-urlencoded"), ("authorization", AUTH), AMZ_DATE], body);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("<Response><Errors><Error><Code>"), "{r:?}");
    assert!(r.header("x-amzn-requestid").is_some(), "{r:?}");
}

#[test]
fn request_id_header_on_success_and_error() {
    let ok = form_post("Action=DescribeAddresses&Version=2016-11-15");
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("<DescribeAddressesResponse"), "{ok:?}");
    let id = ok.element("requestId").expect("<requestId> in a success document");
    assert!(!id.is_empty());
    assert_eq!(ok.header("x-amzn-requestid"), Some(id), "{ok:?}");
    assert!(ok.header("content-type").is_some_and(|c| c.starts_with("text/xml")), "{ok:?}");

    let err = form_post("Action=DisassociateAddress&Version=2016-11-15&AssociationId=eipassoc-0123456789abcdef0");
    assert_ec2_error(&err, 400, "InvalidAssociationID.NotFound");
    assert_ne!(err.header("x-amzn-requestid"), ok.header("x-amzn-requestid"));
}

#[test]
fn disassociate_success_document_says_true() {
    // D10: DisassociateAddress answers <return>true</return> (here for a standard address).
    let alloc = form_post("Action=AllocateAddress&Version=2016-11-15&Domain=standard");
    assert_eq!(alloc.status, 200, "{alloc:?}");
    let ip = alloc.element("publicIp").expect("publicIp").to_owned();
    let r = form_post(&format!("Action=DisassociateAddress&Version=2016-11-15&PublicIp={ip}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<DisassociateAddressResponse"), "{r:?}");
    assert_eq!(r.element("return"), Some("true"), "{r:?}");
    let r = form_post(&format!("Action=ReleaseAddress&Version=2016-11-15&PublicIp={ip}"));
    assert_eq!(r.element("return"), Some("true"), "{r:?}");
}

#[test]
fn get_with_a_query_string_is_served() {
    let r = exchange(|addr| {
        format!(
            "GET /?Action=DescribeAddresses&Version=2016-11-15 HTTP/1.1\r\nhost: {addr}\r\nauthorization: {AUTH}\r\n\
             x-amz-date: 20260101T000000Z\r\nconnection: close\r\n\r\n"
        )
    });
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<DescribeAddressesResponse"), "{r:?}");
}

#[test]
fn wrong_content_type_is_refused() {
    let r = post(&[("content-type", "application/json"), ("authorization", AUTH), AMZ_DATE], b"{}".to_vec());
    assert!(r.status == 415 || r.status == 400, "{r:?}");
    assert!(r.body.contains("<Response><Errors><Error><Code>"), "{r:?}");
}
