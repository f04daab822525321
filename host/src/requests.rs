//! What `/requests/{id}` answers: every request the gateway gave an id —
//! inline, queued or rejected — with its lifecycle, kept for a bounded time
//! and count (oldest finished entries are evicted first).
//!
//! Lifecycle: `queued → processing → completed | failed | timed_out`, or
//! straight to `rejected`. Each request ends in exactly one terminal state.

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// A request's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Processing,
    Completed,
    Failed,
    TimedOut,
    Rejected,
    /// A streaming client went away; the upstream request was cancelled.
    Cancelled,
}

impl Status {
    /// The spelling in JSON and in the usage database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Processing => "processing",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Rejected => "rejected",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the request has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Completed
                | Status::Failed
                | Status::TimedOut
                | Status::Rejected
                | Status::Cancelled
        )
    }
}

/// One step of a lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub status: Status,
    /// Host clock, ms since the Unix epoch.
    pub at_ms: u64,
}

/// A request as `/requests/{id}` shows it (the seed's fields first).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub request_id: String,
    pub status: Status,
    pub message: String,
    pub estimated_input_tokens: Option<u32>,
    pub estimated_output_tokens: Option<u32>,
    pub estimated_cost_eur: Option<f64>,
    pub user_id: String,
    pub project_id: String,
    pub model: String,
    pub backend_name: Option<String>,
    /// `interactive` or `batch`.
    pub request_type: &'static str,
    /// The project's priority class (`None` when identity failed).
    pub priority: Option<&'static str>,
    /// How the gateway decided: `accept`, `queue`, `policy_rejected`,
    /// `identity_rejected`, `validation_rejected`, `admission_rejected`,
    /// `backend_unavailable`.
    pub decision: &'static str,
    pub latency_seconds: Option<f64>,
    pub queue_wait_seconds: Option<f64>,
    /// HTTP status of the refusal or failure, when there was one.
    pub http_status: Option<u16>,
    /// Actions the policies took (`reduce_max_tokens`, ...).
    pub actions: Vec<String>,
    /// `slot=name@version` of the policies that decided.
    pub policy_versions: String,
    pub lifecycle: Vec<Step>,
    /// Settled usage: (input tokens, output tokens, cost in nano-euros).
    #[serde(skip)]
    pub settled: Option<(u32, u32, u64)>,
    /// The estimated cost in nano-euros.
    #[serde(skip)]
    pub estimated_cost_nano_eur: Option<u64>,
    /// Bumped on every change (orders the database's snapshots).
    #[serde(skip)]
    pub version: u32,
    #[serde(skip)]
    pub created_at_ms: u64,
}

/// The bounded registry: records by id, plus their insertion order for
/// eviction (O(1) amortized per insert).
pub struct Registry {
    inner: Mutex<Inner>,
    capacity: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Inner {
    records: HashMap<String, Record>,
    /// Ids, oldest first; ids of evicted records are dropped lazily.
    order: VecDeque<String>,
}

impl Registry {
    /// Keeps at most `capacity` requests.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1).into(),
        }
    }

    /// Adds a new request; returns a copy of it.
    pub fn insert(&self, record: Record) -> Record {
        let capacity = self.capacity.load(std::sync::atomic::Ordering::Relaxed);
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        // Evict the oldest finished requests; running ones are never evicted
        // (they go to the back of the line).
        let mut budget = inner.order.len();
        while inner.records.len() >= capacity && budget > 0 {
            budget -= 1;
            let Some(id) = inner.order.pop_front() else {
                break;
            };
            match inner.records.get(&id) {
                Some(r) if r.status.is_terminal() => {
                    inner.records.remove(&id);
                }
                Some(_) => inner.order.push_back(id),
                None => {}
            }
        }
        inner.order.push_back(record.request_id.clone());
        inner
            .records
            .insert(record.request_id.clone(), record.clone());
        record
    }

    /// Updates a request (a status change adds a lifecycle step) and returns
    /// a copy of it; `None` if it is unknown or already ended (a terminal
    /// state is never overwritten).
    pub fn update(&self, id: &str, at_ms: u64, f: impl FnOnce(&mut Record)) -> Option<Record> {
        let mut inner = self.inner.lock();
        let record = inner.records.get_mut(id)?;
        if record.status.is_terminal() {
            return None;
        }
        let before = record.status;
        f(record);
        record.version += 1;
        if record.status != before {
            record.lifecycle.push(Step {
                status: record.status,
                at_ms,
            });
        }
        Some(record.clone())
    }

    /// Changes how many requests are kept (at least 1).
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity
            .store(capacity.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// A copy of a request.
    pub fn get(&self, id: &str) -> Option<Record> {
        self.inner.lock().records.get(id).cloned()
    }

    /// Number of requests held.
    pub fn len(&self) -> usize {
        self.inner.lock().records.len()
    }

    /// Whether no request is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: Status) -> Record {
        Record {
            request_id: id.into(),
            status,
            message: String::new(),
            estimated_input_tokens: None,
            estimated_output_tokens: None,
            estimated_cost_eur: None,
            user_id: "u".into(),
            project_id: "p".into(),
            model: "m".into(),
            backend_name: None,
            latency_seconds: None,
            queue_wait_seconds: None,
            http_status: None,
            request_type: "interactive",
            priority: None,
            decision: "accept",
            actions: vec![],
            policy_versions: String::new(),
            lifecycle: vec![Step { status, at_ms: 0 }],
            settled: None,
            estimated_cost_nano_eur: None,
            version: 0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn terminal_states_are_final_and_eviction_spares_running_requests() {
        let r = Registry::new(2);
        r.insert(record("running", Status::Processing));
        r.insert(record("done", Status::Rejected));
        assert!(
            r.update("done", 1, |x| x.status = Status::Completed)
                .is_none()
        );
        r.insert(record("new", Status::Queued));
        assert!(r.get("done").is_none(), "the finished request was evicted");
        assert!(r.get("running").is_some());
        assert!(
            r.update("running", 2, |x| x.status = Status::Completed)
                .is_some()
        );
        let lifecycle: Vec<_> = r
            .get("running")
            .unwrap()
            .lifecycle
            .iter()
            .map(|s| s.status)
            .collect();
        assert_eq!(lifecycle, [Status::Processing, Status::Completed]);
    }
}
