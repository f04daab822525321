//! A trivial server with the `/generate` shape, for measuring the tester
//! itself: it answers every request at once with a fixed `completed` body.

use std::net::SocketAddr;

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

/// A trivial server running on its own OS thread and tokio runtime (so it does
/// not share the tester's scheduler), on a free loopback port.
pub struct TrivialServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TrivialServer {
    /// Starts it with `threads` runtime worker threads.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("trivial-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    let _ = axum::serve(listener, router())
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TrivialServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
