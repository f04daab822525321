//! The Ollama backend: `POST {base_url}/api/generate` (default) or
//! `/api/chat` (`api: chat`), with `options.num_predict` = the request's
//! max_tokens after caps. Streaming reads Ollama's NDJSON chunks; the final
//! chunk's `prompt_eval_count` / `eval_count` settle the request.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

use super::wire::{self, Ctx, Lines};
use super::{Backend, BackendFuture, BackendRequest, BackendResponse, TokenSink};

/// An Ollama model.
pub struct Ollama {
    model: String,
    upstream: String,
    url: String,
    chat: bool,
    timeout: Duration,
    client: reqwest::Client,
    limit: Option<Arc<Semaphore>>,
}

impl Ollama {
    /// Model `model` served as `upstream` by the Ollama at `base_url`.
    pub fn new(
        model: &str,
        base_url: &str,
        upstream: &str,
        chat: bool,
        timeout: Duration,
        limit: Option<Arc<Semaphore>>,
    ) -> Self {
        let path = if chat { "/api/chat" } else { "/api/generate" };
        Self {
            model: model.to_owned(),
            upstream: upstream.to_owned(),
            url: format!("{}{path}", base_url.trim_end_matches('/')),
            chat,
            timeout,
            client: wire::client(timeout),
            limit,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            backend: "ollama",
            model: &self.model,
            url: &self.url,
            timeout: self.timeout,
        }
    }

    fn piece<'v>(&self, v: &'v Value) -> Option<&'v str> {
        if self.chat {
            v.pointer("/message/content")
        } else {
            v.get("response")
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
        let mut body = json!({
            "model": self.upstream,
            "stream": sink.is_some(),
            "options": {"num_predict": request.max_tokens},
        });
        if let Some(t) = request.temperature {
            body["options"]["temperature"] = t.into();
        }
        if !request.stop.is_empty() {
            body["options"]["stop"] = request.stop.clone().into();
        }
        if self.chat {
            body["messages"] = json!([{"role": "user", "content": request.prompt}]);
        } else {
            body["prompt"] = request.prompt.clone().into();
        }
        let resp = wire::send(ctx, || self.client.post(&self.url).json(&body)).await?;
        if !resp.status().is_success() {
            return Err(wire::http_error(ctx, resp).await);
        }
        let counts = |v: &Value, text: &str| {
            let n = |k: &str| {
                v.get(k)
                    .and_then(Value::as_u64)
                    .map(|n| n.min(u32::MAX as u64) as u32)
            };
            (
                n("prompt_eval_count").unwrap_or(request.prompt_tokens),
                n("eval_count").unwrap_or_else(|| crate::gateway::estimate_tokens(text)),
            )
        };
        let parse = |line: &str| -> Result<Value, super::BackendError> {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| ctx.bad(format!("malformed reply ({e}): {}", wire::snippet(line))))?;
            match v.get("error") {
                Some(err) => Err(ctx.bad(
                    err.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| err.to_string()),
                )),
                None => Ok(v),
            }
        };
        let Some(sink) = sink else {
            let text = resp.text().await.map_err(|e| ctx.transport(e))?;
            let v = parse(&text)?;
            let out = self.piece(&v).unwrap_or_default().to_owned();
            let (input, output) = counts(&v, &out);
            return Ok(BackendResponse {
                text: out,
                input_tokens: input,
                output_tokens: output,
            });
        };
        let mut text = String::new();
        let mut lines = Lines::default();
        let mut stream = resp.bytes_stream();
        let mut finished = false;
        while !finished {
            let batch: Vec<String> = match stream.next().await {
                Some(chunk) => lines.push(&chunk.map_err(|e| ctx.transport(e))?),
                None => {
                    finished = true;
                    lines.finish().into_iter().collect()
                }
            };
            for line in batch.iter().filter(|l| !l.trim().is_empty()) {
                let v = parse(line)?;
                if let Some(piece) = self.piece(&v).filter(|p| !p.is_empty()) {
                    text.push_str(piece);
                    if sink.send(piece.to_owned()).await.is_err() {
                        return Err(ctx.cancelled(
                            request.prompt_tokens,
                            crate::gateway::estimate_tokens(&text),
                        ));
                    }
                }
                if v.get("done").and_then(Value::as_bool) == Some(true) {
                    let (input, output) = counts(&v, &text);
                    return Ok(BackendResponse {
                        text,
                        input_tokens: input,
                        output_tokens: output,
                    });
                }
            }
        }
        Err(ctx.bad("the stream ended without a final `done` chunk"))
    }
}

impl Backend for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn generate<'a>(
        &'a self,
        request: &'a BackendRequest,
        sink: Option<TokenSink>,
    ) -> BackendFuture<'a> {
        Box::pin(self.run(request, sink))
    }
}
