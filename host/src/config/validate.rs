//! Step 2: from the raw structs of [`super::raw`] to the validated types of
//! [`super::model`]: fills the defaults, checks types, ranges and the
//! references between files, and collects every problem on the way.
//!
//! A check that fails records a [`ConfigError`] and goes on with a placeholder
//! value, so one load reports all problems; the placeholders never leave this
//! module because any error makes the load fail. Checks that depend on another
//! file (a project's plan, a user's project) are skipped when that file could
//! not be read at all, so one broken file does not bury the others in noise.

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use yaml_serde::Value;

use super::error::{ConfigError, ConfigErrors, FILE_ORDER};
use super::model::{
    Backend, ComponentSource, Config, FailureMode, FileSummary, LatencyModel, Limits, Model,
    Policies, Priority, PriorityWeights, Project, RateLimit, Sandbox, Simulated, Slot, User,
};
use super::raw::{self, Field};

/// Seed default of `max_input_tokens` (with a warning).
const DEFAULT_MAX_INPUT_TOKENS: i64 = 4096;
/// Seed default of `max_output_tokens` (with a warning).
const DEFAULT_MAX_OUTPUT_TOKENS: i64 = 512;
/// Default of `sandbox.fuel_per_call`.
const DEFAULT_FUEL_PER_CALL: i64 = 5_000_000;
/// Smallest accepted `sandbox.fuel_per_call`.
const MIN_FUEL_PER_CALL: i64 = 1000;
/// Default of `sandbox.deadline_ms`.
const DEFAULT_DEADLINE_MS: i64 = 10;
/// Default of `sandbox.memory_mb`.
const DEFAULT_MEMORY_MB: i64 = 16;
/// wasm32 linear memory cannot exceed 4 GiB.
const MAX_MEMORY_MB: i64 = 4096;
/// Default of ollama `ollama_base_url`.
const DEFAULT_OLLAMA_URL: &str = "http://localhost:11434";
/// Largest amount of euros that fits in u64 nano-euros (with margin).
const MAX_EUR: f64 = 1.8e10;
/// The backends models.yaml may name.
const BACKENDS: &str = "simulated, ollama, openai";

/// Loads and validates the six files of `dir`; `builtins` are the names
/// accepted after `builtin:` in policies.yaml.
pub(crate) fn load_with(dir: &Path, builtins: &[&str]) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx {
        dir,
        builtins,
        errors: Vec::new(),
        warnings: Vec::new(),
    };

    // Read and parse every file first: file-level problems of all six at once.
    let mut docs: IndexMap<&'static str, Option<Value>> = IndexMap::new();
    for name in FILE_ORDER {
        let doc = ctx.read_top(name);
        docs.insert(name, doc);
    }
    let summary = FILE_ORDER
        .iter()
        .filter_map(|name| docs[name].as_ref().map(|v| summarize(name, v)))
        .collect();

    let (limits, plans_known) = limits(&mut ctx, docs["limits.yaml"].clone());
    let plans = plans_known.then_some(&limits.rate_limits);
    let (projects, project_ids) = projects(&mut ctx, docs["projects.yaml"].clone(), plans);
    let users = users(&mut ctx, docs["users.yaml"].clone(), project_ids.as_deref());
    let models = models(
        &mut ctx,
        docs["models.yaml"].clone(),
        limits.request_timeout,
    );
    degradation(&mut ctx, docs["degradation.yaml"].clone());
    let policies = policies(&mut ctx, docs["policies.yaml"].clone(), &docs);

    let warnings: Vec<String> = sorted(ctx.warnings)
        .iter()
        .map(ToString::to_string)
        .collect();
    if !ctx.errors.is_empty() {
        return Err(ConfigErrors {
            errors: sorted(ctx.errors),
            warnings,
        });
    }
    Ok(Config {
        dir: dir.to_path_buf(),
        users,
        projects,
        models,
        limits,
        policies,
        summary,
        warnings,
    })
}

/// Groups by file (load order), keeping the order found within a file.
fn sorted(mut list: Vec<ConfigError>) -> Vec<ConfigError> {
    list.sort_by_key(ConfigError::file_rank);
    list
}

/// The seed's summary of one file: top-level keys, and the size of the first
/// top-level value when it is a mapping, else the number of top-level keys.
fn summarize(file: &str, doc: &Value) -> FileSummary {
    let map = doc.as_mapping();
    let top_level_keys = map
        .map(|m| m.keys().map(key_string).collect())
        .unwrap_or_default();
    let first = map.and_then(|m| m.values().next());
    let item_count = match first {
        Some(Value::Mapping(inner)) => inner.len(),
        _ => map.map_or(0, |m| m.len()),
    };
    FileSummary {
        file: file.to_string(),
        top_level_keys,
        item_count,
    }
}

/// A mapping key as text.
fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => describe_plain(other),
    }
}

/// A value as written, for "found ..." (strings quoted, containers named).
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("string {s:?}"),
        other => describe_plain(other),
    }
}

/// Like [`describe`], without the "string" prefix.
fn describe_plain(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// A number for a message: plain, or in exponent form when huge or tiny.
fn num_text(v: f64) -> String {
    if v == 0.0 || (1e-6..1e15).contains(&v.abs()) || !v.is_finite() {
        v.to_string()
    } else {
        format!("{v:e}")
    }
}

/// A list of names for a hint: `a, b, c`.
fn list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|s| s.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a value sits: its file and its dotted path.
#[derive(Debug, Clone)]
struct At {
    file: String,
    path: String,
}

impl At {
    /// The top of `file`.
    fn root(file: &str) -> At {
        At {
            file: file.to_string(),
            path: String::new(),
        }
    }

    /// The value under `key`.
    fn key(&self, key: &str) -> At {
        let path = if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        At {
            file: self.file.clone(),
            path,
        }
    }

    /// The `index`-th item of a list.
    fn index(&self, index: usize) -> At {
        At {
            file: self.file.clone(),
            path: format!("{}[{index}]", self.path),
        }
    }

    /// The path as shown: `(file)` for the file as a whole.
    fn shown(&self) -> &str {
        if self.path.is_empty() {
            "(file)"
        } else {
            &self.path
        }
    }
}

/// The outcome of reading one field.
enum Got<T> {
    /// Absent or null.
    Missing,
    /// Present but invalid (already reported).
    Bad,
    /// Present and valid.
    Ok(T),
}

impl<T> Got<T> {
    /// The value, or `default` when missing or invalid.
    fn or(self, default: T) -> T {
        match self {
            Got::Ok(v) => v,
            Got::Missing | Got::Bad => default,
        }
    }

    /// The value if present and valid.
    fn ok(self) -> Option<T> {
        match self {
            Got::Ok(v) => Some(v),
            Got::Missing | Got::Bad => None,
        }
    }
}

/// Lower bound of a number field.
#[derive(Clone, Copy)]
enum Min {
    /// `>= x`
    Incl(f64),
    /// `> x`
    Excl(f64),
}

/// The state of one load: where the files are and what was found so far.
struct Ctx<'a> {
    dir: &'a Path,
    builtins: &'a [&'a str],
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn error(&mut self, at: &At, problem: impl Into<String>, hint: impl Into<String>) {
        self.errors
            .push(ConfigError::new(&at.file, at.shown(), problem, hint));
    }

    fn warn(&mut self, at: &At, problem: impl Into<String>, hint: impl Into<String>) {
        self.warnings
            .push(ConfigError::new(&at.file, at.shown(), problem, hint));
    }

    /// One warning per unknown key under `at`.
    fn unknown(&mut self, at: &At, unknown: &IndexMap<String, Value>, known: &[&str]) {
        for key in unknown.keys() {
            self.warn(
                &at.key(key),
                "unknown key, ignored",
                format!("known keys here: {}", list(known)),
            );
        }
    }

    /// Reads `name` from the config dir and parses it; `None` (reported) when
    /// it is missing, unreadable, not YAML, empty or not a mapping.
    fn read_top(&mut self, name: &str) -> Option<Value> {
        let at = At::root(name);
        let value = self.read_yaml(&at, name)?;
        match value {
            Value::Mapping(ref m) if !m.is_empty() => Some(value),
            Value::Null => {
                self.error(
                    &at,
                    "file is empty",
                    "expected a mapping of top-level keys, as in the shipped config/",
                );
                None
            }
            Value::Mapping(_) => {
                self.error(
                    &at,
                    "file holds an empty mapping",
                    "expected top-level keys, as in the shipped config/",
                );
                None
            }
            other => {
                self.error(
                    &at,
                    format!(
                        "the top level must be a mapping, found {}",
                        describe(&other)
                    ),
                    "expected top-level keys, as in the shipped config/",
                );
                None
            }
        }
    }

    /// Reads and parses the YAML file `name` (relative to the config dir),
    /// reporting problems at `at`.
    fn read_yaml(&mut self, at: &At, name: &str) -> Option<Value> {
        let path = self.dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let problem = if at.path.is_empty() {
                    "file not found".to_string()
                } else {
                    format!("file {name:?} not found")
                };
                self.error(at, problem, format!("looked for {}", path.display()));
                return None;
            }
            Err(e) => {
                self.error(
                    at,
                    format!("cannot read {name}: {e}"),
                    format!("check {}", path.display()),
                );
                return None;
            }
        };
        match yaml_serde::from_str::<Value>(&text) {
            Ok(value) => Some(self.normalize(&At::root(name), value)),
            Err(e) => {
                let mut message = e.to_string();
                let place = e.location().map(|l| {
                    // The message may end with its own " at line L column C".
                    if let Some(cut) =
                        message.find(&format!(" at line {} column {}", l.line(), l.column()))
                    {
                        message.truncate(cut);
                    }
                    format!(" at line {}, column {}", l.line(), l.column())
                });
                let place = place.unwrap_or_default();
                let problem = if at.path.is_empty() {
                    format!("invalid YAML{place}: {message}")
                } else {
                    format!("invalid YAML in {name}{place}: {message}")
                };
                self.error(at, problem, "fix the YAML syntax");
                None
            }
        }
    }

    /// Makes a parsed document plain: YAML tags are dropped (with a warning)
    /// and scalar mapping keys become strings (`1:` is the key "1").
    fn normalize(&mut self, at: &At, value: Value) -> Value {
        match value {
            Value::Tagged(t) => {
                self.warn(
                    at,
                    format!("YAML tag {} ignored", t.tag),
                    "config files use plain values",
                );
                self.normalize(at, t.value)
            }
            Value::Sequence(items) => Value::Sequence(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.normalize(&at.index(i), v))
                    .collect(),
            ),
            Value::Mapping(map) => {
                let mut out = yaml_serde::Mapping::with_capacity(map.len());
                for (key, v) in map {
                    let key = match self.normalize(at, key) {
                        k @ (Value::Number(_) | Value::Bool(_)) => Value::String(key_string(&k)),
                        k => k,
                    };
                    let v = self.normalize(&at.key(&key_string(&key)), v);
                    out.insert(key, v);
                }
                Value::Mapping(out)
            }
            other => other,
        }
    }

    /// Turns a parsed top-level mapping into its raw struct.
    fn top<T: serde::de::DeserializeOwned>(&mut self, file: &str, doc: Value) -> Option<T> {
        match yaml_serde::from_value::<T>(doc) {
            Ok(raw) => Some(raw),
            Err(e) => {
                self.error(
                    &At::root(file),
                    format!("unreadable top level: {e}"),
                    "top-level keys must be plain names",
                );
                None
            }
        }
    }

    /// Checks a field's type: `Ok(None)` when absent.
    fn take<T>(&mut self, at: &At, field: Option<Field<T>>, expected: &str, hint: &str) -> Got<T> {
        match field {
            None => Got::Missing,
            Some(Field::Ok(v)) => Got::Ok(v),
            Some(Field::Wrong {
                value: Value::Null, ..
            }) => Got::Missing,
            Some(Field::Wrong { value, .. }) => {
                self.error(
                    at,
                    format!("must be {expected}, found {}", describe(&value)),
                    hint,
                );
                Got::Bad
            }
        }
    }

    /// Reports a missing required field; passes the others through.
    fn required<T>(&mut self, at: &At, got: Got<T>, hint: &str) -> Got<T> {
        if let Got::Missing = got {
            self.error(at, "missing", hint);
            return Got::Bad;
        }
        got
    }

    fn string(&mut self, at: &At, field: Option<Field<String>>, hint: &str) -> Got<String> {
        self.take(at, field, "a string", hint)
    }

    fn boolean(&mut self, at: &At, field: Option<Field<bool>>, hint: &str) -> Got<bool> {
        self.take(at, field, "true or false", hint)
    }

    /// An integer in `min..=max`.
    fn int(
        &mut self,
        at: &At,
        field: Option<Field<i64>>,
        min: i64,
        max: i64,
        hint: &str,
    ) -> Got<i64> {
        let expected = format!("an integer >= {min}");
        let value = match field {
            // Integers beyond i64 do not deserialize as i64: say "too large", not "not an integer".
            Some(Field::Wrong {
                value: Value::Number(n),
                ..
            }) if n.is_u64() => {
                self.error(at, format!("must be at most {max}, found {n}"), hint);
                return Got::Bad;
            }
            other => self.take(at, other, &expected, hint),
        };
        match value {
            Got::Ok(v) if v < min => {
                self.error(at, format!("must be {expected}, found {v}"), hint);
                Got::Bad
            }
            Got::Ok(v) if v > max => {
                self.error(at, format!("must be at most {max}, found {v}"), hint);
                Got::Bad
            }
            other => other,
        }
    }

    /// A finite number above `min`, and below `max` (exclusive) when given.
    fn num(
        &mut self,
        at: &At,
        field: Option<Field<f64>>,
        min: Min,
        max: Option<f64>,
        hint: &str,
    ) -> Got<f64> {
        let mut expected = match min {
            Min::Incl(m) => format!("a number >= {m}"),
            Min::Excl(m) => format!("a number > {m}"),
        };
        if let Some(max) = max {
            expected.push_str(&format!(" and < {max}"));
        }
        match self.take(at, field, &expected, hint) {
            Got::Ok(v) => {
                let above = match min {
                    Min::Incl(m) => v >= m,
                    Min::Excl(m) => v > m,
                };
                let below = max.is_none_or(|max| v < max);
                if !v.is_finite() || !above || !below {
                    self.error(
                        at,
                        format!("must be {expected}, found {}", num_text(v)),
                        hint,
                    );
                    return Got::Bad;
                }
                Got::Ok(v)
            }
            other => other,
        }
    }

    /// Seconds > 0 as a duration.
    fn seconds(&mut self, at: &At, field: Option<Field<f64>>, hint: &str) -> Got<Duration> {
        let got = self.num(at, field, Min::Excl(0.0), None, hint);
        self.duration(at, got, 1.0, hint)
    }

    /// Converts a checked number of `unit` seconds into a duration.
    fn duration(&mut self, at: &At, got: Got<f64>, unit: f64, hint: &str) -> Got<Duration> {
        match got {
            Got::Ok(v) => match Duration::try_from_secs_f64(v * unit) {
                Ok(d) => Got::Ok(d),
                Err(_) => {
                    self.error(at, format!("too large: {}", num_text(v)), hint);
                    Got::Bad
                }
            },
            Got::Missing => Got::Missing,
            Got::Bad => Got::Bad,
        }
    }

    /// Euros >= 0 as nano-euros.
    fn nano_eur(&mut self, at: &At, field: Option<Field<f64>>, hint: &str) -> Got<u64> {
        match self.num(at, field, Min::Incl(0.0), None, hint) {
            Got::Ok(v) if v > MAX_EUR => {
                self.error(
                    at,
                    format!(
                        "must be at most {}, found {}",
                        num_text(MAX_EUR),
                        num_text(v)
                    ),
                    hint,
                );
                Got::Bad
            }
            Got::Ok(v) => Got::Ok((v * 1e9).round() as u64),
            Got::Missing => Got::Missing,
            Got::Bad => Got::Bad,
        }
    }

    /// A struct-valued field: absent, a mapping, or (reported) anything else.
    fn nested<T>(&mut self, at: &At, field: Option<Field<T>>, hint: &str) -> Got<T> {
        match field {
            None => Got::Missing,
            Some(Field::Ok(v)) => Got::Ok(v),
            Some(Field::Wrong {
                value: Value::Null, ..
            }) => Got::Missing,
            Some(Field::Wrong {
                value: value @ Value::Mapping(_),
                error,
            }) => {
                self.error(
                    at,
                    format!("cannot read {}: {error}", describe(&value)),
                    hint,
                );
                Got::Bad
            }
            Some(Field::Wrong { value, .. }) => {
                self.error(
                    at,
                    format!("must be a mapping, found {}", describe(&value)),
                    hint,
                );
                Got::Bad
            }
        }
    }

    /// A mapping of named entries (`users`, `projects`, ...): `None` when
    /// missing or not a mapping (reported). Null entries count as empty ones;
    /// entries that are not mappings are reported and left out.
    fn entries<T: Default>(
        &mut self,
        at: &At,
        field: Option<Field<IndexMap<String, Field<T>>>>,
        hint: &str,
    ) -> Option<Vec<(String, At, Option<T>)>> {
        let map = match self.nested(at, field, hint) {
            Got::Ok(map) => map,
            Got::Missing => {
                self.error(at, "missing", hint);
                return None;
            }
            Got::Bad => return None,
        };
        let mut out = Vec::with_capacity(map.len());
        for (name, entry) in map {
            let entry_at = at.key(&name);
            let entry = match entry {
                Field::Ok(v) => Some(v),
                Field::Wrong {
                    value: Value::Null, ..
                } => Some(T::default()),
                Field::Wrong { value, error } => {
                    let problem = match value {
                        Value::Mapping(_) => format!("cannot read the entry: {error}"),
                        other => format!("must be a mapping, found {}", describe(&other)),
                    };
                    self.error(&entry_at, problem, hint);
                    None
                }
            };
            out.push((name, entry_at, entry));
        }
        Some(out)
    }
}

// ---------------------------------------------------------------- limits.yaml

/// limits.yaml → [`Limits`]; the flag says whether `rate_limits` could be read
/// (the plan check of projects.yaml needs it).
fn limits(ctx: &mut Ctx<'_>, doc: Option<Value>) -> (Limits, bool) {
    let mut limits = Limits {
        max_active_requests: 1,
        max_queue_size: 0,
        max_queue_wait: Duration::from_secs(30),
        request_timeout: Duration::from_secs(120),
        retention_days: None,
        rate_limits: IndexMap::new(),
        priority_weights: PriorityWeights {
            high: 10,
            normal: 5,
            low: 1,
        },
    };
    let file = "limits.yaml";
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::LimitsFile>(file, d)) else {
        return (limits, false);
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::LimitsFile::KEYS);

    let at = root.key("global_limits");
    let hint = "global_limits needs max_active_requests, max_queue_size, max_queue_wait_seconds, request_timeout_seconds";
    match ctx.nested(&at, raw.global_limits, hint) {
        Got::Missing => ctx.error(&at, "missing", hint),
        Got::Bad => {}
        Got::Ok(g) => {
            ctx.unknown(&at, &g.unknown, raw::GlobalLimits::KEYS);
            let a = at.key("max_active_requests");
            let got = ctx.int(
                &a,
                g.max_active_requests,
                1,
                u32::MAX.into(),
                "requests served at once",
            );
            limits.max_active_requests = ctx
                .required(&a, got, "requests served at once, e.g. 50")
                .or(1) as u32;

            let a = at.key("max_queue_size");
            let got = ctx.int(
                &a,
                g.max_queue_size,
                0,
                u32::MAX.into(),
                "requests waiting at once",
            );
            limits.max_queue_size = ctx
                .required(&a, got, "requests waiting at once, e.g. 1000")
                .or(0) as u32;

            let a = at.key("max_queue_wait_seconds");
            let got = ctx.seconds(
                &a,
                g.max_queue_wait_seconds,
                "longest wait in the queue, in seconds",
            );
            limits.max_queue_wait = ctx
                .required(&a, got, "longest wait in the queue, e.g. 30")
                .or(limits.max_queue_wait);

            let a = at.key("request_timeout_seconds");
            let got = ctx.seconds(
                &a,
                g.request_timeout_seconds,
                "default upper bound of one backend call, in seconds",
            );
            limits.request_timeout = ctx
                .required(&a, got, "default upper bound of one backend call, e.g. 120")
                .or(limits.request_timeout);
            let a = at.key("retention_days");
            let got = ctx.int(&a, g.retention_days, 1, 36_500, "days usage rows are kept");
            limits.retention_days = match got {
                Got::Ok(days) => Some(days as u32),
                Got::Missing | Got::Bad => None,
            };
        }
    }

    let at = root.key("rate_limits");
    let hint = "rate_limits maps each plan to {requests_per_minute, tokens_per_minute}";
    let plans_known = match ctx.nested(&at, raw.rate_limits, hint) {
        Got::Missing => true,
        Got::Bad => false,
        Got::Ok(plans) => {
            for (plan, entry) in plans {
                let plan_at = at.key(&plan);
                let rl = match entry {
                    Field::Ok(rl) => rl,
                    Field::Wrong {
                        value: Value::Null, ..
                    } => raw::RateLimit::default(),
                    Field::Wrong { value, .. } => {
                        ctx.error(
                            &plan_at,
                            format!("must be a mapping, found {}", describe(&value)),
                            hint,
                        );
                        // Keep the plan: projects naming it are not the problem.
                        limits.rate_limits.insert(
                            plan,
                            RateLimit {
                                requests_per_minute: None,
                                tokens_per_minute: None,
                            },
                        );
                        continue;
                    }
                };
                ctx.unknown(&plan_at, &rl.unknown, raw::RateLimit::KEYS);
                let hint = "missing means unlimited";
                let rpm = ctx.int(
                    &plan_at.key("requests_per_minute"),
                    rl.requests_per_minute,
                    1,
                    u32::MAX.into(),
                    hint,
                );
                let tpm = ctx.int(
                    &plan_at.key("tokens_per_minute"),
                    rl.tokens_per_minute,
                    1,
                    i64::MAX,
                    hint,
                );
                let rate = RateLimit {
                    requests_per_minute: rpm.ok().map(|v| v as u32),
                    tokens_per_minute: tpm.ok().map(|v| v as u64),
                };
                limits.rate_limits.insert(plan, rate);
            }
            true
        }
    };

    let at = root.key("priority_weights");
    let hint = "scheduling weight of each priority class: high, normal, low";
    match ctx.nested(&at, raw.priority_weights, hint) {
        Got::Missing | Got::Bad => {}
        Got::Ok(w) => {
            ctx.unknown(&at, &w.unknown, raw::PriorityWeights::KEYS);
            let mut weight = |key: &str, field, default| {
                let got = ctx.take(&at.key(key), field, "an integer", hint);
                got.or(default)
            };
            limits.priority_weights = PriorityWeights {
                high: weight("high", w.high, 10),
                normal: weight("normal", w.normal, 5),
                low: weight("low", w.low, 1),
            };
        }
    }
    (limits, plans_known)
}

// -------------------------------------------------------------- projects.yaml

/// projects.yaml → projects, plus every project id (also of broken entries;
/// `None` when the file could not be read).
fn projects(
    ctx: &mut Ctx<'_>,
    doc: Option<Value>,
    plans: Option<&IndexMap<String, RateLimit>>,
) -> (IndexMap<String, Project>, Option<Vec<String>>) {
    let file = "projects.yaml";
    let mut out = IndexMap::new();
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::ProjectsFile>(file, d)) else {
        return (out, None);
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::ProjectsFile::KEYS);
    let hint = "projects maps each project id to {name, plan, priority, monthly_token_quota, ...}";
    let Some(entries) = ctx.entries(&root.key("projects"), raw.projects, hint) else {
        return (out, None);
    };
    let ids = entries.iter().map(|(id, _, _)| id.clone()).collect();
    for (id, at, p) in entries {
        let Some(p) = p else { continue };
        ctx.unknown(&at, &p.unknown, raw::Project::KEYS);
        let name = ctx
            .string(&at.key("name"), p.name, "the project's display name")
            .or_else_id(&id);

        let plan_at = at.key("plan");
        let plan = ctx
            .string(&plan_at, p.plan, "a plan of limits.yaml rate_limits")
            .ok();
        let plan = plan.unwrap_or_else(|| "standard".to_string());
        if let Some(plans) = plans
            && !plans.contains_key(&plan)
        {
            let hint = if plans.is_empty() {
                format!("add rate_limits.{plan} to limits.yaml (it defines no plan)")
            } else {
                format!(
                    "add rate_limits.{plan} to limits.yaml or use one of: {}",
                    list(plans.keys())
                )
            };
            ctx.error(
                &plan_at,
                format!("no rate limits for plan {plan:?} in limits.yaml"),
                hint,
            );
        }

        let pri_at = at.key("priority");
        let priority = match ctx.string(&pri_at, p.priority, "one of: low, normal, high") {
            Got::Ok(s) => match s.as_str() {
                "low" => Priority::Low,
                "normal" => Priority::Normal,
                "high" => Priority::High,
                _ => {
                    ctx.error(
                        &pri_at,
                        format!("unknown priority {s:?}"),
                        "use one of: low, normal, high",
                    );
                    Priority::Normal
                }
            },
            _ => Priority::Normal,
        };

        let quota = ctx.int(
            &at.key("monthly_token_quota"),
            p.monthly_token_quota,
            0,
            i64::MAX,
            "tokens per month; leave it out for no quota",
        );
        let budget = ctx.nano_eur(
            &at.key("monthly_budget_eur"),
            p.monthly_budget_eur,
            "euros per month; leave it out for no budget",
        );
        let conc = ctx.int(
            &at.key("max_concurrent_requests"),
            p.max_concurrent_requests,
            1,
            u32::MAX.into(),
            "requests in flight at once; leave it out for no limit",
        );
        let enabled = ctx
            .boolean(&at.key("enabled"), p.enabled, "missing means false")
            .or(false);
        out.insert(
            id,
            Project {
                name,
                plan,
                priority,
                monthly_token_quota: quota.ok().map(|v| v as u64),
                monthly_budget_nano_eur: budget.ok(),
                max_concurrent_requests: conc.ok().map(|v| v as u32),
                enabled,
            },
        );
    }
    (out, Some(ids))
}

impl Got<String> {
    /// The string, or the entry's id when missing or invalid.
    fn or_else_id(self, id: &str) -> String {
        self.ok().unwrap_or_else(|| id.to_string())
    }
}

// ----------------------------------------------------------------- users.yaml

/// users.yaml → users; `project_ids` is `None` when projects.yaml could not be read.
fn users(
    ctx: &mut Ctx<'_>,
    doc: Option<Value>,
    project_ids: Option<&[String]>,
) -> IndexMap<String, User> {
    let file = "users.yaml";
    let mut out = IndexMap::new();
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::UsersFile>(file, d)) else {
        return out;
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::UsersFile::KEYS);
    let hint = "users maps each user id to {name, project_id, role, enabled}";
    let Some(entries) = ctx.entries(&root.key("users"), raw.users, hint) else {
        return out;
    };
    let projects_hint = match project_ids {
        Some(ids) if !ids.is_empty() => format!("projects.yaml defines: {}", list(ids)),
        _ => "projects.yaml defines no project".to_string(),
    };
    for (id, at, u) in entries {
        let Some(u) = u else { continue };
        ctx.unknown(&at, &u.unknown, raw::User::KEYS);
        let name = ctx
            .string(&at.key("name"), u.name, "the user's display name")
            .or_else_id(&id);
        let pid_at = at.key("project_id");
        let got = ctx.string(&pid_at, u.project_id, &projects_hint);
        let project_id = ctx.required(
            &pid_at,
            got,
            &format!("the only project this user may use; {projects_hint}"),
        );
        let project_id = project_id.ok().unwrap_or_default();
        if let Some(ids) = project_ids
            && !project_id.is_empty()
            && !ids.contains(&project_id)
        {
            ctx.error(
                &pid_at,
                format!("unknown project {project_id:?}"),
                projects_hint.clone(),
            );
        }
        let role = ctx
            .string(
                &at.key("role"),
                u.role,
                "a free-form role, e.g. user or admin",
            )
            .or(String::new());
        let enabled = ctx
            .boolean(&at.key("enabled"), u.enabled, "missing means false")
            .or(false);
        out.insert(
            id,
            User {
                name,
                project_id,
                role,
                enabled,
            },
        );
    }
    out
}

// ---------------------------------------------------------------- models.yaml

/// models.yaml → models; `default_timeout` is limits.yaml's request timeout.
fn models(
    ctx: &mut Ctx<'_>,
    doc: Option<Value>,
    default_timeout: Duration,
) -> IndexMap<String, Model> {
    let file = "models.yaml";
    let mut out = IndexMap::new();
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::ModelsFile>(file, d)) else {
        return out;
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::ModelsFile::KEYS);
    let hint = "models maps each model name to {backend, enabled, max_input_tokens, ...}";
    let Some(entries) = ctx.entries(&root.key("models"), raw.models, hint) else {
        return out;
    };
    for (name, at, m) in entries {
        let Some(m) = m else { continue };
        if let Some(model) = model(ctx, &name, &at, m, default_timeout) {
            out.insert(name, model);
        }
    }
    out
}

/// One models.yaml entry; `None` when its backend is missing or unknown.
fn model(
    ctx: &mut Ctx<'_>,
    name: &str,
    at: &At,
    m: raw::Model,
    default_timeout: Duration,
) -> Option<Model> {
    ctx.unknown(at, &m.unknown, raw::Model::KEYS);
    let backend_at = at.key("backend");
    let backend_hint = format!("use one of: {BACKENDS}");
    let got = ctx.string(&backend_at, m.backend, &backend_hint);
    let backend = ctx.required(&backend_at, got, &backend_hint).ok();
    let backend = match backend.as_deref() {
        Some(b @ ("simulated" | "ollama" | "openai")) => Some(b),
        Some(other) => {
            ctx.error(
                &backend_at,
                format!("unknown backend {other:?}"),
                backend_hint,
            );
            None
        }
        None => None,
    };

    // Keys of another backend are ignored: say so.
    if let Some(backend) = backend {
        let backend_keys = [
            (
                "average_latency_seconds",
                m.average_latency_seconds.is_some(),
                "simulated",
            ),
            ("latency_model", m.latency_model.is_some(), "simulated"),
            ("ollama_base_url", m.ollama_base_url.is_some(), "ollama"),
            ("ollama_model", m.ollama_model.is_some(), "ollama"),
            ("base_url", m.base_url.is_some(), "openai"),
            ("upstream_model", m.upstream_model.is_some(), "openai"),
            ("api_key_env", m.api_key_env.is_some(), "openai"),
            (
                "api",
                m.api.is_some() && backend == "simulated",
                "ollama or openai",
            ),
        ];
        for (key, present, owner) in backend_keys {
            if present && owner != backend {
                ctx.warn(
                    &at.key(key),
                    format!("only used by backend {owner}, ignored for backend {backend}"),
                    "remove it or change the backend",
                );
            }
        }
    }

    let enabled = ctx
        .boolean(&at.key("enabled"), m.enabled, "missing means false")
        .or(false);
    let mut tokens = |key: &str, field, default: i64, hint: &str| {
        let key_at = at.key(key);
        match ctx.int(&key_at, field, 1, u32::MAX.into(), hint) {
            Got::Missing => {
                ctx.warn(
                    &key_at,
                    format!("missing, using {default}"),
                    format!("set {key} explicitly"),
                );
                default as u32
            }
            got => got.or(default) as u32,
        }
    };
    let max_input_tokens = tokens(
        "max_input_tokens",
        m.max_input_tokens,
        DEFAULT_MAX_INPUT_TOKENS,
        "longest prompt, in tokens",
    );
    let max_output_tokens = tokens(
        "max_output_tokens",
        m.max_output_tokens,
        DEFAULT_MAX_OUTPUT_TOKENS,
        "largest max_tokens, in tokens",
    );
    let price_hint = "EUR per 1000 tokens; missing means free";
    let input_price = ctx.nano_eur(
        &at.key("input_cost_per_1k_tokens_eur"),
        m.input_cost_per_1k_tokens_eur,
        price_hint,
    );
    let output_price = ctx.nano_eur(
        &at.key("output_cost_per_1k_tokens_eur"),
        m.output_cost_per_1k_tokens_eur,
        price_hint,
    );
    let timeout = ctx
        .seconds(
            &at.key("request_timeout_seconds"),
            m.request_timeout_seconds,
            "upper bound of one backend call, in seconds; missing means limits.yaml's request_timeout_seconds",
        )
        .or(default_timeout);

    let backend = match backend? {
        "simulated" => {
            let lat_at = at.key("average_latency_seconds");
            let got = ctx.num(
                &lat_at,
                m.average_latency_seconds,
                Min::Incl(0.0),
                None,
                "the simulated latency, in seconds",
            );
            let average_latency = ctx
                .duration(&lat_at, got, 1.0, "the simulated latency, in seconds")
                .or(Duration::ZERO);
            let latency_model = latency_model(ctx, &at.key("latency_model"), m.latency_model);
            Backend::Simulated(Simulated {
                average_latency,
                latency_model,
            })
        }
        "ollama" => {
            let base_url = url(ctx, &at.key("ollama_base_url"), m.ollama_base_url, false)
                .unwrap_or_else(|| DEFAULT_OLLAMA_URL.to_string());
            let model = model_name(ctx, &at.key("ollama_model"), m.ollama_model, name);
            let chat =
                api_choice(ctx, &at.key("api"), m.api.clone(), &["generate", "chat"]) == "chat";
            Backend::Ollama {
                base_url,
                model,
                chat,
            }
        }
        _ => {
            let base_url = url(ctx, &at.key("base_url"), m.base_url, true).unwrap_or_default();
            let model = model_name(ctx, &at.key("upstream_model"), m.upstream_model, name);
            let env_at = at.key("api_key_env");
            let env_hint = "the NAME of the environment variable holding the API key (e.g. OPENAI_API_KEY), never the key itself";
            let api_key_env = match ctx.string(&env_at, m.api_key_env, env_hint) {
                Got::Ok(v) if is_env_name(&v) => Some(v),
                // The value may be a pasted key: do not echo it.
                Got::Ok(_) => {
                    ctx.error(&env_at, "not an environment variable name", env_hint);
                    None
                }
                _ => None,
            };
            let chat =
                api_choice(ctx, &at.key("api"), m.api.clone(), &["chat", "completions"]) == "chat";
            Backend::OpenAi {
                base_url,
                model,
                api_key_env,
                chat,
            }
        }
    };
    let max_parallel = match ctx.int(
        &at.key("max_parallel_requests"),
        m.max_parallel_requests,
        1,
        u32::MAX.into(),
        "most requests sent to this model's server at once",
    ) {
        Got::Ok(n) => Some(n as u32),
        Got::Missing | Got::Bad => None,
    };
    Some(Model {
        enabled,
        backend,
        max_parallel,
        max_input_tokens,
        max_output_tokens,
        input_nano_eur_per_1k: input_price.or(0),
        output_nano_eur_per_1k: output_price.or(0),
        request_timeout: timeout,
    })
}

/// `api:` of a real backend: one of `choices`, the first being the default.
fn api_choice(
    ctx: &mut Ctx<'_>,
    at: &At,
    field: Option<Field<String>>,
    choices: &[&'static str],
) -> &'static str {
    match ctx.string(at, field, "the API the server is called with") {
        Got::Ok(v) => match choices.iter().find(|c| **c == v) {
            Some(c) => c,
            None => {
                ctx.error(
                    at,
                    format!("unknown api {v:?}"),
                    format!("use one of: {}", choices.join(", ")),
                );
                choices[0]
            }
        },
        Got::Missing | Got::Bad => choices[0],
    }
}

/// `latency_model:` of a simulated model.
fn latency_model(
    ctx: &mut Ctx<'_>,
    at: &At,
    field: Option<Field<raw::LatencyModel>>,
) -> Option<LatencyModel> {
    let hint = "latency_model: {time_to_first_token_ms, time_per_output_token_ms, jitter, seed}";
    let lm = ctx.nested(at, field, hint).ok()?;
    ctx.unknown(at, &lm.unknown, raw::LatencyModel::KEYS);
    let mut ms = |key: &str, field, hint: &str| {
        let key_at = at.key(key);
        let got = ctx.num(&key_at, field, Min::Incl(0.0), None, hint);
        let got = ctx.required(&key_at, got, hint);
        ctx.duration(&key_at, got, 1e-3, hint).or(Duration::ZERO)
    };
    let time_to_first_token = ms(
        "time_to_first_token_ms",
        lm.time_to_first_token_ms,
        "milliseconds before the first token",
    );
    let time_per_output_token = ms(
        "time_per_output_token_ms",
        lm.time_per_output_token_ms,
        "milliseconds per output token",
    );
    let jitter = ctx
        .num(
            &at.key("jitter"),
            lm.jitter,
            Min::Incl(0.0),
            Some(1.0),
            "relative jitter; 0.1 means +-10%",
        )
        .or(0.0);
    let seed = ctx
        .int(&at.key("seed"), lm.seed, 0, i64::MAX, "seed of the jitter")
        .or(0) as u64;
    Some(LatencyModel {
        time_to_first_token,
        time_per_output_token,
        jitter,
        seed,
    })
}

/// An http(s) URL; `None` when missing (reported if `required`) or invalid (reported).
fn url(ctx: &mut Ctx<'_>, at: &At, field: Option<Field<String>>, required: bool) -> Option<String> {
    let hint = "the server's URL, e.g. http://localhost:11434";
    let mut got = ctx.string(at, field, hint);
    if required {
        got = ctx.required(at, got, hint);
    }
    let url = got.ok()?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(str::is_empty) {
        ctx.error(
            at,
            format!("must start with http:// or https://, found {url:?}"),
            hint,
        );
        return None;
    }
    Some(url)
}

/// The model name on the server (default: the model's key).
fn model_name(ctx: &mut Ctx<'_>, at: &At, field: Option<Field<String>>, key: &str) -> String {
    let hint = "the model's name on the server; missing means the model's key";
    match ctx.string(at, field, hint) {
        Got::Ok(s) if s.trim().is_empty() => {
            ctx.error(at, "is empty", hint);
            key.to_string()
        }
        got => got.or_else_id(key),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ----------------------------------------------------------- degradation.yaml

/// degradation.yaml: only the top-level shape (the degradation component
/// validates the levels).
fn degradation(ctx: &mut Ctx<'_>, doc: Option<Value>) {
    let file = "degradation.yaml";
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::DegradationFile>(file, d)) else {
        return;
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::DegradationFile::KEYS);
    let at = root.key("degradation_levels");
    let hint = "degradation_levels maps each level name to {level, queue_usage_threshold, actions}";
    match ctx.take(&at, raw.degradation_levels, "a mapping", hint) {
        Got::Missing => ctx.error(&at, "missing", hint),
        Got::Bad => {}
        Got::Ok(Value::Mapping(m)) if m.is_empty() => ctx.error(&at, "is empty", hint),
        Got::Ok(Value::Mapping(_)) => {}
        Got::Ok(other) => ctx.error(
            &at,
            format!("must be a mapping, found {}", describe(&other)),
            hint,
        ),
    }
}

// -------------------------------------------------------------- policies.yaml

/// policies.yaml → [`Policies`]; `docs` are the six files as parsed, reused
/// when a slot's `settings_file` is one of them.
fn policies(
    ctx: &mut Ctx<'_>,
    doc: Option<Value>,
    docs: &IndexMap<&'static str, Option<Value>>,
) -> Policies {
    let file = "policies.yaml";
    let mut out = Policies {
        chain: Vec::new(),
        sandbox: Sandbox {
            fuel_per_call: DEFAULT_FUEL_PER_CALL as u64,
            deadline: Duration::from_millis(DEFAULT_DEADLINE_MS as u64),
            memory_bytes: (DEFAULT_MEMORY_MB as usize) << 20,
        },
    };
    let Some(raw) = doc.and_then(|d| ctx.top::<raw::PoliciesFile>(file, d)) else {
        return out;
    };
    let root = At::root(file);
    ctx.unknown(&root, &raw.unknown, raw::PoliciesFile::KEYS);

    let at = root.key("sandbox");
    if let Some(s) = ctx
        .nested(
            &at,
            raw.sandbox,
            "sandbox: {fuel_per_call, deadline_ms, memory_mb}",
        )
        .ok()
    {
        ctx.unknown(&at, &s.unknown, raw::Sandbox::KEYS);
        let fuel = ctx.int(
            &at.key("fuel_per_call"),
            s.fuel_per_call,
            MIN_FUEL_PER_CALL,
            i64::MAX,
            "fuel (about wasm instructions) per policy call; default 5000000",
        );
        let deadline = ctx.int(
            &at.key("deadline_ms"),
            s.deadline_ms,
            1,
            i64::MAX,
            "wall-clock milliseconds per policy call; default 10",
        );
        let memory = ctx.int(
            &at.key("memory_mb"),
            s.memory_mb,
            1,
            MAX_MEMORY_MB,
            "linear memory per policy instance, in MiB (wasm32: at most 4096); default 16",
        );
        out.sandbox = Sandbox {
            fuel_per_call: fuel.or(DEFAULT_FUEL_PER_CALL) as u64,
            deadline: Duration::from_millis(deadline.or(DEFAULT_DEADLINE_MS) as u64),
            memory_bytes: (memory.or(DEFAULT_MEMORY_MB) as usize) << 20,
        };
    }

    let at = root.key("chain");
    let hint = "chain lists the slots in the order they run, each {slot, component, failure_mode, settings, settings_file}";
    let items = match ctx.take(&at, raw.chain, "a list of slots", hint) {
        Got::Ok(items) if items.is_empty() => {
            ctx.error(&at, "is empty", hint);
            return out;
        }
        Got::Ok(items) => items,
        Got::Missing => {
            ctx.error(&at, "missing", hint);
            return out;
        }
        Got::Bad => return out,
    };
    let mut seen: IndexMap<String, usize> = IndexMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let item_at = at.index(i);
        let raw_slot = match item {
            Field::Ok(s) => s,
            Field::Wrong {
                value: Value::Null, ..
            } => raw::Slot::default(),
            Field::Wrong { value, .. } => {
                ctx.error(
                    &item_at,
                    format!("must be a mapping, found {}", describe(&value)),
                    hint,
                );
                continue;
            }
        };
        if let Some(slot) = slot(ctx, &item_at, raw_slot, &mut seen, i, docs) {
            out.chain.push(slot);
        }
    }
    out
}

/// One chain entry.
fn slot(
    ctx: &mut Ctx<'_>,
    at: &At,
    s: raw::Slot,
    seen: &mut IndexMap<String, usize>,
    index: usize,
    docs: &IndexMap<&'static str, Option<Value>>,
) -> Option<Slot> {
    ctx.unknown(at, &s.unknown, raw::Slot::KEYS);

    let name_at = at.key("slot");
    let name_hint = "the slot's name: lowercase letters, digits, _ and -";
    let got = ctx.string(&name_at, s.slot, name_hint);
    let name = ctx.required(&name_at, got, name_hint).ok();
    match &name {
        None => {}
        Some(n) if n.is_empty() => ctx.error(&name_at, "is empty", name_hint),
        Some(n)
            if !n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') =>
        {
            ctx.error(&name_at, format!("invalid slot name {n:?}"), name_hint)
        }
        Some(n) => {
            if let Some(first) = seen.get(n) {
                ctx.error(
                    &name_at,
                    format!("duplicate slot {n:?}"),
                    format!("chain[{first}] already uses it; slot names must be unique"),
                );
            } else {
                seen.insert(n.clone(), index);
            }
        }
    }
    let name = name.unwrap_or_default();

    let component = component(ctx, &at.key("component"), s.component);

    let fm_at = at.key("failure_mode");
    let fm_hint =
        "fail_closed (a trap or timeout refuses the request) or fail_open (lets it through)";
    let failure_mode = match ctx.string(&fm_at, s.failure_mode, fm_hint) {
        Got::Ok(v) if v == "fail_closed" => FailureMode::FailClosed,
        Got::Ok(v) if v == "fail_open" => FailureMode::FailOpen,
        Got::Ok(v) => {
            ctx.error(
                &fm_at,
                format!("unknown failure_mode {v:?}"),
                format!("use {fm_hint}"),
            );
            FailureMode::FailClosed
        }
        _ => FailureMode::FailClosed,
    };

    // settings_file first, inline settings merged over it.
    let mut settings = serde_json::Map::new();
    let mut origins = Vec::new();
    let sf_at = at.key("settings_file");
    let sf_hint = "a YAML file in the config dir whose top level is a mapping";
    if let Got::Ok(sf) = ctx.string(&sf_at, s.settings_file, sf_hint) {
        let parsed = match docs.get(sf.as_str()) {
            // One of the six files: already read (and any problem already reported).
            Some(doc) => doc.clone(),
            None => ctx.read_yaml(&sf_at, &sf),
        };
        match parsed {
            Some(Value::Mapping(m)) => {
                if let Some(map) = to_json_map(ctx, &sf_at, &Value::Mapping(m)) {
                    settings = map;
                }
                origins.push(sf);
            }
            Some(other) => ctx.error(
                &sf_at,
                format!("{sf} does not hold a mapping, found {}", describe(&other)),
                sf_hint,
            ),
            None => {}
        }
    }
    let st_at = at.key("settings");
    let st_hint =
        "the settings passed to the component's configure, e.g. settings: {window_seconds: 60}";
    match ctx.take(&st_at, s.settings, "a mapping", st_hint) {
        Got::Ok(v @ Value::Mapping(_)) => {
            if let Some(inline) = to_json_map(ctx, &st_at, &v) {
                if !inline.is_empty() || origins.is_empty() {
                    origins.push("policies.yaml".to_string());
                }
                for (k, v) in inline {
                    settings.insert(k, v);
                }
            }
        }
        Got::Ok(other) => ctx.error(
            &st_at,
            format!("must be a mapping, found {}", describe(&other)),
            st_hint,
        ),
        Got::Missing | Got::Bad => {}
    }
    if origins.is_empty() {
        origins.push("policies.yaml".to_string());
    }

    Some(Slot {
        name,
        component: component?,
        failure_mode,
        settings: serde_json::Value::Object(settings),
        settings_origin: origins.join(" + "),
    })
}

/// `builtin:NAME` or a `.wasm` path. The path is kept as written (relative
/// paths are relative to the config dir, as [`ComponentSource::File`] says);
/// its existence is checked against the config dir.
fn component(ctx: &mut Ctx<'_>, at: &At, field: Option<Field<String>>) -> Option<ComponentSource> {
    let builtins = if ctx.builtins.is_empty() {
        "none in this build".to_string()
    } else {
        list(ctx.builtins)
    };
    let hint = format!(
        "use builtin:NAME (built-in components: {builtins}) or a path to a .wasm file, relative to the config dir"
    );
    let got = ctx.string(at, field, &hint);
    let spec = ctx.required(at, got, &hint).ok()?;
    if let Some(name) = spec.strip_prefix("builtin:") {
        if ctx.builtins.contains(&name) {
            return Some(ComponentSource::Builtin(name.to_string()));
        }
        ctx.error(
            at,
            format!("unknown built-in component {name:?}"),
            format!("built-in components: {builtins}"),
        );
        return None;
    }
    if !spec.ends_with(".wasm") {
        ctx.error(at, format!("not a component: {spec:?}"), hint);
        return None;
    }
    let path = ctx.dir.join(&spec);
    if !path.is_file() {
        ctx.error(
            at,
            format!("component file {spec:?} not found"),
            format!(
                "looked for {}; relative paths start at the config dir",
                path.display()
            ),
        );
        return None;
    }
    Some(ComponentSource::File(spec.into()))
}

/// A YAML mapping as a JSON object (key order kept).
fn to_json_map(
    ctx: &mut Ctx<'_>,
    at: &At,
    value: &Value,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        Ok(other) => {
            ctx.error(
                at,
                format!("must be a mapping, found {other}"),
                "settings are a mapping",
            );
            None
        }
        Err(e) => {
            ctx.error(
                at,
                format!("cannot be passed as JSON: {e}"),
                "use string keys and plain values",
            );
            None
        }
    }
}
