//! The `ollama` and `openai` backends against upstream servers written here
//! from the protocols' documentation (no real Ollama can be installed on the
//! test machines): Ollama's `/api/generate` and `/api/chat` with NDJSON
//! streaming, the final `done` chunk and its counts, and its error bodies;
//! plus upstream failures — down, timing out, garbage — which must give the
//! documented 502/504 JSON while the gateway keeps serving.

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{Server, body, edit};
use serde_json::{Value, json};
use std::time::Duration;

/// How the fake upstream behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// Protocol-faithful answers.
    Good,
    /// Sleeps longer than the gateway's timeout.
    Slow,
    /// Answers 200 with bytes that are not the protocol.
    Garbage,
    /// A stream that stops without its final chunk.
    Truncated,
}

const WORDS: [&str; 5] = ["Hello", " from", " a", " fake", " Ollama"];

/// A fake Ollama: `/api/generate` and `/api/chat`, streaming NDJSON or one JSON body.
async fn ollama(State(mode): State<Mode>, axum::Json(req): axum::Json<Value>) -> Response {
    let chat = req.get("messages").is_some();
    if req["model"] == "missing" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "model \"missing\" not found, try pulling it first"})),
        )
            .into_response();
    }
    match mode {
        Mode::Slow => tokio::time::sleep(Duration::from_secs(5)).await,
        Mode::Garbage => {
            return (StatusCode::OK, "<html>this is not ollama</html>").into_response();
        }
        _ => {}
    }
    let n = req["options"]["num_predict"]
        .as_u64()
        .unwrap_or(128)
        .min(WORDS.len() as u64) as usize;
    let chunk = |text: &str| {
        if chat {
            json!({"model": req["model"], "created_at": "2026-12-04T00:00:00Z", "message": {"role": "assistant", "content": text}, "done": false})
        } else {
            json!({"model": req["model"], "created_at": "2026-12-04T00:00:00Z", "response": text, "done": false})
        }
    };
    let mut last = chunk("");
    last["done"] = true.into();
    last["done_reason"] = if n < WORDS.len() { "length" } else { "stop" }.into();
    last["prompt_eval_count"] = 11.into();
    last["eval_count"] = (n as u64).into();
    last["total_duration"] = 1_000_000.into();
    if req["stream"] == false {
        let text: String = WORDS[..n].concat();
        let mut whole = last.clone();
        if chat {
            whole["message"]["content"] = text.into();
        } else {
            whole["response"] = text.into();
        }
        return axum::Json(whole).into_response();
    }
    let mut lines: Vec<String> = WORDS[..n].iter().map(|w| chunk(w).to_string()).collect();
    if !matches!(mode, Mode::Truncated) {
        lines.push(last.to_string());
    }
    let stream = futures_util::stream::iter(
        lines
            .into_iter()
            .map(|l| Ok::<_, std::convert::Infallible>(format!("{l}\n"))),
    );
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// Starts a fake upstream; returns its base URL.
async fn upstream(mode: Mode) -> String {
    let app = Router::new()
        .route("/api/generate", post(ollama))
        .route("/api/chat", post(ollama))
        .route("/v1/completions", post(openai_garbage))
        .route("/v1/chat/completions", post(openai_garbage))
        .with_state(mode);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// An OpenAI-compatible endpoint that misbehaves per mode.
async fn openai_garbage(State(mode): State<Mode>) -> Response {
    match mode {
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "{}").into_response()
        }
        Mode::Garbage => (StatusCode::OK, "data: {not json}\n\n").into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"message": "upstream exploded", "type": "server_error"}})),
        )
            .into_response(),
    }
}

/// Adds models pointing at `url` to models.yaml.
fn models(dir: &std::path::Path, url: &str) {
    let extra = format!(
        r#"
  fake-ollama:
    backend: "ollama"
    enabled: true
    ollama_model: "tiny"
    ollama_base_url: "{url}"
    max_output_tokens: 64
    input_cost_per_1k_tokens_eur: 1.0
    output_cost_per_1k_tokens_eur: 2.0
    request_timeout_seconds: 1

  fake-ollama-chat:
    backend: "ollama"
    api: chat
    enabled: true
    ollama_model: "tiny"
    ollama_base_url: "{url}"
    max_output_tokens: 64
    request_timeout_seconds: 1

  fake-ollama-missing:
    backend: "ollama"
    enabled: true
    ollama_model: "missing"
    ollama_base_url: "{url}"
    max_output_tokens: 64

  fake-openai:
    backend: "openai"
    enabled: true
    base_url: "{url}/v1"
    max_output_tokens: 64
    request_timeout_seconds: 1

  dead-openai:
    backend: "openai"
    enabled: true
    base_url: "http://127.0.0.1:9"
    max_output_tokens: 64
"#
    );
    let path = dir.join("models.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, text + &extra).unwrap();
}

async fn sse(s: &Server, b: Value) -> Vec<(String, Value)> {
    let text = s
        .client
        .post(s.url("/generate"))
        .json(&b)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut events = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut name = String::new();
        let mut data = String::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if !name.is_empty() {
            events.push((name, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    events
}

#[tokio::test]
async fn ollama_protocol_streaming_and_not_with_real_counts() {
    let url = upstream(Mode::Good).await;
    let s = Server::start(|d| models(d, &url));
    // Not streaming: Ollama's own counts settle usage (11 prompt, 3 output), not the estimates.
    let (status, r) = s
        .generate(body("user_vip_01", "fake-ollama", "hi", 3))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["message"], "Hello from a");
    assert_eq!(
        (
            r["estimated_input_tokens"].as_u64(),
            r["estimated_output_tokens"].as_u64()
        ),
        (Some(11), Some(3))
    );
    // 11 in @ 1 EUR/1k + 3 out @ 2 EUR/1k = 0.017 EUR.
    assert!(
        (r["estimated_cost_eur"].as_f64().unwrap() - 0.017).abs() < 1e-12,
        "{r}"
    );
    let u = s.get("/usage/summary").await.1;
    assert_eq!(
        (&u["total_input_tokens"], &u["total_output_tokens"]),
        (&json!(11), &json!(3))
    );

    // Streaming generate and chat: token events, then done with the counts.
    for model in ["fake-ollama", "fake-ollama-chat"] {
        let mut b = body("user_vip_01", model, "hi", 64);
        b["stream"] = true.into();
        let events = sse(&s, b).await;
        let tokens: String = events
            .iter()
            .filter(|(n, _)| n == "token")
            .map(|(_, d)| d["text"].as_str().unwrap())
            .collect();
        assert_eq!(tokens, "Hello from a fake Ollama", "{model}: {events:?}");
        let (name, done) = events.last().unwrap();
        assert_eq!(name, "done", "{events:?}");
        assert_eq!(
            (
                done["estimated_input_tokens"].as_u64(),
                done["estimated_output_tokens"].as_u64()
            ),
            (Some(11), Some(5))
        );
    }
    // Ollama's error body is passed on: 502 naming backend, model and cause.
    let (status, r) = s
        .generate(body("user_vip_01", "fake-ollama-missing", "hi", 8))
        .await;
    assert_eq!(status, 502, "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("ollama")
            && detail.contains("fake-ollama-missing")
            && detail.contains("not found"),
        "{detail}"
    );
}

#[tokio::test]
async fn upstream_down_slow_or_garbage_gives_documented_errors_and_the_gateway_keeps_serving() {
    let slow = upstream(Mode::Slow).await;
    let garbage = upstream(Mode::Garbage).await;
    let truncated = upstream(Mode::Truncated).await;
    let s = Server::start(|d| {
        models(d, &slow);
        let text = std::fs::read_to_string(d.join("models.yaml")).unwrap();
        let text = text
            + &format!(
                "\n  garbage-ollama:\n    backend: \"ollama\"\n    enabled: true\n    ollama_base_url: \"{garbage}\"\n    max_output_tokens: 64\n\n  garbage-openai:\n    backend: \"openai\"\n    enabled: true\n    base_url: \"{garbage}\"\n    max_output_tokens: 64\n\n  truncated-ollama:\n    backend: \"ollama\"\n    enabled: true\n    ollama_base_url: \"{truncated}\"\n    max_output_tokens: 64\n"
            );
        std::fs::write(d.join("models.yaml"), text).unwrap();
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
    });
    let cases = [
        ("dead-openai", false, 502, "unreachable"),
        ("fake-ollama", false, 504, "did not answer within 1 s"),
        ("fake-openai", false, 504, "did not answer within 1 s"),
        ("garbage-ollama", false, 502, "bad reply"),
        ("garbage-openai", false, 502, "bad reply"),
        ("garbage-openai", true, 502, "malformed stream event"),
        (
            "truncated-ollama",
            true,
            502,
            "without a final `done` chunk",
        ),
    ];
    for (model, stream, status, cause) in cases {
        let mut b = body("user_vip_01", model, "hi", 8);
        if stream {
            b["stream"] = true.into();
            let events = sse(&s, b).await;
            let (name, e) = events.last().unwrap();
            assert_eq!(
                (name.as_str(), e["status"].as_u64()),
                ("error", Some(status)),
                "{model}: {events:?}"
            );
            assert!(
                e["detail"].as_str().unwrap().contains(cause),
                "{model}: {e}"
            );
        } else {
            let (got, r) = s.generate(b).await;
            assert_eq!(u64::from(got), status, "{model}: {r}");
            let detail = r["detail"].as_str().unwrap();
            assert!(
                detail.contains(model) && detail.contains(cause),
                "{model}: {detail}"
            );
            let rec = s
                .wait_terminal(r["request_id"].as_str().unwrap(), Duration::from_secs(5))
                .await;
            assert_eq!(rec["status"], "failed", "{model}");
        }
        // The gateway keeps serving.
        assert_eq!(
            s.generate(body("user_vip_01", "simulated-small", "still here", 8))
                .await
                .0,
            200
        );
    }
    let u = s.get("/usage/summary").await.1;
    assert_eq!(
        u["records_by_status"]["failed"], 7,
        "streamed failures are recorded too: {u}"
    );
}
