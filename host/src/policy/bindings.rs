//! Host bindings of the WIT contract, one module per released version; the
//! newest is re-exported as `latest` (the rest of the host uses only it).
//! When `wit/since_v0.2.0/` appears, `v0_1_0` stays and converts into it.

/// `tollgate:policy@0.1.0` (`wit/since_v0.1.0`).
pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "wit/since_v0.1.0",
        world: "policy",
        additional_derives: [PartialEq],
    });
}

pub use v0_1_0 as latest;
pub use v0_1_0::*;

/// The contract version components are checked against.
pub const CONTRACT_VERSION: &str = "0.1.0";
/// The only interfaces a policy may import.
pub const ALLOWED_IMPORTS: &[&str] =
    &["tollgate:policy/types@0.1.0", "tollgate:policy/state@0.1.0"];
