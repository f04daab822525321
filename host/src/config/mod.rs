//! Configuration: the seed's YAML files (users, projects, models, limits,
//! degradation) plus Tollgate's `policies.yaml`, loaded from one directory.
//!
//! # Two steps
//!
//! 1. **Raw** (module `raw`): each file is parsed into
//!    `yaml_serde::Value` (syntax errors carry line and column), then into
//!    serde structs that mirror the YAML as written. Every field is optional
//!    and keeps a value of the wrong type instead of failing, and every struct
//!    keeps its unknown keys, so nothing stops at the first problem.
//! 2. **Validated** (module `validate`): the raw structs become the [`model`]
//!    types the rest of the host reads: defaults filled in (the seed's where
//!    it had one), types and ranges checked, money in nano-euros, times as
//!    [`Duration`](std::time::Duration)s, and the references between files
//!    checked (a user's project, a project's plan, a slot's component and
//!    settings file).
//!
//! # Errors and warnings
//!
//! [`load`] reports every problem of the directory at once, as
//! [`ConfigErrors`]; each [`ConfigError`] reads
//!
//! ```text
//! file: path.to.field: problem (hint)
//! ```
//!
//! for example `projects.yaml: projects.gold_project.plan: no rate limits for
//! plan "gold" in limits.yaml (add rate_limits.gold to limits.yaml or use one
//! of: standard, vip, batch)`. List items are written `chain[1].component`; a
//! problem with a file as a whole (missing, unreadable, bad YAML syntax, not a
//! mapping) has the path `(file)`. Unknown keys are not errors: they become
//! [`Config::warnings`] in the same format, with the known keys as the hint.

mod error;
pub mod model;
mod raw;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// The files [`load`] reads from the config directory, in report order.
pub const FILES: [&str; 6] = error::FILE_ORDER;

/// Loads and validates the config directory `dir`: users.yaml, projects.yaml,
/// models.yaml, limits.yaml, degradation.yaml and policies.yaml. Returns every
/// problem found, not only the first; warnings (unknown keys, defaults worth
/// knowing about) are in [`Config::warnings`] on success and in
/// [`ConfigErrors::warnings`] on failure.
pub fn load(dir: &Path) -> Result<Config, ConfigErrors> {
    let builtins: Vec<&str> = crate::builtin::BUILTIN
        .iter()
        .map(|(name, _)| *name)
        .collect();
    validate::load_with(dir, &builtins)
}

/// Checks the config directory `dir` without starting anything (for a
/// `check` command): the same as [`load`].
pub fn check(dir: &Path) -> Result<Config, ConfigErrors> {
    load(dir)
}
