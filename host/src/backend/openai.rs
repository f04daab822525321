//! OpenAI-compatible servers (llama.cpp, vLLM, OpenAI itself):
//! `POST {base_url}/v1/chat/completions` (default) or `/v1/completions`
//! (`api: completions`, for base models). Streaming uses SSE with
//! `stream_options.include_usage`, and the server's `usage` settles the
//! request; without it, the host's estimator counts the text.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

use super::wire::{self, Ctx, Lines};
use super::{Backend, BackendFuture, BackendRequest, BackendResponse, TokenSink};

/// An OpenAI-compatible model.
pub struct OpenAi {
    model: String,
    upstream: String,
    url: String,
    api_key_env: Option<String>,
    chat: bool,
    timeout: Duration,
    client: reqwest::Client,
    limit: Option<Arc<Semaphore>>,
}

impl OpenAi {
    /// Model `model` served as `upstream` at `base_url` (with or without a trailing `/v1`).
    pub fn new(
        model: &str,
        base_url: &str,
        upstream: &str,
        api_key_env: Option<String>,
        chat: bool,
        timeout: Duration,
        limit: Option<Arc<Semaphore>>,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        let path = if chat {
            "/v1/chat/completions"
        } else {
            "/v1/completions"
        };
        Self {
            model: model.to_owned(),
            upstream: upstream.to_owned(),
            url: format!("{base}{path}"),
            api_key_env,
            chat,
            timeout,
            client: wire::client(timeout),
            limit,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            backend: "openai",
            model: &self.model,
            url: &self.url,
            timeout: self.timeout,
        }
    }

    fn body(&self, request: &BackendRequest, stream: bool) -> Value {
        let mut body = if self.chat {
            json!({"model": self.upstream, "messages": [{"role": "user", "content": request.prompt}]})
        } else {
            json!({"model": self.upstream, "prompt": request.prompt})
        };
        body["max_tokens"] = request.max_tokens.into();
        if let Some(t) = request.temperature {
            body["temperature"] = t.into();
        }
        if !request.stop.is_empty() {
            body["stop"] = request.stop.clone().into();
        }
        body["stream"] = stream.into();
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    fn text_of<'v>(&self, choice: &'v Value, streaming: bool) -> Option<&'v str> {
        match (self.chat, streaming) {
            (true, true) => choice.pointer("/delta/content"),
            (true, false) => choice.pointer("/message/content"),
            (false, _) => choice.get("text"),
        }
        .and_then(Value::as_str)
    }

    async fn run(
        &self,
        request: &BackendRequest,
        sink: Option<TokenSink>,
    ) -> Result<BackendResponse, super::BackendError> {
        let ctx = self.ctx();
        let _permit = ctx.permit(&self.limit).await?;
        let key = self
            .api_key_env
            .as_ref()
            .and_then(|name| std::env::var(name).ok());
        let body = self.body(request, sink.is_some());
        let resp = wire::send(ctx, || {
            let b = self.client.post(&self.url).json(&body);
            match &key {
                Some(k) => b.bearer_auth(k),
                None => b,
            }
        })
        .await?;
        if !resp.status().is_success() {
            return Err(wire::http_error(ctx, resp).await);
        }
        let usage = |v: &Value| {
            let n = |k: &str| {
                v.pointer(&format!("/usage/{k}"))
                    .and_then(Value::as_u64)
                    .map(|n| n.min(u32::MAX as u64) as u32)
            };
            n("prompt_tokens").zip(n("completion_tokens"))
        };
        let Some(sink) = sink else {
            let text = resp.text().await.map_err(|e| ctx.transport(e))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                ctx.bad(format!("body is not JSON ({e}): {}", wire::snippet(&text)))
            })?;
            let choice = v
                .pointer("/choices/0")
                .ok_or_else(|| ctx.bad(format!("no choices in: {}", wire::snippet(&text))))?;
            let out = self.text_of(choice, false).unwrap_or_default().to_owned();
            let (input, output) =
                usage(&v).unwrap_or((request.prompt_tokens, crate::gateway::estimate_tokens(&out)));
            return Ok(BackendResponse {
                text: out,
                input_tokens: input,
                output_tokens: output,
            });
        };

        let mut text = String::new();
        let mut counted = None;
        let mut done = false;
        let mut lines = Lines::default();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ctx.transport(e))?;
            for line in lines.push(&chunk) {
                let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" {
                    done = true;
                    continue;
                }
                let v: Value = serde_json::from_str(data).map_err(|e| {
                    ctx.bad(format!(
                        "malformed stream event ({e}): {}",
                        wire::snippet(data)
                    ))
                })?;
                if let Some(err) = v.get("error") {
                    return Err(ctx.bad(format!("stream error: {err}")));
                }
                if let Some(u) = usage(&v) {
                    counted = Some(u);
                }
                if let Some(piece) = v
                    .pointer("/choices/0")
                    .and_then(|c| self.text_of(c, true))
                    .filter(|p| !p.is_empty())
                {
                    text.push_str(piece);
                    if sink.send(piece.to_owned()).await.is_err() {
                        // The client is gone: dropping the stream closes the upstream request.
                        return Err(ctx.cancelled(
                            request.prompt_tokens,
                            crate::gateway::estimate_tokens(&text),
                        ));
                    }
                }
            }
        }
        if !done && counted.is_none() {
            return Err(ctx.bad("the stream ended before [DONE]"));
        }
        let (input, output) = counted.unwrap_or((
            request.prompt_tokens,
            crate::gateway::estimate_tokens(&text),
        ));
        Ok(BackendResponse {
            text,
            input_tokens: input,
            output_tokens: output,
        })
    }
}

impl Backend for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn generate<'a>(
        &'a self,
        request: &'a BackendRequest,
        sink: Option<TokenSink>,
    ) -> BackendFuture<'a> {
        Box::pin(self.run(request, sink))
    }
}
