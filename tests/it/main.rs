//! End-to-end tests of eipd through the Rust aws-sdk-ec2 (and raw HTTP where
//! the SDK will not go). Most tests share one in-memory server and use a
//! fresh 12-digit account each (D11); tests about processes start their own.

mod account;
mod attributes;
mod auth;
mod common;
mod corrections;
mod dhcp_options;
mod disassociate;
mod dual_stack;
mod durability;
mod errors;
mod images;
mod invariants;
mod lifecycle;
mod nat_gateways;
mod route_tables;
mod security_groups;
mod server;
