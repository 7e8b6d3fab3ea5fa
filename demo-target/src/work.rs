//! How much CPU work one inference gets: `--work-ms` (fractional
//! milliseconds), optionally spread by `--work-cv` into a log-normal
//! distribution, so a model server has a realistic latency tail whose
//! quantiles scale with `--work-ms`.

use crate::control::MAX_MS;

/// Largest accepted `--work-cv`.
pub const MAX_CV: f64 = 3.0;

/// Parses a millisecond count: a finite number, 0..=`MAX_MS`, fractions allowed.
pub fn parse_ms(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("expected milliseconds (e.g. 2.35), got {text:?}"))?;
    if !v.is_finite() || !(0.0..=MAX_MS as f64).contains(&v) {
        return Err(format!("must be 0..={MAX_MS} milliseconds, got {text:?}"));
    }
    Ok(v)
}

/// Parses `--work-cv`: a finite number, 0..=`MAX_CV`.
pub fn parse_cv(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("expected a number, got {text:?}"))?;
    if !v.is_finite() || !(0.0..=MAX_CV).contains(&v) {
        return Err(format!("must be 0..={MAX_CV}, got {text:?}"));
    }
    Ok(v)
}

/// A log-normal multiplier with mean 1 and coefficient of variation `cv`
/// (0: always exactly 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    sigma: f64,
}

impl Spread {
    pub fn new(cv: f64) -> Self {
        Spread { sigma: (1.0 + cv * cv).ln().sqrt() }
    }

    /// One draw: `exp(sigma*Z - sigma^2/2)`, Z standard normal (Box-Muller).
    pub fn multiplier(&self, rng: &mut fastrand::Rng) -> f64 {
        if self.sigma == 0.0 {
            return 1.0;
        }
        // u1 in (0, 1], so ln(u1) is finite.
        let u1 = 1.0 - rng.f64();
        let u2 = rng.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (self.sigma * z - self.sigma * self.sigma / 2.0).exp()
    }

    /// The work of one request: `work_ms` times a draw, capped at `MAX_MS`.
    pub fn draw(&self, work_ms: f64, rng: &mut fastrand::Rng) -> f64 {
        (work_ms * self.multiplier(rng)).min(MAX_MS as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(cv: f64) -> (f64, f64) {
        let spread = Spread::new(cv);
        let mut rng = fastrand::Rng::with_seed(13);
        let n = 100_000;
        let draws: Vec<f64> = (0..n).map(|_| spread.multiplier(&mut rng)).collect();
        assert!(draws.iter().all(|d| d.is_finite() && *d > 0.0));
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn multipliers_have_mean_one_and_the_requested_cv() {
        for cv in [0.1, 0.3, 0.5, 1.0] {
            let (mean, got) = moments(cv);
            assert!((mean - 1.0).abs() < 0.01, "cv {cv}: mean {mean}");
            assert!((got - cv).abs() < 0.05 * cv, "cv {cv}: measured cv {got}");
        }
    }

    #[test]
    fn zero_cv_is_exact() {
        let mut rng = fastrand::Rng::with_seed(1);
        let spread = Spread::new(0.0);
        assert!((0..100).all(|_| spread.draw(2.35, &mut rng) == 2.35));
    }

    #[test]
    fn draws_are_capped() {
        let mut rng = fastrand::Rng::with_seed(2);
        let spread = Spread::new(MAX_CV);
        assert!((0..10_000).all(|_| spread.draw(MAX_MS as f64, &mut rng) <= MAX_MS as f64));
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_ms("2.35"), Ok(2.35));
        assert_eq!(parse_ms("0"), Ok(0.0));
        assert_eq!(parse_ms("600000"), Ok(600_000.0));
        for bad in ["-1", "600000.5", "NaN", "inf", "x", ""] {
            assert!(parse_ms(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_cv("0.4"), Ok(0.4));
        for bad in ["-0.1", "3.01", "NaN", "y"] {
            assert!(parse_cv(bad).is_err(), "{bad}");
        }
    }
}
