//! Test harness: starts the real `tollgate serve` binary on a free port with a
//! copy of `config/` (edited per test) and talks HTTP to it.

#![allow(dead_code)]

pub mod llm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The admin token test servers start with.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running `tollgate serve`.
pub struct Server {
    pub base: String,
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

/// A copy of the shipped config directory.
pub fn config_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Replaces `from` with `to` in a config file (the text must be there).
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&path, text.replace(from, to)).unwrap();
}

impl Server {
    /// Starts with the shipped config, after `setup` edited the copy.
    pub fn start(setup: impl FnOnce(&Path)) -> Self {
        let dir = config_copy();
        setup(dir.path());
        Self::start_in(dir)
    }

    /// Starts on an already prepared config directory, with admin token `ADMIN_TOKEN`.
    pub fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_with(dir, Some(ADMIN_TOKEN))
    }

    /// Starts with the given admin token (`None`: admin API disabled).
    pub fn start_with(dir: tempfile::TempDir, admin_token: Option<&str>) -> Self {
        Self::start_with_args(dir, admin_token, &[])
    }

    /// Starts with the given admin token and extra `serve` arguments.
    pub fn start_with_args(
        dir: tempfile::TempDir,
        admin_token: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        match admin_token {
            Some(t) => cmd.env("TOLLGATE_ADMIN_TOKEN", t),
            None => cmd.env_remove("TOLLGATE_ADMIN_TOKEN"),
        };
        let mut child = cmd
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--shutdown-grace-seconds",
                "10",
                "--config",
            ])
            .arg(dir.path())
            .args(extra)
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tollgate");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("tollgate listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        Self {
            base,
            child,
            dir,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /generate with a raw body; returns (status, json, headers).
    pub async fn generate_raw(
        &self,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let r = self
            .client
            .post(self.url("/generate"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text:?}"));
        (status, json, headers)
    }

    /// POST /generate with a JSON body.
    pub async fn generate(&self, body: Value) -> (u16, Value) {
        let (s, j, _) = self.generate_raw(body.to_string()).await;
        (s, j)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        let r = self.client.post(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Polls /requests/{id} until it reaches a terminal status.
    pub async fn wait_terminal(&self, id: &str, timeout: Duration) -> Value {
        let until = Instant::now() + timeout;
        loop {
            let (_, r) = self.get(&format!("/requests/{id}")).await;
            let s = r["status"].as_str().unwrap_or("");
            if matches!(s, "completed" | "failed" | "timed_out" | "rejected")
                || Instant::now() > until
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// An admin request with the test token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A body for user `user` of its project.
pub fn body(user: &str, model: &str, prompt: &str, max_tokens: i64) -> Value {
    let project = match user {
        "user_standard_01" => "standard_project",
        "user_vip_01" | "admin_01" => "vip_project",
        "user_batch_01" => "batch_project",
        _ => "standard_project",
    };
    let mut b = serde_json::json!({"user_id": user, "project_id": project, "model": model, "prompt": prompt, "max_tokens": max_tokens});
    if user == "user_batch_01" {
        b["request_type"] = "batch".into();
    }
    b
}

/// Lifecycle statuses of a `/requests/{id}` record.
pub fn lifecycle(record: &Value) -> Vec<String> {
    record["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect()
}
