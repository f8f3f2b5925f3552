//! The EC2 Query wire format: form decoding in, XML out. No rules live here.

pub mod model_params;
pub mod query;
pub mod xml;

pub use eipd_domain::filter::Filter;
pub use query::{Params, TagSpecification, not_taken};
pub use xml::{ReturnTrue, ToXml, XmlWriter};
