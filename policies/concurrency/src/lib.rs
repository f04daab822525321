//! Policy `concurrency`: at most `max_concurrent_requests` requests of a project in
//! flight at once (projects.yaml; the seed read the field and never enforced it).
//! `evaluate` counts the request in (`429 concurrency_limited` when the project is at
//! its cap, nothing counted), `finish` counts it out, however it ended.
//!
//! A new kind of policy with no new world and no host code: it is the shared
//! `policy` world plus one host counter per project. The counter also expires
//! (`hold_seconds`, default 3600) so a request whose `finish` never came cannot hold
//! a slot forever. Not in the default chain: add a slot to `config/policies.yaml`
//! (after `rate_limit`, before `quota`) to use it.

use policy_rate_limit::tollgate::policy::types::{RejectKind, Rejection};
use policy_rate_limit::{
    Guest, HostStore, Load, ModelInfo, Outcome, PolicyInfo, Request, Store, Tenant, Usage, Verdict,
};

/// Settings from `config/policies.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a counted request may hold its slot without `finish`.
    pub hold_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { hold_seconds: 3600 }
    }
}

impl Settings {
    /// Parses the JSON settings; errors read `field: problem (hint)`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass a mapping)"))?;
        let obj = value
            .as_object()
            .ok_or_else(|| format!("settings: must be a mapping, got {value}"))?;
        let mut s = Settings::default();
        for (k, v) in obj {
            match k.as_str() {
                "hold_seconds" => match v.as_u64() {
                    Some(n) if n >= 1 => s.hold_seconds = n,
                    _ => {
                        return Err(format!(
                            "hold_seconds: must be an integer >= 1, got {v} (e.g. 3600)"
                        ));
                    }
                },
                _ => return Err(format!("{k}: unknown setting (allowed: hold_seconds)")),
            }
        }
        Ok(s)
    }
}

fn key(project: &str) -> String {
    format!("inflight:{project}")
}

/// Counts a request in, or refuses it when its project is at its cap.
pub fn admit(store: &mut impl Store, s: &Settings, request: &Request, tenant: &Tenant) -> Verdict {
    let Some(cap) = tenant.max_concurrent_requests else {
        return Verdict::Allow;
    };
    let expires = request.now_ms + s.hold_seconds * 1000;
    match store.add(&key(&request.project_id), 1, Some(i64::from(cap)), expires) {
        Ok(_) => Verdict::Allow,
        Err(_) => Verdict::Reject(Rejection {
            kind: RejectKind::RateLimited,
            code: "concurrency_limited".into(),
            message: "concurrency_limited".into(),
            retry_after_ms: Some(1000),
        }),
    }
}

/// Counts a request out.
pub fn release(store: &mut impl Store, s: &Settings, request: &Request, tenant: &Tenant) {
    if tenant.max_concurrent_requests.is_some() {
        let _ = store.add(
            &key(&request.project_id),
            -1,
            None,
            request.now_ms + s.hold_seconds * 1000,
        );
    }
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

/// The component.
pub struct Concurrency;

impl Guest for Concurrency {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "concurrency".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        let _ = SETTINGS.set(Settings::parse(&settings)?);
        Ok(())
    }

    fn evaluate(request: Request, tenant: Tenant, _model: ModelInfo, _load: Load) -> Verdict {
        admit(
            &mut HostStore,
            SETTINGS.get().unwrap_or(&Settings::default()),
            &request,
            &tenant,
        )
    }

    fn finish(request: Request, tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        release(
            &mut HostStore,
            SETTINGS.get().unwrap_or(&Settings::default()),
            &request,
            &tenant,
        );
        match outcome {
            Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => u,
            Outcome::TimedOut | Outcome::Rejected => Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            },
        }
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

#[cfg(target_arch = "wasm32")]
policy_rate_limit::export!(Concurrency with_types_in policy_rate_limit::bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_rate_limit::tollgate::policy::types::{Priority, RequestType};
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        counters: HashMap<String, i64>,
    }

    impl Store for Fake {
        fn get(&mut self, key: &str) -> i64 {
            self.counters.get(key).copied().unwrap_or(0)
        }
        fn add(
            &mut self,
            key: &str,
            delta: i64,
            limit: Option<i64>,
            _expires_at_ms: u64,
        ) -> Result<i64, i64> {
            let v = self.counters.entry(key.to_owned()).or_insert(0);
            if delta > 0 && limit.is_some_and(|l| *v + delta > l) {
                return Err(*v);
            }
            *v += delta;
            Ok(*v)
        }
    }

    fn request(project: &str) -> Request {
        Request {
            id: "r".into(),
            user_id: "u".into(),
            project_id: project.into(),
            model: "m".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens: 1,
            max_tokens: 1,
            estimated_cost_nano_eur: 0,
            now_ms: 0,
        }
    }

    fn tenant(cap: Option<u32>) -> Tenant {
        Tenant {
            plan: "standard".into(),
            priority: Priority::Normal,
            role: "user".into(),
            requests_per_minute: None,
            tokens_per_minute: None,
            monthly_token_quota: None,
            monthly_budget_nano_eur: None,
            max_concurrent_requests: cap,
        }
    }

    #[test]
    fn caps_requests_in_flight_per_project_and_frees_on_finish() {
        let (mut store, s, t) = (Fake::default(), Settings::default(), tenant(Some(2)));
        assert!(matches!(
            admit(&mut store, &s, &request("p"), &t),
            Verdict::Allow
        ));
        assert!(matches!(
            admit(&mut store, &s, &request("p"), &t),
            Verdict::Allow
        ));
        assert!(
            matches!(admit(&mut store, &s, &request("p"), &t), Verdict::Reject(r) if r.code == "concurrency_limited")
        );
        assert!(
            matches!(admit(&mut store, &s, &request("other"), &t), Verdict::Allow),
            "per project"
        );
        release(&mut store, &s, &request("p"), &t);
        assert!(matches!(
            admit(&mut store, &s, &request("p"), &t),
            Verdict::Allow
        ));
        assert_eq!(store.get("inflight:p"), 2, "a refusal counted nothing");
    }

    #[test]
    fn no_cap_means_no_counting() {
        let mut store = Fake::default();
        for _ in 0..100 {
            assert!(matches!(
                admit(
                    &mut store,
                    &Settings::default(),
                    &request("p"),
                    &tenant(None)
                ),
                Verdict::Allow
            ));
        }
        assert!(store.counters.is_empty());
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(Settings::parse("{}"), Ok(Settings::default()));
        assert_eq!(
            Settings::parse(r#"{"hold_seconds": 60}"#),
            Ok(Settings { hold_seconds: 60 })
        );
        assert!(
            Settings::parse(r#"{"hold_seconds": 0}"#)
                .unwrap_err()
                .starts_with("hold_seconds:")
        );
        assert!(
            Settings::parse(r#"{"cap": 1}"#)
                .unwrap_err()
                .starts_with("cap: unknown setting")
        );
    }
}
