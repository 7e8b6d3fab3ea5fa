//! The outcome of one criterion at the end of a run ([`Verdict`]): what the runner needs for the
//! exit code, what the JUnit writer needs for Taurus's names and messages, and a human line.

use super::spec::{Spec, Unit};

/// How a criterion ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Never triggered.
    Passed,
    /// Triggered, and `fail` is set: the run fails (exit 3).
    Failed,
    /// Triggered, but `fail` is off (`as non-failed`): reported, the run still passes.
    Notice,
    /// Could not be judged (no samples for its label, monitoring source silent or unavailable).
    Error(String),
}

/// The end-of-run verdict of one criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The criterion as the user wrote it (trimmed); for the dict form, its Taurus JUnit name.
    pub name: String,
    /// Taurus's JUnit test-case name (`fail of >50%`, `avg-rt>1ms for 2s`).
    pub taurus_name: String,
    /// How it ended.
    pub status: Status,
    /// The compared value: at the trigger when triggered; otherwise the final whole-test value for
    /// cumulative criteria, or the value that came closest to the threshold for windowed ones.
    pub observed: Option<f64>,
    /// Threshold, in [`Verdict::unit`].
    pub threshold: f64,
    /// Unit of `observed` and `threshold`.
    pub unit: Unit,
    /// When it triggered, seconds since the test start.
    pub triggered_at: Option<f64>,
    /// Taurus's text for the criterion (`FailCriterion.__repr__`): `Failed: <message>` or
    /// `Failed: <subject><cond><threshold> <logic> <N> sec`, with `Notice`/`Alert` for non-failing
    /// and untriggered criteria, and `Error: <reason>` when it could not be judged.
    pub message: String,
    /// Whether triggering stops the test.
    pub stop: bool,
    /// Whether triggering fails the run.
    pub fail: bool,
    /// Whether this criterion is the one that asked the test to stop.
    pub stopped_test: bool,
    /// The criterion itself.
    pub spec: Spec,
}

impl Verdict {
    /// Whether this verdict makes the run fail (Taurus exit 3): triggered with `fail`, whether it
    /// stopped the test or not, windowed or cumulative. A criterion that could not be judged fails
    /// the run too unless it is non-failing: an unverifiable criterion is not a pass.
    pub fn fails_run(&self) -> bool {
        match self.status {
            Status::Failed => true,
            Status::Error(_) => self.fail,
            Status::Passed | Status::Notice => false,
        }
    }

    /// One human line: `observed 1.23 s > threshold 150 ms, triggered at 12 s (for 10 s)`.
    pub fn describe(&self) -> String {
        let spec = &self.spec;
        let threshold = format_value(self.threshold, self.unit);
        let cond = spec.condition;
        let frame = if spec.is_cumulative() {
            "over the whole test".to_string()
        } else if spec.timeframe_secs <= 0.0 {
            // Monitoring criteria without a timeframe judge each sample on its own.
            "on one sample".to_string()
        } else {
            format!("{} {}", spec.logic, format_secs(spec.timeframe_secs))
        };
        let observed = self.observed.map(|v| format_value(v, self.unit));
        match &self.status {
            Status::Error(reason) => reason.clone(),
            Status::Failed | Status::Notice => {
                let observed = observed.unwrap_or_else(|| "?".into());
                let mut line = format!("observed {observed} {cond} threshold {threshold}");
                match self.triggered_at {
                    Some(at) if !spec.is_cumulative() => {
                        line.push_str(&format!(", triggered at {} ({frame})", format_secs(at)))
                    }
                    _ => line.push_str(&format!(" {frame}")),
                }
                if self.status == Status::Notice {
                    line.push_str("; non-failing");
                }
                line
            }
            Status::Passed => match observed {
                Some(v) if spec.is_cumulative() => {
                    format!("observed {v}, threshold {cond} {threshold} {frame}")
                }
                Some(v) => format!("closest {v}, threshold {cond} {threshold} {frame}"),
                None => {
                    format!("no value reached the comparison, threshold {cond} {threshold} {frame}")
                }
            },
        }
    }
}

/// Whether any verdict fails the run (Taurus exit code 3 rather than 0).
pub fn run_failed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().any(Verdict::fails_run)
}

/// `0.15` → `150 ms`, `1.234` → `1.23 s`, `12.5` % → `12.5%`, bytes in binary units.
pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Seconds if v.abs() < 1.0 => format!("{} ms", trim_number(v * 1000.0, 1)),
        Unit::Seconds => format!("{} s", trim_number(v, 2)),
        Unit::Percent => format!("{}%", trim_number(v, 2)),
        Unit::Count => trim_number(v, 2),
        Unit::Bytes => {
            const STEPS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
            if v.abs() < 1024.0 {
                return format!("{} B", trim_number(v, 0));
            }
            let mut scaled = v / 1024.0;
            let mut step = 0;
            while scaled.abs() >= 1024.0 && step + 1 < STEPS.len() {
                scaled /= 1024.0;
                step += 1;
            }
            format!("{} {}", trim_number(scaled, 2), STEPS[step])
        }
        Unit::Raw => trim_number(v, 3),
    }
}

/// Seconds as `12 s` or `2.5 s`.
fn format_secs(secs: f64) -> String {
    format!("{} s", trim_number(secs, 1))
}

/// Fixed decimals with trailing zeros removed: `1.50` → `1.5`, `2.00` → `2`.
fn trim_number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_naturally() {
        assert_eq!(format_value(0.15, Unit::Seconds), "150 ms");
        assert_eq!(format_value(0.0012, Unit::Seconds), "1.2 ms");
        assert_eq!(format_value(1.234, Unit::Seconds), "1.23 s");
        assert_eq!(format_value(12.5, Unit::Percent), "12.5%");
        assert_eq!(format_value(12.0, Unit::Count), "12");
        assert_eq!(format_value(512.0, Unit::Bytes), "512 B");
        assert_eq!(format_value(10.0 * 1024.0 * 1024.0, Unit::Bytes), "10 MiB");
        assert_eq!(format_value(132_000_000.0, Unit::Raw), "132000000");
        assert_eq!(format_value(-0.0001, Unit::Count), "0");
    }
}
