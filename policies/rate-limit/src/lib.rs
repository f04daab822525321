//! Rate-limit policy: at most `requests_per_minute` requests and `tokens_per_minute`
//! tokens (prompt + max_tokens) per user, both from the tenant's plan, scaled to
//! `window_seconds` (default 60). `None` means unlimited.
//!
//! Algorithm: sliding-window counter. Each user has one counter per fixed window; a
//! request is checked against `current + previous × (share of the previous window still
//! inside the sliding window)`, so unlike the seed's fixed window there is no burst of
//! twice the limit at a window edge. Check and count are one atomic `add` with a limit,
//! so a refused request counts nothing. `finish` gives back what a request that never
//! ran took, and corrects the token estimate to the real usage.
//!
//! The crate is also a library for other rate limiters (`policies/rate-limit-gcra`):
//! they depend on it with `default-features = false` (without the `export` feature,
//! which exports this policy as the world) and export their own `Guest` with this
//! crate's public `export!` macro, sharing these bindings and helpers.

/// The bindings of the `policy` world (re-exported at the crate root).
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "policy",
        // Other rate limiters export this crate's world from their own crate.
        pub_export_macro: true,
    });
}

pub use bindings::*;

use tollgate::policy::state;
#[cfg(test)]
use tollgate::policy::types::{Priority, RequestType};
use tollgate::policy::types::{RejectKind, Rejection};

/// Settings from `config/policies.yaml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Length of the sliding window in seconds (1..=86400); per-minute limits scale to it.
    #[serde(default = "default_window_seconds")]
    pub window_seconds: u64,
}

fn default_window_seconds() -> u64 {
    60
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window_seconds: default_window_seconds(),
        }
    }
}

impl Settings {
    /// Parses and checks the JSON settings; errors read `field: problem (hint)`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass a mapping)"))?;
        let Some(obj) = value.as_object() else {
            return Err(format!(
                "settings: must be a mapping, got {value} (use e.g. {{\"window_seconds\": 60}})"
            ));
        };
        if let Some(k) = obj.keys().find(|k| *k != "window_seconds") {
            return Err(format!("{k}: unknown setting (allowed: window_seconds)"));
        }
        let bad = format!(
            "window_seconds: must be an integer in 1..=86400, got {} (use e.g. 60)",
            obj.get("window_seconds")
                .unwrap_or(&serde_json::Value::Null)
        );
        match serde_json::from_value::<Settings>(value) {
            Ok(s) if (1..=86_400).contains(&s.window_seconds) => Ok(s),
            _ => Err(bad),
        }
    }
}

/// The part of the host's `state` interface this policy uses (a fake in tests).
pub trait Store {
    /// Counter `key`, 0 when absent or expired (`state.get`).
    fn get(&mut self, key: &str) -> i64;
    /// Adds `delta` unless the result would exceed `limit`; Err(unchanged value) then (`state.add`).
    fn add(
        &mut self,
        key: &str,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
    ) -> Result<i64, i64>;
}

/// The host's state, through the WIT imports.
pub struct HostStore;

impl Store for HostStore {
    fn get(&mut self, key: &str) -> i64 {
        state::get(key)
    }
    fn add(
        &mut self,
        key: &str,
        delta: i64,
        limit: Option<i64>,
        expires_at_ms: u64,
    ) -> Result<i64, i64> {
        state::add(key, delta, limit, expires_at_ms)
    }
}

/// Where an instant falls among the fixed windows.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// `now_ms / length_ms`.
    pub index: u64,
    /// Milliseconds since the window began.
    pub elapsed_ms: u64,
    /// Window length in milliseconds.
    pub length_ms: u64,
}

impl Window {
    /// The window containing `now_ms`.
    pub fn at(settings: &Settings, now_ms: u64) -> Window {
        let length_ms = settings.window_seconds * 1000;
        Window {
            index: now_ms / length_ms,
            elapsed_ms: now_ms % length_ms,
            length_ms,
        }
    }

    /// Counters of this window expire at the end of the next one.
    pub fn expires_at_ms(&self) -> u64 {
        (self.index + 2).saturating_mul(self.length_ms)
    }
}

/// State key of a counter: `rpm:{user}:{window_index}` or `tpm:{user}:{window_index}`.
pub fn key(prefix: &str, user: &str, index: u64) -> String {
    format!("{prefix}:{user}:{index}")
}

/// A per-minute limit scaled to the window: `limit × window_seconds / 60`, at least 1
/// unless the limit is 0.
pub fn scaled(per_minute: u64, window_seconds: u64) -> i64 {
    let s = (u128::from(per_minute) * u128::from(window_seconds) / 60).min(i64::MAX as u128) as i64;
    if per_minute > 0 { s.max(1) } else { 0 }
}

/// The previous window's count weighted by its share still inside the sliding window,
/// rounded up: `ceil(prev × (W − e) / W)`. With it, `current + delta ≤ limit − weighted`
/// is exactly the real-valued check `current + delta + prev × (W − e)/W ≤ limit`.
pub fn weighted_previous(prev: i64, w: &Window) -> i64 {
    let num = i128::from(prev.max(0)) * i128::from(w.length_ms - w.elapsed_ms);
    let den = i128::from(w.length_ms);
    ((num + den - 1) / den) as i64
}

/// Milliseconds until `delta` more fits under `limit` if nothing else happens, with
/// `prev`/`current` the previous and current window counts (W window, e elapsed):
/// - if `limit − current − delta ≥ 0`, the previous window only has to fade: wait until
///   `prev × (W − e′) ≤ (limit − current − delta) × W`, i.e. `e′ = W − ⌊(limit − current − delta)·W / prev⌋`;
/// - else wait for the next window, where `current` becomes the previous count: `W − e`
///   plus `W − ⌊(limit − delta)·W / current⌋` into it.
///
/// `None` when `delta > limit`: no wait will let it through.
pub fn retry_after_ms(limit: i64, prev: i64, current: i64, delta: i64, w: &Window) -> Option<u64> {
    let (l, p, c, d) = (
        i128::from(limit),
        i128::from(prev.max(0)),
        i128::from(current.max(0)),
        i128::from(delta),
    );
    let (len, e) = (i128::from(w.length_ms), i128::from(w.elapsed_ms));
    let wait = if l - c - d >= 0 {
        if p == 0 {
            1
        } else {
            len - ((l - c - d) * len / p).min(len) - e
        }
    } else if d > l {
        return None;
    } else {
        let into_next = if c == 0 {
            0
        } else {
            len - ((l - d) * len / c).min(len)
        };
        len - e + into_next
    };
    Some(wait.max(1) as u64)
}

/// Counts `delta` in the sliding window of `prefix` for `user` unless that would pass
/// `limit`; `Err(retry_after_ms)` when refused (nothing is counted then).
pub fn take(
    store: &mut impl Store,
    prefix: &str,
    user: &str,
    limit: Option<i64>,
    delta: i64,
    w: &Window,
) -> Result<(), Option<u64>> {
    let current = key(prefix, user, w.index);
    let Some(limit) = limit else {
        let _ = store.add(&current, delta, None, w.expires_at_ms());
        return Ok(());
    };
    let prev = if w.index == 0 {
        0
    } else {
        store.get(&key(prefix, user, w.index - 1))
    };
    match store.add(
        &current,
        delta,
        Some(limit - weighted_previous(prev, w)),
        w.expires_at_ms(),
    ) {
        Ok(_) => Ok(()),
        Err(now) => Err(retry_after_ms(limit, prev, now, delta, w)),
    }
}

/// Tokens a request is counted for before it runs: prompt + max_tokens.
pub fn estimate(request: &Request) -> i64 {
    i64::from(request.prompt_tokens) + i64::from(request.max_tokens)
}

fn reject(code: &str, retry_after_ms: Option<u64>) -> Verdict {
    Verdict::Reject(Rejection {
        kind: RejectKind::RateLimited,
        code: code.into(),
        message: code.into(),
        retry_after_ms,
    })
}

/// The rule: count one request and its estimated tokens for the user, or refuse with
/// `rate_limited` / `token_rate_limited` (a refused request counts nothing).
pub fn decide(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    tenant: &Tenant,
) -> Verdict {
    let w = Window::at(settings, request.now_ms);
    let rpm = tenant
        .requests_per_minute
        .map(|l| scaled(l.into(), settings.window_seconds));
    let tpm = tenant
        .tokens_per_minute
        .map(|l| scaled(l, settings.window_seconds));
    if let Err(retry) = take(store, "rpm", &request.user_id, rpm, 1, &w) {
        return reject("rate_limited", retry);
    }
    if let Err(retry) = take(store, "tpm", &request.user_id, tpm, estimate(request), &w) {
        let _ = store.add(
            &key("rpm", &request.user_id, w.index),
            -1,
            None,
            w.expires_at_ms(),
        );
        return reject("token_rate_limited", retry);
    }
    Verdict::Allow
}

/// After the request: a request that never ran (rejected later, timed out) gives back its
/// slot and tokens; one that ran has its token count corrected to the real usage.
pub fn settle(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    outcome: &Outcome,
) -> Usage {
    let w = Window::at(settings, request.now_ms);
    let tokens = key("tpm", &request.user_id, w.index);
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => {
            let correction =
                i64::from(u.input_tokens) + i64::from(u.output_tokens) - estimate(request);
            if correction != 0 {
                let _ = store.add(&tokens, correction, None, w.expires_at_ms());
            }
            *u
        }
        Outcome::Rejected | Outcome::TimedOut => {
            let _ = store.add(
                &key("rpm", &request.user_id, w.index),
                -1,
                None,
                w.expires_at_ms(),
            );
            let _ = store.add(&tokens, -estimate(request), None, w.expires_at_ms());
            Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            }
        }
    }
}

static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(Settings::default)
}

/// The policy: the `Guest` implementation this crate exports.
pub struct RateLimit;

impl Guest for RateLimit {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "rate-limit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        let _ = SETTINGS.set(Settings::parse(&settings)?);
        Ok(())
    }

    fn evaluate(request: Request, tenant: Tenant, _model: ModelInfo, _load: Load) -> Verdict {
        decide(&mut HostStore, settings(), &request, &tenant)
    }

    fn finish(request: Request, _tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&mut HostStore, settings(), &request, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

#[cfg(feature = "export")]
export!(RateLimit with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `state` as documented: counters expire at their `expires_at_ms` (checked against `now`).
    #[derive(Default)]
    struct Fake {
        now: u64,
        counters: HashMap<String, (i64, u64)>,
    }

    impl Store for Fake {
        fn get(&mut self, key: &str) -> i64 {
            match self.counters.get(key) {
                Some(&(v, expires)) if expires > self.now => v,
                _ => 0,
            }
        }
        fn add(
            &mut self,
            key: &str,
            delta: i64,
            limit: Option<i64>,
            expires_at_ms: u64,
        ) -> Result<i64, i64> {
            let current = self.get(key);
            if limit.is_some_and(|l| current + delta > l) {
                return Err(current);
            }
            self.counters
                .insert(key.into(), (current + delta, expires_at_ms));
            Ok(current + delta)
        }
    }

    /// A minute boundary (1_700_000_040_000 = 28_333_334 × 60_000).
    const T0: u64 = 1_700_000_040_000;

    fn tenant(rpm: Option<u32>, tpm: Option<u64>) -> Tenant {
        Tenant {
            plan: "standard".into(),
            priority: Priority::Normal,
            role: "user".into(),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            monthly_token_quota: None,
            monthly_budget_nano_eur: None,
            max_concurrent_requests: None,
        }
    }

    fn request(now_ms: u64, prompt_tokens: u32, max_tokens: u32) -> Request {
        Request {
            id: "r".into(),
            user_id: "user_standard_01".into(),
            project_id: "p".into(),
            model: "simulated-small".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens,
            max_tokens,
            estimated_cost_nano_eur: 0,
            now_ms,
        }
    }

    fn eval(store: &mut Fake, now_ms: u64, t: &Tenant) -> Verdict {
        store.now = now_ms;
        decide(store, &Settings::default(), &request(now_ms, 1, 10), t)
    }

    /// How many of `n` requests at `now_ms` pass.
    fn passes(store: &mut Fake, now_ms: u64, t: &Tenant, n: usize) -> usize {
        (0..n)
            .filter(|_| matches!(eval(store, now_ms, t), Verdict::Allow))
            .count()
    }

    fn rejection(v: Verdict) -> Rejection {
        match v {
            Verdict::Reject(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn sixty_per_minute_at_one_instant_then_rate_limited() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        let now = T0 + 30_000;
        assert_eq!(passes(&mut s, now, &t, 60), 60);
        let r = rejection(eval(&mut s, now, &t));
        assert!(matches!(r.kind, RejectKind::RateLimited));
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("rate_limited", "rate_limited")
        );
        // Next window starts in 30 s; 1 s into it the weighted count is ceil(60 × 59/60) = 59.
        assert_eq!(r.retry_after_ms, Some(31_000));
    }

    #[test]
    fn retry_after_is_exact() {
        let t = tenant(Some(60), None);
        // Next-window case: one ms earlier is still refused, at the bound it passes.
        for probe in [30_999, 31_000] {
            let mut s = Fake::default();
            passes(&mut s, T0 + 30_000, &t, 60);
            assert_eq!(
                passes(&mut s, T0 + 30_000 + probe, &t, 1),
                usize::from(probe == 31_000)
            );
        }
        // In-window case: 60 in the previous window, 30 now at half time; the previous
        // window must fade to 29/60 more: e' = 60000 − ⌊29 × 60000 / 60⌋ = 31000.
        for probe in [999, 1_000] {
            let mut s = Fake::default();
            passes(&mut s, T0 + 59_000, &t, 60);
            assert_eq!(passes(&mut s, T0 + 90_000, &t, 31), 30);
            let r = rejection(eval(&mut s, T0 + 90_000, &t));
            assert_eq!(r.retry_after_ms, Some(1_000));
            assert_eq!(
                passes(&mut s, T0 + 90_000 + probe, &t, 1),
                usize::from(probe == 1_000)
            );
        }
    }

    #[test]
    fn vip_allows_three_hundred() {
        let (mut s, t) = (Fake::default(), tenant(Some(300), None));
        assert_eq!(passes(&mut s, T0 + 5_000, &t, 301), 300);
    }

    #[test]
    fn unlimited_tenant_is_never_refused() {
        let (mut s, t) = (Fake::default(), tenant(None, None));
        assert_eq!(passes(&mut s, T0, &t, 1_000), 1_000);
    }

    #[test]
    fn rejected_request_consumes_no_slot() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        passes(&mut s, T0 + 1_000, &t, 60);
        assert_eq!(passes(&mut s, T0 + 1_000, &t, 100), 0);
        assert_eq!(s.get(&key("rpm", "user_standard_01", T0 / 60_000)), 60);
    }

    #[test]
    fn no_burst_at_the_window_edge() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        assert_eq!(passes(&mut s, T0 + 59_900, &t, 60), 60);
        // A fixed window would allow 60 more here; the sliding one counts 59.9 of them.
        assert_eq!(passes(&mut s, T0 + 60_100, &t, 60), 0);
        // Half-way through the next window half of the previous one still counts.
        assert_eq!(passes(&mut s, T0 + 90_000, &t, 60), 30);
    }

    #[test]
    fn quiet_full_window_allows_everything_again() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        passes(&mut s, T0 + 10_000, &t, 60);
        assert_eq!(passes(&mut s, T0 + 120_000, &t, 61), 60);
    }

    #[test]
    fn tokens_per_minute_refusal_rolls_back_the_request_count() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(1_000)));
        s.now = T0;
        let settings = Settings::default();
        assert!(matches!(
            decide(&mut s, &settings, &request(T0, 10, 500), &t),
            Verdict::Allow
        ));
        let r = rejection(decide(&mut s, &settings, &request(T0, 10, 500), &t));
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("token_rate_limited", "token_rate_limited")
        );
        assert!(r.retry_after_ms.is_some());
        assert_eq!(s.get(&key("rpm", "user_standard_01", T0 / 60_000)), 1);
        assert_eq!(s.get(&key("tpm", "user_standard_01", T0 / 60_000)), 510);
        // A request bigger than the whole limit never fits: no retry hint.
        let r = rejection(decide(&mut s, &settings, &request(T0, 10, 2_000), &t));
        assert_eq!(r.retry_after_ms, None);
    }

    #[test]
    fn finish_rejected_gives_the_slot_and_tokens_back() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(100_000)));
        let now = T0 + 1_000;
        passes(&mut s, now, &t, 60);
        assert_eq!(passes(&mut s, now, &t, 1), 0);
        let u = settle(
            &mut s,
            &Settings::default(),
            &request(now, 1, 10),
            &Outcome::Rejected,
        );
        assert_eq!(u.input_tokens + u.output_tokens, 0);
        assert_eq!(s.get(&key("tpm", "user_standard_01", T0 / 60_000)), 59 * 11);
        assert_eq!(passes(&mut s, now, &t, 2), 1);
    }

    #[test]
    fn finish_completed_corrects_tokens_to_real_usage() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(1_000)));
        s.now = T0;
        let (settings, req) = (Settings::default(), request(T0, 10, 500));
        assert!(matches!(
            decide(&mut s, &settings, &req, &t),
            Verdict::Allow
        ));
        let used = Usage {
            input_tokens: 10,
            output_tokens: 90,
            cost_nano_eur: 7,
        };
        let u = settle(&mut s, &settings, &req, &Outcome::Completed(used));
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cost_nano_eur),
            (10, 90, 7)
        );
        assert_eq!(s.get(&key("tpm", "user_standard_01", T0 / 60_000)), 100);
        assert_eq!(s.get(&key("rpm", "user_standard_01", T0 / 60_000)), 1);
    }

    #[test]
    fn limits_scale_to_the_window() {
        assert_eq!(scaled(60, 60), 60);
        assert_eq!(scaled(60, 10), 10);
        assert_eq!(scaled(1, 10), 1);
        assert_eq!(scaled(0, 10), 0);
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        s.now = T0;
        let settings = Settings { window_seconds: 10 };
        let allowed = (0..20).filter(|_| {
            matches!(
                decide(&mut s, &settings, &request(T0, 1, 1), &t),
                Verdict::Allow
            )
        });
        assert_eq!(allowed.count(), 10);
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(Settings::parse("{}").unwrap().window_seconds, 60);
        assert_eq!(
            Settings::parse(r#"{"window_seconds": 10}"#)
                .unwrap()
                .window_seconds,
            10
        );
        assert_eq!(
            Settings::parse(r#"{"window_seconds": 0}"#).unwrap_err(),
            "window_seconds: must be an integer in 1..=86400, got 0 (use e.g. 60)"
        );
        assert!(
            Settings::parse(r#"{"window_seconds": "x"}"#)
                .unwrap_err()
                .starts_with("window_seconds: ")
        );
        assert_eq!(
            Settings::parse(r#"{"window": 60}"#).unwrap_err(),
            "window: unknown setting (allowed: window_seconds)"
        );
    }
}
