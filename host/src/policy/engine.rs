//! The wasmtime engine shared by every policy, with fuel metering and epoch
//! interruption enabled, and the epoch ticker that gives calls a wall-clock
//! deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Epoch tick period: a call's deadline is counted in these ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// A wasmtime engine plus its ticker thread (stopped on drop).
pub struct PolicyEngine {
    engine: wasmtime::Engine,
    stop: Arc<AtomicBool>,
}

impl PolicyEngine {
    /// Creates the engine and starts the ticker. The ticker is a plain OS
    /// thread, not a tokio task: a looping guest blocks the thread it runs on,
    /// and a ticker on that runtime would never get to tick.
    pub fn new() -> anyhow::Result<Self> {
        let mut config = wasmtime::Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_component_model(true);
        if std::env::var_os("TOLLGATE_PERFMAP").is_some() {
            // Names the policies' compiled functions for `perf` (/tmp/perf-PID.map).
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = wasmtime::Engine::new(&config)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ticking, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("policy-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })?;
        Ok(Self { engine, stop })
    }

    /// The engine components are compiled with.
    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }
}

impl Drop for PolicyEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
