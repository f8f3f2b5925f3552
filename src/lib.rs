//! eipd: a local, durable, fast implementation of the Amazon EC2 Elastic IP
//! address API. A request flows server → auth → protocol → api → domain ←
//! store; each layer below the server is a crate of its own (see
//! docs/architecture.md), re-exported here under its layer's name.

pub use eipd_api as api;
pub use eipd_domain as domain;
pub use eipd_domain::error;
pub use eipd_protocol as protocol;
pub use eipd_store as store;

pub mod activity;
pub mod app;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod faults;
pub mod metrics;
pub mod server;
mod sts;
pub mod transfer;
