//! `__NAME__`: a Tollgate cost policy for the `__SLOT__` slot, built into a WebAssembly
//! component.
//!
//! Rule: price a request from the model's per-1,000-token prices (models.yaml, in
//! nano-euros: 1 EUR = 10⁹), set the estimate on the request (prompt + max_tokens) so the
//! later slots (quota, budget) see it, and settle the real cost from the real token counts
//! in `finish`. Optional setting `max_request_cost_eur` refuses requests estimated above it.
//! The rule is plain functions with native unit tests.
//!
//! ```sh
//! cargo test                                # the rule's unit tests, natively
//! tollgate policy build .                   # -> __NAME__.wasm
//! tollgate policy check __NAME__.wasm --slot __SLOT__
//! ```

wit_bindgen::generate!({ path: "wit", world: "policy" });

use tollgate::policy::types::{Changes, RejectKind, Rejection};

/// The slot's `settings` from config/policies.yaml.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Refuse a request whose estimated cost is above this many euros.
    pub max_request_cost_eur: Option<f64>,
}

/// Nano-euros of `input` and `output` tokens at the model's prices, rounded half up.
pub fn cost_nano(input: u64, output: u64, model: &ModelInfo) -> u64 {
    let scaled = u128::from(input) * u128::from(model.input_nano_eur_per_1k)
        + u128::from(output) * u128::from(model.output_nano_eur_per_1k);
    u64::try_from((scaled + 500) / 1000).unwrap_or(u64::MAX)
}

/// The rule: set the estimated cost, or refuse a request over the cap.
pub fn decide(settings: &Settings, request: &Request, model: &ModelInfo) -> Verdict {
    let estimate = cost_nano(
        request.prompt_tokens.into(),
        request.max_tokens.into(),
        model,
    );
    let over = settings
        .max_request_cost_eur
        .filter(|cap| estimate as f64 > cap * 1e9);
    if let Some(cap) = over {
        return Verdict::Reject(Rejection {
            kind: RejectKind::Invalid,
            code: "request_cost_exceeded".into(),
            message: format!(
                "request_cost_exceeded: the estimate is above {cap} EUR; lower max_tokens"
            ),
            retry_after_ms: None,
        });
    }
    Verdict::Modify(Changes {
        max_tokens: None,
        model: None,
        priority: None,
        estimated_cost_nano_eur: Some(estimate),
        actions: vec![],
    })
}

/// The final usage with its real cost.
pub fn settle(model: &ModelInfo, outcome: &Outcome) -> Usage {
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => Usage {
            cost_nano_eur: cost_nano(u.input_tokens.into(), u.output_tokens.into(), model),
            ..*u
        },
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
        let parsed: Settings =
            serde_json::from_str(&settings).map_err(|e| format!("settings: {e}"))?;
        if parsed
            .max_request_cost_eur
            .is_some_and(|c| !c.is_finite() || c < 0.0)
        {
            return Err("max_request_cost_eur: must be a number >= 0".into());
        }
        let _ = SETTINGS.set(parsed);
        Ok(())
    }

    fn evaluate(request: Request, _tenant: Tenant, model: ModelInfo, _load: Load) -> Verdict {
        decide(SETTINGS.get_or_init(Settings::default), &request, &model)
    }

    fn finish(_request: Request, _tenant: Tenant, model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&model, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

export!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate::policy::types::{Priority, RequestType};

    /// simulated-small: 0.0001 EUR per 1k input tokens, 0.0002 EUR per 1k output tokens.
    fn small() -> ModelInfo {
        ModelInfo {
            name: "simulated-small".into(),
            backend: "simulated".into(),
            input_nano_eur_per_1k: 100_000,
            output_nano_eur_per_1k: 200_000,
            max_input_tokens: 4096,
            max_output_tokens: 512,
        }
    }

    fn request(prompt_tokens: u32, max_tokens: u32) -> Request {
        Request {
            id: "r".into(),
            user_id: "user_standard_01".into(),
            project_id: "standard_project".into(),
            model: "simulated-small".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens,
            max_tokens,
            estimated_cost_nano_eur: 0,
            now_ms: 0,
        }
    }

    #[test]
    fn estimate_cap_and_settlement() {
        match decide(&Settings::default(), &request(1000, 500), &small()) {
            Verdict::Modify(c) => assert_eq!(c.estimated_cost_nano_eur, Some(200_000)),
            other => panic!("expected the estimate, got {other:?}"),
        }
        let capped = Settings {
            max_request_cost_eur: Some(0.0001),
        };
        assert!(matches!(
            decide(&capped, &request(1000, 500), &small()),
            Verdict::Reject(_)
        ));
        let used = Usage {
            input_tokens: 1000,
            output_tokens: 100,
            cost_nano_eur: 0,
        };
        assert_eq!(
            settle(&small(), &Outcome::Completed(used)).cost_nano_eur,
            120_000
        );
    }
}
