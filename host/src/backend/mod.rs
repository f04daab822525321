//! Backends: what serves a request once it is admitted. One small streaming
//! trait, three implementations chosen per model by the tagged
//! [`crate::config::Backend`] enum: [`simulated`], [`ollama`] (NDJSON) and
//! [`openai`] (OpenAI-compatible servers: llama.cpp, vLLM, ...; SSE).
//!
//! Every real backend keeps one pooled HTTP client, limits its parallel
//! upstream requests (`max_parallel_requests`), and retries only a
//! connection that failed before anything was sent (twice, after 50 ms and
//! 200 ms): a request that reached the server is never sent again.

pub mod ollama;
pub mod openai;
pub mod simulated;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::config::{Backend as BackendConfig, Model};

/// What a backend is asked to do.
#[derive(Debug, Clone)]
pub struct BackendRequest {
    pub request_id: String,
    /// The model name in models.yaml.
    pub model: String,
    pub prompt: String,
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    /// Sampling temperature (the server's default when `None`).
    pub temperature: Option<f64>,
    /// Stop sequences (the simulated backend ignores them).
    pub stop: Vec<String>,
}

/// What a backend answered.
#[derive(Debug, Clone)]
pub struct BackendResponse {
    pub text: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Where a streaming backend sends text as it is generated. When the
/// receiver is gone (the client disconnected), the backend stops and the
/// upstream request is dropped.
pub type TokenSink = mpsc::Sender<String>;

/// Why a backend call failed. Each maps to one HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Could not connect, or the connection broke: 502.
    #[error("backend {backend} for model {model} is unreachable: {cause}")]
    Unreachable {
        backend: &'static str,
        model: String,
        cause: String,
    },
    /// It answered something unusable (HTTP error, malformed body or stream): 502.
    #[error("backend {backend} for model {model} gave a bad reply: {cause}")]
    BadReply {
        backend: &'static str,
        model: String,
        cause: String,
    },
    /// It did not answer in time: 504.
    #[error("backend {backend} for model {model} did not answer within {seconds} s")]
    Timeout {
        backend: &'static str,
        model: String,
        seconds: f64,
    },
    /// The client went away while streaming; what was used until then.
    #[error("the client disconnected; the {backend} request for model {model} was cancelled")]
    Cancelled {
        backend: &'static str,
        model: String,
        input_tokens: u32,
        output_tokens: u32,
    },
}

impl BackendError {
    /// The HTTP status this failure maps to.
    pub fn status(&self) -> u16 {
        match self {
            BackendError::Timeout { .. } => 504,
            BackendError::Cancelled { .. } => 499,
            _ => 502,
        }
    }
}

/// A boxed backend future.
pub type BackendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<BackendResponse, BackendError>> + Send + 'a>>;

/// A backend serves generation requests.
pub trait Backend: Send + Sync {
    /// `simulated`, `ollama`, `openai`.
    fn name(&self) -> &'static str;
    /// Generates a completion; with a `sink`, streams the text into it as it comes.
    fn generate<'a>(
        &'a self,
        request: &'a BackendRequest,
        sink: Option<TokenSink>,
    ) -> BackendFuture<'a>;
}

/// Builds the backend of a model.
pub fn for_model(name: &str, model: &Model) -> Arc<dyn Backend> {
    let limit = model
        .max_parallel
        .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
    match &model.backend {
        BackendConfig::Simulated(s) => Arc::new(simulated::Simulated::new(name, s.clone())),
        BackendConfig::Ollama {
            base_url,
            model: upstream,
            chat,
        } => Arc::new(ollama::Ollama::new(
            name,
            base_url,
            upstream,
            *chat,
            model.request_timeout,
            limit,
        )),
        BackendConfig::OpenAi {
            base_url,
            model: upstream,
            api_key_env,
            chat,
        } => Arc::new(openai::OpenAi::new(
            name,
            base_url,
            upstream,
            api_key_env.clone(),
            *chat,
            model.request_timeout,
            limit,
        )),
    }
}
