//! Fault injection, off by default: what a local emulator can do better than
//! AWS is misbehave on purpose, so that retry and back-off code gets tested.
//!
//! Per action (or `*` for every action): `RequestLimitExceeded` throttling
//! (HTTP 503) at a rate, `InternalError` (HTTP 500) at a rate, and added
//! latency (fixed or a uniform range). Optionally an eventual-consistency
//! delay: after a successful mutation by an account in a region, that
//! partition's Describe* calls see the state as of `delay` ago (EC2 documents
//! eventual consistency for reads after mutations).
//!
//! Configured by `--fault SPEC` (repeatable, `EIPD_FAULTS` with `;`
//! separators), `--consistency-delay DURATION`, the config file keys `faults`
//! and `consistency_delay`, and at run time through `GET/PUT/DELETE
//! /eipd-api/faults`. The server consults [`Faults`] once per request, after
//! authentication and before the action runs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::app::{AppState, refused_under_strict};
use eipd_api::Action;
use eipd_domain::error::ApiError;
use eipd_domain::{Partition, Scope};
use eipd_store::Store;

/// The rule key that applies to every action.
pub const ANY_ACTION: &str = "*";
/// Largest latency or consistency delay accepted (a client would give up long before).
pub const MAX_DELAY_MS: u64 = 10 * 60 * 1000;
/// Mutations remembered per partition for the consistency delay.
const MAX_HISTORY: usize = 256;

// ---- configuration ----------------------------------------------------------

/// Added latency in milliseconds: fixed (`min == max`) or uniform in `min..=max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub min_ms: u64,
    pub max_ms: u64,
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min_ms == self.max_ms {
            write!(f, "{}ms", self.min_ms)
        } else {
            write!(f, "{}ms-{}ms", self.min_ms, self.max_ms)
        }
    }
}

impl FromStr for Latency {
    type Err = String;

    /// `20ms`, `1s`, `20` (milliseconds), or a range `10ms-50ms` / `10-50ms`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (lo, hi) = match s.split_once('-') {
            Some((lo, hi)) => {
                // `10-50ms`: the unit of the upper bound applies to a bare lower bound.
                let hi_ms = parse_duration_ms(hi)?;
                let unit = hi.trim().trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                let lo_ms = if lo.trim().chars().all(|c| c.is_ascii_digit() || c == '.') && !lo.trim().is_empty() {
                    parse_duration_ms(&format!("{}{unit}", lo.trim()))?
                } else {
                    parse_duration_ms(lo)?
                };
                (lo_ms, hi_ms)
            }
            None => {
                let ms = parse_duration_ms(s)?;
                (ms, ms)
            }
        };
        if lo > hi {
            return Err(format!("latency range {s:?} has its lower bound above its upper bound"));
        }
        Ok(Latency { min_ms: lo, max_ms: hi })
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Ms(u64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Ms(ms) if ms <= MAX_DELAY_MS => Ok(Latency { min_ms: ms, max_ms: ms }),
            Repr::Ms(ms) => Err(serde::de::Error::custom(format!("latency {ms}ms is above {MAX_DELAY_MS}ms"))),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A duration: `500ms`, `2s`, `1.5s`, or a bare number of milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{s:?} is not a duration (write e.g. 500ms, 2s or 250)"))?;
    let ms = (value * scale).round();
    if ms > MAX_DELAY_MS as f64 {
        return Err(format!("{s:?} is longer than the {MAX_DELAY_MS}ms allowed"));
    }
    Ok(ms as u64)
}

/// A rate: a fraction `0.25` or a percentage `25%`, within 0..=1.
fn parse_rate(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let value = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a rate (write a fraction such as 0.5, or 50%)"))?;
    check_rate(value)
}

fn check_rate(value: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(format!("rate {value} is outside 0..=1")) }
}

/// The faults of one action (or of `*`). A field left unset falls back to the
/// `*` rule's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Fraction of requests answered `503 RequestLimitExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<f64>,
    /// Fraction of requests answered `500 InternalError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_error: Option<f64>,
    /// Added before the request is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

impl FaultRule {
    /// `self`, with unset fields taken from `fallback`.
    fn over(&self, fallback: &FaultRule) -> FaultRule {
        FaultRule {
            throttle: self.throttle.or(fallback.throttle),
            internal_error: self.internal_error.or(fallback.internal_error),
            latency: self.latency.or(fallback.latency),
        }
    }

    fn is_empty(&self) -> bool {
        self.throttle.is_none() && self.internal_error.is_none() && self.latency.is_none()
    }

    fn validate(&self) -> Result<(), String> {
        for rate in [self.throttle, self.internal_error].into_iter().flatten() {
            check_rate(rate)?;
        }
        if let Some(l) = self.latency
            && (l.min_ms > l.max_ms || l.max_ms > MAX_DELAY_MS)
        {
            return Err(format!("latency {l} is not a valid range (at most {MAX_DELAY_MS}ms)"));
        }
        Ok(())
    }
}

/// One `--fault` value: `ACTION:KEY=VALUE[,KEY=VALUE…]`, where ACTION is an
/// EC2 action name or `*`, and KEY is `throttle` (rate), `error` (rate of
/// InternalError; also `internal_error`) or `latency` (`20ms`, `10ms-50ms`).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub action: String,
    pub rule: FaultRule,
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let (action, faults) = spec.split_once(':').ok_or_else(|| {
            format!("fault {spec:?} has no action: write ACTION:KEY=VALUE, e.g. AllocateAddress:throttle=0.5 or '*:latency=20ms'")
        })?;
        let action = check_action(action.trim())?;
        let mut rule = FaultRule::default();
        for item in faults.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("fault {item:?} in {spec:?} has no value: write KEY=VALUE"))?;
            match key.trim() {
                "throttle" => rule.throttle = Some(parse_rate(value)?),
                "error" | "internal_error" | "internal-error" => rule.internal_error = Some(parse_rate(value)?),
                "latency" => rule.latency = Some(value.parse()?),
                other => {
                    return Err(format!(
                        "fault {other:?} in {spec:?} is unknown: use throttle=RATE, error=RATE or latency=DURATION[-DURATION]"
                    ));
                }
            }
        }
        if rule.is_empty() {
            return Err(format!("fault {spec:?} sets nothing: add throttle=RATE, error=RATE or latency=DURATION"));
        }
        Ok(FaultSpec { action, rule })
    }
}

fn check_action(action: &str) -> Result<String, String> {
    if action == ANY_ACTION || Action::parse(action).is_some() {
        Ok(action.to_owned())
    } else {
        Err(format!("{action:?} is not an action eipd serves (use an EC2 action name such as AllocateAddress, or *)"))
    }
}

/// Every fault setting of a server.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultConfig {
    /// By action name, or `*`.
    pub rules: BTreeMap<String, FaultRule>,
    /// Describe* of a partition show its state as of this long ago after a
    /// mutation (0: off).
    pub consistency_delay_ms: u64,
}

impl FaultConfig {
    /// Adds a spec; settings for an action already configured are merged,
    /// the later one winning key by key.
    pub fn add(&mut self, spec: FaultSpec) {
        let rule = self.rules.entry(spec.action).or_default();
        *rule = spec.rule.over(rule);
    }

    pub fn from_specs(specs: impl IntoIterator<Item = FaultSpec>, consistency_delay_ms: u64) -> Self {
        let mut config = FaultConfig { consistency_delay_ms, ..FaultConfig::default() };
        for spec in specs {
            config.add(spec);
        }
        config
    }

    pub fn is_off(&self) -> bool {
        self.rules.values().all(FaultRule::is_empty) && self.consistency_delay_ms == 0
    }

    /// The rule for one action: its own settings over `*`'s.
    pub fn rule_for(&self, action: &str) -> FaultRule {
        let any = self.rules.get(ANY_ACTION).cloned().unwrap_or_default();
        match self.rules.get(action) {
            Some(rule) if action != ANY_ACTION => rule.over(&any),
            _ => any,
        }
    }

    /// The rules as `--fault` specs (for logs and the admin endpoint).
    pub fn specs(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(action, r)| {
                let mut parts = Vec::new();
                if let Some(t) = r.throttle {
                    parts.push(format!("throttle={t}"));
                }
                if let Some(e) = r.internal_error {
                    parts.push(format!("error={e}"));
                }
                if let Some(l) = r.latency {
                    parts.push(format!("latency={l}"));
                }
                format!("{action}:{}", parts.join(","))
            })
            .collect()
    }

    /// The document of `GET /eipd-api/faults`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": !self.is_off(),
            "rules": self.rules,
            "faults": self.specs(),
            "consistency_delay_ms": self.consistency_delay_ms,
        })
    }

    /// The body of `PUT /eipd-api/faults`: `rules` (as GET shows them) and/or
    /// `faults` (spec strings), and `consistency_delay_ms` (or
    /// `consistency_delay` as a duration string). It replaces every setting.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Document {
            #[serde(default)]
            rules: BTreeMap<String, FaultRule>,
            #[serde(default)]
            faults: Vec<String>,
            #[serde(default)]
            consistency_delay_ms: Option<u64>,
            #[serde(default)]
            consistency_delay: Option<String>,
            /// Shown by GET; ignored.
            #[serde(default)]
            #[allow(dead_code)]
            enabled: Option<bool>,
        }
        let doc: Document =
            serde_json::from_slice(body).map_err(|e| format!("the body is not a fault document: {e}"))?;
        let delay = match (doc.consistency_delay_ms, doc.consistency_delay.as_deref()) {
            (Some(_), Some(_)) => return Err("give consistency_delay_ms or consistency_delay, not both".into()),
            (Some(ms), None) if ms > MAX_DELAY_MS => {
                return Err(format!("consistency_delay_ms {ms} is above {MAX_DELAY_MS}"));
            }
            (Some(ms), None) => ms,
            (None, Some(text)) => parse_duration_ms(text)?,
            (None, None) => 0,
        };
        let mut config = FaultConfig { consistency_delay_ms: delay, ..FaultConfig::default() };
        for (action, rule) in doc.rules {
            let action = check_action(&action)?;
            rule.validate().map_err(|e| format!("{action}: {e}"))?;
            config.add(FaultSpec { action, rule });
        }
        for spec in &doc.faults {
            config.add(spec.parse()?);
        }
        Ok(config)
    }
}

// ---- run time ---------------------------------------------------------------

/// A mutation's partition as it was before the mutation.
struct Before {
    at: Instant,
    partition: Option<Partition>,
}

/// What the request path consults: the current settings and, for the
/// consistency delay, each partition's recent pre-mutation states.
#[derive(Default)]
pub struct Faults {
    config: ArcSwap<FaultConfig>,
    history: Mutex<HashMap<Scope, VecDeque<Before>>>,
}

/// The partition a mutation started from, kept if the mutation succeeds.
pub struct PendingMutation(Option<Partition>);

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        Self { config: ArcSwap::from_pointee(config), history: Mutex::default() }
    }

    pub fn config(&self) -> Arc<FaultConfig> {
        self.config.load_full()
    }

    /// Replaces every setting (the admin endpoint).
    pub fn set(&self, config: FaultConfig) {
        if config.consistency_delay_ms == 0 {
            self.forget_history();
        }
        self.config.store(Arc::new(config));
    }

    /// Forgets the pre-mutation states (after a reset, or when the delay is turned off).
    pub fn forget_history(&self) {
        self.history.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Latency, then throttling or an internal error, as configured for this
    /// action. `Err` is the injected error to answer.
    pub async fn inject(&self, action: Action) -> Result<(), ApiError> {
        let config = self.config.load();
        if config.rules.is_empty() {
            return Ok(());
        }
        let rule = config.rule_for(action.name());
        drop(config);
        if let Some(latency) = rule.latency {
            let ms = if latency.max_ms > latency.min_ms {
                rand::rng().random_range(latency.min_ms..=latency.max_ms)
            } else {
                latency.min_ms
            };
            if ms > 0 {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        let roll = |rate: Option<f64>| rate.is_some_and(|r| r > 0.0 && rand::rng().random::<f64>() < r);
        if roll(rule.throttle) {
            return Err(ApiError::request_limit_exceeded());
        }
        if roll(rule.internal_error) {
            return Err(ApiError::internal_error("An internal error has occurred. (injected by eipd fault injection)"));
        }
        Ok(())
    }

    fn delay(&self) -> Option<Duration> {
        let ms = self.config.load().consistency_delay_ms;
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// For a Describe* action under a consistency delay: the caller's
    /// partition as it was `delay` ago, if it changed since.
    pub fn stale_view(&self, scope: &Scope, action: Action) -> Option<Partition> {
        if !action.is_read() {
            return None;
        }
        let delay = self.delay()?;
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let entries = history.get_mut(scope)?;
        let now = Instant::now();
        while entries.front().is_some_and(|b| now.duration_since(b.at) >= delay) {
            entries.pop_front();
        }
        let Some(oldest) = entries.front() else {
            history.remove(scope);
            return None;
        };
        Some(oldest.partition.clone().unwrap_or_else(|| Partition::with_defaults(scope)))
    }

    /// Before a mutation runs under a consistency delay: its partition now.
    pub fn before_mutation(&self, scope: &Scope, action: Action, store: &Store) -> Option<PendingMutation> {
        if action.is_read() {
            return None;
        }
        self.delay()?;
        Some(PendingMutation(store.snapshot().partition(scope).cloned()))
    }

    /// After the mutation succeeded: Describe* show the state before it until the delay passes.
    pub fn mutated(&self, scope: Scope, pending: PendingMutation) {
        let Some(delay) = self.delay() else { return };
        let now = Instant::now();
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if history.len() > 1024 {
            history.retain(|_, entries| entries.back().is_some_and(|b| now.duration_since(b.at) < delay));
        }
        let entries = history.entry(scope).or_default();
        while entries.front().is_some_and(|b| now.duration_since(b.at) >= delay) {
            entries.pop_front();
        }
        if entries.len() >= MAX_HISTORY {
            entries.pop_front();
        }
        entries.push_back(Before { at: now, partition: pending.0 });
    }
}

// ---- the admin endpoint -----------------------------------------------------

const ENDPOINT: &str = "The fault injection endpoint (/eipd-api/faults)";

/// `GET/PUT/DELETE /eipd-api/faults`.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/eipd-api/faults", get(show).put(replace).delete(clear))
}

fn json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

async fn show(State(app): State<Arc<AppState>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    json(StatusCode::OK, app.faults.config().to_json())
}

async fn replace(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    match FaultConfig::from_json(&body) {
        Ok(config) => {
            tracing::warn!(faults = ?config.specs(), consistency_delay_ms = config.consistency_delay_ms, "fault injection changed");
            let shown = config.to_json();
            app.faults.set(config);
            json(StatusCode::OK, shown)
        }
        Err(message) => json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": message })),
    }
}

async fn clear(State(app): State<Arc<AppState>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    app.faults.set(FaultConfig::default());
    tracing::info!("fault injection cleared");
    json(StatusCode::OK, FaultConfig::default().to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> FaultSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn specs_parse() {
        let s = spec("AllocateAddress:throttle=0.5");
        assert_eq!(s.action, "AllocateAddress");
        assert_eq!(s.rule, FaultRule { throttle: Some(0.5), ..FaultRule::default() });
        let s = spec(" *:latency=20ms, error=10% ");
        assert_eq!(s.action, "*");
        assert_eq!(s.rule.latency, Some(Latency { min_ms: 20, max_ms: 20 }));
        assert_eq!(s.rule.internal_error, Some(0.1));
        assert_eq!(spec("DescribeAddresses:latency=10-50ms").rule.latency, Some(Latency { min_ms: 10, max_ms: 50 }));
        assert_eq!(
            spec("DescribeAddresses:latency=100ms-1.5s").rule.latency,
            Some(Latency { min_ms: 100, max_ms: 1500 })
        );
        assert_eq!(spec("ReleaseAddress:internal_error=1").rule.internal_error, Some(1.0));
        assert_eq!(spec("ReleaseAddress:latency=2s").rule.latency, Some(Latency { min_ms: 2000, max_ms: 2000 }));
        assert_eq!(spec("ReleaseAddress:latency=15").rule.latency, Some(Latency { min_ms: 15, max_ms: 15 }));
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for (bad, why) in [
            ("AllocateAddress", "no action"),
            ("AllocateAdress:throttle=0.5", "not an action"),
            ("AllocateAddress:throttle=1.5", "outside"),
            ("AllocateAddress:throttle=x", "not a rate"),
            ("AllocateAddress:throttle", "no value"),
            ("AllocateAddress:slow=1", "unknown"),
            ("AllocateAddress:", "sets nothing"),
            ("AllocateAddress:latency=50ms-10ms", "lower bound"),
            ("AllocateAddress:latency=fast", "not a duration"),
            ("AllocateAddress:latency=-5ms", "not a duration"),
            ("AllocateAddress:latency=1h", "not a duration"),
            ("AllocateAddress:latency=3600s", "longer"),
        ] {
            let err = bad.parse::<FaultSpec>().expect_err(bad);
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn action_rules_override_the_wildcard_key_by_key() {
        let config = FaultConfig::from_specs(
            [spec("*:latency=5ms,throttle=0.1"), spec("AllocateAddress:throttle=1"), spec("AllocateAddress:error=0.2")],
            0,
        );
        let r = config.rule_for("AllocateAddress");
        assert_eq!(r.throttle, Some(1.0));
        assert_eq!(r.internal_error, Some(0.2));
        assert_eq!(r.latency, Some(Latency { min_ms: 5, max_ms: 5 }));
        assert_eq!(config.rule_for("ReleaseAddress").throttle, Some(0.1));
        assert!(!config.is_off());
        assert!(FaultConfig::default().is_off());
        assert_eq!(
            config.specs(),
            vec!["*:throttle=0.1,latency=5ms".to_owned(), "AllocateAddress:throttle=1,error=0.2".to_owned()]
        );
    }

    #[test]
    fn json_documents_round_trip() {
        let config = FaultConfig::from_specs([spec("*:latency=5ms-9ms"), spec("AllocateAddress:throttle=0.5")], 250);
        let shown = config.to_json().to_string();
        assert_eq!(FaultConfig::from_json(shown.as_bytes()).unwrap(), config);
        let put = br#"{"rules": {"ReleaseAddress": {"internal_error": 1.0, "latency": 20}}, "faults": ["*:throttle=0.1"], "consistency_delay": "1s"}"#;
        let c = FaultConfig::from_json(put).unwrap();
        assert_eq!(c.consistency_delay_ms, 1000);
        assert_eq!(c.rule_for("ReleaseAddress").latency, Some(Latency { min_ms: 20, max_ms: 20 }));
        assert_eq!(c.rule_for("ReleaseAddress").throttle, Some(0.1));
        assert!(FaultConfig::from_json(br#"{"rules": {"Nope": {"throttle": 1}}}"#).is_err());
        assert!(FaultConfig::from_json(br#"{"rules": {"*": {"throttle": 2}}}"#).is_err());
        assert!(FaultConfig::from_json(br#"{"rules": {"*": {"thrttle": 1}}}"#).is_err());
        assert!(FaultConfig::from_json(b"{}").unwrap().is_off());
    }

    #[tokio::test]
    async fn injection_follows_the_rates() {
        let faults = Faults::new(FaultConfig::from_specs([spec("AllocateAddress:throttle=1")], 0));
        assert_eq!(faults.inject(Action::AllocateAddress).await.unwrap_err().code, "RequestLimitExceeded");
        assert!(faults.inject(Action::ReleaseAddress).await.is_ok());
        faults.set(FaultConfig::from_specs([spec("*:error=1")], 0));
        let e = faults.inject(Action::ReleaseAddress).await.unwrap_err();
        assert_eq!((e.code, e.status), ("InternalError", 500));
        faults.set(FaultConfig::default());
        assert!(faults.inject(Action::ReleaseAddress).await.is_ok());
    }
}
