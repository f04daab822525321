//! Seeded randomness: a SplitMix64 generator and the few distributions the
//! planner needs. Written here (a dozen lines) rather than pulling in `rand`, so
//! that a seed keeps producing the same plan whatever a dependency upgrade does
//! to its algorithms.

/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state, full period, good
/// statistical quality for simulation, trivially reproducible.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent stream derived from `seed` (e.g. one for the request
    /// contents and one for the arrival times, so that changing the rate does
    /// not change which requests are sent).
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut mixer = Rng::new(seed ^ stream.wrapping_mul(GOLDEN).rotate_left(17));
        Rng::new(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1].
    fn unit_open(&mut self) -> f64 {
        1.0 - self.unit()
    }

    /// Uniform integer in `[min, max]`.
    pub fn range_inclusive(&mut self, min: u64, max: u64) -> u64 {
        let span = max - min + 1; // max >= min is the caller's promise
        if span == 0 {
            return self.next_u64(); // the whole u64 range
        }
        min + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// Exponential with mean 1.
    pub fn exponential(&mut self) -> f64 {
        -self.unit_open().ln()
    }

    /// Standard normal (Box–Muller; one of the pair is dropped to keep the
    /// generator stateless apart from its counter).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit_open();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Gamma with `shape` k > 0 and scale 1 (mean k): Marsaglia & Tsang (2000),
    /// with the `U^(1/k)` boost for k < 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = self.unit_open().powf(1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.unit_open();
            if u < 1.0 - 0.0331 * x * x * x * x || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }
}

/// A weighted choice among `n` items (weights ≥ 0, at least one > 0).
#[derive(Debug, Clone)]
pub struct WeightedIndex {
    cumulative: Vec<f64>,
}

impl WeightedIndex {
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// Draws an index (always draws one number, even for a single item, so the
    /// stream advances the same way whatever the weights).
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cumulative.last().unwrap_or(&0.0);
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        // Skip zero-weight items at the end if rounding put us past them.
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b, mut c) = (Rng::new(42), Rng::new(42), Rng::new(43));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn distributions_have_the_right_means() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        let e = mean(&mut || r.exponential());
        assert!((e - 1.0).abs() < 0.02, "exponential mean {e}");
        for k in [0.3, 1.0, 2.5] {
            let mut r = Rng::new(9);
            let g = mean(&mut || r.gamma(k));
            assert!((g - k).abs() < 0.03 * k.max(1.0), "gamma({k}) mean {g}");
        }
        let mut r = Rng::new(11);
        let u = mean(&mut || r.unit());
        assert!((u - 0.5).abs() < 0.01);
    }

    #[test]
    fn weighted_choice_follows_weights() {
        let w = WeightedIndex::new([0.7, 0.0, 0.3]);
        let mut r = Rng::new(1);
        let mut counts = [0usize; 3];
        for _ in 0..100_000 {
            counts[w.sample(&mut r)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(
            (counts[0] as f64 / 100_000.0 - 0.7).abs() < 0.01,
            "{counts:?}"
        );
        let mut r = Rng::new(5);
        for _ in 0..1000 {
            let x = r.range_inclusive(3, 5);
            assert!((3..=5).contains(&x));
        }
    }
}
