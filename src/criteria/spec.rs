//! A parsed criterion ([`Spec`]) and the pieces both written forms share: conditions, window
//! logic, units, threshold reading (`dehumanize_time`, Taurus's byte units) and the JUnit test-case
//! name Taurus gives a criterion.

use std::fmt;

use crate::config::duration::{dehumanize, parse_secs};

use super::subject::Subject;

/// One criterion as written, before it has seen any data.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// The criterion as the user wrote it (trimmed); for the dict form, its Taurus JUnit name.
    pub text: String,
    /// Message reported instead of the criterion when it triggers (`My msg: …`, `message:`, or the
    /// key of a criteria mapping).
    pub message: Option<String>,
    /// The subject word as written (`success`, `concurr`, `local/cpu`), used in Taurus's texts.
    pub subject: String,
    /// Sample label the criterion reads; `""` is the overall figures. Unused by monitoring criteria.
    pub label: String,
    /// Comparison.
    pub condition: Condition,
    /// Comparison as written (`=` or `==`), used in Taurus's texts.
    pub condition_text: String,
    /// Threshold in the unit of [`Spec::unit`]: seconds, count, bytes or percent.
    pub threshold: f64,
    /// Threshold as written (`150ms`, `50%`, `52`), used in Taurus's texts.
    pub threshold_text: String,
    /// Whether the threshold ends in `%` (KPI criteria then compare a share of hits).
    pub percent: bool,
    /// How values inside the timeframe are combined.
    pub logic: Logic,
    /// Timeframe in seconds; zero or less means cumulative (judged once, at the end).
    pub timeframe_secs: f64,
    /// Whether a triggered criterion stops the test.
    pub stop: bool,
    /// Whether a triggered criterion fails the run.
    pub fail: bool,
    /// Where the value comes from.
    pub kind: Kind,
    /// JUnit test-case name by Taurus's rule (see [`taurus_name`]).
    pub taurus_name: String,
    /// MMS's run-to-run tolerance, kept for comparison reports; not judged here.
    pub diff_percent: Option<f64>,
    /// MMS's tolerance against the previous run, kept like `diff_percent`.
    pub diff_percent_previous: Option<f64>,
    /// A threshold relative to the baseline (`p95>baseline+15%`): `threshold` is unknown until
    /// the runner resolves it from the test's baseline.
    pub baseline: Option<Relative>,
}

/// A threshold written relative to the baseline's value of the same subject and label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Relative {
    /// `+15%` is 15.0 with `percent`; `+20ms` is 0.02 (in the subject's unit) without.
    pub offset: f64,
    /// Whether the offset is a percentage of the baseline's value.
    pub percent: bool,
}

impl Relative {
    /// The threshold for a baseline value.
    pub fn apply(self, base: f64) -> f64 {
        if self.percent {
            base * (1.0 + self.offset / 100.0)
        } else {
            base + self.offset
        }
    }
}

/// Reads a threshold that may be relative to the baseline: `baseline`, `baseline+15%`,
/// `baseline-10%`, `baseline+20ms`. The value is NaN until resolved; `percent` says whether the
/// subject compares a share of hits (a relative `fail` compares fail % unless `fail` counts).
pub(crate) fn read_threshold_or_baseline(
    text: &str,
    kind: &Kind,
    subject_text: &str,
) -> Result<(f64, bool, Option<Relative>), ValueError> {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("baseline") else {
        return read_threshold(text, kind, subject_text).map(|(v, p)| (v, p, None));
    };
    let supported = matches!(
        kind,
        Kind::Kpi(Subject::AvgRt | Subject::Percentile(_) | Subject::Hits | Subject::Fail | Subject::Succ)
    );
    if !supported {
        return Err(ValueError {
            message: format!("`{subject_text}` cannot be judged against a baseline"),
            help: Some("baseline-relative thresholds apply to avg-rt, p<level>, hits, fail and succ".into()),
        });
    }
    let rest = rest.trim();
    let bad = || {
        ValueError {
        message: format!("`{trimmed}` is not a baseline-relative threshold"),
        help: Some(
            "write `baseline`, `baseline+15%`, `baseline-10%` or an offset in the subject's unit such as `baseline+20ms`"
                .into(),
        ),
    }
    };
    // fail/succ compare their share of hits against the baseline's share.
    let share = matches!(kind, Kind::Kpi(Subject::Fail | Subject::Succ));
    if rest.is_empty() {
        return Ok((f64::NAN, share, Some(Relative { offset: 0.0, percent: true })));
    }
    let (sign, amount) = match rest.split_at(1) {
        ("+", a) => (1.0, a.trim()),
        ("-", a) => (-1.0, a.trim()),
        _ => return Err(bad()),
    };
    if let Some(pct) = amount.strip_suffix('%') {
        let value: f64 = pct.trim().parse().map_err(|_| bad())?;
        if !value.is_finite() || value < 0.0 {
            return Err(bad());
        }
        return Ok((f64::NAN, share, Some(Relative { offset: sign * value, percent: true })));
    }
    let value = if let Kind::Kpi(s) = kind {
        match s.unit(share) {
            Unit::Seconds => dehumanize(amount).map_err(|_| bad())?,
            _ => amount.parse::<f64>().map_err(|_| bad())?,
        }
    } else {
        return Err(bad());
    };
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    Ok((f64::NAN, share, Some(Relative { offset: sign * value, percent: false })))
}

impl Spec {
    /// Whether the criterion is judged once on the whole-test figures rather than per second.
    /// Monitoring criteria never are: Taurus feeds them every sample whatever the timeframe.
    pub fn is_cumulative(&self) -> bool {
        matches!(self.kind, Kind::Kpi(_)) && self.timeframe_secs <= 0.0
    }

    /// Unit of the threshold and of observed values.
    pub fn unit(&self) -> Unit {
        match &self.kind {
            Kind::Kpi(subject) => subject.unit(self.percent),
            Kind::Monitoring { .. } if self.percent => Unit::Percent,
            Kind::Monitoring { .. } => Unit::Raw,
        }
    }
}

/// Where a criterion's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Sample KPIs of one label.
    Kpi(Subject),
    /// One metric of one monitoring source (`class: bzt.modules.monitoring.MonitoringCriteria`).
    Monitoring {
        /// Source name: the part of the subject before the first `/`.
        source: String,
        /// Metric name: the rest.
        metric: String,
    },
}

/// Comparison between the observed value and the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=` or `==`
    Eq,
}

impl Condition {
    /// Reads a Taurus condition.
    pub fn parse(text: &str) -> Option<Condition> {
        Some(match text {
            ">" => Condition::Gt,
            ">=" => Condition::Ge,
            "<" => Condition::Lt,
            "<=" => Condition::Le,
            "=" | "==" => Condition::Eq,
            _ => return None,
        })
    }

    /// Whether `value` meets the condition against `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Condition::Gt => value > threshold,
            Condition::Ge => value >= threshold,
            Condition::Lt => value < threshold,
            Condition::Le => value <= threshold,
            Condition::Eq => value == threshold,
        }
    }

    /// Help for a condition Taurus does not know.
    pub(crate) fn help_for(text: &str) -> String {
        let guess = match text {
            "=>" => Some(">="),
            "=<" => Some("<="),
            ">>" => Some(">"),
            "<<" => Some("<"),
            "===" => Some("=="),
            _ => None,
        };
        match guess {
            Some(g) => format!("did you mean `{g}`? Conditions are >, <, >=, <=, = and =="),
            None => "conditions are >, <, >=, <=, = and ==".into(),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Gt => ">",
            Condition::Ge => ">=",
            Condition::Lt => "<",
            Condition::Le => "<=",
            Condition::Eq => "=",
        })
    }
}

/// How the values of a timeframe decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logic {
    /// Every second of the timeframe must meet the condition.
    For,
    /// The timeframe's aggregate meets the condition, even on a partial window.
    Within,
    /// The timeframe's aggregate meets the condition over a full window.
    Over,
}

impl Logic {
    /// Reads a Taurus logic word (lower case only, as Taurus).
    pub fn parse(text: &str) -> Option<Logic> {
        Some(match text {
            "for" => Logic::For,
            "within" => Logic::Within,
            "over" => Logic::Over,
            _ => return None,
        })
    }
}

impl fmt::Display for Logic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Logic::For => "for",
            Logic::Within => "within",
            Logic::Over => "over",
        })
    }
}

/// Unit of a threshold and of observed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Times.
    Seconds,
    /// Shares of hits, 0–100.
    Percent,
    /// Sample counts and virtual users.
    Count,
    /// Bytes received.
    Bytes,
    /// Monitoring metrics, in whatever unit the source reports.
    Raw,
}

/// Why a threshold or timeframe could not be read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValueError {
    pub message: String,
    pub help: Option<String>,
}

/// Reads a threshold for `kind`: returns the value and whether it was a percentage.
pub(crate) fn read_threshold(text: &str, kind: &Kind, subject_text: &str) -> Result<(f64, bool), ValueError> {
    let trimmed = text.trim();
    let percent = trimmed.ends_with('%');
    let number = trimmed.trim_end_matches('%');
    if let Kind::Kpi(subject) = kind {
        if percent && !subject.allows_percent() {
            // Taurus rejects this too, but only when the module starts; here it points at the `%`.
            return Err(ValueError {
                message: format!("a `%` threshold does not apply to `{subject_text}`"),
                help: Some(match subject.unit(false) {
                    Unit::Seconds => {
                        "write a time such as `150ms` or `1.5s`; percentages apply to succ, fail and rc<code>".into()
                    }
                    _ => "write a plain number; percentages apply to succ, fail and rc<code>".into(),
                }),
            });
        }
        if matches!(subject, Subject::Bytes) {
            return parse_bytes(number).map(|b| (b, false));
        }
    }
    // A threshold is a number, not a duration: no limit (`132000000` bytes of memory).
    match dehumanize(number) {
        Ok(value) => check_range(value, percent, kind, subject_text, trimmed).map(|()| (value, percent)),
        Err(_) => Err(ValueError {
            message: format!("`{trimmed}` is not a threshold"),
            help: Some(match kind {
                Kind::Kpi(s) if s.unit(percent) == Unit::Seconds => {
                    "write a time: a number with an optional unit ms, s, m, h or d, e.g. `150ms`".into()
                }
                Kind::Kpi(s) if s.allows_percent() => "write a number, or a percentage such as `5%`".into(),
                _ => "write a number".into(),
            }),
        }),
    }
}

/// Deliberate fix: thresholds a KPI can never cross are errors. Taurus accepts `fail>200%`
/// (never true) and `avg-rt>-1s` (always true) without a word. Monitoring metrics keep any
/// value: their units are the source's own, and a process may well use over 100% CPU.
fn check_range(value: f64, percent: bool, kind: &Kind, subject: &str, text: &str) -> Result<(), ValueError> {
    let Kind::Kpi(kpi) = kind else {
        return Ok(());
    };
    if value < 0.0 {
        let what = match kpi.unit(percent) {
            Unit::Seconds => "a time",
            Unit::Percent => "a share of hits",
            Unit::Bytes => "a byte count",
            Unit::Count | Unit::Raw => "a count",
        };
        return Err(ValueError {
            message: format!("`{text}` is negative, but `{subject}` is {what}, never below 0"),
            help: Some("write a threshold of 0 or more".into()),
        });
    }
    if percent && value > 100.0 {
        return Err(ValueError {
            message: format!("`{text}` is more than 100%, which a share of hits never reaches"),
            help: Some(format!("write a percentage from 0% to 100%, e.g. `{subject}>5%`")),
        });
    }
    Ok(())
}

/// Taurus's `get_bytes_count`: one number with an optional unit `b`, `k`/`kb`/`kib` (1024) or
/// `m`/`mb`/`mib` (1024²), any case. `g`/`gb`/`gib` is accepted too (an extension).
pub(crate) fn parse_bytes(text: &str) -> Result<f64, ValueError> {
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let err = || ValueError {
        message: format!("`{text}` is not a byte count"),
        help: Some("write a number with an optional unit B, k/kb/kib, m/mb/mib or g/gb/gib, e.g. `10MB`".into()),
    };
    let value: f64 = number.parse().map_err(|_| err())?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    Ok(value * factor)
}

/// Reads a timeframe in seconds (`dehumanize_time`).
pub(crate) fn read_timeframe(text: &str) -> Result<f64, ValueError> {
    parse_secs(text).map_err(|e| match e.too_large {
        true => ValueError { message: e.to_string(), help: None },
        false => ValueError {
            message: format!("`{}` is not a timeframe", text.trim()),
            help: Some("write a time: a number with an optional unit ms, s, m, h or d, e.g. `10s` or `1m`".into()),
        },
    })
}

/// Taurus's JUnit name for a criterion (`JUnitXMLReporter`): `<subject> of <label><cond><threshold>`
/// when the config has a `label` key (short-form strings always do, so unlabeled ones read
/// `fail of >50%`), else `<subject><cond><threshold>`; then ` for <timeframe>` when the timeframe
/// is truthy in Python, whatever the logic. Every part is as written.
pub(crate) fn taurus_name(
    subject: &str,
    label: Option<&str>,
    condition: &str,
    threshold: &str,
    timeframe: Option<&str>,
) -> String {
    let mut name = match label {
        Some(label) => format!("{subject} of {label}{condition}{threshold}"),
        None => format!("{subject}{condition}{threshold}"),
    };
    if let Some(tf) = timeframe {
        name.push_str(" for ");
        name.push_str(tf);
    }
    name
}

/// Python's `str()` of a float (`1.0`, `0.15`, `1e+16`, `1e-05`), so dict-form names match Taurus's.
pub fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Rust's `{:e}` gives the shortest round-trip mantissa, as Python's repr does.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{v}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_taurus() {
        let rt = Kind::Kpi(Subject::AvgRt);
        assert_eq!(read_threshold("150ms", &rt, "avg-rt"), Ok((0.15, false)));
        assert_eq!(read_threshold("2s500ms", &rt, "avg-rt"), Ok((2.5, false)));
        assert_eq!(read_threshold("10", &rt, "avg-rt"), Ok((10.0, false)));
        assert!(read_threshold("50%", &rt, "avg-rt").is_err());
        let fail = Kind::Kpi(Subject::Fail);
        assert_eq!(read_threshold("50%", &fail, "fail"), Ok((50.0, true)));
        let bytes = Kind::Kpi(Subject::Bytes);
        assert_eq!(read_threshold("10MB", &bytes, "bytes"), Ok((10.0 * 1024.0 * 1024.0, false)));
        assert_eq!(read_threshold("2k", &bytes, "bytes"), Ok((2048.0, false)));
        assert_eq!(read_threshold("512B", &bytes, "bytes"), Ok((512.0, false)));
        assert!(read_threshold("10XB", &bytes, "bytes").is_err());
        let mon = Kind::Monitoring { source: "local".into(), metric: "cpu".into() };
        assert_eq!(read_threshold("90%", &mon, "local/cpu"), Ok((90.0, true)));
        assert_eq!(read_threshold("132000000", &mon, "local/mem"), Ok((132_000_000.0, false)));
    }

    #[test]
    fn names_follow_taurus() {
        assert_eq!(taurus_name("fail", Some(""), ">", "50%", None), "fail of >50%");
        assert_eq!(taurus_name("avg-rt", None, ">", "1ms", Some("2s")), "avg-rt>1ms for 2s");
        assert_eq!(
            taurus_name("ServerLocalClient/total_processes", None, ">", "3", Some("1s")),
            "ServerLocalClient/total_processes>3 for 1s"
        );
    }

    #[test]
    fn python_floats() {
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(0.15), "0.15");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(-2.5), "-2.5");
    }
}
