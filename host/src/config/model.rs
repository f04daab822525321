//! The validated configuration: what the rest of the host reads. Built from the
//! YAML files by [`super::load`]; every value here has passed its checks, has
//! its defaults filled in and uses the host's units (nano-euros, durations).

use indexmap::IndexMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything loaded from one config directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory the files were read from.
    pub dir: PathBuf,
    pub users: IndexMap<String, User>,
    pub projects: IndexMap<String, Project>,
    pub models: IndexMap<String, Model>,
    pub limits: Limits,
    pub policies: Policies,
    /// Top-level keys and item counts per file, for `GET /config/summary`.
    pub summary: Vec<FileSummary>,
    /// Non-fatal findings (unknown keys, ...), each `file: path: problem (hint)`.
    pub warnings: Vec<String>,
}

/// A tenant's priority class (projects.yaml `priority`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
}

impl Priority {
    /// The YAML / JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// users.yaml entry.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// The only project this user may use.
    pub project_id: String,
    pub role: String,
    pub enabled: bool,
}

/// projects.yaml entry.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// Selects the rate limits in limits.yaml; always a key of `Limits::rate_limits`.
    pub plan: String,
    pub priority: Priority,
    pub monthly_token_quota: Option<u64>,
    pub monthly_budget_nano_eur: Option<u64>,
    pub max_concurrent_requests: Option<u32>,
    pub enabled: bool,
}

/// models.yaml entry.
#[derive(Debug, Clone)]
pub struct Model {
    pub enabled: bool,
    pub backend: Backend,
    pub max_input_tokens: u32,
    pub max_output_tokens: u32,
    pub input_nano_eur_per_1k: u64,
    pub output_nano_eur_per_1k: u64,
    /// Upper bound for one backend call (`request_timeout_seconds`, else the global one).
    pub request_timeout: Duration,
    /// Most upstream requests in flight at once (`max_parallel_requests`); `None`: no limit.
    pub max_parallel: Option<u32>,
}

/// Which backend serves a model, with its settings.
#[derive(Debug, Clone)]
pub enum Backend {
    Simulated(Simulated),
    /// Ollama: `/api/generate` (or `/api/chat` with `api: chat`).
    Ollama {
        base_url: String,
        model: String,
        chat: bool,
    },
    /// OpenAI-compatible: `/v1/chat/completions` (or `/v1/completions` with `api: completions`).
    OpenAi {
        base_url: String,
        model: String,
        api_key_env: Option<String>,
        chat: bool,
    },
}

impl Backend {
    /// The backend's name as written in models.yaml.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Simulated(_) => "simulated",
            Backend::Ollama { .. } => "ollama",
            Backend::OpenAi { .. } => "openai",
        }
    }
}

/// Simulated backend settings.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The seed's fixed latency (`average_latency_seconds`), used without a latency model.
    pub average_latency: Duration,
    /// Optional per-token latency model (`latency_model:` in models.yaml).
    pub latency_model: Option<LatencyModel>,
}

/// Time to first token + time per output token, with seeded jitter.
#[derive(Debug, Clone)]
pub struct LatencyModel {
    pub time_to_first_token: Duration,
    pub time_per_output_token: Duration,
    /// Relative jitter in [0, 1): each latency is scaled by a factor in [1 - j, 1 + j].
    pub jitter: f64,
    pub seed: u64,
}

/// limits.yaml.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_active_requests: u32,
    pub max_queue_size: u32,
    pub max_queue_wait: Duration,
    pub request_timeout: Duration,
    /// `global_limits.retention_days`: usage rows older than this are pruned
    /// (hourly); `None` keeps them forever.
    pub retention_days: Option<u32>,
    /// Per plan.
    pub rate_limits: IndexMap<String, RateLimit>,
    pub priority_weights: PriorityWeights,
}

/// limits.yaml `rate_limits.<plan>`; `None` means unlimited.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u64>,
}

/// limits.yaml `priority_weights`.
#[derive(Debug, Clone, Copy)]
pub struct PriorityWeights {
    pub high: i64,
    pub normal: i64,
    pub low: i64,
}

impl PriorityWeights {
    /// The weight of a priority class.
    pub fn weight(&self, p: Priority) -> i64 {
        match p {
            Priority::High => self.high,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }
}

/// policies.yaml.
#[derive(Debug, Clone)]
pub struct Policies {
    /// Slots in the order they run.
    pub chain: Vec<Slot>,
    pub sandbox: Sandbox,
}

/// One slot of the chain.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The slot's name (`degradation`, `cost`, `rate_limit`, `quota`, or any other).
    pub name: String,
    pub component: ComponentSource,
    pub failure_mode: FailureMode,
    /// The JSON object passed to `configure`: the `settings_file` (if any)
    /// with the inline `settings` merged over it.
    pub settings: serde_json::Value,
    /// Where the settings came from, for error messages (`policies.yaml` or
    /// `degradation.yaml`, ...).
    pub settings_origin: String,
}

/// Where a slot's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentSource {
    /// `builtin:NAME`: a component compiled into the binary from `policies/NAME`.
    Builtin(String),
    /// A `.wasm` component file (relative paths are relative to the config dir).
    File(PathBuf),
}

/// What happens to a request when its slot's policy traps or runs out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Refuse the request: 503 `policy_error`.
    FailClosed,
    /// Let the request through as if the slot allowed it.
    FailOpen,
}

/// Per-call sandbox limits (policies.yaml `sandbox`).
#[derive(Debug, Clone, Copy)]
pub struct Sandbox {
    /// Fuel (roughly wasm instructions) one call may use.
    pub fuel_per_call: u64,
    /// Wall-clock deadline of one call.
    pub deadline: Duration,
    /// Linear memory cap of one instance.
    pub memory_bytes: usize,
}

/// `GET /config/summary` entry for one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    pub file: String,
    pub top_level_keys: Vec<String>,
    pub item_count: usize,
}
