//! A stable-toolchain fuzzer for the query decoder and the dispatcher:
//! random bodies and random, half-valid parameter sets go through the real
//! endpoints (in process, memory store). Every answer must be well-formed EC2
//! XML with a 2xx/4xx status (never a panic, a hang or a 500), and the
//! server must still answer afterwards.
//!
//! The suite runs it for a few seconds; a long run:
//!   EIPD_FUZZ_SECS=600 cargo test --release --test fuzz -- --nocapture
//! EIPD_FUZZ_SEED=N replays one seed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eipd::api::Action;
use eipd::auth::Authenticator;
use eipd::domain::Settings;
use eipd::metrics::Metrics;
use eipd::server::{AppState, Endpoints};
use eipd::store::{Store, StoreKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NAMES: &[&str] = &[
    "AllocationId",
    "AssociationId",
    "PublicIp",
    "InstanceId",
    "NetworkInterfaceId",
    "PrivateIpAddress",
    "AllowReassociation",
    "DryRun",
    "Domain",
    "Address",
    "NetworkBorderGroup",
    "PublicIpv4Pool",
    "Attribute",
    "DomainName",
    "MaxResults",
    "NextToken",
    "SubnetId",
    "VpcId",
    "CidrBlock",
    "ImageId",
    "MinCount",
    "MaxCount",
    "InternetGatewayId",
    "DeviceIndex",
    "AttachmentId",
    "HostnameType",
    "SecondaryPrivateIpAddressCount",
    "Ipv6AddressCount",
    "Description",
    "AmazonProvidedIpv6CidrBlock",
    "Ipv6CidrBlock",
    "Bogus",
    "EnableDnsHostnames.Value",
    "MapPublicIpOnLaunch.Value",
];
const LISTS: &[&str] = &[
    "AllocationId",
    "PublicIp",
    "InstanceId",
    "NetworkInterfaceId",
    "ResourceId",
    "PrivateIpAddress",
    "Ipv6Addresses",
];

fn value(rng: &mut StdRng, known: &[String]) -> String {
    match rng.random_range(0..14) {
        0 if !known.is_empty() => known[rng.random_range(0..known.len())].clone(),
        1 => format!("eipalloc-{:017x}", rng.random::<u64>()),
        2 => format!("eipassoc-{:08x}", rng.random::<u32>()),
        3 => format!("198.18.{}.{}", rng.random::<u8>(), rng.random::<u8>()),
        4 => format!("172.31.{}.{}", rng.random_range(0..48u8), rng.random::<u8>()),
        5 => ["true", "false", "TRUE", "maybe", ""][rng.random_range(0..5)].into(),
        6 => rng.random::<i64>().to_string(),
        7 => rng.random_range(0..40).to_string(),
        8 => ["vpc", "standard", "xyz", "domain-name", "public-dual-stack-dns-name", "10.0.0.0/16", "ami-12345678"]
            [rng.random_range(0..7)]
        .into(),
        9 => "x".repeat(rng.random_range(0..5000)),
        10 => "日本語\u{0}\u{202e}<&>'\"".into(),
        11 => format!("i-{:017x}", rng.random::<u64>()),
        12 => format!("eni-{:x}", rng.random::<u64>()),
        _ => (0..rng.random_range(0..20)).map(|_| rng.random_range(b' '..=b'~') as char).collect(),
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn random_body(rng: &mut StdRng, known: &[String]) -> Vec<u8> {
    if rng.random_bool(0.1) {
        // Raw bytes, sometimes not UTF-8, sometimes absurd indexes.
        return match rng.random_range(0..3) {
            0 => (0..rng.random_range(0..300)).map(|_| rng.random::<u8>()).collect(),
            1 => format!(
                "Action=DescribeAddresses&Filter.{}.Name=domain&Filter.1.Value.{}=vpc",
                rng.random::<u64>(),
                rng.random::<u32>()
            )
            .into_bytes(),
            _ => b"Action=DescribeAddresses&Action=DescribeAddresses&%zz=%&&&==".to_vec(),
        };
    }
    let action = if rng.random_bool(0.95) {
        Action::ALL[rng.random_range(0..Action::ALL.len())].name().to_owned()
    } else {
        value(rng, known)
    };
    let mut pairs = vec![("Action".to_owned(), action), ("Version".to_owned(), "2016-11-15".to_owned())];
    for _ in 0..rng.random_range(0..6) {
        pairs.push((NAMES[rng.random_range(0..NAMES.len())].to_owned(), value(rng, known)));
    }
    for _ in 0..rng.random_range(0..3) {
        let name = LISTS[rng.random_range(0..LISTS.len())];
        pairs.push((format!("{name}.{}", rng.random_range(0..4)), value(rng, known)));
    }
    if rng.random_bool(0.3) {
        let n = rng.random_range(1..3);
        pairs.push((
            format!("Filter.{n}.Name"),
            ["domain", "tag:k", "public-ip", "nope", "instance-id"][rng.random_range(0..5)].into(),
        ));
        pairs.push((format!("Filter.{n}.Value.1"), value(rng, known)));
    }
    if rng.random_bool(0.2) {
        pairs.push((
            "TagSpecification.1.ResourceType".into(),
            ["elastic-ip", "instance", "vpc", "bad"][rng.random_range(0..4)].into(),
        ));
        pairs.push(("TagSpecification.1.Tag.1.Key".into(), value(rng, known)));
        pairs.push(("TagSpecification.1.Tag.1.Value".into(), value(rng, known)));
    }
    // Dedupe names: duplicates are a separate, deliberate case above.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.dedup_by(|a, b| a.0 == b.0);
    encode(&pairs).into_bytes()
}

/// Ids the server handed out, so later requests hit real resources.
fn harvest(body: &str, known: &mut Vec<String>) {
    for prefix in ["eipalloc-", "eipassoc-", "i-", "eni-", "vpc-", "subnet-", "igw-", "eni-attach-"] {
        let mut rest = body;
        while let Some(pos) = rest.find(&format!(">{prefix}")) {
            let tail = &rest[pos + 1..];
            let end = tail.find('<').unwrap_or(tail.len());
            if known.len() < 500 {
                known.push(tail[..end].to_owned());
            }
            rest = &tail[end..];
        }
    }
}

fn check_xml(body: &str) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("malformed XML: {e}")),
        }
    }
}

async fn run(seconds: u64, seed: u64) -> u64 {
    let store =
        Store::open(&StoreKind::Memory, Settings { address_limit: Some(50), ..Settings::default() }, true).unwrap();
    let app = Endpoints::new(AppState {
        store,
        auth: Arc::new(Authenticator::default()),
        metrics: Arc::new(Metrics::new()),
        started: Instant::now(),
        faults: Default::default(),
        requests: Default::default(),
    });
    let mut rng = StdRng::seed_from_u64(seed);
    let mut known = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut executions = 0u64;
    while Instant::now() < deadline {
        let body = random_body(&mut rng, &known);
        let account = format!("{:012}", rng.random_range(0..3u64));
        let request = Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-amz-date", "20261125T000000Z")
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential={account}/20261125/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"),
            )
            .body(Body::from(body.clone()))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), app.answer(request))
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: request hung: {}", String::from_utf8_lossy(&body)));
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| panic!("seed {seed}: non-UTF-8 answer"));
        let input = String::from_utf8_lossy(&body);
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "seed {seed}: status {status} for {input}: {text}"
        );
        check_xml(&text).unwrap_or_else(|e| panic!("seed {seed}: {e} for {input}: {text}"));
        if status != StatusCode::OK {
            assert!(text.contains("<Code>") && text.contains("<RequestID>"), "seed {seed}: error without code: {text}");
        }
        harvest(&text, &mut known);
        executions += 1;
    }
    executions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_decoder_and_dispatcher() {
    let seconds = std::env::var("EIPD_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed = std::env::var("EIPD_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let executions = run(seconds, seed).await;
    println!("fuzz: seed {seed}, {executions} executions in {seconds}s, 0 crashes");
    assert!(executions > 0);
}
