//! Cost policy: estimates a request's cost from the model's per-1k prices and
//! settles the final cost from the real token counts.
//!
//! Money is integer nano-euros (1 EUR = 1e9). `cost = round(input × in_price_per_1k / 1000
//! + output × out_price_per_1k / 1000)`, rounded half up to the nano-euro, once per request.
//! Optional setting `max_request_cost_eur` refuses requests whose estimate exceeds it.

wit_bindgen::generate!({ path: "../../wit/since_v0.1.0", world: "policy" });

use tollgate::policy::types::{Changes, RejectKind, Rejection};
#[cfg(test)]
use tollgate::policy::types::{Priority, RequestType};

/// Settings from `config/policies.yaml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Refuse a request whose estimated cost is above this many euros.
    pub max_request_cost_eur: Option<f64>,
}

/// Cost in nano-euros of `input` and `output` tokens at per-1k prices.
pub fn cost_nano(input: u64, output: u64, model: &ModelInfo) -> u64 {
    let scaled = input as u128 * model.input_nano_eur_per_1k as u128
        + output as u128 * model.output_nano_eur_per_1k as u128;
    u64::try_from((scaled + 500) / 1000).unwrap_or(u64::MAX)
}

/// The rule: price the request; refuse it when over the per-request cap.
pub fn decide(settings: &Settings, request: &Request, model: &ModelInfo) -> Verdict {
    let estimate = cost_nano(
        request.prompt_tokens.into(),
        request.max_tokens.into(),
        model,
    );
    if let Some(cap) = settings.max_request_cost_eur {
        let cap_nano = (cap * 1e9).round() as u64;
        if estimate > cap_nano {
            return Verdict::Reject(Rejection {
                kind: RejectKind::Invalid,
                code: "request_cost_exceeded".into(),
                message: format!(
                    "request_cost_exceeded: estimated cost {} EUR is above the {} EUR per-request limit; lower max_tokens or shorten the prompt",
                    estimate as f64 / 1e9,
                    cap
                ),
                retry_after_ms: None,
            });
        }
    }
    Verdict::Modify(Changes {
        max_tokens: None,
        model: None,
        priority: None,
        estimated_cost_nano_eur: Some(estimate),
        actions: vec![],
    })
}

/// The final usage with its cost filled in.
pub fn settle(model: &ModelInfo, outcome: &Outcome) -> Usage {
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => Usage {
            cost_nano_eur: cost_nano(u.input_tokens.into(), u.output_tokens.into(), model),
            ..*u
        },
        Outcome::TimedOut | Outcome::Rejected => Usage {
            input_tokens: 0,
            output_tokens: 0,
            cost_nano_eur: 0,
        },
    }
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

struct Cost;

impl Guest for Cost {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "cost".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        let parsed: Settings =
            serde_json::from_str(&settings).map_err(|e| format!("cost settings: {e}"))?;
        if let Some(cap) = parsed.max_request_cost_eur
            && !(cap.is_finite() && cap >= 0.0)
        {
            return Err(format!(
                "cost settings: max_request_cost_eur must be a number >= 0, got {cap}"
            ));
        }
        let _ = SETTINGS.set(parsed);
        Ok(())
    }

    fn evaluate(request: Request, _tenant: Tenant, model: ModelInfo, _load: Load) -> Verdict {
        decide(
            SETTINGS.get().unwrap_or(&Settings::default()),
            &request,
            &model,
        )
    }

    fn finish(_request: Request, _tenant: Tenant, model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&model, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

export!(Cost);

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ModelInfo {
        // simulated-small: 0.0001 EUR / 1k input, 0.0002 EUR / 1k output
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
            user_id: "u".into(),
            project_id: "p".into(),
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
    fn seed_example_costs() {
        // Seed: simulated-small, 6 in / 64 out -> 0.0000134 EUR.
        assert_eq!(cost_nano(6, 64, &small()), 13_400);
        // 1000 in @ 0.10, 500 out @ 0.20 -> 0.20 EUR.
        let m = ModelInfo {
            input_nano_eur_per_1k: 100_000_000,
            output_nano_eur_per_1k: 200_000_000,
            ..small()
        };
        assert_eq!(cost_nano(1000, 500, &m), 200_000_000);
    }

    #[test]
    fn rounds_half_up_to_the_nano_euro() {
        let m = ModelInfo {
            input_nano_eur_per_1k: 1,
            output_nano_eur_per_1k: 0,
            ..small()
        };
        assert_eq!(cost_nano(499, 0, &m), 0);
        assert_eq!(cost_nano(500, 0, &m), 1);
    }

    #[test]
    fn estimate_is_set_on_the_request() {
        match decide(&Settings::default(), &request(6, 64), &small()) {
            Verdict::Modify(c) => assert_eq!(c.estimated_cost_nano_eur, Some(13_400)),
            other => panic!("expected modify, got {other:?}"),
        }
    }

    #[test]
    fn cap_refuses_expensive_requests_only() {
        let s = Settings {
            max_request_cost_eur: Some(0.00001),
        };
        assert!(
            matches!(decide(&s, &request(6, 64), &small()), Verdict::Reject(r) if r.code == "request_cost_exceeded")
        );
        assert!(matches!(
            decide(&s, &request(6, 10), &small()),
            Verdict::Modify(_)
        ));
    }

    #[test]
    fn final_cost_uses_real_usage() {
        let done = Outcome::Completed(Usage {
            input_tokens: 6,
            output_tokens: 64,
            cost_nano_eur: 0,
        });
        assert_eq!(settle(&small(), &done).cost_nano_eur, 13_400);
        assert_eq!(settle(&small(), &Outcome::Rejected).cost_nano_eur, 0);
    }
}
