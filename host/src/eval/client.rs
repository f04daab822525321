//! The evaluator's side of the gateway's HTTP API: `POST /generate`, then
//! `GET /requests/{id}` every 0.5 s while the request is queued (the seed's
//! client), with optional retries of refusals that say when to come back.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Terminal statuses of `/requests/{id}` (plus the seed's `not_found`).
const TERMINAL: &[&str] = &["completed", "failed", "rejected", "timed_out", "not_found"];

/// How the gateway answered one request, after polling.
#[derive(Debug, Clone, Default)]
pub struct Generation {
    pub request_id: Option<String>,
    /// HTTP status of `POST /generate` (`None`: no HTTP answer at all).
    pub http_status: Option<u16>,
    /// `completed`, `rejected`, `failed`, `timed_out`, `not_found`, or
    /// `error` (no usable HTTP answer).
    pub status: String,
    /// The model's text (completed requests only).
    pub text: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_eur: Option<f64>,
    /// The gateway's `latency_seconds`.
    pub latency_seconds: Option<f64>,
    /// Measured here: from the first POST to the final answer.
    pub end_to_end_seconds: f64,
    pub queued: bool,
    /// Why there is no text (refusal body, transport error, ...).
    pub error: Option<String>,
    pub retries: u32,
}

/// A `/generate` client for one gateway.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    /// Bound for one request from POST to final answer (also the HTTP timeout).
    pub poll_timeout: Duration,
    pub poll_interval: Duration,
    /// Retries of a `429` / `503` refusal that carries a retry-after.
    pub retries: u32,
}

impl GatewayClient {
    pub fn new(base_url: &str, poll_timeout: Duration, retries: u32) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(poll_timeout.max(Duration::from_secs(1)))
            .build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            poll_timeout,
            poll_interval: Duration::from_millis(500),
            retries,
        })
    }

    /// Sends `body` to `/generate` and follows it to a terminal state.
    pub async fn generate(&self, body: &Value) -> Generation {
        let started = Instant::now();
        let mut g = self.generate_inner(body, started).await;
        g.end_to_end_seconds = started.elapsed().as_secs_f64();
        g
    }

    async fn generate_inner(&self, body: &Value, started: Instant) -> Generation {
        let mut retries = 0;
        loop {
            let mut g = Generation {
                retries,
                ..Default::default()
            };
            let resp = match self
                .http
                .post(format!("{}/generate", self.base))
                .json(body)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    g.status = "error".into();
                    g.error = Some(if e.is_timeout() {
                        "http_timeout".into()
                    } else {
                        truncate(&error_chain(&e), 200)
                    });
                    return g;
                }
            };
            let status = resp.status().as_u16();
            g.http_status = Some(status);
            let header_retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    g.status = "error".into();
                    g.error = Some(truncate(&format!("reading the response: {e}"), 200));
                    return g;
                }
            };
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status >= 400 {
                let retry_after = json
                    .get("retry_after_seconds")
                    .and_then(Value::as_f64)
                    .or(header_retry);
                if matches!(status, 429 | 503)
                    && retries < self.retries
                    && let Some(wait) = retry_after
                {
                    let wait = Duration::from_secs_f64(wait.clamp(0.05, 60.0));
                    if started.elapsed() + wait < self.poll_timeout {
                        tokio::time::sleep(wait).await;
                        retries += 1;
                        continue;
                    }
                }
                g.request_id = str_field(&json, "request_id");
                g.status = if matches!(status, 502 | 504) {
                    "failed".into()
                } else {
                    "rejected".into()
                };
                g.error = Some(truncate(&text, 200));
                return g;
            }
            g.request_id = str_field(&json, "request_id");
            let first = str_field(&json, "status").unwrap_or_default();
            if first == "queued" {
                g.queued = true;
                let Some(id) = g.request_id.clone() else {
                    g.status = "error".into();
                    g.error = Some("queued without a request_id".into());
                    return g;
                };
                let record = self.poll(&id, started).await;
                fill(&mut g, &record);
                return g;
            }
            fill(&mut g, &json);
            return g;
        }
    }

    /// Polls `/requests/{id}` until a terminal status or the poll timeout
    /// (then a synthesized `timed_out`); polling errors are retried.
    async fn poll(&self, id: &str, started: Instant) -> Value {
        loop {
            if started.elapsed() >= self.poll_timeout {
                return serde_json::json!({
                    "status": "timed_out",
                    "message": format!("no terminal status within the poll timeout ({} s)", self.poll_timeout.as_secs_f64()),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
            let Ok(resp) = self
                .http
                .get(format!("{}/requests/{id}", self.base))
                .timeout(Duration::from_secs(10))
                .send()
                .await
            else {
                continue;
            };
            let Ok(record) = resp.json::<Value>().await else {
                continue;
            };
            if record
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|s| TERMINAL.contains(&s))
            {
                return record;
            }
        }
    }
}

/// Takes status, text, usage and latency from a `/generate` reply or a
/// `/requests/{id}` record (for queued requests the record holds the real
/// usage of the finished request, not the admission estimate).
fn fill(g: &mut Generation, json: &Value) {
    g.status = str_field(json, "status").unwrap_or_else(|| "error".into());
    g.input_tokens = json.get("estimated_input_tokens").and_then(Value::as_u64);
    g.output_tokens = json.get("estimated_output_tokens").and_then(Value::as_u64);
    g.cost_eur = json.get("estimated_cost_eur").and_then(Value::as_f64);
    g.latency_seconds = json.get("latency_seconds").and_then(Value::as_f64);
    if g.status == "completed" {
        g.text = Some(str_field(json, "message").unwrap_or_default());
    } else {
        if let Some(code) = json.get("http_status").and_then(Value::as_u64) {
            g.http_status = u16::try_from(code).ok().or(g.http_status);
        }
        g.error = Some(truncate(
            &format!(
                "{}: {}",
                g.status,
                str_field(json, "message").unwrap_or_default()
            ),
            200,
        ));
    }
}

fn str_field(json: &Value, key: &str) -> Option<String> {
    json.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An error with its causes (`error sending request: ...: Connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// At most `n` characters.
pub fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}
