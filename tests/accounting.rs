//! Usage accounting against the real binary and a real SQLite file: totals of
//! a known sequence, a quota that survives a restart, and no answered request
//! lost to a `kill -9`.

mod common;

use common::{Server, body, config_copy, edit};
use serde_json::{Value, json};
use std::time::Duration;

fn db_rows(server_dir: &std::path::Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(server_dir.join("data/usage.db")).unwrap();
    let mut stmt = conn
        .prepare("SELECT request_id, status FROM usage_records")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn usage_totals_match_a_known_sequence() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 2.0",
            "average_latency_seconds: 0.0",
        );
    });
    s.generate(body(
        "user_standard_01",
        "simulated-small",
        "Hello from the simulator",
        64,
    ))
    .await; // 6 + 64, 13,400 nano
    s.generate(body(
        "user_vip_01",
        "simulated-large",
        "Hello from a VIP user",
        64,
    ))
    .await; // 5 + 64, 66,500 nano
    s.generate(body(
        "user_batch_01",
        "simulated-small",
        "batch job text",
        32,
    ))
    .await; // 3 + 32, 6,700 nano
    s.generate(body("missing_user", "simulated-small", "x", 10))
        .await; // rejected: no usage
    s.generate(body("user_standard_01", "ollama-gemma4", "x", 10))
        .await; // rejected: no usage
    let (status, u) = s.get("/usage/summary").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            &u["total_records"],
            &u["total_input_tokens"],
            &u["total_output_tokens"],
            &u["total_tokens"]
        ),
        (&json!(5), &json!(14), &json!(160), &json!(174)),
        "{u}"
    );
    assert!(
        (u["total_estimated_cost_eur"].as_f64().unwrap() - 0.0000866).abs() < 1e-12,
        "{u}"
    );
    assert_eq!(
        u["records_by_status"],
        json!({"completed": 3, "rejected": 2})
    );
    assert_eq!(u["records_by_backend"], json!({"simulated": 3}));
    assert_eq!(u["totals_by_model"]["simulated-large"]["total_tokens"], 69);
    let (_, p) = s.get("/usage/project/vip_project").await;
    assert_eq!(
        (&p["total_records"], &p["total_tokens"]),
        (&json!(1), &json!(69))
    );
    let (_, p) = s.get("/usage/user/nobody_at_all").await;
    assert_eq!(
        (&p["total_records"], &p["records_by_status"]),
        (&json!(0), &json!({}))
    );
    // /usage/recent: newest first, bounded limit.
    let (_, recent) = s.get("/usage/recent?limit=2").await;
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0]["error_message"], "model_disabled");
    for bad in ["0", "1001", "-1", "abc"] {
        let (status, r) = s.get(&format!("/usage/recent?limit={bad}")).await;
        assert_eq!(status, 422, "limit={bad}");
        assert_eq!(r["detail"][0]["loc"], json!(["query", "limit"]));
    }
}

#[tokio::test]
async fn a_quota_survives_a_restart() {
    let dir = config_copy();
    edit(
        dir.path(),
        "projects.yaml",
        "monthly_token_quota: 1000000",
        "monthly_token_quota: 1000",
    );
    edit(
        dir.path(),
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.0",
    );
    // Each request: 6 prompt + 94 output = 100 tokens.
    let req = || {
        body(
            "user_standard_01",
            "simulated-small",
            "Hello from the simulator",
            94,
        )
    };
    let s = Server::start_in(dir);
    for i in 0..9 {
        let (status, r) = s.generate(req()).await;
        assert_eq!(status, 200, "request {i}: {r}");
    }
    // Stop it hard: the quota must come back from SQLite, not from memory.
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);

    let s = Server::start_in(dir);
    let (status, r) = s.generate(req()).await;
    assert_eq!(status, 200, "the 10th request fits exactly: {r}");
    let (status, r) = s.generate(req()).await;
    assert_eq!(
        (status, r["detail"].as_str()),
        (429, Some("quota_exceeded")),
        "{r}"
    );
}

#[tokio::test]
async fn kill_9_during_a_burst_loses_no_answered_request() {
    let dir = config_copy();
    edit(
        dir.path(),
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.02",
    );
    edit(
        dir.path(),
        "limits.yaml",
        "max_active_requests: 50",
        "max_active_requests: 8",
    );
    let s = Server::start_in(dir);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let (client, url, tx) = (s.client.clone(), s.url("/generate"), tx.clone());
        tasks.push(tokio::spawn(async move {
            let b = body("user_vip_01", "simulated-small", &format!("burst {i}"), 8);
            if let Ok(r) = client.post(url).json(&b).send().await
                && let Ok(v) = r.json::<Value>().await
                && let Some(id) = v["request_id"].as_str()
            {
                let status = v["status"].as_str().unwrap_or("rejected").to_owned();
                let _ = tx.send((id.to_owned(), status));
            }
        }));
    }
    drop(tx);
    // Kill while the burst is in flight.
    let mut answered = Vec::new();
    while answered.len() < 150 {
        answered.push(rx.recv().await.expect("answers keep coming"));
    }
    let mut s = s;
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
        answered.push(a);
    }
    for t in tasks {
        let _ = t.await;
    }
    let rows: std::collections::HashMap<String, String> =
        db_rows(s.dir.path()).into_iter().collect();
    let mut missing = Vec::new();
    for (id, answered_status) in &answered {
        match rows.get(id) {
            None => missing.push(id.clone()),
            Some(row_status) => {
                // A queued answer may have run (or been interrupted) since; a final answer is final.
                if answered_status != "queued" {
                    assert_eq!(row_status, answered_status, "{id}");
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} answered request(s) have no row: {missing:?}",
        missing.len()
    );
    assert!(answered.len() >= 150);

    // The next start closes what was left open.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Server::start_in(dir);
    let open = db_rows(s.dir.path())
        .into_iter()
        .filter(|(_, st)| st == "queued" || st == "processing")
        .count();
    assert_eq!(
        open, 0,
        "rows left open by the killed run are closed at start"
    );
}

#[tokio::test]
async fn requests_evicted_from_memory_are_answered_from_the_database() {
    let dir = config_copy();
    edit(
        dir.path(),
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.0",
    );
    let s = Server::start_with_args(
        dir,
        Some(common::ADMIN_TOKEN),
        &["--registry-capacity", "3"],
    );
    let mut ids = Vec::new();
    for i in 0..6 {
        let (_, r) = s
            .generate(body(
                "user_standard_01",
                "simulated-small",
                &format!("r{i}"),
                8,
            ))
            .await;
        ids.push(r["request_id"].as_str().unwrap().to_owned());
    }
    let (_, oldest) = s.get(&format!("/requests/{}", ids[0])).await;
    assert_eq!(
        (&oldest["status"], &oldest["source"]),
        (&json!("completed"), &json!("usage_database")),
        "{oldest}"
    );
    assert_eq!(oldest["estimated_output_tokens"], 8);
    let (_, newest) = s.get(&format!("/requests/{}", ids[5])).await;
    assert!(
        newest.get("lifecycle").is_some(),
        "recent requests come from memory: {newest}"
    );
    let (_, unknown) = s.get("/requests/no-such-id").await;
    assert_eq!(unknown["status"], "not_found");
}
