//! What this node was just asked: the last requests of the EC2 API, with
//! their outcome, for the dashboard's answer to a tester's first question —
//! what did my test just do, and what failed?
//!
//! In memory and per node (a fleet's nodes each keep their own); the oldest
//! entry goes when a new one comes past the capacity. A reset of the state
//! keeps them: moto-style suites reset around every test, and the requests
//! before a reset are what a tester looks for.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use eipd_domain::Scope;
use eipd_protocol::query::Params;

/// How many requests are kept.
pub const CAPACITY: usize = 1000;

/// The parameters that name what a request acted on, kept with it so that
/// "ReleaseAddress eipalloc-…" can be read back.
const SUBJECTS: [&str; 12] = [
    "AllocationId",
    "AssociationId",
    "PublicIp",
    "InstanceId",
    "NetworkInterfaceId",
    "PrivateIpAddress",
    "VpcId",
    "SubnetId",
    "InternetGatewayId",
    "AllocationId.1",
    "InstanceId.1",
    "ResourceId.1",
];

/// One answered request.
#[derive(Clone, Debug, Serialize)]
pub struct RequestEntry {
    /// Increases by one per request: the page asks for what is newer.
    pub seq: u64,
    pub at_ms: u64,
    pub request_id: String,
    /// The action, `unknown` when it is not one eipd serves, `-` when the
    /// request named none.
    pub action: String,
    /// None when the request was refused before its caller was known.
    pub account: Option<String>,
    pub region: Option<String>,
    pub status: u16,
    /// The EC2 error code and message of a refused request.
    pub code: Option<&'static str>,
    pub message: Option<String>,
    pub latency_us: u64,
    /// The ids the request named (`AllocationId`, `AssociationId`, …).
    pub subjects: Vec<(&'static str, String)>,
}

/// What a request named, read before its parameters are consumed.
pub fn subjects(params: &Params) -> Vec<(&'static str, String)> {
    SUBJECTS.iter().filter_map(|name| params.get(name).map(|v| (*name, v.to_owned()))).collect()
}

/// The outcome of one request, as the server knows it when it answers.
pub struct Outcome<'a> {
    pub request_id: &'a str,
    pub action: &'a str,
    pub scope: Option<&'a Scope>,
    pub status: u16,
    pub error: Option<(&'static str, &'a str)>,
    pub elapsed: Duration,
    pub subjects: Vec<(&'static str, String)>,
}

#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<(u64, VecDeque<RequestEntry>)>,
}

/// Which entries a reader wants.
#[derive(Default)]
pub struct RequestQuery<'a> {
    pub account: Option<&'a str>,
    pub action: Option<&'a str>,
    pub errors_only: bool,
    pub limit: usize,
}

impl RequestLog {
    pub fn record(&self, outcome: Outcome<'_>) {
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut entry = RequestEntry {
            seq: 0,
            at_ms,
            request_id: outcome.request_id.to_owned(),
            action: outcome.action.to_owned(),
            account: outcome.scope.map(|s| s.account.to_string()),
            region: outcome.scope.map(|s| s.region.to_string()),
            status: outcome.status,
            code: outcome.error.map(|(code, _)| code),
            message: outcome.error.map(|(_, message)| message.to_owned()),
            latency_us: outcome.elapsed.as_micros() as u64,
            subjects: outcome.subjects,
        };
        let mut guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, entries) = &mut *guard;
        *next += 1;
        entry.seq = *next;
        if entries.len() == CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The newest entries first.
    pub fn recent(&self, query: &RequestQuery<'_>) -> Vec<RequestEntry> {
        let guard = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .1
            .iter()
            .rev()
            .filter(|e| query.account.is_none_or(|a| e.account.as_deref() == Some(a)))
            .filter(|e| query.action.is_none_or(|a| e.action == a))
            .filter(|e| !query.errors_only || e.code.is_some())
            .take(query.limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<'a>(scope: &'a Scope, action: &'a str, error: Option<(&'static str, &'a str)>) -> Outcome<'a> {
        Outcome {
            request_id: "r",
            action,
            scope: Some(scope),
            status: if error.is_some() { 400 } else { 200 },
            error,
            elapsed: Duration::from_micros(250),
            subjects: vec![],
        }
    }

    #[test]
    fn keeps_the_newest_and_filters() {
        let log = RequestLog::default();
        let (a, b) = (Scope::new("111111111111", "us-east-1"), Scope::new("222222222222", "us-east-1"));
        for i in 0..CAPACITY + 5 {
            let scope = if i % 2 == 0 { &a } else { &b };
            log.record(outcome(scope, "DescribeAddresses", None));
        }
        log.record(outcome(&a, "ReleaseAddress", Some(("InvalidAllocationID.NotFound", "gone"))));
        let all = log.recent(&RequestQuery { limit: usize::MAX, ..RequestQuery::default() });
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(all[0].action, "ReleaseAddress");
        assert!(all.windows(2).all(|w| w[0].seq == w[1].seq + 1), "newest first, none missing");
        let errors = log.recent(&RequestQuery { errors_only: true, limit: 10, ..RequestQuery::default() });
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].code, errors[0].message.as_deref()),
            (Some("InvalidAllocationID.NotFound"), Some("gone"))
        );
        let of_b = log.recent(&RequestQuery { account: Some("222222222222"), limit: 3, ..RequestQuery::default() });
        assert_eq!(of_b.len(), 3);
        assert!(of_b.iter().all(|e| e.account.as_deref() == Some("222222222222")));
        let releases =
            log.recent(&RequestQuery { action: Some("ReleaseAddress"), limit: 10, ..RequestQuery::default() });
        assert_eq!(releases.len(), 1);
    }
}
