//! Builds every guest crate under `policies/` (the default policies, their
//! variants and the test fixtures) into WebAssembly components, so a plain
//! `cargo build` of the host yields a binary with its default policies inside.
//!
//! Route (no WASI): `cargo build --target wasm32-unknown-unknown` on the guest
//! crates, then `wit_component::ComponentEncoder` turns each core module into a
//! component; the world travels in the custom section wit-bindgen emits. The
//! result imports only the `tollgate:policy` contract.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const TARGET: &str = "wasm32-unknown-unknown";

/// A guest crate to build: its package name and the component file name.
struct Guest {
    package: String,
    file: String,
    fixture: bool,
    /// It depends on another guest crate (a variant of a default policy).
    depends_on_guest: bool,
}

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo::rerun-if-changed=wit");
    println!("cargo::rerun-if-changed=policies");
    println!("cargo::rerun-if-changed=Cargo.lock");

    let guests = discover(&root);
    ensure_target();

    // Shared by every profile of the host, so debug and release builds reuse it.
    let guest_target = out
        .ancestors()
        .nth(4)
        .map(|p| p.join("wasm-guests"))
        .unwrap_or_else(|| out.join("wasm-guests"));
    let components = out.join("components");
    fs::create_dir_all(&components).unwrap();
    let mut builtin = String::from(
        "/// Default policies and variants compiled into the binary: (name, component bytes).\n",
    );
    builtin.push_str("pub const BUILTIN: &[(&str, &[u8])] = &[\n");
    let mut encoded = Vec::new();
    // Two cargo runs: the crates that stand alone, then the variants that depend
    // on one of them. One run would unify features: a base crate's default
    // `export` feature would be on for its variants too, and each variant
    // would export the world twice. Each run's modules are read right after it.
    let (variants, bases): (Vec<&Guest>, Vec<&Guest>) =
        guests.iter().partition(|g| g.depends_on_guest);
    for phase in [bases, variants] {
        if phase.is_empty() {
            continue;
        }
        build_guests(&root, &guest_target, &phase);
        for g in phase {
            let core_path = guest_target
                .join(TARGET)
                .join("guest")
                .join(format!("{}.wasm", g.package.replace('-', "_")));
            let core = fs::read(&core_path).unwrap_or_else(|e| {
                panic!("policy build produced no {}: {e}", core_path.display())
            });
            encoded.push((g, core));
        }
    }
    encoded.sort_by(|a, b| (a.0.fixture, &a.0.file).cmp(&(b.0.fixture, &b.0.file)));
    for (g, core) in encoded {
        let component = wit_component::ComponentEncoder::default()
            .module(&core)
            .and_then(|e| e.validate(true).encode())
            .unwrap_or_else(|e| panic!("turning {} into a component failed: {e:#}", g.package));
        let dest = components.join(format!("{}.wasm", g.file));
        write_if_changed(&dest, &component);
        if g.fixture {
            // Fixtures also keep their core module, a test input of its own.
            write_if_changed(&components.join(format!("{}.core.wasm", g.file)), &core);
        } else {
            builtin.push_str(&format!(
                "    ({:?}, include_bytes!({:?})),\n",
                g.file,
                dest.display().to_string()
            ));
        }
    }
    builtin.push_str("];\n");
    write_if_changed(&out.join("builtin_components.rs"), builtin.as_bytes());
    println!(
        "cargo::rustc-env=TOLLGATE_COMPONENTS_DIR={}",
        components.display()
    );
}

/// `cargo build` of some guest crates for the wasm target, in the guest profile.
fn build_guests(root: &Path, guest_target: &Path, guests: &[&Guest]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--profile",
            "guest",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(guest_target);
    for g in guests {
        cmd.args(["-p", &g.package]);
    }
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_LLVM_COV",
        "CARGO_INCREMENTAL",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("could not run cargo to build the policy components");
    if !status.success() {
        panic!(
            "building the policy components under policies/ failed (see the cargo output above)"
        );
    }
}

/// Every crate in `policies/*` (default policies and variants) and
/// `policies/fixtures/*` (test-only components).
fn discover(root: &Path) -> Vec<Guest> {
    let mut guests = Vec::new();
    for (dir, fixture) in [
        (root.join("policies"), false),
        (root.join("policies/fixtures"), true),
    ] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let prefix = if fixture { "fixture" } else { "policy" };
            let package = format!("{prefix}-{name}");
            let manifest =
                fs::read_to_string(dir.join(&name).join("Cargo.toml")).unwrap_or_default();
            guests.push(Guest {
                depends_on_guest: names_another_guest(&manifest, &package),
                package,
                file: name,
                fixture,
            });
        }
    }
    guests
}

/// Whether a guest's Cargo.toml depends on another guest crate (`policy-*` or
/// `fixture-*`), as `policy-x = ...` or `[dependencies.policy-x]`.
fn names_another_guest(manifest: &str, own: &str) -> bool {
    manifest.lines().any(|line| {
        let key = line.trim().trim_start_matches('[');
        let key = key.split(['=', ']']).next().unwrap_or("").trim();
        let key = key.strip_prefix("dependencies.").unwrap_or(key);
        key != own && (key.starts_with("policy-") || key.starts_with("fixture-"))
    })
}

/// Makes sure the wasm32 target is installed; installs it through rustup when
/// missing (machines may set RUSTUP_AUTO_INSTALL=0).
fn ensure_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(|d| d.is_dir()) {
        return;
    }
    println!(
        "cargo::warning=installing the Rust target {TARGET} (needed for the policy components)"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if !matches!(added, Ok(s) if s.success()) {
        panic!(
            "the Rust target {TARGET} is missing and could not be installed: run `rustup target add {TARGET}`"
        );
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
