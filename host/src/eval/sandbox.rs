//! Runs one untrusted Python program per sample, in its own `python3`
//! process:
//!
//! * a fresh temporary directory (the program's cwd is an empty `work/`
//!   inside it; the program and the result file sit beside it), removed after;
//! * the environment cleared except `PATH`; `python3 -I -B` (isolated: no
//!   `PYTHON*` variables, no user site, no script dir on `sys.path`);
//! * its own process group, killed as a whole (SIGKILL) at the wall-clock
//!   timeout;
//! * resource limits set by the harness (`harness.py`) with
//!   `resource.setrlimit`: CPU seconds (the timeout, rounded up), address space
//!   (1 GiB), file size (10 MiB), no core files, and 0 processes for a
//!   non-root user (root is exempt from `RLIMIT_NPROC`, so it is not claimed);
//! * no network: a fresh network namespace (`unshare -n`, or `unshare -rn`
//!   as an unprivileged user) when the OS permits it, and in every case the
//!   `socket` module disabled in the harness;
//! * Python-level guards against accidents (not a security boundary): process
//!   creation (`os.fork`, `os.system`, `subprocess`, ...), signals and
//!   destructive file operations raise `PermissionError`;
//! * stdout / stderr captured, each truncated to a bound.
//!
//! What is in force on this machine is probed once ([`Sandbox::new`]) and
//! listed by [`Sandbox::in_force`] (the reports print it).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The harness the interpreter runs.
pub const HARNESS: &str = include_str!("harness.py");

/// Executor settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The interpreter to run (resolved to an absolute path once).
    pub python: String,
    /// Wall-clock limit per program; the CPU limit is this, rounded up.
    pub timeout: Duration,
    /// `RLIMIT_AS`.
    pub memory_bytes: u64,
    /// `RLIMIT_FSIZE`.
    pub file_bytes: u64,
    /// Bytes of stdout and of stderr kept.
    pub output_bytes: usize,
    /// Try a network namespace (`unshare -n`) first.
    pub isolate_network: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            python: "python3".into(),
            timeout: Duration::from_secs(10),
            memory_bytes: 1 << 30,
            file_bytes: 10 << 20,
            output_bytes: 16 << 10,
            isolate_network: true,
        }
    }
}

/// The outcome of one sample, finer than the seed's taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// The gateway refused or failed the request (no model text).
    NoCompletion,
    /// The model text held no code.
    NoCode,
    SyntaxError,
    AssertionError,
    NameError,
    TypeError,
    ImportError,
    RecursionError,
    MemoryError,
    /// Any other exception.
    RuntimeError,
    /// Wall-clock timeout or CPU limit.
    Timeout,
    /// The program exited (`exit()`, `sys.exit`, `os._exit`) before its tests finished.
    EarlyExit,
    /// Killed by a signal, or died without a result.
    Crashed,
    /// The executor itself could not run the program.
    SandboxError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::NoCompletion => "no_completion",
            Outcome::NoCode => "no_code",
            Outcome::SyntaxError => "syntax_error",
            Outcome::AssertionError => "assertion_error",
            Outcome::NameError => "name_error",
            Outcome::TypeError => "type_error",
            Outcome::ImportError => "import_error",
            Outcome::RecursionError => "recursion_error",
            Outcome::MemoryError => "memory_error",
            Outcome::RuntimeError => "runtime_error",
            Outcome::Timeout => "timeout",
            Outcome::EarlyExit => "early_exit",
            Outcome::Crashed => "crashed",
            Outcome::SandboxError => "sandbox_error",
        }
    }

    fn from_harness(s: &str) -> Option<Self> {
        Some(match s {
            "passed" => Outcome::Passed,
            "syntax_error" => Outcome::SyntaxError,
            "assertion_error" => Outcome::AssertionError,
            "name_error" => Outcome::NameError,
            "type_error" => Outcome::TypeError,
            "import_error" => Outcome::ImportError,
            "recursion_error" => Outcome::RecursionError,
            "memory_error" => Outcome::MemoryError,
            "runtime_error" => Outcome::RuntimeError,
            "early_exit" => Outcome::EarlyExit,
            _ => return None,
        })
    }

    /// The seed's `error_type` (SEED-SPEC §17): `None` for a pass,
    /// `simulator_rejected`, `extraction_failed`, `execution_timeout`, or
    /// `execution_error` for everything else.
    pub fn seed_error_type(self) -> Option<&'static str> {
        match self {
            Outcome::Passed => None,
            Outcome::NoCompletion => Some("simulator_rejected"),
            Outcome::NoCode => Some("extraction_failed"),
            Outcome::Timeout => Some("execution_timeout"),
            _ => Some("execution_error"),
        }
    }
}

/// One program's run.
#[derive(Debug, Clone)]
pub struct Execution {
    pub outcome: Outcome,
    /// The exception's class name, when there was one.
    pub exception: Option<String>,
    /// A one-line explanation (`AssertionError at line 12: assert ...`).
    pub message: String,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

/// What the harness writes.
#[derive(Deserialize)]
struct HarnessResult {
    nonce: String,
    outcome: String,
    exception: Option<String>,
    message: String,
    #[serde(default)]
    r#where: String,
    #[serde(default)]
    in_force: Vec<String>,
}

/// The executor, probed and ready.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    python: PathBuf,
    /// `unshare -n` / `unshare -rn` prefix, or empty.
    prefix: Vec<String>,
    path_env: String,
    in_force: Vec<String>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Sandbox {
    /// Resolves the interpreter, finds which network isolation the OS permits,
    /// and probes the harness once (which also lists the limits in force).
    pub async fn new(config: SandboxConfig) -> Result<Self> {
        let out = tokio::process::Command::new(&config.python)
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot run `{}`: {e} (the evaluator executes each sample with Python 3; \
                     install python3 or pass --python PATH)",
                    config.python
                )
            })?;
        if !out.status.success() {
            bail!(
                "`{}` failed: {}",
                config.python,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let mut prefix = Vec::new();
        if config.isolate_network {
            for args in [&["-n"][..], &["-r", "-n"][..]] {
                let ok = tokio::process::Command::new("unshare")
                    .args(args)
                    .arg("true")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .is_ok_and(|s| s.success());
                if ok {
                    prefix = std::iter::once("unshare")
                        .chain(args.iter().copied())
                        .chain(["--"])
                        .map(str::to_owned)
                        .collect();
                    break;
                }
            }
        }
        let mut sandbox = Self {
            config,
            python,
            prefix,
            path_env: std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            in_force: Vec::new(),
        };
        let (exec, in_force) = sandbox.run("x = 1\n").await;
        if exec.outcome != Outcome::Passed {
            bail!(
                "the sandbox cannot run a trivial program with {}: {} {}",
                sandbox.python.display(),
                exec.message,
                exec.stderr.trim()
            );
        }
        let mut list = Vec::new();
        list.push(match sandbox.prefix.as_slice() {
            [] => {
                "network: no namespace available (unshare not permitted); Python sockets disabled"
                    .to_owned()
            }
            p => format!(
                "network: isolated namespace (`{}`) and Python sockets disabled",
                p[..p.len() - 1].join(" ")
            ),
        });
        list.push(format!(
            "timeout: {} s wall clock, process group killed",
            sandbox.config.timeout.as_secs_f64()
        ));
        list.push(format!(
            "rlimits: {}",
            in_force
                .iter()
                .filter(|s| s.starts_with("RLIMIT"))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if !in_force.iter().any(|s| s.starts_with("RLIMIT_NPROC")) {
            list.push(
                "processes: RLIMIT_NPROC not in force (running as root, which is exempt); \
                 Python-level fork/exec/subprocess guard only"
                    .to_owned(),
            );
        }
        list.push(
            "python: -I -B, env cleared except PATH, fresh temp dir as cwd, \
             process/file-deletion guards"
                .to_owned(),
        );
        sandbox.in_force = list;
        Ok(sandbox)
    }

    /// The interpreter in use.
    pub fn python(&self) -> &std::path::Path {
        &self.python
    }

    /// What isolation is in force, one line per mechanism.
    pub fn in_force(&self) -> &[String] {
        &self.in_force
    }

    /// Runs a program (function + tests + `check(...)`).
    pub async fn execute(&self, program: &str) -> Execution {
        self.run(program).await.0
    }

    async fn run(&self, program: &str) -> (Execution, Vec<String>) {
        let started = Instant::now();
        let dir = match make_dir() {
            Ok(d) => d,
            Err(e) => return (sandbox_error(format!("{e:#}"), started), Vec::new()),
        };
        let result = self.run_in(&dir, program, started).await;
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(r) => r,
            Err(e) => (sandbox_error(format!("{e:#}"), started), Vec::new()),
        }
    }

    async fn run_in(
        &self,
        dir: &std::path::Path,
        program: &str,
        started: Instant,
    ) -> Result<(Execution, Vec<String>)> {
        let work = dir.join("work");
        std::fs::create_dir(&work).context("create the work directory")?;
        let program_path = dir.join("program.py");
        let result_path = dir.join("result.json");
        std::fs::write(&program_path, program).context("write the program")?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let timeout = self.config.timeout;
        let cfg = serde_json::json!({
            "program": program_path,
            "result": result_path,
            "nonce": nonce,
            "cpu_seconds": timeout.as_secs_f64().ceil().max(1.0) as u64,
            "memory_bytes": self.config.memory_bytes,
            "file_bytes": self.config.file_bytes,
        });

        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = tokio::process::Command::new(first);
                c.args(rest).arg(&self.python);
                c
            }
            None => tokio::process::Command::new(&self.python),
        };
        cmd.args(["-I", "-B", "-c", HARNESS])
            .current_dir(&work)
            .env_clear()
            .env("PATH", &self.path_env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("start python")?;
        let pid = child.id();
        if let Some(mut stdin) = child.stdin.take() {
            let line = format!("{cfg}\n");
            // A program that dies at once closes its stdin: not our error.
            let _ = stdin.write_all(line.as_bytes()).await;
        }
        let limit = self.config.output_bytes;
        let out = tokio::spawn(capture(child.stdout.take(), limit));
        let err = tokio::spawn(capture(child.stderr.take(), limit));

        let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => (status.ok(), false),
            Err(_) => {
                if let Some(pid) = pid {
                    kill_group(pid);
                }
                let _ = child.start_kill();
                (child.wait().await.ok(), true)
            }
        };
        // A grandchild may still hold the pipes: do not wait for it forever.
        let grace = Duration::from_secs(1);
        let stdout = match tokio::time::timeout(grace, out).await {
            Ok(Ok(s)) => s,
            _ => String::new(),
        };
        let stderr = match tokio::time::timeout(grace, err).await {
            Ok(Ok(s)) => s,
            _ => String::new(),
        };
        let seconds = started.elapsed().as_secs_f64();

        let harness: Option<HarnessResult> = std::fs::read_to_string(&result_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|r: &HarnessResult| r.nonce == nonce);
        if let Some(r) = harness.filter(|_| !timed_out)
            && let Some(outcome) = Outcome::from_harness(&r.outcome)
        {
            let message = match (&r.exception, outcome) {
                (_, Outcome::Passed) => String::new(),
                (Some(exc), _) => {
                    let mut m = exc.clone();
                    if !r.message.is_empty() {
                        m.push_str(": ");
                        m.push_str(&r.message);
                    }
                    if !r.r#where.is_empty() {
                        m.push_str(" (at ");
                        m.push_str(&r.r#where);
                        m.push(')');
                    }
                    m
                }
                (None, _) => r.message.clone(),
            };
            return Ok((
                Execution {
                    outcome,
                    exception: r.exception,
                    message,
                    stdout,
                    stderr,
                    seconds,
                },
                r.in_force,
            ));
        }

        // No result from the harness: classify from how the process ended.
        let (outcome, message) = if timed_out {
            (
                Outcome::Timeout,
                format!(
                    "execution_timeout: no result within {} s",
                    timeout.as_secs_f64()
                ),
            )
        } else {
            classify_exit(status, &stderr)
        };
        Ok((
            Execution {
                outcome,
                exception: None,
                message,
                stdout,
                stderr,
                seconds,
            },
            Vec::new(),
        ))
    }
}

fn classify_exit(status: Option<std::process::ExitStatus>, stderr: &str) -> (Outcome, String) {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = status else {
        return (Outcome::Crashed, "lost track of the process".into());
    };
    if let Some(sig) = status.signal() {
        return match sig {
            libc::SIGXCPU => (
                Outcome::Timeout,
                "execution_timeout: CPU time limit exceeded (SIGXCPU)".into(),
            ),
            libc::SIGKILL => (
                Outcome::Crashed,
                "killed by SIGKILL (out of memory?)".into(),
            ),
            libc::SIGSEGV => (Outcome::Crashed, "segmentation fault (SIGSEGV)".into()),
            s => (Outcome::Crashed, format!("killed by signal {s}")),
        };
    }
    let tail = last_lines(stderr, 3);
    match status.code() {
        Some(0) => (
            Outcome::EarlyExit,
            "the program ended the interpreter (os._exit) before its tests finished".into(),
        ),
        _ if stderr.contains("MemoryError") => (Outcome::MemoryError, tail),
        Some(c) => (
            Outcome::Crashed,
            if tail.is_empty() {
                format!("exit code {c} without a result")
            } else {
                format!("exit code {c}: {tail}")
            },
        ),
        None => (Outcome::Crashed, "ended without an exit code".into()),
    }
}

fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

fn sandbox_error(message: String, started: Instant) -> Execution {
    Execution {
        outcome: Outcome::SandboxError,
        exception: None,
        message: format!("runner_error: {message}"),
        stdout: String::new(),
        stderr: String::new(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn make_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let dir = base.join(format!(
            "tollgate-eval-{}-{}-{nanos:x}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("create {}", dir.display())),
        }
    }
    bail!(
        "cannot create a temporary directory under {}",
        base.display()
    )
}

fn kill_group(pid: u32) {
    if let Ok(pgid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Reads a pipe to its end, keeping at most `limit` bytes.
async fn capture(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut chunk = vec![0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    let mut s = String::from_utf8_lossy(&kept).into_owned();
    if truncated {
        s.push_str("\n[... truncated]");
    }
    s
}
