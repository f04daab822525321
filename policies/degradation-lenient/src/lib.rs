//! Degradation variant `degradation-lenient`: sheds load later and softer than the
//! default levels of `config/degradation.yaml`, for stress tests that compare policies.
//!
//! Built-in levels, used when the slot's settings have no `degradation_levels` key
//! (queue usage = waiting / `max_queue_size`):
//!
//! | level | name | queue usage ≥ | actions |
//! |---|---|---|---|
//! | 0 | `normal` | 0.00 | none |
//! | 1 | `soft_pressure` | 0.80 | max_tokens × 0.9 |
//! | 2 | `high_pressure` | 0.95 | max_tokens × 0.75, refuse batch |
//! | 3 | `critical_pressure` | 0.99 | max_tokens × 0.5, refuse batch (interactive work is never refused) |
//!
//! Settings that have `degradation_levels` (e.g. `settings_file: degradation.yaml`)
//! replace the table. Everything else is the default policy's rule code
//! (`policies/degradation`, used as a library).

use policy_degradation::Variant;

/// The built-in levels (the table above), as `degradation_levels` JSON.
pub const LEVELS: &str = r#"{
    "normal": {"level": 0, "queue_usage_threshold": 0.0, "actions": {}},
    "soft_pressure": {"level": 1, "queue_usage_threshold": 0.80,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.9}},
    "high_pressure": {"level": 2, "queue_usage_threshold": 0.95,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.75, "reject_batch": true}},
    "critical_pressure": {"level": 3, "queue_usage_threshold": 0.99,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.5, "reject_batch": true}}
}"#;

/// The `degradation-lenient` variant.
pub struct Lenient;

impl Variant for Lenient {
    const NAME: &'static str = "degradation-lenient";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DEFAULT_LEVELS: Option<&'static str> = Some(LEVELS);
}

#[cfg(target_arch = "wasm32")]
type Policy = policy_degradation::Policy<Lenient>;

#[cfg(target_arch = "wasm32")]
policy_degradation::export!(Policy with_types_in policy_degradation::bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_degradation::sample::{Priority, RequestType, load, request};
    use policy_degradation::{Guest, Settings, Verdict, decide, select, usage_ratio};

    fn lenient() -> Settings {
        Settings::parse_with_defaults("{}", Lenient::DEFAULT_LEVELS).unwrap()
    }

    fn verdict(s: &Settings, priority: Priority, kind: RequestType, queue: u32) -> Verdict {
        decide(s, &request(priority, kind, 100), &load(queue, 100))
    }

    fn max_tokens(v: Verdict) -> Option<u32> {
        match v {
            Verdict::Modify(c) => c.max_tokens,
            Verdict::Allow => None,
            other => panic!("expected the request through, got {other:?}"),
        }
    }

    #[test]
    fn names_itself() {
        let info = <policy_degradation::Policy<Lenient> as Guest>::info();
        assert_eq!(
            (info.name.as_str(), info.version.as_str()),
            ("degradation-lenient", "0.1.0")
        );
    }

    #[test]
    fn levels_follow_the_table() {
        let s = lenient();
        for (queue, name) in [
            (0, "normal"),
            (60, "normal"),
            (79, "normal"),
            (80, "soft_pressure"),
            (95, "high_pressure"),
            (99, "critical_pressure"),
            (100, "critical_pressure"),
        ] {
            let level = select(&s, usage_ratio(&load(queue, 100))).unwrap();
            assert_eq!(level.name, name, "queue {queue}/100");
        }
    }

    #[test]
    fn at_0_6_batch_passes_untouched() {
        let s = lenient();
        assert!(matches!(
            verdict(&s, Priority::Low, RequestType::Batch, 60),
            Verdict::Allow
        ));
        assert!(matches!(
            verdict(&s, Priority::Normal, RequestType::Interactive, 60),
            Verdict::Allow
        ));
    }

    #[test]
    fn batch_refused_only_from_0_95() {
        let s = lenient();
        assert_eq!(
            max_tokens(verdict(&s, Priority::Low, RequestType::Batch, 94)),
            Some(90)
        );
        assert!(matches!(
            verdict(&s, Priority::Low, RequestType::Batch, 95),
            Verdict::Reject(r) if r.code == "reject_batch"
        ));
    }

    #[test]
    fn critical_never_refuses_interactive_work() {
        let s = lenient();
        for priority in [Priority::Low, Priority::Normal, Priority::High] {
            let v = verdict(&s, priority, RequestType::Interactive, 100);
            assert_eq!(max_tokens(v), Some(50), "{priority:?}");
        }
    }

    #[test]
    fn explicit_levels_override_the_table() {
        let s = Settings::parse_with_defaults(
            r#"{"degradation_levels": {"high_pressure": {"level": 2, "queue_usage_threshold": 0.5,
                "actions": {"reject_batch": true}}}}"#,
            Lenient::DEFAULT_LEVELS,
        )
        .unwrap();
        assert!(matches!(
            verdict(&s, Priority::Low, RequestType::Batch, 60),
            Verdict::Reject(r) if r.code == "reject_batch"
        ));
        assert!(matches!(
            verdict(&s, Priority::Low, RequestType::Batch, 40),
            Verdict::Allow
        ));
    }
}
