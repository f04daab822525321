//! The serving path against the real `tollgate serve` binary over HTTP: the
//! seed's outcome table (SEED-SPEC §4.3) with its quirks fixed, admission and
//! the queue, degradation, metrics, malformed bodies, graceful shutdown.

mod common;

use common::{Server, body, edit, lifecycle};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Fast simulated models: small 0.05 s, large 1.0 s.
fn fast(dir: &std::path::Path) {
    edit(
        dir,
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.05",
    );
    edit(
        dir,
        "models.yaml",
        "average_latency_seconds: 2.0",
        "average_latency_seconds: 1.0",
    );
}

/// Request ids are UUIDv7: time-ordered, so the usage database's
/// request_id index is appended to rather than written at random pages.
#[tokio::test]
async fn request_ids_are_time_ordered_uuids() {
    let s = Server::start(fast);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, r) = s
            .generate(body("user_vip_01", "simulated-small", "Hello", 8))
            .await;
        assert_eq!(status, 200, "{r}");
        let id = r["request_id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "7", "not a version-7 UUID: {id}");
        ids.push(id);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids in creation order sort in creation order");
}

#[tokio::test]
async fn seed_outcome_rows() {
    let s = Server::start(fast);
    // Completed inline: the seed's fields and numbers.
    let (status, r) = s
        .generate(body(
            "user_standard_01",
            "simulated-small",
            "Hello from the simulator",
            64,
        ))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "completed");
    assert_eq!(
        r["message"],
        "Simulated response for model 'simulated-small' with 64 estimated output tokens."
    );
    assert_eq!(
        (
            r["estimated_input_tokens"].as_u64(),
            r["estimated_output_tokens"].as_u64()
        ),
        (Some(6), Some(64))
    );
    assert_eq!(r["estimated_cost_eur"].as_f64(), Some(0.0000134));
    for key in [
        "request_id",
        "status",
        "message",
        "estimated_input_tokens",
        "estimated_output_tokens",
        "estimated_cost_eur",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }

    // Identity refusals: the seed's statuses and details.
    let cases = [
        (
            json!({"user_id":"missing_user","project_id":"standard_project","model":"simulated-small","prompt":"x"}),
            403,
            "unknown_user",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"vip_project","model":"simulated-small","prompt":"x"}),
            403,
            "project_mismatch",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"missing_project","model":"simulated-small","prompt":"x"}),
            400,
            "unknown_project",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"standard_project","model":"missing-model","prompt":"x"}),
            404,
            "unknown_model",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"standard_project","model":"ollama-gemma4","prompt":"x"}),
            400,
            "model_disabled",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"standard_project","model":"ollama-llama","prompt":"x"}),
            400,
            "model_disabled",
        ),
    ];
    for (b, code, detail) in cases {
        let (status, r) = s.generate(b.clone()).await;
        assert_eq!((status, r["detail"].as_str()), (code, Some(detail)), "{b}");
        // Quirk fixed: rejected requests are known to /requests/{id}.
        let (_, rec) = s
            .get(&format!("/requests/{}", r["request_id"].as_str().unwrap()))
            .await;
        assert_eq!(rec["status"], "rejected");
    }

    // The seed's default max_tokens, the cap (said in the response), 12.0 as 12.
    let (_, r) = s.generate(json!({"user_id":"user_standard_01","project_id":"standard_project","model":"simulated-small","prompt":"default max tokens"})).await;
    assert_eq!(r["estimated_output_tokens"], 256);
    let (status, r) = s
        .generate(body(
            "user_standard_01",
            "simulated-small",
            "huge max tokens request",
            1_000_000,
        ))
        .await;
    assert_eq!(
        (status, r["estimated_output_tokens"].as_u64()),
        (200, Some(512))
    );
    assert!(
        r["adjustments"][0]
            .as_str()
            .unwrap()
            .contains("capped from 1000000 to 512"),
        "{r}"
    );
    let (status, r) = s.generate(json!({"user_id":"user_standard_01","project_id":"standard_project","model":"simulated-small","prompt":"x","max_tokens":12.0})).await;
    assert_eq!(
        (status, r["estimated_output_tokens"].as_u64()),
        (200, Some(12))
    );
}

#[tokio::test]
async fn seed_quirks_are_fixed() {
    let s = Server::start(|d| {
        fast(d);
        // An Ollama model that is enabled but has no server: the seed answered a plain-text 500.
        edit(
            d,
            "models.yaml",
            "    enabled: false\n    ollama_model: \"qwen2.5:14b-instruct\"",
            "    enabled: true\n    ollama_model: \"qwen2.5:14b-instruct\"",
        );
        edit(
            d,
            "models.yaml",
            "http://localhost:11434\"\n    max_input_tokens: 8192\n    max_output_tokens: 1024",
            "http://127.0.0.1:9\"\n    max_input_tokens: 8192\n    max_output_tokens: 1024",
        );
    });
    // Negative, zero max_tokens and free-text request types are refused (the seed accepted them).
    for (b, field) in [
        (
            body("user_standard_01", "simulated-small", "negative tokens", -5),
            "max_tokens",
        ),
        (
            body("user_standard_01", "simulated-small", "zero tokens", 0),
            "max_tokens",
        ),
        (
            json!({"user_id":"user_standard_01","project_id":"standard_project","model":"simulated-small","prompt":"x","request_type":"weird"}),
            "request_type",
        ),
    ] {
        let (status, r) = s.generate(b).await;
        assert_eq!(status, 422);
        assert_eq!(r["detail"][0]["loc"], json!(["body", field]));
    }
    // A prompt longer than max_input_tokens (4096 tokens for simulated-small).
    let long = "word ".repeat(4100);
    let (status, r) = s
        .generate(body("user_standard_01", "simulated-small", &long, 16))
        .await;
    assert_eq!(status, 422);
    assert!(
        r["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("accepts at most 4096"),
        "{r}"
    );

    // Inline requests are known to /requests/{id}, with their lifecycle.
    let (_, r) = s
        .generate(body("user_standard_01", "simulated-small", "hello", 8))
        .await;
    let rec = s
        .wait_terminal(r["request_id"].as_str().unwrap(), Duration::from_secs(5))
        .await;
    assert_eq!(lifecycle(&rec), ["processing", "completed"]);

    // Backend down: JSON 502 naming the backend and the cause, a failed record, and the server keeps serving.
    let (status, r) = s
        .generate(body("user_vip_01", "ollama-llama", "Hello from Ollama", 64))
        .await;
    assert_eq!(status, 502, "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.contains("ollama") && detail.contains("ollama-llama"),
        "{detail}"
    );
    let rec = s
        .wait_terminal(r["request_id"].as_str().unwrap(), Duration::from_secs(5))
        .await;
    assert_eq!(rec["status"], "failed");
    assert_eq!(s.get("/health").await.1["status"], "ok");

    // /queue/status counters survive /metrics/reset (the seed zeroed them).
    let (_, before) = s.get("/queue/status").await;
    assert!(before["completed_requests"].as_u64().unwrap() >= 1);
    s.post("/metrics/reset").await;
    let (_, after) = s.get("/queue/status").await;
    assert_eq!(after["completed_requests"], before["completed_requests"]);
    assert_eq!(s.get("/metrics").await.1["total_requests"], 0);
}

#[tokio::test]
async fn sixty_concurrent_vip_requests_fifty_run_ten_queue_all_complete() {
    let s = Server::start(fast);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let client = s.client.clone();
        let url = s.url("/generate");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&body(
                    "user_vip_01",
                    "simulated-large",
                    &format!("vip {i}"),
                    64,
                ))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
        if i == 49 {
            // Let the first 50 take their slots before the rest arrive.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (_, q) = s.get("/queue/status").await;
            assert_eq!(
                (q["active_requests"].as_u64(), q["queue_size"].as_u64()),
                (Some(50), Some(0)),
                "{q}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, q) = s.get("/queue/status").await;
    assert_eq!(
        (q["active_requests"].as_u64(), q["queue_size"].as_u64()),
        (Some(50), Some(10)),
        "{q}"
    );
    let mut queued = Vec::new();
    let mut completed = 0;
    for t in tasks {
        let (status, r) = t.await.unwrap();
        assert_eq!(status, 200, "{r}");
        match r["status"].as_str().unwrap() {
            "completed" => completed += 1,
            "queued" => {
                assert_eq!(r["message"], "Request queued for background processing");
                queued.push(r["request_id"].as_str().unwrap().to_owned());
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((completed, queued.len()), (50, 10));
    for id in &queued {
        let rec = s.wait_terminal(id, Duration::from_secs(10)).await;
        assert_eq!(
            lifecycle(&rec),
            ["queued", "processing", "completed"],
            "{rec}"
        );
        assert!(
            rec["queue_wait_seconds"].as_f64().unwrap() > 0.5,
            "waited for a slot: {rec}"
        );
    }
    let (_, q) = s.get("/queue/status").await;
    assert_eq!(
        (
            q["completed_requests"].as_u64(),
            q["active_requests"].as_u64()
        ),
        (Some(60), Some(0))
    );
}

#[tokio::test]
async fn degradation_levels_with_one_slot_and_a_queue_of_ten() {
    let s = Server::start(|d| {
        edit(
            d,
            "limits.yaml",
            "max_active_requests: 50",
            "max_active_requests: 1",
        );
        edit(
            d,
            "limits.yaml",
            "max_queue_size: 1000",
            "max_queue_size: 10",
        );
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 20.0",
        );
    });
    let vip = |max| body("user_vip_01", "simulated-large", "hold", max);
    // One running request that holds the only slot, then fill the queue.
    let holder = {
        let (client, url, b) = (s.client.clone(), s.url("/generate"), vip(8));
        tokio::spawn(async move { client.post(url).json(&b).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..6 {
        assert_eq!(s.generate(vip(8)).await.1["status"], "queued");
    }
    // 6 of 10 queued: soft pressure, VIP max_tokens 100 -> 75.
    let (status, r) = s.generate(vip(100)).await;
    assert_eq!(
        (
            status,
            r["status"].as_str(),
            r["estimated_output_tokens"].as_u64()
        ),
        (200, Some("queued"), Some(75))
    );
    assert_eq!(
        s.get("/queue/status").await.1["current_degradation_level"],
        "soft_pressure"
    );
    assert_eq!(s.generate(vip(8)).await.1["status"], "queued");
    // 8 of 10: high pressure, batch shed, VIP 100 -> 50.
    let (status, r) = s
        .generate(body("user_batch_01", "simulated-small", "batch job", 32))
        .await;
    assert_eq!(
        (status, r["detail"].as_str()),
        (
            503,
            Some("Batch requests rejected due to high system pressure")
        )
    );
    let (status, r) = s.generate(vip(100)).await;
    assert_eq!(
        (status, r["estimated_output_tokens"].as_u64()),
        (200, Some(50))
    );
    assert_eq!(s.generate(vip(8)).await.1["status"], "queued");
    // 10 of 10: critical: standard shed, batch shed (with the right level), VIP shrunk then refused by admission.
    let q = s.get("/queue/status").await.1;
    assert_eq!(
        (
            q["current_degradation_level"].as_str(),
            q["queue_usage_ratio"].as_f64()
        ),
        (Some("critical_pressure"), Some(1.0))
    );
    let (status, r) = s
        .generate(body("user_standard_01", "simulated-small", "std", 64))
        .await;
    assert_eq!(
        (status, r["detail"].as_str()),
        (
            503,
            Some("Standard requests rejected due to critical system pressure")
        )
    );
    let (status, r) = s
        .generate(body("user_batch_01", "simulated-small", "batch job", 32))
        .await;
    assert_eq!(
        (status, r["detail"].as_str()),
        (
            503,
            Some("Batch requests rejected due to critical system pressure")
        )
    );
    let (status, r) = s.generate(vip(64)).await;
    assert_eq!(
        (status, r["detail"].as_str()),
        (
            503,
            Some("Request rejected by admission controller: queue_full")
        )
    );
    let m = s.get("/metrics").await.1;
    assert!(m["degraded_requests"].as_u64().unwrap() >= 3, "{m}");
    holder.abort();
}

#[tokio::test]
async fn queued_requests_past_max_queue_wait_end_timed_out() {
    let s = Server::start(|d| {
        edit(
            d,
            "limits.yaml",
            "max_active_requests: 50",
            "max_active_requests: 1",
        );
        edit(
            d,
            "limits.yaml",
            "max_queue_wait_seconds: 30",
            "max_queue_wait_seconds: 0.5",
        );
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 3.0",
        );
    });
    let holder = {
        let (client, url) = (s.client.clone(), s.url("/generate"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&body("user_vip_01", "simulated-large", "hold", 8))
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, r) = s
        .generate(body("user_vip_01", "simulated-small", "waits", 8))
        .await;
    assert_eq!(r["status"], "queued");
    let rec = s
        .wait_terminal(r["request_id"].as_str().unwrap(), Duration::from_secs(5))
        .await;
    assert_eq!(lifecycle(&rec), ["queued", "timed_out"], "{rec}");
    assert_eq!(s.get("/metrics").await.1["timed_out_requests"], 1);
    holder.abort();
}

#[tokio::test]
async fn metrics_after_a_known_sequence_and_reset() {
    let s = Server::start(fast);
    s.generate(body(
        "user_standard_01",
        "simulated-small",
        "Hello from the simulator",
        64,
    ))
    .await; // 6 + 64
    s.generate(body(
        "user_vip_01",
        "simulated-small",
        "Hello from a VIP user",
        10,
    ))
    .await; // 5 + 10
    s.generate(body("missing_user", "simulated-small", "x", 10))
        .await; // rejected
    s.generate(body("user_standard_01", "ollama-gemma4", "x", 10))
        .await; // rejected
    s.generate_raw("not json").await; // 422: not counted, as in the seed
    let (_, m) = s.get("/metrics").await;
    let keys: Vec<_> = m.as_object().unwrap().keys().cloned().collect();
    for key in [
        "total_requests",
        "accepted_requests",
        "queued_requests",
        "rejected_requests",
        "completed_requests",
        "failed_requests",
        "degraded_requests",
        "total_input_tokens",
        "total_output_tokens",
        "total_estimated_cost_eur",
        "average_latency_seconds",
        "p50_latency_seconds",
        "p95_latency_seconds",
        "p99_latency_seconds",
        "average_queue_wait_seconds",
        "requests_by_project",
        "requests_by_user",
        "requests_by_model",
        "requests_by_status",
    ] {
        assert!(keys.contains(&key.to_string()), "missing {key}");
    }
    assert_eq!(
        (
            &m["total_requests"],
            &m["accepted_requests"],
            &m["rejected_requests"],
            &m["completed_requests"],
            &m["failed_requests"]
        ),
        (&json!(4), &json!(2), &json!(2), &json!(2), &json!(0))
    );
    assert_eq!(
        (&m["total_input_tokens"], &m["total_output_tokens"]),
        (&json!(11), &json!(74))
    );
    let cost = m["total_estimated_cost_eur"].as_f64().unwrap();
    assert!((cost - (0.0000134 + 0.0000025)).abs() < 1e-12, "{cost}");
    assert_eq!(
        m["requests_by_user"],
        json!({"user_standard_01": 2, "user_vip_01": 1, "missing_user": 1})
    );
    assert_eq!(m["requests_by_status"]["received"], 4);
    assert!(m["p50_latency_seconds"].as_f64().unwrap() >= 0.05);
    let (status, r) = s.post("/metrics/reset").await;
    assert_eq!(
        (status, r),
        (200, json!({"status": "ok", "message": "Metrics reset"}))
    );
    let (_, m) = s.get("/metrics").await;
    assert_eq!(
        (&m["total_requests"], &m["average_latency_seconds"]),
        (&json!(0), &Value::Null)
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_useful_4xx_never_a_5xx() {
    let s = Server::start(fast);
    let ok = r#"{"user_id":"user_standard_01","project_id":"standard_project","model":"simulated-small","prompt":"x"}"#;
    let with = |k: &str, v: &str| {
        let mut b: Value = serde_json::from_str(ok).unwrap();
        b[k] = serde_json::from_str(v).unwrap();
        b.to_string()
    };
    let without = |k: &str| {
        let mut b: Value = serde_json::from_str(ok).unwrap();
        b.as_object_mut().unwrap().remove(k);
        b.to_string()
    };
    let bodies: Vec<(String, &str)> = vec![
        ("".into(), "body"),
        ("not json".into(), "body"),
        ("{".into(), "body"),
        ("[]".into(), "body"),
        ("42".into(), "body"),
        ("null".into(), "body"),
        ("\"text\"".into(), "body"),
        ("{}".into(), "user_id"),
        (without("prompt"), "prompt"),
        (without("model"), "model"),
        (without("project_id"), "project_id"),
        (with("user_id", "123"), "user_id"),
        (with("user_id", "\"\""), "user_id"),
        (with("prompt", "[\"a\"]"), "prompt"),
        (with("model", "{}"), "model"),
        (with("max_tokens", "\"abc\""), "max_tokens"),
        (with("max_tokens", "-1"), "max_tokens"),
        (with("max_tokens", "0"), "max_tokens"),
        (with("max_tokens", "2.5"), "max_tokens"),
        (with("max_tokens", "true"), "max_tokens"),
        (with("max_tokens", "1e40"), "max_tokens"),
        (with("max_tokens", "99999999999"), "max_tokens"),
        (with("request_type", "\"weird\""), "request_type"),
        (with("request_type", "7"), "request_type"),
        (with("stream", "\"yes\""), "stream"),
        ("{\"user_id\": \"\u{0}\"".into(), "body"),
        (format!("{ok} trailing"), "body"),
    ];
    assert!(bodies.len() >= 20);
    for (b, field) in &bodies {
        let (status, r, _) = s.generate_raw(b.clone()).await;
        assert!((400..500).contains(&status), "{b:?} -> {status} {r}");
        let first = &r["detail"][0];
        let loc = first["loc"].as_array().expect("FastAPI-style loc");
        if *field != "body" {
            assert_eq!(loc[1], *field, "{b:?} -> {r}");
        }
        assert!(!first["msg"].as_str().unwrap().is_empty(), "{b:?}");
    }
    // An oversized body is a JSON 413, not a plain-text one (answered from the
    // Content-Length, before the body is read).
    {
        use std::io::{Read, Write};
        let addr = s.base.trim_start_matches("http://");
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(tcp, "POST /generate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 5 << 20).unwrap();
        let mut writer = tcp.try_clone().unwrap();
        // The server answers once the limit is crossed; it may stop reading then.
        std::thread::spawn(move || {
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..80 {
                if writer.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        // Read until the JSON body is in (the server may keep the connection open).
        let mut answer = String::new();
        let mut buf = [0u8; 4096];
        while !answer.contains("}") {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(
            answer.contains("application/json") && answer.contains("limit"),
            "{answer}"
        );
    }
    // Wrong method and unknown path are JSON too.
    let r = s.client.get(s.url("/generate")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["detail"],
        "Method Not Allowed"
    );
    assert_eq!(s.get("/nope").await, (404, json!({"detail": "Not Found"})));
}

#[tokio::test]
async fn rate_limit_and_response_headers() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
    });
    let mut statuses = Vec::new();
    for i in 0..65 {
        let (status, r, headers) = s
            .generate_raw(
                body("user_standard_01", "simulated-small", &format!("r{i}"), 8).to_string(),
            )
            .await;
        if status == 200 {
            let versions = headers["x-tollgate-policies"].to_str().unwrap();
            assert!(
                versions.contains("rate_limit=rate-limit@0.1.0"),
                "{versions}"
            );
        } else {
            assert_eq!(r["detail"], "rate_limited");
            assert!(headers.contains_key("retry-after"));
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 60);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 1.0",
        );
    });
    let in_flight = {
        let (client, url) = (s.client.clone(), s.url("/generate"));
        tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&body("user_vip_01", "simulated-large", "finish me", 8))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let (status, r) = in_flight.await.unwrap();
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("completed")),
        "{r}"
    );
    let mut s = s;
    let exit = s.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_optional_concurrency_policy_caps_requests_in_flight_per_project() {
    // A new kind of policy in its own slot: no new world, no host code.
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 1.0",
        );
        edit(
            d,
            "policies.yaml",
            "  - slot: quota\n",
            "  - slot: concurrency\n    component: builtin:concurrency\n    failure_mode: fail_closed\n\n  - slot: quota\n",
        );
    });
    // standard_project: max_concurrent_requests 5 (projects.yaml).
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (client, url) = (s.client.clone(), s.url("/generate"));
        tasks.push(tokio::spawn(async move {
            let b = body("user_standard_01", "simulated-large", &format!("c{i}"), 8);
            let r = client.post(url).json(&b).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => ok += 1,
            (429, r) => {
                assert_eq!(r["detail"], "concurrency_limited");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (5, 3));
    // Slots are given back when requests end.
    assert_eq!(
        s.generate(body("user_standard_01", "simulated-small", "after", 8))
            .await
            .0,
        200
    );
}

#[test]
fn bad_serve_flags_are_refused_naming_the_flag() {
    for (flag, value) in [
        ("--registry-capacity", "0"),
        ("--shutdown-grace-seconds", "-1"),
        ("--shutdown-grace-seconds", "abc"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", &format!("{flag}={value}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}={value}: {err}");
    }
}
