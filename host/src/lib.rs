//! Tollgate: an LLM serving gateway whose governance policies are WebAssembly
//! components. The modules follow the request path: config → policy runtime →
//! admission → queue → workers → backends → accounting.

pub mod accounting;
pub mod admission;
pub mod api;
pub mod backend;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod eval;
pub mod gateway;
pub mod metrics;
pub mod policy;
pub mod queue;
pub mod requests;
pub mod stress;
pub mod watch;
pub mod workers;

/// Policy components compiled into the binary by `host/build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));

    /// The bytes of the built-in component `name` (`builtin:NAME` in policies.yaml).
    pub fn component(name: &str) -> Option<&'static [u8]> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// Directory holding every component built from `policies/` (fixtures included).
    pub const COMPONENTS_DIR: &str = env!("TOLLGATE_COMPONENTS_DIR");
}
