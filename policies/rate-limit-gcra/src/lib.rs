//! Rate-limit variant `rate-limit-gcra`: the limits, codes and `finish` semantics of
//! `policies/rate-limit` (requests and tokens per minute per user from the tenant's plan,
//! `429 rate_limited` / `token_rate_limited` with an exact retry-after, nothing counted
//! for a refused request, a refund when a request never ran, tokens corrected to the real
//! usage), enforced with the generic cell rate algorithm instead of a sliding window.
//!
//! GCRA in five lines: each user has one number, the theoretical arrival time (TAT): when
//! the next request is due if requests came exactly at the limit's rate, `T = 60 s / limit`
//! apart. A request costing `c` units (1 request, or its tokens) moves it to
//! `max(TAT, now) + c × T`, allowed if that stays within `burst × T` of now, else refused
//! (nothing moves) with retry-after = the excess. One integer per user, no windows, no edges.
//!
//! The TAT (µs) lives in a host counter, updated with `compare-and-swap`: read, decide,
//! swap; a swap that loses to a concurrent request is retried (at most [`CAS_ATTEMPTS`]
//! times), then the request is refused (`503 rate_limit_contention`: fail closed).
//!
//! Settings: `burst` (requests back to back; default: the per-minute limit scaled to
//! `window_seconds`, so 60 requests/minute allows 60 at once and the 61st waits 1 s),
//! `token_burst` (the same for tokens; default: the tokens-per-minute limit scaled to
//! `window_seconds`), `window_seconds` (default 60; accepted so settings written for
//! `rate-limit` keep their meaning).

use policy_rate_limit::tollgate::policy::state;
use policy_rate_limit::tollgate::policy::types::{RejectKind, Rejection};
use policy_rate_limit::{
    Guest, Load, ModelInfo, Outcome, PolicyInfo, Request, Tenant, Usage, Verdict, estimate, scaled,
};

/// How many times a lost `compare-and-swap` is retried before the request is refused.
pub const CAS_ATTEMPTS: usize = 8;

const MICROS_PER_MINUTE: i128 = 60_000_000;

/// Settings from `config/policies.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The base policy's window (its default 60): the default bursts are the limits scaled to it.
    pub window_seconds: u64,
    /// Requests that may come back to back (`None`: the per-minute limit scaled to the window).
    pub burst: Option<u64>,
    /// Tokens that may come back to back (`None`: the per-minute limit scaled to the window).
    pub token_burst: Option<u64>,
}

impl Settings {
    /// Parses and checks the JSON settings; errors read `field: problem (hint)`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass a mapping)"))?;
        let Some(obj) = value.as_object() else {
            return Err(format!(
                "settings: must be a mapping, got {value} (use e.g. {{\"burst\": 10}})"
            ));
        };
        const ALLOWED: [&str; 3] = ["window_seconds", "burst", "token_burst"];
        if let Some(k) = obj.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
            return Err(format!(
                "{k}: unknown setting (allowed: {})",
                ALLOWED.join(", ")
            ));
        }
        let window = obj
            .get("window_seconds")
            .map(|w| serde_json::json!({ "window_seconds": w }).to_string());
        let window_seconds =
            policy_rate_limit::Settings::parse(window.as_deref().unwrap_or("{}"))?.window_seconds;
        let count = |key: &str, example: &str| match obj.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Ok(Some(n)),
                _ => Err(format!(
                    "{key}: must be an integer >= 1, got {v} (use e.g. {example})"
                )),
            },
        };
        Ok(Settings {
            window_seconds,
            burst: count("burst", "10")?,
            token_burst: count("token_burst", "20000")?,
        })
    }
}

/// The part of the host's `state` interface this policy uses (a fake in tests).
pub trait Store {
    /// Counter `key`, 0 when absent or expired (`state.get`).
    fn get(&mut self, key: &str) -> i64;
    /// Sets `key` to `new` if it holds `expected` (`state.compare-and-swap`).
    fn compare_and_swap(&mut self, key: &str, expected: i64, new: i64, expires_at_ms: u64) -> bool;
}

/// The host's state, through the WIT imports.
pub struct HostStore;

impl Store for HostStore {
    fn get(&mut self, key: &str) -> i64 {
        state::get(key)
    }
    fn compare_and_swap(&mut self, key: &str, expected: i64, new: i64, expires_at_ms: u64) -> bool {
        state::compare_and_swap(key, expected, new, expires_at_ms)
    }
}

/// One GCRA limit: `per_minute` units per minute, `burst` of them back to back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_minute: u64,
    pub burst: u64,
}

impl Limit {
    /// The limit of a tenant value (`None`: unlimited) with an optional explicit burst.
    pub fn of(per_minute: Option<u64>, burst: Option<u64>, window_seconds: u64) -> Option<Limit> {
        per_minute.map(|l| Limit {
            per_minute: l,
            burst: burst.unwrap_or_else(|| scaled(l, window_seconds) as u64),
        })
    }

    /// How far `units` move the TAT: `units × T`, in µs (rounded down, so < 1 µs generous).
    pub fn cost_us(&self, units: u64) -> i64 {
        (i128::from(units) * MICROS_PER_MINUTE / i128::from(self.per_minute.max(1)))
            .min(i64::MAX.into()) as i64
    }

    /// How far ahead of now the TAT may be: `burst × T`, in µs.
    pub fn capacity_us(&self) -> i64 {
        self.cost_us(self.burst)
    }
}

/// State key of a user's TAT: `tat:rpm:{user}` or `tat:tpm:{user}`.
pub fn key(what: &str, user: &str) -> String {
    format!("tat:{what}:{user}")
}

/// Why [`take`] refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refused {
    /// Over the limit; retry after this many ms (`None`: the request alone is over the burst).
    Wait(Option<u64>),
    /// Every `compare-and-swap` lost to a concurrent request.
    Contended,
}

/// The counter expires when its TAT is reached: from then on it means "nothing due",
/// exactly as an absent counter.
fn expires_at_ms(tat_us: i64) -> u64 {
    (tat_us.max(0) as u64).div_ceil(1000)
}

/// Replaces the value of `key` by `next(stored)` in a bounded `compare-and-swap` loop;
/// `next` may refuse, and then nothing changes.
fn update(
    store: &mut impl Store,
    key: &str,
    mut next: impl FnMut(i64) -> Result<i64, Refused>,
) -> Result<(), Refused> {
    for _ in 0..CAS_ATTEMPTS {
        let stored = store.get(key);
        let new = next(stored)?;
        if new == stored || store.compare_and_swap(key, stored, new, expires_at_ms(new)) {
            return Ok(());
        }
    }
    Err(Refused::Contended)
}

/// Takes `units` from `limit` for `key` at `now_us`, or refuses and changes nothing.
pub fn take(
    store: &mut impl Store,
    key: &str,
    limit: Option<Limit>,
    units: u64,
    now_us: i64,
) -> Result<(), Refused> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let (cost, capacity) = (limit.cost_us(units), limit.capacity_us());
    if limit.per_minute == 0 || units > limit.burst {
        return Err(Refused::Wait(None));
    }
    update(store, key, |stored| {
        let new = stored.max(now_us).saturating_add(cost);
        let excess = new - now_us - capacity;
        if excess > 0 {
            Err(Refused::Wait(Some((excess as u64).div_ceil(1000))))
        } else {
            Ok(new)
        }
    })
}

/// Moves the TAT of `key` by `delta_us`, counting from `now_us` (the request's
/// evaluation time) at the earliest. A refund (negative) gives back exactly what was
/// taken and leaves an expired counter alone (its TAT has passed: nothing to give back).
/// Best effort: after [`CAS_ATTEMPTS`] lost swaps the correction is dropped.
pub fn adjust(store: &mut impl Store, key: &str, delta_us: i64, now_us: i64) {
    let _ = update(store, key, |stored| {
        Ok(match stored {
            tat if delta_us > 0 => tat.max(now_us).saturating_add(delta_us),
            0 => 0,
            tat => tat.saturating_add(delta_us).max(0),
        })
    });
}

/// The request and token limits of a tenant under these settings.
pub fn limits(settings: &Settings, tenant: &Tenant) -> (Option<Limit>, Option<Limit>) {
    (
        Limit::of(
            tenant.requests_per_minute.map(u64::from),
            settings.burst,
            settings.window_seconds,
        ),
        Limit::of(
            tenant.tokens_per_minute,
            settings.token_burst,
            settings.window_seconds,
        ),
    )
}

fn reject(code: &str, refused: Refused) -> Verdict {
    Verdict::Reject(match refused {
        Refused::Wait(retry_after_ms) => Rejection {
            kind: RejectKind::RateLimited,
            code: code.into(),
            message: code.into(),
            retry_after_ms,
        },
        Refused::Contended => Rejection {
            kind: RejectKind::Overloaded,
            code: "rate_limit_contention".into(),
            message: format!(
                "rate_limit_contention: the rate-limit state changed under {CAS_ATTEMPTS} attempts to update it; retry"
            ),
            retry_after_ms: Some(1),
        },
    })
}

/// The rule: take one request and its estimated tokens for the user, or refuse with
/// `rate_limited` / `token_rate_limited` (a refused request takes nothing).
pub fn decide(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    tenant: &Tenant,
) -> Verdict {
    let now_us = (request.now_ms as i64).saturating_mul(1000);
    let (requests, tokens) = limits(settings, tenant);
    let user = &request.user_id;
    if let Err(r) = take(store, &key("rpm", user), requests, 1, now_us) {
        return reject("rate_limited", r);
    }
    let tokens_estimate = estimate(request) as u64;
    if let Err(r) = take(store, &key("tpm", user), tokens, tokens_estimate, now_us) {
        if let Some(l) = requests {
            adjust(store, &key("rpm", user), -l.cost_us(1), now_us);
        }
        return reject("token_rate_limited", r);
    }
    Verdict::Allow
}

/// After the request: a request that never ran (rejected later, timed out) gives back its
/// request and tokens; one that ran has its tokens corrected to the real usage.
pub fn settle(
    store: &mut impl Store,
    settings: &Settings,
    request: &Request,
    tenant: &Tenant,
    outcome: &Outcome,
) -> Usage {
    let now_us = (request.now_ms as i64).saturating_mul(1000);
    let (requests, tokens) = limits(settings, tenant);
    let user = &request.user_id;
    let estimated = estimate(request) as u64;
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => {
            if let Some(l) = tokens {
                let used = u64::from(u.input_tokens) + u64::from(u.output_tokens);
                let delta = l.cost_us(used) - l.cost_us(estimated);
                if delta != 0 {
                    adjust(store, &key("tpm", user), delta, now_us);
                }
            }
            *u
        }
        Outcome::Rejected | Outcome::TimedOut => {
            if let Some(l) = requests {
                adjust(store, &key("rpm", user), -l.cost_us(1), now_us);
            }
            if let Some(l) = tokens {
                adjust(store, &key("tpm", user), -l.cost_us(estimated), now_us);
            }
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
    SETTINGS.get_or_init(|| Settings::parse("{}").expect("defaults are valid"))
}

/// The policy: the `Guest` implementation this crate exports.
pub struct Gcra;

impl Guest for Gcra {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "rate-limit-gcra".into(),
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

    fn finish(request: Request, tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&mut HostStore, settings(), &request, &tenant, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

#[cfg(target_arch = "wasm32")]
policy_rate_limit::export!(Gcra with_types_in policy_rate_limit::bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_rate_limit::tollgate::policy::types::{Priority, RequestType};
    use std::collections::HashMap;

    /// `state` as documented: counters expire at their `expires_at_ms` (checked against
    /// `now`); `lose` makes that many next swaps fail as if another request won them.
    #[derive(Default)]
    struct Fake {
        now: u64,
        counters: HashMap<String, (i64, u64)>,
        lose: usize,
        swaps: usize,
    }

    impl Store for Fake {
        fn get(&mut self, key: &str) -> i64 {
            match self.counters.get(key) {
                Some(&(v, expires)) if expires > self.now => v,
                _ => 0,
            }
        }
        fn compare_and_swap(&mut self, key: &str, expected: i64, new: i64, expires: u64) -> bool {
            self.swaps += 1;
            if self.lose > 0 {
                self.lose -= 1;
                return false;
            }
            if self.get(key) != expected {
                return false;
            }
            self.counters.insert(key.into(), (new, expires));
            true
        }
    }

    const T0: u64 = 1_700_000_040_000;
    const USER: &str = "user_standard_01";

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
            user_id: USER.into(),
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

    fn defaults() -> Settings {
        Settings::parse("{}").unwrap()
    }

    fn eval_with(s: &mut Fake, settings: &Settings, now_ms: u64, t: &Tenant) -> Verdict {
        s.now = now_ms;
        decide(s, settings, &request(now_ms, 1, 10), t)
    }

    /// How many of `n` requests at `now_ms` pass.
    fn passes(s: &mut Fake, now_ms: u64, t: &Tenant, n: usize) -> usize {
        let settings = defaults();
        (0..n)
            .filter(|_| matches!(eval_with(s, &settings, now_ms, t), Verdict::Allow))
            .count()
    }

    fn rejection(v: Verdict) -> Rejection {
        match v {
            Verdict::Reject(r) => r,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn burst_then_steady_rate() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        assert_eq!(passes(&mut s, T0, &t, 60), 60);
        let r = rejection(eval_with(&mut s, &defaults(), T0, &t));
        assert!(matches!(r.kind, RejectKind::RateLimited));
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("rate_limited", "rate_limited")
        );
        assert_eq!(r.retry_after_ms, Some(1_000));
        // Then exactly one per second, whatever is asked.
        for second in 1..=5 {
            assert_eq!(
                passes(&mut s, T0 + second * 1_000, &t, 10),
                1,
                "second {second}"
            );
        }
        // A quiet minute refills the whole burst.
        assert_eq!(passes(&mut s, T0 + 65_000, &t, 61), 60);
    }

    #[test]
    fn retry_after_is_exact() {
        let t = tenant(Some(60), None);
        let mut s = Fake::default();
        passes(&mut s, T0, &t, 60);
        let r = rejection(eval_with(&mut s, &defaults(), T0 + 999, &t));
        assert_eq!(r.retry_after_ms, Some(1));
        assert_eq!(passes(&mut s, T0 + 1_000, &t, 1), 1);
        // A rate that does not divide a minute: 7/minute, T = 8571.43 ms.
        let (mut s, t) = (Fake::default(), tenant(Some(7), None));
        assert_eq!(passes(&mut s, T0, &t, 8), 7);
        let r = rejection(eval_with(&mut s, &defaults(), T0, &t));
        let wait = r.retry_after_ms.unwrap();
        assert_eq!(wait, 8_572);
        assert_eq!(passes(&mut s, T0 + wait - 1, &t, 1), 0);
        assert_eq!(passes(&mut s, T0 + wait, &t, 1), 1);
    }

    #[test]
    fn burst_setting_limits_back_to_back_requests() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), None));
        let settings = Settings::parse(r#"{"burst": 10}"#).unwrap();
        let n = (0..20)
            .filter(|_| matches!(eval_with(&mut s, &settings, T0, &t), Verdict::Allow))
            .count();
        assert_eq!(n, 10);
        let r = rejection(eval_with(&mut s, &settings, T0, &t));
        assert_eq!(r.retry_after_ms, Some(1_000));
        // window_seconds scales the default burst as it scales rate-limit's window.
        let settings = Settings::parse(r#"{"window_seconds": 10}"#).unwrap();
        let mut s = Fake::default();
        let n = (0..20)
            .filter(|_| matches!(eval_with(&mut s, &settings, T0, &t), Verdict::Allow))
            .count();
        assert_eq!(n, 10);
    }

    #[test]
    fn refused_request_takes_nothing_and_rejected_later_is_refunded() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(100_000)));
        passes(&mut s, T0, &t, 60);
        assert_eq!(passes(&mut s, T0, &t, 100), 0);
        assert_eq!(s.get(&key("rpm", USER)), (T0 as i64 + 60_000) * 1_000);
        for outcome in [Outcome::Rejected, Outcome::TimedOut] {
            let u = settle(&mut s, &defaults(), &request(T0, 1, 10), &t, &outcome);
            assert_eq!(u.input_tokens + u.output_tokens, 0);
            assert_eq!(passes(&mut s, T0, &t, 2), 1, "{outcome:?}");
        }
        // The refund gave the tokens back too: 60 requests of 11 tokens are counted.
        assert_eq!(
            s.get(&key("tpm", USER)) - T0 as i64 * 1_000,
            Limit {
                per_minute: 100_000,
                burst: 100_000
            }
            .cost_us(60 * 11)
        );
    }

    #[test]
    fn tokens_per_minute_with_rollback_of_the_request() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(1_000)));
        s.now = T0;
        let settings = defaults();
        assert!(matches!(
            decide(&mut s, &settings, &request(T0, 10, 500), &t),
            Verdict::Allow
        ));
        let rpm_after_one = s.get(&key("rpm", USER));
        let r = rejection(decide(&mut s, &settings, &request(T0, 10, 500), &t));
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("token_rate_limited", "token_rate_limited")
        );
        // 1,020 tokens at 1,000/minute: 20 tokens too many, 60 ms each.
        assert_eq!(r.retry_after_ms, Some(1_200));
        assert_eq!(
            s.get(&key("rpm", USER)),
            rpm_after_one,
            "the request slot was given back"
        );
        assert!(matches!(
            decide(&mut s, &settings, &request(T0 + 1_200, 10, 500), &t),
            Verdict::Allow
        ));
        // Bigger than the whole token burst: no wait helps.
        let r = rejection(decide(
            &mut s,
            &settings,
            &request(T0 + 60_000, 10, 2_000),
            &t,
        ));
        assert_eq!(
            (r.code.as_str(), r.retry_after_ms),
            ("token_rate_limited", None)
        );
    }

    #[test]
    fn completion_corrects_tokens_to_real_usage() {
        let (mut s, t) = (Fake::default(), tenant(Some(60), Some(1_000)));
        s.now = T0;
        let (settings, req) = (defaults(), request(T0, 10, 500));
        assert!(matches!(
            decide(&mut s, &settings, &req, &t),
            Verdict::Allow
        ));
        let used = Usage {
            input_tokens: 10,
            output_tokens: 90,
            cost_nano_eur: 7,
        };
        let u = settle(&mut s, &settings, &req, &t, &Outcome::Completed(used));
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cost_nano_eur),
            (10, 90, 7)
        );
        // 100 tokens at 60 ms each.
        assert_eq!(s.get(&key("tpm", USER)), (T0 as i64 + 6_000) * 1_000);
        assert!(matches!(
            decide(&mut s, &settings, &request(T0, 10, 880), &t),
            Verdict::Allow
        ));
    }

    #[test]
    fn lost_swaps_are_retried_then_fail_closed() {
        let t = tenant(Some(60), None);
        let mut s = Fake {
            lose: CAS_ATTEMPTS - 1,
            ..Fake::default()
        };
        assert!(matches!(
            eval_with(&mut s, &defaults(), T0, &t),
            Verdict::Allow
        ));
        assert_eq!(s.swaps, CAS_ATTEMPTS);
        let mut s = Fake {
            lose: CAS_ATTEMPTS,
            ..Fake::default()
        };
        let r = rejection(eval_with(&mut s, &defaults(), T0, &t));
        assert!(matches!(r.kind, RejectKind::Overloaded));
        assert_eq!(r.code, "rate_limit_contention");
        assert_eq!(s.swaps, CAS_ATTEMPTS);
        assert_eq!(s.get(&key("rpm", USER)), 0, "nothing was taken");
    }

    #[test]
    fn unlimited_and_zero_limits() {
        let (mut s, t) = (Fake::default(), tenant(None, None));
        assert_eq!(passes(&mut s, T0, &t, 1_000), 1_000);
        assert!(s.counters.is_empty());
        let (mut s, t) = (Fake::default(), tenant(Some(0), None));
        let r = rejection(eval_with(&mut s, &defaults(), T0, &t));
        assert_eq!((r.code.as_str(), r.retry_after_ms), ("rate_limited", None));
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            Settings::parse("{}").unwrap(),
            Settings {
                window_seconds: 60,
                burst: None,
                token_burst: None
            }
        );
        assert_eq!(
            Settings::parse(r#"{"burst": 5, "token_burst": 900, "window_seconds": 30}"#).unwrap(),
            Settings {
                window_seconds: 30,
                burst: Some(5),
                token_burst: Some(900)
            }
        );
        assert_eq!(
            Settings::parse(r#"{"burst": 0}"#).unwrap_err(),
            "burst: must be an integer >= 1, got 0 (use e.g. 10)"
        );
        assert_eq!(
            Settings::parse(r#"{"bursts": 3}"#).unwrap_err(),
            "bursts: unknown setting (allowed: window_seconds, burst, token_burst)"
        );
        assert_eq!(
            Settings::parse(r#"{"window_seconds": 0}"#).unwrap_err(),
            "window_seconds: must be an integer in 1..=86400, got 0 (use e.g. 60)"
        );
    }

    #[test]
    fn names_itself() {
        assert_eq!(Gcra::info().name, "rate-limit-gcra");
    }
}
