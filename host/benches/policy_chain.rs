//! The four default policies per request, with cached instances:
//! `evaluate` through the whole chain plus `finish` (settle), as on the
//! request path. Baseline in the same run: one no-op call (`info`) into one
//! component, the floor of a Wasm call.
//!
//! Run: `cargo bench --bench policy_chain`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

use tollgate::policy::bindings::{Load, Outcome, Usage};
use tollgate::policy::views::{self, RequestFacts};
use tollgate::policy::{PolicyEngine, StateStore};

fn chain(c: &mut Criterion) {
    let config =
        tollgate::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config")).unwrap();
    let engine = PolicyEngine::new().unwrap();
    let chain = tollgate::policy::load_chain(&engine, &config, StateStore::new()).unwrap();
    let user = &config.users["user_vip_01"];
    let mut tenant = views::tenant(&config, user, &config.projects[&user.project_id]);
    // Millions of iterations would use up the VIP monthly quota: lift the
    // limits (the quota slot still reserves and settles on every request).
    tenant.monthly_token_quota = None;
    tenant.monthly_budget_nano_eur = None;
    let model = views::enabled_model(&config, "simulated-small").unwrap();
    let load = Load {
        queue_length: 10,
        queue_capacity: 1000,
        active: 5,
        active_capacity: 50,
    };
    let mut i: u64 = 0;
    // Spread requests over time so the rate limit never refuses: every
    // request takes the full allow path through all four slots.
    let mut next = move || {
        i += 1;
        views::request(RequestFacts {
            id: &format!("req-{i}"),
            user_id: "user_vip_01",
            project_id: &user.project_id,
            model: "simulated-small",
            priority: tollgate::config::Priority::High,
            batch: false,
            prompt_tokens: 6,
            max_tokens: 64,
            now_ms: 1_790_000_000_000 + i * 250,
        })
    };
    let mut group = c.benchmark_group("policy_chain");
    group.bench_function("evaluate+finish, 4 default policies", |b| {
        b.iter(|| {
            let d = chain.evaluate(next(), &tenant, model.clone(), load, &|m| {
                views::enabled_model(&config, m)
            });
            assert!(d.refusal.is_none());
            let usage = Usage {
                input_tokens: 6,
                output_tokens: 64,
                cost_nano_eur: 0,
            };
            black_box(chain.finish(d.admitted, &tenant, Outcome::Completed(usage)))
        })
    });
    // Each slot's evaluate on its own (where the chain's time goes).
    let probe = next();
    for slot in chain.slots() {
        let policy = slot.current();
        group.bench_function(format!("evaluate only: {}", slot.name), |b| {
            b.iter(|| {
                black_box(
                    policy
                        .call("x", probe.now_ms, |p, s| {
                            p.call_evaluate(s, &probe, &tenant, &model, load)
                        })
                        .unwrap(),
                )
            })
        });
        let _ = chain.state().release_request("x");
    }
    let cost = chain.slot("cost").unwrap().current();
    group.bench_function("baseline: one no-op call (info)", |b| {
        b.iter(|| black_box(cost.call("x", 0, |p, s| p.call_info(s)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
