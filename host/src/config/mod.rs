//! Configuration: the seed's YAML files plus `policies.yaml`, loaded in two
//! steps (raw serde structs, then validated [`model`] types).

pub mod model;
pub use model::*;
