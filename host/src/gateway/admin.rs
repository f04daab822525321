//! Hot swap and reload: the decisions behind the admin API and the config
//! watcher. A candidate is compiled, checked against the world and
//! configured before anything changes; only then is it swapped in
//! atomically. A refused candidate changes nothing and the caller gets the
//! exact reason. Requests already running finish on the versions they
//! started with (they hold those policies), and host-owned state is kept.

use serde::Serialize;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::Gateway;
use crate::config::{Config, FailureMode};
use crate::policy::component::sha256_hex;
use crate::policy::{LoadedPolicy, PolicyChain, SlotSpec};

/// One slot as `GET /admin/policies` shows it.
#[derive(Debug, Serialize)]
pub struct SlotView {
    pub slot: String,
    pub name: String,
    pub version: String,
    pub source: String,
    pub sha256: String,
    pub loaded_at: String,
    pub failure_mode: &'static str,
    pub calls: u64,
    pub traps: u64,
    pub timeouts: u64,
    pub call_p50_us: f64,
    pub call_p99_us: f64,
    pub mean_fuel_per_call: u64,
    pub instances_created: u64,
    /// What a rollback would restore.
    pub previous: Option<String>,
}

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 404: no such slot.
    #[error("no policy slot `{0}` (slots: {1})")]
    UnknownSlot(String, String),
    /// 422: the candidate was refused; the current version keeps serving.
    #[error("{0}")]
    Refused(String),
    /// 409: nothing to roll back to.
    #[error("slot `{0}` has no previous version to roll back to")]
    NoPrevious(String),
}

impl SlotView {
    fn of(slot: &str, p: &LoadedPolicy, previous: Option<Arc<LoadedPolicy>>) -> Self {
        let s = p.stats.snapshot();
        Self {
            slot: slot.to_owned(),
            name: p.info.name.clone(),
            version: p.info.version.clone(),
            source: p.source.clone(),
            sha256: p.sha256.clone(),
            loaded_at: crate::accounting::iso8601(
                p.loaded_at
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            ),
            failure_mode: match p.failure_mode {
                FailureMode::FailClosed => "fail_closed",
                FailureMode::FailOpen => "fail_open",
            },
            calls: s.calls,
            traps: s.traps,
            timeouts: s.timeouts,
            call_p50_us: s.call_p50_us,
            call_p99_us: s.call_p99_us,
            mean_fuel_per_call: s.mean_fuel_per_call,
            instances_created: s.instances_created,
            previous: previous.map(|p| format!("{} ({})", p.label(), &p.sha256[..12])),
        }
    }
}

impl Gateway {
    /// Every slot, in chain order.
    pub fn policy_views(&self) -> Vec<SlotView> {
        self.chain()
            .slots()
            .iter()
            .map(|s| SlotView::of(&s.name, &s.current(), s.previous()))
            .collect()
    }

    /// Loads `bytes` as the new policy of `slot` (with the slot's settings
    /// and sandbox from the config in force) and swaps it in.
    pub fn swap_policy(
        &self,
        slot: &str,
        source: String,
        bytes: &[u8],
    ) -> Result<SlotView, AdminError> {
        let chain = self.chain();
        let config = self.config();
        let handle = chain.slot(slot).ok_or_else(|| unknown_slot(slot, &chain))?;
        let slot_cfg = config.policies.chain.iter().find(|s| s.name == slot);
        let current = handle.current();
        let settings = slot_cfg
            .map(|s| s.settings.clone())
            .unwrap_or_else(|| serde_json::json!({}));
        let candidate = LoadedPolicy::load(
            self.engine(),
            SlotSpec {
                slot,
                source,
                bytes,
                settings: &settings,
                failure_mode: current.failure_mode,
                sandbox: config.policies.sandbox,
            },
            self.state().clone(),
        )
        .map_err(|e| {
            AdminError::Refused(format!(
                "{e:#}; slot `{slot}` keeps serving {}",
                current.label()
            ))
        })?;
        // A candidate that traps on a plain request is refused before it serves anyone.
        self.probe(&candidate).map_err(|e| {
            AdminError::Refused(format!(
                "policy `{}` {e} on a probe request; slot `{slot}` keeps serving {}",
                candidate.source,
                current.label()
            ))
        })?;
        handle.swap(candidate.clone());
        tracing::info!(slot, policy = %candidate.label(), sha256 = %candidate.sha256, "policy swapped in");
        Ok(SlotView::of(slot, &candidate, handle.previous()))
    }

    /// Swaps the previous policy of `slot` back in.
    pub fn rollback_policy(&self, slot: &str) -> Result<SlotView, AdminError> {
        let chain = self.chain();
        let handle = chain.slot(slot).ok_or_else(|| unknown_slot(slot, &chain))?;
        let restored = handle
            .rollback()
            .ok_or_else(|| AdminError::NoPrevious(slot.to_owned()))?;
        tracing::info!(slot, policy = %restored.label(), "policy rolled back");
        Ok(SlotView::of(slot, &restored, handle.previous()))
    }

    /// Forgets all policy state (windows, pools) — for test and stress runs.
    pub fn reset_policy_state(&self) {
        self.state().reset();
    }

    /// Applies a new, already validated configuration: slots whose component
    /// bytes and setup are unchanged keep their loaded policy (and its
    /// stats); changed ones are loaded first. If any slot fails to load,
    /// nothing changes and the error is returned.
    pub fn reload(&self, config: Config) -> Result<Vec<String>, String> {
        let chain = self.chain();
        let mut policies = Vec::with_capacity(config.policies.chain.len());
        let mut changed = Vec::new();
        for slot in &config.policies.chain {
            let (source, bytes) = crate::policy::component_bytes(&config.dir, &slot.component)
                .map_err(|e| format!("{e:#}"))?;
            let sha = sha256_hex(&bytes);
            let keep = chain.slot(&slot.name).map(|s| s.current()).filter(|p| {
                p.same_setup(
                    &sha,
                    &slot.settings,
                    slot.failure_mode,
                    &config.policies.sandbox,
                )
            });
            match keep {
                Some(p) => policies.push(p),
                None => {
                    let p = crate::policy::load_slot(
                        self.engine(),
                        &config,
                        slot,
                        self.state().clone(),
                    )
                    .map_err(|e| format!("{e:#}"))?;
                    changed.push(format!("{}={} ({source})", slot.name, p.label()));
                    policies.push(p);
                }
            }
        }
        let same_layout = chain.slots().len() == policies.len()
            && chain
                .slots()
                .iter()
                .zip(&policies)
                .all(|(s, p)| s.name == p.slot);
        if same_layout {
            // Swap per slot so each keeps its rollback history.
            for (s, p) in chain.slots().iter().zip(policies) {
                if !Arc::ptr_eq(&s.current(), &p) {
                    s.swap(p);
                }
            }
        } else {
            changed.push("chain layout".into());
            self.chain
                .store(Arc::new(PolicyChain::new(policies, self.state().clone())));
        }
        let limits = &config.limits;
        self.scheduler.set_limits(
            limits.max_active_requests as usize,
            limits.max_queue_size as usize,
        );
        self.backends.lock().clear();
        self.config.store(Arc::new(config));
        Ok(changed)
    }

    /// Runs a candidate once on a neutral request (no state is kept).
    fn probe(&self, candidate: &LoadedPolicy) -> Result<(), crate::policy::component::CallError> {
        use crate::policy::bindings::{Load, ModelInfo, Tenant};
        use crate::policy::views;
        let config = self.config();
        let model = config
            .models
            .iter()
            .find(|(_, m)| m.enabled)
            .map(|(n, m)| views::model(n, m))
            .unwrap_or(ModelInfo {
                name: "probe".into(),
                backend: "simulated".into(),
                input_nano_eur_per_1k: 0,
                output_nano_eur_per_1k: 0,
                max_input_tokens: 1024,
                max_output_tokens: 1024,
            });
        let tenant = Tenant {
            plan: "probe".into(),
            priority: views::priority(crate::config::Priority::Normal),
            role: "user".into(),
            requests_per_minute: None,
            tokens_per_minute: None,
            monthly_token_quota: None,
            monthly_budget_nano_eur: None,
            max_concurrent_requests: None,
        };
        let request = views::request(views::RequestFacts {
            id: "probe",
            user_id: "tollgate-probe",
            project_id: "tollgate-probe",
            model: &model.name,
            priority: crate::config::Priority::Normal,
            batch: false,
            prompt_tokens: 1,
            max_tokens: 1,
            now_ms: self.clock_ms(),
        });
        let load = Load {
            queue_length: 0,
            queue_capacity: 1,
            active: 0,
            active_capacity: 1,
        };
        let verdict = candidate.call("probe", request.now_ms, |p, s| {
            p.call_evaluate(s, &request, &tenant, &model, load)
        })?;
        // Give back whatever the probe took (a window slot, a reservation).
        let _ = verdict;
        candidate.call("probe", request.now_ms, |p, s| {
            p.call_finish(
                s,
                &request,
                &tenant,
                &model,
                crate::policy::bindings::Outcome::Rejected,
            )
        })?;
        self.state().discard_request("probe");
        Ok(())
    }
}

fn unknown_slot(slot: &str, chain: &PolicyChain) -> AdminError {
    AdminError::UnknownSlot(
        slot.to_owned(),
        chain
            .slots()
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    )
}
