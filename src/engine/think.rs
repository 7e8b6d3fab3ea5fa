//! Think times: one pause drawn from a distribution, as JMeter's timers draw them.

use std::time::Duration;

use crate::plan::scenario::ThinkTime;

/// One pause drawn from a think-time distribution (JMeter's timers). `#[inline]` keeps it a
/// candidate for inlining into the request path, as it was while it lived in `vu.rs`.
#[inline]
pub(super) fn think(t: &ThinkTime, rng: &mut fastrand::Rng) -> Duration {
    match *t {
        ThinkTime::Constant(d) => d,
        ThinkTime::Uniform { min, range } => min + range.mul_f64(rng.f64()),
        ThinkTime::Gaussian { mean, dev } => {
            Duration::from_secs_f64((mean.as_secs_f64() + gaussian(rng) * dev.as_secs_f64()).max(0.0))
        }
        ThinkTime::Poisson { lambda_ms, offset } => offset + Duration::from_millis(poisson(lambda_ms, rng)),
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A Poisson draw of mean `lambda`: exact (Knuth) for small means, the normal approximation
/// above 30, where it is within a fraction of a percent.
fn poisson(lambda: f64, rng: &mut fastrand::Rng) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda >= 30.0 {
        return (lambda + lambda.sqrt() * gaussian(rng)).round().max(0.0) as u64;
    }
    let limit = (-lambda).exp();
    let mut k = 0;
    let mut p = rng.f64();
    while p > limit {
        k += 1;
        p *= rng.f64();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_and_range(t: ThinkTime) -> (f64, f64, f64) {
        let mut rng = fastrand::Rng::with_seed(42);
        let draws: Vec<f64> = (0..20_000).map(|_| think(&t, &mut rng).as_secs_f64()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let min = draws.iter().copied().fold(f64::MAX, f64::min);
        let max = draws.iter().copied().fold(0.0, f64::max);
        (mean, min, max)
    }

    #[test]
    fn think_time_distributions_have_taurus_means() {
        let s = Duration::from_secs_f64;
        let (mean, min, max) = mean_and_range(ThinkTime::Uniform { min: s(0.5), range: s(1.0) });
        assert!((mean - 1.0).abs() < 0.02 && min >= 0.5 && max <= 1.5, "{mean} {min} {max}");
        let (mean, min, _) = mean_and_range(ThinkTime::Gaussian { mean: s(1.0), dev: s(0.1) });
        assert!((mean - 1.0).abs() < 0.01 && min >= 0.0, "{mean}");
        // poisson(2s, 0.5s): 0.5 s plus a Poisson delay of mean 1500 ms.
        let (mean, min, _) = mean_and_range(ThinkTime::Poisson { lambda_ms: 1500.0, offset: s(0.5) });
        assert!((mean - 2.0).abs() < 0.01 && min >= 0.5, "{mean}");
        let (mean, _, _) = mean_and_range(ThinkTime::Poisson { lambda_ms: 4.0, offset: s(0.0) });
        assert!((mean - 0.004).abs() < 0.0002, "{mean}");
    }
}
