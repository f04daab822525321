//! The Ollama backend: `POST {base_url}/api/generate` without streaming,
//! `options.num_predict` = the request's max_tokens (after caps), and usage
//! settled from Ollama's own `prompt_eval_count` / `eval_count` when present.

use serde_json::{Value, json};
use std::time::Duration;

use super::{Backend, BackendError, BackendFuture, BackendRequest, BackendResponse};

/// An Ollama model.
pub struct Ollama {
    model: String,
    upstream: String,
    url: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl Ollama {
    /// Model `model` served as `upstream` by the Ollama at `base_url`.
    pub fn new(model: &str, base_url: &str, upstream: &str, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("an HTTP client without TLS always builds");
        Self {
            model: model.to_owned(),
            upstream: upstream.to_owned(),
            url: format!("{}/api/generate", base_url.trim_end_matches('/')),
            timeout,
            client,
        }
    }

    fn error(&self, e: reqwest::Error) -> BackendError {
        if e.is_timeout() {
            BackendError::Timeout {
                backend: "ollama",
                model: self.model.clone(),
                seconds: self.timeout.as_secs_f64(),
            }
        } else if e.is_connect() || e.is_request() {
            BackendError::Unreachable {
                backend: "ollama",
                model: self.model.clone(),
                cause: format!("{} ({e})", self.url),
            }
        } else {
            BackendError::BadReply {
                backend: "ollama",
                model: self.model.clone(),
                cause: e.to_string(),
            }
        }
    }
}

impl Backend for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn generate<'a>(&'a self, request: &'a BackendRequest) -> BackendFuture<'a> {
        Box::pin(async move {
            let body = json!({
                "model": self.upstream,
                "prompt": request.prompt,
                "stream": false,
                "options": {"num_predict": request.max_tokens},
            });
            let resp = self
                .client
                .post(&self.url)
                .json(&body)
                .send()
                .await
                .map_err(|e| self.error(e))?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| self.error(e))?;
            let bad = |cause: String| BackendError::BadReply {
                backend: "ollama",
                model: self.model.clone(),
                cause,
            };
            let data: Value = serde_json::from_str(&text).map_err(|e| {
                bad(format!(
                    "HTTP {status}, body is not JSON ({e}): {}",
                    snippet(&text)
                ))
            })?;
            if let Some(err) = data.get("error") {
                return Err(bad(format!(
                    "HTTP {status}: {}",
                    err.as_str().unwrap_or(&err.to_string())
                )));
            }
            if !status.is_success() {
                return Err(bad(format!("HTTP {status}: {}", snippet(&text))));
            }
            let count = |k: &str| {
                data.get(k)
                    .and_then(Value::as_u64)
                    .map(|n| n.min(u32::MAX as u64) as u32)
            };
            Ok(BackendResponse {
                text: data
                    .get("response")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                input_tokens: count("prompt_eval_count").unwrap_or(request.prompt_tokens),
                output_tokens: count("eval_count").unwrap_or(request.max_tokens),
            })
        })
    }
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}
