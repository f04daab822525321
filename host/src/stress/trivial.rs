//! A trivial server with the `/generate` shape, for measuring the tester
//! itself: it answers every request at once with a fixed `completed` body.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{get, post};

const GENERATED: &str = r#"{"request_id":"trivial","status":"completed","message":"ok","estimated_input_tokens":8,"estimated_output_tokens":64,"estimated_cost_eur":0.0,"model":"simulated-small","backend_name":"trivial","latency_seconds":0.0,"adjustments":[]}"#;

async fn generate(body: axum::body::Bytes) -> impl IntoResponse {
    let _ = body.len();
    ([(CONTENT_TYPE, "application/json")], GENERATED)
}

fn router() -> Router {
    Router::new()
        .route("/generate", post(generate))
        .route(
            "/requests/{id}",
            get(|| async {
                (
                    [(CONTENT_TYPE, "application/json")],
                    r#"{"status":"completed"}"#,
                )
            }),
        )
        .route(
            "/queue/status",
            get(|| async {
                (
                    [(CONTENT_TYPE, "application/json")],
                    r#"{"queue_size":0,"active_requests":0}"#,
                )
            }),
        )
        .route("/health", get(|| async { r#"{"status":"ok"}"# }))
}

/// Starts the trivial server on its own OS thread and tokio runtime (so it
/// does not share the tester's scheduler), on a free loopback port; it stops
/// when dropped.
pub fn start(threads: usize) -> anyhow::Result<crate::bench::InProcServer> {
    crate::bench::InProcServer::start("trivial", threads, || Ok(router()))
}
