//! HTTP plumbing shared by the real backends: the pooled client, the
//! connect-only retry, error classification and a line splitter for
//! streamed bodies (NDJSON and SSE are both line-based).

use std::time::Duration;

use super::BackendError;

/// One pooled client per backend.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client without TLS always builds")
}

/// Error context of one backend.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub backend: &'static str,
    pub model: &'a str,
    pub url: &'a str,
    pub timeout: Duration,
}

impl Ctx<'_> {
    /// Maps a transport error to 502 / 504.
    pub fn transport(&self, e: reqwest::Error) -> BackendError {
        if e.is_timeout() {
            BackendError::Timeout {
                backend: self.backend,
                model: self.model.to_owned(),
                seconds: self.timeout.as_secs_f64(),
            }
        } else if e.is_connect() {
            BackendError::Unreachable {
                backend: self.backend,
                model: self.model.to_owned(),
                cause: format!("{}: {e}", self.url),
            }
        } else {
            BackendError::BadReply {
                backend: self.backend,
                model: self.model.to_owned(),
                cause: format!("{}: {e}", self.url),
            }
        }
    }

    /// Waits for a slot under the model's `max_parallel_requests` (`None`:
    /// no limit); the slot is held while the permit lives.
    pub async fn permit(
        &self,
        limit: &Option<std::sync::Arc<tokio::sync::Semaphore>>,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, BackendError> {
        match limit {
            Some(s) => s
                .clone()
                .acquire_owned()
                .await
                .map(Some)
                .map_err(|_| self.bad("backend closed")),
            None => Ok(None),
        }
    }

    /// A bad reply with `cause`.
    pub fn bad(&self, cause: impl Into<String>) -> BackendError {
        BackendError::BadReply {
            backend: self.backend,
            model: self.model.to_owned(),
            cause: cause.into(),
        }
    }

    /// The client went away.
    pub fn cancelled(&self, input_tokens: u32, output_tokens: u32) -> BackendError {
        BackendError::Cancelled {
            backend: self.backend,
            model: self.model.to_owned(),
            input_tokens,
            output_tokens,
        }
    }
}

/// Sends a request; retries (twice, after 50 and 200 ms) only when the
/// connection could not be made, i.e. nothing reached the server.
pub async fn send(
    ctx: Ctx<'_>,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, BackendError> {
    let mut delays = [Duration::from_millis(50), Duration::from_millis(200)].into_iter();
    loop {
        match build().send().await {
            Ok(r) => return Ok(r),
            Err(e) if e.is_connect() => match delays.next() {
                Some(d) => tokio::time::sleep(d).await,
                None => return Err(ctx.transport(e)),
            },
            Err(e) => return Err(ctx.transport(e)),
        }
    }
}

/// Reads an error body and turns it into a bad reply naming the status.
pub async fn http_error(ctx: Ctx<'_>, resp: reqwest::Response) -> BackendError {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("error").map(|e| {
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        e.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| e.to_string())
                    })
            })
        })
        .unwrap_or_else(|| snippet(&text));
    ctx.bad(format!("HTTP {status}: {detail}"))
}

/// The first 200 characters of a body, for error messages.
pub fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

/// Splits a byte stream into lines (without the line ending).
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    /// Adds bytes; returns the complete lines they finish.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]);
            out.push(line.trim_end_matches('\r').to_owned());
        }
        out
    }

    /// What is left after the stream ended (a last line without a newline).
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let text = String::from_utf8_lossy(&rest).trim().to_owned();
        (!text.is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks() {
        let mut l = Lines::default();
        assert!(l.push(b"data: {\"a\"").is_empty());
        assert_eq!(
            l.push(b":1}\r\n\ndata: [DONE]\n"),
            ["data: {\"a\":1}", "", "data: [DONE]"]
        );
        assert_eq!(l.push(b"{\"done\":true}"), Vec::<String>::new());
        assert_eq!(l.finish().as_deref(), Some("{\"done\":true}"));
    }
}
