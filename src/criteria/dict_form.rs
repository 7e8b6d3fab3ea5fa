//! The long (dict) form of a criterion, including Taurus's `MonitoringCriteria`:
//!
//! ```yaml
//! - subject: avg-rt          # required
//!   label: 'https://api/x'   # optional, default '' (overall); any text, colons included
//!   condition: '>'           # required: > < >= <= = ==
//!   threshold: 150ms         # required: number or string
//!   logic: for               # for | within | over
//!   timeframe: 10s           # number or string; 0 or less (or absent) = cumulative
//!   stop: true
//!   fail: true
//!   message: Too slow
//! - class: bzt.modules.monitoring.MonitoringCriteria
//!   subject: local/cpu       # <source>/<metric>
//!   condition: '>'
//!   threshold: 90
//!   timeframe: 5s
//! ```
//!
//! Unknown keys are rejected, so a misspelt `treshold` cannot silently vanish. Errors from
//! [`from_dict`] have an empty span and name the field at fault, in [`ParseError::field`] and in
//! their message.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::spec::{self, Condition, Kind, Logic, Spec};
use super::subject::Subject;
use super::ParseError;

/// Taurus's class for KPI criteria, the default.
const DATA_CLASS: &str = "bzt.modules.passfail.DataCriterion";
/// Taurus's class for monitoring criteria.
const MONITORING_CLASS: &str = "bzt.modules.monitoring.MonitoringCriteria";

/// A criterion in the dict form, as deserialized from the config.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DictForm {
    /// `avg-rt`, `p90`, `fail`…, or `<source>/<metric>` for monitoring criteria.
    pub subject: Option<String>,
    /// Sample label; absent or `''` means overall.
    pub label: Option<Scalar>,
    /// `>`, `<`, `>=`, `<=`, `=` or `==`.
    pub condition: Option<String>,
    /// `150ms`, `50%`, `10MB`, `52`.
    pub threshold: Option<Scalar>,
    /// `for`, `within` or `over`.
    pub logic: Option<String>,
    /// `10s`, `3`, `-1`.
    pub timeframe: Option<Scalar>,
    /// Whether a triggered criterion stops the test.
    pub stop: Option<Flag>,
    /// Whether a triggered criterion fails the run.
    pub fail: Option<Flag>,
    /// Text reported instead of the criterion.
    pub message: Option<String>,
    /// `bzt.modules.passfail.DataCriterion` (default) or `bzt.modules.monitoring.MonitoringCriteria`.
    pub class: Option<String>,
    /// MMS: allowed run-to-run difference, percent.
    pub diff_percent: Option<Scalar>,
    /// MMS (later versions): allowed difference against the previous run, percent.
    pub diff_percent_previous: Option<Scalar>,
}

/// A YAML scalar given as a number or a string; keeps the text Taurus would print (`str()`).
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// An integer such as `132000000` or `-1`.
    Int(i64),
    /// A float such as `0.5`.
    Float(f64),
    /// A string such as `150ms`.
    Str(String),
}

impl Scalar {
    /// The text Python's `str()` gives, as Taurus prints it in names and messages.
    pub fn text(&self) -> String {
        match self {
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => spec::python_float(*f),
            Scalar::Str(s) => s.clone(),
        }
    }

    /// Python truthiness: `0`, `0.0` and `''` are false.
    fn truthy(&self) -> bool {
        match self {
            Scalar::Int(i) => *i != 0,
            Scalar::Float(f) => *f != 0.0,
            Scalar::Str(s) => !s.is_empty(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string such as `150ms`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A boolean that may also arrive as a string: `stop: ${STOP}` becomes one after environment
/// substitution. Taurus uses Python truthiness, so `''` is false (MMS sets `STOP: ''` to keep
/// tests running) but `"false"` is true and stopped the test; deliberate fix: `true`/`false`,
/// `yes`/`no`, `on`/`off` mean what they say, `''` stays false, and any other string is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false` or an empty string")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" => Ok(Flag(true)),
                    "false" | "no" | "off" | "" => Ok(Flag(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// Builds a [`Spec`] from the dict form.
pub fn from_dict(d: DictForm) -> Result<Spec, ParseError> {
    let fail_at = |field: &'static str, message: String, help: Option<&str>| ParseError {
        span: 0..0,
        message: format!("`{field}`: {message}"),
        help: help.map(str::to_string),
        field: Some(field),
    };
    // Taurus checks threshold, then subject, then condition.
    let missing = |part: &'static str| ParseError {
        span: 0..0,
        message: format!("criterion is malformed in its {part} part: `{part}` is missing"),
        help: Some(format!(
            "a dict-form criterion needs `subject`, `condition` and `threshold`; this one has no `{part}`"
        )),
        field: Some(part),
    };
    let threshold = d.threshold.as_ref().ok_or_else(|| missing("threshold"))?;
    let subject_text = d.subject.clone().ok_or_else(|| missing("subject"))?;
    let condition_text = d.condition.clone().ok_or_else(|| missing("condition"))?;

    let kind = match d.class.as_deref() {
        None | Some(DATA_CLASS) => Kind::Kpi(Subject::parse(&subject_text).map_err(|e| {
            let help = if subject_text.contains('/') {
                format!("for a monitoring metric add `class: {MONITORING_CLASS}`")
            } else {
                e.help.unwrap_or_default()
            };
            fail_at("subject", e.message, Some(&help))
        })?),
        Some(class) if class.ends_with("MonitoringCriteria") => match subject_text.split_once('/') {
            Some((source, metric)) if !source.is_empty() && !metric.is_empty() => {
                Kind::Monitoring { source: source.to_string(), metric: metric.to_string() }
            }
            _ => {
                return Err(fail_at(
                    "subject",
                    format!("monitoring subject `{subject_text}` is not `<source>/<metric>`"),
                    Some("e.g. `local/cpu`, `ServerLocalClient/total_processes` or `127.0.0.1:4444/cpu`"),
                ))
            }
        },
        Some(class) => {
            return Err(fail_at(
                "class",
                format!("unknown criterion class `{class}`"),
                Some(&format!("use `{DATA_CLASS}` (the default) or `{MONITORING_CLASS}`")),
            ))
        }
    };
    let condition = Condition::parse(&condition_text).ok_or_else(|| {
        fail_at(
            "condition",
            format!("unsupported condition `{condition_text}`"),
            Some(&Condition::help_for(&condition_text)),
        )
    })?;
    let threshold_text = threshold.text();
    let (threshold_value, percent, baseline) = spec::read_threshold_or_baseline(&threshold_text, &kind, &subject_text)
        .map_err(|e| fail_at("threshold", e.message, e.help.as_deref()))?;
    let logic_text = d.logic.clone().unwrap_or_else(|| "for".into());
    let logic = Logic::parse(&logic_text).ok_or_else(|| {
        fail_at("logic", format!("unsupported window logic `{logic_text}`"), Some("use `for`, `within` or `over`"))
    })?;
    let timeframe_secs = match &d.timeframe {
        None => 0.0,
        Some(Scalar::Int(i)) => *i as f64,
        Some(Scalar::Float(f)) => *f,
        Some(Scalar::Str(s)) => {
            spec::read_timeframe(s).map_err(|e| fail_at("timeframe", e.message, e.help.as_deref()))?
        }
    };
    let percent_field =
        |field: &'static str, value: &Option<Scalar>| -> Result<Option<f64>, ParseError> {
            match value {
                None => Ok(None),
                Some(Scalar::Int(i)) => Ok(Some(*i as f64)),
                Some(Scalar::Float(f)) => Ok(Some(*f)),
                Some(Scalar::Str(s)) => s.trim().trim_end_matches('%').trim().parse().map(Some).map_err(|_| {
                    fail_at(field, format!("`{s}` is not a number"), Some("write a percentage such as `5`"))
                }),
            }
        };
    let diff_percent = percent_field("diff_percent", &d.diff_percent)?;
    let diff_percent_previous = percent_field("diff_percent_previous", &d.diff_percent_previous)?;

    let label_raw = d.label.as_ref().map(Scalar::text);
    let timeframe_name = d.timeframe.as_ref().filter(|t| t.truthy()).map(Scalar::text);
    let taurus_name = spec::taurus_name(
        &subject_text,
        label_raw.as_deref(),
        &condition_text,
        &threshold_text,
        timeframe_name.as_deref(),
    );
    // Taurus names an empty `label: ''` `avg-rt of >50ms`, with a dangling "of"; the JUnit name
    // keeps that for compatibility, the criterion's own name leaves it out.
    let text = match label_raw.as_deref() {
        Some("") => spec::taurus_name(&subject_text, None, &condition_text, &threshold_text, timeframe_name.as_deref()),
        _ => taurus_name.clone(),
    };
    Ok(Spec {
        text,
        message: d.message,
        subject: subject_text,
        label: label_raw.unwrap_or_default(),
        condition,
        condition_text,
        threshold: threshold_value,
        threshold_text,
        percent,
        logic,
        timeframe_secs,
        stop: d.stop.is_none_or(|f| f.0),
        fail: d.fail.is_none_or(|f| f.0),
        kind,
        taurus_name,
        diff_percent,
        diff_percent_previous,
        baseline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_with, LoadOptions, Node, NodeKind};
    use crate::testing::{criterion as yaml, criterion_node, shared};

    #[test]
    fn taurus_passfail_json_dicts() {
        // The four dict criteria of Taurus's tests/resources/json/passfail.json.
        let s = yaml(
            "{subject: avg-rt, condition: '>', threshold: 50ms, timeframe: 5s, label: '', stop: true, fail: true}",
        )
        .unwrap();
        assert_eq!((s.threshold, s.timeframe_secs, s.label.as_str()), (0.05, 5.0, ""));
        assert_eq!(s.taurus_name, "avg-rt of >50ms for 5s");
        assert_eq!(s.text, "avg-rt>50ms for 5s", "issue 10: no dangling `of` in the criterion's name");
        let s =
            yaml("{subject: fail, condition: '>', threshold: 80%, timeframe: 3, label: '', stop: true, fail: true}")
                .unwrap();
        assert_eq!((s.threshold, s.percent, s.timeframe_secs), (80.0, true, 3.0));
        assert_eq!(s.taurus_name, "fail of >80% for 3");
        let s =
            yaml("{subject: rc4??, condition: '>', threshold: 50%, timeframe: -1, label: '', stop: true, fail: true}")
                .unwrap();
        assert!(s.is_cumulative());
        assert_eq!(s.kind, Kind::Kpi(Subject::Rc("4??".into())));
        // -1 is truthy in Python, so Taurus names it `for -1`.
        assert_eq!(s.taurus_name, "rc4?? of >50% for -1");
    }

    #[test]
    fn meaningless_dict_thresholds_are_errors_but_cumulative_timeframes_stay() {
        let e = yaml("{subject: fail, condition: '>', threshold: 200%}").unwrap_err();
        assert_eq!(e.field, Some("threshold"));
        assert_eq!(e.message, "`threshold`: `200%` is more than 100%, which a share of hits never reaches");
        let e = yaml("{subject: p90, condition: '>', threshold: -1}").unwrap_err();
        assert_eq!(e.message, "`threshold`: `-1` is negative, but `p90` is a time, never below 0");
        // Taurus documents `timeframe: -1` (and 0) in the dict form as "cumulative"; that stays.
        assert!(yaml("{subject: fail, condition: '>', threshold: 5%, timeframe: 0}").unwrap().is_cumulative());
        // Monitoring metrics are in the source's own units: anything goes.
        let mon = "{class: bzt.modules.monitoring.MonitoringCriteria, subject: local/cpu, condition: '>', timeframe: 1s, threshold:";
        assert_eq!(yaml(&format!("{mon} 150%}}")).unwrap().threshold, 150.0);
        assert_eq!(yaml(&format!("{mon} -5}}")).unwrap().threshold, -5.0);
    }

    #[test]
    fn obs01_dict_without_label() {
        let s =
            yaml("{subject: avg-rt, condition: '>', threshold: 1ms, timeframe: 2s, stop: false, fail: true}").unwrap();
        assert_eq!(s.taurus_name, "avg-rt>1ms for 2s");
        assert_eq!(s.text, "avg-rt>1ms for 2s");
        assert_eq!((s.stop, s.fail, s.threshold), (false, true, 0.001));
    }

    #[test]
    fn monitoring_criteria() {
        let s = yaml(
            "class: bzt.modules.monitoring.MonitoringCriteria\nsubject: ServerLocalClient/total_processes\n\
             condition: '>'\nthreshold: 3\ntimeframe: 1s\nstop : true\nfail : true",
        )
        .unwrap();
        assert_eq!(s.kind, Kind::Monitoring { source: "ServerLocalClient".into(), metric: "total_processes".into() });
        assert_eq!(s.taurus_name, "ServerLocalClient/total_processes>3 for 1s");
        assert!(!s.is_cumulative());
        let s = yaml(
            "{class: bzt.modules.monitoring.MonitoringCriteria, subject: ServerLocalClient/sum_workers_memory_rss, \
             condition: '>', threshold: 132000000, timeframe: 1s, diff_percent: 5}",
        )
        .unwrap();
        assert_eq!((s.threshold, s.diff_percent), (132_000_000.0, Some(5.0)));
        let s = yaml("{class: my.MonitoringCriteria, subject: '127.0.0.1:4444/cpu', condition: '>', threshold: 90%}")
            .unwrap();
        assert_eq!(s.kind, Kind::Monitoring { source: "127.0.0.1:4444".into(), metric: "cpu".into() });
        let e = yaml("{class: bzt.modules.monitoring.MonitoringCriteria, subject: cpu, condition: '>', threshold: 1}")
            .unwrap_err();
        assert!(e.message.contains("`cpu`"), "{}", e.message);
        let e = yaml("{subject: local/cpu, condition: '>', threshold: 90}").unwrap_err();
        assert!(e.help.unwrap().contains("MonitoringCriteria"));
    }

    #[test]
    fn errors_name_the_field() {
        let e = yaml("{subject: avg-rt, condition: '>'}").unwrap_err();
        assert!(e.message.contains("threshold part"), "{}", e.message);
        assert_eq!(e.field, Some("threshold"));
        let e = yaml("{condition: '>', threshold: 1s}").unwrap_err();
        assert!(e.message.contains("subject part"), "{}", e.message);
        assert_eq!(e.field, Some("subject"));
        let e = yaml("{subject: avg-rt, threshold: 1s}").unwrap_err();
        assert!(e.message.contains("condition part"), "{}", e.message);
        assert_eq!(e.field, Some("condition"));
        let e = yaml("{subject: avg-rt, condition: '=>', threshold: 1s}").unwrap_err();
        assert!(e.message.starts_with("`condition`") && e.help.unwrap().contains(">="));
        assert_eq!(e.field, Some("condition"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, logic: during}").unwrap_err();
        assert!(e.message.starts_with("`logic`"));
        assert_eq!(e.field, Some("logic"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, class: foo.Bar}").unwrap_err();
        assert!(e.message.contains("`foo.Bar`"));
        assert_eq!(e.field, Some("class"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, treshold: 2s}").unwrap_err();
        assert!(e.message.contains("treshold"), "{}", e.message);
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 5%}").unwrap_err();
        assert!(e.message.starts_with("`threshold`"));
        assert_eq!(e.field, Some("threshold"));
        let e = yaml("{subject: avg_rt, condition: '>', threshold: 1s}").unwrap_err();
        assert!(e.help.unwrap().starts_with("did you mean `avg-rt`"));
        assert_eq!(e.field, Some("subject"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, timeframe: 10x}").unwrap_err();
        assert_eq!(e.field, Some("timeframe"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, diff_percent: many}").unwrap_err();
        assert_eq!(e.field, Some("diff_percent"));
        let e = yaml("{subject: avg-rt, condition: '>', threshold: 1s, stop: maybe}").unwrap_err();
        assert!(e.message.contains("maybe"), "{}", e.message);
        assert!(yaml("42").is_err());
    }

    #[test]
    fn quoted_message_is_read() {
        // Unquoted, `- My msg: rc404>10` is a mapping: the plan explains that (tests/bad_input.rs).
        let s = yaml("'My msg: rc404>10'").unwrap();
        assert_eq!(s.message.as_deref(), Some("My msg"));
        assert_eq!(s.taurus_name, "rc404 of >10");
    }

    /// Every criterion of the MMS corpus reads, each test file loaded by the config loader with
    /// each `environments/*.yaml` beside it (whose `settings.env` fills `${VAR}`), as a run does.
    #[test]
    fn mms_corpus_criteria() {
        let Some(shared) = shared() else { return };
        let mut files = Vec::new();
        let mut dirs = vec![shared.join("corpus/mms")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("readable corpus dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if !path.ends_with("environments") {
                        dirs.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "yaml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let (mut read, mut failures) = (0, Vec::new());
        for file in &files {
            for env in environments(file) {
                let options = LoadOptions {
                    files: [Some(file.clone()), env].into_iter().flatten().collect(),
                    ..LoadOptions::default()
                };
                let loaded =
                    load_with(&options, &|_| None).unwrap_or_else(|(e, sources)| panic!("{}", e[0].render(&sources)));
                let modules = loaded.root.get("reporting").and_then(Node::as_seq).unwrap_or_default();
                for module in modules.iter().filter(|m| m.get("module").and_then(Node::as_str) == Some("passfail")) {
                    let Some(criteria) = module.get("criteria").and_then(Node::as_seq) else {
                        continue;
                    };
                    for criterion in criteria {
                        if crate::config::to_yaml(criterion).contains("${") {
                            continue; // a variable no environment defines
                        }
                        read += 1;
                        // `stop : {STOP}` (a `$` forgotten in MMS) is a mapping: an error is right.
                        let typo = criterion.get("stop").is_some_and(|s| matches!(s.kind, NodeKind::Map(_)));
                        match (criterion_node(criterion), typo) {
                            (Ok(_), false) | (Err(_), true) => {}
                            (result, _) => failures.push(format!(
                                "{}: {}: {result:?}",
                                file.display(),
                                loaded.sources.slice(criterion.span)
                            )),
                        }
                    }
                }
            }
        }
        assert!(read > 300, "only {read} MMS criteria found");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Every `environments/*.yaml` beside a test file, or one `None` if there is none.
    fn environments(test: &std::path::Path) -> Vec<Option<std::path::PathBuf>> {
        let dir = test.parent().map(|p| p.join("environments"));
        let mut envs: Vec<Option<std::path::PathBuf>> = dir
            .and_then(|d| std::fs::read_dir(d).ok())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| Some(e.path()))
            .collect();
        envs.sort();
        if envs.is_empty() {
            envs.push(None);
        }
        envs
    }

    #[test]
    fn labels_with_colons_and_string_flags() {
        let s = yaml("{subject: avg-rt, label: 'http://x/y', condition: '>=', threshold: 150ms, logic: within, timeframe: 10s, stop: 'false', fail: 'TRUE'}")
            .unwrap();
        assert_eq!((s.label.as_str(), s.condition, s.logic), ("http://x/y", Condition::Ge, Logic::Within));
        assert_eq!((s.stop, s.fail), (false, true));
        assert_eq!(s.taurus_name, "avg-rt of http://x/y>=150ms for 10s");
        // MMS's `STOP: ''` keeps the test running (Python truthiness).
        let s = yaml("{subject: hits, condition: '>', threshold: 1, stop: '', fail: 'no'}").unwrap();
        assert_eq!((s.stop, s.fail), (false, false));
        let s = yaml("{subject: p90, condition: '>', threshold: 0.5, label: 404}").unwrap();
        assert_eq!((s.label.as_str(), s.threshold_text.as_str()), ("404", "0.5"));
        assert_eq!(s.taurus_name, "p90 of 404>0.5");
    }
}
