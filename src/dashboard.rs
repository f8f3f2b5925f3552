//! The dashboard: one self-contained page (`GET /dashboard`) and the JSON it
//! polls, built from the latest committed snapshot. It shows every account,
//! so it is refused under `--auth strict`.
//!
//! - `GET /dashboard/api/scopes`: every (account, region) with state, with
//!   counts, and the server's flavour, auth mode and active faults;
//! - `GET /dashboard/api/state?account=ID&region=R`: one partition's addresses,
//!   associations, interfaces, instances, VPCs, subnets and internet gateways;
//! - `GET /dashboard/api/addresses`: every account's addresses (all-accounts view);
//! - `GET /dashboard/api/requests?account=ID&action=A&errors=1&limit=N`: the
//!   last requests this node answered, newest first.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::activity::{self, RequestQuery};
use crate::app::{AppState, refused_under_strict};
use crate::auth::AuthMode;
use eipd_domain::view::private_dns_name;
use eipd_domain::{Address, Flavor, Partition, Scope, World};

/// The page, with its CSS and script inline (no build step, no external URL).
pub const PAGE: &str = include_str!("../assets/dashboard.html");

const ENDPOINT: &str = "The dashboard (it shows every account)";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/", get(page))
        .route("/dashboard/api/scopes", get(scopes))
        .route("/dashboard/api/state", get(state))
        .route("/dashboard/api/addresses", get(all_addresses))
        .route("/dashboard/api/requests", get(requests))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], value.to_string())
        .into_response()
}

async fn page(State(app): State<Arc<AppState>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Everything is inline; nothing may be fetched from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
            ),
        ],
        PAGE,
    )
        .into_response()
}

async fn scopes(State(app): State<Arc<AppState>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    let mut body = scopes_json(&app.store.snapshot());
    let faults = app.faults.config();
    body["server"] = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "flavor": if app.store.settings().flavor == Flavor::Moto { "moto" } else { "aws" },
        "auth": if app.auth.mode == AuthMode::Strict { "strict" } else { "open" },
        "faults": faults.specs(),
        "consistency_delay_ms": faults.consistency_delay_ms,
        "recent_requests_kept": activity::CAPACITY,
    });
    json_response(StatusCode::OK, &body)
}

/// The rows the all-accounts view shows at most.
const ALL_ADDRESSES_LIMIT: usize = 2000;

async fn all_addresses(State(app): State<Arc<AppState>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    json_response(StatusCode::OK, &all_addresses_json(&app.store.snapshot(), ALL_ADDRESSES_LIMIT))
}

async fn requests(State(app): State<Arc<AppState>>, Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    let wanted = RequestQuery {
        account: query.get("account").map(String::as_str).filter(|a| !a.is_empty()),
        action: query.get("action").map(String::as_str).filter(|a| !a.is_empty()),
        errors_only: query.get("errors").is_some_and(|e| e == "1" || e == "true"),
        limit: query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(200),
    };
    json_response(StatusCode::OK, &json!({"requests": app.requests.recent(&wanted), "kept": activity::CAPACITY}))
}

/// Every account's addresses, by account and region, up to `limit` rows.
pub fn all_addresses_json(world: &World, limit: usize) -> Value {
    let rows: Vec<Value> = world
        .partitions()
        .flat_map(|(scope, part)| {
            let mut addresses: Vec<&Address> = part.addresses().collect();
            addresses.sort_by_key(|a| (a.seq, a.public_ip));
            addresses.into_iter().map(move |a| {
                json!({
                    "account": &*scope.account,
                    "region": &*scope.region,
                    "public_ip": a.public_ip,
                    "allocation_id": a.allocation_id,
                    "association_id": a.association.as_ref().map(|x| &x.id),
                    "network_interface_id": a.association.as_ref().map(|x| &x.network_interface_id),
                    "instance_id": instance_of(part, a),
                    "tags": a.tags,
                })
            })
        })
        .take(limit)
        .collect();
    json!({"addresses": rows, "total": world.address_count(), "limit": limit})
}

async fn state(State(app): State<Arc<AppState>>, Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(refused) = refused_under_strict(&app, ENDPOINT) {
        return refused;
    }
    let (Some(account), Some(region)) = (query.get("account"), query.get("region")) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": "give ?account=ID&region=REGION (GET /dashboard/api/scopes lists them)"}),
        );
    };
    let scope = Scope::new(account, region);
    // The latest state of the partition, including other nodes' changes when the store is shared.
    let world = match app.store.read(&scope).await {
        Ok(world) => world,
        Err(e) => {
            let e = eipd_api::store_error(e);
            return json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"error": e.message}));
        }
    };
    match world.partition(&scope) {
        Some(part) => json_response(StatusCode::OK, &partition_json(&scope, part, true)),
        // A scope without state looks as a new account does: its defaults.
        None => json_response(StatusCode::OK, &partition_json(&scope, &Partition::with_defaults(&scope), false)),
    }
}

/// Every (account, region) with state, sorted, with counts.
pub fn scopes_json(world: &World) -> Value {
    let scopes: Vec<Value> = world
        .partitions()
        .map(|(scope, part)| {
            json!({
                "account": &*scope.account,
                "region": &*scope.region,
                "addresses": part.address_count(),
                "associated": part.addresses().filter(|a| a.association.is_some()).count(),
                "interfaces": part.interfaces().count(),
                "instances": part.instances().count(),
            })
        })
        .collect();
    json!({
        "scopes": scopes,
        "addresses": world.address_count(),
        "generated_at_ms": now_ms(),
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn time_iso(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The instance an address reaches through its association, if any.
fn instance_of<'a>(part: &'a Partition, address: &Address) -> Option<&'a eipd_domain::InstanceId> {
    address.association.as_ref().and_then(|a| part.interface(&a.network_interface_id)).and_then(|n| n.instance_id())
}

/// One partition as the dashboard shows it.
pub fn partition_json(scope: &Scope, part: &Partition, exists: bool) -> Value {
    let region = &*scope.region;
    let mut addresses: Vec<&Address> = part.addresses().collect();
    addresses.sort_by_key(|a| (a.seq, a.public_ip));

    let address_rows: Vec<Value> = addresses
        .iter()
        .map(|a| {
            let assoc = a.association.as_ref();
            json!({
                "public_ip": a.public_ip,
                "allocation_id": a.allocation_id,
                "domain": a.domain.as_str(),
                "network_border_group": &*a.network_border_group,
                "association_id": assoc.map(|x| &x.id),
                "network_interface_id": assoc.map(|x| &x.network_interface_id),
                "private_ip": assoc.map(|x| x.private_ip),
                "instance_id": instance_of(part, a),
                "tags": a.tags,
                "ptr_record": a.ptr_record,
            })
        })
        .collect();

    let associations: Vec<Value> = addresses
        .iter()
        .filter_map(|a| {
            let assoc = a.association.as_ref()?;
            let eni = part.interface(&assoc.network_interface_id);
            Some(json!({
                "association_id": assoc.id,
                "public_ip": a.public_ip,
                "allocation_id": a.allocation_id,
                "network_interface_id": assoc.network_interface_id,
                "private_ip": assoc.private_ip,
                "instance_id": eni.and_then(|n| n.instance_id()),
                "device_index": eni.and_then(|n| n.attachment.as_ref()).map(|att| att.device_index),
                "primary_private_ip": eni.map(|n| n.primary_private_ip() == assoc.private_ip),
            }))
        })
        .collect();

    let interfaces: Vec<Value> = part
        .interfaces()
        .map(|eni| {
            let publics = part.public_ipv4s(eni);
            let private_ips: Vec<Value> = eni
                .private_ips
                .iter()
                .enumerate()
                .map(|(i, ip)| {
                    let public = publics.iter().find(|p| p.private_ip == *ip);
                    json!({
                        "private_ip": ip,
                        "primary": i == 0,
                        "private_dns_name": private_dns_name(*ip, region),
                        "public_ip": public.map(|p| p.public_ip),
                        "elastic": public.map(|p| p.elastic.is_some()),
                        "allocation_id": public.and_then(|p| p.elastic).and_then(|a| a.allocation_id.as_ref()),
                        "association_id": public.and_then(|p| p.elastic).and_then(|a| a.association.as_ref()).map(|x| &x.id),
                    })
                })
                .collect();
            let dns = part.dns_name_options(eni, region);
            json!({
                "id": eni.id,
                "description": eni.description,
                "vpc_id": eni.vpc_id,
                "subnet_id": eni.subnet_id,
                "availability_zone": eni.availability_zone,
                "mac_address": eni.mac_address,
                "private_ips": private_ips,
                "ipv6_addresses": eni.ipv6_addresses,
                "auto_public_ip": eni.auto_public_ip,
                "hostname_type": dns.hostname_type.map(|h| h.as_str()),
                "dns": {
                    "public_ipv4": dns.ipv4_name,
                    "public_ipv6": dns.ipv6_name,
                    "public_dual_stack": dns.dual_stack_name,
                },
                "dns_hostnames_enabled": part.dns_hostnames_enabled(eni),
                "attachment": eni.attachment.as_ref().map(|att| json!({
                    "attachment_id": att.id,
                    "instance_id": att.instance_id,
                    "device_index": att.device_index,
                    "attach_time": time_iso(att.attach_time),
                    "delete_on_termination": att.delete_on_termination,
                })),
                "source_dest_check": eni.source_dest_check,
                "status": if eni.attachment.is_some() { "in-use" } else { "available" },
                "tags": eni.tags,
            })
        })
        .collect();

    let instances: Vec<Value> = part
        .instances()
        .map(|inst| {
            let enis = part.interfaces_of(&inst.id);
            let primary = part.primary_interface(inst);
            let public = primary.and_then(|eni| part.primary_public_ipv4(eni));
            json!({
                "id": inst.id,
                "state": inst.state.name(),
                "instance_type": inst.instance_type,
                "image_id": inst.image_id,
                "key_name": inst.key_name,
                "vpc_id": inst.vpc_id,
                "subnet_id": inst.subnet_id,
                "availability_zone": inst.availability_zone,
                "launch_time": time_iso(inst.launch_time),
                "private_ip": primary.map(|eni| eni.primary_private_ip()),
                "public_ip": public.map(|p| p.public_ip),
                "public_ip_elastic": public.map(|p| p.elastic.is_some()),
                "interfaces": enis.iter().map(|eni| json!({
                    "id": eni.id,
                    "device_index": eni.attachment.as_ref().map(|a| a.device_index),
                    "private_ips": eni.private_ips,
                    "public_ips": part.public_ipv4s(eni).iter().map(|p| p.public_ip).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "tags": inst.tags,
            })
        })
        .collect();

    let vpcs: Vec<Value> = part
        .vpcs()
        .map(|v| {
            json!({
                "id": v.id,
                "cidr_block": v.cidr_block,
                "ipv6_cidr_block": v.ipv6_cidr.as_ref().map(|(_, net)| net),
                "is_default": v.is_default,
                "enable_dns_hostnames": v.enable_dns_hostnames,
                "enable_dns_support": v.enable_dns_support,
                "internet_gateway_id": part.gateway_of(&v.id).map(|g| &g.id),
                "tags": v.tags,
            })
        })
        .collect();
    let subnets: Vec<Value> = part
        .subnets()
        .map(|s| {
            json!({
                "id": s.id,
                "vpc_id": s.vpc_id,
                "cidr_block": s.cidr_block,
                "ipv6_cidr_block": s.ipv6_cidr.as_ref().map(|(_, net)| net),
                "availability_zone": s.availability_zone,
                "default_for_az": s.default_for_az,
                "map_public_ip_on_launch": s.map_public_ip_on_launch,
                "tags": s.tags,
            })
        })
        .collect();
    let gateways: Vec<Value> = part
        .internet_gateways()
        .map(|g| json!({"id": g.id, "attached_vpc_id": g.attached_vpc, "tags": g.tags}))
        .collect();

    json!({
        "account": &*scope.account,
        "region": region,
        "exists": exists,
        "generated_at_ms": now_ms(),
        "counts": {
            "addresses": address_rows.len(),
            "associations": associations.len(),
            "interfaces": interfaces.len(),
            "instances": instances.len(),
            "vpcs": vpcs.len(),
            "subnets": subnets.len(),
            "internet_gateways": gateways.len(),
        },
        "addresses": address_rows,
        "associations": associations,
        "interfaces": interfaces,
        "instances": instances,
        "vpcs": vpcs,
        "subnets": subnets,
        "internet_gateways": gateways,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_partition_shows_its_default_network() {
        let scope = Scope::new("123456789012", "eu-west-1");
        let v = partition_json(&scope, &Partition::with_defaults(&scope), false);
        assert_eq!(v["counts"]["vpcs"], 1);
        assert_eq!(v["counts"]["subnets"], 3);
        assert_eq!(v["counts"]["addresses"], 0);
        assert_eq!(v["vpcs"][0]["is_default"], true);
        assert!(v["vpcs"][0]["internet_gateway_id"].as_str().is_some_and(|id| id.starts_with("igw-")));
    }

    #[test]
    fn the_page_is_self_contained() {
        assert!(PAGE.contains("<script>") && PAGE.contains("<style>"));
        for external in ["http://", "https://", "src=\"//", "href=\"//"] {
            assert!(!PAGE.contains(external), "the page refers to {external}");
        }
    }
}
