//! The errors of [`super::load`]: every problem found in one load, each naming
//! its file and field.

use std::fmt;

/// The config files in the order they are reported.
pub(crate) const FILE_ORDER: [&str; 6] = [
    "users.yaml",
    "projects.yaml",
    "models.yaml",
    "limits.yaml",
    "degradation.yaml",
    "policies.yaml",
];

/// One problem (or warning) in the configuration. Displays as
/// `file: path.to.field: problem (hint)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, relative to the config dir (`projects.yaml`).
    pub file: String,
    /// Where in the file: `projects.vip_project.plan`, `chain[1].component`, or
    /// `(file)` for the file as a whole (missing, unreadable, bad YAML syntax).
    pub path: String,
    /// What is wrong.
    pub problem: String,
    /// How to fix it (or what is accepted).
    pub hint: String,
}

impl ConfigError {
    /// A problem at `path` in `file`.
    pub fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            path: path.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// Rank of the file for sorting: the six config files in load order, then any other.
    pub(crate) fn file_rank(&self) -> usize {
        FILE_ORDER
            .iter()
            .position(|f| *f == self.file)
            .unwrap_or(FILE_ORDER.len())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.path, self.problem)?;
        if !self.hint.is_empty() {
            write!(f, " ({})", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Everything wrong with one config directory: all the errors found, not only
/// the first. Displays one error per line.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    /// The problems, grouped by file (users, projects, models, limits,
    /// degradation, policies, then settings files), in the order found.
    pub errors: Vec<ConfigError>,
    /// The warnings found along the way (same format as [`Config::warnings`](super::Config::warnings)).
    pub warnings: Vec<String>,
}

impl ConfigErrors {
    /// The number of errors.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there is no error (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Each error as its display line.
    pub fn lines(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
