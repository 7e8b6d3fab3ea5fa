//! What a KPI criterion measures: the subject word of `avg-rt of root>150ms` and how to read it
//! from one label's [`KpiSet`]. The word set and prefix rules are Taurus's
//! (`DataCriterion._get_field_functor`): `concurr*`, `succ*` and `fail*` match by prefix, the rest
//! exactly. Unknown words get a "did you mean" instead of Taurus's bare "Unsupported subject".
//!
//! suite adds the open model's corrected figures (response times measured from the scheduled
//! send time, see `aggregate::kpi`): `avg-rt-corrected`, `p<level>-corrected`, and the send
//! lateness itself, `avg-lag` and `p<level>-lag`.
//! `avg-rt` and `p<level>` keep Taurus's meaning (from the actual send).
//!
//! Streamed responses (`stream:`, see `aggregate::stream`) add `avg-ttft` and `p<level>-ttft`
//! (time to first token), `avg-itl` and `p<level>-itl` (inter-token latency, the gaps between
//! tokens) and `tokens-per-s`.

use crate::aggregate::kpi::KpiSet;
use crate::config::suggest_within;

use super::spec::Unit;

/// A KPI subject.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// `avg-rt`: average response time, seconds.
    AvgRt,
    /// `avg-lt`: average latency (time to first byte), seconds.
    AvgLt,
    /// `avg-ct`: average connect time, seconds.
    AvgCt,
    /// `stdev-rt`: standard deviation of response times, seconds.
    StdevRt,
    /// `concurr*`: active virtual users.
    Concurrency,
    /// `hits`: samples.
    Hits,
    /// `bytes`: bytes received.
    Bytes,
    /// `succ*`: successful samples, or their share of hits with a `%` threshold.
    Succ,
    /// `fail*`: failed samples, or their share of hits with a `%` threshold.
    Fail,
    /// `p<level>`: response-time percentile at `level` (0–100), seconds.
    Percentile(f64),
    /// `rc<pattern>`: samples whose response code matches the fnmatch pattern, or their share.
    Rc(String),
    /// `avg-rt-corrected`: average response time from the scheduled send time, seconds.
    AvgRtCorrected,
    /// `p<level>-corrected`: percentile of response times from the scheduled send time, seconds.
    PercentileCorrected(f64),
    /// `avg-lag`: how late requests went out after their scheduled time on average, seconds.
    AvgLag,
    /// `p<level>-lag`: percentile of how late requests went out (0 for those on time), seconds.
    PercentileLag(f64),
    /// `avg-ttft`: average time to first token of streamed responses, seconds.
    AvgTtft,
    /// `p<level>-ttft`: percentile of times to first token, seconds.
    PercentileTtft(f64),
    /// `avg-itl`: average gap between tokens of streamed responses, seconds.
    AvgItl,
    /// `p<level>-itl`: percentile of the gaps between tokens, seconds.
    PercentileItl(f64),
    /// `tokens-per-s`: tokens over the time streamed requests took to deliver them.
    TokensPerS,
}

/// Why a subject word was rejected: a message and an optional hint.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectError {
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
}

/// Every subject, as listed in help texts.
const ALL_SUBJECTS: &str = "avg-rt, avg-lt, avg-ct, stdev-rt, concurrency, hits, bytes, succ, fail, p<level> (p90, p99.9), rc<code> (rc404, rc5??), and for arrival-rate runs avg-rt-corrected, p<level>-corrected, avg-lag, p<level>-lag (p99-lag), and for streamed responses avg-ttft, p<level>-ttft, avg-itl, p<level>-itl, tokens-per-s";

/// Names compared against an unknown word for "did you mean".
const CANONICAL: [&str; 23] = [
    "avg-rt",
    "avg-lt",
    "avg-ct",
    "stdev-rt",
    "concurrency",
    "hits",
    "bytes",
    "succ",
    "success",
    "fail",
    "failures",
    "p90",
    "p99",
    "rc404",
    "avg-rt-corrected",
    "p99-corrected",
    "avg-lag",
    "p99-lag",
    "avg-ttft",
    "p99-ttft",
    "avg-itl",
    "p99-itl",
    "tokens-per-s",
];

/// Words people reach for that Taurus spells differently.
const ALIASES: [(&str, &str); 30] = [
    ("rt", "avg-rt"),
    ("avg", "avg-rt"),
    ("response-time", "avg-rt"),
    ("latency", "avg-lt"),
    ("lt", "avg-lt"),
    ("connect", "avg-ct"),
    ("ct", "avg-ct"),
    ("stdev", "stdev-rt"),
    ("std", "stdev-rt"),
    ("users", "concurrency"),
    ("vu", "concurrency"),
    ("vus", "concurrency"),
    ("throughput", "hits"),
    ("requests", "hits"),
    ("samples", "hits"),
    ("errors", "fail"),
    ("error", "fail"),
    ("err", "fail"),
    ("passed", "succ"),
    ("percentile", "p90"),
    ("perc", "p90"),
    ("status", "rc404"),
    ("lag", "avg-lag"),
    ("lateness", "p99-lag"),
    ("ttft", "avg-ttft"),
    ("itl", "avg-itl"),
    ("tpot", "avg-itl"),
    ("tokens", "tokens-per-s"),
    ("tps", "tokens-per-s"),
    ("avg-tokens-per-s", "tokens-per-s"),
];

impl Subject {
    /// Reads a subject word exactly as Taurus does (case-sensitive).
    pub fn parse(word: &str) -> Result<Subject, SubjectError> {
        match Self::parse_exact(word) {
            Ok(Some(subject)) => Ok(subject),
            Ok(None) => {
                Err(SubjectError { message: format!("unknown subject `{word}`"), help: Some(did_you_mean(word)) })
            }
            Err(e) => Err(e),
        }
    }

    /// `Ok(None)` for a word that is no subject at all; `Err` for a recognisable but broken one.
    fn parse_exact(word: &str) -> Result<Option<Subject>, SubjectError> {
        let subject = match word {
            "avg-rt" => Subject::AvgRt,
            "avg-lt" => Subject::AvgLt,
            "avg-ct" => Subject::AvgCt,
            "stdev-rt" => Subject::StdevRt,
            "hits" => Subject::Hits,
            "bytes" => Subject::Bytes,
            "avg-rt-corrected" => Subject::AvgRtCorrected,
            "avg-lag" => Subject::AvgLag,
            "avg-ttft" => Subject::AvgTtft,
            "avg-itl" => Subject::AvgItl,
            "tokens-per-s" => Subject::TokensPerS,
            w if w.starts_with('p') && w.ends_with("-ttft") => {
                return suffixed_percentile(w, "-ttft", "time-to-first-token", Subject::PercentileTtft).map(Some);
            }
            w if w.starts_with('p') && w.ends_with("-itl") => {
                return suffixed_percentile(w, "-itl", "inter-token latency", Subject::PercentileItl).map(Some);
            }
            w if w.starts_with('p') && w.ends_with("-corrected") => {
                return suffixed_percentile(w, "-corrected", "corrected", Subject::PercentileCorrected).map(Some);
            }
            w if w.starts_with('p') && w.ends_with("-lag") => {
                return suffixed_percentile(w, "-lag", "lateness", Subject::PercentileLag).map(Some);
            }
            w if w.starts_with("concurr") => Subject::Concurrency,
            w if w.starts_with("succ") => Subject::Succ,
            w if w.starts_with("fail") => Subject::Fail,
            w if w.starts_with('p') && w[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                return parse_percentile(w).map(|level| Some(Subject::Percentile(level)));
            }
            // Taurus accepts a bare `rc`, whose empty pattern matches no code: a criterion that can
            // never trigger. Deliberate fix: reject it.
            "rc" => {
                return Err(SubjectError {
                    message: "`rc` needs a response-code pattern".into(),
                    help: Some("write the code after `rc`, e.g. `rc404`, `rc5??` or `rc4*`".into()),
                })
            }
            w if w.starts_with("rc") => Subject::Rc(w[2..].to_string()),
            _ => return Ok(None),
        };
        Ok(Some(subject))
    }

    /// Whether a `%` threshold is meaningful (a share of hits).
    pub fn allows_percent(&self) -> bool {
        matches!(self, Subject::Succ | Subject::Fail | Subject::Rc(_))
    }

    /// Whether `within`/`over` windows add values up rather than average them (Taurus sums counts
    /// of samples, but averages percentages, times, concurrency and bytes).
    pub fn sums_in_window(&self, percent: bool) -> bool {
        !percent && matches!(self, Subject::Hits | Subject::Succ | Subject::Fail | Subject::Rc(_))
    }

    /// Unit of the value and of the threshold.
    pub fn unit(&self, percent: bool) -> Unit {
        match self {
            _ if percent => Unit::Percent,
            Subject::AvgRt
            | Subject::AvgLt
            | Subject::AvgCt
            | Subject::StdevRt
            | Subject::Percentile(_)
            | Subject::AvgRtCorrected
            | Subject::PercentileCorrected(_)
            | Subject::AvgLag
            | Subject::PercentileLag(_)
            | Subject::AvgTtft
            | Subject::PercentileTtft(_)
            | Subject::AvgItl
            | Subject::PercentileItl(_) => Unit::Seconds,
            Subject::Bytes => Unit::Bytes,
            Subject::Concurrency
            | Subject::Hits
            | Subject::Succ
            | Subject::Fail
            | Subject::Rc(_)
            | Subject::TokensPerS => Unit::Count,
        }
    }

    /// The subject's value in one label's KPIs; `None` when the set holds no samples (Taurus never
    /// sees such a set: a label without samples in a second is absent from that second).
    pub fn value(&self, kpi: &KpiSet, percent: bool) -> Option<f64> {
        if kpi.hits == 0 {
            return None;
        }
        let hits = kpi.hits as f64;
        let count_or_share = |n: u64| {
            if percent {
                100.0 * n as f64 / hits
            } else {
                n as f64
            }
        };
        match self {
            Subject::AvgRt => kpi.avg_rt(),
            Subject::AvgLt => kpi.avg_lt(),
            Subject::AvgCt => kpi.avg_ct(),
            Subject::StdevRt => kpi.stdev_rt(),
            Subject::Concurrency => Some(kpi.concurrency as f64),
            Subject::Hits => Some(hits),
            Subject::Bytes => Some(kpi.bytes as f64),
            Subject::Succ => Some(count_or_share(kpi.succ)),
            Subject::Fail => Some(count_or_share(kpi.fail)),
            // Taurus looks the level up among the tracked ones and silently yields 0 for any other
            // (so `p75>1s` never triggered). Deliberate fix: every level is read from the histogram.
            Subject::Percentile(level) => kpi.percentile(*level),
            Subject::Rc(pattern) => Some(count_or_share(kpi.rc_matching(pattern))),
            Subject::AvgRtCorrected => kpi.avg_rt_corrected(),
            Subject::PercentileCorrected(level) => kpi.percentile_corrected(*level),
            Subject::AvgLag => kpi.avg_lag(),
            Subject::PercentileLag(level) => kpi.lag_percentile(*level),
            Subject::AvgTtft => kpi.stream.as_ref()?.avg_ttft(),
            Subject::PercentileTtft(level) => kpi.stream.as_ref()?.ttft_percentile(*level),
            Subject::AvgItl => kpi.stream.as_ref()?.avg_itl(),
            Subject::PercentileItl(level) => kpi.stream.as_ref()?.itl_percentile(*level),
            Subject::TokensPerS => kpi.stream.as_ref()?.tokens_per_s(),
        }
    }

    /// Whether the subject is measured on streamed responses only.
    pub fn needs_stream(&self) -> bool {
        matches!(
            self,
            Subject::AvgTtft
                | Subject::PercentileTtft(_)
                | Subject::AvgItl
                | Subject::PercentileItl(_)
                | Subject::TokensPerS
        )
    }
}

/// `p<level>` with a level between 0 and 100 (`p90`, `p99.9`, `p99.99`, `p100`).
/// `p<level><suffix>` (`p99-corrected`, `p99-lag`): the level, or an error naming `what`.
fn suffixed_percentile(
    word: &str,
    suffix: &str,
    what: &str,
    subject: fn(f64) -> Subject,
) -> Result<Subject, SubjectError> {
    parse_percentile(&word[..word.len() - suffix.len()]).map(subject).map_err(|_| SubjectError {
        message: format!("`{word}` is not a {what} percentile"),
        help: Some(format!("write `p`, a level from 0 to 100 and `{suffix}`, e.g. `p99{suffix}`")),
    })
}

/// `p<level>`: the level, 0 to 100.
fn parse_percentile(word: &str) -> Result<f64, SubjectError> {
    let level_text = &word[1..];
    let level: f64 = level_text.parse().map_err(|_| SubjectError {
        message: format!("`{word}` is not a percentile"),
        help: Some("write `p` and a level from 0 to 100, e.g. `p90` or `p99.9`".into()),
    })?;
    if !(0.0..=100.0).contains(&level) {
        return Err(SubjectError {
            message: format!("percentile level {level_text} is outside 0..100"),
            help: Some("write `p` and a level from 0 to 100, e.g. `p90` or `p99.9`".into()),
        });
    }
    Ok(level)
}

/// Builds the help for an unknown subject: a close spelling when there is one, else the full list.
fn did_you_mean(word: &str) -> String {
    let normalized = word.to_lowercase().replace('_', "-");
    let guess = if normalized != word && matches!(Subject::parse_exact(&normalized), Ok(Some(_))) {
        Some(normalized.clone())
    } else if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == normalized) {
        Some((*to).to_string())
    } else {
        suggest_within(&normalized, CANONICAL, 2).map(str::to_string)
    };
    match guess {
        Some(g) => format!("did you mean `{g}`? Subjects are: {ALL_SUBJECTS}"),
        None => format!("subjects are: {ALL_SUBJECTS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    #[test]
    fn stream_subjects() {
        use crate::sample::StreamTimes;
        assert_eq!(Subject::parse("p95-ttft"), Ok(Subject::PercentileTtft(95.0)));
        assert_eq!(Subject::parse("p99.9-itl"), Ok(Subject::PercentileItl(99.9)));
        assert_eq!(Subject::parse("avg-ttft"), Ok(Subject::AvgTtft));
        assert_eq!(Subject::parse("tokens-per-s"), Ok(Subject::TokensPerS));
        assert!(Subject::parse("p101-ttft").unwrap_err().help.unwrap().contains("p99-ttft"));
        assert!(Subject::parse("ttft").unwrap_err().help.unwrap().starts_with("did you mean `avg-ttft`"));
        assert!(Subject::parse("avg-tokens-per-s")
            .unwrap_err()
            .help
            .unwrap()
            .starts_with("did you mean `tokens-per-s`"));
        let mut k = KpiSet::default();
        k.record(&sample(100, 200));
        assert_eq!(Subject::AvgTtft.value(&k, false), None, "no streamed sample: no value");
        let times = StreamTimes {
            first_us: Some(50_000),
            last_us: 90_000,
            gaps_us: vec![20_000; 2],
            events: 3,
            tokens: Some(3),
        };
        k.record(&Sample { stream: Some(Box::new(times)), ..sample(100, 200) });
        assert!((Subject::AvgTtft.value(&k, false).unwrap() - 0.05).abs() < 1e-9);
        assert!((Subject::PercentileItl(99.0).value(&k, false).unwrap() - 0.02).abs() < 1e-4);
        assert!((Subject::TokensPerS.value(&k, false).unwrap() - 3.0 / 0.09).abs() < 1e-6);
        assert_eq!((Subject::TokensPerS.unit(false), Subject::AvgItl.unit(false)), (Unit::Count, Unit::Seconds));
        assert!(Subject::PercentileTtft(50.0).needs_stream() && !Subject::AvgRt.needs_stream());
    }

    #[test]
    fn corrected_subjects() {
        assert_eq!(Subject::parse("avg-rt-corrected"), Ok(Subject::AvgRtCorrected));
        assert_eq!(Subject::parse("p99.9-corrected"), Ok(Subject::PercentileCorrected(99.9)));
        assert_eq!(Subject::parse("avg-lag"), Ok(Subject::AvgLag));
        assert!(Subject::parse("p101-corrected").is_err());
        assert!(Subject::parse("px-corrected").is_err());
        let e = Subject::parse("avg-rt-corected").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `avg-rt-corrected`"));
        let mut k = KpiSet::default();
        let mut s = sample(100, 200);
        k.record(&s);
        s.lag_us = 300_000;
        k.record(&s);
        assert!((Subject::AvgRt.value(&k, false).unwrap() - 0.1).abs() < 1e-9);
        assert!((Subject::AvgRtCorrected.value(&k, false).unwrap() - 0.25).abs() < 1e-9);
        assert!((Subject::AvgLag.value(&k, false).unwrap() - 0.15).abs() < 1e-9);
        let p = Subject::PercentileCorrected(100.0).value(&k, false).unwrap();
        assert!((p - 0.4).abs() < 0.001, "{p}");
        assert_eq!(Subject::PercentileCorrected(50.0).unit(false), Unit::Seconds);
    }

    #[test]
    fn lateness_percentiles() {
        assert_eq!(Subject::parse("p99-lag"), Ok(Subject::PercentileLag(99.0)));
        assert_eq!(Subject::parse("p99.9-lag"), Ok(Subject::PercentileLag(99.9)));
        assert_eq!(Subject::parse("p0-lag"), Ok(Subject::PercentileLag(0.0)));
        for broken in ["p101-lag", "p-lag", "px-lag", "p99-lag-lag"] {
            let e = Subject::parse(broken).unwrap_err();
            assert!(e.help.unwrap().contains("p99-lag"), "{broken}");
        }
        let e = Subject::parse("p99-lga").unwrap_err();
        assert!(e.message.contains("not a percentile"), "{e:?}");
        let e = Subject::parse("lateness").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `p99-lag`"));
        let e = Subject::parse("P99-LAG").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `p99-lag`"));
        let e = Subject::parse("lag").unwrap_err();
        assert!(e.help.as_deref().unwrap().starts_with("did you mean `avg-lag`"));
        assert!(e.help.unwrap().contains("p<level>-lag"), "listed with the subjects");
        assert_eq!(Subject::PercentileLag(99.0).unit(false), Unit::Seconds);
        assert!(!Subject::PercentileLag(99.0).allows_percent());
        assert!(!Subject::PercentileLag(99.0).sums_in_window(false));
        // Closed model: nothing is late, every lag is 0.
        let mut k = KpiSet::default();
        assert_eq!(Subject::PercentileLag(99.0).value(&k, false), None);
        k.record(&sample(100, 200));
        assert_eq!(Subject::PercentileLag(99.0).value(&k, false), Some(0.0));
        // Open model: 98 on time, two sent 0.5 s late.
        for lag_ms in [0; 97].into_iter().chain([500, 500]) {
            let mut s = sample(100, 200);
            s.lag_us = lag_ms * 1000;
            k.record(&s);
        }
        assert_eq!(Subject::PercentileLag(50.0).value(&k, false), Some(0.0));
        assert_eq!(Subject::PercentileLag(98.0).value(&k, false), Some(0.0));
        let p99 = Subject::PercentileLag(99.0).value(&k, false).unwrap();
        assert!((p99 - 0.5).abs() < 0.001, "{p99}");
    }

    fn sample(elapsed_ms: u64, status: u16) -> Sample {
        Sample { bytes: 100, ..Sample::fake(elapsed_ms * 1000, status) }
    }

    #[test]
    fn taurus_words_and_prefixes() {
        assert_eq!(Subject::parse("avg-rt"), Ok(Subject::AvgRt));
        assert_eq!(Subject::parse("concurr"), Ok(Subject::Concurrency));
        assert_eq!(Subject::parse("concurrency"), Ok(Subject::Concurrency));
        assert_eq!(Subject::parse("success"), Ok(Subject::Succ));
        assert_eq!(Subject::parse("failures"), Ok(Subject::Fail));
        assert_eq!(Subject::parse("p99.9"), Ok(Subject::Percentile(99.9)));
        assert_eq!(Subject::parse("p99.99"), Ok(Subject::Percentile(99.99)));
        assert_eq!(Subject::parse("p0"), Ok(Subject::Percentile(0.0)));
        assert_eq!(Subject::parse("rc4??"), Ok(Subject::Rc("4??".into())));
        assert_eq!(Subject::parse("rcException"), Ok(Subject::Rc("Exception".into())));
    }

    #[test]
    fn unknown_and_broken_subjects_explain_themselves() {
        let e = Subject::parse("AVG-RT").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `avg-rt`"));
        let e = Subject::parse("avg_lt").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `avg-lt`"));
        let e = Subject::parse("errors").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `fail`"));
        let e = Subject::parse("hit").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `hits`"));
        let e = Subject::parse("zzzzzzzz").unwrap_err();
        assert!(e.help.unwrap().starts_with("subjects are:"));
        assert!(Subject::parse("p101").is_err());
        assert!(Subject::parse("p9x").is_err());
        assert!(Subject::parse("rc").is_err());
        assert!(Subject::parse("").is_err());
    }

    #[test]
    fn values_from_kpis() {
        let mut k = KpiSet::default();
        assert_eq!(Subject::AvgRt.value(&k, false), None);
        for ms in [100, 200, 300] {
            k.record(&sample(ms, 200));
        }
        k.record(&sample(400, 404));
        assert!((Subject::AvgRt.value(&k, false).unwrap() - 0.25).abs() < 1e-9);
        assert_eq!(Subject::Hits.value(&k, false), Some(4.0));
        assert_eq!(Subject::Fail.value(&k, false), Some(1.0));
        assert_eq!(Subject::Fail.value(&k, true), Some(25.0));
        assert_eq!(Subject::Succ.value(&k, true), Some(75.0));
        assert_eq!(Subject::Rc("4??".into()).value(&k, false), Some(1.0));
        assert_eq!(Subject::Rc("2*".into()).value(&k, true), Some(75.0));
        assert_eq!(Subject::Bytes.value(&k, false), Some(400.0));
    }

    #[test]
    fn untracked_percentile_levels_are_computed() {
        let mut k = KpiSet::default();
        for ms in 1..=100 {
            k.record(&sample(ms, 200));
        }
        // Taurus would report 0 for both levels (not in its tracked list).
        let p75 = Subject::Percentile(75.0).value(&k, false).unwrap();
        let p9999 = Subject::Percentile(99.99).value(&k, false).unwrap();
        assert!((p75 - 0.075).abs() < 0.001, "{p75}");
        assert!((p9999 - 0.100).abs() < 0.001, "{p9999}");
    }

    #[test]
    fn window_aggregation_follows_taurus() {
        assert!(Subject::Hits.sums_in_window(false));
        assert!(Subject::Rc("5??".into()).sums_in_window(false));
        assert!(!Subject::Fail.sums_in_window(true));
        assert!(!Subject::Bytes.sums_in_window(false));
        assert!(!Subject::AvgRt.sums_in_window(false));
    }
}
