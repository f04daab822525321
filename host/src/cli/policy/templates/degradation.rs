//! `__NAME__`: a Tollgate degradation policy for the `__SLOT__` slot, built into a
//! WebAssembly component.
//!
//! Rule, by how full the waiting queue is (`queue_length / queue_capacity`): from
//! `shrink_above` (default 0.6) lower max_tokens by `max_tokens_factor` (default 0.5);
//! from `reject_batch_above` (default 0.8) also refuse batch requests with
//! `503 reject_batch`. `status` reports the ratio and the level for `/queue/status`.
//! The rule is plain functions with native unit tests.
//!
//! ```sh
//! cargo test                                # the rule's unit tests, natively
//! tollgate policy build .                   # -> __NAME__.wasm
//! tollgate policy check __NAME__.wasm --slot __SLOT__
//! ```

wit_bindgen::generate!({ path: "wit", world: "policy" });

use tollgate::policy::types::{Changes, RejectKind, Rejection, RequestType};

/// The slot's `settings` from config/policies.yaml.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub shrink_above: f64,
    pub max_tokens_factor: f64,
    pub reject_batch_above: f64,
    /// Accepted and ignored: the default `degradation` slot passes degradation.yaml's
    /// levels (`settings_file: degradation.yaml`). Remove it to refuse them.
    pub degradation_levels: Option<serde_json::Value>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            shrink_above: 0.6,
            max_tokens_factor: 0.5,
            reject_batch_above: 0.8,
            degradation_levels: None,
        }
    }
}

/// How full the waiting queue is, 0.0 when it has no capacity.
pub fn ratio(load: &Load) -> f64 {
    if load.queue_capacity == 0 {
        0.0
    } else {
        f64::from(load.queue_length) / f64::from(load.queue_capacity)
    }
}

/// The rule: shrink, then shed batch work, as the queue fills.
pub fn decide(settings: &Settings, request: &Request, load: &Load) -> Verdict {
    let r = ratio(load);
    if r >= settings.reject_batch_above && matches!(request.request_type, RequestType::Batch) {
        return Verdict::Reject(Rejection {
            kind: RejectKind::Overloaded,
            code: "reject_batch".into(),
            message: "Batch requests rejected due to high system pressure".into(),
            retry_after_ms: Some(1000),
        });
    }
    if r >= settings.shrink_above {
        let reduced = ((f64::from(request.max_tokens) * settings.max_tokens_factor) as u32).max(1);
        if reduced < request.max_tokens {
            return Verdict::Modify(Changes {
                max_tokens: Some(reduced),
                model: None,
                priority: None,
                estimated_cost_nano_eur: None,
                actions: vec!["reduce_max_tokens".into()],
            });
        }
    }
    Verdict::Allow
}

/// `status` JSON: the queue ratio and the level in force.
pub fn status_json(settings: &Settings, load: &Load) -> String {
    let r = ratio(load);
    let level = if r >= settings.reject_batch_above {
        "high_pressure"
    } else if r >= settings.shrink_above {
        "soft_pressure"
    } else {
        "normal"
    };
    format!(r#"{{"level":"{level}","queue_usage_ratio":{r}}}"#)
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

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
        if !(parsed.max_tokens_factor > 0.0 && parsed.max_tokens_factor <= 1.0) {
            return Err("max_tokens_factor: must be in (0, 1]".into());
        }
        let _ = SETTINGS.set(parsed);
        Ok(())
    }

    fn evaluate(request: Request, _tenant: Tenant, _model: ModelInfo, load: Load) -> Verdict {
        decide(settings(), &request, &load)
    }

    fn finish(_request: Request, _tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        match outcome {
            Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => u,
            Outcome::Rejected | Outcome::TimedOut => Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            },
        }
    }

    fn status(_now_ms: u64, load: Load) -> String {
        status_json(settings(), &load)
    }
}

export!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::policy::types::Priority;

    fn load(queue_length: u32) -> Load {
        Load {
            queue_length,
            queue_capacity: 100,
            active: 50,
            active_capacity: 50,
        }
    }

    fn request(request_type: RequestType) -> Request {
        Request {
            id: "r".into(),
            user_id: "user_batch_01".into(),
            project_id: "batch_project".into(),
            model: "simulated-small".into(),
            priority: Priority::Low,
            request_type,
            prompt_tokens: 10,
            max_tokens: 100,
            estimated_cost_nano_eur: 0,
            now_ms: 0,
        }
    }

    #[test]
    fn shrinks_then_sheds_batch() {
        let s = Settings::default();
        assert!(matches!(
            decide(&s, &request(RequestType::Batch), &load(59)),
            Verdict::Allow
        ));
        match decide(&s, &request(RequestType::Batch), &load(60)) {
            Verdict::Modify(c) => assert_eq!(c.max_tokens, Some(50)),
            other => panic!("expected a smaller request, got {other:?}"),
        }
        assert!(matches!(
            decide(&s, &request(RequestType::Batch), &load(80)),
            Verdict::Reject(_)
        ));
        assert!(matches!(
            decide(&s, &request(RequestType::Interactive), &load(80)),
            Verdict::Modify(_)
        ));
        assert_eq!(
            status_json(&s, &load(80)),
            r#"{"level":"high_pressure","queue_usage_ratio":0.8}"#
        );
    }
}
