//! The unbiased pass@k estimator of Chen et al. (2021, "Evaluating Large
//! Language Models Trained on Code"): with `n` samples of which `c` pass,
//! pass@k = 1 − C(n−c, k) / C(n, k), computed in the stable product form
//! 1 − ∏_{i=n−c+1}^{n} (1 − k/i) (no huge binomials).

/// pass@k for one problem with `n` samples, `c` of them correct (`1 ≤ k ≤ n`).
pub fn pass_at_k(n: u32, c: u32, k: u32) -> f64 {
    assert!(k >= 1 && k <= n, "pass@k needs 1 <= k <= n (k={k}, n={n})");
    assert!(c <= n, "more correct samples than samples (c={c}, n={n})");
    if n - c < k {
        return 1.0;
    }
    let prod: f64 = (n - c + 1..=n)
        .map(|i| 1.0 - f64::from(k) / f64::from(i))
        .product();
    1.0 - prod
}

/// pass@k averaged over problems, each given as `(n, c)`; `None` when no
/// problem has `n ≥ k` samples (problems with fewer samples are left out).
pub fn mean_pass_at_k(counts: &[(u32, u32)], k: u32) -> Option<f64> {
    let values: Vec<f64> = counts
        .iter()
        .filter(|(n, _)| *n >= k)
        .map(|&(n, c)| pass_at_k(n, c, k))
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// 1 − C(n−c,k)/C(n,k) with exact integer binomials (small n only).
    fn reference(n: u64, c: u64, k: u64) -> f64 {
        fn binom(n: u64, k: u64) -> u128 {
            if k > n {
                return 0;
            }
            let mut r: u128 = 1;
            for i in 0..k {
                r = r * u128::from(n - i) / u128::from(i + 1);
            }
            r
        }
        1.0 - binom(n - c, k) as f64 / binom(n, k) as f64
    }

    #[test]
    fn known_values() {
        assert!(close(pass_at_k(10, 3, 1), 0.3));
        // 1 − C(7,5)/C(10,5) = 1 − 21/252
        assert!(close(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0));
        assert!(close(pass_at_k(10, 3, 5), 0.916_666_666_666_666_6));
        assert!(close(pass_at_k(10, 0, 5), 0.0));
        assert!(close(pass_at_k(10, 10, 1), 1.0));
        // n − c < k: every k-subset holds a correct sample.
        assert!(close(pass_at_k(10, 6, 5), 1.0));
        assert!(close(pass_at_k(1, 1, 1), 1.0));
        assert!(close(pass_at_k(1, 0, 1), 0.0));
    }

    #[test]
    fn pass_at_1_is_the_fraction_correct() {
        for n in 1..=20 {
            for c in 0..=n {
                assert!(close(pass_at_k(n, c, 1), f64::from(c) / f64::from(n)));
            }
        }
    }

    #[test]
    fn matches_exact_binomials() {
        for n in 1..=30u32 {
            for c in 0..=n {
                for k in 1..=n {
                    let a = pass_at_k(n, c, k);
                    let b = reference(n.into(), c.into(), k.into());
                    assert!((a - b).abs() < 1e-9, "n={n} c={c} k={k}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn stable_for_large_n() {
        let v = pass_at_k(200, 1, 100);
        assert!(close(v, 0.5), "{v}");
        let v = pass_at_k(1000, 3, 10);
        assert!(v > 0.0 && v < 1.0);
    }

    #[test]
    fn mean_over_problems() {
        let counts = [(10, 3), (10, 0), (10, 10)];
        assert!(close(
            mean_pass_at_k(&counts, 1).unwrap(),
            (0.3 + 0.0 + 1.0) / 3.0
        ));
        assert_eq!(mean_pass_at_k(&counts, 11), None);
        assert_eq!(mean_pass_at_k(&[], 1), None);
    }
}
