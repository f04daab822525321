//! Scenarios: the nine built into the seed's tester (SEED-SPEC §16) plus
//! three `openai_*` ones, and
//! scenario files (YAML) with open-loop arrivals, mixes, max_tokens
//! distributions and SLOs per priority class.
//!
//! A file is read in two steps: serde into raw structs that refuse unknown
//! keys (the YAML error names the field path, line and column), then
//! validation into a [`Scenario`] that reports every problem at once as
//! `FILE: field.path: problem`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The seed's three prompts.
pub const SHORT_PROMPT: &str = "Summarize this request briefly.";
pub const MEDIUM_PROMPT: &str =
    "Write a concise explanation of how queueing and priority affect LLM serving latency.";
pub const LONG_PROMPT: &str = "Analyze an LLM serving system under heavy concurrent traffic. Discuss admission control, priority scheduling, queue limits, quotas, cost tracking, latency, and graceful degradation.";

/// A priority class (the project's `priority` in projects.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `request_type` of a `/generate` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestType {
    Interactive,
    Batch,
}

impl RequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Interactive => "interactive",
            RequestType::Batch => "batch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "interactive" => Some(Self::Interactive),
            "batch" => Some(Self::Batch),
            _ => None,
        }
    }
}

/// A user the scenario sends as.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSpec {
    pub id: Arc<str>,
    pub project_id: Arc<str>,
    pub priority: Priority,
    pub weight: f64,
    /// Overrides the scenario's request type mix for this user.
    pub request_types: Option<Vec<(RequestType, f64)>>,
}

/// A prompt choice: the seed's named sizes, a generated prompt of N
/// characters, or a literal text.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSpec {
    /// `short`, `medium`, `long`, `chars:N` or `text`.
    pub label: String,
    pub text: Arc<str>,
    pub weight: f64,
}

/// The `max_tokens` of each request.
#[derive(Debug, Clone, PartialEq)]
pub enum MaxTokens {
    Fixed(u32),
    /// Uniform integer in `[min, max]`.
    Uniform {
        min: u32,
        max: u32,
    },
    /// Weighted choice.
    Choices(Vec<(u32, f64)>),
}

/// The arrival process of an open-loop scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Process {
    /// Exponential gaps.
    Poisson,
    /// Gamma gaps with this shape (`burstiness`): 1 is Poisson, < 1 burstier, > 1 more regular.
    Gamma { shape: f64 },
    /// Evenly spaced.
    Constant,
}

/// A point of a rate ramp: the rate moves linearly from the previous point
/// (or `rate_per_second` at 0 s) to this one, and stays after the last point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RampPoint {
    pub at_seconds: f64,
    pub rate_per_second: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arrivals {
    pub process: Process,
    pub rate_per_second: f64,
    pub ramp: Vec<RampPoint>,
}

/// How requests are sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// The seed's closed loop: at most `concurrency` requests in flight (a
    /// queued request's polling holds its slot), a new one released every
    /// `delay_seconds`.
    Closed {
        concurrency: usize,
        delay_seconds: f64,
    },
    /// Open loop: requests sent at their planned times whatever the answers.
    Open(Arrivals),
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Stop after this many requests.
    pub total: Option<u64>,
    /// Stop sending after this long.
    pub duration_seconds: Option<f64>,
    pub load: Load,
    pub users: Vec<UserSpec>,
    pub models: Vec<(Arc<str>, f64)>,
    pub request_types: Vec<(RequestType, f64)>,
    pub prompts: Vec<PromptSpec>,
    pub max_tokens: MaxTokens,
    /// e2e latency objective (seconds) per priority class: a request meets its
    /// SLO if it completed within its class's threshold (a class without one:
    /// if it completed).
    pub slo: IndexMap<Priority, f64>,
}

impl Scenario {
    /// The priority classes of the scenario's users, high to low.
    pub fn classes(&self) -> Vec<Priority> {
        let set: BTreeSet<Priority> = self.users.iter().map(|u| u.priority).collect();
        set.into_iter().collect()
    }

    pub fn is_open_loop(&self) -> bool {
        matches!(self.load, Load::Open(_))
    }
}

/// The seed's users: (id, project, priority class).
pub const SEED_USERS: [(&str, &str, Priority); 4] = [
    ("user_standard_01", "standard_project", Priority::Normal),
    ("user_vip_01", "vip_project", Priority::High),
    ("user_batch_01", "batch_project", Priority::Low),
    ("admin_01", "vip_project", Priority::High),
];

fn seed_user(id: &str) -> Option<(&'static str, &'static str, Priority)> {
    SEED_USERS.iter().copied().find(|(u, _, _)| *u == id)
}

fn seed_user_spec(id: &str) -> UserSpec {
    let (id, project, priority) = seed_user(id).expect("a seed user");
    UserSpec {
        id: id.into(),
        project_id: project.into(),
        priority,
        weight: 1.0,
        request_types: None,
    }
}

fn named_prompt(size: &str) -> Option<&'static str> {
    match size {
        "short" => Some(SHORT_PROMPT),
        "medium" => Some(MEDIUM_PROMPT),
        "long" => Some(LONG_PROMPT),
        _ => None,
    }
}

/// A prompt of exactly `chars` characters (the long prompt repeated).
pub fn prompt_of_chars(chars: usize) -> String {
    let unit = format!("{LONG_PROMPT} ");
    unit.chars().cycle().take(chars).collect()
}

struct SeedRow {
    name: &'static str,
    description: &'static str,
    total: u64,
    concurrency: usize,
    users: &'static [&'static str],
    models: &'static [&'static str],
    interactive: f64,
    sizes: [f64; 3],
    delay: f64,
}

const STD: &str = "user_standard_01";
const VIP: &str = "user_vip_01";
const BATCH: &str = "user_batch_01";
const SMALL: &str = "simulated-small";
const LARGE: &str = "simulated-large";
const OLLAMA: &str = "ollama-llama";
/// The model the `openai_*` scenarios target: define it in models.yaml
/// (backend `openai`) for the server under test.
const OPENAI: &str = "openai-llama";

/// SEED-SPEC §16's table, plus Tollgate's three `openai_*` scenarios (the
/// `ollama_*` ones against an OpenAI-compatible model), in sorted order.
const SEED_SCENARIOS: [SeedRow; 12] = [
    SeedRow {
        name: "abusive_user",
        description: "A single standard user floods the gateway far beyond its rate limit.",
        total: 300,
        concurrency: 75,
        users: &[STD],
        models: &[SMALL],
        interactive: 1.0,
        sizes: [1.0, 0.0, 0.0],
        delay: 0.0,
    },
    SeedRow {
        name: "burst_load",
        description: "A sudden burst of standard-user traffic across both simulated models.",
        total: 200,
        concurrency: 50,
        users: &[STD],
        models: &[SMALL, LARGE],
        interactive: 1.0,
        sizes: [0.5, 0.4, 0.1],
        delay: 0.0,
    },
    SeedRow {
        name: "mixed_load",
        description: "Standard, VIP and batch users mixing interactive and batch requests on both simulated models.",
        total: 250,
        concurrency: 40,
        users: &[STD, VIP, BATCH],
        models: &[SMALL, LARGE],
        interactive: 0.7,
        sizes: [0.5, 0.35, 0.15],
        delay: 0.005,
    },
    SeedRow {
        name: "normal_load",
        description: "Steady standard-user traffic against the small simulated model.",
        total: 100,
        concurrency: 10,
        users: &[STD],
        models: &[SMALL],
        interactive: 1.0,
        sizes: [0.8, 0.2, 0.0],
        delay: 0.01,
    },
    SeedRow {
        name: "ollama_burst_load",
        description: "A burst of standard and VIP traffic against the local Ollama model.",
        total: 50,
        concurrency: 5,
        users: &[STD, VIP],
        models: &[OLLAMA],
        interactive: 1.0,
        sizes: [0.6, 0.3, 0.1],
        delay: 0.0,
    },
    SeedRow {
        name: "ollama_long_prompt",
        description: "Long prompts, one at a time, against the local Ollama model.",
        total: 10,
        concurrency: 1,
        users: &[STD],
        models: &[OLLAMA],
        interactive: 1.0,
        sizes: [0.0, 0.0, 1.0],
        delay: 0.1,
    },
    SeedRow {
        name: "ollama_normal_load",
        description: "Steady standard-user traffic against the local Ollama model.",
        total: 20,
        concurrency: 2,
        users: &[STD],
        models: &[OLLAMA],
        interactive: 1.0,
        sizes: [0.8, 0.2, 0.0],
        delay: 0.05,
    },
    SeedRow {
        name: "ollama_vip_protection",
        description: "Standard and VIP users share the local Ollama model; VIP traffic should be protected.",
        total: 60,
        concurrency: 6,
        users: &[STD, VIP],
        models: &[OLLAMA],
        interactive: 1.0,
        sizes: [0.7, 0.3, 0.0],
        delay: 0.0,
    },
    SeedRow {
        name: "openai_burst_load",
        description: "A burst of standard and VIP traffic against an OpenAI-compatible model (llama.cpp, vLLM).",
        total: 50,
        concurrency: 5,
        users: &[STD, VIP],
        models: &[OPENAI],
        interactive: 1.0,
        sizes: [0.6, 0.3, 0.1],
        delay: 0.0,
    },
    SeedRow {
        name: "openai_long_prompt",
        description: "Long prompts, one at a time, against an OpenAI-compatible model.",
        total: 10,
        concurrency: 1,
        users: &[STD],
        models: &[OPENAI],
        interactive: 1.0,
        sizes: [0.0, 0.0, 1.0],
        delay: 0.1,
    },
    SeedRow {
        name: "openai_normal_load",
        description: "Steady standard-user traffic against an OpenAI-compatible model.",
        total: 20,
        concurrency: 2,
        users: &[STD],
        models: &[OPENAI],
        interactive: 1.0,
        sizes: [0.8, 0.2, 0.0],
        delay: 0.05,
    },
    SeedRow {
        name: "vip_protection",
        description: "Standard and VIP users share the small simulated model; VIP traffic should be protected.",
        total: 150,
        concurrency: 30,
        users: &[STD, VIP],
        models: &[SMALL],
        interactive: 1.0,
        sizes: [0.7, 0.3, 0.0],
        delay: 0.005,
    },
];

/// Names of the built-in scenarios, sorted.
pub fn builtin_names() -> Vec<&'static str> {
    SEED_SCENARIOS.iter().map(|s| s.name).collect()
}

/// A built-in scenario by name.
pub fn builtin(name: &str) -> Option<Scenario> {
    let row = SEED_SCENARIOS.iter().find(|s| s.name == name)?;
    let mut request_types = vec![(RequestType::Interactive, row.interactive)];
    if row.interactive < 1.0 {
        request_types.push((RequestType::Batch, 1.0 - row.interactive));
    }
    let prompts = ["short", "medium", "long"]
        .into_iter()
        .zip(row.sizes)
        .filter(|(_, w)| *w > 0.0)
        .map(|(size, weight)| PromptSpec {
            label: size.into(),
            text: named_prompt(size).unwrap().into(),
            weight,
        })
        .collect();
    Some(Scenario {
        name: row.name.into(),
        description: row.description.into(),
        total: Some(row.total),
        duration_seconds: None,
        load: Load::Closed {
            concurrency: row.concurrency,
            delay_seconds: row.delay,
        },
        users: row.users.iter().map(|u| seed_user_spec(u)).collect(),
        models: row.models.iter().map(|m| (Arc::from(*m), 1.0)).collect(),
        request_types,
        prompts,
        max_tokens: MaxTokens::Fixed(64),
        slo: IndexMap::new(),
    })
}

/// `--scenario`: a built-in name, or a path to a YAML file (anything with a
/// `/`, a `.yaml`/`.yml` suffix, or an existing file).
pub fn resolve(arg: &str) -> Result<Scenario, String> {
    if let Some(s) = builtin(arg) {
        return Ok(s);
    }
    let looks_like_path = arg.contains('/')
        || arg.contains('\\')
        || arg.ends_with(".yaml")
        || arg.ends_with(".yml")
        || Path::new(arg).is_file();
    if looks_like_path {
        return load_file(Path::new(arg));
    }
    Err(format!(
        "Unknown scenario '{arg}'. Available scenarios: {} (or give the path of a scenario file)",
        builtin_names().join(", ")
    ))
}

/// Reads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the scenario file: {e}", path.display()))?;
    let default_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into());
    parse(&text, &default_name).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Parses and validates scenario YAML; errors are `field.path: problem`.
pub fn parse(text: &str, default_name: &str) -> Result<Scenario, Vec<String>> {
    let raw: RawScenario = yaml_serde::from_str(text).map_err(|e| vec![e.to_string()])?;
    raw.validate(default_name)
}

// ---------------------------------------------------------------------------
// Raw file structs.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    total: Option<u64>,
    duration_seconds: Option<f64>,
    concurrency: Option<usize>,
    delay_seconds: Option<f64>,
    arrivals: Option<RawArrivals>,
    users: Option<Vec<RawUser>>,
    models: Option<Vec<RawModel>>,
    request_types: Option<IndexMap<String, f64>>,
    prompt_sizes: Option<Vec<RawPrompt>>,
    max_tokens: Option<RawMaxTokens>,
    #[serde(default)]
    slo: IndexMap<String, RawSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArrivals {
    process: String,
    rate_per_second: f64,
    burstiness: Option<f64>,
    #[serde(default)]
    ramp: Vec<RawRamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRamp {
    at_seconds: f64,
    rate_per_second: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserFull {
    id: String,
    project_id: Option<String>,
    priority: Option<String>,
    #[serde(default = "one")]
    weight: f64,
    request_types: Option<IndexMap<String, f64>>,
}

/// A user: a seed user's id, or `{id, project_id, priority, weight, request_types}`.
struct RawUser(RawUserFull);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModelFull {
    name: String,
    #[serde(default = "one")]
    weight: f64,
}

/// A model: its name, or `{name, weight}`.
struct RawModel(RawModelFull);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrompt {
    size: Option<String>,
    chars: Option<usize>,
    text: Option<String>,
    #[serde(default = "one")]
    weight: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaxTokensSpec {
    fixed: Option<u32>,
    uniform: Option<RawUniform>,
    choices: Option<Vec<RawChoice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUniform {
    min: u32,
    max: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    value: u32,
    #[serde(default = "one")]
    weight: f64,
}

/// `max_tokens`: an integer, or `{fixed | uniform: {min, max} | choices: [{value, weight}]}`.
enum RawMaxTokens {
    Fixed(u64),
    Spec(RawMaxTokensSpec),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    e2e_p95_seconds: f64,
}

/// Deserializes `T` from either a string (via `from_str`) or a mapping (as `T`
/// itself, so unknown keys and types keep serde's precise messages).
macro_rules! string_or_map {
    ($outer:ident, $inner:ty, $expecting:literal, $from_str:expr) => {
        impl<'de> Deserialize<'de> for $outer {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $outer;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$outer, E> {
                        #[allow(clippy::redundant_closure_call)]
                        Ok($outer(($from_str)(s)))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$outer, A::Error> {
                        <$inner>::deserialize(de::value::MapAccessDeserializer::new(map))
                            .map($outer)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_or_map!(
    RawUser,
    RawUserFull,
    "a user id or a mapping {id, project_id, priority, weight, request_types}",
    |s: &str| RawUserFull {
        id: s.to_owned(),
        project_id: None,
        priority: None,
        weight: 1.0,
        request_types: None,
    }
);

string_or_map!(
    RawModel,
    RawModelFull,
    "a model name or a mapping {name, weight}",
    |s: &str| RawModelFull {
        name: s.to_owned(),
        weight: 1.0,
    }
);

impl<'de> Deserialize<'de> for RawMaxTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawMaxTokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an integer, or a mapping with one of `fixed`, `uniform: {min, max}`, `choices: [{value, weight}]`",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawMaxTokens, E> {
                Ok(RawMaxTokens::Fixed(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawMaxTokens, E> {
                Err(E::custom(format!("must be at least 1, got {v}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawMaxTokens, A::Error> {
                RawMaxTokensSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawMaxTokens::Spec)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Validation.

fn weights_ok(errors: &mut Vec<String>, field: &str, weights: &[f64]) {
    for (i, w) in weights.iter().enumerate() {
        if !w.is_finite() || *w < 0.0 {
            errors.push(format!(
                "{field}[{i}].weight: must be a number >= 0, got {w}"
            ));
        }
    }
    if !weights.is_empty() && weights.iter().all(|w| *w <= 0.0) {
        errors.push(format!("{field}: at least one weight must be > 0"));
    }
}

fn request_type_mix(
    errors: &mut Vec<String>,
    field: &str,
    mix: &IndexMap<String, f64>,
) -> Vec<(RequestType, f64)> {
    let mut out = Vec::new();
    for (k, w) in mix {
        match RequestType::parse(k) {
            Some(t) => {
                if !w.is_finite() || *w < 0.0 {
                    errors.push(format!("{field}.{k}: must be a weight >= 0, got {w}"));
                }
                out.push((t, *w));
            }
            None => errors.push(format!(
                "{field}.{k}: unknown request type (use interactive or batch)"
            )),
        }
    }
    if mix.is_empty() {
        errors.push(format!(
            "{field}: give at least one of interactive, batch with a weight"
        ));
    } else if out.iter().all(|(_, w)| *w <= 0.0) {
        errors.push(format!("{field}: at least one weight must be > 0"));
    }
    out
}

fn positive(errors: &mut Vec<String>, field: &str, v: f64) {
    if !v.is_finite() || v <= 0.0 {
        errors.push(format!("{field}: must be a number > 0, got {v}"));
    }
}

impl RawScenario {
    fn validate(self, default_name: &str) -> Result<Scenario, Vec<String>> {
        let mut errors = Vec::new();
        let e = &mut errors;

        if let Some(0) = self.total {
            e.push("total: must be at least 1".into());
        }
        if let Some(d) = self.duration_seconds {
            positive(e, "duration_seconds", d);
        }
        if self.total.is_none() && self.duration_seconds.is_none() {
            e.push("total: set `total` (a request count) or `duration_seconds` (or both)".into());
        }

        let load = match (self.concurrency, self.arrivals) {
            (Some(_), Some(_)) => {
                e.push("arrivals: give either `concurrency` (closed loop) or `arrivals` (open loop), not both".into());
                None
            }
            (None, None) => {
                e.push("concurrency: give `concurrency` (closed loop, as the seed) or `arrivals` (open loop)".into());
                None
            }
            (Some(c), None) => {
                if c == 0 {
                    e.push("concurrency: must be at least 1".into());
                }
                let delay = self.delay_seconds.unwrap_or(0.0);
                if !delay.is_finite() || delay < 0.0 {
                    e.push(format!("delay_seconds: must be a number >= 0, got {delay}"));
                }
                Some(Load::Closed {
                    concurrency: c,
                    delay_seconds: delay,
                })
            }
            (None, Some(a)) => {
                if self.delay_seconds.is_some() {
                    e.push("delay_seconds: only for closed-loop scenarios (`concurrency`); open-loop timing comes from `arrivals`".into());
                }
                let process = match a.process.as_str() {
                    "poisson" => Some(Process::Poisson),
                    "constant" => Some(Process::Constant),
                    "gamma" => {
                        let shape = a.burstiness.unwrap_or(1.0);
                        positive(e, "arrivals.burstiness", shape);
                        Some(Process::Gamma { shape })
                    }
                    other => {
                        e.push(format!(
                            "arrivals.process: unknown process `{other}` (use poisson, gamma or constant)"
                        ));
                        None
                    }
                };
                if a.burstiness.is_some() && a.process != "gamma" {
                    e.push("arrivals.burstiness: only for `process: gamma` (the gamma shape; < 1 is burstier than Poisson)".into());
                }
                if !a.rate_per_second.is_finite() || a.rate_per_second < 0.0 {
                    e.push(format!(
                        "arrivals.rate_per_second: must be a number >= 0, got {}",
                        a.rate_per_second
                    ));
                }
                let mut last_at = 0.0;
                for (i, p) in a.ramp.iter().enumerate() {
                    if !p.at_seconds.is_finite() || p.at_seconds <= last_at {
                        e.push(format!(
                            "arrivals.ramp[{i}].at_seconds: must be > 0 and greater than the previous point's, got {}",
                            p.at_seconds
                        ));
                    }
                    if !p.rate_per_second.is_finite() || p.rate_per_second < 0.0 {
                        e.push(format!(
                            "arrivals.ramp[{i}].rate_per_second: must be a number >= 0, got {}",
                            p.rate_per_second
                        ));
                    }
                    last_at = p.at_seconds;
                }
                let all_zero =
                    a.rate_per_second <= 0.0 && a.ramp.iter().all(|p| p.rate_per_second <= 0.0);
                if all_zero {
                    e.push("arrivals.rate_per_second: the rate is 0 throughout: no request would be sent".into());
                }
                process.map(|process| {
                    Load::Open(Arrivals {
                        process,
                        rate_per_second: a.rate_per_second,
                        ramp: a
                            .ramp
                            .iter()
                            .map(|p| RampPoint {
                                at_seconds: p.at_seconds,
                                rate_per_second: p.rate_per_second,
                            })
                            .collect(),
                    })
                })
            }
        };

        // Users.
        let mut users = Vec::new();
        match self.users {
            None => e.push(
                "users: required: a list of user ids or {id, project_id, priority, weight}".into(),
            ),
            Some(list) if list.is_empty() => e.push("users: give at least one user".into()),
            Some(list) => {
                weights_ok(
                    e,
                    "users",
                    &list.iter().map(|u| u.0.weight).collect::<Vec<_>>(),
                );
                for (i, RawUser(u)) in list.into_iter().enumerate() {
                    let known = seed_user(&u.id);
                    if u.id.is_empty() {
                        e.push(format!("users[{i}].id: must not be empty"));
                    }
                    let project = match (&u.project_id, known) {
                        (Some(p), _) => p.clone(),
                        (None, Some((_, p, _))) => p.to_owned(),
                        (None, None) => {
                            e.push(format!(
                                "users[{i}].project_id: required for user `{}` (defaults exist only for the seed's users: {})",
                                u.id,
                                SEED_USERS.map(|s| s.0).join(", ")
                            ));
                            String::new()
                        }
                    };
                    let priority = match (&u.priority, known) {
                        (Some(p), _) => Priority::parse(p).unwrap_or_else(|| {
                            e.push(format!(
                                "users[{i}].priority: unknown priority class `{p}` (use high, normal or low)"
                            ));
                            Priority::Normal
                        }),
                        (None, Some((_, _, p))) => p,
                        (None, None) => {
                            e.push(format!(
                                "users[{i}].priority: required for user `{}` (high, normal or low: the priority of its project)",
                                u.id
                            ));
                            Priority::Normal
                        }
                    };
                    let request_types = u
                        .request_types
                        .as_ref()
                        .map(|m| request_type_mix(e, &format!("users[{i}].request_types"), m));
                    users.push(UserSpec {
                        id: u.id.as_str().into(),
                        project_id: project.into(),
                        priority,
                        weight: u.weight,
                        request_types,
                    });
                }
            }
        }

        // Models.
        let mut models = Vec::new();
        match self.models {
            None => e.push("models: required: a list of model names or {name, weight}".into()),
            Some(list) if list.is_empty() => e.push("models: give at least one model".into()),
            Some(list) => {
                weights_ok(
                    e,
                    "models",
                    &list.iter().map(|m| m.0.weight).collect::<Vec<_>>(),
                );
                for (i, RawModel(m)) in list.into_iter().enumerate() {
                    if m.name.is_empty() {
                        e.push(format!("models[{i}].name: must not be empty"));
                    }
                    models.push((Arc::from(m.name.as_str()), m.weight));
                }
            }
        }

        let request_types = match &self.request_types {
            Some(m) => request_type_mix(e, "request_types", m),
            None => vec![(RequestType::Interactive, 1.0)],
        };

        // Prompts.
        let mut prompts = Vec::new();
        match self.prompt_sizes {
            None => prompts.push(PromptSpec {
                label: "short".into(),
                text: SHORT_PROMPT.into(),
                weight: 1.0,
            }),
            Some(list) if list.is_empty() => {
                e.push("prompt_sizes: give at least one prompt size".into())
            }
            Some(list) => {
                weights_ok(
                    e,
                    "prompt_sizes",
                    &list.iter().map(|p| p.weight).collect::<Vec<_>>(),
                );
                for (i, p) in list.into_iter().enumerate() {
                    let given = [p.size.is_some(), p.chars.is_some(), p.text.is_some()]
                        .iter()
                        .filter(|b| **b)
                        .count();
                    if given != 1 {
                        e.push(format!(
                            "prompt_sizes[{i}]: give exactly one of `size` (short, medium, long), `chars` (a length) or `text`"
                        ));
                        continue;
                    }
                    let (label, text) = if let Some(size) = p.size {
                        match named_prompt(&size) {
                            Some(t) => (size, t.to_owned()),
                            None => {
                                e.push(format!(
                                    "prompt_sizes[{i}].size: unknown size `{size}` (use short, medium or long, or `chars: N`)"
                                ));
                                continue;
                            }
                        }
                    } else if let Some(n) = p.chars {
                        if n == 0 {
                            e.push(format!("prompt_sizes[{i}].chars: must be at least 1"));
                            continue;
                        }
                        (format!("chars:{n}"), prompt_of_chars(n))
                    } else {
                        let t = p.text.unwrap_or_default();
                        if t.is_empty() {
                            e.push(format!("prompt_sizes[{i}].text: must not be empty"));
                            continue;
                        }
                        ("text".into(), t)
                    };
                    prompts.push(PromptSpec {
                        label,
                        text: text.into(),
                        weight: p.weight,
                    });
                }
            }
        }

        let max_tokens = match self.max_tokens {
            None => MaxTokens::Fixed(64),
            Some(RawMaxTokens::Fixed(n)) => match u32::try_from(n) {
                Ok(n) if n >= 1 => MaxTokens::Fixed(n),
                _ => {
                    e.push(format!(
                        "max_tokens: must be between 1 and {}, got {n}",
                        u32::MAX
                    ));
                    MaxTokens::Fixed(1)
                }
            },
            Some(RawMaxTokens::Spec(s)) => {
                let given = [s.fixed.is_some(), s.uniform.is_some(), s.choices.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if given != 1 {
                    e.push("max_tokens: give exactly one of `fixed`, `uniform: {min, max}` or `choices: [{value, weight}]`".into());
                    MaxTokens::Fixed(1)
                } else if let Some(n) = s.fixed {
                    if n == 0 {
                        e.push("max_tokens.fixed: must be at least 1".into());
                    }
                    MaxTokens::Fixed(n)
                } else if let Some(u) = s.uniform {
                    if u.min == 0 || u.min > u.max {
                        e.push(format!(
                            "max_tokens.uniform: need 1 <= min <= max, got min {} max {}",
                            u.min, u.max
                        ));
                    }
                    MaxTokens::Uniform {
                        min: u.min,
                        max: u.max,
                    }
                } else {
                    let choices = s.choices.unwrap_or_default();
                    if choices.is_empty() {
                        e.push("max_tokens.choices: give at least one {value, weight}".into());
                    }
                    for (i, c) in choices.iter().enumerate() {
                        if c.value == 0 {
                            e.push(format!("max_tokens.choices[{i}].value: must be at least 1"));
                        }
                    }
                    weights_ok(
                        e,
                        "max_tokens.choices",
                        &choices.iter().map(|c| c.weight).collect::<Vec<_>>(),
                    );
                    MaxTokens::Choices(choices.iter().map(|c| (c.value, c.weight)).collect())
                }
            }
        };

        let mut slo = IndexMap::new();
        for (class, s) in &self.slo {
            match Priority::parse(class) {
                Some(p) => {
                    positive(
                        e,
                        &format!("slo.{class}.e2e_p95_seconds"),
                        s.e2e_p95_seconds,
                    );
                    slo.insert(p, s.e2e_p95_seconds);
                }
                None => e.push(format!(
                    "slo.{class}: unknown priority class (use high, normal or low)"
                )),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Scenario {
            name: self.name.unwrap_or_else(|| default_name.to_owned()),
            description: self.description,
            total: self.total,
            duration_seconds: self.duration_seconds,
            load: load.expect("validated"),
            users,
            models,
            request_types,
            prompts,
            max_tokens,
            slo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_seed_scenarios_and_three_openai_ones() {
        let names = builtin_names();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 12);
        assert_eq!(names.iter().filter(|n| n.starts_with("openai_")).count(), 3);
        assert_eq!(
            &*builtin("openai_long_prompt").unwrap().models[0].0,
            "openai-llama"
        );
        let mixed = builtin("mixed_load").unwrap();
        assert_eq!(mixed.total, Some(250));
        assert_eq!(
            mixed.load,
            Load::Closed {
                concurrency: 40,
                delay_seconds: 0.005
            }
        );
        assert_eq!(mixed.users.len(), 3);
        assert_eq!(mixed.users[2].priority, Priority::Low);
        assert_eq!(mixed.request_types.len(), 2);
        assert!((mixed.request_types[1].1 - 0.3).abs() < 1e-9);
        assert_eq!(mixed.prompts.len(), 3);
        let long = builtin("ollama_long_prompt").unwrap();
        assert_eq!(&*long.prompts[0].text, LONG_PROMPT);
        assert_eq!(long.max_tokens, MaxTokens::Fixed(64));
        let err = resolve("nope").unwrap_err();
        assert!(
            err.starts_with(
                "Unknown scenario 'nope'. Available scenarios: abusive_user, burst_load"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_full_file_parses() {
        let s = parse(
            r#"
name: burst
description: a burst
duration_seconds: 5
total: 1000
arrivals: {process: gamma, rate_per_second: 50, burstiness: 0.5, ramp: [{at_seconds: 2, rate_per_second: 100}]}
users:
  - user_vip_01
  - {id: user_batch_01, weight: 2, request_types: {batch: 1}}
  - {id: tenant_x, project_id: px, priority: normal, weight: 0.5}
models: [simulated-small, {name: simulated-large, weight: 0.2}]
request_types: {interactive: 0.8, batch: 0.2}
prompt_sizes: [{size: short, weight: 3}, {chars: 500}, {text: "hello"}]
max_tokens: {uniform: {min: 16, max: 128}}
slo: {high: {e2e_p95_seconds: 1.5}, low: {e2e_p95_seconds: 30}}
"#,
            "x",
        )
        .unwrap();
        assert_eq!(s.name, "burst");
        assert_eq!(s.users[0].priority, Priority::High);
        assert_eq!(&*s.users[0].project_id, "vip_project");
        assert_eq!(
            s.users[1].request_types,
            Some(vec![(RequestType::Batch, 1.0)])
        );
        assert_eq!(s.prompts[1].text.chars().count(), 500);
        assert_eq!(s.max_tokens, MaxTokens::Uniform { min: 16, max: 128 });
        assert_eq!(s.slo.get(&Priority::High), Some(&1.5));
        assert!(matches!(
            s.load,
            Load::Open(Arrivals {
                process: Process::Gamma { shape } ,
                ..
            }) if shape == 0.5
        ));
        assert_eq!(
            s.classes(),
            vec![Priority::High, Priority::Normal, Priority::Low]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = |text: &str| parse(text, "x").unwrap_err().join("\n");
        let base = "total: 5\nconcurrency: 2\nmodels: [simulated-small]\n";
        let e = err(&format!("{base}users: [{{id: user_vip_01, prio: high}}]\n"));
        assert!(e.contains("users[0]: unknown field `prio`"), "{e}");
        let e = err(&format!("{base}users: [user_vip_01]\ncolour: red\n"));
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = err(&format!("{base}users: [someone]\n"));
        assert!(
            e.contains("users[0].project_id: required for user `someone`"),
            "{e}"
        );
        assert!(e.contains("users[0].priority: required"), "{e}");
        let e = err(&format!(
            "{base}users: [user_vip_01]\nmax_tokens: {{uniform: {{min: 9, max: 3}}}}\n"
        ));
        assert!(
            e.contains("max_tokens.uniform: need 1 <= min <= max"),
            "{e}"
        );
        let e = err(&format!(
            "{base}users: [user_vip_01]\nslo: {{vip: {{e2e_p95_seconds: 1}}}}\nprompt_sizes: [{{size: huge}}]\n"
        ));
        assert!(e.contains("slo.vip: unknown priority class"), "{e}");
        assert!(
            e.contains("prompt_sizes[0].size: unknown size `huge`"),
            "{e}"
        );
        let e = err(
            "total: 5\nconcurrency: 2\narrivals: {process: poisson, rate_per_second: 5}\nusers: [user_vip_01]\nmodels: [m]\n",
        );
        assert!(e.contains("not both"), "{e}");
        let e = err("concurrency: 2\nusers: [user_vip_01]\nmodels: [m]\n");
        assert!(e.contains("set `total`"), "{e}");
        let e = err(
            "total: 3\narrivals: {process: weibull, rate_per_second: 5}\nusers: [user_vip_01]\nmodels: [m]\n",
        );
        assert!(
            e.contains("arrivals.process: unknown process `weibull`"),
            "{e}"
        );
    }
}
