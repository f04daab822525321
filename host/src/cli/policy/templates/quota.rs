//! `__NAME__`: a Tollgate quota policy for the `__SLOT__` slot, built into a WebAssembly
//! component.
//!
//! Rule: a project may use at most `monthly_token_quota` tokens (projects.yaml; `None` is
//! unlimited) per 30-day period (a calendar month needs date arithmetic: see Tollgate's
//! `policies/quota`). A request reserves its estimate (prompt + max_tokens) from the
//! period's pool with `state.reserve`, so concurrent requests cannot overshoot; `finish`
//! settles the real usage, or releases the reservation when the request never ran.
//! `429 quota_exceeded` when the estimate does not fit. The rule is a plain function over
//! a small `Store` trait: it runs natively in unit tests with an in-memory fake.
//!
//! ```sh
//! cargo test                                # the rule's unit tests, natively
//! tollgate policy build .                   # -> __NAME__.wasm
//! tollgate policy check __NAME__.wasm --slot __SLOT__
//! ```

wit_bindgen::generate!({ path: "wit", world: "policy" });

use tollgate::policy::state;
use tollgate::policy::types::{RejectKind, Rejection};

const PERIOD_MS: u64 = 30 * 86_400_000;

/// The slot's `settings` from config/policies.yaml (a JSON object; none yet).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

/// The part of the host's `state` interface this policy uses (a fake in tests).
/// Reservations belong to the request being evaluated or finished.
pub trait Store {
    /// Reserves `amount` unless used + reserved + amount would pass `limit` (`state.reserve`).
    fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), state::PoolUsage>;
    /// Turns the request's reservation into `actual` used (`state.settle`).
    fn settle(&mut self, pool: &str, actual: u64);
    /// Drops the request's reservation (`state.release`).
    fn release(&mut self, pool: &str);
}

/// The host's state, through the WIT imports.
pub struct HostStore;

impl Store for HostStore {
    fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), state::PoolUsage> {
        state::reserve(pool, amount, limit)
    }
    fn settle(&mut self, pool: &str, actual: u64) {
        state::settle(pool, actual)
    }
    fn release(&mut self, pool: &str) {
        state::release(pool)
    }
}

/// The pool of the request's project and period.
fn pool(request: &Request) -> String {
    format!(
        "tokens:{}:{}",
        request.project_id,
        request.now_ms / PERIOD_MS
    )
}

/// The rule: reserve the request's estimated tokens, or refuse it.
pub fn decide(
    store: &mut impl Store,
    _settings: &Settings,
    request: &Request,
    tenant: &Tenant,
) -> Verdict {
    let Some(quota) = tenant.monthly_token_quota else {
        return Verdict::Allow;
    };
    let estimate = u64::from(request.prompt_tokens) + u64::from(request.max_tokens);
    match store.reserve(&pool(request), estimate, quota) {
        Ok(()) => Verdict::Allow,
        Err(usage) => Verdict::Reject(Rejection {
            kind: RejectKind::QuotaExhausted,
            code: "quota_exceeded".into(),
            message: format!(
                "quota_exceeded: {} of {quota} tokens used or reserved this period",
                usage.used + usage.reserved
            ),
            retry_after_ms: None,
        }),
    }
}

/// After the request: settle what it really used, or release what it reserved.
pub fn settle(
    store: &mut impl Store,
    request: &Request,
    tenant: &Tenant,
    outcome: &Outcome,
) -> Usage {
    let counted = tenant.monthly_token_quota.is_some();
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => {
            if counted {
                store.settle(
                    &pool(request),
                    u64::from(u.input_tokens) + u64::from(u.output_tokens),
                );
            }
            *u
        }
        Outcome::Rejected | Outcome::TimedOut => {
            if counted {
                store.release(&pool(request));
            }
            Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            }
        }
    }
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

struct Policy;

impl Guest for Policy {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "__NAME__".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        let parsed = serde_json::from_str(&settings).map_err(|e| format!("settings: {e}"))?;
        let _ = SETTINGS.set(parsed);
        Ok(())
    }

    fn evaluate(request: Request, tenant: Tenant, _model: ModelInfo, _load: Load) -> Verdict {
        decide(
            &mut HostStore,
            SETTINGS.get_or_init(Settings::default),
            &request,
            &tenant,
        )
    }

    fn finish(request: Request, tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&mut HostStore, &request, &tenant, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

export!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use tollgate::policy::types::{Priority, RequestType};

    /// An in-memory `state` for one request at a time: used and reserved per pool.
    #[derive(Default)]
    struct Fake(HashMap<String, (u64, u64)>);

    impl Store for Fake {
        fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), state::PoolUsage> {
            let (used, reserved) = self.0.entry(pool.into()).or_default();
            if *used + *reserved + amount > limit {
                return Err(state::PoolUsage {
                    used: *used,
                    reserved: *reserved,
                });
            }
            *reserved += amount;
            Ok(())
        }
        fn settle(&mut self, pool: &str, actual: u64) {
            let p = self.0.entry(pool.into()).or_default();
            *p = (p.0 + actual, 0);
        }
        fn release(&mut self, pool: &str) {
            self.0.entry(pool.into()).or_default().1 = 0;
        }
    }

    fn tenant(quota: Option<u64>) -> Tenant {
        Tenant {
            plan: "standard".into(),
            priority: Priority::Normal,
            role: "user".into(),
            requests_per_minute: None,
            tokens_per_minute: None,
            monthly_token_quota: quota,
            monthly_budget_nano_eur: None,
            max_concurrent_requests: None,
        }
    }

    fn request() -> Request {
        Request {
            id: "r".into(),
            user_id: "user_standard_01".into(),
            project_id: "standard_project".into(),
            model: "simulated-small".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens: 10,
            max_tokens: 90,
            estimated_cost_nano_eur: 0,
            now_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn reserve_settle_release() {
        let (mut store, t, s) = (Fake::default(), tenant(Some(150)), Settings::default());
        assert!(matches!(
            decide(&mut store, &s, &request(), &t),
            Verdict::Allow
        ));
        let used = Usage {
            input_tokens: 10,
            output_tokens: 30,
            cost_nano_eur: 0,
        };
        settle(&mut store, &request(), &t, &Outcome::Completed(used));
        // 40 used: another 100 fits, then nothing more.
        assert!(matches!(
            decide(&mut store, &s, &request(), &t),
            Verdict::Allow
        ));
        settle(
            &mut store,
            &request(),
            &t,
            &Outcome::Completed(Usage {
                output_tokens: 90,
                ..used
            }),
        );
        match decide(&mut store, &s, &request(), &t) {
            Verdict::Reject(r) => assert_eq!(r.code, "quota_exceeded"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            decide(&mut store, &s, &request(), &tenant(None)),
            Verdict::Allow
        ));
    }
}
