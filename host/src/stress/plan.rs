//! The plan: which requests a scenario sends, and when, decided from the seed
//! alone before anything is sent.
//!
//! Two independent streams come from the seed: one for the request contents
//! (user, model, request type, prompt, max_tokens, in that order per request)
//! and one for the arrival times, so that changing a rate leaves the contents
//! of request *i* unchanged.

use super::rng::{Rng, WeightedIndex};
use super::scenario::{Arrivals, Load, MaxTokens, Process, RequestType, Scenario};

const CONTENT_STREAM: u64 = 1;
const ARRIVAL_STREAM: u64 = 2;

/// One planned request. Indices point into the scenario's lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    pub index: u64,
    /// Open loop: when to send, in seconds after the start. Closed loop: when
    /// the request is released to wait for a concurrency slot (`index × delay`).
    pub at_seconds: f64,
    pub user: u32,
    pub model: u32,
    pub request_type: RequestType,
    pub prompt: u32,
    pub max_tokens: u32,
}

/// Generates the plan lazily; finite unless the scenario is closed-loop with
/// only a duration (then the runner's deadline ends it).
pub struct PlanIter<'a> {
    scenario: &'a Scenario,
    content: Rng,
    arrivals: Option<ArrivalClock>,
    users: WeightedIndex,
    user_types: Vec<Option<WeightedIndex>>,
    models: WeightedIndex,
    types: WeightedIndex,
    prompts: WeightedIndex,
    max_tokens: Option<WeightedIndex>,
    next_index: u64,
    done: bool,
}

impl<'a> PlanIter<'a> {
    pub fn new(scenario: &'a Scenario, seed: u64) -> Self {
        let arrivals = match &scenario.load {
            Load::Open(a) => Some(ArrivalClock::new(a, Rng::stream(seed, ARRIVAL_STREAM))),
            Load::Closed { .. } => None,
        };
        Self {
            scenario,
            content: Rng::stream(seed, CONTENT_STREAM),
            arrivals,
            users: WeightedIndex::new(scenario.users.iter().map(|u| u.weight)),
            user_types: scenario
                .users
                .iter()
                .map(|u| {
                    u.request_types
                        .as_ref()
                        .map(|m| WeightedIndex::new(m.iter().map(|(_, w)| *w)))
                })
                .collect(),
            models: WeightedIndex::new(scenario.models.iter().map(|(_, w)| *w)),
            types: WeightedIndex::new(scenario.request_types.iter().map(|(_, w)| *w)),
            prompts: WeightedIndex::new(scenario.prompts.iter().map(|p| p.weight)),
            max_tokens: match &scenario.max_tokens {
                MaxTokens::Choices(c) => Some(WeightedIndex::new(c.iter().map(|(_, w)| *w))),
                _ => None,
            },
            next_index: 0,
            done: false,
        }
    }

    /// Whether the plan ends by itself (known length).
    pub fn is_finite(&self) -> bool {
        self.scenario.total.is_some() || self.arrivals.is_some()
    }
}

impl Iterator for PlanIter<'_> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.done {
            return None;
        }
        let s = self.scenario;
        if s.total.is_some_and(|t| self.next_index >= t) {
            self.done = true;
            return None;
        }
        let at_seconds = match (&mut self.arrivals, &s.load) {
            (Some(clock), _) => match clock.next() {
                Some(t) if s.duration_seconds.is_none_or(|d| t < d) => t,
                _ => {
                    self.done = true;
                    return None;
                }
            },
            (None, Load::Closed { delay_seconds, .. }) => self.next_index as f64 * delay_seconds,
            (None, Load::Open(_)) => unreachable!(),
        };
        let rng = &mut self.content;
        let user = self.users.sample(rng);
        let model = self.models.sample(rng);
        let request_type = match (&self.user_types[user], &s.users[user].request_types) {
            (Some(w), Some(mix)) => mix[w.sample(rng)].0,
            _ => s.request_types[self.types.sample(rng)].0,
        };
        let prompt = self.prompts.sample(rng);
        let max_tokens = match (&s.max_tokens, &self.max_tokens) {
            (MaxTokens::Fixed(n), _) => *n,
            (MaxTokens::Uniform { min, max }, _) => {
                rng.range_inclusive(u64::from(*min), u64::from(*max)) as u32
            }
            (MaxTokens::Choices(c), Some(w)) => c[w.sample(rng)].0,
            (MaxTokens::Choices(c), None) => c[0].0,
        };
        let p = Planned {
            index: self.next_index,
            at_seconds,
            user: user as u32,
            model: model as u32,
            request_type,
            prompt: prompt as u32,
            max_tokens,
        };
        self.next_index += 1;
        Some(p)
    }
}

/// The first `limit` planned requests (all of them for a finite plan when
/// `limit` is `None`; a closed-loop duration-only plan needs a limit).
pub fn plan(scenario: &Scenario, seed: u64, limit: Option<usize>) -> Vec<Planned> {
    let it = PlanIter::new(scenario, seed);
    match limit {
        Some(n) => it.take(n).collect(),
        None => {
            assert!(
                it.is_finite(),
                "an endless plan (closed loop, duration only) needs a limit"
            );
            it.collect()
        }
    }
}

/// Arrival times of a (possibly ramped) renewal process. Gaps are drawn in
/// "expected arrivals" units (mean 1) and mapped through the integrated rate
/// Λ(t) = ∫ rate, which is exact for a piecewise-linear rate.
struct ArrivalClock {
    rng: Rng,
    process: Process,
    /// (time, rate) knots; the rate after the last knot stays constant.
    knots: Vec<(f64, f64)>,
    /// Current segment and Λ at its start.
    segment: usize,
    lambda_at_segment: f64,
    /// Λ of the last arrival.
    target: f64,
    ended: bool,
}

impl ArrivalClock {
    fn new(a: &Arrivals, rng: Rng) -> Self {
        let mut knots = vec![(0.0, a.rate_per_second)];
        knots.extend(a.ramp.iter().map(|p| (p.at_seconds, p.rate_per_second)));
        Self {
            rng,
            process: a.process,
            knots,
            segment: 0,
            lambda_at_segment: 0.0,
            target: 0.0,
            ended: false,
        }
    }

    fn gap(&mut self) -> f64 {
        match self.process {
            Process::Poisson => self.rng.exponential(),
            Process::Gamma { shape } => self.rng.gamma(shape) / shape,
            Process::Constant => 1.0,
        }
    }

    fn next(&mut self) -> Option<f64> {
        if self.ended {
            return None;
        }
        self.target += self.gap();
        loop {
            let (t0, r0) = self.knots[self.segment];
            let need = self.target - self.lambda_at_segment;
            match self.knots.get(self.segment + 1) {
                None => {
                    // Constant rate r0 from t0 on.
                    if r0 <= 0.0 {
                        self.ended = true;
                        return None;
                    }
                    return Some(t0 + need / r0);
                }
                Some(&(t1, r1)) => {
                    let width = t1 - t0;
                    let area = 0.5 * (r0 + r1) * width;
                    if need <= area && area > 0.0 {
                        let slope = (r1 - r0) / width;
                        let x = if slope.abs() < 1e-12 {
                            need / r0
                        } else {
                            // r0 x + slope x² / 2 = need
                            (-r0 + (r0 * r0 + 2.0 * slope * need).max(0.0).sqrt()) / slope
                        };
                        return Some(t0 + x.clamp(0.0, width));
                    }
                    self.lambda_at_segment += area;
                    self.segment += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stress::scenario::{RampPoint, builtin, parse};

    fn open(process: Process, rate: f64, ramp: Vec<RampPoint>, duration: f64) -> Scenario {
        let mut s = builtin("mixed_load").unwrap();
        s.total = None;
        s.duration_seconds = Some(duration);
        s.load = Load::Open(Arrivals {
            process,
            rate_per_second: rate,
            ramp,
        });
        s
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let s = builtin("mixed_load").unwrap();
        let a = plan(&s, 42, None);
        assert_eq!(a.len(), 250);
        assert_eq!(a, plan(&s, 42, None));
        assert_ne!(a, plan(&s, 43, None));
        assert_eq!(a[10].at_seconds, 10.0 * 0.005);
        // Every user, both models and both request types show up.
        for u in 0..3 {
            assert!(a.iter().any(|p| p.user == u));
        }
        assert!(a.iter().any(|p| p.request_type == RequestType::Batch));
        assert!(a.iter().all(|p| p.max_tokens == 64));
    }

    #[test]
    fn contents_do_not_depend_on_the_rate() {
        let slow = plan(&open(Process::Poisson, 10.0, vec![], 100.0), 7, Some(50));
        let fast = plan(&open(Process::Poisson, 1000.0, vec![], 100.0), 7, Some(50));
        let strip = |v: &[Planned]| {
            v.iter()
                .map(|p| (p.user, p.model, p.request_type, p.prompt, p.max_tokens))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&slow), strip(&fast));
        assert!(slow[49].at_seconds > fast[49].at_seconds * 50.0);
    }

    #[test]
    fn rates_and_ramps_are_honoured() {
        let count = |s: &Scenario, from: f64, to: f64| {
            plan(s, 3, None)
                .iter()
                .filter(|p| p.at_seconds >= from && p.at_seconds < to)
                .count() as f64
        };
        let poisson = open(Process::Poisson, 200.0, vec![], 50.0);
        let n = count(&poisson, 0.0, 50.0);
        assert!((n / 50.0 - 200.0).abs() < 10.0, "{n}");
        let constant = open(Process::Constant, 100.0, vec![], 2.0);
        let p = plan(&constant, 1, None);
        assert_eq!(p.len(), 199); // 0.01, 0.02, ..., 1.99
        assert!((p[0].at_seconds - 0.01).abs() < 1e-9);
        // Ramp 0 -> 100/s over 10 s, then 100/s: ~500 in the first 10 s, ~1000 in the next 10.
        let ramp = open(
            Process::Poisson,
            0.0,
            vec![RampPoint {
                at_seconds: 10.0,
                rate_per_second: 100.0,
            }],
            20.0,
        );
        let first = count(&ramp, 0.0, 10.0);
        let second = count(&ramp, 10.0, 20.0);
        assert!((first - 500.0).abs() < 80.0, "{first}");
        assert!((second - 1000.0).abs() < 110.0, "{second}");
        assert!(count(&ramp, 0.0, 5.0) < count(&ramp, 5.0, 10.0) / 2.0);
        // A ramp down to 0 ends the plan.
        let down = open(
            Process::Constant,
            10.0,
            vec![RampPoint {
                at_seconds: 2.0,
                rate_per_second: 0.0,
            }],
            100.0,
        );
        let n = plan(&down, 1, None).len();
        assert!((9..=10).contains(&n), "{n}");
    }

    #[test]
    fn gamma_burstiness_raises_the_variance() {
        let cv = |shape: f64| {
            let p = plan(
                &open(Process::Gamma { shape }, 100.0, vec![], 200.0),
                5,
                None,
            );
            let gaps: Vec<f64> = p
                .windows(2)
                .map(|w| w[1].at_seconds - w[0].at_seconds)
                .collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            assert!(
                (mean - 0.01).abs() < 0.001,
                "shape {shape}: mean gap {mean}"
            );
            var.sqrt() / mean
        };
        let (bursty, poisson, regular) = (cv(0.25), cv(1.0), cv(4.0));
        assert!((bursty - 2.0).abs() < 0.3, "{bursty}");
        assert!((poisson - 1.0).abs() < 0.1, "{poisson}");
        assert!((regular - 0.5).abs() < 0.1, "{regular}");
    }

    #[test]
    fn per_user_request_types_and_max_tokens_distributions() {
        let s = parse(
            "total: 2000\nconcurrency: 1\nusers: [user_vip_01, {id: user_batch_01, request_types: {batch: 1}}]\n\
             models: [m]\nmax_tokens: {choices: [{value: 8, weight: 1}, {value: 512, weight: 3}]}\n",
            "x",
        )
        .unwrap();
        let p = plan(&s, 1, None);
        assert!(
            p.iter()
                .filter(|p| p.user == 1)
                .all(|p| p.request_type == RequestType::Batch)
        );
        assert!(
            p.iter()
                .filter(|p| p.user == 0)
                .all(|p| p.request_type == RequestType::Interactive)
        );
        let big = p.iter().filter(|p| p.max_tokens == 512).count() as f64 / 2000.0;
        assert!((big - 0.75).abs() < 0.04, "{big}");
        assert!(p.iter().all(|p| p.max_tokens == 8 || p.max_tokens == 512));
    }
}
