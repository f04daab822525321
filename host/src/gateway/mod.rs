//! The request path, start to end:
//!
//! ```text
//! body -> validate -> identity -> policy chain -> admission -> run now | queue
//!      -> backend -> finish (policies settle) -> record
//! ```
//!
//! [`Gateway`] holds the state every step needs (config, chain, scheduler,
//! registry, metrics, clock) explicitly; the HTTP handlers only translate.

pub mod identity;
pub mod validate;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use crate::admission::Admission;
use crate::backend::{self, Backend, BackendError, BackendRequest};
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
/// How many requests `/requests/{id}` remembers.
pub const REGISTRY_CAPACITY: usize = 100_000;

/// Prompt tokens estimated from text: one token per 4 characters, at least 1
/// (the seed backends' rule; the seed's policies used a different one).
pub fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() / 4).max(1).min(u32::MAX as usize) as u32
}

fn nano_to_eur(nano: u64) -> f64 {
    nano as f64 / 1e9
}

/// An admitted request on its way to a backend.
pub struct Job {
    id: String,
    request: Request,
    tenant: Tenant,
    prompt: String,
    backend: Arc<dyn Backend>,
    timeout: Duration,
    admitted: Vec<Admitted>,
    enqueued: Instant,
    reply: Option<oneshot::Sender<Result<Reply, ApiError>>>,
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
    backends: Mutex<HashMap<String, Arc<dyn Backend>>>,
    /// `/metrics`.
    pub metrics: Metrics,
    /// `/queue/status` completed/failed counters.
    pub lifetime: Lifetime,
    clock: Arc<dyn Clock>,
    draining: AtomicBool,
}

impl Gateway {
    /// Loads the policy chain of `config` and builds the gateway.
    pub fn new(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Self>> {
        let engine = PolicyEngine::new()?;
        let state = StateStore::new();
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
            registry: Registry::new(REGISTRY_CAPACITY),
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

    /// The host clock's now, in ms since the Unix epoch.
    pub fn clock_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// `/requests/{id}`.
    pub fn request(&self, id: &str) -> Option<Record> {
        self.registry.get(id)
    }

    /// Running and waiting counts.
    pub fn counts(&self) -> crate::workers::Counts {
        self.scheduler.counts()
    }

    /// Handles one `POST /generate` body.
    pub async fn generate(self: &Arc<Self>, body: &[u8]) -> Result<Reply, ApiError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(ApiError::ShuttingDown);
        }
        let body = validate::generate_body(body).map_err(ApiError::Validation)?;
        let config = self.config();
        let now_ms = self.clock.now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        self.metrics
            .received(&body.user_id, &body.project_id, &body.model);

        let refuse =
            |status: u16, code: &str, detail: String, versions: String, retry: Option<u64>| {
                self.reject_record(&id, &body, status, &detail, now_ms);
                ApiError::Refused {
                    status,
                    detail,
                    code: code.to_owned(),
                    retry_after_ms: retry,
                    request_id: id.clone(),
                    policy_versions: versions,
                }
            };

        let who = identity::check(&config, &body.user_id, &body.project_id, &body.model).map_err(
            |e| {
                refuse(
                    e.status(),
                    e.code(),
                    e.code().to_owned(),
                    String::new(),
                    None,
                )
            },
        )?;
        let prompt_tokens = estimate_tokens(&body.prompt);
        if prompt_tokens > who.model.max_input_tokens {
            let msg = format!(
                "prompt is about {prompt_tokens} tokens but model {} accepts at most {} (max_input_tokens in models.yaml); shorten the prompt",
                body.model, who.model.max_input_tokens
            );
            self.reject_record(&id, &body, 422, &msg, now_ms);
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
            now_ms,
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
        if let Some(r) = decision.refusal {
            let Refusal {
                status,
                code,
                message,
                retry_after_ms,
                ..
            } = r;
            return Err(refuse(status, &code, message, versions, retry_after_ms));
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
        let backend = match self.backend(&request.model, model_cfg) {
            Ok(b) => b,
            Err(error) => {
                chain.finish(decision.admitted, &tenant, Outcome::Rejected);
                self.reject_record(&id, &body, error.status(), &error.to_string(), now_ms);
                return Err(ApiError::Backend {
                    error,
                    request_id: id,
                });
            }
        };

        let (tx, rx) = oneshot::channel();
        let estimate = (
            request.prompt_tokens,
            request.max_tokens,
            request.estimated_cost_nano_eur,
        );
        let score = queue::score(
            &config.limits.priority_weights,
            views::host_priority(request.priority),
            body.batch,
        );
        let job = Job {
            id: id.clone(),
            request,
            tenant,
            prompt: body.prompt.clone(),
            backend,
            timeout: model_cfg.request_timeout,
            admitted: decision.admitted,
            enqueued: Instant::now(),
            reply: Some(tx),
        };
        let base = self.base_record(
            &id,
            &body,
            &job.request.model,
            job.backend.name(),
            estimate,
            now_ms,
        );
        let submitted = self.scheduler.submit(job, score, now_ms, |admission| {
            let status = match admission {
                Admission::Run => Status::Processing,
                Admission::Queue => Status::Queued,
                Admission::Reject => return,
            };
            let message = match status {
                Status::Queued => "Request queued for background processing",
                _ => "Request is being processed",
            };
            self.registry.insert(Record {
                status,
                message: message.into(),
                lifecycle: vec![Step {
                    status,
                    at_ms: now_ms,
                }],
                ..base.clone()
            });
        });
        match submitted {
            Submit::Run(job) => {
                self.metrics.event(Event::Accepted);
                tokio::spawn(run_slot(self.clone(), job, None));
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
                Ok(reply)
            }
            Submit::Queued => {
                self.metrics.event(Event::Queued);
                Ok(Reply {
                    request_id: id,
                    status: "queued",
                    message: "Request queued for background processing".into(),
                    estimated_input_tokens: Some(estimate.0),
                    estimated_output_tokens: Some(estimate.1),
                    estimated_cost_eur: Some(nano_to_eur(estimate.2)),
                    model: base.model,
                    backend_name: base.backend_name.unwrap_or_default(),
                    latency_seconds: None,
                    adjustments,
                    policy_versions: versions,
                })
            }
            Submit::Rejected(job) => {
                chain.finish(job.admitted, &job.tenant, Outcome::Rejected);
                let detail = "Request rejected by admission controller: queue_full".to_string();
                Err(refuse(503, "queue_full", detail, versions, Some(1000)))
            }
        }
    }

    /// Ends queued requests that waited longer than `max_queue_wait_seconds`.
    pub fn expire_queued(&self) {
        let max_wait = self.config().limits.max_queue_wait;
        for w in self.scheduler.expire(self.clock.now_ms(), max_wait) {
            self.time_out(w.item);
        }
    }

    /// Stops accepting requests and waits until running and queued ones end,
    /// at most `deadline`; what is still queued then ends as failed.
    pub async fn drain(&self, deadline: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            let c = self.scheduler.counts();
            if c.active == 0 && c.queued == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for w in self.scheduler.drain() {
            self.fail(
                w.item,
                "the gateway shut down before this request could run".into(),
                None,
            );
        }
    }

    fn backend(
        &self,
        name: &str,
        model: &crate::config::Model,
    ) -> Result<Arc<dyn Backend>, BackendError> {
        let mut cache = self.backends.lock();
        if let Some(b) = cache.get(name) {
            return Ok(b.clone());
        }
        let b = backend::for_model(name, model)?;
        cache.insert(name.to_owned(), b.clone());
        Ok(b)
    }

    fn base_record(
        &self,
        id: &str,
        body: &GenerateBody,
        model: &str,
        backend: &str,
        (input, output, cost): (u32, u32, u64),
        now_ms: u64,
    ) -> Record {
        Record {
            request_id: id.to_owned(),
            status: Status::Queued,
            message: String::new(),
            estimated_input_tokens: Some(input),
            estimated_output_tokens: Some(output),
            estimated_cost_eur: Some(nano_to_eur(cost)),
            user_id: body.user_id.clone(),
            project_id: body.project_id.clone(),
            model: model.to_owned(),
            backend_name: Some(backend.to_owned()),
            latency_seconds: None,
            queue_wait_seconds: None,
            http_status: None,
            lifecycle: vec![Step {
                status: Status::Queued,
                at_ms: now_ms,
            }],
        }
    }

    fn reject_record(&self, id: &str, body: &GenerateBody, status: u16, detail: &str, now_ms: u64) {
        self.metrics.event(Event::Rejected);
        self.registry.insert(Record {
            request_id: id.to_owned(),
            status: Status::Rejected,
            message: detail.to_owned(),
            estimated_input_tokens: None,
            estimated_output_tokens: None,
            estimated_cost_eur: None,
            user_id: body.user_id.clone(),
            project_id: body.project_id.clone(),
            model: body.model.clone(),
            backend_name: None,
            latency_seconds: None,
            queue_wait_seconds: None,
            http_status: Some(status),
            lifecycle: vec![Step {
                status: Status::Rejected,
                at_ms: now_ms,
            }],
        });
    }

    /// Runs one job on its backend and ends it in exactly one terminal state.
    async fn execute(&self, mut job: Job, queue_wait: Option<Duration>) {
        let now_ms = self.clock.now_ms();
        self.registry.update(&job.id, now_ms, |r| {
            r.status = Status::Processing;
            r.message = "Request is being processed".into();
            r.queue_wait_seconds = queue_wait.map(|w| w.as_secs_f64());
        });
        let request = BackendRequest {
            request_id: job.id.clone(),
            model: job.request.model.clone(),
            prompt: std::mem::take(&mut job.prompt),
            prompt_tokens: job.request.prompt_tokens,
            max_tokens: job.request.max_tokens,
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(job.timeout, job.backend.generate(&request)).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout {
                backend: job.backend.name(),
                model: request.model.clone(),
                seconds: job.timeout.as_secs_f64(),
            }),
        };
        let latency = started.elapsed();
        let chain = self.chain();
        let admitted = std::mem::take(&mut job.admitted);
        match result {
            Ok(resp) => {
                let usage = Usage {
                    input_tokens: resp.input_tokens,
                    output_tokens: resp.output_tokens,
                    cost_nano_eur: 0,
                };
                let usage = chain.finish(admitted, &job.tenant, Outcome::Completed(usage));
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
                self.registry.update(&job.id, self.clock.now_ms(), |r| {
                    r.status = Status::Completed;
                    r.message = reply.message.clone();
                    r.estimated_input_tokens = reply.estimated_input_tokens;
                    r.estimated_output_tokens = reply.estimated_output_tokens;
                    r.estimated_cost_eur = reply.estimated_cost_eur;
                    r.latency_seconds = reply.latency_seconds;
                });
                if let Some(tx) = job.reply.take() {
                    let _ = tx.send(Ok(reply));
                }
            }
            Err(error) => {
                job.admitted = admitted;
                self.fail(job, error.to_string(), Some((error.status(), error)));
            }
        }
    }

    fn fail(&self, mut job: Job, message: String, error: Option<(u16, BackendError)>) {
        if !job.admitted.is_empty() {
            let zero = Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            };
            self.chain().finish(
                std::mem::take(&mut job.admitted),
                &job.tenant,
                Outcome::Failed(zero),
            );
        }
        self.metrics.event(Event::Failed);
        self.lifetime.failed.fetch_add(1, Ordering::Relaxed);
        self.registry.update(&job.id, self.clock.now_ms(), |r| {
            r.status = Status::Failed;
            r.message = message.clone();
            r.http_status = error.as_ref().map(|(s, _)| *s);
        });
        if let Some(tx) = job.reply.take() {
            let error = error.map(|(_, e)| e).unwrap_or(BackendError::BadReply {
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

    fn time_out(&self, mut job: Job) {
        self.chain().finish(
            std::mem::take(&mut job.admitted),
            &job.tenant,
            Outcome::TimedOut,
        );
        self.metrics.event(Event::TimedOut);
        self.lifetime.timed_out.fetch_add(1, Ordering::Relaxed);
        let waited = job.enqueued.elapsed();
        self.registry.update(&job.id, self.clock.now_ms(), |r| {
            r.status = Status::TimedOut;
            r.message = format!(
                "Request waited {:.1} s in the queue, longer than max_queue_wait_seconds; it was not run",
                waited.as_secs_f64()
            );
            r.queue_wait_seconds = Some(waited.as_secs_f64());
        });
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
            gw.time_out(w.item);
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
