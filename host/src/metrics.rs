//! In-memory request metrics with the seed's `/metrics` shape.
//!
//! Latencies go into HDR histograms (3 significant digits, bounded memory)
//! instead of the seed's ever-growing lists. `POST /metrics/reset` clears
//! these metrics only; the lifetime counters behind `/queue/status` are kept
//! elsewhere and never reset (the seed zeroed them too).

use hdrhistogram::Histogram;
use indexmap::IndexMap;
use parking_lot::Mutex;
use serde::Serialize;

/// Lifecycle events counted by [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Accepted,
    Queued,
    Rejected,
    Degraded,
    Failed,
    TimedOut,
    Cancelled,
}

impl Event {
    fn key(self) -> &'static str {
        match self {
            Event::Accepted => "accepted",
            Event::Queued => "queued",
            Event::Rejected => "rejected",
            Event::Degraded => "degraded",
            Event::Failed => "failed",
            Event::TimedOut => "timed_out",
            Event::Cancelled => "cancelled",
        }
    }
}

struct Inner {
    total: u64,
    accepted: u64,
    queued: u64,
    rejected: u64,
    completed: u64,
    failed: u64,
    degraded: u64,
    timed_out: u64,
    cancelled: u64,
    input_tokens: u64,
    output_tokens: u64,
    cost_nano_eur: u64,
    latency_us: Histogram<u64>,
    queue_wait_us: Histogram<u64>,
    by_project: IndexMap<String, u64>,
    by_user: IndexMap<String, u64>,
    by_model: IndexMap<String, u64>,
    by_status: IndexMap<&'static str, u64>,
}

impl Default for Inner {
    fn default() -> Self {
        let hist =
            || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Self {
            total: 0,
            accepted: 0,
            queued: 0,
            rejected: 0,
            completed: 0,
            failed: 0,
            degraded: 0,
            timed_out: 0,
            cancelled: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_nano_eur: 0,
            latency_us: hist(),
            queue_wait_us: hist(),
            by_project: IndexMap::new(),
            by_user: IndexMap::new(),
            by_model: IndexMap::new(),
            by_status: IndexMap::new(),
        }
    }
}

/// The `/metrics` body (the seed's keys in the seed's order, plus `timed_out_requests`).
#[derive(Debug, Serialize)]
pub struct Summary {
    pub total_requests: u64,
    pub accepted_requests: u64,
    pub queued_requests: u64,
    pub rejected_requests: u64,
    pub completed_requests: u64,
    pub failed_requests: u64,
    pub degraded_requests: u64,
    pub timed_out_requests: u64,
    pub cancelled_requests: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub total_estimated_cost_eur: f64,
    pub average_latency_seconds: Option<f64>,
    pub p50_latency_seconds: Option<f64>,
    pub p95_latency_seconds: Option<f64>,
    pub p99_latency_seconds: Option<f64>,
    pub average_queue_wait_seconds: Option<f64>,
    pub requests_by_project: IndexMap<String, u64>,
    pub requests_by_user: IndexMap<String, u64>,
    pub requests_by_model: IndexMap<String, u64>,
    pub requests_by_status: IndexMap<&'static str, u64>,
}

/// Thread-safe metrics collector.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn bump<K: std::hash::Hash + Eq>(map: &mut IndexMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}

impl Metrics {
    /// A request passed validation (counted per user, project and model).
    pub fn received(&self, user: &str, project: &str, model: &str) {
        let mut guard = self.inner.lock();
        let m = &mut *guard;
        m.total += 1;
        bump(&mut m.by_status, "received");
        for (map, key) in [
            (&mut m.by_user, user),
            (&mut m.by_project, project),
            (&mut m.by_model, model),
        ] {
            if !key.is_empty() {
                match map.get_mut(key) {
                    Some(n) => *n += 1,
                    None => {
                        map.insert(key.to_owned(), 1);
                    }
                }
            }
        }
    }

    /// Counts a lifecycle event.
    pub fn event(&self, event: Event) {
        let mut m = self.inner.lock();
        match event {
            Event::Accepted => m.accepted += 1,
            Event::Queued => m.queued += 1,
            Event::Rejected => m.rejected += 1,
            Event::Degraded => m.degraded += 1,
            Event::Failed => m.failed += 1,
            Event::TimedOut => m.timed_out += 1,
            Event::Cancelled => m.cancelled += 1,
        }
        bump(&mut m.by_status, event.key());
    }

    /// A request completed with its real usage and backend latency.
    pub fn completed(
        &self,
        input: u64,
        output: u64,
        cost_nano_eur: u64,
        latency: std::time::Duration,
        queue_wait: Option<std::time::Duration>,
    ) {
        let mut m = self.inner.lock();
        m.completed += 1;
        bump(&mut m.by_status, "completed");
        m.input_tokens += input;
        m.output_tokens += output;
        m.cost_nano_eur += cost_nano_eur;
        m.latency_us
            .saturating_record(latency.as_micros().max(1) as u64);
        if let Some(w) = queue_wait {
            m.queue_wait_us
                .saturating_record(w.as_micros().max(1) as u64);
        }
    }

    /// Clears everything (`POST /metrics/reset`).
    pub fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }

    /// The `/metrics` body.
    pub fn summary(&self) -> Summary {
        let m = self.inner.lock();
        let secs = |us: u64| us as f64 / 1e6;
        let stat =
            |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| secs(h.value_at_quantile(q)));
        Summary {
            total_requests: m.total,
            accepted_requests: m.accepted,
            queued_requests: m.queued,
            rejected_requests: m.rejected,
            completed_requests: m.completed,
            failed_requests: m.failed,
            degraded_requests: m.degraded,
            timed_out_requests: m.timed_out,
            cancelled_requests: m.cancelled,
            total_input_tokens: m.input_tokens,
            total_output_tokens: m.output_tokens,
            total_estimated_cost_eur: m.cost_nano_eur as f64 / 1e9,
            average_latency_seconds: (!m.latency_us.is_empty()).then(|| m.latency_us.mean() / 1e6),
            p50_latency_seconds: stat(&m.latency_us, 0.50),
            p95_latency_seconds: stat(&m.latency_us, 0.95),
            p99_latency_seconds: stat(&m.latency_us, 0.99),
            average_queue_wait_seconds: (!m.queue_wait_us.is_empty())
                .then(|| m.queue_wait_us.mean() / 1e6),
            requests_by_project: m.by_project.clone(),
            requests_by_user: m.by_user.clone(),
            requests_by_model: m.by_model.clone(),
            requests_by_status: m.by_status.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_like_the_seed() {
        let m = Metrics::default();
        let s = m.summary();
        assert_eq!(
            (s.total_requests, s.completed_requests, s.degraded_requests),
            (0, 0, 0)
        );
        assert_eq!(s.average_latency_seconds, None);
        m.received("u", "p", "simulated-small");
        m.event(Event::Accepted);
        m.completed(10, 64, 10_000_000, Duration::from_millis(200), None);
        let s = m.summary();
        assert_eq!(
            (s.total_requests, s.accepted_requests, s.completed_requests),
            (1, 1, 1)
        );
        assert_eq!((s.total_input_tokens, s.total_output_tokens), (10, 64));
        assert!((s.total_estimated_cost_eur - 0.01).abs() < 1e-12);
        assert!((s.p50_latency_seconds.unwrap() - 0.2).abs() < 0.001);
        assert_eq!(s.requests_by_user["u"], 1);
        assert_eq!(s.requests_by_status["received"], 1);
        m.reset();
        assert_eq!(m.summary().total_requests, 0);
    }
}
