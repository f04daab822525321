//! Subcommands of the `tollgate` binary.

pub mod bench;
pub mod eval;
pub mod policy;
pub mod serve;
pub mod stress;

use std::path::Path;
use std::process::ExitCode;

/// Loads a config directory, printing every error as `file: path: problem (hint)`.
pub fn load_config(dir: &Path) -> Option<crate::config::Config> {
    match crate::config::load(dir) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            Some(config)
        }
        Err(errors) => {
            eprintln!("{errors}");
            None
        }
    }
}

/// `tollgate config check DIR`: validates the files, then loads every policy
/// slot (which runs each component's `configure` on its settings).
pub fn config_check(dir: &Path) -> ExitCode {
    let Some(config) = load_config(dir) else {
        return ExitCode::from(2);
    };
    let engine = match crate::policy::PolicyEngine::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot start the policy engine: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = true;
    for slot in &config.policies.chain {
        match crate::policy::load_slot(&engine, &config, slot, crate::policy::StateStore::new()) {
            Ok(p) => println!(
                "policies.yaml: chain slot `{}`: {} ({}) ok",
                slot.name,
                p.label(),
                p.source
            ),
            Err(e) => {
                ok = false;
                eprintln!("{}: {e:#}", slot.settings_origin);
            }
        }
    }
    if ok {
        println!("{}: configuration is valid", dir.display());
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
