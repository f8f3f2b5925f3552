//! eipd: a local, durable, fast implementation of the Amazon EC2 Elastic IP
//! address API. A request flows server → auth → protocol → api → domain →
//! store; see ../shared/DESIGN.md and docs/.

pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod faults;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod store;
pub mod transfer;
