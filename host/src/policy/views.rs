//! Builds the typed views a policy receives from the validated configuration.

use super::bindings::tollgate::policy::types::{Priority as WitPriority, RequestType};
use super::bindings::{Load, ModelInfo, Request, Tenant};
use crate::config::{Config, Model, Priority, Project, User};

/// The WIT spelling of a priority class.
pub fn priority(p: Priority) -> WitPriority {
    match p {
        Priority::Low => WitPriority::Low,
        Priority::Normal => WitPriority::Normal,
        Priority::High => WitPriority::High,
    }
}

/// The host spelling of a WIT priority class.
pub fn host_priority(p: WitPriority) -> Priority {
    match p {
        WitPriority::Low => Priority::Low,
        WitPriority::Normal => Priority::Normal,
        WitPriority::High => Priority::High,
    }
}

/// The tenant view of a user in a project (rate limits come from the project's plan).
pub fn tenant(config: &Config, user: &User, project: &Project) -> Tenant {
    let rate = config.limits.rate_limits.get(&project.plan);
    Tenant {
        plan: project.plan.clone(),
        priority: priority(project.priority),
        role: user.role.clone(),
        requests_per_minute: rate.and_then(|r| r.requests_per_minute),
        tokens_per_minute: rate.and_then(|r| r.tokens_per_minute),
        monthly_token_quota: project.monthly_token_quota,
        monthly_budget_nano_eur: project.monthly_budget_nano_eur,
        max_concurrent_requests: project.max_concurrent_requests,
    }
}

/// The model view of a models.yaml entry.
pub fn model(name: &str, m: &Model) -> ModelInfo {
    ModelInfo {
        name: name.to_owned(),
        backend: m.backend.name().to_owned(),
        input_nano_eur_per_1k: m.input_nano_eur_per_1k,
        output_nano_eur_per_1k: m.output_nano_eur_per_1k,
        max_input_tokens: m.max_input_tokens,
        max_output_tokens: m.max_output_tokens,
    }
}

/// The view of an enabled model by name (what a policy may route to).
pub fn enabled_model(config: &Config, name: &str) -> Option<ModelInfo> {
    config
        .models
        .get(name)
        .filter(|m| m.enabled)
        .map(|m| model(name, m))
}

/// Everything a request view needs besides the config.
pub struct RequestFacts<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub project_id: &'a str,
    pub model: &'a str,
    pub priority: Priority,
    pub batch: bool,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub now_ms: u64,
}

/// The request view, before any slot changed it.
pub fn request(f: RequestFacts<'_>) -> Request {
    Request {
        id: f.id.to_owned(),
        user_id: f.user_id.to_owned(),
        project_id: f.project_id.to_owned(),
        model: f.model.to_owned(),
        priority: priority(f.priority),
        request_type: if f.batch {
            RequestType::Batch
        } else {
            RequestType::Interactive
        },
        prompt_tokens: f.prompt_tokens,
        max_tokens: f.max_tokens,
        estimated_cost_nano_eur: 0,
        now_ms: f.now_ms,
    }
}

/// The load view.
pub fn load(queue_length: usize, active: usize, config: &Config) -> Load {
    Load {
        queue_length: queue_length.min(u32::MAX as usize) as u32,
        queue_capacity: config.limits.max_queue_size,
        active: active.min(u32::MAX as usize) as u32,
        active_capacity: config.limits.max_active_requests,
    }
}
