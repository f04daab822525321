//! `__NAME__`: a Tollgate policy for the `__SLOT__` slot, built into a WebAssembly component.
//!
//! This skeleton lets every request through and counts each user's requests per day in
//! the host's state, to show the pattern every policy follows: the rule is a plain
//! function over a small `Store` trait, so it runs natively in unit tests (`cargo test`)
//! with an in-memory fake, and on the host's `state` imports inside the component.
//! Replace `decide` (and `settle`, if the policy keeps state) with your rule.
//!
//! ```sh
//! cargo test                                # the rule's unit tests, natively
//! tollgate policy build .                   # -> __NAME__.wasm
//! tollgate policy check __NAME__.wasm --slot __SLOT__
//! ```

wit_bindgen::generate!({ path: "wit", world: "policy" });

use tollgate::policy::state;

const DAY_MS: u64 = 86_400_000;

/// The slot's `settings` from config/policies.yaml (a JSON object; none yet).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

/// The part of the host's `state` interface this policy uses (a fake in tests).
pub trait Store {
    /// Adds `delta` to counter `key` unless the result would pass `limit` (`state.add`).
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

/// The rule: count the request for its user and day, and let it through.
pub fn decide(store: &mut impl Store, _settings: &Settings, request: &Request) -> Verdict {
    let day = request.now_ms / DAY_MS;
    let key = format!("requests:{}:{day}", request.user_id);
    let _ = store.add(&key, 1, None, (day + 2) * DAY_MS);
    Verdict::Allow
}

/// The request's final usage as this policy sees it: unchanged (zero if it never ran).
pub fn settle(outcome: &Outcome) -> Usage {
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => *u,
        Outcome::Rejected | Outcome::TimedOut => Usage {
            input_tokens: 0,
            output_tokens: 0,
            cost_nano_eur: 0,
        },
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

    fn evaluate(request: Request, _tenant: Tenant, _model: ModelInfo, _load: Load) -> Verdict {
        decide(
            &mut HostStore,
            SETTINGS.get_or_init(Settings::default),
            &request,
        )
    }

    fn finish(_request: Request, _tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&outcome)
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

    /// An in-memory `state` (expiry is not needed by these tests).
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
    fn allows_and_counts_per_user_and_day() {
        let mut store = Fake::default();
        for _ in 0..3 {
            assert!(matches!(
                decide(&mut store, &Settings::default(), &request(DAY_MS * 20_000)),
                Verdict::Allow
            ));
        }
        assert_eq!(store.0["requests:user_standard_01:20000"], 3);
    }
}
