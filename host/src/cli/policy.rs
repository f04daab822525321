//! `tollgate policy new | build | check`: the workflow for a policy written outside this
//! repository, from nothing to a checked component.
//!
//! - `new NAME --slot SLOT` scaffolds a standalone crate (its own `[workspace]`, the WIT
//!   contract copied into `wit/`, a rule that fits the slot, a unit test).
//! - `build PATH` compiles it for `wasm32-unknown-unknown` and turns the core module into
//!   a component with `wit-component`, as `host/build.rs` does for the built-in policies.
//! - `check FILE --slot SLOT` loads the component through the real runtime (the same
//!   checks and sandbox as `serve`) and runs it on sample requests built from the config.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{Config, FailureMode, Priority, Project, User};
use crate::policy::bindings::tollgate::policy::types::{Changes, RejectKind};
use crate::policy::bindings::{Load, Outcome, Policy, Request, Usage, Verdict};
use crate::policy::component::CallError;
use crate::policy::{LoadedPolicy, PolicyEngine, SlotSpec, StateStore, views};

const TARGET: &str = "wasm32-unknown-unknown";

/// The contract a scaffolded crate builds against (copied into its `wit/`).
const CONTRACT: &str = include_str!("../../../wit/since_v0.1.0/policy.wit");

const CARGO_TOML: &str = r#"[package]
name = "__NAME__"
version = "0.1.0"
edition = "2024"
description = "A Tollgate policy for the __SLOT__ slot"
publish = false

[lib]
# cdylib: the WebAssembly module `tollgate policy build` turns into a component;
# rlib: the native unit tests (`cargo test`).
crate-type = ["cdylib", "rlib"]

[dependencies]
wit-bindgen = { version = "0.63", default-features = false, features = ["macros", "realloc", "std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# Policy components: small and fast.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

# A crate of its own, outside any enclosing workspace.
[workspace]
"#;

const GITIGNORE: &str = "/target\n/*.wasm\n";

/// `(slot, what the rule does, src/lib.rs)`; the last one serves every other slot.
const TEMPLATES: [(&str, &str, &str); 5] = [
    (
        "rate_limit",
        "requests per minute per user, fixed window",
        include_str!("policy/templates/rate_limit.rs"),
    ),
    (
        "quota",
        "tokens per project and 30-day period, reserved then settled",
        include_str!("policy/templates/quota.rs"),
    ),
    (
        "cost",
        "prices the request from the model's prices",
        include_str!("policy/templates/cost.rs"),
    ),
    (
        "degradation",
        "shrinks max_tokens, then sheds batch work, as the queue fills",
        include_str!("policy/templates/degradation.rs"),
    ),
    (
        "",
        "allows everything and counts requests (a skeleton)",
        include_str!("policy/templates/allow.rs"),
    ),
];

/// `tollgate policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Scaffold a standalone policy crate in DIR/NAME.
    New {
        /// The policy's name (crate name and `info().name`), e.g. `my-rate-limit`.
        name: String,
        /// The slot it is written for: rate_limit, quota, cost, degradation, or any other
        /// name (an allow-everything skeleton).
        #[arg(long)]
        slot: String,
        /// Where to create the crate's directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a policy crate into a component: PATH/NAME.wasm.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Load a component through the policy runtime and run it on sample requests.
    Check {
        /// The component file (`.wasm`).
        file: PathBuf,
        /// The slot to check it for; its settings, failure mode and state namespace come
        /// from policies.yaml when the config has this slot.
        #[arg(long)]
        slot: String,
        /// The config directory the sample requests (users, models, limits) come from.
        #[arg(long, default_value = "config")]
        config: PathBuf,
        /// Settings for `configure` as a JSON object (instead of the slot's in policies.yaml).
        #[arg(long)]
        settings: Option<String>,
    },
}

/// Runs a `tollgate policy` subcommand.
pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::New { name, slot, dir } => new(&name, &slot, &dir),
        Command::Build { path } => build(&path).map(|_| ()),
        Command::Check {
            file,
            slot,
            config,
            settings,
        } => check(&file, &slot, &config, settings.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(code)
        }
    }
}

/// Why a subcommand failed: its exit code (2: refused input, 1: failed work) and message.
struct Failure {
    code: u8,
    message: String,
}

fn refused(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------
// new

/// The template for a slot: `(slot it was written for, description, src/lib.rs)`.
fn template(slot: &str) -> (&'static str, &'static str, &'static str) {
    let slot = slot.replace('-', "_");
    TEMPLATES
        .into_iter()
        .find(|(s, _, _)| *s == slot || s.is_empty())
        .expect("the last template serves every slot")
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn new(name: &str, slot: &str, dir: &Path) -> Result<(), Failure> {
    if !valid_name(name) {
        return Err(refused(format!(
            "policy new: `{name}` is not a valid policy name (lowercase letters, digits, `-` and `_`, starting with a letter; e.g. my-rate-limit)"
        )));
    }
    let slot_chars = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if slot.is_empty() || !slot.chars().all(slot_chars) {
        return Err(refused(format!(
            "policy new: --slot `{slot}` is not a slot name (letters, digits, `_` and `-`; e.g. rate_limit)"
        )));
    }
    let root = if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    };
    if root.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(refused(format!(
            "policy new: {} already exists and is not empty (choose another NAME or --dir)",
            root.display()
        )));
    }
    let (template_slot, what, lib) = template(slot);
    let fill = |text: &str| text.replace("__NAME__", name).replace("__SLOT__", slot);
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        (".gitignore", GITIGNORE.to_owned()),
        ("wit/policy.wit", CONTRACT.to_owned()),
        ("src/lib.rs", fill(lib)),
    ];
    for (file, text) in &files {
        let path = root.join(file);
        let written = std::fs::create_dir_all(path.parent().expect("a file in a directory"))
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| failed(format!("policy new: cannot write {}: {e}", path.display())))?;
    }
    let kind = if template_slot.is_empty() {
        format!("a policy for the `{slot}` slot")
    } else {
        format!("a {} policy", template_slot.replace('_', "-"))
    };
    println!("created {} ({kind}: {what})", root.display());
    for (file, _) in &files {
        println!("  {}", root.join(file).display());
    }
    let component = root.join(format!("{name}.wasm"));
    println!();
    println!("next:");
    println!(
        "  (cd {} && cargo test)      # the rule's unit tests, natively",
        root.display()
    );
    println!(
        "  tollgate policy build {}   # -> {}",
        root.display(),
        component.display()
    );
    println!(
        "  tollgate policy check {} --slot {slot}",
        component.display()
    );
    let absolute = std::path::absolute(&component).unwrap_or(component);
    println!("then serve it: in config/policies.yaml (a relative path is relative to config/)");
    println!("  - slot: {slot}");
    println!("    component: {}", absolute.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// build

/// Environment that would break a wasm build made from inside another cargo run
/// (coverage flags, wrappers, a forced target), as in `host/build.rs`.
const SCRUBBED_ENV: [&str; 6] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_LLVM_COV",
];

fn build(path: &Path) -> Result<PathBuf, Failure> {
    let manifest = path.join("Cargo.toml");
    let manifest_text = std::fs::read_to_string(&manifest).map_err(|e| {
        refused(format!(
            "policy build: cannot read {}: {e} (pass the directory of a policy crate, e.g. one made by `tollgate policy new`)",
            manifest.display()
        ))
    })?;
    ensure_target(path)?;
    println!("building {} for {TARGET} (release)", path.display());
    let mut cmd = Process::new("cargo");
    cmd.current_dir(path)
        .args(["build", "--release", "--target", TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg("Cargo.toml")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let output = cmd
        .output()
        .map_err(|e| failed(format!("policy build: cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "policy build: cargo build failed in {} (see its messages above)",
            path.display()
        )));
    }
    let core_path = wasm_artifact(&output.stdout, &manifest).ok_or_else(|| {
        failed(format!(
            "policy build: the build produced no WebAssembly library (is `crate-type = [\"cdylib\", \"rlib\"]` in the [lib] section of {}?)",
            manifest.display()
        ))
    })?;
    let core = std::fs::read(&core_path).map_err(|e| {
        failed(format!(
            "policy build: cannot read {}: {e}",
            core_path.display()
        ))
    })?;
    let component = wit_component::ComponentEncoder::default()
        .module(&core)
        .and_then(|e| e.validate(true).encode())
        .map_err(|e| {
            failed(format!(
                "policy build: {} is not a policy module wit-component can turn into a component: {e:#} (does it call wit_bindgen::generate! and export!?)",
                core_path.display()
            ))
        })?;
    let name = package_name(&manifest_text).unwrap_or_else(|| {
        core_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "policy".into())
    });
    let dest = path.join(format!("{name}.wasm"));
    std::fs::write(&dest, &component).map_err(|e| {
        failed(format!(
            "policy build: cannot write {}: {e}",
            dest.display()
        ))
    })?;
    println!("component: {}", dest.display());
    println!("size:      {} bytes", component.len());
    println!("sha256:    {}", sha256_hex(&component));
    println!();
    println!("next: tollgate policy check {} --slot SLOT", dest.display());
    Ok(dest)
}

/// Makes sure the wasm32 target is installed for the toolchain that builds in `dir`;
/// installs it through rustup when missing (as `host/build.rs` does).
fn ensure_target(dir: &Path) -> Result<(), Failure> {
    let libdir = Process::new("rustc")
        .current_dir(dir)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(Path::is_dir) {
        return Ok(());
    }
    eprintln!("installing the Rust target {TARGET} (rustup target add {TARGET})");
    let added = Process::new("rustup")
        .current_dir(dir)
        .args(["target", "add", TARGET])
        .status();
    if matches!(added, Ok(s) if s.success()) {
        Ok(())
    } else {
        Err(failed(format!(
            "policy build: the Rust target {TARGET} is missing and could not be installed: run `rustup target add {TARGET}`"
        )))
    }
}

/// The `.wasm` file of the cdylib built from `manifest`, from cargo's JSON messages.
fn wasm_artifact(messages: &[u8], manifest: &Path) -> Option<PathBuf> {
    let manifest = manifest.canonicalize().ok();
    let mut found = None;
    for line in String::from_utf8_lossy(messages).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        let ours = msg["manifest_path"]
            .as_str()
            .and_then(|p| Path::new(p).canonicalize().ok())
            == manifest;
        if !(cdylib && ours) {
            continue;
        }
        let wasm = msg["filenames"].as_array().and_then(|files| {
            files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
        });
        if let Some(f) = wasm {
            found = Some(PathBuf::from(f));
        }
    }
    found
}

/// `name` of the `[package]` table of a Cargo.toml.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// check

/// Queue usage ratios the samples are run at.
const QUEUE_USAGE: [f64; 4] = [0.0, 0.6, 0.85, 0.97];
/// The sample prompt (its token estimate is the host's: characters / 4).
const PROMPT: &str =
    "Summarize the attached quarterly report in three short bullet points for the board.";
const MAX_TOKENS: u32 = 256;

/// A sample tenant: a label, the user and its project.
struct Sample<'a> {
    label: &'static str,
    user_id: &'a str,
    user: &'a User,
    project: &'a Project,
}

/// A standard, a VIP and a batch user of the config: the first enabled user whose enabled
/// project has that plan (else that priority).
fn sample_users(config: &Config) -> Vec<Sample<'_>> {
    let mut out = Vec::new();
    for (label, plan, priority) in [
        ("standard", "standard", Priority::Normal),
        ("vip", "vip", Priority::High),
        ("batch", "batch", Priority::Low),
    ] {
        let candidates = || {
            config.users.iter().filter_map(|(id, u)| {
                let p = config.projects.get(&u.project_id)?;
                (u.enabled && p.enabled).then_some((id, u, p))
            })
        };
        let found = candidates()
            .find(|(_, _, p)| p.plan == plan)
            .or_else(|| candidates().find(|(_, _, p)| p.priority == priority));
        if let Some((id, user, project)) = found {
            out.push(Sample {
                label,
                user_id: id,
                user,
                project,
            });
        }
    }
    out
}

/// Calls the policy once, returning the result, the call's µs and its fuel (read from
/// the policy's cumulative counters, exact since `check` is the only caller).
fn metered<R>(
    policy: &LoadedPolicy,
    request: &Request,
    f: impl FnOnce(
        &Policy,
        &mut wasmtime::Store<crate::policy::component::PolicyCtx>,
    ) -> wasmtime::Result<R>,
) -> (Result<R, CallError>, u64, u64) {
    let (nanos, fuel) = (&policy.stats.nanos, &policy.stats.fuel);
    let (n0, f0) = (nanos.load(Ordering::Relaxed), fuel.load(Ordering::Relaxed));
    let result = policy.call(&request.id, request.now_ms, f);
    let micros = (nanos.load(Ordering::Relaxed) - n0) / 1000;
    (result, micros, fuel.load(Ordering::Relaxed) - f0)
}

fn http_status(kind: RejectKind) -> u16 {
    match kind {
        RejectKind::RateLimited | RejectKind::QuotaExhausted => 429,
        RejectKind::Overloaded => 503,
        RejectKind::Forbidden => 403,
        RejectKind::Invalid => 400,
    }
}

fn describe_changes(c: &Changes, request: &Request) -> String {
    let mut parts = Vec::new();
    if let Some(m) = c.max_tokens {
        parts.push(format!("max_tokens {} -> {m}", request.max_tokens));
    }
    if let Some(m) = &c.model {
        parts.push(format!("model {} -> {m}", request.model));
    }
    if let Some(p) = c.priority {
        parts.push(format!("priority -> {}", views::host_priority(p).as_str()));
    }
    if let Some(cost) = c.estimated_cost_nano_eur {
        parts.push(format!("estimated cost {cost} nano-EUR"));
    }
    if !c.actions.is_empty() {
        parts.push(format!("actions [{}]", c.actions.join(", ")));
    }
    if parts.is_empty() {
        "modify (no changes)".into()
    } else {
        format!("modify: {}", parts.join(", "))
    }
}

fn describe_verdict(v: &Verdict, request: &Request) -> String {
    match v {
        Verdict::Allow => "allow".into(),
        Verdict::Modify(c) => describe_changes(c, request),
        Verdict::Reject(r) => {
            let retry = r
                .retry_after_ms
                .map_or(String::new(), |ms| format!(" (retry after {ms} ms)"));
            format!(
                "reject {} {}: {}{retry}",
                http_status(r.kind),
                r.code,
                r.message
            )
        }
    }
}

fn check(
    file: &Path,
    slot: &str,
    config_dir: &Path,
    settings: Option<&str>,
) -> Result<(), Failure> {
    let config = super::load_config(config_dir).ok_or_else(|| {
        refused(format!(
            "policy check: {} is not a valid config directory (the sample requests are built from its users, projects, models and limits; pass --config DIR)",
            config_dir.display()
        ))
    })?;
    let bytes = std::fs::read(file)
        .map_err(|e| refused(format!("policy check: cannot read {}: {e}", file.display())))?;
    let configured = config.policies.chain.iter().find(|s| s.name == slot);
    let (settings, origin) = match (settings, configured) {
        (Some(text), _) => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                refused(format!(
                    "policy check: --settings is not JSON: {e} (pass an object, e.g. '{{\"burst\": 10}}')"
                ))
            })?;
            if !value.is_object() {
                return Err(refused(format!(
                    "policy check: --settings must be a JSON object, got {value}"
                )));
            }
            (value, "--settings".to_owned())
        }
        (None, Some(s)) => (s.settings.clone(), s.settings_origin.clone()),
        (None, None) => (
            serde_json::json!({}),
            format!("none (no slot `{slot}` in policies.yaml, no --settings)"),
        ),
    };
    let engine = PolicyEngine::new()
        .map_err(|e| failed(format!("cannot start the policy engine: {e:#}")))?;
    let state = StateStore::new();
    let sandbox = config.policies.sandbox;
    let policy = LoadedPolicy::load(
        &engine,
        SlotSpec {
            slot,
            source: file.display().to_string(),
            bytes: &bytes,
            settings: &settings,
            failure_mode: configured.map_or(FailureMode::FailClosed, |s| s.failure_mode),
            sandbox,
        },
        state.clone(),
    )
    .map_err(|e| refused(format!("{e:#}")))?;

    println!("policy   {}", policy.label());
    println!("file     {} ({} bytes)", file.display(), bytes.len());
    println!("sha256   {}", policy.sha256);
    println!("slot     {slot} (settings from {origin}: {settings})");
    println!(
        "sandbox  {} fuel, {} ms deadline, {} MiB memory",
        sandbox.fuel_per_call,
        sandbox.deadline.as_millis(),
        sandbox.memory_bytes >> 20
    );
    let samples = sample_users(&config);
    let models: Vec<_> = config.models.iter().filter(|(_, m)| m.enabled).collect();
    if samples.is_empty() || models.is_empty() {
        return Err(refused(format!(
            "policy check: {} has no enabled user with an enabled project, or no enabled model, to build sample requests from",
            config.dir.display()
        )));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let prompt_tokens = (PROMPT.chars().count() / 4).max(1) as u32;
    let mut totals = Totals::default();
    let mut n = 0;
    for ratio in QUEUE_USAGE {
        let capacity = config.limits.max_queue_size;
        let queued = (ratio * f64::from(capacity)).round() as u32;
        let load = Load {
            queue_length: queued,
            queue_capacity: capacity,
            active: if queued > 0 {
                config.limits.max_active_requests
            } else {
                0
            },
            active_capacity: config.limits.max_active_requests,
        };
        let status = match policy.call("", now_ms, |p, s| p.call_status(s, now_ms, load)) {
            Ok(text) => text,
            Err(e) => {
                totals.failures += 1;
                format!("failed: {e}")
            }
        };
        println!();
        println!("queue {ratio:.2} ({queued}/{capacity} waiting)   status {status}");
        for (model_name, model) in &models {
            let model = views::model(model_name, model);
            for sample in &samples {
                n += 1;
                let tenant = views::tenant(&config, sample.user, sample.project);
                let batch = sample.label == "batch";
                let request = views::request(views::RequestFacts {
                    id: &format!("policy-check-{n}"),
                    user_id: sample.user_id,
                    project_id: &sample.user.project_id,
                    model: &model.name,
                    priority: sample.project.priority,
                    batch,
                    prompt_tokens,
                    max_tokens: MAX_TOKENS.min(model.max_output_tokens),
                    now_ms,
                });
                let who = format!(
                    "{} ({}, {}, {})",
                    sample.user_id,
                    sample.project.plan,
                    sample.project.priority.as_str(),
                    if batch { "batch" } else { "interactive" }
                );
                let (verdict, micros, fuel) = metered(&policy, &request, |p, s| {
                    p.call_evaluate(s, &request, &tenant, &model, load)
                });
                totals.evaluate(micros, fuel);
                let verdict = match verdict {
                    Ok(v) => v,
                    Err(e) => {
                        totals.failures += 1;
                        println!(
                            "  {:<16} {who:<50} {micros:>6} µs {fuel:>9} fuel  evaluate FAILED: {e}",
                            model.name
                        );
                        continue;
                    }
                };
                println!(
                    "  {:<16} {who:<50} {micros:>6} µs {fuel:>9} fuel  evaluate {}",
                    model.name,
                    describe_verdict(&verdict, &request)
                );
                totals.count(&verdict);
                let changes = match &verdict {
                    Verdict::Reject(_) => continue,
                    Verdict::Allow => None,
                    Verdict::Modify(c) => Some(c),
                };
                let output_tokens = changes
                    .and_then(|c| c.max_tokens)
                    .unwrap_or(request.max_tokens)
                    .min(request.max_tokens);
                let outcome = Outcome::Completed(Usage {
                    input_tokens: request.prompt_tokens,
                    output_tokens,
                    cost_nano_eur: 0,
                });
                let (usage, micros, fuel) = metered(&policy, &request, |p, s| {
                    p.call_finish(s, &request, &tenant, &model, outcome)
                });
                state.release_request(&request.id);
                let text = match usage {
                    Ok(u) => format!(
                        "finish completed({} in, {output_tokens} out) -> usage {} in, {} out, {} nano-EUR",
                        request.prompt_tokens, u.input_tokens, u.output_tokens, u.cost_nano_eur
                    ),
                    Err(e) => {
                        totals.failures += 1;
                        format!("finish FAILED: {e}")
                    }
                };
                println!(
                    "  {:<16} {:<50} {micros:>6} µs {fuel:>9} fuel  {text}",
                    "", ""
                );
            }
        }
    }
    println!();
    println!(
        "{} requests: {} allowed, {} modified, {} refused; evaluate mean {} µs, {} fuel (max {} fuel of {})",
        totals.calls,
        totals.allowed,
        totals.modified,
        totals.refused,
        totals.micros / totals.calls.max(1),
        totals.fuel / totals.calls.max(1),
        totals.max_fuel,
        sandbox.fuel_per_call
    );
    if totals.failures > 0 {
        return Err(failed(format!(
            "policy check: {} call(s) trapped or ran out of time (see above); with failure_mode {} the slot would {}",
            totals.failures,
            if policy.failure_mode == FailureMode::FailOpen {
                "fail_open"
            } else {
                "fail_closed"
            },
            if policy.failure_mode == FailureMode::FailOpen {
                "let those requests through"
            } else {
                "refuse those requests (503 policy_error)"
            }
        )));
    }
    println!(
        "ok: {} is a valid policy component for slot `{slot}`",
        file.display()
    );
    Ok(())
}

#[derive(Default)]
struct Totals {
    calls: u64,
    micros: u64,
    fuel: u64,
    max_fuel: u64,
    allowed: u64,
    modified: u64,
    refused: u64,
    failures: u64,
}

impl Totals {
    fn evaluate(&mut self, micros: u64, fuel: u64) {
        self.calls += 1;
        self.micros += micros;
        self.fuel += fuel;
        self.max_fuel = self.max_fuel.max(fuel);
    }

    fn count(&mut self, v: &Verdict) {
        match v {
            Verdict::Allow => self.allowed += 1,
            Verdict::Modify(_) => self.modified += 1,
            Verdict::Reject(_) => self.refused += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_slot_gets_its_template() {
        assert_eq!(template("rate_limit").0, "rate_limit");
        assert_eq!(template("rate-limit").0, "rate_limit");
        assert_eq!(template("quota").0, "quota");
        assert_eq!(template("concurrency").0, "");
        for (_, _, lib) in TEMPLATES {
            assert!(lib.contains("wit_bindgen::generate!({ path: \"wit\", world: \"policy\" });"));
            assert!(lib.contains("name: \"__NAME__\""));
            assert!(lib.contains("#[test]"));
        }
    }

    #[test]
    fn names_and_manifests() {
        assert!(valid_name("my-rate-limit"));
        assert!(valid_name("p2_x"));
        for bad in ["", "My", "2x", "a b", "../x", "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let manifest = CARGO_TOML.replace("__NAME__", "my-policy");
        assert_eq!(package_name(&manifest).as_deref(), Some("my-policy"));
        assert_eq!(package_name("[workspace]\nname = \"x\"\n"), None);
    }

    #[test]
    fn finds_the_cdylib_in_cargo_messages() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").unwrap();
        let msg = |kind: &str, manifest: &Path, file: &str| {
            serde_json::json!({
                "reason": "compiler-artifact",
                "manifest_path": manifest,
                "target": {"kind": [kind]},
                "filenames": [file],
            })
            .to_string()
        };
        let lines = [
            msg(
                "lib",
                Path::new("/elsewhere/Cargo.toml"),
                "/t/libserde.rlib",
            ),
            "not json".into(),
            msg(
                "cdylib",
                &manifest,
                "/t/wasm32-unknown-unknown/release/my_policy.wasm",
            ),
            r#"{"reason":"build-finished","success":true}"#.into(),
        ];
        assert_eq!(
            wasm_artifact(lines.join("\n").as_bytes(), &manifest),
            Some(PathBuf::from(
                "/t/wasm32-unknown-unknown/release/my_policy.wasm"
            ))
        );
        assert_eq!(wasm_artifact(lines[0].as_bytes(), &manifest), None);
    }
}
