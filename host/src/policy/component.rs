//! One loaded policy: a component compiled once, checked against the world,
//! configured, and served from a pool of reusable instances. Every call runs
//! under the slot's fuel budget, epoch deadline and memory cap; a trapped
//! instance is dropped and a fresh one is made on the next call.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap};

use super::bindings::{ALLOWED_IMPORTS, Policy, PolicyInfo, PolicyPre};
use super::engine::{PolicyEngine, TICK};
use super::state::{StateStore, StateView};
use crate::config::{FailureMode, Sandbox};

/// The data of one instance's `Store`: its memory limits and its view of the
/// host state (the only capability a policy has).
pub struct PolicyCtx {
    limits: StoreLimits,
    state: StateView,
}

struct Instance {
    store: Store<PolicyCtx>,
    policy: Policy,
}

/// Why a call into a policy did not return a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The guest trapped (panic, out-of-bounds, memory cap, ...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The call ran out of fuel or past its deadline.
    #[error("ran past its limit ({0})")]
    Timeout(String),
}

/// Call counters of one loaded policy.
#[derive(Debug)]
pub struct CallStats {
    pub calls: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub nanos: AtomicU64,
    pub fuel: AtomicU64,
    pub instances_created: AtomicU64,
    /// Call times in nanoseconds (3 significant digits).
    call_ns: Mutex<hdrhistogram::Histogram<u64>>,
}

impl Default for CallStats {
    fn default() -> Self {
        Self {
            calls: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            fuel: AtomicU64::new(0),
            instances_created: AtomicU64::new(0),
            call_ns: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)
                    .expect("valid bounds"),
            ),
        }
    }
}

/// A snapshot of [`CallStats`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub traps: u64,
    pub timeouts: u64,
    pub mean_call_ns: u64,
    pub call_p50_us: f64,
    pub call_p99_us: f64,
    pub mean_fuel_per_call: u64,
    pub instances_created: u64,
}

impl CallStats {
    /// Reads the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let calls = self.calls.load(Ordering::Relaxed);
        let per = |v: u64| v.checked_div(calls).unwrap_or(0);
        let hist = self.call_ns.lock();
        let us = |q: f64| {
            if hist.is_empty() {
                0.0
            } else {
                hist.value_at_quantile(q) as f64 / 1000.0
            }
        };
        StatsSnapshot {
            calls,
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            mean_call_ns: per(self.nanos.load(Ordering::Relaxed)),
            call_p50_us: us(0.50),
            call_p99_us: us(0.99),
            mean_fuel_per_call: per(self.fuel.load(Ordering::Relaxed)),
            instances_created: self.instances_created.load(Ordering::Relaxed),
        }
    }

    fn record(&self, elapsed: Duration, fuel: u64) {
        let ns = elapsed.as_nanos() as u64;
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(ns, Ordering::Relaxed);
        self.fuel.fetch_add(fuel, Ordering::Relaxed);
        self.call_ns.lock().saturating_record(ns.max(1));
    }
}

/// A policy component ready to serve one slot.
pub struct LoadedPolicy {
    /// The slot it serves (also its state namespace).
    pub slot: String,
    /// What the component says it is.
    pub info: PolicyInfo,
    /// Where it came from: `builtin:NAME` or a file path.
    pub source: String,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// What a trap or timeout means for the request.
    pub failure_mode: FailureMode,
    /// Call counters.
    pub stats: CallStats,
    /// `slot=name@version`, as listed in the response header.
    pub decided_by: Arc<str>,
    pre: PolicyPre<PolicyCtx>,
    engine: wasmtime::Engine,
    settings: String,
    sandbox: Sandbox,
    namespace: Arc<str>,
    state: Arc<StateStore>,
    idle: Mutex<Vec<Instance>>,
}

/// The parts of a slot's configuration the runtime needs to load a component.
pub struct SlotSpec<'a> {
    pub slot: &'a str,
    pub source: String,
    pub bytes: &'a [u8],
    pub settings: &'a serde_json::Value,
    pub failure_mode: FailureMode,
    pub sandbox: Sandbox,
}

const CORE_MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

impl LoadedPolicy {
    /// Compiles, checks, instantiates and configures a component. Every error
    /// names the source and says what to do.
    pub fn load(
        engine: &PolicyEngine,
        spec: SlotSpec<'_>,
        state: Arc<StateStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let source = spec.source.clone();
        Self::load_inner(engine, spec, state).with_context(|| format!("policy `{source}`"))
    }

    fn load_inner(
        engine: &PolicyEngine,
        spec: SlotSpec<'_>,
        state: Arc<StateStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let bytes = spec.bytes;
        if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
            bail!(
                "not a WebAssembly component (the file does not start with the wasm magic bytes; build policies with `tollgate policy build`)"
            );
        }
        if bytes[..8] == CORE_MODULE_HEADER {
            bail!(
                "is a core WebAssembly module, not a component (turn it into a component with `tollgate policy build`, which runs wit-component on the module)"
            );
        }
        let engine = engine.engine().clone();
        let component =
            Component::new(&engine, bytes).map_err(|e| anyhow!("cannot be compiled: {e:#}"))?;
        let ty = component.component_type();
        for (name, _) in ty.imports(&engine) {
            if !ALLOWED_IMPORTS.contains(&name) {
                bail!(
                    "imports `{name}`, but a policy may import only {} (no WASI, clock or randomness: the host passes `now` and owns all state)",
                    ALLOWED_IMPORTS.join(" and ")
                );
            }
        }
        let mut linker = Linker::<PolicyCtx>::new(&engine);
        Policy::add_to_linker::<_, HasSelf<StateView>>(&mut linker, |ctx| &mut ctx.state)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(PolicyPre::new)
            .map_err(|e| anyhow!("does not match the tollgate:policy/policy@0.1.0 world: {e:#}"))?;
        let settings = serde_json::to_string(spec.settings)?;
        let mut policy = Self {
            slot: spec.slot.to_owned(),
            info: PolicyInfo {
                name: String::new(),
                version: String::new(),
            },
            source: spec.source,
            sha256: sha256_hex(bytes),
            loaded_at: SystemTime::now(),
            failure_mode: spec.failure_mode,
            stats: CallStats::default(),
            decided_by: Arc::from(""),
            pre,
            engine,
            settings,
            sandbox: spec.sandbox,
            namespace: Arc::from(spec.slot),
            state,
            idle: Mutex::new(Vec::new()),
        };
        let mut first = policy.instantiate().map_err(|e| match e {
            InstantiateError::Refused(msg) => anyhow!("refused its settings: {msg}"),
            InstantiateError::Failed(e) => anyhow!("failed to start: {e}"),
        })?;
        policy.info = policy
            .guarded(&mut first, "", 0, |p, s| p.call_info(s))
            .map_err(|e| anyhow!("`info` failed: {e}"))?;
        policy.decided_by = Arc::from(format!("{}={}", policy.slot, policy.label()));
        policy.idle.get_mut().push(first);
        Ok(Arc::new(policy))
    }

    /// `name@version` of the component, as shown in response headers.
    pub fn label(&self) -> String {
        format!("{}@{}", self.info.name, self.info.version)
    }

    /// Runs `f` on an idle instance (or a new one) under the sandbox limits.
    pub fn call<R>(
        &self,
        request_id: &str,
        now_ms: u64,
        f: impl FnOnce(&Policy, &mut Store<PolicyCtx>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let idle = self.idle.lock().pop();
        let mut instance = match idle {
            Some(i) => i,
            None => self.instantiate().map_err(|e| {
                self.stats.traps.fetch_add(1, Ordering::Relaxed);
                CallError::Trap(format!("cannot start a new instance: {e}"))
            })?,
        };
        let result = self.guarded(&mut instance, request_id, now_ms, f);
        if result.is_ok() {
            self.idle.lock().push(instance);
        }
        // A trapped instance cannot be entered again: it is dropped here.
        result
    }

    fn guarded<R>(
        &self,
        instance: &mut Instance,
        request_id: &str,
        now_ms: u64,
        f: impl FnOnce(&Policy, &mut Store<PolicyCtx>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let store = &mut instance.store;
        let fuel = self.sandbox.fuel_per_call;
        store.set_fuel(fuel).expect("fuel is enabled");
        store.set_epoch_deadline(deadline_ticks(self.sandbox.deadline));
        let view = &mut store.data_mut().state;
        view.request_id.clear();
        view.request_id.push_str(request_id);
        view.now_ms = now_ms;
        let started = Instant::now();
        let result = f(&instance.policy, store);
        let elapsed = started.elapsed();
        let used = fuel - store.get_fuel().unwrap_or(0);
        let stats = &self.stats;
        stats.record(elapsed, used);
        result.map_err(|e| match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
                CallError::Timeout(format!("used all {fuel} fuel"))
            }
            Some(Trap::Interrupt) => {
                stats.timeouts.fetch_add(1, Ordering::Relaxed);
                CallError::Timeout(format!(
                    "deadline of {} ms",
                    self.sandbox.deadline.as_millis()
                ))
            }
            _ => {
                stats.traps.fetch_add(1, Ordering::Relaxed);
                CallError::Trap(format!("{e:#}"))
            }
        })
    }

    /// Whether this policy was loaded from the same bytes with the same slot
    /// setup (a config reload keeps it instead of reloading).
    pub fn same_setup(
        &self,
        sha256: &str,
        settings: &serde_json::Value,
        failure_mode: FailureMode,
        sandbox: &Sandbox,
    ) -> bool {
        self.sha256 == sha256
            && serde_json::to_string(settings).is_ok_and(|s| s == self.settings)
            && self.failure_mode == failure_mode
            && self.sandbox.fuel_per_call == sandbox.fuel_per_call
            && self.sandbox.deadline == sandbox.deadline
            && self.sandbox.memory_bytes == sandbox.memory_bytes
    }

    /// A new instance, configured with the slot's settings.
    fn instantiate(&self) -> Result<Instance, InstantiateError> {
        let ctx = PolicyCtx {
            limits: StoreLimitsBuilder::new()
                .memory_size(self.sandbox.memory_bytes)
                .instances(4)
                .trap_on_grow_failure(true)
                .build(),
            state: StateView {
                store: self.state.clone(),
                namespace: self.namespace.clone(),
                request_id: String::new(),
                now_ms: 0,
            },
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        // Configuration parses settings once per instance: allow it more room than a call.
        store
            .set_fuel(self.sandbox.fuel_per_call.saturating_mul(CONFIGURE_FACTOR))
            .expect("fuel is enabled");
        store.set_epoch_deadline(deadline_ticks(self.sandbox.deadline) * CONFIGURE_FACTOR);
        let policy = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| InstantiateError::Failed(format!("{e:#}")))?;
        self.stats.instances_created.fetch_add(1, Ordering::Relaxed);
        match policy.call_configure(&mut store, &self.settings) {
            Ok(Ok(())) => Ok(Instance { store, policy }),
            Ok(Err(msg)) => Err(InstantiateError::Refused(msg)),
            Err(e) => Err(InstantiateError::Failed(format!(
                "`configure` trapped: {e:#}"
            ))),
        }
    }
}

const CONFIGURE_FACTOR: u64 = 20;

enum InstantiateError {
    Refused(String),
    Failed(String),
}

impl std::fmt::Display for InstantiateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstantiateError::Refused(m) => write!(f, "`configure` refused the settings: {m}"),
            InstantiateError::Failed(m) => f.write_str(m),
        }
    }
}

fn deadline_ticks(deadline: Duration) -> u64 {
    // +1: the next tick may land right after the deadline is set.
    (deadline.as_nanos() / TICK.as_nanos()).max(1) as u64 + 1
}

/// Hex SHA-256 of component bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
