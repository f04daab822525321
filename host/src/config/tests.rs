//! Tests of the loader: the shipped config/ loads clean, and each bad edit of
//! a copy of it gives its `file: path: problem` message.

use super::*;
use std::fs;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

/// A temporary copy of the shipped config/ directory.
fn base() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for entry in fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Replaces the first occurrence of `from` (which must exist) in `file`.
fn edit(dir: &TempDir, file: &str, from: &str, to: &str) {
    let path = dir.path().join(file);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Writes `file` with `text`.
fn write(dir: &TempDir, file: &str, text: &str) {
    fs::write(dir.path().join(file), text).unwrap();
}

/// The error lines of a load that must fail.
fn errors(dir: &TempDir) -> Vec<String> {
    match load(dir.path()) {
        Ok(_) => panic!("the load succeeded"),
        Err(e) => {
            assert!(!e.is_empty());
            e.lines()
        }
    }
}

/// Asserts that the load fails with exactly one error, starting with `prefix`.
fn assert_one_error(dir: &TempDir, prefix: &str) -> String {
    let errors = errors(dir);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert!(
        errors[0].starts_with(prefix),
        "expected {prefix:?}, got {:?}",
        errors[0]
    );
    errors[0].clone()
}

/// A load that must succeed.
fn loaded(dir: &TempDir) -> Config {
    load(dir.path()).unwrap_or_else(|e| panic!("load failed:\n{e}"))
}

#[test]
fn shipped_config_loads_clean() {
    let config = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);

    assert_eq!(config.users.len(), 4);
    let admin = &config.users["admin_01"];
    assert_eq!(
        (
            admin.name.as_str(),
            admin.project_id.as_str(),
            admin.role.as_str()
        ),
        ("Admin User", "vip_project", "admin")
    );
    assert!(admin.enabled);

    let vip = &config.projects["vip_project"];
    assert_eq!(vip.monthly_budget_nano_eur, Some(500_000_000_000));
    assert_eq!(vip.plan, "vip");
    assert_eq!(vip.priority, Priority::High);
    assert_eq!(vip.monthly_token_quota, Some(20_000_000));
    assert_eq!(vip.max_concurrent_requests, Some(25));
    let standard = &config.projects["standard_project"];
    assert_eq!(standard.priority, Priority::Normal);
    assert_eq!(standard.monthly_budget_nano_eur, Some(50_000_000_000));
    assert_eq!(config.projects["batch_project"].priority, Priority::Low);

    assert_eq!(
        config.models.keys().collect::<Vec<_>>(),
        [
            "simulated-small",
            "simulated-large",
            "ollama-llama",
            "ollama-gemma4",
            "ollama-qwen"
        ]
    );
    let small = &config.models["simulated-small"];
    assert!(small.enabled);
    assert_eq!(small.input_nano_eur_per_1k, 100_000);
    assert_eq!(small.output_nano_eur_per_1k, 200_000);
    assert_eq!(
        (small.max_input_tokens, small.max_output_tokens),
        (4096, 512)
    );
    assert_eq!(
        small.request_timeout,
        Duration::from_secs(120),
        "limits.yaml's timeout by default"
    );
    match &small.backend {
        Backend::Simulated(s) => {
            assert_eq!(s.average_latency, Duration::from_millis(500));
            assert!(s.latency_model.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        config.models["simulated-large"].output_nano_eur_per_1k,
        1_000_000
    );
    let llama = &config.models["ollama-llama"];
    assert!(!llama.enabled);
    assert_eq!(llama.input_nano_eur_per_1k, 0);
    match &llama.backend {
        Backend::Ollama {
            base_url,
            model,
            chat,
        } => {
            assert!(!chat, "generate is the default api");
            assert_eq!(base_url, "http://localhost:11434");
            assert_eq!(model, "qwen2.5:14b-instruct");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        config.models["ollama-gemma4"].request_timeout,
        Duration::from_secs(180)
    );

    let l = &config.limits;
    assert_eq!((l.max_active_requests, l.max_queue_size), (50, 1000));
    assert_eq!(
        (l.max_queue_wait, l.request_timeout),
        (Duration::from_secs(30), Duration::from_secs(120))
    );
    assert_eq!(
        l.rate_limits.keys().collect::<Vec<_>>(),
        ["standard", "vip", "batch"]
    );
    assert_eq!(l.rate_limits["vip"].requests_per_minute, Some(300));
    assert_eq!(l.rate_limits["vip"].tokens_per_minute, Some(500_000));
    assert_eq!(
        (
            l.priority_weights.high,
            l.priority_weights.normal,
            l.priority_weights.low
        ),
        (10, 5, 1)
    );

    let p = &config.policies;
    assert_eq!(p.sandbox.fuel_per_call, 5_000_000);
    assert_eq!(p.sandbox.deadline, Duration::from_millis(100));
    assert_eq!(p.sandbox.memory_bytes, 16 << 20);
    let names: Vec<_> = p.chain.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["degradation", "cost", "rate_limit", "quota"]);
    let deg = &p.chain[0];
    assert_eq!(
        deg.component,
        ComponentSource::Builtin("degradation".into())
    );
    assert_eq!(deg.failure_mode, FailureMode::FailOpen);
    assert_eq!(deg.settings_origin, "degradation.yaml");
    let levels: Vec<_> = deg.settings["degradation_levels"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        levels,
        [
            "normal",
            "soft_pressure",
            "high_pressure",
            "critical_pressure"
        ]
    );
    assert_eq!(
        deg.settings["degradation_levels"]["critical_pressure"]["actions"]["allow_only_priority"],
        "high"
    );
    assert_eq!(
        p.chain[1].component,
        ComponentSource::Builtin("cost".into())
    );
    assert_eq!(p.chain[1].failure_mode, FailureMode::FailClosed);
    assert_eq!(p.chain[1].settings, serde_json::json!({}));
    assert_eq!(
        p.chain[2].component,
        ComponentSource::Builtin("rate-limit".into())
    );
    assert_eq!(
        p.chain[2].settings,
        serde_json::json!({"window_seconds": 60})
    );
    assert_eq!(p.chain[2].settings_origin, "policies.yaml");
}

#[test]
fn summary_follows_the_seed_rule() {
    let config = loaded(&base());
    let counts: Vec<_> = config
        .summary
        .iter()
        .map(|s| (s.file.as_str(), s.item_count))
        .collect();
    // The seed's real output for its five files, plus policies.yaml (`sandbox` has 3 keys).
    assert_eq!(
        counts,
        [
            ("users.yaml", 4),
            ("projects.yaml", 3),
            ("models.yaml", 5),
            ("limits.yaml", 4),
            ("degradation.yaml", 4),
            ("policies.yaml", 3)
        ]
    );
    assert_eq!(
        config.summary[3].top_level_keys,
        ["global_limits", "rate_limits", "priority_weights"]
    );
    assert_eq!(config.summary[5].top_level_keys, ["sandbox", "chain"]);
}

#[test]
fn check_is_load() {
    let dir = base();
    assert!(check(dir.path()).is_ok());
    edit(
        &dir,
        "projects.yaml",
        "monthly_budget_eur: 50",
        "monthly_budget_eur: -5",
    );
    assert!(check(dir.path()).is_err());
}

// ------------------------------------------------------------- bad edits

#[test]
fn missing_file() {
    let dir = base();
    fs::remove_file(dir.path().join("users.yaml")).unwrap();
    assert_one_error(&dir, "users.yaml: (file): file not found (looked for ");
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let dir = base();
    write(
        &dir,
        "limits.yaml",
        "global_limits:\n  max_active_requests: [1, 2\n",
    );
    let e = assert_one_error(&dir, "limits.yaml: (file): invalid YAML at line ");
    assert!(e.ends_with("(fix the YAML syntax)"), "{e}");
    // Reported once, not also inside the message.
    assert_eq!(e.matches("line").count(), 1, "{e}");
}

#[test]
fn top_level_not_a_mapping() {
    let dir = base();
    write(&dir, "users.yaml", "- admin_01\n- user_vip_01\n");
    assert_one_error(
        &dir,
        "users.yaml: (file): the top level must be a mapping, found a list",
    );
    write(&dir, "users.yaml", "# nothing here\n");
    assert_one_error(&dir, "users.yaml: (file): file is empty");
}

#[test]
fn negative_budget() {
    let dir = base();
    edit(
        &dir,
        "projects.yaml",
        "monthly_budget_eur: 50",
        "monthly_budget_eur: -5",
    );
    assert_one_error(
        &dir,
        "projects.yaml: projects.standard_project.monthly_budget_eur: must be a number >= 0, found -5 (",
    );
}

#[test]
fn unknown_plan() {
    let dir = base();
    edit(
        &dir,
        "projects.yaml",
        "projects:\n",
        "projects:\n  gold_project:\n    plan: \"gold\"\n    enabled: true\n\n",
    );
    let e = assert_one_error(&dir, "projects.yaml: projects.gold_project.plan: ");
    assert_eq!(
        e,
        "projects.yaml: projects.gold_project.plan: no rate limits for plan \"gold\" in limits.yaml \
         (add rate_limits.gold to limits.yaml or use one of: standard, vip, batch)"
    );
}

#[test]
fn default_plan_must_exist_too() {
    let dir = base();
    edit(&dir, "projects.yaml", "    plan: \"batch\"\n", "");
    edit(&dir, "limits.yaml", "  standard:\n", "  basic:\n");
    let errors = errors(&dir);
    // standard_project names "standard" and batch_project falls back to it.
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[1].starts_with(
        "projects.yaml: projects.batch_project.plan: no rate limits for plan \"standard\""
    ));
}

#[test]
fn unknown_project_of_a_user() {
    let dir = base();
    edit(
        &dir,
        "users.yaml",
        "project_id: \"batch_project\"",
        "project_id: \"nope\"",
    );
    let e = assert_one_error(
        &dir,
        "users.yaml: users.user_batch_01.project_id: unknown project \"nope\" (",
    );
    assert!(
        e.contains("standard_project, vip_project, batch_project"),
        "{e}"
    );
}

#[test]
fn missing_project_id() {
    let dir = base();
    edit(
        &dir,
        "users.yaml",
        "    project_id: \"batch_project\"\n",
        "",
    );
    assert_one_error(
        &dir,
        "users.yaml: users.user_batch_01.project_id: missing (",
    );
}

#[test]
fn bad_priority() {
    let dir = base();
    edit(
        &dir,
        "projects.yaml",
        "priority: \"low\"",
        "priority: \"urgent\"",
    );
    assert_one_error(
        &dir,
        "projects.yaml: projects.batch_project.priority: unknown priority \"urgent\" (use one of: low, normal, high)",
    );
}

#[test]
fn unknown_backend() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "backend: \"ollama\"",
        "backend: \"vllm\"",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.ollama-llama.backend: unknown backend \"vllm\" (use one of: simulated, ollama, openai)",
    );
}

#[test]
fn zero_max_output_tokens() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "max_output_tokens: 512",
        "max_output_tokens: 0",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.simulated-small.max_output_tokens: must be an integer >= 1, found 0 (",
    );
}

#[test]
fn string_where_a_number_is_expected() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "max_input_tokens: 4096",
        "max_input_tokens: \"lots\"",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.simulated-small.max_input_tokens: must be an integer >= 1, found string \"lots\" (",
    );
}

#[test]
fn float_where_an_integer_is_expected() {
    let dir = base();
    edit(
        &dir,
        "limits.yaml",
        "max_queue_size: 1000",
        "max_queue_size: 10.5",
    );
    assert_one_error(
        &dir,
        "limits.yaml: global_limits.max_queue_size: must be an integer >= 0, found 10.5 (",
    );
}

#[test]
fn negative_price() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "input_cost_per_1k_tokens_eur: 0.0001",
        "input_cost_per_1k_tokens_eur: -0.1",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.simulated-small.input_cost_per_1k_tokens_eur: must be a number >= 0, found -0.1 (",
    );
}

#[test]
fn missing_max_active_requests() {
    let dir = base();
    edit(&dir, "limits.yaml", "  max_active_requests: 50\n", "");
    assert_one_error(
        &dir,
        "limits.yaml: global_limits.max_active_requests: missing (",
    );
}

#[test]
fn zero_queue_wait() {
    let dir = base();
    edit(
        &dir,
        "limits.yaml",
        "max_queue_wait_seconds: 30",
        "max_queue_wait_seconds: 0",
    );
    assert_one_error(
        &dir,
        "limits.yaml: global_limits.max_queue_wait_seconds: must be a number > 0, found 0 (",
    );
}

#[test]
fn unknown_builtin_component() {
    let dir = base();
    edit(&dir, "policies.yaml", "builtin:cost", "builtin:costs");
    let e = assert_one_error(
        &dir,
        "policies.yaml: chain[1].component: unknown built-in component \"costs\" (built-in components: ",
    );
    for name in crate::builtin::BUILTIN.iter().map(|(n, _)| *n) {
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn missing_component_file() {
    let dir = base();
    edit(
        &dir,
        "policies.yaml",
        "builtin:quota",
        "policies/quota.wasm",
    );
    assert_one_error(
        &dir,
        "policies.yaml: chain[3].component: component file \"policies/quota.wasm\" not found (looked for ",
    );
}

#[test]
fn component_file_relative_to_the_config_dir() {
    let dir = base();
    fs::create_dir(dir.path().join("policies")).unwrap();
    fs::write(dir.path().join("policies/quota.wasm"), b"\0asm").unwrap();
    edit(
        &dir,
        "policies.yaml",
        "builtin:quota",
        "policies/quota.wasm",
    );
    let config = loaded(&dir);
    assert_eq!(
        config.policies.chain[3].component,
        ComponentSource::File("policies/quota.wasm".into()),
        "kept as written: relative to the config dir"
    );
}

#[test]
fn component_neither_builtin_nor_wasm() {
    let dir = base();
    edit(&dir, "policies.yaml", "builtin:quota", "bultin:quota");
    assert_one_error(
        &dir,
        "policies.yaml: chain[3].component: not a component: \"bultin:quota\" (use builtin:NAME",
    );
}

#[test]
fn duplicate_slot() {
    let dir = base();
    edit(&dir, "policies.yaml", "slot: quota", "slot: cost");
    assert_one_error(
        &dir,
        "policies.yaml: chain[3].slot: duplicate slot \"cost\" (chain[1] already uses it; slot names must be unique)",
    );
}

#[test]
fn invalid_slot_name() {
    let dir = base();
    edit(&dir, "policies.yaml", "slot: quota", "slot: Quota!");
    assert_one_error(
        &dir,
        "policies.yaml: chain[3].slot: invalid slot name \"Quota!\" (",
    );
    let dir = base();
    edit(&dir, "policies.yaml", "slot: quota", "slot: \"\"");
    assert_one_error(&dir, "policies.yaml: chain[3].slot: is empty (");
}

#[test]
fn bad_failure_mode() {
    let dir = base();
    edit(
        &dir,
        "policies.yaml",
        "failure_mode: fail_open",
        "failure_mode: fail_soft",
    );
    assert_one_error(
        &dir,
        "policies.yaml: chain[0].failure_mode: unknown failure_mode \"fail_soft\" (use fail_closed",
    );
}

#[test]
fn settings_file_not_a_mapping() {
    let dir = base();
    write(&dir, "levels.yaml", "- normal\n- critical\n");
    edit(
        &dir,
        "policies.yaml",
        "settings_file: degradation.yaml",
        "settings_file: levels.yaml",
    );
    assert_one_error(
        &dir,
        "policies.yaml: chain[0].settings_file: levels.yaml does not hold a mapping, found a list (",
    );
}

#[test]
fn settings_file_missing() {
    let dir = base();
    edit(
        &dir,
        "policies.yaml",
        "settings_file: degradation.yaml",
        "settings_file: levels.yaml",
    );
    assert_one_error(
        &dir,
        "policies.yaml: chain[0].settings_file: file \"levels.yaml\" not found (looked for ",
    );
}

#[test]
fn settings_not_a_mapping() {
    let dir = base();
    edit(&dir, "policies.yaml", "settings: {}", "settings: [60]");
    assert_one_error(
        &dir,
        "policies.yaml: chain[1].settings: must be a mapping, found a list (",
    );
}

#[test]
fn inline_settings_merge_over_the_settings_file() {
    let dir = base();
    write(&dir, "rate.yaml", "window_seconds: 30\nburst: 5\n");
    edit(
        &dir,
        "policies.yaml",
        "    settings:\n      window_seconds: 60\n",
        "    settings_file: rate.yaml\n    settings:\n      window_seconds: 60\n      extra: true\n",
    );
    let config = loaded(&dir);
    let slot = &config.policies.chain[2];
    assert_eq!(
        slot.settings,
        serde_json::json!({"window_seconds": 60, "burst": 5, "extra": true})
    );
    let keys: Vec<_> = slot.settings.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["window_seconds", "burst", "extra"],
        "file order first, then new inline keys"
    );
    assert_eq!(slot.settings_origin, "rate.yaml + policies.yaml");
}

#[test]
fn empty_chain_and_empty_levels() {
    let dir = base();
    write(&dir, "policies.yaml", "chain: []\n");
    write(&dir, "degradation.yaml", "degradation_levels: {}\n");
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("degradation.yaml: degradation_levels: is empty ("),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("policies.yaml: chain: is empty ("),
        "{}",
        errors[1]
    );
}

#[test]
fn sandbox_limits() {
    let dir = base();
    edit(
        &dir,
        "policies.yaml",
        "fuel_per_call: 5000000",
        "fuel_per_call: 999",
    );
    edit(&dir, "policies.yaml", "memory_mb: 16", "memory_mb: 8192");
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with(
        "policies.yaml: sandbox.fuel_per_call: must be an integer >= 1000, found 999 ("
    ));
    assert!(
        errors[1]
            .starts_with("policies.yaml: sandbox.memory_mb: must be at most 4096, found 8192 (")
    );
}

#[test]
fn sandbox_defaults() {
    let dir = base();
    edit(&dir, "policies.yaml", "sandbox:\n", "sandbox_unused:\n");
    let config = loaded(&dir);
    assert_eq!(config.policies.sandbox.fuel_per_call, 5_000_000);
    assert_eq!(config.policies.sandbox.deadline, Duration::from_millis(10));
    assert_eq!(config.policies.sandbox.memory_bytes, 16 << 20);
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].starts_with(
        "policies.yaml: sandbox_unused: unknown key, ignored (known keys here: sandbox, chain)"
    ));
}

#[test]
fn jitter_must_be_below_one() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "    average_latency_seconds: 0.5\n",
        "    latency_model:\n      time_to_first_token_ms: 200\n      time_per_output_token_ms: 20\n      jitter: 1.0\n",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.simulated-small.latency_model.jitter: must be a number >= 0 and < 1, found 1 (",
    );
}

#[test]
fn latency_model_loads() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "    average_latency_seconds: 0.5\n",
        "    latency_model:\n      time_to_first_token_ms: 200\n      time_per_output_token_ms: 20.5\n      jitter: 0.1\n      seed: 7\n",
    );
    let config = loaded(&dir);
    let Backend::Simulated(s) = &config.models["simulated-small"].backend else {
        panic!()
    };
    assert_eq!(s.average_latency, Duration::ZERO);
    let lm = s.latency_model.as_ref().unwrap();
    assert_eq!(lm.time_to_first_token, Duration::from_millis(200));
    assert_eq!(lm.time_per_output_token, Duration::from_micros(20_500));
    assert_eq!((lm.jitter, lm.seed), (0.1, 7));
}

#[test]
fn openai_backend() {
    let dir = base();
    let model = "  remote:\n    backend: openai\n    enabled: true\n    base_url: https://api.example.com/v1\n    api_key_env: REMOTE_API_KEY\n    max_input_tokens: 1000\n    max_output_tokens: 100\n";
    edit(
        &dir,
        "models.yaml",
        "models:\n",
        &format!("models:\n{model}"),
    );
    let config = loaded(&dir);
    let m = &config.models["remote"];
    match &m.backend {
        Backend::OpenAi {
            base_url,
            model,
            api_key_env,
            chat,
        } => {
            assert!(chat, "chat is the default api");
            assert_eq!(base_url, "https://api.example.com/v1");
            assert_eq!(model, "remote");
            assert_eq!(api_key_env.as_deref(), Some("REMOTE_API_KEY"));
        }
        other => panic!("{other:?}"),
    }

    // base_url is required, and a pasted key is refused without being echoed.
    let dir = base();
    let model = "  remote:\n    backend: openai\n    api_key_env: sk-secret123\n    max_input_tokens: 1000\n    max_output_tokens: 100\n";
    edit(
        &dir,
        "models.yaml",
        "models:\n",
        &format!("models:\n{model}"),
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("models.yaml: models.remote.base_url: missing ("),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with(
            "models.yaml: models.remote.api_key_env: not an environment variable name ("
        )
    );
    assert!(!errors[1].contains("secret"), "{}", errors[1]);
}

#[test]
fn ollama_url_must_be_http() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "ollama_base_url: \"http://localhost:11434\"",
        "ollama_base_url: \"localhost:11434\"",
    );
    assert_one_error(
        &dir,
        "models.yaml: models.ollama-llama.ollama_base_url: must start with http:// or https://, found \"localhost:11434\" (",
    );
}

#[test]
fn missing_max_tokens_default_with_a_warning() {
    let dir = base();
    edit(&dir, "models.yaml", "    max_input_tokens: 8192\n", "");
    edit(&dir, "models.yaml", "    max_output_tokens: 1024\n", "");
    let config = loaded(&dir);
    let large = &config.models["simulated-large"];
    assert_eq!(
        (large.max_input_tokens, large.max_output_tokens),
        (4096, 512)
    );
    assert_eq!(
        config.warnings,
        [
            "models.yaml: models.simulated-large.max_input_tokens: missing, using 4096 (set max_input_tokens explicitly)",
            "models.yaml: models.simulated-large.max_output_tokens: missing, using 512 (set max_output_tokens explicitly)",
        ]
    );
}

#[test]
fn key_of_another_backend_warns() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "    average_latency_seconds: 2.0\n",
        "    average_latency_seconds: 2.0\n    ollama_model: x\n",
    );
    let config = loaded(&dir);
    assert_eq!(
        config.warnings,
        [
            "models.yaml: models.simulated-large.ollama_model: only used by backend ollama, ignored for backend simulated (remove it or change the backend)"
        ]
    );
}

#[test]
fn seed_defaults_for_missing_fields() {
    let dir = base();
    write(
        &dir,
        "users.yaml",
        "users:\n  u1:\n    project_id: vip_project\n",
    );
    edit(
        &dir,
        "projects.yaml",
        "    plan: \"batch\"\n    priority: \"low\"\n",
        "",
    );
    edit(
        &dir,
        "projects.yaml",
        "    monthly_token_quota: 5000000\n    monthly_budget_eur: 100\n    max_concurrent_requests: 3\n    enabled: true\n",
        "",
    );
    let config = loaded(&dir);
    let u = &config.users["u1"];
    assert!(!u.enabled, "missing enabled is false, as in the seed");
    assert_eq!((u.name.as_str(), u.role.as_str()), ("u1", ""));
    let p = &config.projects["batch_project"];
    assert_eq!(
        (p.plan.as_str(), p.priority),
        ("standard", Priority::Normal)
    );
    assert_eq!(
        (
            p.monthly_token_quota,
            p.monthly_budget_nano_eur,
            p.max_concurrent_requests
        ),
        (None, None, None)
    );
    assert!(!p.enabled);
}

#[test]
fn unknown_key_is_a_warning() {
    let dir = base();
    edit(
        &dir,
        "users.yaml",
        "    role: \"admin\"\n",
        "    role: \"admin\"\n    colour: blue\n",
    );
    let config = loaded(&dir);
    assert_eq!(
        config.warnings,
        [
            "users.yaml: users.admin_01.colour: unknown key, ignored (known keys here: name, project_id, role, enabled)"
        ]
    );
}

#[test]
fn unknown_keys_everywhere_warn() {
    let dir = base();
    edit(
        &dir,
        "limits.yaml",
        "  max_queue_size: 1000\n",
        "  max_queue_size: 1000\n  max_queue_sise: 5\n",
    );
    edit(
        &dir,
        "policies.yaml",
        "    failure_mode: fail_open\n",
        "    failure_mode: fail_open\n    failure: x\n",
    );
    edit(
        &dir,
        "degradation.yaml",
        "degradation_levels:\n",
        "hysteresis: 1\ndegradation_levels:\n",
    );
    let config = loaded(&dir);
    assert_eq!(config.warnings.len(), 3, "{:#?}", config.warnings);
    assert!(config.warnings[0].starts_with("limits.yaml: global_limits.max_queue_sise: unknown key, ignored (known keys here: max_active_requests, "));
    assert!(config.warnings[1].starts_with(
        "degradation.yaml: hysteresis: unknown key, ignored (known keys here: degradation_levels)"
    ));
    assert!(config.warnings[2].starts_with("policies.yaml: chain[0].failure: unknown key, ignored (known keys here: slot, component, failure_mode, settings, settings_file)"));
}

#[test]
fn two_problems_are_both_reported() {
    let dir = base();
    edit(
        &dir,
        "models.yaml",
        "backend: \"ollama\"",
        "backend: \"vllm\"",
    );
    edit(
        &dir,
        "projects.yaml",
        "monthly_budget_eur: 50",
        "monthly_budget_eur: -5",
    );
    let err = load(dir.path()).unwrap_err();
    let lines = err.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    // Grouped by file in load order: projects before models.
    assert!(lines[0].starts_with("projects.yaml: projects.standard_project.monthly_budget_eur: "));
    assert!(lines[1].starts_with("models.yaml: models.ollama-llama.backend: "));
    assert_eq!(
        err.to_string(),
        lines.join("\n"),
        "Display is one error per line"
    );
}

#[test]
fn problems_in_several_files_and_entries() {
    let dir = base();
    fs::remove_file(dir.path().join("degradation.yaml")).unwrap();
    edit(
        &dir,
        "users.yaml",
        "    enabled: true\n",
        "    enabled: \"yes\"\n",
    );
    edit(
        &dir,
        "projects.yaml",
        "max_concurrent_requests: 5",
        "max_concurrent_requests: 0",
    );
    edit(
        &dir,
        "projects.yaml",
        "max_concurrent_requests: 25",
        "max_concurrent_requests: many",
    );
    let errors = errors(&dir);
    assert_eq!(
        errors,
        [
            "users.yaml: users.user_standard_01.enabled: must be true or false, found string \"yes\" (missing means false)",
            "projects.yaml: projects.standard_project.max_concurrent_requests: must be an integer >= 1, found 0 (requests in flight at once; leave it out for no limit)",
            "projects.yaml: projects.vip_project.max_concurrent_requests: must be an integer >= 1, found string \"many\" (requests in flight at once; leave it out for no limit)",
            format!(
                "degradation.yaml: (file): file not found (looked for {})",
                dir.path().join("degradation.yaml").display()
            )
            .as_str(),
        ]
    );
}

#[test]
fn entry_that_is_not_a_mapping() {
    let dir = base();
    write(
        &dir,
        "users.yaml",
        "users:\n  u1: 42\n  u2:\n    project_id: nope\n",
    );
    let errors = errors(&dir);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("users.yaml: users.u1: must be a mapping, found 42 ("));
    assert!(errors[1].starts_with("users.yaml: users.u2.project_id: unknown project \"nope\" ("));
}

#[test]
fn broken_projects_file_does_not_cascade_into_users() {
    let dir = base();
    write(&dir, "projects.yaml", "projects: [1, 2]\n");
    assert_one_error(
        &dir,
        "projects.yaml: projects: must be a mapping, found a list (",
    );
}

/// Odd documents in every file: always errors, never a panic.
#[test]
fn odd_documents_never_panic() {
    let odd = [
        "42\n",
        "[]\n",
        "~\n",
        "\"text\"\n",
        "a: !tag x\n",
        "users: 1\nprojects: 1\nmodels: 1\nglobal_limits: 1\nrate_limits: 1\npriority_weights: 1\ndegradation_levels: 1\nsandbox: 1\nchain: 1\n",
        "users: [1]\nprojects: {a: 1}\nmodels: {a: [1]}\nglobal_limits: []\nrate_limits: {a: 1}\npriority_weights: []\ndegradation_levels: []\nsandbox: []\nchain: [1, ~, {slot: 1, component: 2, settings: 3, settings_file: 4, failure_mode: 5}]\n",
        "1: 2\n",
        "users: {1: {project_id: 1e400}}\nprojects: {p: {monthly_budget_eur: .nan, monthly_token_quota: 99999999999999999999}}\n",
        "models: {m: {backend: simulated, request_timeout_seconds: 1e300, average_latency_seconds: .inf}}\n",
        "global_limits: {max_active_requests: 18446744073709551615, max_queue_wait_seconds: 1e300, request_timeout_seconds: -1}\n",
        "a: &x [*x]\n",
        "\u{feff}\t: :\n",
    ];
    for file in FILES {
        for text in odd {
            let dir = base();
            write(&dir, file, text);
            let result = load(dir.path());
            assert!(result.is_err(), "{file} with {text:?} loaded");
        }
    }
}

/// Each raw struct's `KEYS` lists exactly the fields it reads.
#[test]
fn raw_keys_match_fields() {
    fn no_unknown<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        keys: &[&str],
        unknown: impl Fn(&T) -> usize,
    ) {
        let mut map = yaml_serde::Mapping::new();
        for k in keys {
            map.insert(
                yaml_serde::Value::String(k.to_string()),
                yaml_serde::Value::Null,
            );
        }
        let raw: T = yaml_serde::from_value(yaml_serde::Value::Mapping(map)).unwrap();
        assert_eq!(unknown(&raw), 0, "{raw:?}");
    }
    no_unknown::<raw::User>(raw::User::KEYS, |r| r.unknown.len());
    no_unknown::<raw::Project>(raw::Project::KEYS, |r| r.unknown.len());
    no_unknown::<raw::Model>(raw::Model::KEYS, |r| r.unknown.len());
    no_unknown::<raw::LatencyModel>(raw::LatencyModel::KEYS, |r| r.unknown.len());
    no_unknown::<raw::GlobalLimits>(raw::GlobalLimits::KEYS, |r| r.unknown.len());
    no_unknown::<raw::Slot>(raw::Slot::KEYS, |r| r.unknown.len());
    no_unknown::<raw::Sandbox>(raw::Sandbox::KEYS, |r| r.unknown.len());
    no_unknown::<raw::PoliciesFile>(raw::PoliciesFile::KEYS, |r| r.unknown.len());
    no_unknown::<raw::LimitsFile>(raw::LimitsFile::KEYS, |r| r.unknown.len());
}

#[test]
fn scalar_keys_become_strings_and_tags_are_dropped() {
    let dir = base();
    write(
        &dir,
        "users.yaml",
        "users:\n  1001:\n    project_id: !ref vip_project\n    enabled: true\n",
    );
    let config = loaded(&dir);
    assert_eq!(config.users["1001"].project_id, "vip_project");
    assert_eq!(
        config.warnings,
        [
            "users.yaml: users.1001.project_id: YAML tag !ref ignored (config files use plain values)"
        ]
    );
}

#[test]
fn huge_numbers_are_errors() {
    let dir = base();
    edit(
        &dir,
        "limits.yaml",
        "max_queue_wait_seconds: 30",
        "max_queue_wait_seconds: 1e300",
    );
    edit(
        &dir,
        "limits.yaml",
        "max_active_requests: 50",
        "max_active_requests: 18446744073709551615",
    );
    edit(
        &dir,
        "projects.yaml",
        "monthly_budget_eur: 50",
        "monthly_budget_eur: 1e12",
    );
    let errors = errors(&dir);
    assert_eq!(
        errors,
        [
            "projects.yaml: projects.standard_project.monthly_budget_eur: must be at most 18000000000, found 1000000000000 (euros per month; leave it out for no budget)",
            "limits.yaml: global_limits.max_active_requests: must be at most 4294967295, found 18446744073709551615 (requests served at once)",
            "limits.yaml: global_limits.max_queue_wait_seconds: too large: 1e300 (longest wait in the queue, in seconds)",
        ]
    );
}
