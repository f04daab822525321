//! The simulated backend: a real backend that sleeps instead of computing.
//!
//! By default it reproduces the seed exactly: a fixed `average_latency_seconds`
//! and the message "Simulated response for model 'M' with N estimated output
//! tokens.". With a `latency_model` it waits time-to-first-token plus
//! time-per-output-token × N, scaled by seeded jitter, and returns N
//! pseudo-words (one token each by the host's estimator).

use std::time::Duration;

use super::{Backend, BackendError, BackendFuture, BackendRequest, BackendResponse, TokenSink};
use crate::config::Simulated as Settings;

/// A simulated model.
pub struct Simulated {
    model: String,
    settings: Settings,
}

impl Simulated {
    /// The simulated backend of model `model`.
    pub fn new(model: &str, settings: Settings) -> Self {
        Self {
            model: model.to_owned(),
            settings,
        }
    }

    /// How long a request with `output` tokens takes (deterministic per request id).
    pub fn latency(&self, request_id: &str, output: u32) -> Duration {
        match &self.settings.latency_model {
            None => self.settings.average_latency,
            Some(m) => {
                let base = m.time_to_first_token + m.time_per_output_token * output;
                let unit = (mix(m.seed ^ fnv(request_id)) >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
                base.mul_f64(1.0 + m.jitter * (2.0 * unit - 1.0))
            }
        }
    }
}

impl Backend for Simulated {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn generate<'a>(
        &'a self,
        request: &'a BackendRequest,
        sink: Option<TokenSink>,
    ) -> BackendFuture<'a> {
        Box::pin(async move {
            let output = request.max_tokens;
            let done = |text: String| {
                Ok(BackendResponse {
                    text,
                    input_tokens: request.prompt_tokens,
                    output_tokens: output,
                })
            };
            let cancelled = |sent: u32| BackendError::Cancelled {
                backend: "simulated",
                model: self.model.clone(),
                input_tokens: request.prompt_tokens,
                output_tokens: sent,
            };
            let Some(model) = &self.settings.latency_model else {
                let delay = self.settings.average_latency;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let text = format!(
                    "Simulated response for model '{}' with {output} estimated output tokens.",
                    self.model
                );
                if let Some(sink) = sink
                    && sink.send(text.clone()).await.is_err()
                {
                    return Err(cancelled(0));
                }
                return done(text);
            };
            let text = words(output as usize, fnv(&request.request_id));
            let total = self.latency(&request.request_id, output);
            let Some(sink) = sink else {
                tokio::time::sleep(total).await;
                return done(text);
            };
            // Stream word by word: time to first token, then one word per token interval.
            let scale = total.as_secs_f64()
                / (model.time_to_first_token + model.time_per_output_token * output)
                    .as_secs_f64()
                    .max(1e-9);
            tokio::time::sleep(model.time_to_first_token.mul_f64(scale)).await;
            for (i, word) in text.split_inclusive(' ').enumerate() {
                if i > 0 {
                    tokio::time::sleep(model.time_per_output_token.mul_f64(scale)).await;
                }
                if sink.send(word.to_owned()).await.is_err() {
                    return Err(cancelled(i as u32));
                }
            }
            done(text)
        })
    }
}

/// `n` pseudo-words of three letters, space-separated and ending with a
/// period: 4n characters, n tokens at 4 characters a token.
fn words(n: usize, seed: u64) -> String {
    const SYLLABLES: [&str; 8] = ["tol", "gat", "wasm", "pol", "que", "lim", "tok", "gen"];
    let mut out = String::with_capacity(n * 4);
    let mut state = seed;
    for i in 0..n {
        state = mix(state.wrapping_add(i as u64));
        let w = SYLLABLES[(state % SYLLABLES.len() as u64) as usize];
        out.push_str(&w[..3]);
        out.push(' ');
    }
    out.pop();
    if n > 0 {
        out.push('.');
    }
    out
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// splitmix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LatencyModel;

    fn req(id: &str, max_tokens: u32) -> BackendRequest {
        BackendRequest {
            request_id: id.into(),
            model: "m".into(),
            prompt: "p".into(),
            prompt_tokens: 3,
            max_tokens,
            temperature: None,
            stop: vec![],
        }
    }

    #[tokio::test]
    async fn seed_message_by_default() {
        let b = Simulated::new(
            "simulated-small",
            Settings {
                average_latency: Duration::ZERO,
                latency_model: None,
            },
        );
        let r = b.generate(&req("a", 64), None).await.unwrap();
        assert_eq!(
            r.text,
            "Simulated response for model 'simulated-small' with 64 estimated output tokens."
        );
        assert_eq!((r.input_tokens, r.output_tokens), (3, 64));
    }

    #[tokio::test]
    async fn latency_model_is_seeded_and_produces_the_asked_token_count() {
        let model = LatencyModel {
            time_to_first_token: Duration::from_millis(100),
            time_per_output_token: Duration::from_millis(10),
            jitter: 0.2,
            seed: 7,
        };
        let b = Simulated::new(
            "m",
            Settings {
                average_latency: Duration::ZERO,
                latency_model: Some(model),
            },
        );
        let l = b.latency("req-1", 50);
        assert_eq!(l, b.latency("req-1", 50), "same request, same latency");
        assert!(
            l >= Duration::from_millis(480) && l <= Duration::from_millis(720),
            "{l:?}"
        );
        let text = words(50, 1);
        assert_eq!(text.split(' ').count(), 50);
        assert_eq!(crate::gateway::estimate_tokens(&text), 50);
    }
}
