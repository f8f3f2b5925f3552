//! The layers as the build sees them (docs/architecture.md): each crate may
//! use only the crates below it, and the domain no HTTP, XML, SQL, file or
//! async crate. Cargo already refuses an import of a crate that is not a
//! dependency; this test refuses the dependency itself.

use std::collections::BTreeSet;
use std::path::Path;

/// Every dependency a crate's Cargo.toml names (not its dev-dependencies).
fn dependencies(krate: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates").join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    manifest.get("dependencies").and_then(|d| d.as_table()).map(|d| d.keys().cloned().collect()).unwrap_or_default()
}

fn assert_within(krate: &str, allowed: &[&str]) {
    let extra: Vec<String> = dependencies(krate).into_iter().filter(|d| !allowed.contains(&d.as_str())).collect();
    assert!(
        extra.is_empty(),
        "{krate} depends on {extra:?}, outside its layer (allowed: {allowed:?}); see docs/architecture.md"
    );
}

#[test]
fn the_domain_uses_no_io_crate_and_no_other_layer() {
    // Data structures, ids, the JSON shape of records, EC2's timestamp text
    // and the pure computation of key pairs: nothing that touches a socket,
    // a file, a database or a runtime.
    assert_within(
        "eipd-domain",
        &[
            "arrayvec",
            "base64",
            "imbl",
            "ipnet",
            "md-5",
            "rand",
            "rsa",
            "serde",
            "serde_json",
            "sha1",
            "ssh-key",
            "time",
        ],
    );
}

#[test]
fn the_protocol_knows_the_domain_only() {
    assert_within("eipd-protocol", &["eipd-domain", "form_urlencoded", "percent-encoding", "quick-xml"]);
}

#[test]
fn the_store_knows_the_domain_only() {
    assert_within(
        "eipd-store",
        &[
            "eipd-domain",
            "anyhow",
            "arc-swap",
            "crc32fast",
            "prometheus-client",
            // The tokens of the PostgreSQL store's optimistic commits.
            "rand",
            "redb",
            "serde_json",
            "thiserror",
            "time",
            "tokio",
            "tokio-postgres",
            "tracing",
        ],
    );
}

#[test]
fn the_api_sees_no_http() {
    assert_within("eipd-api", &["eipd-domain", "eipd-protocol", "eipd-store", "ipnet", "serde", "serde_json", "time"]);
}
