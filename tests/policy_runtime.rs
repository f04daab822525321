//! The policy runtime with the real components built from `policies/`: the
//! seed's decisions table-driven through the chain, the quirks it fixes,
//! hostile components refused at load, and runaway guests stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate::config::{self, Config, FailureMode, Priority, Sandbox};
use tollgate::policy::bindings::{Load, ModelInfo, Outcome, Request, Tenant, Usage};
use tollgate::policy::views::{self, RequestFacts};
use tollgate::policy::{Decision, LoadedPolicy, PolicyChain, PolicyEngine, SlotSpec, StateStore};

fn shipped() -> Config {
    config::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("config")
            .as_path(),
    )
    .expect("shipped config loads")
}

fn components() -> PathBuf {
    PathBuf::from(tollgate::builtin::COMPONENTS_DIR)
}

struct Harness {
    config: Config,
    chain: PolicyChain,
    _engine: PolicyEngine,
    next_id: std::cell::Cell<u64>,
}

const T0: u64 = 1_790_000_000_000; // a fixed host clock (2026-09-21)

impl Harness {
    fn new() -> Self {
        let config = shipped();
        let engine = PolicyEngine::new().unwrap();
        let chain = tollgate::policy::load_chain(&engine, &config, StateStore::new()).unwrap();
        Self {
            config,
            chain,
            _engine: engine,
            next_id: 0.into(),
        }
    }

    fn tenant(&self, user: &str) -> Tenant {
        let u = &self.config.users[user];
        views::tenant(&self.config, u, &self.config.projects[&u.project_id])
    }

    fn request(
        &self,
        user: &str,
        model: &str,
        max_tokens: u32,
        batch: bool,
        now_ms: u64,
    ) -> Request {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let u = &self.config.users[user];
        views::request(RequestFacts {
            id: &format!("req-{id}"),
            user_id: user,
            project_id: &u.project_id,
            model,
            priority: self.config.projects[&u.project_id].priority,
            batch,
            prompt_tokens: 6,
            max_tokens,
            now_ms,
        })
    }

    fn decide_with(&self, tenant: &Tenant, req: Request, queue_length: u32) -> Decision {
        let model = views::enabled_model(&self.config, &req.model).unwrap();
        let load = Load {
            queue_length,
            queue_capacity: 1000,
            active: 0,
            active_capacity: 50,
        };
        self.chain.evaluate(req, tenant, model, load, &|m| {
            views::enabled_model(&self.config, m)
        })
    }

    fn decide(
        &self,
        user: &str,
        max_tokens: u32,
        batch: bool,
        queue_length: u32,
        now_ms: u64,
    ) -> Decision {
        let req = self.request(user, "simulated-small", max_tokens, batch, now_ms);
        self.decide_with(&self.tenant(user), req, queue_length)
    }

    /// Completes an allowed request with its real usage.
    fn complete(&self, user: &str, d: Decision, input: u32, output: u32) -> Usage {
        let usage = Usage {
            input_tokens: input,
            output_tokens: output,
            cost_nano_eur: 0,
        };
        self.chain
            .finish(d.admitted, &self.tenant(user), Outcome::Completed(usage))
    }
}

fn code(d: &Decision) -> Option<(&str, u16)> {
    d.refusal.as_ref().map(|r| (r.code.as_str(), r.status))
}

#[test]
fn the_61st_standard_request_in_a_minute_is_rate_limited() {
    let h = Harness::new();
    for i in 0..60 {
        let d = h.decide("user_standard_01", 16, false, 0, T0 + i);
        assert_eq!(code(&d), None, "request {i} must pass");
    }
    let d = h.decide("user_standard_01", 16, false, 0, T0 + 100);
    let r = d.refusal.expect("61st refused");
    assert_eq!(
        (r.code.as_str(), r.status, r.message.as_str()),
        ("rate_limited", 429, "rate_limited")
    );
    assert!(
        r.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 60_000),
        "retry-after {:?}",
        r.retry_after_ms
    );
    // Another user has their own window.
    assert_eq!(code(&h.decide("user_vip_01", 16, false, 0, T0 + 100)), None);
}

#[test]
fn vip_gets_300_per_minute() {
    let h = Harness::new();
    for i in 0..300 {
        assert_eq!(
            code(&h.decide("user_vip_01", 16, false, 0, T0 + i)),
            None,
            "VIP request {i}"
        );
    }
    assert_eq!(
        code(&h.decide("user_vip_01", 16, false, 0, T0 + 300)),
        Some(("rate_limited", 429))
    );
}

#[test]
fn quota_and_budget_refusals_reserve_then_settle() {
    let h = Harness::new();
    let mut tenant = h.tenant("user_standard_01");
    tenant.monthly_token_quota = Some(1000);
    // 6 prompt + 500 max_tokens = 506 reserved; a second such request would overshoot.
    let first = h.decide_with(
        &tenant,
        h.request("user_standard_01", "simulated-small", 500, false, T0),
        0,
    );
    assert_eq!(code(&first), None);
    let second = h.decide_with(
        &tenant,
        h.request("user_standard_01", "simulated-small", 500, false, T0 + 1),
        0,
    );
    assert_eq!(
        code(&second),
        Some(("quota_exceeded", 429)),
        "concurrent reservations cannot overshoot"
    );
    // Settling the first with its real usage (6 + 10) frees the rest of its reservation.
    h.chain.finish(
        first.admitted,
        &tenant,
        Outcome::Completed(Usage {
            input_tokens: 6,
            output_tokens: 10,
            cost_nano_eur: 0,
        }),
    );
    let third = h.decide_with(
        &tenant,
        h.request("user_standard_01", "simulated-small", 500, false, T0 + 2),
        0,
    );
    assert_eq!(code(&third), None, "16 used + 506 reserved fits in 1000");

    let mut poor = h.tenant("user_standard_01");
    poor.monthly_budget_nano_eur = Some(10_000); // 0.00001 EUR; 6 in + 64 out costs 13,400 nano
    let d = h.decide_with(
        &poor,
        h.request("user_standard_01", "simulated-small", 64, false, T0 + 3),
        0,
    );
    assert_eq!(code(&d), Some(("budget_exceeded", 429)));
}

#[test]
fn a_request_refused_by_quota_consumes_no_rate_limit_slot() {
    // Seed quirk: the rate limiter ran before the quota and kept the slot.
    let h = Harness::new();
    let mut broke = h.tenant("user_standard_01");
    broke.monthly_token_quota = Some(0);
    for i in 0..100 {
        let d = h.decide_with(
            &broke,
            h.request("user_standard_01", "simulated-small", 16, false, T0 + i),
            0,
        );
        assert_eq!(code(&d), Some(("quota_exceeded", 429)));
    }
    for i in 0..60 {
        assert_eq!(
            code(&h.decide("user_standard_01", 16, false, 0, T0 + 200 + i)),
            None,
            "slot {i} still free"
        );
    }
}

#[test]
fn degradation_levels_follow_the_queue_usage_ratio() {
    let h = Harness::new();
    for (queue, level) in [
        (590, "normal"),
        (600, "soft_pressure"),
        (800, "high_pressure"),
        (950, "critical_pressure"),
    ] {
        let load = Load {
            queue_length: queue,
            queue_capacity: 1000,
            active: 50,
            active_capacity: 50,
        };
        let status = h.chain.status(T0, load);
        assert_eq!(status["degradation"]["level"], level, "queue {queue}");
    }
    // Soft: VIP 100 -> 75. High: batch refused. Critical: standard refused, VIP 64 -> 16.
    let d = h.decide("user_vip_01", 100, false, 600, T0);
    assert_eq!((code(&d), d.request.max_tokens), (None, 75));
    assert_eq!(d.actions, vec!["reduce_max_tokens".to_string()]);
    let d = h.decide("user_batch_01", 32, true, 800, T0);
    let r = d.refusal.unwrap();
    assert_eq!(
        (r.status, r.message.as_str()),
        (503, "Batch requests rejected due to high system pressure")
    );
    let d = h.decide("user_standard_01", 64, false, 950, T0);
    let r = d.refusal.unwrap();
    assert_eq!(
        (r.status, r.message.as_str()),
        (
            503,
            "Standard requests rejected due to critical system pressure"
        )
    );
    let d = h.decide("user_vip_01", 64, false, 950, T0);
    assert_eq!((code(&d), d.request.max_tokens), (None, 16));
    // Seed quirk fixed: at critical, a batch request is told the level that applied.
    let d = h.decide("user_batch_01", 32, true, 1000, T0);
    assert_eq!(
        d.refusal.unwrap().message,
        "Batch requests rejected due to critical system pressure"
    );
}

#[test]
fn a_degraded_request_is_counted_once_and_priced_after_the_cap() {
    // Seed quirk: a degraded request ran the policies twice and used two rate-limit slots.
    let h = Harness::new();
    for i in 0..300 {
        let d = h.decide("user_vip_01", 100, false, 950, T0 + i);
        assert_eq!(
            (code(&d), d.request.max_tokens),
            (None, 25),
            "degraded VIP request {i}"
        );
        // The cost is estimated on the final request: 6 in @100 + 25 out @200 nano/token.
        assert_eq!(d.request.estimated_cost_nano_eur, 6 * 100 + 25 * 200);
    }
    assert_eq!(
        code(&h.decide("user_vip_01", 100, false, 950, T0 + 400)),
        Some(("rate_limited", 429))
    );
}

#[test]
fn finish_settles_the_final_cost() {
    let h = Harness::new();
    let d = h.decide("user_standard_01", 64, false, 0, T0);
    assert_eq!(
        d.request.estimated_cost_nano_eur, 13_400,
        "seed: 6 in / 64 out = 0.0000134 EUR"
    );
    let usage = h.complete("user_standard_01", d, 6, 20);
    assert_eq!(usage.cost_nano_eur, 600 + 4_000);
    let pools = h.chain.state().pools();
    let tokens = pools
        .iter()
        .find(|p| p.pool.starts_with("tokens:standard_project"))
        .expect("token pool");
    assert_eq!((tokens.used, tokens.reserved), (26, 0));
}

// ---- hostile components ----------------------------------------------------

fn sandbox() -> Sandbox {
    Sandbox {
        fuel_per_call: 5_000_000,
        deadline: Duration::from_millis(10),
        memory_bytes: 16 << 20,
    }
}

fn load_bytes(
    engine: &PolicyEngine,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<Arc<LoadedPolicy>> {
    LoadedPolicy::load(
        engine,
        SlotSpec {
            slot: "test",
            source: name.into(),
            bytes,
            settings: &serde_json::json!({}),
            failure_mode: FailureMode::FailClosed,
            sandbox: sandbox(),
        },
        StateStore::new(),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(components().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn refusal(engine: &PolicyEngine, name: &str, bytes: &[u8]) -> String {
    match load_bytes(engine, name, bytes) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn hostile_components_are_refused_at_load_with_a_clear_message() {
    let engine = PolicyEngine::new().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "random.wasm",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            "not a WebAssembly component",
        ),
        (
            "core.wasm",
            fixture("configure-error.core.wasm"),
            "is a core WebAssembly module, not a component",
        ),
        (
            "wrong-world.wasm",
            fixture("wrong-world.wasm"),
            "does not match the tollgate:policy/policy@0.1.0 world",
        ),
        (
            "wasi.wasm",
            fixture("wasi-importer.wasm"),
            "imports `wasi:cli/environment@0.2.0`",
        ),
        (
            "configure-error.wasm",
            fixture("configure-error.wasm"),
            "refused its settings: threshold: must be a number",
        ),
    ];
    for (name, bytes, expected) in cases {
        let message = refusal(&engine, name, &bytes);
        assert!(
            message.starts_with(&format!("policy `{name}`")),
            "{name}: names the file: {message}"
        );
        assert!(
            message.contains(expected),
            "{name}: expected `{expected}` in: {message}"
        );
    }
}

#[test]
fn every_default_component_exports_the_world_and_imports_only_the_contract() {
    let engine = PolicyEngine::new().unwrap();
    for (name, bytes) in tollgate::builtin::BUILTIN {
        let component = wasmtime::component::Component::new(engine.engine(), bytes).unwrap();
        let ty = component.component_type();
        let imports: Vec<_> = ty
            .imports(engine.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        assert!(
            imports
                .iter()
                .all(|i| i.starts_with("tollgate:policy/") && i.ends_with("@0.1.0")),
            "{name} imports {imports:?}"
        );
        let mut exports: Vec<_> = ty
            .exports(engine.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        exports.sort();
        assert_eq!(
            exports,
            ["configure", "evaluate", "finish", "info", "status"],
            "{name}"
        );
        let p = load_bytes(&engine, name, bytes).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(p.info.name, *name);
    }
}

fn probe_request(max_tokens: u32) -> (Request, Tenant, ModelInfo, Load) {
    let h = Harness::new();
    (
        h.request("user_standard_01", "simulated-small", max_tokens, false, T0),
        h.tenant("user_standard_01"),
        views::enabled_model(&h.config, "simulated-small").unwrap(),
        Load {
            queue_length: 0,
            queue_capacity: 1000,
            active: 0,
            active_capacity: 50,
        },
    )
}

#[test]
fn runaway_guests_are_stopped_and_the_host_keeps_answering() {
    let engine = PolicyEngine::new().unwrap();
    let (req, tenant, model, load) = probe_request(16);
    for (name, expected) in [
        ("infinite-loop.wasm", "ran past its limit"),
        ("memory-hog.wasm", "trapped"),
    ] {
        let policy = load_bytes(&engine, name, &fixture(name)).unwrap();
        for _ in 0..3 {
            let started = Instant::now();
            let err = policy
                .call(&req.id, T0, |p, s| {
                    p.call_evaluate(s, &req, &tenant, &model, load)
                })
                .expect_err("stopped");
            let took = started.elapsed();
            assert!(err.to_string().contains(expected), "{name}: {err}");
            assert!(
                took < Duration::from_millis(500),
                "{name} stopped after {took:?}"
            );
        }
        let stats = policy.stats.snapshot();
        assert_eq!(stats.traps + stats.timeouts, 3, "{name}: {stats:?}");
    }
    // The host still answers with a good policy on the same engine.
    let (_, cost) = tollgate::builtin::BUILTIN
        .iter()
        .find(|(n, _)| *n == "cost")
        .unwrap();
    let good = load_bytes(&engine, "cost", cost).unwrap();
    assert!(
        good.call(&req.id, T0, |p, s| p
            .call_evaluate(s, &req, &tenant, &model, load))
            .is_ok()
    );
}

#[test]
fn a_trapped_instance_is_rebuilt_and_the_slot_failure_mode_applies() {
    let engine = PolicyEngine::new().unwrap();
    let policy = load_bytes(&engine, "trap-on-call.wasm", &fixture("trap-on-call.wasm")).unwrap();
    let (boom, tenant, model, load) = probe_request(13);
    let (fine, ..) = probe_request(16);
    assert!(
        policy
            .call(&boom.id, T0, |p, s| p
                .call_evaluate(s, &boom, &tenant, &model, load))
            .is_err()
    );
    assert!(
        policy
            .call(&fine.id, T0, |p, s| p
                .call_evaluate(s, &fine, &tenant, &model, load))
            .is_ok()
    );

    let closed = PolicyChain::new(vec![policy.clone()], StateStore::new());
    let d = closed.evaluate(boom.clone(), &tenant, model.clone(), load, &|_| None);
    assert_eq!(code(&d), Some(("policy_error", 503)));

    let open = LoadedPolicy::load(
        &engine,
        SlotSpec {
            slot: "test",
            source: "trap-on-call.wasm".into(),
            bytes: &fixture("trap-on-call.wasm"),
            settings: &serde_json::json!({}),
            failure_mode: FailureMode::FailOpen,
            sandbox: sandbox(),
        },
        StateStore::new(),
    )
    .unwrap();
    let d = PolicyChain::new(vec![open], StateStore::new()).evaluate(
        boom,
        &tenant,
        model,
        load,
        &|_| None,
    );
    assert_eq!(code(&d), None, "fail_open lets the request through");
    assert_eq!(d.actions, vec!["test_failed_open".to_string()]);
    let _ = Priority::High;
}
