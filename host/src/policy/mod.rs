//! The policy runtime: loads the WebAssembly components named in
//! `config/policies.yaml`, checks them against the `tollgate:policy` world,
//! and runs them in order on every request under a fuel budget, an epoch
//! deadline and a memory cap.
//!
//! - [`bindings`]: the WIT contract, one module per released version.
//! - [`state`]: the host-owned state capability (counters, reservation pools).
//! - [`engine`]: the shared wasmtime engine and its epoch ticker thread.
//! - [`component`]: one loaded, checked, configured policy and its instances.
//! - [`chain`]: the ordered slots and the decision for one request.

pub mod bindings;
pub mod chain;
pub mod component;
pub mod engine;
pub mod state;
pub mod views;

use anyhow::Context;
use std::sync::Arc;

pub use chain::{Decision, PolicyChain, Refusal};
pub use component::{LoadedPolicy, SlotSpec};
pub use engine::PolicyEngine;
pub use state::StateStore;

use crate::config::{ComponentSource, Config, Slot};

/// Reads the bytes of a slot's component (built in, or a file relative to the config dir).
pub fn component_bytes(
    config_dir: &std::path::Path,
    source: &ComponentSource,
) -> anyhow::Result<(String, Vec<u8>)> {
    match source {
        ComponentSource::Builtin(name) => {
            let bytes = crate::builtin::component(name).with_context(|| {
                let names: Vec<_> = crate::builtin::BUILTIN.iter().map(|(n, _)| *n).collect();
                format!(
                    "no built-in policy `{name}` (built-in: {})",
                    names.join(", ")
                )
            })?;
            Ok((format!("builtin:{name}"), bytes.to_vec()))
        }
        ComponentSource::File(path) => {
            let path = config_dir.join(path);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read policy component {}", path.display()))?;
            Ok((path.display().to_string(), bytes))
        }
    }
}

/// Loads one slot of the configuration.
pub fn load_slot(
    engine: &PolicyEngine,
    config: &Config,
    slot: &Slot,
    state: Arc<StateStore>,
) -> anyhow::Result<Arc<LoadedPolicy>> {
    let (source, bytes) = component_bytes(&config.dir, &slot.component)?;
    LoadedPolicy::load(
        engine,
        SlotSpec {
            slot: &slot.name,
            source,
            bytes: &bytes,
            settings: &slot.settings,
            failure_mode: slot.failure_mode,
            sandbox: config.policies.sandbox,
        },
        state,
    )
    .with_context(|| format!("policies.yaml: chain slot `{}`", slot.name))
}

/// Loads every slot of the configuration into a chain.
pub fn load_chain(
    engine: &PolicyEngine,
    config: &Config,
    state: Arc<StateStore>,
) -> anyhow::Result<PolicyChain> {
    let policies = config
        .policies
        .chain
        .iter()
        .map(|slot| load_slot(engine, config, slot, state.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(PolicyChain::new(policies, state))
}
