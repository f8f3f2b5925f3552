//! The EC2 Query wire format: form decoding in, XML out. No rules live here.

pub mod model_params;
pub mod query;
pub mod xml;

pub use query::{Filter, Params, TagSpecification, not_taken};
pub use xml::{ReturnTrue, ToXml, XmlWriter};
