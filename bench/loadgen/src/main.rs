//! `eipd-loadgen`: a load generator for the EC2 Query protocol (Elastic IP
//! operations).
//!
//! Form POSTs over HTTP/1.1 keep-alive, one connection per worker (tokio; the
//! exchange is written and parsed directly, see `Conn`), with either a fixed
//! dummy SigV4 Authorization header (open mode, moto) or real SigV4
//! signatures (`--sign`, for `eipd --auth strict`).
//! Latencies go into HDR histograms; each scenario prints one human line, or
//! with `--json` one JSON object on standard output (the human line then goes
//! to standard error).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use aws_sigv4::sign::v4;
use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use memchr::memmem;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VERSION: &str = "2016-11-15";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Load generator for the EC2 Query protocol (Elastic IP operations).
///
/// Scenarios:
///   populate              allocate --count addresses, -c in flight (--tag-every Nth tagged --tag-key=<random value>;
///                         --ids FILE appends "access-key<TAB>allocation-id<TAB>tag-value" lines)
///   allocate              AllocateAddress Domain=vpc
///   describe              DescribeAddresses, no filter
///   describe-filter       DescribeAddresses Filter.1 = allocation-id or tag:<key> (--filter), random existing address
///   describe-by-id        DescribeAddresses AllocationId.1 = random existing address
///   assoc-cycle           per worker its own instance and address: AssociateAddress -> DisassociateAddress (pairs)
///   release               AllocateAddress -> ReleaseAddress
///   disassociate-latency  per worker one associated address: DisassociateAddress, AssociateAddress
///   count                 how many addresses an unfiltered DescribeAddresses returns
///   raw                   POST --body (default: a DisassociateAddress) and expect HTTP 200 (for the trivial responder)
///
/// Existing addresses (describe-filter, describe-by-id) come from --ids FILE if given, else from an
/// unfiltered DescribeAddresses of each account.
#[derive(Parser, Debug, Clone)]
#[command(name = "eipd-loadgen", version, verbatim_doc_comment)]
struct Args {
    /// Server URL
    #[arg(long, default_value = "http://127.0.0.1:4599")]
    endpoint: String,
    /// Region in the credential scope
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Workers (one keep-alive connection each)
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Measured seconds
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before the measurement
    #[arg(short = 'w', long, default_value_t = 1.0)]
    warmup: f64,
    /// Access key id (a 12-digit one is the account id in eipd's open mode)
    #[arg(long, default_value = "123456789012")]
    access_key: String,
    /// Secret key (used with --sign)
    #[arg(long, default_value = "eipd-bench-secret")]
    secret_key: String,
    /// Sign every request for real (SigV4 via aws-sigv4) instead of sending a fixed dummy signature
    #[arg(long)]
    sign: bool,
    /// Spread the workers over N accounts: access keys --access-key, --access-key + 1, … (12 digits)
    #[arg(long, default_value_t = 1)]
    accounts: usize,
    /// Print one JSON object on standard output (the human line goes to standard error)
    #[arg(long)]
    json: bool,
    /// populate: how many addresses
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// describe-filter: which filter
    #[arg(long, value_enum, default_value = "allocation-id")]
    filter: FilterKind,
    /// Tag key that populate sets (value: random, unique) and describe-filter --filter tag uses;
    /// empty: populate sets no tag
    #[arg(long, default_value = "eipd-bench")]
    tag_key: String,
    /// populate: tag only every Nth address (moto's tag handling is linear in the tagged resources)
    #[arg(long, default_value_t = 1)]
    tag_every: usize,
    /// populate appends the addresses it made here; describe-filter and describe-by-id read them
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Image id for RunInstances (assoc-cycle, disassociate-latency)
    #[arg(long, default_value = "ami-12c6146b")]
    image_id: String,
    /// raw: the form body to POST
    #[arg(long)]
    body: Option<String>,
    /// Client threads (tokio workers) [default: available cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds before one request counts as failed (Timeout)
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Seconds to wait after the measurement for requests still in flight (not counted) before dropping them
    #[arg(long, default_value_t = 60.0)]
    drain: f64,
    #[arg(value_enum)]
    scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Populate,
    Allocate,
    Describe,
    DescribeFilter,
    DescribeById,
    AssocCycle,
    Release,
    DisassociateLatency,
    Count,
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FilterKind {
    AllocationId,
    Tag,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Populate => "populate",
            Scenario::Allocate => "allocate",
            Scenario::Describe => "describe",
            Scenario::DescribeFilter => "describe-filter",
            Scenario::DescribeById => "describe-by-id",
            Scenario::AssocCycle => "assoc-cycle",
            Scenario::Release => "release",
            Scenario::DisassociateLatency => "disassociate-latency",
            Scenario::Count => "count",
            Scenario::Raw => "raw",
        }
    }
}

fn form(action: &str, params: &[(&str, &str)]) -> Bytes {
    let mut s = form_urlencoded::Serializer::new(String::with_capacity(128));
    s.append_pair("Action", action).append_pair("Version", VERSION);
    for (k, v) in params {
        s.append_pair(k, v);
    }
    Bytes::from(s.finish())
}

// ------------------------------------------------------------------ signing

/// One account's credentials and how its requests are authenticated.
struct Account {
    access_key: String,
    region: String,
    signed: Option<Signer>,
    dummy_auth: String,
}

/// Real SigV4 (header signature, service `ec2`). The signing key (four HMACs)
/// is derived with aws-sigv4 once per day; each request then costs two
/// SHA-256 and one HMAC (aws-sigv4's `calculate_signature`). The test
/// `matches_aws_sigv4` checks the result against aws-sigv4's own request signer.
struct Signer {
    secret: String,
    /// (YYYYMMDD, signing key) for the day the run started.
    key: (String, Vec<u8>),
}

impl Signer {
    fn new(secret: &str, region: &str) -> Self {
        let now = SystemTime::now();
        let day = amz_date(now)[..8].to_owned();
        let key = v4::generate_signing_key(secret, now, region, "ec2").as_ref().to_vec();
        Self { secret: secret.to_owned(), key: (day, key) }
    }

    /// (X-Amz-Date, Authorization) for a POST / of `body` to `host`.
    fn sign(&self, access_key: &str, region: &str, host: &str, body: &[u8], now: SystemTime) -> (String, String) {
        let date = amz_date(now);
        let day = &date[..8];
        let fresh;
        let key: &[u8] = if day == self.key.0 {
            &self.key.1
        } else {
            fresh = v4::generate_signing_key(&self.secret, now, region, "ec2").as_ref().to_vec();
            &fresh
        };
        let canonical = format!(
            "POST\n/\n\ncontent-type:{FORM}\nhost:{host}\nx-amz-date:{date}\n\ncontent-type;host;x-amz-date\n{}",
            hex::encode(Sha256::digest(body))
        );
        let scope = format!("{day}/{region}/ec2/aws4_request");
        let to_sign =
            format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let signature = v4::calculate_signature(key, to_sign.as_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
        );
        (date, authorization)
    }
}

/// `YYYYMMDDTHHMMSSZ` (UTC).
fn amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl Account {
    fn new(access_key: String, args: &Args) -> Self {
        let dummy_auth = format!(
            "AWS4-HMAC-SHA256 Credential={access_key}/20260101/{}/ec2/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={}",
            args.region,
            "0".repeat(64)
        );
        let signed = args.sign.then(|| Signer::new(&args.secret_key, &args.region));
        Self { dummy_auth, access_key, region: args.region.clone(), signed }
    }

    /// Appends the whole request (head and body) to `out`: one write.
    fn write_request(&self, target: &Target, body: &[u8], out: &mut Vec<u8>) {
        let signed;
        let (date, authorization) = match &self.signed {
            None => ("20260101T000000Z", self.dummy_auth.as_str()),
            Some(signer) => {
                signed = signer.sign(&self.access_key, &self.region, &target.host, body, SystemTime::now());
                (signed.0.as_str(), signed.1.as_str())
            }
        };
        let host = &target.host;
        let length = body.len();
        let _ = write!(
            out,
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {FORM}\r\nX-Amz-Date: {date}\r\n\
             Authorization: {authorization}\r\nContent-Length: {length}\r\n\r\n"
        );
        out.extend_from_slice(body);
    }
}

// ------------------------------------------------------------------ client

struct Target {
    addr: SocketAddr,
    /// `host:port`, for the Host header and the signature.
    host: String,
}

impl Target {
    async fn resolve(endpoint: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = endpoint.parse().with_context(|| format!("--endpoint {endpoint}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--endpoint {endpoint}: only http:// is supported");
        }
        let host = uri.host().context("--endpoint has no host")?;
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port)).await?.next().context("--endpoint does not resolve")?;
        Ok(Self { addr, host: format!("{host}:{port}") })
    }
}

/// One keep-alive HTTP/1.1 connection, spoken directly on the socket by the
/// worker's own task: the request is one write, the answer's head is parsed
/// with httparse (hyper's parser). A hyper client connection runs as a second
/// task, and waking it and being woken back cost ~5 µs of CPU per request
/// (a quarter of the generator's), CPU taken from the server under test on
/// the two cores they share.
struct Conn {
    target: Arc<Target>,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    input: BytesMut,
    timeout: Duration,
}

enum Answer {
    Ok(Bytes),
    /// An error code (the EC2 `<Code>`, `HTTP nnn`, `Timeout`, `ConnectionError`) and a detail.
    Failed(String, String),
}

/// The connection ended before any byte of the answer: nothing was done.
#[derive(Debug)]
struct ClosedBeforeAnswer;

impl std::fmt::Display for ClosedBeforeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server closed the connection before answering")
    }
}

impl std::error::Error for ClosedBeforeAnswer {}

/// How the body of an answer ends.
enum BodyLength {
    Exactly(usize),
    Chunked,
    /// Until the server closes the connection.
    UntilClose,
}

impl Conn {
    fn new(target: Arc<Target>, timeout: Duration) -> Self {
        Self { target, stream: None, out: Vec::with_capacity(1024), input: BytesMut::with_capacity(16 * 1024), timeout }
    }

    /// Reads more of the answer; `false` at the end of the stream.
    async fn fill(stream: &mut TcpStream, input: &mut BytesMut) -> anyhow::Result<bool> {
        if input.capacity() - input.len() < 4096 {
            input.reserve(16 * 1024);
        }
        Ok(stream.read_buf(input).await? > 0)
    }

    /// Reads until `input` holds at least `len` bytes.
    async fn fill_to(stream: &mut TcpStream, input: &mut BytesMut, len: usize) -> anyhow::Result<()> {
        while input.len() < len {
            if !Self::fill(stream, input).await? {
                bail!("the server closed the connection mid-answer");
            }
        }
        Ok(())
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.target.addr).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.input.clear();
        Ok(())
    }

    async fn post_inner(&mut self, account: &Account, body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let reused = self.stream.is_some();
        if !reused {
            self.connect().await?;
        }
        match self.exchange(account, &body).await {
            // A keep-alive connection the server had closed while it was
            // idle: nothing was answered, so nothing was done; send again.
            Err(e) if reused && e.is::<ClosedBeforeAnswer>() => {
                self.connect().await?;
                self.exchange(account, &body).await
            }
            other => other,
        }
    }

    async fn exchange(&mut self, account: &Account, body: &[u8]) -> anyhow::Result<(u16, Bytes)> {
        let stream = self.stream.as_mut().expect("connected");
        self.out.clear();
        account.write_request(&self.target, body, &mut self.out);
        if stream.write_all(&self.out).await.is_err() {
            return Err(ClosedBeforeAnswer.into());
        }

        let input = &mut self.input;
        let (head, status, length, close) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(input)? {
                let status = response.code.context("answer without a status")?;
                let mut length = BodyLength::UntilClose;
                let mut close = response.version == Some(0);
                for h in response.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let text = std::str::from_utf8(h.value)?;
                        length = BodyLength::Exactly(text.trim().parse().context("bad Content-Length")?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        if memmem::find(&h.value.to_ascii_lowercase(), b"chunked").is_some() {
                            length = BodyLength::Chunked;
                        }
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = h.value.eq_ignore_ascii_case(b"close");
                    }
                }
                break (head, status, length, close);
            }
            match Self::fill(stream, input).await {
                Ok(true) => {}
                // The end, or a reset, before any byte of the answer.
                Ok(false) | Err(_) if input.is_empty() => return Err(ClosedBeforeAnswer.into()),
                Ok(false) => bail!("the server closed the connection mid-answer"),
                Err(e) => return Err(e),
            }
        };
        let _ = input.split_to(head);
        let body = match length {
            BodyLength::Exactly(n) => {
                Self::fill_to(stream, input, n).await?;
                input.split_to(n).freeze()
            }
            BodyLength::UntilClose => {
                while Self::fill(stream, input).await? {}
                self.stream = None;
                return Ok((status, input.split().freeze()));
            }
            BodyLength::Chunked => {
                let mut body = BytesMut::new();
                loop {
                    let Some(eol) = memmem::find(input, b"\r\n") else {
                        Self::fill_to(stream, input, input.len() + 1).await?;
                        continue;
                    };
                    let size_text = std::str::from_utf8(&input[..eol])?;
                    let size_text = size_text.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
                    // The chunk, or for the last one its empty trailer, and a CRLF.
                    Self::fill_to(stream, input, eol + 2 + size + 2).await?;
                    let chunk = input.split_to(eol + 2 + size + 2);
                    if size == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[eol + 2..eol + 2 + size]);
                }
                body.freeze()
            }
        };
        if close {
            self.stream = None;
        }
        Ok((status, body))
    }

    async fn post(&mut self, account: &Account, body: Bytes) -> Answer {
        match tokio::time::timeout(self.timeout, self.post_inner(account, body)).await {
            Err(_) => {
                self.stream = None;
                Answer::Failed("Timeout".into(), format!("no answer within {:?}", self.timeout))
            }
            Ok(Err(e)) => {
                self.stream = None;
                Answer::Failed("ConnectionError".into(), format!("{e:#}"))
            }
            Ok(Ok((200, bytes))) => Answer::Ok(bytes),
            Ok(Ok((status, bytes))) => {
                let code =
                    between(&bytes, b"<Code>", b"</Code>").map_or_else(|| format!("HTTP {status}"), str::to_owned);
                Answer::Failed(code, String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).into_owned())
            }
        }
    }

    /// For setup: any failure is fatal.
    async fn must(&mut self, account: &Account, body: Bytes) -> anyhow::Result<Bytes> {
        let action = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        match self.post(account, body).await {
            Answer::Ok(b) => Ok(b),
            Answer::Failed(code, detail) => bail!("setup request {action}… failed: {code}: {detail}"),
        }
    }
}

// ------------------------------------------------------------------ parsing

fn between<'a>(hay: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a str> {
    let start = memmem::find(hay, open)? + open.len();
    let len = memmem::find(&hay[start..], close)?;
    std::str::from_utf8(&hay[start..start + len]).ok()
}

fn all_between<'a>(hay: &'a [u8], open: &[u8], close: &[u8]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut at = 0;
    for i in memmem::find_iter(hay, open) {
        if i < at {
            continue;
        }
        let start = i + open.len();
        let Some(len) = memmem::find(&hay[start..], close) else { break };
        if let Ok(s) = std::str::from_utf8(&hay[start..start + len]) {
            out.push(s);
        }
        at = start + len;
    }
    out
}

fn count_of(hay: &[u8], needle: &[u8]) -> usize {
    memmem::find_iter(hay, needle).count()
}

/// (allocation id, value of the tag `tag_key` if any) of each address in a DescribeAddresses answer.
fn addresses_in(hay: &[u8], tag_key: &str) -> Vec<(String, Option<String>)> {
    let open = b"<allocationId>";
    let starts: Vec<usize> = memmem::find_iter(hay, open).collect();
    let key = format!("<key>{tag_key}</key>");
    let mut out = Vec::with_capacity(starts.len());
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(hay.len());
        let item = &hay[s..end];
        let Some(id) = between(item, open, b"</allocationId>") else { continue };
        let tag = (!tag_key.is_empty())
            .then(|| memmem::find(item, key.as_bytes()))
            .flatten()
            .and_then(|k| between(&item[k..], b"<value>", b"</value>"))
            .map(str::to_owned);
        out.push((id.to_owned(), tag));
    }
    out
}

// ------------------------------------------------------------------ recording

struct KindStats {
    name: &'static str,
    hist: Histogram<u64>,
    errors: u64,
}

/// What one worker measured; merged at the end.
struct Recorder {
    t_meas: Instant,
    t_stop: Instant,
    kinds: Vec<KindStats>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    // microseconds, 1 µs .. 1 h, 3 significant digits
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

impl Recorder {
    fn new(t_meas: Instant, t_stop: Instant) -> Self {
        Self { t_meas, t_stop, kinds: Vec::new(), errors: BTreeMap::new(), first_error: None }
    }

    fn counts(&self, t1: Instant) -> bool {
        t1 >= self.t_meas && t1 <= self.t_stop
    }

    fn kind(&mut self, name: &'static str) -> &mut KindStats {
        let i = match self.kinds.iter().position(|k| k.name == name) {
            Some(i) => i,
            None => {
                self.kinds.push(KindStats { name, hist: histogram(), errors: 0 });
                self.kinds.len() - 1
            }
        };
        &mut self.kinds[i]
    }

    fn ok(&mut self, name: &'static str, t0: Instant, t1: Instant) {
        if self.counts(t1) {
            let us = (t1 - t0).as_micros().max(1) as u64;
            self.kind(name).hist.saturating_record(us);
        }
    }

    fn failed(&mut self, name: &'static str, t1: Instant, code: String, detail: String) {
        if self.counts(t1) {
            self.kind(name).errors += 1;
            if self.first_error.is_none() {
                self.first_error = Some(format!("{name}: {code}: {detail}"));
            }
            *self.errors.entry(code).or_default() += 1;
        }
    }

    fn merge(&mut self, other: Recorder) {
        for k in other.kinds {
            let mine = self.kind(k.name);
            mine.hist.add(&k.hist).expect("same bounds");
            mine.errors += k.errors;
        }
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn ops_json(&self, window: f64) -> Value {
        let mut ops = serde_json::Map::new();
        for k in &self.kinds {
            let h = &k.hist;
            let n = h.len();
            let ms = |us: u64| us as f64 / 1000.0;
            ops.insert(
                k.name.to_owned(),
                json!({
                    "n": n,
                    "errors": k.errors,
                    "rps": ((n as f64 / window) * 100.0).round() / 100.0,
                    "p50_ms": if n > 0 { Some(ms(h.value_at_quantile(0.50))) } else { None },
                    "p90_ms": if n > 0 { Some(ms(h.value_at_quantile(0.90))) } else { None },
                    "p99_ms": if n > 0 { Some(ms(h.value_at_quantile(0.99))) } else { None },
                    "max_ms": if n > 0 { Some(ms(h.max())) } else { None },
                }),
            );
        }
        Value::Object(ops)
    }
}

/// Times one request and records it under `kind`; `expect_items`: the answer
/// must hold exactly that many `<allocationId>` elements.
async fn call(
    conn: &mut Conn,
    account: &Account,
    body: Bytes,
    kind: &'static str,
    rec: &mut Recorder,
    expect_items: Option<usize>,
) -> Option<Bytes> {
    let t0 = Instant::now();
    let answer = conn.post(account, body).await;
    let t1 = Instant::now();
    match answer {
        Answer::Ok(bytes) => {
            if let Some(want) = expect_items {
                let got = count_of(&bytes, b"<allocationId>");
                if got != want {
                    rec.failed(kind, t1, "WrongItemCount".into(), format!("{got} addresses in the answer, not {want}"));
                    return None;
                }
            }
            rec.ok(kind, t0, t1);
            Some(bytes)
        }
        Answer::Failed(code, detail) => {
            rec.failed(kind, t1, code, detail);
            None
        }
    }
}

// ------------------------------------------------------------------ setup

/// A tiny xorshift generator: workers pick random addresses without locks.
struct Rng(u64);

impl Rng {
    fn seeded(seed: u64) -> Self {
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Self((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nanos ^ u64::from(std::process::id())) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Clone)]
struct Known {
    allocation_id: String,
    tag: Option<String>,
}

/// What each worker needs, prepared before the clock starts.
enum WorkerData {
    Nothing,
    /// Existing addresses of the worker's account (read scenarios).
    Known(Arc<Vec<Known>>),
    /// The worker's own address and instance.
    Pair {
        allocation_id: String,
        instance_id: String,
    },
}

struct Ctx {
    args: Args,
    target: Arc<Target>,
    accounts: Vec<Arc<Account>>,
    store_size: Option<usize>,
}

impl Ctx {
    fn account_of(&self, worker: usize) -> &Arc<Account> {
        &self.accounts[worker % self.accounts.len()]
    }
    fn workers_of(&self, account: usize) -> Vec<usize> {
        (0..self.args.concurrency).filter(|w| w % self.accounts.len() == account).collect()
    }
    fn conn(&self) -> Conn {
        Conn::new(self.target.clone(), Duration::from_secs_f64(self.args.timeout))
    }
}

async fn known_addresses(ctx: &mut Ctx) -> anyhow::Result<Vec<Arc<Vec<Known>>>> {
    let mut per_account: Vec<Vec<Known>> = vec![Vec::new(); ctx.accounts.len()];
    if let Some(path) = &ctx.args.ids {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --ids {}", path.display()))?;
        for line in text.lines() {
            let mut f = line.split('\t');
            let (Some(key), Some(id)) = (f.next(), f.next()) else { continue };
            let tag = f.next().filter(|t| !t.is_empty()).map(str::to_owned);
            if let Some(i) = ctx.accounts.iter().position(|a| a.access_key == key) {
                per_account[i].push(Known { allocation_id: id.to_owned(), tag });
            }
        }
    } else {
        let mut conn = ctx.conn();
        for (i, account) in ctx.accounts.iter().enumerate() {
            let answer = conn.must(account, form("DescribeAddresses", &[])).await?;
            per_account[i] = addresses_in(&answer, &ctx.args.tag_key)
                .into_iter()
                .map(|(allocation_id, tag)| Known { allocation_id, tag })
                .collect();
        }
    }
    ctx.store_size = Some(per_account.iter().map(Vec::len).sum());
    let mut conn = ctx.conn();
    for (i, known) in per_account.iter_mut().enumerate() {
        if known.is_empty() {
            // Nothing to look up: make one address.
            let tag = format!("t{:016x}", Rng::seeded(i as u64).next());
            let answer = conn.must(&ctx.accounts[i], allocate_body(&ctx.args.tag_key, &tag)).await?;
            let id = between(&answer, b"<allocationId>", b"</allocationId>").context("no allocationId")?;
            known.push(Known { allocation_id: id.to_owned(), tag: Some(tag) });
        }
        if ctx.args.scenario == Scenario::DescribeFilter && ctx.args.filter == FilterKind::Tag {
            known.retain(|k| k.tag.is_some());
            if known.is_empty() {
                bail!(
                    "account {}: no address carries the tag {:?}: populate first (it tags each address)",
                    ctx.accounts[i].access_key,
                    ctx.args.tag_key
                );
            }
        }
    }
    Ok(per_account.into_iter().map(Arc::new).collect())
}

fn allocate_body(tag_key: &str, tag_value: &str) -> Bytes {
    if tag_key.is_empty() {
        form("AllocateAddress", &[("Domain", "vpc")])
    } else {
        form(
            "AllocateAddress",
            &[
                ("Domain", "vpc"),
                ("TagSpecification.1.ResourceType", "elastic-ip"),
                ("TagSpecification.1.Tag.1.Key", tag_key),
                ("TagSpecification.1.Tag.1.Value", tag_value),
            ],
        )
    }
}

/// Per account: a VPC with an internet gateway, a subnet, one instance and one
/// address per worker.
async fn pairs(ctx: &Ctx) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = vec![(String::new(), String::new()); ctx.args.concurrency];
    let mut conn = ctx.conn();
    for (a, account) in ctx.accounts.iter().enumerate() {
        let workers = ctx.workers_of(a);
        if workers.is_empty() {
            continue;
        }
        let grab = |b: &Bytes, tag: &str| -> anyhow::Result<String> {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            between(b, open.as_bytes(), close.as_bytes())
                .map(str::to_owned)
                .with_context(|| format!("no <{tag}> in {}", String::from_utf8_lossy(&b[..b.len().min(300)])))
        };
        let vpc = grab(&conn.must(account, form("CreateVpc", &[("CidrBlock", "10.77.0.0/16")])).await?, "vpcId")?;
        let subnet = grab(
            &conn.must(account, form("CreateSubnet", &[("VpcId", &vpc), ("CidrBlock", "10.77.0.0/20")])).await?,
            "subnetId",
        )?;
        let igw = grab(&conn.must(account, form("CreateInternetGateway", &[])).await?, "internetGatewayId")?;
        conn.must(account, form("AttachInternetGateway", &[("InternetGatewayId", &igw), ("VpcId", &vpc)])).await?;
        let n = workers.len().to_string();
        let answer = conn
            .must(
                account,
                form(
                    "RunInstances",
                    &[
                        ("ImageId", &ctx.args.image_id),
                        ("MinCount", &n),
                        ("MaxCount", &n),
                        ("InstanceType", "t2.micro"),
                        ("SubnetId", &subnet),
                    ],
                ),
            )
            .await?;
        let mut instances: Vec<&str> = Vec::new();
        for id in all_between(&answer, b"<instanceId>", b"</instanceId>") {
            if id.starts_with("i-") && !instances.contains(&id) {
                instances.push(id);
            }
        }
        if instances.len() < workers.len() {
            bail!("RunInstances returned {} instances, not {}", instances.len(), workers.len());
        }
        for (w, instance) in workers.iter().zip(instances) {
            let answer = conn.must(account, form("AllocateAddress", &[("Domain", "vpc")])).await?;
            out[*w] = (grab(&answer, "allocationId")?, instance.to_owned());
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ scenarios

async fn worker(ctx: Arc<Ctx>, wid: usize, data: WorkerData, start: Instant, mut rec: Recorder) -> Recorder {
    let args = &ctx.args;
    let account = ctx.account_of(wid).clone();
    let mut conn = ctx.conn();
    let _ = conn.connect().await;
    let mut rng = Rng::seeded(wid as u64 + 1);
    let sc = args.scenario;
    let tag_filter = format!("tag:{}", args.tag_key);
    let raw = Bytes::from(args.body.clone().unwrap_or_else(|| {
        String::from_utf8(form("DisassociateAddress", &[("AssociationId", "eipassoc-0123456789abcdef0")]).to_vec())
            .expect("utf-8")
    }));
    let fixed = match sc {
        Scenario::Allocate | Scenario::Release => form("AllocateAddress", &[("Domain", "vpc")]),
        Scenario::Describe => form("DescribeAddresses", &[]),
        _ => raw.clone(),
    };
    let mut association: Option<String> = None;
    if sc == Scenario::DisassociateLatency
        && let WorkerData::Pair { allocation_id, instance_id } = &data
    {
        let body = form("AssociateAddress", &[("AllocationId", allocation_id), ("InstanceId", instance_id)]);
        match conn.must(&account, body).await {
            Ok(b) => association = between(&b, b"<associationId>", b"</associationId>").map(str::to_owned),
            Err(e) => rec.first_error = Some(format!("{e:#}")),
        }
        if association.is_none() {
            return rec;
        }
    }
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < rec.t_stop {
        match (sc, &data) {
            (Scenario::Allocate, _) => {
                call(&mut conn, &account, fixed.clone(), "allocate", &mut rec, None).await;
            }
            (Scenario::Describe, _) => {
                call(&mut conn, &account, fixed.clone(), "describe", &mut rec, None).await;
            }
            (Scenario::Raw, _) => {
                call(&mut conn, &account, fixed.clone(), "request", &mut rec, None).await;
            }
            (Scenario::DescribeFilter | Scenario::DescribeById, WorkerData::Known(known)) => {
                let k = &known[rng.below(known.len())];
                let body = match (sc, args.filter) {
                    (Scenario::DescribeById, _) => form("DescribeAddresses", &[("AllocationId.1", &k.allocation_id)]),
                    (_, FilterKind::AllocationId) => form(
                        "DescribeAddresses",
                        &[("Filter.1.Name", "allocation-id"), ("Filter.1.Value.1", &k.allocation_id)],
                    ),
                    (_, FilterKind::Tag) => form(
                        "DescribeAddresses",
                        &[("Filter.1.Name", &tag_filter), ("Filter.1.Value.1", k.tag.as_deref().unwrap_or(""))],
                    ),
                };
                let kind = if sc == Scenario::DescribeById { "describe-by-id" } else { "describe-filter" };
                call(&mut conn, &account, body, kind, &mut rec, Some(1)).await;
            }
            (Scenario::Release, _) => {
                let Some(b) = call(&mut conn, &account, fixed.clone(), "allocate", &mut rec, None).await else {
                    continue;
                };
                let Some(id) = between(&b, b"<allocationId>", b"</allocationId>") else { continue };
                let body = form("ReleaseAddress", &[("AllocationId", id)]);
                call(&mut conn, &account, body, "release", &mut rec, None).await;
            }
            (Scenario::AssocCycle, WorkerData::Pair { allocation_id, instance_id }) => {
                let t0 = Instant::now();
                let body = form("AssociateAddress", &[("AllocationId", allocation_id), ("InstanceId", instance_id)]);
                let Some(b) = call(&mut conn, &account, body, "associate", &mut rec, None).await else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let Some(assoc) = between(&b, b"<associationId>", b"</associationId>") else { continue };
                let body = form("DisassociateAddress", &[("AssociationId", assoc)]);
                if call(&mut conn, &account, body, "disassociate", &mut rec, None).await.is_some() {
                    rec.ok("pair", t0, Instant::now());
                }
            }
            (Scenario::DisassociateLatency, WorkerData::Pair { allocation_id, instance_id }) => {
                let assoc = association.take().expect("associated");
                let body = form("DisassociateAddress", &[("AssociationId", &assoc)]);
                if call(&mut conn, &account, body, "disassociate", &mut rec, None).await.is_none() {
                    association = Some(assoc);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let body = form("AssociateAddress", &[("AllocationId", allocation_id), ("InstanceId", instance_id)]);
                match call(&mut conn, &account, body, "associate", &mut rec, None).await {
                    Some(b) => match between(&b, b"<associationId>", b"</associationId>") {
                        Some(a) => association = Some(a.to_owned()),
                        None => break,
                    },
                    None => break,
                }
            }
            _ => unreachable!("scenario without its data"),
        }
    }
    rec
}

async fn run_timed(mut ctx: Ctx) -> anyhow::Result<Value> {
    let sc = ctx.args.scenario;
    let mut data: Vec<WorkerData> = (0..ctx.args.concurrency).map(|_| WorkerData::Nothing).collect();
    let setup_started = Instant::now();
    match sc {
        Scenario::DescribeFilter | Scenario::DescribeById => {
            let known = known_addresses(&mut ctx).await?;
            for (w, d) in data.iter_mut().enumerate() {
                *d = WorkerData::Known(known[w % known.len()].clone());
            }
        }
        Scenario::AssocCycle | Scenario::DisassociateLatency => {
            for (w, (allocation_id, instance_id)) in pairs(&ctx).await?.into_iter().enumerate() {
                data[w] = WorkerData::Pair { allocation_id, instance_id };
            }
        }
        _ => {}
    }
    let setup_s = setup_started.elapsed().as_secs_f64();
    let ctx = Arc::new(ctx);
    let args = &ctx.args;
    let start = Instant::now() + Duration::from_millis(100);
    let t_meas = start + Duration::from_secs_f64(args.warmup);
    let t_stop = t_meas + Duration::from_secs_f64(args.duration);
    let handles: Vec<_> = data
        .into_iter()
        .enumerate()
        .map(|(w, d)| tokio::spawn(worker(ctx.clone(), w, d, start, Recorder::new(t_meas, t_stop))))
        .collect();
    let deadline = t_stop + Duration::from_secs_f64(args.drain);
    let mut total = Recorder::new(t_meas, t_stop);
    let mut abandoned = 0usize;
    for h in handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(deadline.into(), h).await {
            Ok(Ok(rec)) => total.merge(rec),
            Ok(Err(e)) => bail!("a worker failed: {e}"),
            Err(_) => {
                abort.abort();
                abandoned += 1;
            }
        }
    }
    let window = args.duration;
    let mut out = json!({
        "scenario": sc.name(),
        "endpoint": args.endpoint,
        "concurrency": args.concurrency,
        "accounts": ctx.accounts.len(),
        "signed": args.sign,
        "window_s": window,
        "setup_s": (setup_s * 1000.0).round() / 1000.0,
        "ops": total.ops_json(window),
        "errors": total.errors,
    });
    if sc == Scenario::DescribeFilter {
        out["filter"] = json!(match args.filter {
            FilterKind::AllocationId => "allocation-id",
            FilterKind::Tag => "tag",
        });
    }
    if let Some(n) = ctx.store_size {
        out["store_size_at_setup"] = json!(n);
    }
    if abandoned > 0 {
        out["workers_abandoned"] = json!(abandoned);
    }
    if let Some(e) = total.first_error {
        out["first_error"] = json!(e);
    }
    Ok(out)
}

async fn populate(ctx: Ctx) -> anyhow::Result<Value> {
    let ctx = Arc::new(ctx);
    let total = ctx.args.count;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let give_up = Arc::new(AtomicBool::new(false));
    let max_failures = (total / 10).max(100);
    let started = Instant::now();
    let far = started + Duration::from_secs(365 * 24 * 3600);
    let progress = {
        let next = next.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let n = next.load(Ordering::Relaxed).min(total);
                let s = started.elapsed().as_secs_f64();
                eprintln!("populate: {n}/{total} in {s:.0} s ({:.0}/s)", n as f64 / s);
            }
        })
    };
    let mut handles = Vec::new();
    for w in 0..ctx.args.concurrency.max(1) {
        let ctx = ctx.clone();
        let (next, failures, give_up) = (next.clone(), failures.clone(), give_up.clone());
        handles.push(tokio::spawn(async move {
            let account = ctx.account_of(w).clone();
            let mut conn = ctx.conn();
            let mut rec = Recorder::new(started, far);
            let mut rng = Rng::seeded(w as u64 + 7919);
            let mut made: Vec<(String, String)> = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total || give_up.load(Ordering::Relaxed) {
                    break;
                }
                let tagged = !ctx.args.tag_key.is_empty() && n % ctx.args.tag_every.max(1) == 0;
                let tag = if tagged { format!("t{:016x}", rng.next()) } else { String::new() };
                let key = if tagged { ctx.args.tag_key.as_str() } else { "" };
                match call(&mut conn, &account, allocate_body(key, &tag), "allocate", &mut rec, None).await {
                    Some(b) => {
                        if let Some(id) = between(&b, b"<allocationId>", b"</allocationId>") {
                            made.push((id.to_owned(), tag));
                        }
                    }
                    None => {
                        if failures.fetch_add(1, Ordering::Relaxed) + 1 >= max_failures {
                            give_up.store(true, Ordering::Relaxed);
                        }
                    }
                }
            }
            (account.access_key.clone(), made, rec)
        }));
    }
    let mut rec = Recorder::new(started, far);
    let mut lines = String::new();
    let mut allocated = 0usize;
    for h in handles {
        let (key, made, r) = h.await?;
        allocated += made.len();
        for (id, tag) in made {
            lines.push_str(&format!("{key}\t{id}\t{tag}\n"));
        }
        rec.merge(r);
    }
    progress.abort();
    let seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &ctx.args.ids {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write --ids {}", path.display()))?;
        f.write_all(lines.as_bytes())?;
    }
    let mut out = json!({
        "scenario": "populate",
        "endpoint": ctx.args.endpoint,
        "concurrency": ctx.args.concurrency,
        "accounts": ctx.accounts.len(),
        "signed": ctx.args.sign,
        "allocated": allocated,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "rps": ((allocated as f64 / seconds) * 10.0).round() / 10.0,
        "ops": rec.ops_json(seconds),
        "errors": rec.errors,
    });
    if let Some(e) = rec.first_error {
        out["first_error"] = json!(e);
    }
    Ok(out)
}

fn human(v: &Value) -> String {
    let mut s = format!("{} c={}:", v["scenario"].as_str().unwrap_or("?"), v["concurrency"]);
    if let Some(n) = v.get("allocated") {
        s.push_str(&format!(" {n} allocated in {} s = {}/s;", v["seconds"], v["rps"]));
    }
    if let Some(n) = v.get("store_size_at_setup") {
        s.push_str(&format!(" store={n};"));
    }
    if let Some(ops) = v["ops"].as_object() {
        for (k, o) in ops {
            s.push_str(&format!(
                " {k} n={} err={} {}/s p50={}ms p90={}ms p99={}ms max={}ms;",
                o["n"], o["errors"], o["rps"], o["p50_ms"], o["p90_ms"], o["p99_ms"], o["max_ms"]
            ));
        }
    }
    if let Some(e) = v["errors"].as_object().filter(|e| !e.is_empty()) {
        s.push_str(&format!(" errors {}", Value::Object(e.clone())));
    }
    if let Some(e) = v.get("first_error") {
        s.push_str(&format!(" first error: {e}"));
    }
    s
}

fn accounts(args: &Args) -> anyhow::Result<Vec<Arc<Account>>> {
    if args.accounts <= 1 {
        return Ok(vec![Arc::new(Account::new(args.access_key.clone(), args))]);
    }
    let base: u64 = args
        .access_key
        .parse()
        .ok()
        .filter(|_| args.access_key.len() == 12)
        .context("--accounts N needs a 12-digit --access-key to count from")?;
    Ok((0..args.accounts as u64).map(|i| Arc::new(Account::new(format!("{:012}", base + i), args))).collect())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let target = Arc::new(Target::resolve(&args.endpoint).await?);
    let accounts = accounts(&args)?;
    let ctx = Ctx { target, accounts, args: args.clone(), store_size: None };
    let result = match args.scenario {
        Scenario::Count => {
            let mut conn = ctx.conn();
            let answer = conn.must(&ctx.accounts[0], form("DescribeAddresses", &[])).await?;
            let n = count_of(&answer, b"<allocationId>");
            if args.json {
                println!("{}", json!({"scenario": "count", "count": n}));
            } else {
                println!("{n}");
            }
            return Ok(());
        }
        Scenario::Populate => populate(ctx).await?,
        _ => run_timed(ctx).await?,
    };
    if args.json {
        eprintln!("{}", human(&result));
        println!("{result}");
    } else {
        println!("{}", human(&result));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.concurrency == 0 || args.accounts == 0 {
        eprintln!("eipd-loadgen: -c and --accounts must be at least 1");
        return std::process::ExitCode::from(2);
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eipd-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;

    #[test]
    fn formats_amz_dates() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_251_199); // 2024-02-29T23:59:59Z
        assert_eq!(amz_date(t), "20240229T235959Z");
        assert_eq!(amz_date(SystemTime::UNIX_EPOCH), "19700101T000000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800); // 2100-01-01
        assert_eq!(amz_date(t), "21000101T000000Z");
    }

    /// A server that reads one request per answer in `script` and writes the
    /// answer in pieces; "CLOSE" closes the connection instead of answering.
    async fn scripted(script: Vec<&'static str>) -> Arc<Target> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            for answer in script {
                if answer == "CLOSE" {
                    drop(socket);
                    socket = listener.accept().await.unwrap().0;
                    continue;
                }
                // Every request of the test fits one read.
                assert!(socket.read(&mut buf).await.unwrap() > 0);
                for piece in answer.as_bytes().chunks(7) {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                }
                if answer.contains("Connection: close") || answer.starts_with("HTTP/1.0") {
                    drop(socket);
                    socket = listener.accept().await.unwrap().0;
                }
            }
        });
        Arc::new(Target { addr, host: addr.to_string() })
    }

    #[tokio::test]
    async fn reads_every_body_framing_and_resends_after_an_idle_close() {
        let target = scripted(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 38\r\n\r\n<Response><Code>Nope</Code></Response>",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "HTTP/1.0 200 OK\r\n\r\nuntil the end",
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept",
            "CLOSE",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain",
        ])
        .await;
        let args = Args::parse_from(["eipd-loadgen", "allocate"]);
        let account = Account::new("123456789012".into(), &args);
        let mut conn = Conn::new(target, Duration::from_secs(5));
        let mut answers = Vec::new();
        for _ in 0..7 {
            answers.push(match conn.post(&account, form("AllocateAddress", &[])).await {
                Answer::Ok(body) => String::from_utf8(body.to_vec()).unwrap(),
                Answer::Failed(code, _) => format!("failed: {code}"),
            });
            if answers.len() == 6 {
                // Let the server close the idle connection first.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(answers, ["hello", "abcde", "failed: Nope", "ok", "until the end", "kept", "again"]);
    }

    #[test]
    fn matches_aws_sigv4() {
        let (key, secret, region, host) = ("123456789012", "s3cret", "eu-west-3", "127.0.0.1:4599");
        let body = form("AllocateAddress", &[("Domain", "vpc"), ("TagSpecification.1.Tag.1.Value", "a b/c")]);
        for now in [SystemTime::now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)] {
            let signer = Signer::new(secret, region);
            let (date, ours) = signer.sign(key, region, host, &body, now);

            let identity: Identity = Credentials::new(key, secret, None, None, "test").into();
            let signable = SignableRequest::new(
                "POST",
                format!("http://{host}/"),
                [("content-type", FORM), ("host", host)].into_iter(),
                SignableBody::Bytes(&body),
            )
            .unwrap();
            let params = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name("ec2")
                .time(now)
                .settings(SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            let headers: Vec<(&str, &str)> = instructions.headers().collect();
            assert!(headers.contains(&("x-amz-date", date.as_str())), "{headers:?}");
            assert!(headers.contains(&("authorization", ours.as_str())), "{headers:?} vs {ours}");
        }
    }
}
