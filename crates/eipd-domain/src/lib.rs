//! The rules, pure and I/O-free: they see typed records through a [`Tx`] and
//! never HTTP, XML, SQL or files.

pub mod addresses;
pub mod error;
pub mod filter;
pub mod ids;
#[cfg(test)]
mod invariants;
pub mod model;
pub mod network;
pub mod state;
pub mod tags;
pub mod view;

pub use error::{ApiError, ApiResult};
pub use ids::*;
pub use model::*;
pub use state::{Flavor, Partition, Record, RecordKey, RegionPool, Settings, Tx, World};
