//! Sustained rows per second through the usage writer, into a real SQLite
//! file in WAL mode. Two patterns, in one run:
//! 1. fire-and-forget snapshots (`send`), then one acknowledged write;
//! 2. 64 concurrent "requests", each awaiting the commit of its own row
//!    (`write`, what a terminal state does on the request path).
//!
//! Run: `cargo bench --bench accounting_writer`

use std::time::Instant;
use tollgate::accounting::{Accounting, UsageRow};

fn row(i: u64) -> UsageRow {
    UsageRow {
        request_id: format!("00000000-0000-4000-8000-{i:012}"),
        version: 1,
        user_id: "user_standard_01".into(),
        project_id: "standard_project".into(),
        model: "simulated-small".into(),
        backend: Some("simulated".into()),
        request_type: "interactive".into(),
        priority: Some("normal".into()),
        status: "completed".into(),
        decision: "accept".into(),
        degradation_level: None,
        input_tokens: Some(6),
        output_tokens: Some(64),
        cost_nano_eur: Some(13_400),
        estimated_input_tokens: Some(6),
        estimated_output_tokens: Some(64),
        estimated_cost_nano_eur: Some(13_400),
        latency_seconds: Some(0.5),
        queue_wait_seconds: None,
        error_message: None,
        http_status: None,
        policy_versions: Some("degradation=degradation@0.1.0, cost=cost@0.1.0".into()),
        actions: None,
        created_at_ms: 1_796_000_000_000 + i,
        updated_at_ms: 1_796_000_000_000 + i,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (acc, _) = Accounting::open(&dir.path().join("usage.db"), 0).unwrap();
        let n: u64 = 200_000;
        let started = Instant::now();
        for i in 0..n {
            acc.send(vec![row(i)]).await;
        }
        // close() commits every row sent before.
        acc.close().await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "fire-and-forget: {n} rows in {secs:.3} s = {:.0} rows/s",
            n as f64 / secs
        );

        let (acc, _) = Accounting::open(&dir.path().join("usage.db"), 0).unwrap();
        let acc = std::sync::Arc::new(acc);
        let (tasks, per_task) = (64u64, 1_000u64);
        let started = Instant::now();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let acc = acc.clone();
            handles.push(tokio::spawn(async move {
                for j in 0..per_task {
                    acc.write(vec![row(n + t * per_task + j)], vec![])
                        .await
                        .unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let total = tasks * per_task;
        println!(
            "acknowledged, 64 concurrent writers: {total} rows in {secs:.3} s = {:.0} rows/s",
            total as f64 / secs
        );
        acc.close().await;
    });
}
