//! `__NAME__`: a Tollgate rate-limit policy for the `__SLOT__` slot, built into a
//! WebAssembly component.
//!
//! Rule: at most `requests_per_minute` requests per user (from the tenant's plan in
//! limits.yaml; `None` is unlimited) in fixed windows of `window_seconds` (setting, default
//! 60; the limit is scaled to it), `429 rate_limited` with the time left in the window. Check and count are one atomic `state.add` with a limit,
//! so a refused request counts nothing; `finish` gives the slot back when a later policy
//! refused the request or it timed out in the queue. The rule is a plain function over a
//! small `Store` trait: it runs natively in unit tests with an in-memory fake.
//!
//! ```sh
//! cargo test                                # the rule's unit tests, natively
//! tollgate policy build .                   # -> __NAME__.wasm
//! tollgate policy check __NAME__.wasm --slot __SLOT__
//! ```

wit_bindgen::generate!({ path: "wit", world: "policy" });

use tollgate::policy::state;
use tollgate::policy::types::{RejectKind, Rejection};

/// The slot's `settings` from config/policies.yaml.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Window length in seconds (1..=86400); the per-minute limit is scaled to it.
    pub window_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { window_seconds: 60 }
    }
}

/// The part of the host's `state` interface this policy uses (a fake in tests).
pub trait Store {
    /// Adds `delta` to counter `key` unless the result would pass `limit`; `Err(value)`
    /// then (`state.add`).
    fn add(
        &mut self,
        key: &str,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
    ) -> Result<i64, i64>;
}

/// The host's state, through the WIT imports.
pub struct HostStore;

impl Store for HostStore {
    fn add(
        &mut self,
        key: &str,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
    ) -> Result<i64, i64> {
        state::add(key, delta, limit, expires_at_ms)
    }
}

/// The counter of the user's window at `now_ms`, and when it expires.
fn window(settings: &Settings, request: &Request) -> (String, u64) {
    let length = settings.window_seconds * 1000;
    let index = request.now_ms / length;
    (
        format!("rpm:{}:{index}", request.user_id),
        (index + 1) * length,
    )
}

/// The rule: count the request in its user's window, or refuse it.
pub fn decide(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    tenant: &Tenant,
) -> Verdict {
    let (key, expires) = window(settings, request);
    let scaled =
        |per_minute: u32| (i64::from(per_minute) * settings.window_seconds as i64 / 60).max(1);
    let limit = tenant
        .requests_per_minute
        .map(|l| if l == 0 { 0 } else { scaled(l) });
    match store.add(&key, 1, limit, expires) {
        Ok(_) => Verdict::Allow,
        Err(_) => Verdict::Reject(Rejection {
            kind: RejectKind::RateLimited,
            code: "rate_limited".into(),
            message: "rate_limited".into(),
            retry_after_ms: Some(expires - request.now_ms),
        }),
    }
}

/// After the request: one that never ran gives its slot back.
pub fn settle(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    outcome: &Outcome,
) -> Usage {
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => *u,
        Outcome::Rejected | Outcome::TimedOut => {
            let (key, expires) = window(settings, request);
            let _ = store.add(&key, -1, None, expires);
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
        let parsed: Settings =
            serde_json::from_str(&settings).map_err(|e| format!("settings: {e}"))?;
        if !(1..=86_400).contains(&parsed.window_seconds) {
            return Err(format!(
                "window_seconds: must be in 1..=86400, got {}",
                parsed.window_seconds
            ));
        }
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

    fn finish(request: Request, _tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(
            &mut HostStore,
            SETTINGS.get_or_init(Settings::default),
            &request,
            &outcome,
        )
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

    /// An in-memory `state` (windows are told apart by their keys, so no expiry needed).
    #[derive(Default)]
    struct Fake(HashMap<String, i64>);

    impl Store for Fake {
        fn add(
            &mut self,
            key: &str,
            delta: i64,
            limit: Option<i64>,
            _expires: u64,
        ) -> Result<i64, i64> {
            let v = self.0.entry(key.into()).or_default();
            if limit.is_some_and(|l| *v + delta > l) {
                return Err(*v);
            }
            *v += delta;
            Ok(*v)
        }
    }

    fn tenant(requests_per_minute: Option<u32>) -> Tenant {
        Tenant {
            plan: "standard".into(),
            priority: Priority::Normal,
            role: "user".into(),
            requests_per_minute,
            tokens_per_minute: None,
            monthly_token_quota: None,
            monthly_budget_nano_eur: None,
            max_concurrent_requests: None,
        }
    }

    fn request(now_ms: u64) -> Request {
        Request {
            id: "r".into(),
            user_id: "user_standard_01".into(),
            project_id: "standard_project".into(),
            model: "simulated-small".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens: 10,
            max_tokens: 100,
            estimated_cost_nano_eur: 0,
            now_ms,
        }
    }

    #[test]
    fn limit_per_minute_then_refund() {
        let (mut store, t, s) = (Fake::default(), tenant(Some(3)), Settings::default());
        let now = 1_700_000_040_000 + 15_000;
        for _ in 0..3 {
            assert!(matches!(
                decide(&mut store, &s, &request(now), &t),
                Verdict::Allow
            ));
        }
        match decide(&mut store, &s, &request(now), &t) {
            Verdict::Reject(r) => assert_eq!(
                (r.code.as_str(), r.retry_after_ms),
                ("rate_limited", Some(45_000))
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // A request refused later in the chain gives its slot back.
        settle(&mut store, &s, &request(now), &Outcome::Rejected);
        assert!(matches!(
            decide(&mut store, &s, &request(now), &t),
            Verdict::Allow
        ));
        // The next window starts empty; no limit means no refusal.
        assert!(matches!(
            decide(&mut store, &s, &request(now + 60_000), &t),
            Verdict::Allow
        ));
        assert!(matches!(
            decide(&mut store, &s, &request(now), &tenant(None)),
            Verdict::Allow
        ));
    }

    #[test]
    fn limit_scales_to_the_window() {
        let (mut store, t) = (Fake::default(), tenant(Some(60)));
        let s = Settings { window_seconds: 10 };
        let now = 1_700_000_040_000;
        let allowed =
            (0..20).filter(|_| matches!(decide(&mut store, &s, &request(now), &t), Verdict::Allow));
        assert_eq!(allowed.count(), 10);
    }
}
