//! `tollgate policy new | build | check`, through the real binary: checks of the built-in
//! components (variants and refused fixtures), and the whole custom-policy workflow in a
//! temporary directory (scaffold, compile to wasm, componentize, load and run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn component(name: &str) -> PathBuf {
    Path::new(tollgate::builtin::COMPONENTS_DIR).join(format!("{name}.wasm"))
}

fn tollgate(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run tollgate")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `policy check FILE --slot SLOT --config config/ [extra...]`.
fn check(file: &Path, slot: &str, extra: &[&str]) -> Output {
    let config = root().join("config");
    let mut args = vec![
        "policy",
        "check",
        file.to_str().unwrap(),
        "--slot",
        slot,
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tollgate(&args)
}

/// The lines of one `queue R` section of the check output.
fn section<'a>(stdout: &'a str, ratio: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with(&format!("queue {ratio} ")))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn check_runs_the_strict_variant_on_sample_requests() {
    let out = check(
        &component("degradation-strict"),
        "degradation",
        &["--settings", "{}"],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("policy   degradation-strict@0.1.0"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("sha256   ") && l.len() == 9 + 64)
    );
    // A standard, a VIP and a batch user on each of the two enabled models, at four loads.
    assert!(stdout.contains("24 requests:"), "{stdout}");
    let idle = section(&stdout, "0.00");
    assert_eq!(
        idle.iter().filter(|l| l.contains("evaluate allow")).count(),
        6
    );
    assert_eq!(
        idle.iter()
            .filter(|l| l.contains("finish completed"))
            .count(),
        6
    );
    assert!(
        idle.iter()
            .all(|l| l.contains(" µs ") && l.contains(" fuel "))
    );
    // Strict at 0.60 (its high_pressure level): batch refused, the rest halved.
    let busy = section(&stdout, "0.60");
    let batch: Vec<_> = busy
        .iter()
        .filter(|l| l.contains("user_batch_01"))
        .collect();
    assert_eq!(batch.len(), 2);
    assert!(
        batch.iter().all(|l| l.contains(
            "reject 503 reject_batch: Batch requests rejected due to high system pressure (retry after 1000 ms)"
        )),
        "{busy:#?}"
    );
    assert!(
        busy.iter()
            .filter(|l| l.contains("user_standard_01"))
            .all(|l| l.contains("modify: max_tokens 256 -> 128, actions [reduce_max_tokens]")),
        "{busy:#?}"
    );
    // Critical from 0.70: only high priority gets through.
    let critical = section(&stdout, "0.85");
    assert!(
        critical
            .iter()
            .filter(|l| l.contains("user_standard_01"))
            .all(|l| l.contains("reject 503 reject_standard")),
        "{critical:#?}"
    );

    // The slot's own settings (degradation.yaml) replace the built-in levels: at 0.60
    // that is soft_pressure, which refuses nothing.
    let out = check(&component("degradation-strict"), "degradation", &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("settings from degradation.yaml"),
        "{stdout}"
    );
    assert!(
        !section(&stdout, "0.60")
            .iter()
            .any(|l| l.contains("reject")),
        "{stdout}"
    );
}

#[test]
fn check_runs_the_gcra_variant_with_the_rate_limit_slot_settings() {
    let out = check(&component("rate-limit-gcra"), "rate_limit", &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("policy   rate-limit-gcra@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("settings from policies.yaml"), "{stdout}");
    // Eight requests per user stay far below every plan's burst.
    assert!(stdout.contains("24 requests: 24 allowed"), "{stdout}");
    // burst 2: the third request of a user waits one emission interval (1 s at 60/minute).
    let out = check(
        &component("rate-limit-gcra"),
        "rate_limit",
        &["--settings", r#"{"burst": 2}"#],
    );
    let (stdout, _) = text(&out);
    assert!(
        section(&stdout, "0.85")
            .iter()
            .any(|l| l.contains("user_standard_01")
                && l.contains("reject 429 rate_limited: rate_limited (retry after 1000 ms)")),
        "{stdout}"
    );
}

#[test]
fn check_refuses_a_wasi_importer_with_exit_code_2() {
    let out = check(&component("wasi-importer"), "rate_limit", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("wasi-importer.wasm"), "{stderr}");
    assert!(
        stderr.contains("imports `wasi:cli/environment@0.2.0`"),
        "{stderr}"
    );
    assert!(!stdout.contains("evaluate"), "{stdout}");
}

#[test]
fn check_refuses_bad_settings_core_modules_and_reports_traps() {
    let out = check(&component("configure-error"), "custom", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("refused its settings"),
        "{:?}",
        text(&out)
    );

    let core = Path::new(tollgate::builtin::COMPONENTS_DIR).join("wasi-importer.core.wasm");
    let out = check(&core, "custom", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).1.contains("core WebAssembly module"),
        "{:?}",
        text(&out)
    );

    let out = check(&component("cost"), "cost", &["--settings", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--settings must be a JSON object"));

    // Loaded fine, but every call runs out of fuel: exit code 1, each failure shown.
    let out = check(&component("infinite-loop"), "custom", &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stdout
            .matches("evaluate FAILED: ran past its limit (used all 5000000 fuel)")
            .count(),
        24,
        "{stdout}"
    );
    assert!(stderr.contains("fail_closed"), "{stderr}");
}

/// `policy new` for every template, `policy build` each (a real wasm compilation), and
/// `policy check` the components against the shipped config.
#[test]
fn new_build_check_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().to_str().unwrap();
    // A stable target directory: the dependencies compile once across runs and crates.
    let target = root().join("target/policy-cli-test");
    for slot in ["rate_limit", "quota", "cost", "degradation", "concurrency"] {
        let name = format!("my-{}", slot.replace('_', "-"));
        let out = tollgate(&["policy", "new", &name, "--slot", slot, "--dir", parent]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let krate = dir.path().join(&name);
        assert!(stdout.contains(&format!("tollgate policy build {}", krate.display())));
        for file in ["Cargo.toml", "src/lib.rs", "wit/policy.wit", ".gitignore"] {
            assert!(krate.join(file).is_file(), "{file}");
        }
        assert_eq!(
            std::fs::read_to_string(krate.join("wit/policy.wit")).unwrap(),
            std::fs::read_to_string(root().join("wit/since_v0.1.0/policy.wit")).unwrap()
        );
        // Pin the scaffold to the versions the workspace already fetched, so the test
        // needs no registry access (a newcomer's first build resolves them instead).
        std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();

        let out = Command::new(BIN)
            .args(["policy", "build", krate.to_str().unwrap()])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{slot}: {stdout}\n{stderr}");
        let wasm = krate.join(format!("{name}.wasm"));
        assert!(
            stdout.contains(&format!("component: {}", wasm.display())),
            "{stdout}"
        );
        assert!(stdout.contains("sha256:"), "{stdout}");
        let bytes = std::fs::read(&wasm).unwrap();
        assert_eq!(&bytes[..4], b"\0asm");
        assert_ne!(bytes[4..8], [1, 0, 0, 0], "a component, not a core module");

        let out = check(&wasm, slot, &[]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{slot}: {stdout}\n{stderr}");
        assert!(
            stdout.contains(&format!("policy   {name}@0.1.0")),
            "{stdout}"
        );
        assert!(stdout.contains("ok: "), "{stdout}");
    }

    // A second `new` on the same name and a `build` of a non-crate are refused.
    let out = tollgate(&[
        "policy", "new", "my-quota", "--slot", "quota", "--dir", parent,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("already exists"));
    let out = tollgate(&["policy", "build", parent]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("Cargo.toml"));
}
