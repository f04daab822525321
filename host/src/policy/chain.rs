//! The policy chain: the slots of `policies.yaml` in order, each holding the
//! loaded policy that currently serves it behind an atomic pointer (a hot swap
//! replaces it; a request keeps the versions it started with until it ends).
//!
//! The chain decides; it does no I/O. The caller gives it the request's typed
//! views and a way to resolve a model a policy re-routes to, and gets back a
//! [`Decision`]: allowed (with the changed request and the policies to tell
//! how it ends) or refused (with status, code and message).

use arc_swap::{ArcSwap, ArcSwapOption};
use std::sync::Arc;

use super::bindings::tollgate::policy::types::{Changes, RejectKind, Rejection};
use super::bindings::{Load, ModelInfo, Outcome, Request, Tenant, Usage, Verdict};
use super::component::{CallError, LoadedPolicy};
use super::state::StateStore;
use crate::config::FailureMode;

/// One slot of the chain.
pub struct Slot {
    /// The slot name from policies.yaml.
    pub name: String,
    current: ArcSwap<LoadedPolicy>,
    /// The policy the last swap replaced (for rollback).
    previous: ArcSwapOption<LoadedPolicy>,
    /// Serializes swaps and rollbacks of this slot.
    swapping: parking_lot::Mutex<()>,
}

impl Slot {
    fn new(policy: Arc<LoadedPolicy>) -> Self {
        Self {
            name: policy.slot.clone(),
            current: ArcSwap::new(policy),
            previous: ArcSwapOption::empty(),
            swapping: parking_lot::Mutex::new(()),
        }
    }

    /// The policy serving this slot now.
    pub fn current(&self) -> Arc<LoadedPolicy> {
        self.current.load_full()
    }

    /// The policy the last swap replaced.
    pub fn previous(&self) -> Option<Arc<LoadedPolicy>> {
        self.previous.load_full()
    }

    /// Atomically replaces the policy; the replaced one becomes `previous`.
    /// Requests that already hold the old policy finish on it.
    pub fn swap(&self, next: Arc<LoadedPolicy>) -> Arc<LoadedPolicy> {
        let _guard = self.swapping.lock();
        let old = self.current.swap(next);
        self.previous.store(Some(old.clone()));
        old
    }

    /// Swaps `previous` back in; `None` when there is nothing to roll back to.
    pub fn rollback(&self) -> Option<Arc<LoadedPolicy>> {
        let _guard = self.swapping.lock();
        let prev = self.previous.load_full()?;
        let old = self.current.swap(prev.clone());
        self.previous.store(Some(old));
        Some(prev)
    }
}

/// A refusal by the chain, ready to become an HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// HTTP status: 429 rate/quota, 503 overload or policy error, 403, 400.
    pub status: u16,
    /// Machine-readable code (`rate_limited`, `policy_error`, ...).
    pub code: String,
    /// The message for the client (the body's `detail`).
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// The slot that refused.
    pub slot: String,
}

/// A policy that let a request through and must be told how it ended.
pub struct Admitted {
    policy: Arc<LoadedPolicy>,
    request: Request,
    model: ModelInfo,
}

/// What the chain decided for one request.
pub struct Decision {
    /// The request after every change the policies made.
    pub request: Request,
    /// The model that serves it (changed when a policy re-routed it).
    pub model: ModelInfo,
    /// `None` when allowed.
    pub refusal: Option<Refusal>,
    /// Actions the policies took (`reduce_max_tokens`, `route_to_model`, ...).
    pub actions: Vec<String>,
    /// `slot=name@version` of every policy that decided, in order.
    pub versions: Vec<Arc<str>>,
    /// Policies to notify through [`PolicyChain::finish`] (empty when refused:
    /// the chain already told them).
    pub admitted: Vec<Admitted>,
}

/// The ordered slots.
pub struct PolicyChain {
    slots: Vec<Slot>,
    state: Arc<StateStore>,
}

impl PolicyChain {
    /// A chain of loaded policies, in order.
    pub fn new(policies: Vec<Arc<LoadedPolicy>>, state: Arc<StateStore>) -> Self {
        Self {
            slots: policies.into_iter().map(Slot::new).collect(),
            state,
        }
    }

    /// The slots, in order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The slot named `name`.
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// The host state the policies share.
    pub fn state(&self) -> &Arc<StateStore> {
        &self.state
    }

    /// Runs every slot in order on a request. `resolve_model` returns the view
    /// of an enabled model by name (for `changes.model`).
    pub fn evaluate(
        &self,
        mut request: Request,
        tenant: &Tenant,
        mut model: ModelInfo,
        load: Load,
        resolve_model: &dyn Fn(&str) -> Option<ModelInfo>,
    ) -> Decision {
        let mut actions = Vec::new();
        let mut versions = Vec::with_capacity(self.slots.len());
        let mut admitted: Vec<Admitted> = Vec::with_capacity(self.slots.len());
        let mut refusal = None;
        for slot in &self.slots {
            let policy = slot.current();
            versions.push(policy.decided_by.clone());
            let verdict = policy.call(&request.id, request.now_ms, |p, s| {
                p.call_evaluate(s, &request, tenant, &model, load)
            });
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => match policy.failure_mode {
                    FailureMode::FailOpen => {
                        tracing::warn!(slot = %slot.name, policy = %policy.label(), error = %e, "policy failed; failing open");
                        actions.push(format!("{}_failed_open", slot.name));
                        admitted.push(Admitted {
                            policy,
                            request: request.clone(),
                            model: model.clone(),
                        });
                        continue;
                    }
                    FailureMode::FailClosed => {
                        refusal = Some(policy_error(&slot.name, &policy, &e));
                        break;
                    }
                },
            };
            let seen = Admitted {
                policy,
                request: request.clone(),
                model: model.clone(),
            };
            match verdict {
                Verdict::Allow => admitted.push(seen),
                Verdict::Modify(changes) => {
                    admitted.push(seen);
                    if let Err(r) = apply(
                        &slot.name,
                        changes,
                        &mut request,
                        &mut model,
                        &mut actions,
                        resolve_model,
                    ) {
                        refusal = Some(r);
                        break;
                    }
                }
                Verdict::Reject(r) => {
                    refusal = Some(refused(&slot.name, r));
                    break;
                }
            }
        }
        if refusal.is_some() {
            self.finish(std::mem::take(&mut admitted), tenant, Outcome::Rejected);
        }
        Decision {
            request,
            model,
            refusal,
            actions,
            versions,
            admitted,
        }
    }

    /// Tells every policy that let a request through how it ended, in chain
    /// order, and returns the final usage (the cost slot fills in the cost).
    /// Reservations nobody settled are released afterwards.
    pub fn finish(&self, admitted: Vec<Admitted>, tenant: &Tenant, outcome: Outcome) -> Usage {
        let mut outcome = outcome;
        let mut usage = usage_of(&outcome);
        let Some(first) = admitted.first() else {
            return usage;
        };
        let request_id = first.request.id.clone();
        let now_ms = now_ms_of(&admitted);
        for a in &admitted {
            let result = a.policy.call(&a.request.id, now_ms, |p, s| {
                p.call_finish(s, &a.request, tenant, &a.model, outcome)
            });
            match result {
                Ok(u) => {
                    usage = u;
                    set_usage(&mut outcome, u);
                }
                Err(e) => {
                    tracing::warn!(slot = %a.policy.slot, policy = %a.policy.label(), error = %e, "policy finish failed")
                }
            }
        }
        self.state.release_request(&request_id);
        usage
    }

    /// Each slot's view of the load (its `status` JSON), keyed by slot name.
    pub fn status(&self, now_ms: u64, load: Load) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for slot in &self.slots {
            let policy = slot.current();
            let value = match policy.call("", now_ms, |p, s| p.call_status(s, now_ms, load)) {
                Ok(text) => serde_json::from_str(&text).unwrap_or_else(
                    |e| serde_json::json!({ "error": format!("status is not JSON: {e}") }),
                ),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            };
            out.insert(slot.name.clone(), value);
        }
        out
    }
}

impl Admitted {
    /// The policy this entry belongs to.
    pub fn policy(&self) -> &Arc<LoadedPolicy> {
        &self.policy
    }
}

fn now_ms_of(admitted: &[Admitted]) -> u64 {
    admitted.first().map(|a| a.request.now_ms).unwrap_or(0)
}

fn usage_of(outcome: &Outcome) -> Usage {
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => *u,
        Outcome::TimedOut | Outcome::Rejected => Usage {
            input_tokens: 0,
            output_tokens: 0,
            cost_nano_eur: 0,
        },
    }
}

fn set_usage(outcome: &mut Outcome, usage: Usage) {
    if let Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) = outcome {
        *u = usage;
    }
}

/// Applies a policy's changes to the request; an impossible change (a route
/// to an unknown model) refuses the request as a policy error.
fn apply(
    slot: &str,
    changes: Changes,
    request: &mut Request,
    model: &mut ModelInfo,
    actions: &mut Vec<String>,
    resolve_model: &dyn Fn(&str) -> Option<ModelInfo>,
) -> Result<(), Refusal> {
    if let Some(name) = changes.model
        && name != request.model
    {
        let Some(next) = resolve_model(&name) else {
            return Err(Refusal {
                status: 503,
                code: "policy_error".into(),
                message: format!(
                    "policy_error: slot {slot} routed the request to model `{name}`, which does not exist or is disabled in models.yaml"
                ),
                retry_after_ms: None,
                slot: slot.into(),
            });
        };
        request.model = name;
        request.max_tokens = request.max_tokens.min(next.max_output_tokens);
        *model = next;
    }
    if let Some(max) = changes.max_tokens
        && max < request.max_tokens
    {
        request.max_tokens = max.max(1);
    }
    if let Some(p) = changes.priority {
        request.priority = p;
    }
    if let Some(cost) = changes.estimated_cost_nano_eur {
        request.estimated_cost_nano_eur = cost;
    }
    actions.extend(changes.actions);
    Ok(())
}

fn refused(slot: &str, r: Rejection) -> Refusal {
    let status = match r.kind {
        RejectKind::RateLimited | RejectKind::QuotaExhausted => 429,
        RejectKind::Overloaded => 503,
        RejectKind::Forbidden => 403,
        RejectKind::Invalid => 400,
    };
    Refusal {
        status,
        code: r.code,
        message: r.message,
        retry_after_ms: r.retry_after_ms,
        slot: slot.into(),
    }
}

fn policy_error(slot: &str, policy: &LoadedPolicy, e: &CallError) -> Refusal {
    Refusal {
        status: 503,
        code: "policy_error".into(),
        message: format!("policy_error: the {slot} policy ({}) {e}", policy.label()),
        retry_after_ms: Some(1000),
        slot: slot.into(),
    }
}
