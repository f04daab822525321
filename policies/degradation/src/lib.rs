//! Degradation policy: sheds and shrinks load as the waiting queue fills
//! (`config/degradation.yaml`).
//!
//! The level is chosen as in the seed: `ratio = queue_length / queue_capacity` (0 when the
//! capacity is 0); start from the level named `normal` (or an implicit level 0 without
//! actions); walk the levels in configuration order and take each one whose threshold
//! `ratio` reaches and whose `level` is at least the selected one's. The level's actions
//! then apply, first match wins: refuse batch work, refuse non-high priorities, refuse
//! all but one priority (503 `overloaded`); else lower `max_tokens` by a factor and
//! re-route models. Unlike the seed, a refusal's message names the level that applied.
//!
//! The crate is also a library for variants of this policy (`policies/degradation-strict`,
//! `policies/degradation-lenient`): they depend on it with `default-features = false`
//! (without the `export` feature, which exports [`Policy<Standard>`] as the world), name
//! themselves with a [`Variant`], and export `Policy<TheirVariant>` with this crate's
//! public `export!` macro, so they share these bindings and every rule function.

/// The bindings of the `policy` world (re-exported at the crate root).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "policy",
        // Variants export this crate's world from their own crate.
        pub_export_macro: true,
    });
}

pub use bindings::*;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tollgate::policy::types::{Changes, Priority, RejectKind, Rejection, RequestType};

/// A priority as written in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorityName {
    /// `low`
    Low,
    /// `normal`
    Normal,
    /// `high`
    High,
}

impl PriorityName {
    /// Whether `p` is this priority.
    pub fn is(self, p: Priority) -> bool {
        matches!(
            (self, p),
            (PriorityName::Low, Priority::Low)
                | (PriorityName::Normal, Priority::Normal)
                | (PriorityName::High, Priority::High)
        )
    }

    /// The name as written in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            PriorityName::Low => "low",
            PriorityName::Normal => "normal",
            PriorityName::High => "high",
        }
    }
}

/// What a level does; every key is optional.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    /// Multiply max_tokens by `max_output_token_factor`.
    #[serde(default)]
    pub reduce_max_tokens: bool,
    /// Factor in (0, 1]; 1.0 when absent.
    pub max_output_token_factor: Option<f64>,
    /// Refuse batch requests.
    #[serde(default)]
    pub reject_batch: bool,
    /// Refuse requests whose priority is not high.
    #[serde(default)]
    pub reject_standard: bool,
    /// Refuse requests of any other priority.
    pub allow_only_priority: Option<PriorityName>,
    /// Serve requests for a key model with the value model instead.
    #[serde(default)]
    pub route_to_model: BTreeMap<String, String>,
}

/// One entry of `degradation_levels` as written (all optional so each key is typed alone).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelSpec {
    level: Option<i64>,
    queue_usage_threshold: Option<f64>,
    actions: Option<Value>,
}

/// The settings object as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsSpec {
    degradation_levels: Option<Map<String, Value>>,
}

/// A checked degradation level.
#[derive(Debug, Clone)]
pub struct Level {
    /// Its key in `degradation_levels`.
    pub name: String,
    /// Its rank.
    pub level: u32,
    /// The queue usage ratio from which it applies, in [0, 1].
    pub queue_usage_threshold: f64,
    /// Its actions, typed.
    pub actions: Actions,
    /// Its actions exactly as configured (for `status`).
    pub raw_actions: Map<String, Value>,
}

/// The checked settings: the levels in configuration order.
#[derive(Debug, Default)]
pub struct Settings {
    /// Levels in the order they were written.
    pub levels: Vec<Level>,
}

/// An example value for a key, used as the hint of a type error.
fn example(key: &str) -> &'static str {
    match key {
        "level" => "e.g. 2",
        "queue_usage_threshold" => "e.g. 0.8",
        "max_output_token_factor" => "use e.g. 0.75",
        "allow_only_priority" => "low, normal or high",
        "route_to_model" => "e.g. {\"simulated-large\": \"simulated-small\"}",
        "actions" => "a mapping of actions",
        "reduce_max_tokens" | "reject_batch" | "reject_standard" => "true or false",
        "degradation_levels" => "a mapping of level names to levels",
        _ => "see config/degradation.yaml",
    }
}

/// Deserializes the mapping `value` at `path` into `T` (whose fields are all optional),
/// typing each key alone first so that an error names the key it is about.
fn typed<T: DeserializeOwned>(value: &Value, path: &str) -> Result<T, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "{path}: must be a mapping, got {value} ({})",
            example(path.rsplit('.').next().unwrap_or(""))
        ));
    };
    for (k, v) in map {
        let alone = Value::Object(Map::from_iter([(k.clone(), v.clone())]));
        let Err(e) = T::deserialize(alone) else {
            continue;
        };
        let e = e.to_string();
        let problem = if let Some(rest) = e.strip_prefix(&format!("unknown field `{k}`, expected "))
        {
            format!(
                "unknown key (allowed: {})",
                rest.trim_start_matches("one of ").replace('`', "")
            )
        } else if let Some((got, expected)) = e.split_once(", expected ") {
            let got = match got.strip_prefix("unknown variant ") {
                Some(variant) => variant.replace('`', "\""),
                None => got
                    .trim_start_matches("invalid type: ")
                    .trim_start_matches("invalid value: ")
                    .replace('`', ""),
            };
            let expected = match expected {
                "f64" => "a number",
                "i64" => "an integer",
                other => other,
            };
            format!(
                "must be {}, got {got} ({})",
                expected.replace('`', ""),
                example(k)
            )
        } else {
            format!("{e} ({})", example(k))
        };
        return Err(format!("{path}.{k}: {problem}"));
    }
    T::deserialize(value).map_err(|e| format!("{path}: {e}"))
}

impl Settings {
    /// Parses and checks the JSON settings; errors read `path.to.field: problem (hint)`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass a mapping)"))?;
        let spec: SettingsSpec = typed(&value, "settings")
            .map_err(|e| e.strip_prefix("settings.").map(str::to_owned).unwrap_or(e))?;
        // `{}` (no levels) is valid: the policy then never degrades anything.
        let levels = spec.degradation_levels.unwrap_or_default();
        let mut out = Vec::with_capacity(levels.len());
        for (name, v) in &levels {
            let path = format!("degradation_levels.{name}");
            let spec: LevelSpec = typed(v, &path)?;
            let level = match spec.level {
                Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => n as u32,
                Some(n) => {
                    return Err(format!(
                        "{path}.level: must be an integer >= 0, got {n} (e.g. 2)"
                    ));
                }
                None => return Err(format!("{path}.level: missing (e.g. level: 2)")),
            };
            let threshold = match spec.queue_usage_threshold {
                Some(t) if (0.0..=1.0).contains(&t) => t,
                Some(t) => {
                    return Err(format!(
                        "{path}.queue_usage_threshold: must be in [0, 1], got {t} (e.g. 0.8)"
                    ));
                }
                None => {
                    return Err(format!(
                        "{path}.queue_usage_threshold: missing (e.g. queue_usage_threshold: 0.8)"
                    ));
                }
            };
            let raw = spec.actions.unwrap_or_else(|| Value::Object(Map::new()));
            let actions: Actions = typed(&raw, &format!("{path}.actions"))?;
            if let Some(f) = actions.max_output_token_factor
                && !(f > 0.0 && f <= 1.0)
            {
                return Err(format!(
                    "{path}.actions.max_output_token_factor: must be in (0, 1], got {f} (use e.g. 0.75)"
                ));
            }
            let Value::Object(raw_actions) = raw else {
                unreachable!("typed() accepted a mapping")
            };
            out.push(Level {
                name: name.clone(),
                level,
                queue_usage_threshold: threshold,
                actions,
                raw_actions,
            });
        }
        Ok(Settings { levels: out })
    }
}

/// How full the waiting queue is: `queue_length / queue_capacity`, 0.0 when the capacity is 0.
pub fn usage_ratio(load: &Load) -> f64 {
    if load.queue_capacity == 0 {
        0.0
    } else {
        f64::from(load.queue_length) / f64::from(load.queue_capacity)
    }
}

/// The level in force at `ratio`; `None` is the implicit level 0 (named `normal`, no actions).
pub fn select(settings: &Settings, ratio: f64) -> Option<&Level> {
    let mut selected = settings.levels.iter().find(|l| l.name == "normal");
    for l in &settings.levels {
        if ratio >= l.queue_usage_threshold && l.level >= selected.map_or(0, |s| s.level) {
            selected = Some(l);
        }
    }
    selected
}

/// The words naming a level in messages: `X system pressure` for `X_pressure`, else
/// `system pressure (level NAME)`.
pub fn pressure(name: &str) -> String {
    match name.strip_suffix("_pressure") {
        Some(x) if !x.is_empty() => format!("{x} system pressure"),
        _ => format!("system pressure (level {name})"),
    }
}

/// The rule: apply the actions of the level in force to the request.
pub fn decide(settings: &Settings, request: &Request, load: &Load) -> Verdict {
    let Some(level) = select(settings, usage_ratio(load)) else {
        return Verdict::Allow;
    };
    let a = &level.actions;
    let refuse = |code: &str, what: String| {
        Verdict::Reject(Rejection {
            kind: RejectKind::Overloaded,
            code: code.into(),
            message: format!("{what} due to {}", pressure(&level.name)),
            retry_after_ms: Some(1000),
        })
    };
    if a.reject_batch && matches!(request.request_type, RequestType::Batch) {
        return refuse("reject_batch", "Batch requests rejected".into());
    }
    if a.reject_standard && !matches!(request.priority, Priority::High) {
        return refuse("reject_standard", "Standard requests rejected".into());
    }
    if let Some(only) = a.allow_only_priority
        && !only.is(request.priority)
    {
        return refuse(
            "allow_only_priority",
            format!("Only {} priority requests allowed", only.as_str()),
        );
    }
    let mut changes = Changes {
        max_tokens: None,
        model: None,
        priority: None,
        estimated_cost_nano_eur: None,
        actions: vec![],
    };
    if a.reduce_max_tokens {
        let factor = a.max_output_token_factor.unwrap_or(1.0);
        let reduced = ((f64::from(request.max_tokens) * factor).floor() as u32).max(1);
        if reduced < request.max_tokens {
            changes.max_tokens = Some(reduced);
            changes.actions.push("reduce_max_tokens".into());
        }
    }
    if let Some(to) = a.route_to_model.get(&request.model)
        && *to != request.model
    {
        changes.model = Some(to.clone());
        changes.actions.push("route_to_model".into());
    }
    if changes.actions.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Modify(changes)
    }
}

/// `status` JSON: `{"level", "level_number", "queue_usage_ratio", "actions"}`, the actions
/// exactly as configured.
pub fn status_json(settings: &Settings, load: &Load) -> String {
    let ratio = usage_ratio(load);
    let level = select(settings, ratio);
    serde_json::json!({
        "level": level.map_or("normal", |l| l.name.as_str()),
        "level_number": level.map_or(0, |l| l.level),
        "queue_usage_ratio": ratio,
        "actions": level.map_or_else(Map::new, |l| l.raw_actions.clone()),
    })
    .to_string()
}

/// What distinguishes a variant of this policy: its name and version, and the levels
/// it applies when the settings have no `degradation_levels` key.
pub trait Variant {
    /// `info().name`.
    const NAME: &'static str;
    /// `info().version`.
    const VERSION: &'static str;
    /// The `degradation_levels` mapping as JSON, used when the settings have none;
    /// `None`: no levels, nothing is ever degraded.
    const DEFAULT_LEVELS: Option<&'static str> = None;
}

/// The default policy, `degradation`: levels only from the settings (degradation.yaml).
pub struct Standard;

impl Variant for Standard {
    const NAME: &'static str = "degradation";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
}

impl Settings {
    /// [`Settings::parse`], with `default_levels` (a JSON mapping) filled in as
    /// `degradation_levels` when the settings object has no such key.
    pub fn parse_with_defaults(
        json: &str,
        default_levels: Option<&str>,
    ) -> Result<Settings, String> {
        let Some(levels) = default_levels else {
            return Settings::parse(json);
        };
        let mut value: Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass a mapping)"))?;
        if let Value::Object(map) = &mut value
            && !map.contains_key("degradation_levels")
        {
            let levels = serde_json::from_str(levels)
                .map_err(|e| format!("built-in degradation_levels: not JSON: {e}"))?;
            map.insert("degradation_levels".into(), levels);
        }
        Settings::parse(&value.to_string())
    }
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// The policy of variant `V`: the `Guest` implementation a component exports.
pub struct Policy<V>(std::marker::PhantomData<V>);

impl<V: Variant> Guest for Policy<V> {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: V::NAME.into(),
            version: V::VERSION.into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        let _ = SETTINGS.set(Settings::parse_with_defaults(&settings, V::DEFAULT_LEVELS)?);
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

#[cfg(feature = "export")]
type Degradation = Policy<Standard>;

#[cfg(feature = "export")]
export!(Degradation with_types_in bindings);

/// Sample views for native tests of this policy and its variants.
#[doc(hidden)]
pub mod sample {
    pub use super::tollgate::policy::types::{Priority, RequestType};
    use super::{Load, Request};

    /// A load with `queue_length` of `queue_capacity` waiting.
    pub fn load(queue_length: u32, queue_capacity: u32) -> Load {
        Load {
            queue_length,
            queue_capacity,
            active: 0,
            active_capacity: 50,
        }
    }

    /// A request for `simulated-large`.
    pub fn request(priority: Priority, request_type: RequestType, max_tokens: u32) -> Request {
        Request {
            id: "r".into(),
            user_id: "u".into(),
            project_id: "p".into(),
            model: "simulated-large".into(),
            priority,
            request_type,
            prompt_tokens: 5,
            max_tokens,
            estimated_cost_nano_eur: 0,
            now_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::{load, request};
    use super::*;

    /// config/degradation.yaml as JSON.
    const DEFAULT: &str = r#"{"degradation_levels": {
        "normal": {"level": 0, "queue_usage_threshold": 0.40,
            "actions": {"reduce_max_tokens": false, "reject_batch": false, "reject_standard": false}},
        "soft_pressure": {"level": 1, "queue_usage_threshold": 0.60,
            "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.75, "reject_batch": false, "reject_standard": false}},
        "high_pressure": {"level": 2, "queue_usage_threshold": 0.80,
            "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.50, "reject_batch": true, "reject_standard": false}},
        "critical_pressure": {"level": 3, "queue_usage_threshold": 0.95,
            "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.25, "reject_batch": true, "reject_standard": true, "allow_only_priority": "high"}}
    }}"#;

    fn defaults() -> Settings {
        Settings::parse(DEFAULT).unwrap()
    }

    fn level_at(s: &Settings, queue: u32, capacity: u32) -> &str {
        select(s, usage_ratio(&load(queue, capacity))).map_or("<implicit>", |l| l.name.as_str())
    }

    fn rejection(v: Verdict) -> Rejection {
        match v {
            Verdict::Reject(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn changes(v: Verdict) -> Changes {
        match v {
            Verdict::Modify(c) => c,
            other => panic!("expected a modification, got {other:?}"),
        }
    }

    #[test]
    fn levels_keep_configuration_order() {
        let names: Vec<_> = defaults().levels.into_iter().map(|l| l.name).collect();
        assert_eq!(
            names,
            [
                "normal",
                "soft_pressure",
                "high_pressure",
                "critical_pressure"
            ]
        );
    }

    #[test]
    fn level_follows_the_queue_ratio() {
        let s = defaults();
        for (queue, name) in [
            (0, "normal"),
            (399, "normal"),
            (590, "normal"),
            (599, "normal"),
            (600, "soft_pressure"),
            (799, "soft_pressure"),
            (800, "high_pressure"),
            (949, "high_pressure"),
            (950, "critical_pressure"),
            (1200, "critical_pressure"),
        ] {
            assert_eq!(level_at(&s, queue, 1000), name, "queue {queue}/1000");
        }
        assert_eq!(level_at(&s, 6, 10), "soft_pressure");
        assert_eq!(level_at(&s, 8, 10), "high_pressure");
        assert_eq!(level_at(&s, 5, 0), "normal");
        assert_eq!(level_at(&Settings::default(), 1000, 1000), "<implicit>");
    }

    #[test]
    fn batch_refused_under_high_pressure() {
        let r = rejection(decide(
            &defaults(),
            &request(Priority::Normal, RequestType::Batch, 64),
            &load(8, 10),
        ));
        assert!(matches!(r.kind, RejectKind::Overloaded));
        assert_eq!(r.code, "reject_batch");
        assert_eq!(
            r.message,
            "Batch requests rejected due to high system pressure"
        );
        assert_eq!(r.retry_after_ms, Some(1000));
        // Interactive work only shrinks there.
        let c = changes(decide(
            &defaults(),
            &request(Priority::Normal, RequestType::Interactive, 64),
            &load(8, 10),
        ));
        assert_eq!(c.max_tokens, Some(32));
    }

    #[test]
    fn batch_at_critical_names_the_critical_level() {
        let r = rejection(decide(
            &defaults(),
            &request(Priority::High, RequestType::Batch, 64),
            &load(95, 100),
        ));
        assert_eq!(r.code, "reject_batch");
        assert_eq!(
            r.message,
            "Batch requests rejected due to critical system pressure"
        );
    }

    #[test]
    fn standard_refused_under_critical_pressure() {
        let r = rejection(decide(
            &defaults(),
            &request(Priority::Normal, RequestType::Interactive, 64),
            &load(95, 100),
        ));
        assert_eq!(r.code, "reject_standard");
        assert_eq!(
            r.message,
            "Standard requests rejected due to critical system pressure"
        );
        // Not at high pressure.
        assert!(matches!(
            decide(
                &defaults(),
                &request(Priority::Normal, RequestType::Interactive, 64),
                &load(8, 10)
            ),
            Verdict::Modify(_)
        ));
    }

    #[test]
    fn max_tokens_shrink_by_the_level_factor() {
        let s = defaults();
        let vip = |max_tokens, queue| {
            decide(
                &s,
                &request(Priority::High, RequestType::Interactive, max_tokens),
                &load(queue, 1000),
            )
        };
        let c = changes(vip(64, 950));
        assert_eq!(
            (c.max_tokens, c.actions),
            (Some(16), vec!["reduce_max_tokens".to_string()])
        );
        assert_eq!(changes(vip(100, 600)).max_tokens, Some(75));
        assert!(
            matches!(vip(1, 600), Verdict::Allow),
            "1 stays 1 and records nothing"
        );
        assert!(matches!(vip(100, 590), Verdict::Allow));
    }

    #[test]
    fn allow_only_priority_and_other_level_names() {
        let s = Settings::parse(
            r#"{"degradation_levels": {"overload": {"level": 1, "queue_usage_threshold": 0.5,
                "actions": {"allow_only_priority": "high"}}}}"#,
        )
        .unwrap();
        let r = rejection(decide(
            &s,
            &request(Priority::Normal, RequestType::Interactive, 64),
            &load(5, 10),
        ));
        assert_eq!(r.code, "allow_only_priority");
        assert_eq!(
            r.message,
            "Only high priority requests allowed due to system pressure (level overload)"
        );
        assert!(matches!(
            decide(
                &s,
                &request(Priority::High, RequestType::Interactive, 64),
                &load(5, 10)
            ),
            Verdict::Allow
        ));
        assert!(matches!(
            decide(
                &s,
                &request(Priority::Low, RequestType::Interactive, 64),
                &load(4, 10)
            ),
            Verdict::Allow
        ));
        let s = Settings::parse(
            r#"{"degradation_levels": {"critical_pressure": {"level": 3, "queue_usage_threshold": 0.9,
                "actions": {"allow_only_priority": "high"}}}}"#,
        )
        .unwrap();
        let r = rejection(decide(
            &s,
            &request(Priority::Low, RequestType::Interactive, 64),
            &load(9, 10),
        ));
        assert_eq!(
            r.message,
            "Only high priority requests allowed due to critical system pressure"
        );
    }

    #[test]
    fn route_to_model_applies() {
        let s = Settings::parse(
            r#"{"degradation_levels": {"soft_pressure": {"level": 1, "queue_usage_threshold": 0.6,
                "actions": {"reduce_max_tokens": true, "max_output_token_factor": 0.5,
                            "route_to_model": {"simulated-large": "simulated-small"}}}}}"#,
        )
        .unwrap();
        let c = changes(decide(
            &s,
            &request(Priority::Normal, RequestType::Interactive, 64),
            &load(6, 10),
        ));
        assert_eq!(c.model.as_deref(), Some("simulated-small"));
        assert_eq!(c.max_tokens, Some(32));
        assert_eq!(c.actions, ["reduce_max_tokens", "route_to_model"]);
        let mut other = request(Priority::Normal, RequestType::Interactive, 64);
        other.model = "simulated-small".into();
        assert_eq!(changes(decide(&s, &other, &load(6, 10))).model, None);
        assert!(matches!(
            decide(
                &s,
                &request(Priority::Normal, RequestType::Interactive, 64),
                &load(5, 10)
            ),
            Verdict::Allow
        ));
    }

    #[test]
    fn status_reports_the_level_and_its_actions_as_configured() {
        assert_eq!(
            status_json(&defaults(), &load(950, 1000)),
            r#"{"level":"critical_pressure","level_number":3,"queue_usage_ratio":0.95,"actions":{"reduce_max_tokens":true,"max_output_token_factor":0.25,"reject_batch":true,"reject_standard":true,"allow_only_priority":"high"}}"#
        );
        assert_eq!(
            status_json(&defaults(), &load(0, 1000)),
            r#"{"level":"normal","level_number":0,"queue_usage_ratio":0.0,"actions":{"reduce_max_tokens":false,"reject_batch":false,"reject_standard":false}}"#
        );
        assert_eq!(
            status_json(&Settings::default(), &load(3, 0)),
            r#"{"level":"normal","level_number":0,"queue_usage_ratio":0.0,"actions":{}}"#
        );
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad =
            |from: &str, to: &str| Settings::parse(&DEFAULT.replacen(from, to, 1)).unwrap_err();
        assert_eq!(
            bad(
                r#""max_output_token_factor": 0.75"#,
                r#""max_output_token_factor": 1.5"#
            ),
            "degradation_levels.soft_pressure.actions.max_output_token_factor: must be in (0, 1], got 1.5 (use e.g. 0.75)"
        );
        assert_eq!(
            bad(r#""reject_batch": true"#, r#""reject_all": true"#),
            "degradation_levels.high_pressure.actions.reject_all: unknown key (allowed: reduce_max_tokens, \
             max_output_token_factor, reject_batch, reject_standard, allow_only_priority, route_to_model)"
        );
        assert_eq!(
            bad(r#""reject_batch": true"#, r#""reject_batch": "yes""#),
            "degradation_levels.high_pressure.actions.reject_batch: must be a boolean, got string \"yes\" (true or false)"
        );
        assert_eq!(
            bad(
                r#""allow_only_priority": "high""#,
                r#""allow_only_priority": "urgent""#
            ),
            "degradation_levels.critical_pressure.actions.allow_only_priority: must be one of low, normal, high, \
             got \"urgent\" (low, normal or high)"
        );
        assert_eq!(
            bad(
                r#""queue_usage_threshold": 0.80"#,
                r#""queue_usage_threshold": 1.2"#
            ),
            "degradation_levels.high_pressure.queue_usage_threshold: must be in [0, 1], got 1.2 (e.g. 0.8)"
        );
        assert_eq!(
            bad(r#""level": 1,"#, r#""level": -1,"#),
            "degradation_levels.soft_pressure.level: must be an integer >= 0, got -1 (e.g. 2)"
        );
        assert_eq!(
            bad(r#""level": 1,"#, r#""rank": 1,"#),
            "degradation_levels.soft_pressure.rank: unknown key (allowed: level, queue_usage_threshold, actions)"
        );
        assert_eq!(
            bad(r#""level": 1,"#, ""),
            "degradation_levels.soft_pressure.level: missing (e.g. level: 2)"
        );
        assert_eq!(
            Settings::parse(r#"{"levels": {}}"#).unwrap_err(),
            "levels: unknown key (allowed: degradation_levels)"
        );
        assert_eq!(
            Settings::parse(r#"{"degradation_levels": {"soft": 5}}"#).unwrap_err(),
            "degradation_levels.soft: must be a mapping, got 5 (see config/degradation.yaml)"
        );
        assert_eq!(
            Settings::parse(r#"{"degradation_levels": []}"#).unwrap_err(),
            "degradation_levels: must be a map, got sequence (a mapping of level names to levels)"
        );
        // No levels at all is valid: nothing is ever degraded.
        assert!(Settings::parse("{}").unwrap().levels.is_empty());
    }
}
