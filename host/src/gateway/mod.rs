//! The request path, start to end:
//!
//! ```text
//! body -> validate -> identity -> policy chain -> admission -> run now | queue
//!      -> backend -> finish (policies settle) -> record (registry + SQLite)
//! ```
//!
//! [`Gateway`] holds the state every step needs (config, chain, scheduler,
//! registry, accounting, metrics, clock) explicitly; the HTTP handlers only
//! translate. Every request that gets an id ends in exactly one terminal
//! state, and that state is committed to the usage database before the
//! client is answered.

pub mod admin;
pub mod identity;
pub mod validate;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::accounting::{Accounting, PoolRow, UsageRow};
use crate::admission::Admission;
use crate::backend::{self, Backend, BackendError, BackendRequest, TokenSink};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{Event, Metrics};
use crate::policy::bindings::{Outcome, Request, Tenant, Usage};
use crate::policy::chain::Admitted;
use crate::policy::{PolicyChain, PolicyEngine, Refusal, StateStore, views};
use crate::queue;
use crate::requests::{Record, Registry, Status, Step};
use crate::workers::{Next, Scheduler, Submit};

pub use validate::{FieldError, GenerateBody};

/// Every waiting interval of this length is worth one priority point.
pub const QUEUE_AGING: Duration = Duration::from_secs(2);
/// How many requests `/requests/{id}` keeps in memory (with their lifecycle);
/// older ones are answered from the usage database.
pub const REGISTRY_CAPACITY: u64 = 20_000;

/// Prompt tokens estimated from text: one token per 4 characters, at least 1
/// (the seed backends' rule; the seed's policies used a different one).
pub fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() / 4).clamp(1, u32::MAX as usize) as u32
}

fn nano_to_eur(nano: u64) -> f64 {
    nano as f64 / 1e9
}

const ZERO: Usage = Usage {
    input_tokens: 0,
    output_tokens: 0,
    cost_nano_eur: 0,
};

/// An admitted request on its way to a backend.
pub struct Job {
    id: String,
    request: Request,
    tenant: Tenant,
    prompt: String,
    temperature: Option<f64>,
    stop: Vec<String>,
    backend: Arc<dyn Backend>,
    timeout: Duration,
    admitted: Vec<Admitted>,
    enqueued: Instant,
    reply: Option<oneshot::Sender<Result<Reply, ApiError>>>,
    /// Where a streaming request's text goes as it is generated.
    tokens: Option<TokenSink>,
}

/// How `/generate` answers.
pub enum Answer {
    /// One JSON body.
    Done(Reply),
    /// Server-sent events: `queued` (if it waits), text as it comes, then the final reply.
    Stream(StreamReply),
}

/// A streaming answer in progress.
pub struct StreamReply {
    pub request_id: String,
    pub policy_versions: String,
    pub adjustments: Vec<String>,
    /// Whether the request waits in the queue first.
    pub queued: bool,
    /// Text as it is generated; closed when generation ends.
    pub tokens: tokio::sync::mpsc::Receiver<String>,
    /// The final reply (usage, cost) or the failure.
    pub reply: oneshot::Receiver<Result<Reply, ApiError>>,
}

/// A `/generate` answer (200): the seed's fields plus Tollgate's.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reply {
    pub request_id: String,
    pub status: &'static str,
    pub message: String,
    pub estimated_input_tokens: Option<u32>,
    pub estimated_output_tokens: Option<u32>,
    pub estimated_cost_eur: Option<f64>,
    pub model: String,
    pub backend_name: String,
    pub latency_seconds: Option<f64>,
    /// What was changed on the way, in words (caps, degradation).
    pub adjustments: Vec<String>,
    /// `slot=name@version` of the policies that decided (also a response header).
    #[serde(skip)]
    pub policy_versions: String,
}

/// A `/generate` failure, rendered by the API layer.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 422 with FastAPI's body.
    Validation(Vec<FieldError>),
    /// A refusal (identity, policy, admission): `{"detail": ...}`.
    Refused {
        status: u16,
        detail: String,
        code: String,
        retry_after_ms: Option<u64>,
        request_id: String,
        policy_versions: String,
    },
    /// The backend failed: 502 / 504 naming the backend and the cause.
    Backend {
        error: BackendError,
        request_id: String,
    },
    /// The gateway is shutting down: 503.
    ShuttingDown,
}

/// Counters that `/metrics/reset` does not touch.
#[derive(Default)]
pub struct Lifetime {
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub timed_out: AtomicU64,
}

/// The gateway's state.
pub struct Gateway {
    config: ArcSwap<Config>,
    chain: ArcSwap<PolicyChain>,
    engine: PolicyEngine,
    state: Arc<StateStore>,
    scheduler: Scheduler<Job>,
    registry: Registry,
    accounting: Option<Accounting>,
    backends: Mutex<HashMap<String, Arc<dyn Backend>>>,
    /// `/metrics`.
    pub metrics: Metrics,
    /// `/queue/status` completed/failed/timed-out counters.
    pub lifetime: Lifetime,
    clock: Arc<dyn Clock>,
    draining: AtomicBool,
}

/// What identifies a request before it has a record.
struct Origin<'a> {
    id: &'a str,
    body: &'a GenerateBody,
    now_ms: u64,
}

impl Gateway {
    /// Loads the policy chain of `config` and builds the gateway. With
    /// `accounting`, every request is recorded in SQLite and the persisted
    /// pool totals are restored into the policy state first.
    pub fn new(
        config: Config,
        clock: Arc<dyn Clock>,
        accounting: Option<Accounting>,
        pools: &[PoolRow],
    ) -> anyhow::Result<Arc<Self>> {
        let engine = PolicyEngine::new()?;
        let state = StateStore::new();
        for p in pools {
            state.restore_pool(&p.namespace, &p.pool, p.used);
        }
        let chain = crate::policy::load_chain(&engine, &config, state.clone())?;
        let limits = &config.limits;
        let scheduler = Scheduler::new(
            limits.max_active_requests as usize,
            limits.max_queue_size as usize,
            QUEUE_AGING,
        );
        Ok(Arc::new(Self {
            config: ArcSwap::from_pointee(config),
            chain: ArcSwap::from_pointee(chain),
            engine,
            state,
            scheduler,
            registry: Registry::new(REGISTRY_CAPACITY as usize),
            accounting,
            backends: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            lifetime: Lifetime::default(),
            clock,
            draining: AtomicBool::new(false),
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// The policy chain in force.
    pub fn chain(&self) -> Arc<PolicyChain> {
        self.chain.load_full()
    }

    /// The policy engine (for loading candidates).
    pub fn engine(&self) -> &PolicyEngine {
        &self.engine
    }

    /// The host-owned policy state.
    pub fn state(&self) -> &Arc<StateStore> {
        &self.state
    }

    /// The usage database, when enabled.
    pub fn accounting(&self) -> Option<&Accounting> {
        self.accounting.as_ref()
    }

    /// The host clock's now, in ms since the Unix epoch.
    pub fn clock_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Keeps at most `n` requests in memory for `/requests/{id}`.
    pub fn set_registry_capacity(&self, n: usize) {
        self.registry.set_capacity(n);
    }

    /// `/requests/{id}` from memory.
    pub fn request(&self, id: &str) -> Option<Record> {
        self.registry.get(id)
    }

    /// Running and waiting counts.
    pub fn counts(&self) -> crate::workers::Counts {
        self.scheduler.counts()
    }

    /// Handles one `POST /generate` body.
    pub async fn generate(self: &Arc<Self>, body: &[u8]) -> Result<Answer, ApiError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(ApiError::ShuttingDown);
        }
        let body = validate::generate_body(body).map_err(ApiError::Validation)?;
        let config = self.config();
        // Time-ordered (UUIDv7): new ids land at the end of the usage
        // database's request_id index instead of on a random page.
        let id = uuid::Uuid::now_v7().to_string();
        let origin = Origin {
            id: &id,
            body: &body,
            now_ms: self.clock.now_ms(),
        };
        self.metrics
            .received(&body.user_id, &body.project_id, &body.model);

        let who = match identity::check(&config, &body.user_id, &body.project_id, &body.model) {
            Ok(who) => who,
            Err(e) => {
                let refusal = Refusal {
                    status: e.status(),
                    code: e.code().into(),
                    message: e.code().into(),
                    retry_after_ms: None,
                    slot: String::new(),
                };
                return Err(self
                    .refuse(&origin, "identity_rejected", None, refusal, String::new())
                    .await);
            }
        };
        let priority = Some(who.project.priority.as_str());
        let prompt_tokens = estimate_tokens(&body.prompt);
        if prompt_tokens > who.model.max_input_tokens {
            let msg = format!(
                "prompt is about {prompt_tokens} tokens but model {} accepts at most {} (max_input_tokens in models.yaml); shorten the prompt",
                body.model, who.model.max_input_tokens
            );
            let refusal = Refusal {
                status: 422,
                code: "prompt_too_long".into(),
                message: msg.clone(),
                retry_after_ms: None,
                slot: String::new(),
            };
            self.refuse(
                &origin,
                "validation_rejected",
                priority,
                refusal,
                String::new(),
            )
            .await;
            return Err(ApiError::Validation(vec![FieldError::field(
                "prompt",
                "too_long",
                msg,
                prompt_tokens.into(),
            )]));
        }
        let mut adjustments = Vec::new();
        let mut max_tokens = body.max_tokens;
        if max_tokens > who.model.max_output_tokens {
            max_tokens = who.model.max_output_tokens;
            adjustments.push(format!(
                "max_tokens capped from {} to {max_tokens}, the model's max_output_tokens",
                body.max_tokens
            ));
        }

        let tenant = views::tenant(&config, who.user, who.project);
        let request = views::request(views::RequestFacts {
            id: &id,
            user_id: &body.user_id,
            project_id: &body.project_id,
            model: &body.model,
            priority: who.project.priority,
            batch: body.batch,
            prompt_tokens,
            max_tokens,
            now_ms: origin.now_ms,
        });
        let counts = self.scheduler.counts();
        let load = views::load(counts.queued, counts.active, &config);
        let chain = self.chain();
        let decision = chain.evaluate(
            request,
            &tenant,
            views::model(&body.model, who.model),
            load,
            &|m| views::enabled_model(&config, m),
        );
        let versions = decision.versions.join(", ");
        if !decision.actions.is_empty() {
            self.metrics.event(Event::Degraded);
        }
        if let Some(refusal) = decision.refusal {
            return Err(self
                .refuse(&origin, "policy_rejected", priority, refusal, versions)
                .await);
        }
        let request = decision.request;
        if request.max_tokens < max_tokens {
            adjustments.push(format!(
                "max_tokens reduced from {max_tokens} to {} by policy ({})",
                request.max_tokens,
                decision.actions.join(", ")
            ));
        }
        if request.model != body.model {
            adjustments.push(format!(
                "routed from {} to {} by policy",
                body.model, request.model
            ));
        }
        let model_cfg = &config.models[&request.model];
        let backend = self.backend(&request.model, model_cfg);
        let (tx, rx) = oneshot::channel();
        let (token_tx, token_rx) = match body.stream {
            true => {
                let (t, r) = tokio::sync::mpsc::channel(256);
                (Some(t), Some(r))
            }
            false => (None, None),
        };
        let score = queue::score(
            &config.limits.priority_weights,
            views::host_priority(request.priority),
            body.batch,
        );
        let base = Record {
            request_id: id.clone(),
            status: Status::Queued,
            message: String::new(),
            estimated_input_tokens: Some(request.prompt_tokens),
            estimated_output_tokens: Some(request.max_tokens),
            estimated_cost_eur: Some(nano_to_eur(request.estimated_cost_nano_eur)),
            user_id: body.user_id.clone(),
            project_id: body.project_id.clone(),
            model: request.model.clone(),
            backend_name: Some(backend.name().to_owned()),
            request_type: if body.batch { "batch" } else { "interactive" },
            priority,
            decision: "accept",
            latency_seconds: None,
            queue_wait_seconds: None,
            http_status: None,
            actions: decision.actions,
            policy_versions: versions.clone(),
            lifecycle: Vec::new(),
            settled: None,
            estimated_cost_nano_eur: Some(request.estimated_cost_nano_eur),
            version: 0,
            created_at_ms: origin.now_ms,
        };
        let job = Job {
            id: id.clone(),
            request,
            tenant,
            prompt: body.prompt.clone(),
            temperature: body.temperature,
            stop: body.stop.clone(),
            backend,
            timeout: model_cfg.request_timeout,
            admitted: decision.admitted,
            enqueued: Instant::now(),
            reply: Some(tx),
            tokens: token_tx,
        };
        let mut first_row = None;
        let submitted = self
            .scheduler
            .submit(job, score, origin.now_ms, |admission| {
                let (status, decision, message) = match admission {
                    Admission::Run => (Status::Processing, "accept", "Request is being processed"),
                    Admission::Queue => (
                        Status::Queued,
                        "queue",
                        "Request queued for background processing",
                    ),
                    Admission::Reject => return,
                };
                let record = Record {
                    status,
                    decision,
                    message: message.into(),
                    lifecycle: vec![Step {
                        status,
                        at_ms: origin.now_ms,
                    }],
                    ..base.clone()
                };
                first_row = Some(self.registry.insert(record));
            });
        match submitted {
            Submit::Run(job) => {
                self.metrics.event(Event::Accepted);
                if let Some(r) = first_row {
                    self.persist(r, false).await;
                }
                tokio::spawn(run_slot(self.clone(), job, None));
                if let Some(tokens) = token_rx {
                    return Ok(Answer::Stream(StreamReply {
                        request_id: id,
                        policy_versions: versions,
                        adjustments,
                        queued: false,
                        tokens,
                        reply: rx,
                    }));
                }
                let mut reply = rx.await.unwrap_or_else(|_| {
                    Err(ApiError::Backend {
                        error: BackendError::BadReply {
                            backend: "gateway",
                            model: body.model.clone(),
                            cause: "the execution task ended without an answer".into(),
                        },
                        request_id: id.clone(),
                    })
                })?;
                reply.adjustments = adjustments;
                reply.policy_versions = versions;
                Ok(Answer::Done(reply))
            }
            Submit::Queued => {
                self.metrics.event(Event::Queued);
                if let Some(r) = first_row {
                    self.persist(r, true).await;
                }
                if let Some(tokens) = token_rx {
                    return Ok(Answer::Stream(StreamReply {
                        request_id: id,
                        policy_versions: versions,
                        adjustments,
                        queued: true,
                        tokens,
                        reply: rx,
                    }));
                }
                Ok(Answer::Done(Reply {
                    request_id: id,
                    status: "queued",
                    message: "Request queued for background processing".into(),
                    estimated_input_tokens: base.estimated_input_tokens,
                    estimated_output_tokens: base.estimated_output_tokens,
                    estimated_cost_eur: base.estimated_cost_eur,
                    model: base.model,
                    backend_name: base.backend_name.unwrap_or_default(),
                    latency_seconds: None,
                    adjustments,
                    policy_versions: versions,
                }))
            }
            Submit::Rejected(job) => {
                chain.finish(job.admitted, &job.tenant, Outcome::Rejected);
                let refusal = Refusal {
                    status: 503,
                    code: "queue_full".into(),
                    message: "Request rejected by admission controller: queue_full".into(),
                    retry_after_ms: Some(1000),
                    slot: String::new(),
                };
                Err(self
                    .refuse(&origin, "admission_rejected", priority, refusal, versions)
                    .await)
            }
        }
    }

    /// Ends queued requests that waited longer than `max_queue_wait_seconds`.
    pub async fn expire_queued(&self) {
        let max_wait = self.config().limits.max_queue_wait;
        for w in self.scheduler.expire(self.clock.now_ms(), max_wait) {
            self.time_out(w.item).await;
        }
    }

    /// Stops accepting requests and waits until running and queued ones end,
    /// at most `deadline`; what is still queued then ends as failed. The usage
    /// writer is closed last.
    pub async fn drain(&self, deadline: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            let c = self.scheduler.counts();
            if c.active == 0 && c.queued == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for w in self.scheduler.drain() {
            self.fail(
                w.item,
                "the gateway shut down before this request could run".into(),
                None,
            )
            .await;
        }
        if let Some(a) = &self.accounting {
            a.close().await;
        }
    }

    fn backend(&self, name: &str, model: &crate::config::Model) -> Arc<dyn Backend> {
        self.backends
            .lock()
            .entry(name.to_owned())
            .or_insert_with(|| backend::for_model(name, model))
            .clone()
    }

    /// Records a refusal (registry, metrics, database) and builds its answer.
    async fn refuse(
        &self,
        origin: &Origin<'_>,
        decision: &'static str,
        priority: Option<&'static str>,
        refusal: Refusal,
        versions: String,
    ) -> ApiError {
        self.metrics.event(Event::Rejected);
        let body = origin.body;
        let record = self.registry.insert(Record {
            request_id: origin.id.to_owned(),
            status: Status::Rejected,
            message: refusal.message.clone(),
            estimated_input_tokens: None,
            estimated_output_tokens: None,
            estimated_cost_eur: None,
            user_id: body.user_id.clone(),
            project_id: body.project_id.clone(),
            model: body.model.clone(),
            backend_name: None,
            request_type: if body.batch { "batch" } else { "interactive" },
            priority,
            decision,
            latency_seconds: None,
            queue_wait_seconds: None,
            http_status: Some(refusal.status),
            actions: Vec::new(),
            policy_versions: versions.clone(),
            lifecycle: vec![Step {
                status: Status::Rejected,
                at_ms: origin.now_ms,
            }],
            settled: None,
            estimated_cost_nano_eur: None,
            version: 0,
            created_at_ms: origin.now_ms,
        });
        self.persist(record, true).await;
        ApiError::Refused {
            status: refusal.status,
            detail: refusal.message,
            code: refusal.code,
            retry_after_ms: refusal.retry_after_ms,
            request_id: origin.id.to_owned(),
            policy_versions: versions,
        }
    }

    /// Writes a record's snapshot to the usage database. `durable`: wait for
    /// the commit, together with the policy pools that changed (terminal
    /// states and the queued acknowledgement).
    async fn persist(&self, record: Record, durable: bool) {
        let Some(accounting) = &self.accounting else {
            return;
        };
        let row = usage_row(&record, self.clock.now_ms());
        if durable {
            let pools = self
                .state
                .take_dirty()
                .into_iter()
                .map(|p| PoolRow {
                    namespace: p.namespace,
                    pool: p.pool,
                    used: p.used,
                })
                .collect();
            if let Err(e) = accounting.write(vec![row], pools).await {
                tracing::error!(request_id = %record.request_id, "usage row not written: {e}");
            }
        } else {
            accounting.send(vec![row]).await;
        }
    }

    async fn update(&self, id: &str, durable: bool, f: impl FnOnce(&mut Record)) {
        if let Some(record) = self.registry.update(id, self.clock.now_ms(), f) {
            self.persist(record, durable).await;
        }
    }

    /// Runs one job on its backend and ends it in exactly one terminal state.
    async fn execute(&self, mut job: Job, queue_wait: Option<Duration>) {
        if let Some(wait) = queue_wait {
            // A request admitted to run at once was recorded as processing already.
            self.update(&job.id, false, |r| {
                r.status = Status::Processing;
                r.message = "Request is being processed".into();
                r.queue_wait_seconds = Some(wait.as_secs_f64());
            })
            .await;
        }
        let request = BackendRequest {
            request_id: job.id.clone(),
            model: job.request.model.clone(),
            prompt: std::mem::take(&mut job.prompt),
            prompt_tokens: job.request.prompt_tokens,
            max_tokens: job.request.max_tokens,
            temperature: job.temperature,
            stop: std::mem::take(&mut job.stop),
        };
        let sink = job.tokens.take();
        let started = Instant::now();
        let result = if sink.as_ref().is_some_and(|s| s.is_closed()) {
            // A streaming client that left while its request waited: nothing to run.
            Err(BackendError::Cancelled {
                backend: job.backend.name(),
                model: request.model.clone(),
                input_tokens: 0,
                output_tokens: 0,
            })
        } else {
            match tokio::time::timeout(job.timeout, job.backend.generate(&request, sink)).await {
                Ok(r) => r,
                Err(_) => Err(BackendError::Timeout {
                    backend: job.backend.name(),
                    model: request.model.clone(),
                    seconds: job.timeout.as_secs_f64(),
                }),
            }
        };
        let latency = started.elapsed();
        let resp = match result {
            Ok(resp) => resp,
            Err(BackendError::Cancelled {
                input_tokens,
                output_tokens,
                ..
            }) => {
                self.cancel(job, input_tokens, output_tokens).await;
                return;
            }
            Err(error) => {
                let message = error.to_string();
                self.fail(job, message, Some(error)).await;
                return;
            }
        };
        let measured = Usage {
            input_tokens: resp.input_tokens,
            output_tokens: resp.output_tokens,
            cost_nano_eur: 0,
        };
        let usage = self.chain().finish(
            std::mem::take(&mut job.admitted),
            &job.tenant,
            Outcome::Completed(measured),
        );
        self.metrics.completed(
            usage.input_tokens.into(),
            usage.output_tokens.into(),
            usage.cost_nano_eur,
            latency,
            queue_wait,
        );
        self.lifetime.completed.fetch_add(1, Ordering::Relaxed);
        let reply = Reply {
            request_id: job.id.clone(),
            status: "completed",
            message: resp.text,
            estimated_input_tokens: Some(usage.input_tokens),
            estimated_output_tokens: Some(usage.output_tokens),
            estimated_cost_eur: Some(nano_to_eur(usage.cost_nano_eur)),
            model: job.request.model.clone(),
            backend_name: job.backend.name().to_owned(),
            latency_seconds: Some(latency.as_secs_f64()),
            adjustments: Vec::new(),
            policy_versions: String::new(),
        };
        self.update(&job.id, true, |r| {
            r.status = Status::Completed;
            r.message = reply.message.clone();
            r.estimated_input_tokens = reply.estimated_input_tokens;
            r.estimated_output_tokens = reply.estimated_output_tokens;
            r.estimated_cost_eur = reply.estimated_cost_eur;
            r.latency_seconds = reply.latency_seconds;
            r.settled = Some((usage.input_tokens, usage.output_tokens, usage.cost_nano_eur));
        })
        .await;
        if let Some(tx) = job.reply.take() {
            let _ = tx.send(Ok(reply));
        }
    }

    async fn fail(&self, mut job: Job, message: String, error: Option<BackendError>) {
        let usage = self.chain().finish(
            std::mem::take(&mut job.admitted),
            &job.tenant,
            Outcome::Failed(ZERO),
        );
        self.metrics.event(Event::Failed);
        self.lifetime.failed.fetch_add(1, Ordering::Relaxed);
        let status = error.as_ref().map(BackendError::status);
        self.update(&job.id, true, |r| {
            r.status = Status::Failed;
            r.message = message.clone();
            r.http_status = status;
            r.settled = Some((usage.input_tokens, usage.output_tokens, usage.cost_nano_eur));
        })
        .await;
        if let Some(tx) = job.reply.take() {
            let error = error.unwrap_or(BackendError::BadReply {
                backend: "gateway",
                model: job.request.model.clone(),
                cause: message,
            });
            let _ = tx.send(Err(ApiError::Backend {
                error,
                request_id: job.id.clone(),
            }));
        }
    }

    /// A streaming client went away: settle what was used, record `cancelled`.
    async fn cancel(&self, mut job: Job, input_tokens: u32, output_tokens: u32) {
        let used = Usage {
            input_tokens,
            output_tokens,
            cost_nano_eur: 0,
        };
        let usage = self.chain().finish(
            std::mem::take(&mut job.admitted),
            &job.tenant,
            Outcome::Cancelled(used),
        );
        self.metrics.event(Event::Cancelled);
        self.update(&job.id, true, |r| {
            r.status = Status::Cancelled;
            r.message = "the client disconnected; the upstream request was cancelled".into();
            r.http_status = Some(499);
            r.settled = Some((usage.input_tokens, usage.output_tokens, usage.cost_nano_eur));
        })
        .await;
    }

    async fn time_out(&self, mut job: Job) {
        self.chain().finish(
            std::mem::take(&mut job.admitted),
            &job.tenant,
            Outcome::TimedOut,
        );
        self.metrics.event(Event::TimedOut);
        self.lifetime.timed_out.fetch_add(1, Ordering::Relaxed);
        let waited = job.enqueued.elapsed();
        self.update(&job.id, true, |r| {
            r.status = Status::TimedOut;
            r.message = format!(
                "Request waited {:.1} s in the queue, longer than max_queue_wait_seconds; it was not run",
                waited.as_secs_f64()
            );
            r.queue_wait_seconds = Some(waited.as_secs_f64());
        })
        .await;
    }
}

/// The database row of a record.
fn usage_row(r: &Record, now_ms: u64) -> UsageRow {
    UsageRow {
        request_id: r.request_id.clone(),
        version: r.version,
        user_id: r.user_id.clone(),
        project_id: r.project_id.clone(),
        model: r.model.clone(),
        backend: r.backend_name.clone(),
        request_type: r.request_type.to_owned(),
        priority: r.priority.map(str::to_owned),
        status: r.status.as_str().to_owned(),
        decision: r.decision.to_owned(),
        degradation_level: None,
        input_tokens: r.settled.map(|s| s.0),
        output_tokens: r.settled.map(|s| s.1),
        cost_nano_eur: r.settled.map(|s| s.2),
        estimated_input_tokens: r.estimated_input_tokens,
        estimated_output_tokens: r.estimated_output_tokens,
        estimated_cost_nano_eur: r.estimated_cost_nano_eur,
        latency_seconds: r.latency_seconds,
        queue_wait_seconds: r.queue_wait_seconds,
        error_message: matches!(
            r.status,
            Status::Failed | Status::Rejected | Status::TimedOut
        )
        .then(|| r.message.clone()),
        http_status: r.http_status,
        policy_versions: (!r.policy_versions.is_empty()).then(|| r.policy_versions.clone()),
        actions: (!r.actions.is_empty()).then(|| r.actions.join(",")),
        created_at_ms: r.created_at_ms,
        updated_at_ms: now_ms,
    }
}

/// One execution slot: runs `job`, then whatever the scheduler hands it next,
/// until the queue is empty.
async fn run_slot(gw: Arc<Gateway>, mut job: Job, mut queue_wait: Option<Duration>) {
    let mut expired = Vec::new();
    loop {
        gw.execute(job, queue_wait).await;
        let max_wait = gw.config().limits.max_queue_wait;
        let next = gw.scheduler.next(gw.clock.now_ms(), max_wait, &mut expired);
        for w in expired.drain(..) {
            gw.time_out(w.item).await;
        }
        match next {
            Next::Run(w) => {
                queue_wait = Some(w.item.enqueued.elapsed());
                job = w.item;
            }
            Next::Idle => return,
        }
    }
}
