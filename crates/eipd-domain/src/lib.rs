//! The rules, pure and I/O-free: they see typed records through a [`Tx`] and
//! never HTTP, XML, SQL or files.

pub mod account;
pub mod addresses;
pub mod describe;
pub mod dhcp_options;
pub mod error;
pub mod filter;
pub mod ids;
pub mod images;
pub mod instances;
pub mod internet_gateways;
#[cfg(test)]
mod invariants;
pub mod key_pairs;
pub mod model;
pub mod nat_gateways;
pub mod network_interfaces;
pub mod regions;
pub mod route_tables;
pub mod security_groups;
pub mod state;
pub mod subnets;
pub mod tags;
pub mod verify;
pub mod view;
pub mod vpcs;

pub use error::{ApiError, ApiResult};
pub use ids::*;
pub use model::*;
pub use state::{Changes, Flavor, Partition, PoolEvent, Record, RecordKey, RegionPool, Settings, Tx, World};
