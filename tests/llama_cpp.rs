//! Tollgate → `openai` backend → a real llama.cpp server (xllamacpp) serving
//! the real Gemma 3 270M model: streaming and not, real token counts in
//! accounting, first token before the last, and cancellation on disconnect.

mod common;

use common::{Server, body, llm};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn with_llama(url: &str) -> impl FnOnce(&std::path::Path) + '_ {
    move |d| {
        let path = d.join("models.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, text + &llm::models_yaml(url)).unwrap();
    }
}

#[tokio::test]
async fn real_llama_cpp_through_the_gateway() {
    let llama = llm::start(4);
    let s = Server::start(with_llama(&llama.url));

    // Not streaming: llama.cpp's own usage settles the request.
    let prompt = "def fibonacci(n):";
    let direct: Value = s
        .client
        .post(format!("{}/v1/completions", llama.url))
        .json(&json!({"prompt": prompt, "max_tokens": 16}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let real_prompt_tokens = direct["usage"]["prompt_tokens"].as_u64().unwrap();
    let (status, r) = s
        .generate(body("user_vip_01", "gemma-270m", prompt, 16))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["backend_name"], "openai");
    assert!(!r["message"].as_str().unwrap().is_empty());
    assert_eq!(
        r["estimated_input_tokens"].as_u64(),
        Some(real_prompt_tokens),
        "the server's count, not the estimate"
    );
    let out = r["estimated_output_tokens"].as_u64().unwrap();
    assert!(out > 0 && out <= 16);
    let u = s.get("/usage/summary").await.1;
    assert_eq!(
        (
            u["total_input_tokens"].as_u64(),
            u["total_output_tokens"].as_u64()
        ),
        (Some(real_prompt_tokens), Some(out))
    );

    // Stop sequences reach the server.
    let mut b = body(
        "user_vip_01",
        "gemma-270m",
        "List three colors: red, green,",
        48,
    );
    b["stop"] = json!([","]);
    let (status, r) = s.generate(b).await;
    assert_eq!(status, 200, "{r}");
    assert!(
        !r["message"].as_str().unwrap().contains(','),
        "stopped at the first comma: {r}"
    );

    // Chat completions work too.
    let (status, r) = s
        .generate(body("user_vip_01", "gemma-270m-chat", "Say hello.", 8))
        .await;
    assert_eq!(status, 200, "{r}");

    // Streaming: the first token event arrives well before the last one.
    let mut b = body("user_vip_01", "gemma-270m", "Once upon a time", 64);
    b["stream"] = true.into();
    let started = Instant::now();
    let resp = s
        .client
        .post(s.url("/generate"))
        .json(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let (mut first, mut done, mut text) = (None, None, String::new());
    let mut buf = String::new();
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.contains("event: token") {
                first.get_or_insert(started.elapsed());
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                text.push_str(
                    serde_json::from_str::<Value>(data).unwrap()["text"]
                        .as_str()
                        .unwrap(),
                );
            } else if block.contains("event: done") {
                done = Some((started.elapsed(), block));
            }
        }
    }
    let first = first.expect("token events");
    let (last, block) = done.expect("a done event");
    let data: Value = serde_json::from_str(
        block
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    eprintln!(
        "llama.cpp streaming through tollgate: first token after {first:?}, done after {last:?}, {} tokens",
        data["estimated_output_tokens"]
    );
    assert!(
        first * 2 < last,
        "first token {first:?} must come well before the end {last:?}"
    );
    assert_eq!(data["message"].as_str().unwrap(), text);
    assert!(data["estimated_output_tokens"].as_u64().unwrap() > 8);
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_request() {
    let llama = llm::start(2);
    let s = Server::start(with_llama(&llama.url));
    let mut b = body(
        "user_vip_01",
        "gemma-270m",
        "Write a long story about a lighthouse.",
        400,
    );
    b["stream"] = true.into();
    let resp = s
        .client
        .post(s.url("/generate"))
        .json(&b)
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let mut stream = resp.bytes_stream();
    let mut seen = 0;
    while let Some(chunk) = stream.next().await {
        seen += String::from_utf8_lossy(&chunk.unwrap())
            .matches("event: token")
            .count();
        if seen >= 3 {
            break;
        }
    }
    drop(stream); // the client goes away mid-stream
    let rec = s.wait_terminal(&id, Duration::from_secs(30)).await;
    assert_eq!(rec["status"], "cancelled", "{rec}");
    let recent = s.get("/usage/recent?limit=1").await.1;
    assert_eq!(recent[0]["status"], "cancelled");
    let out = recent[0]["output_tokens"].as_u64().unwrap();
    assert!(
        (3..400).contains(&out),
        "settled the tokens generated before the disconnect: {out}"
    );
}
