//! Quota policy: a monthly token quota and a monthly budget per project, from the tenant
//! view (`monthly_token_quota`, `monthly_budget_nano_eur`; `None` = unlimited, yet still
//! reserved so that month-to-date usage is tracked).
//!
//! A request reserves its estimate (prompt + max_tokens tokens, `estimated_cost_nano_eur`)
//! from the pools `tokens:{project}:{YYYY-MM}` and `budget:{project}:{YYYY-MM}`, month in
//! UTC from `request.now_ms`; the host refuses a reservation that would pass the limit
//! counting the open reservations, so concurrent requests cannot overshoot (the seed
//! could). `finish` settles the real usage in the same month, or releases the
//! reservations of a request that never ran.

wit_bindgen::generate!({ path: "../../wit/since_v0.1.0", world: "policy" });

use tollgate::policy::state::{self, PoolUsage};
#[cfg(test)]
use tollgate::policy::types::{Priority, RequestType};
use tollgate::policy::types::{RejectKind, Rejection};

/// Settings from `config/policies.yaml`: none (the limits come from the tenant).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl Settings {
    /// Parses the JSON settings, which must be an empty mapping; errors read `field: problem (hint)`.
    pub fn parse(json: &str) -> Result<Settings, String> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("settings: not JSON: {e} (pass {{}})"))?;
        let Some(obj) = value.as_object() else {
            return Err(format!(
                "settings: must be a mapping, got {value} (pass {{}})"
            ));
        };
        if let Some(k) = obj.keys().next() {
            return Err(format!(
                "{k}: unknown setting (the quota policy takes none; quotas and budgets come from projects.yaml)"
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("settings: {e} (pass {{}})"))
    }
}

/// The part of the host's `state` interface this policy uses (a fake in tests).
pub trait Store {
    /// Reserves `amount` for the current request unless used + reserved + amount > `limit` (`state.reserve`).
    fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), PoolUsage>;
    /// Turns the current request's reservation into `actual` used (`state.settle`).
    fn settle(&mut self, pool: &str, actual: u64);
    /// Drops the current request's reservation (`state.release`).
    fn release(&mut self, pool: &str);
}

/// The host's state, through the WIT imports.
pub struct HostStore;

impl Store for HostStore {
    fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), PoolUsage> {
        state::reserve(pool, amount, limit)
    }
    fn settle(&mut self, pool: &str, actual: u64) {
        state::settle(pool, actual)
    }
    fn release(&mut self, pool: &str) {
        state::release(pool)
    }
}

const DAY_MS: u64 = 86_400_000;

/// The civil (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (H. Hinnant's `civil_from_days`: 400-year eras, years starting on March 1st).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let (d, m) = (
        doy - (153 * mp + 2) / 5 + 1,
        if mp < 10 { mp + 3 } else { mp - 9 },
    );
    (era * 400 + yoe + i64::from(m <= 2), m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let (era, yoe) = (y.div_euclid(400), y.rem_euclid(400));
    let doy = (153 * ((i64::from(month) + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The UTC (year, month) of an instant in Unix epoch milliseconds.
pub fn month_of(now_ms: u64) -> (i64, u32) {
    let (y, m, _) = civil_from_days((now_ms / DAY_MS) as i64);
    (y, m)
}

/// Milliseconds from `now_ms` to the first instant of the next UTC month.
pub fn ms_until_next_month(now_ms: u64) -> u64 {
    let (y, m) = month_of(now_ms);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(ny, nm, 1) as u64 * DAY_MS - now_ms
}

/// The request's pools: `tokens:{project}:{YYYY-MM}` and `budget:{project}:{YYYY-MM}`.
pub fn pools(request: &Request) -> (String, String) {
    let (y, m) = month_of(request.now_ms);
    let p = &request.project_id;
    (
        format!("tokens:{p}:{y:04}-{m:02}"),
        format!("budget:{p}:{y:04}-{m:02}"),
    )
}

/// Tokens a request reserves: prompt + max_tokens.
pub fn estimate(request: &Request) -> u64 {
    u64::from(request.prompt_tokens) + u64::from(request.max_tokens)
}

/// A refusal; the retry hint is the next month, or none when even a fresh month is too small.
fn reject(code: &str, amount: u64, limit: u64, now_ms: u64) -> Verdict {
    Verdict::Reject(Rejection {
        kind: RejectKind::QuotaExhausted,
        code: code.into(),
        message: code.into(),
        retry_after_ms: (amount <= limit).then(|| ms_until_next_month(now_ms)),
    })
}

/// The rule: reserve the token estimate, then the cost estimate; refuse with
/// `quota_exceeded` / `budget_exceeded` (holding no reservation) when either does not fit.
pub fn decide(store: &mut impl Store, request: &Request, tenant: &Tenant) -> Verdict {
    let (tokens, budget) = pools(request);
    let (amount, quota) = (
        estimate(request),
        tenant.monthly_token_quota.unwrap_or(u64::MAX),
    );
    if store.reserve(&tokens, amount, quota).is_err() {
        return reject("quota_exceeded", amount, quota, request.now_ms);
    }
    let (cost, limit) = (
        request.estimated_cost_nano_eur,
        tenant.monthly_budget_nano_eur.unwrap_or(u64::MAX),
    );
    if store.reserve(&budget, cost, limit).is_err() {
        store.release(&tokens);
        return reject("budget_exceeded", cost, limit, request.now_ms);
    }
    Verdict::Allow
}

/// After the request: settle the real tokens and cost, or release both reservations of a
/// request that never ran. Returns `usage` unchanged (zeros when it never ran).
pub fn settle(store: &mut impl Store, request: &Request, outcome: &Outcome) -> Usage {
    let (tokens, budget) = pools(request);
    match outcome {
        Outcome::Completed(u) | Outcome::Failed(u) | Outcome::Cancelled(u) => {
            store.settle(
                &tokens,
                u64::from(u.input_tokens) + u64::from(u.output_tokens),
            );
            store.settle(&budget, u.cost_nano_eur);
            *u
        }
        Outcome::Rejected | Outcome::TimedOut => {
            store.release(&tokens);
            store.release(&budget);
            Usage {
                input_tokens: 0,
                output_tokens: 0,
                cost_nano_eur: 0,
            }
        }
    }
}

struct Quota;

impl Guest for Quota {
    fn info() -> PolicyInfo {
        PolicyInfo {
            name: "quota".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    fn configure(settings: String) -> Result<(), String> {
        Settings::parse(&settings).map(|_| ())
    }

    fn evaluate(request: Request, tenant: Tenant, _model: ModelInfo, _load: Load) -> Verdict {
        decide(&mut HostStore, &request, &tenant)
    }

    fn finish(request: Request, _tenant: Tenant, _model: ModelInfo, outcome: Outcome) -> Usage {
        settle(&mut HostStore, &request, &outcome)
    }

    fn status(_now_ms: u64, _load: Load) -> String {
        "{}".into()
    }
}

export!(Quota);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `state` pools as documented: one reservation per (pool, current request).
    #[derive(Default)]
    struct Fake {
        current: String,
        pools: HashMap<String, (u64, HashMap<String, u64>)>,
    }

    impl Fake {
        /// (used, reserved) of a pool.
        fn pool(&self, pool: &str) -> (u64, u64) {
            self.pools
                .get(pool)
                .map_or((0, 0), |(u, r)| (*u, r.values().sum()))
        }
    }

    impl Store for Fake {
        fn reserve(&mut self, pool: &str, amount: u64, limit: u64) -> Result<(), PoolUsage> {
            let (used, reserved) = self.pool(pool);
            let held = &mut self.pools.entry(pool.into()).or_default().1;
            let others = reserved - held.get(&self.current).copied().unwrap_or(0);
            if u128::from(used) + u128::from(others) + u128::from(amount) > u128::from(limit) {
                return Err(PoolUsage { used, reserved });
            }
            held.insert(self.current.clone(), amount);
            Ok(())
        }
        fn settle(&mut self, pool: &str, actual: u64) {
            let (used, held) = self.pools.entry(pool.into()).or_default();
            held.remove(&self.current);
            *used += actual;
        }
        fn release(&mut self, pool: &str) {
            if let Some((_, held)) = self.pools.get_mut(pool) {
                held.remove(&self.current);
            }
        }
    }

    /// 2025-03-10T12:00:00Z.
    const MARCH: u64 = 1_741_608_000_000;

    fn tenant(quota: Option<u64>, budget: Option<u64>) -> Tenant {
        Tenant {
            plan: "standard".into(),
            priority: Priority::Normal,
            role: "user".into(),
            requests_per_minute: None,
            tokens_per_minute: None,
            monthly_token_quota: quota,
            monthly_budget_nano_eur: budget,
            max_concurrent_requests: None,
        }
    }

    fn request(id: &str, now_ms: u64, tokens: u32, cost: u64) -> Request {
        Request {
            id: id.into(),
            user_id: "u".into(),
            project_id: "proj".into(),
            model: "simulated-small".into(),
            priority: Priority::Normal,
            request_type: RequestType::Interactive,
            prompt_tokens: 10,
            max_tokens: tokens - 10,
            estimated_cost_nano_eur: cost,
            now_ms,
        }
    }

    fn eval(s: &mut Fake, r: &Request, t: &Tenant) -> Verdict {
        s.current = r.id.clone();
        decide(s, r, t)
    }

    fn finish(s: &mut Fake, r: &Request, o: Outcome) -> Usage {
        s.current = r.id.clone();
        settle(s, r, &o)
    }

    fn done(tokens: u32, cost: u64) -> Outcome {
        Outcome::Completed(Usage {
            input_tokens: 10,
            output_tokens: tokens - 10,
            cost_nano_eur: cost,
        })
    }

    fn code(v: &Verdict) -> Option<&str> {
        match v {
            Verdict::Reject(r) => Some(&r.code),
            _ => None,
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(
            civil_from_days(days_from_civil(2024, 2, 29) + 1),
            (2024, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2023, 2, 28) + 1),
            (2023, 3, 1)
        );
        assert_eq!(
            days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28),
            2
        ); // 400-year leap
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        ); // century, not leap
        assert_eq!(month_of(MARCH), (2025, 3));
        for d in -800_000..800_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn next_month_boundaries() {
        let new_year = days_from_civil(2026, 1, 1) as u64 * DAY_MS;
        assert_eq!(month_of(new_year - 1), (2025, 12));
        assert_eq!(month_of(new_year), (2026, 1));
        assert_eq!(ms_until_next_month(new_year - 1), 1);
        assert_eq!(ms_until_next_month(new_year), 31 * DAY_MS);
        let leap_feb = days_from_civil(2024, 2, 1) as u64 * DAY_MS;
        assert_eq!(ms_until_next_month(leap_feb), 29 * DAY_MS);
    }

    #[test]
    fn quota_counts_what_is_used() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), None));
        let old = request("old", MARCH, 950, 0);
        assert!(matches!(eval(&mut s, &old, &t), Verdict::Allow));
        finish(&mut s, &old, done(950, 0));
        let big = eval(&mut s, &request("big", MARCH, 100, 0), &t);
        let Verdict::Reject(r) = big else {
            panic!("expected a rejection, got {big:?}")
        };
        assert!(matches!(r.kind, RejectKind::QuotaExhausted));
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("quota_exceeded", "quota_exceeded")
        );
        assert_eq!(r.retry_after_ms, Some(ms_until_next_month(MARCH)));
        assert!(matches!(
            eval(&mut s, &request("small", MARCH, 50, 0), &t),
            Verdict::Allow
        ));
    }

    #[test]
    fn concurrent_reservations_cannot_overshoot() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), None));
        let (a, b) = (request("a", MARCH, 600, 0), request("b", MARCH, 600, 0));
        assert!(matches!(eval(&mut s, &a, &t), Verdict::Allow));
        assert_eq!(code(&eval(&mut s, &b, &t)), Some("quota_exceeded"));
        finish(&mut s, &a, done(300, 0));
        assert!(matches!(eval(&mut s, &b, &t), Verdict::Allow));
    }

    #[test]
    fn settle_replaces_the_estimate_with_real_usage() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), Some(1_000_000)));
        let r = request("a", MARCH, 600, 50_000);
        assert!(matches!(eval(&mut s, &r, &t), Verdict::Allow));
        let (tokens, budget) = pools(&r);
        assert_eq!(s.pool(&tokens), (0, 600));
        let used = Usage {
            input_tokens: 10,
            output_tokens: 90,
            cost_nano_eur: 13_400,
        };
        assert_eq!(
            finish(&mut s, &r, Outcome::Completed(used)).cost_nano_eur,
            13_400
        );
        assert_eq!(s.pool(&tokens), (100, 0));
        assert_eq!(s.pool(&budget), (13_400, 0));
    }

    #[test]
    fn rejection_and_timeout_release_everything() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), Some(1_000_000)));
        for (id, outcome) in [("a", Outcome::Rejected), ("b", Outcome::TimedOut)] {
            let r = request(id, MARCH, 600, 50_000);
            assert!(matches!(eval(&mut s, &r, &t), Verdict::Allow));
            let u = finish(&mut s, &r, outcome);
            assert_eq!(
                (u.input_tokens, u.output_tokens, u.cost_nano_eur),
                (0, 0, 0)
            );
            let (tokens, budget) = pools(&r);
            assert_eq!(s.pool(&tokens), (0, 0));
            assert_eq!(s.pool(&budget), (0, 0));
        }
    }

    #[test]
    fn budget_refusal_releases_the_token_reservation() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), Some(1_000)));
        let r = request("a", MARCH, 100, 2_000);
        let v = eval(&mut s, &r, &t);
        assert_eq!(code(&v), Some("budget_exceeded"));
        // 2000 > the whole budget: a new month would not help either.
        assert!(matches!(
            v,
            Verdict::Reject(Rejection {
                retry_after_ms: None,
                ..
            })
        ));
        assert_eq!(s.pool(&pools(&r).0), (0, 0));
        assert!(matches!(
            eval(&mut s, &request("b", MARCH, 100, 1_000), &t),
            Verdict::Allow
        ));
    }

    #[test]
    fn unlimited_tenants_are_still_tracked() {
        let (mut s, t) = (Fake::default(), tenant(None, None));
        let r = request("a", MARCH, u32::MAX, u64::MAX);
        assert!(matches!(eval(&mut s, &r, &t), Verdict::Allow));
        finish(&mut s, &r, done(500, 7));
        assert_eq!(s.pool(&pools(&r).0).0, 500);
        assert_eq!(s.pool(&pools(&r).1).0, 7);
    }

    #[test]
    fn a_new_month_uses_a_new_pool() {
        let (mut s, t) = (Fake::default(), tenant(Some(1_000), None));
        let feb = days_from_civil(2025, 2, 1) as u64 * DAY_MS;
        let last = request("jan", feb - 1, 1_000, 0);
        assert_eq!(pools(&last).0, "tokens:proj:2025-01");
        assert!(matches!(eval(&mut s, &last, &t), Verdict::Allow));
        let v = eval(&mut s, &request("late", feb - 1, 100, 0), &t);
        assert!(matches!(
            v,
            Verdict::Reject(Rejection {
                retry_after_ms: Some(1),
                ..
            })
        ));
        let next = request("feb", feb, 1_000, 0);
        assert_eq!(
            pools(&next),
            ("tokens:proj:2025-02".into(), "budget:proj:2025-02".into())
        );
        assert!(matches!(eval(&mut s, &next, &t), Verdict::Allow));
        // The January request settles in January even when it finishes in February.
        finish(&mut s, &last, done(400, 0));
        assert_eq!(s.pool("tokens:proj:2025-01"), (400, 0));
        assert_eq!(s.pool("tokens:proj:2025-02"), (0, 1_000));
    }

    #[test]
    fn settings_must_be_empty() {
        assert!(Settings::parse("{}").is_ok());
        assert_eq!(
            Settings::parse(r#"{"monthly_token_quota": 5}"#).unwrap_err(),
            "monthly_token_quota: unknown setting (the quota policy takes none; quotas and budgets come from projects.yaml)"
        );
        assert!(
            Settings::parse("[]")
                .unwrap_err()
                .starts_with("settings: must be a mapping")
        );
    }
}
