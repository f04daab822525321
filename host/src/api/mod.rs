//! The HTTP API (axum). Handlers are thin: they translate HTTP to calls on
//! [`Gateway`] and answers back, keeping the seed's paths, JSON field names
//! and status codes.

pub mod admin;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::accounting::queries::{self, Filter};
use crate::gateway::{Answer, ApiError, FieldError, Gateway, Reply, StreamReply};

/// Largest `/generate` body accepted (a larger one is a JSON 413).
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Header naming the policy versions that decided a request.
pub const POLICIES_HEADER: &str = "x-tollgate-policies";

/// All routes.
pub fn router(gw: Arc<Gateway>, auth: admin::AdminAuth) -> Router {
    let admin = admin::router(gw.clone(), auth);
    Router::new()
        .route("/health", get(health))
        .route(
            "/generate",
            post(generate).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/queue/status", get(queue_status))
        .route("/requests/{id}", get(request_status))
        .route("/metrics", get(metrics))
        .route("/metrics/reset", post(metrics_reset))
        .route("/config/summary", get(config_summary))
        .route("/usage/summary", get(usage_summary))
        .route("/usage/project/{id}", get(usage_project))
        .route("/usage/user/{id}", get(usage_user))
        .route("/usage/recent", get(usage_recent))
        .with_state(gw)
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn health() -> axum::Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

async fn generate(State(gw): State<Arc<Gateway>>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let detail = format!(
                "cannot read the request body: {e} (the limit is {} bytes)",
                MAX_BODY_BYTES
            );
            return (e.status(), Json(json!({ "detail": detail }))).into_response();
        }
    };
    match gw.generate(&body).await {
        Ok(Answer::Done(reply)) => reply_response(reply),
        Ok(Answer::Stream(stream)) => stream_response(stream),
        Err(e) => error_response(e),
    }
}

fn reply_response(reply: Reply) -> Response {
    let mut headers = HeaderMap::new();
    insert(&mut headers, "x-request-id", &reply.request_id);
    insert(&mut headers, POLICIES_HEADER, &reply.policy_versions);
    (StatusCode::OK, headers, axum::Json(reply)).into_response()
}

/// Server-sent events: `queued` (when it waits), `token` events with
/// `{"text": ...}` as the model generates, then `done` with the final reply
/// (usage and cost), or `error` with `{"detail", "status"}`. A client that
/// disconnects drops the stream, which cancels the upstream request.
fn stream_response(s: StreamReply) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let StreamReply {
        request_id,
        policy_versions,
        adjustments,
        queued,
        tokens,
        reply,
    } = s;
    let mut headers = HeaderMap::new();
    insert(&mut headers, "x-request-id", &request_id);
    insert(&mut headers, POLICIES_HEADER, &policy_versions);
    let first = queued.then(|| {
        Event::default()
            .event("queued")
            .data(json!({"request_id": request_id}).to_string())
    });
    let events = futures_util::stream::unfold(
        (
            first,
            Some(tokens),
            Some(reply),
            adjustments,
            policy_versions,
        ),
        |(first, mut tokens, reply, adjustments, versions)| async move {
            if let Some(e) = first {
                return Some((
                    Ok::<_, std::convert::Infallible>(e),
                    (None, tokens, reply, adjustments, versions),
                ));
            }
            if let Some(t) = tokens.as_mut() {
                if let Some(text) = t.recv().await {
                    let e = Event::default()
                        .event("token")
                        .data(json!({"text": text}).to_string());
                    return Some((Ok(e), (None, tokens, reply, adjustments, versions)));
                }
                tokens = None;
            }
            let rx = reply?;
            let event = match rx.await {
                Ok(Ok(mut r)) => {
                    r.adjustments = adjustments.clone();
                    Event::default()
                        .event("done")
                        .data(serde_json::to_string(&r).unwrap_or_default())
                }
                Ok(Err(e)) => {
                    let (status, detail) = match e {
                        ApiError::Backend { error, .. } => (error.status(), error.to_string()),
                        other => (503, format!("{other:?}")),
                    };
                    Event::default()
                        .event("error")
                        .data(json!({"detail": detail, "status": status}).to_string())
                }
                Err(_) => Event::default().event("error").data(
                    json!({"detail": "the execution task ended without an answer", "status": 502})
                        .to_string(),
                ),
            };
            Some((Ok(event), (None, tokens, None, adjustments, versions)))
        },
    );
    (headers, Sse::new(events).keep_alive(KeepAlive::default())).into_response()
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Renders a gateway error: 422 FastAPI body, or `{"detail": ...}` with the status.
pub fn error_response(e: ApiError) -> Response {
    match e {
        ApiError::Validation(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "detail": errors })),
        )
            .into_response(),
        ApiError::Refused {
            status,
            detail,
            code,
            retry_after_ms,
            request_id,
            policy_versions,
        } => {
            let mut headers = HeaderMap::new();
            insert(&mut headers, "x-request-id", &request_id);
            if !policy_versions.is_empty() {
                insert(&mut headers, POLICIES_HEADER, &policy_versions);
            }
            let retry_after_seconds = retry_after_ms.map(|ms| ms as f64 / 1000.0);
            if let Some(ms) = retry_after_ms {
                insert(
                    &mut headers,
                    "retry-after",
                    &ms.div_ceil(1000).max(1).to_string(),
                );
            }
            let body = json!({
                "detail": detail,
                "code": code,
                "request_id": request_id,
                "retry_after_seconds": retry_after_seconds,
            });
            (status_code(status), headers, Json(body)).into_response()
        }
        ApiError::Backend { error, request_id } => {
            let body = json!({ "detail": error.to_string(), "request_id": request_id });
            (status_code(error.status()), Json(body)).into_response()
        }
        ApiError::ShuttingDown => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": "the gateway is shutting down; retry on another instance"})),
        )
            .into_response(),
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn queue_status(State(gw): State<Arc<Gateway>>) -> axum::Json<Value> {
    Json(gw.queue_status())
}

/// `/requests/{id}`: the in-memory registry (recent requests, with their
/// lifecycle), else the usage database (every request ever recorded).
async fn request_status(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> axum::Json<Value> {
    if let Some(record) = gw.request(&id) {
        return Json(serde_json::to_value(record).unwrap_or(Value::Null));
    }
    let key = id.clone();
    let stored = if gw.accounting().is_some() {
        read_db(&gw, move |c| queries::by_request_id(c, &key))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    match stored {
        Some(row) => Json(row),
        None => {
            Json(json!({"request_id": id, "status": "not_found", "message": "Request not found"}))
        }
    }
}

async fn metrics(State(gw): State<Arc<Gateway>>) -> axum::Json<Value> {
    Json(serde_json::to_value(gw.metrics.summary()).unwrap_or(Value::Null))
}

async fn metrics_reset(State(gw): State<Arc<Gateway>>) -> axum::Json<Value> {
    gw.metrics.reset();
    Json(json!({"status": "ok", "message": "Metrics reset"}))
}

async fn config_summary(State(gw): State<Arc<Gateway>>) -> axum::Json<Value> {
    let config = gw.config();
    let files: serde_json::Map<String, Value> = config
        .summary
        .iter()
        .map(|f| {
            (
                f.file.clone(),
                json!({"top_level_keys": f.top_level_keys, "item_count": f.item_count}),
            )
        })
        .collect();
    Json(json!({"config_dir": config.dir.display().to_string(), "files": files}))
}

impl Gateway {
    /// The `/queue/status` body: the seed's keys, plus each policy slot's view.
    pub fn queue_status(&self) -> Value {
        let config = self.config();
        let counts = self.counts();
        let load = crate::policy::views::load(counts.queued, counts.active, &config);
        let policies = self.chain().status(self.clock_ms(), load);
        let level = policies
            .values()
            .find(|v| v.get("level").is_some())
            .cloned()
            .unwrap_or(Value::Null);
        let ratio = if counts.max_queue > 0 {
            counts.queued as f64 / counts.max_queue as f64
        } else {
            0.0
        };
        json!({
            "queue_size": counts.queued,
            "active_requests": counts.active,
            "max_active_requests": counts.max_active,
            "max_queue_size": counts.max_queue,
            "current_degradation_level": level.get("level").cloned().unwrap_or(json!("normal")),
            "current_degradation_level_number": level.get("level_number").cloned().unwrap_or(json!(0)),
            "queue_usage_ratio": ratio,
            "degradation_actions": level.get("actions").cloned().unwrap_or(json!({})),
            "worker_running": true,
            "worker_count": counts.max_active,
            "completed_requests": self.lifetime.completed.load(Ordering::Relaxed),
            "failed_requests": self.lifetime.failed.load(Ordering::Relaxed),
            "timed_out_requests": self.lifetime.timed_out.load(Ordering::Relaxed),
            "policies": policies,
        })
    }
}

async fn usage_summary(State(gw): State<Arc<Gateway>>) -> Response {
    usage(gw, Filter::All).await
}

async fn usage_project(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    usage(gw, Filter::Project(id)).await
}

async fn usage_user(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    usage(gw, Filter::User(id)).await
}

/// Runs a read on its own connection off the async threads.
async fn read_db<T: Send + 'static>(
    gw: &Gateway,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let Some(accounting) = gw.accounting() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": "usage accounting is not enabled on this gateway"})),
        )
            .into_response());
    };
    let path = accounting.path().to_owned();
    let result =
        tokio::task::spawn_blocking(move || queries::connect(&path).and_then(|c| f(&c))).await;
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": format!("usage database read failed: {e}")})),
        )
            .into_response()),
        Err(e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"detail": format!("usage read task failed: {e}")})),
        )
            .into_response()),
    }
}

async fn usage(gw: Arc<Gateway>, filter: Filter) -> Response {
    match read_db(&gw, move |c| queries::summary(c, &filter)).await {
        Ok(summary) => Json(serde_json::to_value(summary).unwrap_or(Value::Null)).into_response(),
        Err(r) => r,
    }
}

/// Largest `limit` of `/usage/recent`.
pub const MAX_RECENT: u32 = 1000;

async fn usage_recent(
    State(gw): State<Arc<Gateway>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit") {
        None => 50,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_RECENT as i64).contains(&n) => n as u32,
            _ => {
                let e = FieldError {
                    kind: "range",
                    loc: vec!["query".into(), "limit".into()],
                    msg: format!("limit must be an integer from 1 to {MAX_RECENT}"),
                    input: raw.as_str().into(),
                };
                return error_response(ApiError::Validation(vec![e]));
            }
        },
    };
    match read_db(&gw, move |c| queries::recent(c, limit)).await {
        Ok(rows) => Json(Value::Array(rows)).into_response(),
        Err(r) => r,
    }
}
