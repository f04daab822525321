//! Degradation variant `degradation-strict`: sheds load earlier and harder than the
//! default levels of `config/degradation.yaml`, for stress tests that compare policies.
//!
//! Built-in levels, used when the slot's settings have no `degradation_levels` key
//! (queue usage = waiting / `max_queue_size`):
//!
//! | level | name | queue usage ≥ | actions |
//! |---|---|---|---|
//! | 0 | `normal` | 0.00 | none |
//! | 1 | `soft_pressure` | 0.30 | max_tokens × 0.5 |
//! | 2 | `high_pressure` | 0.50 | max_tokens × 0.5, refuse batch |
//! | 3 | `critical_pressure` | 0.70 | max_tokens × 0.25, refuse batch, refuse all but high priority |
//!
//! Settings that have `degradation_levels` (e.g. `settings_file: degradation.yaml`)
//! replace the table. Everything else is the default policy's rule code
//! (`policies/degradation`, used as a library).

use policy_degradation::Variant;

/// The built-in levels (the table above), as `degradation_levels` JSON.
pub const LEVELS: &str = r#"{
    "normal": {"level": 0, "queue_usage_threshold": 0.0, "actions": {}},
    "soft_pressure": {"level": 1, "queue_usage_threshold": 0.30,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.5}},
    "high_pressure": {"level": 2, "queue_usage_threshold": 0.50,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.5, "reject_batch": true}},
    "critical_pressure": {"level": 3, "queue_usage_threshold": 0.70,
        "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.25, "reject_batch": true,
                    "reject_standard": true}}
}"#;

/// The `degradation-strict` variant.
pub struct Strict;

impl Variant for Strict {
    const NAME: &'static str = "degradation-strict";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DEFAULT_LEVELS: Option<&'static str> = Some(LEVELS);
}

#[cfg(target_arch = "wasm32")]
type Policy = policy_degradation::Policy<Strict>;

#[cfg(target_arch = "wasm32")]
policy_degradation::export!(Policy with_types_in policy_degradation::bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_degradation::sample::{Priority, RequestType, load, request};
    use policy_degradation::{Guest, Settings, Verdict, decide, select, usage_ratio};

    fn strict() -> Settings {
        Settings::parse_with_defaults("{}", Strict::DEFAULT_LEVELS).unwrap()
    }

    fn verdict(s: &Settings, priority: Priority, kind: RequestType, queue: u32) -> Verdict {
        decide(s, &request(priority, kind, 100), &load(queue, 100))
    }

    fn code(v: Verdict) -> String {
        match v {
            Verdict::Reject(r) => r.code,
            other => panic!("expected a rejection, got {other:?}"),
        }
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
        let info = <policy_degradation::Policy<Strict> as Guest>::info();
        assert_eq!(
            (info.name.as_str(), info.version.as_str()),
            ("degradation-strict", "0.1.0")
        );
    }

    #[test]
    fn levels_follow_the_table() {
        let s = strict();
        for (queue, name) in [
            (0, "normal"),
            (29, "normal"),
            (30, "soft_pressure"),
            (50, "high_pressure"),
            (60, "high_pressure"),
            (70, "critical_pressure"),
            (100, "critical_pressure"),
        ] {
            let level = select(&s, usage_ratio(&load(queue, 100))).unwrap();
            assert_eq!(level.name, name, "queue {queue}/100");
        }
    }

    #[test]
    fn at_0_6_batch_is_refused_and_interactive_halved() {
        let s = strict();
        assert_eq!(
            code(verdict(&s, Priority::Normal, RequestType::Batch, 60)),
            "reject_batch"
        );
        assert_eq!(
            max_tokens(verdict(&s, Priority::Normal, RequestType::Interactive, 60)),
            Some(50)
        );
    }

    #[test]
    fn soft_pressure_already_at_0_3() {
        let s = strict();
        assert_eq!(
            max_tokens(verdict(&s, Priority::Low, RequestType::Batch, 30)),
            Some(50)
        );
        assert_eq!(
            max_tokens(verdict(&s, Priority::Low, RequestType::Batch, 29)),
            None
        );
    }

    #[test]
    fn critical_keeps_only_high_priority_at_a_quarter() {
        let s = strict();
        assert_eq!(
            code(verdict(&s, Priority::Normal, RequestType::Interactive, 70)),
            "reject_standard"
        );
        assert_eq!(
            max_tokens(verdict(&s, Priority::High, RequestType::Interactive, 70)),
            Some(25)
        );
    }

    #[test]
    fn explicit_levels_override_the_table() {
        let s = Settings::parse_with_defaults(
            r#"{"degradation_levels": {"soft_pressure": {"level": 1, "queue_usage_threshold": 0.6,
                "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.75}}}}"#,
            Strict::DEFAULT_LEVELS,
        )
        .unwrap();
        assert_eq!(
            max_tokens(verdict(&s, Priority::Normal, RequestType::Batch, 60)),
            Some(75)
        );
        assert_eq!(
            max_tokens(verdict(&s, Priority::Normal, RequestType::Batch, 99)),
            Some(75)
        );
        // An explicitly empty table degrades nothing.
        let none =
            Settings::parse_with_defaults(r#"{"degradation_levels": {}}"#, Strict::DEFAULT_LEVELS);
        assert!(none.unwrap().levels.is_empty());
        // Bad settings are still refused with the field named.
        let bad = Settings::parse_with_defaults(r#"{"levels": {}}"#, Strict::DEFAULT_LEVELS);
        assert_eq!(
            bad.unwrap_err(),
            "levels: unknown key (allowed: degradation_levels)"
        );
    }
}
