//! Backends: what serves a request once it is admitted. One small trait,
//! chosen per model by the tagged [`crate::config::Backend`] enum.

pub mod ollama;
pub mod simulated;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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
}

/// What a backend answered.
#[derive(Debug, Clone)]
pub struct BackendResponse {
    pub text: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
}

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
    /// It answered something unusable: 502.
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
}

impl BackendError {
    /// The HTTP status this failure maps to.
    pub fn status(&self) -> u16 {
        match self {
            BackendError::Timeout { .. } => 504,
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
    /// Generates a completion.
    fn generate<'a>(&'a self, request: &'a BackendRequest) -> BackendFuture<'a>;
}

/// Builds the backend of a model. The OpenAI-compatible backend is
/// reported as unavailable until it lands (see the README).
pub fn for_model(name: &str, model: &Model) -> Result<Arc<dyn Backend>, BackendError> {
    match &model.backend {
        BackendConfig::Simulated(s) => Ok(Arc::new(simulated::Simulated::new(name, s.clone()))),
        BackendConfig::Ollama {
            base_url,
            model: upstream,
        } => Ok(Arc::new(ollama::Ollama::new(
            name,
            base_url,
            upstream,
            model.request_timeout,
        ))),
        other => Err(BackendError::Unreachable {
            backend: other.name(),
            model: name.to_owned(),
            cause: "this backend is not implemented in this build".into(),
        }),
    }
}
