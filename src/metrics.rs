//! Prometheus metrics (`GET /metrics`): requests by action and code, their
//! latency, and the size of the store.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use eipd_api::Action;
use eipd_store::StoreMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ActionLabels, Histogram>,
    addresses: Gauge,
    partitions: Gauge,
    store_writable: Gauge,
    /// Each action's success series, looked up once: the common case then
    /// costs no label hashing and no allocation.
    succeeded: Vec<OnceLock<(Counter, Histogram)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("eipd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "EC2 API requests by action and answer code (OK on success)", requests.clone());
        let latency = Family::<ActionLabels, Histogram>::new_with_constructor(|| {
            // 50 µs to ~1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register("request_duration_seconds", "Time to answer an EC2 API request", latency.clone());
        let addresses = Gauge::default();
        registry.register("addresses", "Elastic IP addresses held, all accounts and regions", addresses.clone());
        let partitions = Gauge::default();
        registry.register("partitions", "Account and region pairs with state", partitions.clone());
        let store_writable = Gauge::default();
        registry.register(
            "store_writable",
            "1 while the store can take writes, 0 while it cannot (see /health for why)",
            store_writable.clone(),
        );
        let succeeded = Action::ALL.iter().map(|_| OnceLock::new()).collect();
        Self { registry, requests, latency, addresses, partitions, store_writable, succeeded }
    }

    /// Adds the store's figures to the exposition.
    pub fn register_store(&mut self, store: &StoreMetrics) {
        self.registry.register(
            "commit_operations",
            "Operations made durable together by one commit of the store (group commit)",
            store.operations.clone(),
        );
        self.registry.register(
            "commit_duration_seconds",
            "Time for one commit of the store to become durable",
            store.duration.clone(),
        );
        self.registry.register(
            "commit_reruns",
            "Operations run again because another node of the fleet changed their partition, or took an IP they took, before their optimistic commit landed (PostgreSQL store)",
            store.reruns.clone(),
        );
        self.registry.register(
            "read_checks",
            "Reads answered by one question to PostgreSQL of whether other nodes wrote in their partitions (reads waiting together share one)",
            store.read_checks.clone(),
        );
    }

    /// Counts one request answered with success.
    pub fn observe_ok(&self, action: Action, elapsed: Duration) {
        let (count, latency) = self.succeeded[action as usize].get_or_init(|| {
            let name = action.name().to_owned();
            let count = self.requests.get_or_create(&RequestLabels { action: name.clone(), code: "OK".into() });
            (count.clone(), self.latency.get_or_create(&ActionLabels { action: name }).clone())
        });
        count.inc();
        latency.observe(elapsed.as_secs_f64());
    }

    /// Counts one answered request. Unknown actions are counted as `unknown`
    /// so a hostile client cannot grow the label set without bound.
    pub fn observe(&self, action: Option<Action>, code: &str, elapsed: Duration) {
        let action = action.map_or("unknown", Action::name).to_owned();
        self.requests.get_or_create(&RequestLabels { action: action.clone(), code: code.to_owned() }).inc();
        self.latency.get_or_create(&ActionLabels { action }).observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the store's size as of now.
    pub fn render(&self, addresses: usize, partitions: usize, writable: bool) -> String {
        self.addresses.set(addresses as i64);
        self.partitions.set(partitions as i64);
        self.store_writable.set(i64::from(writable));
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.observe_ok(Action::DisassociateAddress, Duration::from_micros(120));
        m.observe(Some(Action::DisassociateAddress), "InvalidAssociationID.NotFound", Duration::from_micros(80));
        let mut m = m;
        let store = StoreMetrics::default();
        m.register_store(&store);
        store.operations.observe(3.0);
        let text = m.render(7, 2, false);
        assert!(text.contains(r#"eipd_requests_total{action="DisassociateAddress",code="OK"} 1"#), "{text}");
        assert!(text.contains(r#"code="InvalidAssociationID.NotFound"} 1"#));
        assert!(text.contains("eipd_request_duration_seconds_count{action=\"DisassociateAddress\"} 2"));
        assert!(text.contains("eipd_addresses 7"));
        assert!(text.contains("eipd_partitions 2"));
        assert!(text.contains("eipd_store_writable 0"), "{text}");
        assert!(text.contains("eipd_commit_operations_count 1"), "{text}");
        assert!(text.contains("eipd_commit_duration_seconds_count 0"), "{text}");
        assert!(text.contains("eipd_commit_reruns_total 0"), "{text}");
    }
}
