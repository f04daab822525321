//! Hot swap against the real binary: swaps under continuous load through the
//! admin API and through file writes, hostile candidates refused or
//! contained, state kept across a swap, and the admin API's authentication.

mod common;

use common::{ADMIN_TOKEN, Server, body, config_copy, edit};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn components() -> PathBuf {
    PathBuf::from(tollgate::builtin::COMPONENTS_DIR)
}

fn component(name: &str) -> Vec<u8> {
    std::fs::read(components().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Zero-latency models, generous limits, and a degradation slot whose
/// variants use their own built-in levels (no settings file).
fn load_ready(d: &Path) {
    edit(
        d,
        "models.yaml",
        "average_latency_seconds: 0.5",
        "average_latency_seconds: 0.0",
    );
    edit(
        d,
        "limits.yaml",
        "requests_per_minute: 300",
        "requests_per_minute: 1000000",
    );
    edit(
        d,
        "limits.yaml",
        "tokens_per_minute: 500000",
        "tokens_per_minute: 1000000000",
    );
    edit(
        d,
        "policies.yaml",
        "    settings_file: degradation.yaml\n",
        "    settings: {}\n",
    );
}

fn degradation_version(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let v = headers.get("x-tollgate-policies")?.to_str().ok()?;
    let found: Vec<_> = v
        .split(", ")
        .filter(|p| p.starts_with("degradation="))
        .collect();
    assert_eq!(found.len(), 1, "exactly one degradation version: {v}");
    Some(found[0].trim_start_matches("degradation=").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_load_lose_nothing() {
    let s = Arc::new(Server::start(load_ready));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, bad) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let seen: Arc<parking_lot::Mutex<Vec<(Instant, String)>>> = Default::default();
    // Open-loop load: 32 workers, each paced to keep the total at >= 500 requests/s.
    let mut load = Vec::new();
    for w in 0..32 {
        let (s, stop, ok, bad, seen) = (
            s.clone(),
            stop.clone(),
            ok.clone(),
            bad.clone(),
            seen.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut i = 0u64;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                next += Duration::from_millis(50); // 20/s per worker, 640/s in all
                let b = body("user_vip_01", "simulated-small", &format!("w{w} r{i}"), 8);
                let r = s.client.post(s.url("/generate")).json(&b).send().await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let v = degradation_version(r.headers()).expect("version header");
                        seen.lock().push((Instant::now(), v));
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        eprintln!(
                            "status {}: {}",
                            r.status(),
                            r.text().await.unwrap_or_default()
                        );
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("request error: {e}");
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
                tokio::time::sleep_until(next.into()).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let variants = ["degradation-strict", "degradation-lenient"];
    let mut api_latencies = Vec::new();
    for n in 0..50 {
        let variant = variants[n % 2];
        let label = format!("{variant}@0.1.0");
        if n % 2 == 0 {
            let r = s
                .admin(Method::PUT, "/admin/policies/degradation")
                .header("content-type", "application/wasm")
                .body(component(&format!("{variant}.wasm")))
                .send()
                .await
                .unwrap();
            let returned = Instant::now();
            assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
            // The new version answers within 100 ms of the API call returning.
            let (_, _, h) = s
                .generate_raw(body("user_vip_01", "simulated-small", "probe", 8).to_string())
                .await;
            let answered = returned.elapsed();
            assert_eq!(degradation_version(&h).as_deref(), Some(label.as_str()));
            api_latencies.push(answered);
        } else {
            let path = s.dir.path().join("policies.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let line = lines
                .iter_mut()
                .find(|l| l.trim_start().starts_with("component: builtin:degradation"))
                .unwrap();
            *line = format!("    component: builtin:{variant}");
            lines.push(format!("# swap {n}"));
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            // Wait until the reload took effect.
            let until = Instant::now() + Duration::from_secs(5);
            loop {
                let (_, _, h) = s
                    .generate_raw(body("user_vip_01", "simulated-small", "probe", 8).to_string())
                    .await;
                if degradation_version(&h).as_deref() == Some(label.as_str()) {
                    break;
                }
                assert!(Instant::now() < until, "file swap {n} did not take effect");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let swapping = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    let (ok, bad) = (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed));
    let seconds = swapping.as_secs_f64() + 0.6;
    let rate = ok as f64 / seconds;
    api_latencies.sort();
    eprintln!(
        "hot swap: 50 swaps in {swapping:?}; {ok} ok, {bad} failed, {rate:.0} requests/s; new version answered after API return: p50 {:?}, max {:?}",
        api_latencies[api_latencies.len() / 2],
        api_latencies.last().unwrap()
    );
    assert_eq!(bad, 0, "no failed request and no 5xx");
    assert!(
        rate >= 500.0,
        "load kept at >= 500 requests/s, got {rate:.0}"
    );
    assert!(
        *api_latencies.last().unwrap() < Duration::from_millis(100),
        "{api_latencies:?}"
    );
    let versions: std::collections::BTreeSet<_> =
        seen.lock().iter().map(|(_, v)| v.clone()).collect();
    assert!(
        versions.contains("degradation-strict@0.1.0")
            && versions.contains("degradation-lenient@0.1.0"),
        "{versions:?}"
    );
}

#[tokio::test]
async fn hostile_candidates_are_refused_or_contained() {
    let s = Server::start(load_ready);
    let put = |bytes: Vec<u8>| {
        s.admin(Method::PUT, "/admin/policies/degradation")
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"definitely not wasm".to_vec(),
            "not a WebAssembly component",
        ),
        (
            "core module",
            component("configure-error.core.wasm"),
            "core WebAssembly module",
        ),
        (
            "wrong world",
            component("wrong-world.wasm"),
            "does not match the tollgate:policy/policy@0.1.0 world",
        ),
        (
            "WASI importer",
            component("wasi-importer.wasm"),
            "imports `wasi:cli/environment@0.2.0`",
        ),
        (
            "configure error",
            component("configure-error.wasm"),
            "refused its settings",
        ),
        (
            "infinite loop",
            component("infinite-loop.wasm"),
            "ran past its limit",
        ),
        ("memory bomb", component("memory-hog.wasm"), "trapped"),
    ];
    for (name, bytes, expected) in cases {
        let r = put(bytes).await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{name}: {v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains(expected),
            "{name}: expected {expected:?} in {detail}"
        );
        assert!(
            detail.contains("keeps serving degradation@0.1.0"),
            "{name}: {detail}"
        );
        // The server answers throughout, on the old version.
        let (status, _, h) = s
            .generate_raw(body("user_vip_01", "simulated-small", "still here", 8).to_string())
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            degradation_version(&h).as_deref(),
            Some("degradation@0.1.0")
        );
    }
    // A policy that traps only on some requests passes the probe; its traps are
    // contained by the slot's failure mode (fail_open) and counted.
    let r = put(component("trap-on-call.wasm")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    for _ in 0..3 {
        let (status, v) = s
            .generate(body("user_vip_01", "simulated-small", "boom", 13))
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let r = s
        .admin(Method::GET, "/admin/policies")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let slot = r["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slot"] == "degradation")
        .unwrap()
        .clone();
    assert_eq!(slot["traps"], 3, "{slot}");
    for key in [
        "name",
        "version",
        "sha256",
        "loaded_at",
        "calls",
        "timeouts",
        "call_p50_us",
        "call_p99_us",
        "mean_fuel_per_call",
    ] {
        assert!(slot.get(key).is_some(), "missing {key}");
    }
    // Roll back to the default policy.
    let r = s
        .admin(Method::POST, "/admin/policies/degradation/rollback")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, _, h) = s
        .generate_raw(body("user_vip_01", "simulated-small", "back", 8).to_string())
        .await;
    assert_eq!(
        degradation_version(&h).as_deref(),
        Some("degradation@0.1.0")
    );
}

#[tokio::test]
async fn windows_and_reservations_survive_a_swap() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
    });
    for i in 0..60 {
        let (status, _) = s
            .generate(body(
                "user_standard_01",
                "simulated-small",
                &format!("r{i}"),
                8,
            ))
            .await;
        assert_eq!(status, 200);
    }
    let pools = |v: &Value| v["pools"].clone();
    let before = s
        .admin(Method::GET, "/admin/policies")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    // Swap both stateful slots for fresh copies of the same components (new instances, same state).
    for (slot, file) in [("rate_limit", "rate-limit.wasm"), ("quota", "quota.wasm")] {
        let r = s
            .admin(Method::PUT, &format!("/admin/policies/{slot}"))
            .header("content-type", "application/json")
            .body(json!({ "path": components().join(file) }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    }
    let after = s
        .admin(Method::GET, "/admin/policies")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        pools(&before),
        pools(&after),
        "quota pools unchanged by the swap"
    );
    assert!(pools(&after).as_array().unwrap().iter().any(|p| {
        p["pool"]
            .as_str()
            .unwrap()
            .starts_with("tokens:standard_project")
    }));
    let (status, v) = s
        .generate(body("user_standard_01", "simulated-small", "61st", 8))
        .await;
    assert_eq!(
        (status, v["detail"].as_str()),
        (429, Some("rate_limited")),
        "the window survived the swap"
    );
}

#[tokio::test]
async fn the_admin_api_is_authenticated() {
    let s = Server::start(|_| {});
    let r = s.client.get(s.url("/admin/policies")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .client
        .get(s.url("/admin/policies"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = s
        .client
        .get(s.url("/admin/policies"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .admin(Method::PUT, "/admin/policies/nope")
        .body(component("cost.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = s
        .admin(Method::POST, "/admin/policies/cost/rollback")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);

    let closed = Server::start_with(config_copy(), None);
    let r = closed
        .client
        .get(closed.url("/admin/policies"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let detail = r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("TOLLGATE_ADMIN_TOKEN"), "{detail}");
}

#[tokio::test]
async fn an_invalid_config_edit_is_refused_and_the_old_config_keeps_serving() {
    let s = Server::start(|d| {
        edit(
            d,
            "models.yaml",
            "average_latency_seconds: 0.5",
            "average_latency_seconds: 0.0",
        );
    });
    // Break limits.yaml: the reload is refused, requests keep working.
    edit(
        s.dir.path(),
        "limits.yaml",
        "max_active_requests: 50",
        "max_active_requests: -3",
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        s.generate(body("user_standard_01", "simulated-small", "x", 8))
            .await
            .0,
        200
    );
    assert_eq!(s.get("/queue/status").await.1["max_active_requests"], 50);
    // A valid edit is picked up.
    edit(
        s.dir.path(),
        "limits.yaml",
        "max_active_requests: -3",
        "max_active_requests: 7",
    );
    let until = Instant::now() + Duration::from_secs(5);
    while s.get("/queue/status").await.1["max_active_requests"] != 7 {
        assert!(Instant::now() < until, "valid edit not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
