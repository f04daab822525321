//! Step 1: serde structs mirroring the YAML files as written.
//!
//! Every field is optional and wrapped in [`Field`], which never fails: a value
//! of the wrong type is kept as it was, so that step 2 ([`super::validate`])
//! can report every problem of a file with its path instead of stopping at
//! serde's first error. Unknown keys land in each struct's `unknown` map and
//! become warnings. Nothing here checks ranges or fills defaults.

use indexmap::IndexMap;
use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use yaml_serde::Value;

/// One value as written in a file: either it has the type the raw struct
/// expects, or it is kept as the YAML value it was.
#[derive(Debug, Clone)]
pub enum Field<T> {
    /// The value has the expected type.
    Ok(T),
    /// The value has another type (or, for a struct, is not a mapping).
    Wrong {
        /// The value as written.
        value: Value,
        /// Serde's explanation (used when `value` looks right but still failed).
        error: String,
    },
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match yaml_serde::from_value::<T>(value.clone()) {
            Ok(v) => Field::Ok(v),
            Err(e) => Field::Wrong {
                value,
                error: e.to_string(),
            },
        })
    }
}

/// Defines a raw struct whose fields are all `Option<Field<T>>`, plus an
/// `unknown` map for the keys it does not know and a `KEYS` list of the keys
/// it does (for the warnings' hints).
macro_rules! raw_struct {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: Option<Field<$ty>>,
            )*
            /// Keys this struct does not know (reported as warnings).
            #[serde(flatten)]
            pub unknown: IndexMap<String, Value>,
        }

        impl $name {
            /// The keys this struct knows, in declaration order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

raw_struct! {
    /// users.yaml.
    UsersFile {
        /// User id → entry.
        users: IndexMap<String, Field<User>>,
    }
}

raw_struct! {
    /// users.yaml `users.<id>`.
    User {
        /// Display name (unused by the seed).
        name: String,
        /// The only project this user may use.
        project_id: String,
        /// Free-form role (unused by the seed).
        role: String,
        /// Missing means false (the seed's rule).
        enabled: bool,
    }
}

raw_struct! {
    /// projects.yaml.
    ProjectsFile {
        /// Project id → entry.
        projects: IndexMap<String, Field<Project>>,
    }
}

raw_struct! {
    /// projects.yaml `projects.<id>`.
    Project {
        /// Display name.
        name: String,
        /// Key of limits.yaml `rate_limits`.
        plan: String,
        /// low | normal | high.
        priority: String,
        /// Tokens per month; missing means unlimited.
        monthly_token_quota: i64,
        /// Euros per month; missing means unlimited.
        monthly_budget_eur: f64,
        /// Requests in flight at once; missing means unlimited.
        max_concurrent_requests: i64,
        /// Missing means false.
        enabled: bool,
    }
}

raw_struct! {
    /// models.yaml.
    ModelsFile {
        /// Model name → entry.
        models: IndexMap<String, Field<Model>>,
    }
}

raw_struct! {
    /// models.yaml `models.<name>`: the keys of every backend together.
    Model {
        /// simulated | ollama | openai.
        backend: String,
        /// Missing means false.
        enabled: bool,
        /// The seed's unused model priority: accepted and ignored.
        #[allow(dead_code)]
        priority: Value,
        /// Longest prompt, in tokens.
        max_input_tokens: i64,
        /// Largest `max_tokens`, in tokens.
        max_output_tokens: i64,
        /// EUR per 1000 input tokens.
        input_cost_per_1k_tokens_eur: f64,
        /// EUR per 1000 output tokens.
        output_cost_per_1k_tokens_eur: f64,
        /// Upper bound of one backend call.
        request_timeout_seconds: f64,
        /// simulated: fixed latency.
        average_latency_seconds: f64,
        /// simulated: per-token latency model.
        latency_model: LatencyModel,
        /// ollama: server URL.
        ollama_base_url: String,
        /// ollama: the model name on the server.
        ollama_model: String,
        /// openai: server URL.
        base_url: String,
        /// openai: the model name on the server.
        upstream_model: String,
        /// openai: the NAME of the environment variable holding the API key.
        api_key_env: String,
        /// ollama: generate | chat; openai: chat | completions.
        api: String,
        /// Most requests sent to this model's server at once.
        max_parallel_requests: i64,
    }
}

raw_struct! {
    /// models.yaml `models.<name>.latency_model`.
    LatencyModel {
        /// Milliseconds before the first token.
        time_to_first_token_ms: f64,
        /// Milliseconds per output token.
        time_per_output_token_ms: f64,
        /// Relative jitter in [0, 1).
        jitter: f64,
        /// Seed of the jitter's random numbers.
        seed: i64,
    }
}

raw_struct! {
    /// limits.yaml.
    LimitsFile {
        /// Admission and queue limits.
        global_limits: GlobalLimits,
        /// Plan → rate limit.
        rate_limits: IndexMap<String, Field<RateLimit>>,
        /// Scheduling weight per priority class.
        priority_weights: PriorityWeights,
    }
}

raw_struct! {
    /// limits.yaml `global_limits`.
    GlobalLimits {
        /// Requests served at once.
        max_active_requests: i64,
        /// Requests waiting at once.
        max_queue_size: i64,
        /// Longest wait in the queue.
        max_queue_wait_seconds: f64,
        /// Default upper bound of one backend call.
        request_timeout_seconds: f64,
        /// Usage rows older than this many days are pruned (Tollgate).
        retention_days: i64,
    }
}

raw_struct! {
    /// limits.yaml `rate_limits.<plan>`.
    RateLimit {
        /// Requests per minute; missing means unlimited.
        requests_per_minute: i64,
        /// Tokens per minute; missing means unlimited.
        tokens_per_minute: i64,
    }
}

raw_struct! {
    /// limits.yaml `priority_weights`.
    PriorityWeights {
        /// Weight of priority high.
        high: i64,
        /// Weight of priority normal.
        normal: i64,
        /// Weight of priority low.
        low: i64,
    }
}

raw_struct! {
    /// degradation.yaml: only the top-level shape is checked here.
    DegradationFile {
        /// Level name → level (validated by the degradation component).
        degradation_levels: Value,
    }
}

raw_struct! {
    /// policies.yaml.
    PoliciesFile {
        /// Per-call sandbox limits.
        sandbox: Sandbox,
        /// The slots in the order they run.
        chain: Vec<Field<Slot>>,
    }
}

raw_struct! {
    /// policies.yaml `sandbox`.
    Sandbox {
        /// Fuel per call.
        fuel_per_call: i64,
        /// Wall-clock deadline per call, in milliseconds.
        deadline_ms: i64,
        /// Linear memory per instance, in MiB.
        memory_mb: i64,
    }
}

raw_struct! {
    /// policies.yaml `chain[i]`.
    Slot {
        /// The slot's name.
        slot: String,
        /// `builtin:NAME` or a path to a `.wasm` component.
        component: String,
        /// fail_closed | fail_open.
        failure_mode: String,
        /// Inline settings (a mapping).
        settings: Value,
        /// A YAML file in the config dir whose mapping is the base of the settings.
        settings_file: String,
    }
}
