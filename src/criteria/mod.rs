//! Pass/fail criteria with Taurus's verdicts (`bzt.modules.passfail`, `MonitoringCriteria`).
//!
//! A criterion is written in the short form ([`parse_short`], grammar in `grammar.rs`) or the dict
//! form ([`DictForm`] read from the config, then [`from_dict`]) and becomes a [`Spec`]. [`Criteria`] then judges specs at
//! run time: windowed criteria (a timeframe above zero) see every closed second's KPIs through
//! [`Criteria::observe`] and may ask to stop the test; cumulative ones (no timeframe) are judged
//! once in [`Criteria::finish`] on the whole-test KPIs; monitoring criteria see every monitoring
//! sample. [`Criteria::finish`] returns one [`Verdict`] per criterion; the run fails (exit 3)
//! when any verdict [`fails_run`](Verdict::fails_run).
//!
//! Where Taurus passes silently, this module reports: a criterion whose label never got a sample,
//! or whose monitoring source never reported, ends as [`Status::Error`] with a hint, not as a pass.

mod dict_form;
mod grammar;
mod spec;
mod subject;
mod timeframe;
mod verdict;

use std::collections::BTreeSet;
use std::ops::Range;

use crate::aggregate::kpi::LabelSets;

pub use dict_form::{from_dict, DictForm, Flag, Scalar};
pub use grammar::parse_short;
pub use spec::{python_float, Condition, Kind, Logic, Spec, Unit};
pub use subject::Subject;
pub use timeframe::{Trigger, Window};
pub use verdict::{format_value, run_failed, Status, Verdict};

/// A criterion that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Byte range of the offending part inside the criterion text (`0..0` for the dict form,
    /// whose errors name the field instead).
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
    /// The dict-form field at fault (`threshold`, `logic`…); `None` for the short form.
    pub field: Option<&'static str>,
}

/// A request to stop the test, from a triggered criterion with `stop` set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// Whether the run fails (`stop as failed`, exit 3) or ends gracefully (`stop as non-failed`).
    pub failed: bool,
    /// Index of the criterion that asks.
    pub by: usize,
    /// The criterion as written.
    pub name: String,
    /// What it saw: `observed 2 s > threshold 1 s, triggered at 5 s (for 3 s)`.
    pub detail: String,
}

impl Stop {
    /// One line for the console: `avg-rt>1s for 3s: observed 2 s > threshold 1 s, triggered at 5 s (for 3 s)`.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.name, self.detail)
    }
}

/// One criterion and its running state.
#[derive(Clone, Debug)]
pub struct Criterion {
    /// What it judges.
    pub spec: Spec,
    state: State,
}

#[derive(Clone, Debug)]
struct State {
    window: Window,
    /// Cumulative criteria: the latest whole-test value (live during the run, final at the end).
    cumulative_value: Option<f64>,
    cumulative_triggered: bool,
    /// Monitoring criteria: whether the source ever reported, and the metric.
    source_seen: bool,
    metric_seen: bool,
    /// Metric names the source reported, for the hint when the wanted one never came.
    metrics_seen: BTreeSet<String>,
    unavailable: Option<String>,
}

/// At most this many metric names are remembered per criterion for hints.
const MAX_REMEMBERED_METRICS: usize = 32;
/// At most this many labels are listed in a "no samples" hint.
const MAX_LISTED_LABELS: usize = 10;

impl Criterion {
    fn new(spec: Spec) -> Self {
        let sums = match &spec.kind {
            Kind::Kpi(subject) => subject.sums_in_window(spec.percent),
            Kind::Monitoring { .. } => false,
        };
        let window = Window::new(spec.logic, spec.timeframe_secs, sums, spec.condition, spec.threshold);
        Criterion {
            spec,
            state: State {
                window,
                cumulative_value: None,
                cumulative_triggered: false,
                source_seen: false,
                metric_seen: false,
                metrics_seen: BTreeSet::new(),
                unavailable: None,
            },
        }
    }

    /// Whether the criterion has triggered (cumulative ones only after [`Criteria::finish`]).
    pub fn is_triggered(&self) -> bool {
        self.state.cumulative_triggered || self.state.window.trigger().is_some()
    }

    /// The latest compared value: the whole-test value for cumulative criteria, else the value
    /// that came closest to the threshold so far. For live displays.
    pub fn current_value(&self) -> Option<f64> {
        if self.spec.is_cumulative() {
            self.state.cumulative_value
        } else {
            self.state.window.trigger().map(|t| t.value).or(self.state.window.peak())
        }
    }

    /// Taurus's text for the criterion in its current state (`FailCriterion.__repr__`), as
    /// Taurus logs it: `Alert: avg-rt>1ms for 2 sec`, `Failed: My msg`, `Notice: …`.
    pub fn taurus_repr(&self) -> String {
        let state = match (self.is_triggered(), self.spec.fail) {
            (true, true) => "Failed",
            (true, false) => "Notice",
            (false, _) => "Alert",
        };
        self.repr_with(state)
    }

    fn repr_with(&self, state: &str) -> String {
        let spec = &self.spec;
        if let Some(message) = &spec.message {
            return format!("{state}: {message}");
        }
        let counting = if spec.is_cumulative() {
            // Taurus judges a cumulative criterion once: a one-second streak when true.
            if self.state.cumulative_triggered {
                1.0
            } else {
                0.0
            }
        } else {
            self.state.window.reported_counting()
        };
        format!(
            "{state}: {}{}{} {} {} sec",
            spec.subject,
            spec.condition_text,
            spec.threshold_text,
            spec.logic,
            // Python's `%d` truncates toward zero.
            counting.trunc() as i64
        )
    }
}

/// The criteria of one processor (global, per-execution or per-scenario) and their state.
#[derive(Clone, Debug)]
pub struct Criteria {
    items: Vec<Criterion>,
    /// Test start on the clock of the timestamps given to `observe*`.
    origin: f64,
    /// Timestamp of the latest `observe` call.
    last_ts: Option<f64>,
    /// The criterion of the first [`Stop`] handed out.
    stopped_by: Option<usize>,
}

impl Criteria {
    /// Criteria in the order written (verdicts come back in the same order).
    pub fn new(specs: Vec<Spec>) -> Self {
        Criteria {
            items: specs.into_iter().map(Criterion::new).collect(),
            origin: 0.0,
            last_ts: None,
            stopped_by: None,
        }
    }

    /// Sets the test start on the clock of the timestamps passed to [`Criteria::observe`] and
    /// [`Criteria::observe_monitoring`] (e.g. the Unix time of the start); verdicts report trigger
    /// times relative to it. Defaults to 0, for timestamps already relative to the start.
    pub fn set_origin(&mut self, ts: f64) {
        self.origin = ts;
    }

    /// The criteria and their state.
    pub fn items(&self) -> &[Criterion] {
        &self.items
    }

    /// Whether there are no criteria.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Called once per closed second with that second's KPIs (`current`) and the whole-test KPIs
    /// so far (`cumulative`). Windowed KPI criteria judge `current`; cumulative ones only track
    /// `cumulative` for display and are judged in [`Criteria::finish`]. Seconds in which a
    /// criterion's label has no samples are skipped for it, as in Taurus.
    ///
    /// Returns `Some` while a triggered criterion with `stop` asks to end the test; see
    /// [`Criteria::check`].
    pub fn observe(&mut self, ts: u64, current: &LabelSets, cumulative: &LabelSets) -> Option<Stop> {
        let ts = ts as f64;
        self.last_ts = Some(ts);
        for c in &mut self.items {
            let Kind::Kpi(subject) = &c.spec.kind else {
                continue;
            };
            if c.spec.is_cumulative() {
                if let Some(v) = cumulative.get(&c.spec.label).and_then(|k| subject.value(k, c.spec.percent)) {
                    c.state.cumulative_value = Some(v);
                }
            } else if let Some(v) = current.get(&c.spec.label).and_then(|k| subject.value(k, c.spec.percent)) {
                c.state.window.feed(ts, v);
            }
        }
        self.check()
    }

    /// Monitoring values from one source at one time (`ts` on the same clock as the origin).
    /// Every criterion on this source whose metric is among `values` judges it; a metric's one
    /// sample counts as one second of its timeframe.
    pub fn observe_monitoring(&mut self, ts: f64, source: &str, values: &[(String, f64)]) -> Option<Stop> {
        for c in &mut self.items {
            let Kind::Monitoring { source: s, metric } = &c.spec.kind else {
                continue;
            };
            if s != source {
                continue;
            }
            c.state.source_seen = true;
            for (name, _) in values {
                if c.state.metrics_seen.len() < MAX_REMEMBERED_METRICS {
                    c.state.metrics_seen.insert(name.clone());
                }
            }
            // Taurus skips items without the metric (`val is None`); NaN is no value either.
            if let Some((_, v)) = values.iter().find(|(name, v)| name == metric && !v.is_nan()) {
                c.state.metric_seen = true;
                c.state.window.feed(ts, *v);
            }
        }
        self.check()
    }

    /// Marks a monitoring source as unavailable: its criteria that have not triggered end as
    /// errors with this reason (the first reason given is kept).
    pub fn source_unavailable(&mut self, source: &str, reason: &str) {
        for c in &mut self.items {
            if matches!(&c.spec.kind, Kind::Monitoring { source: s, .. } if s == source) {
                c.state.unavailable.get_or_insert_with(|| reason.to_string());
            }
        }
    }

    /// Taurus's `check()`: whether a triggered criterion with `stop` asks to end the test now.
    /// It keeps asking on every later call, as Taurus's check runs every engine loop.
    ///
    /// Taurus checks criteria in order and stops at the first that asks (`res or crit.check()`),
    /// so a `stop as non-failed` listed first hides a failing stop triggered in the same second
    /// and the run exits 0. Deliberate fix: a failing stop takes precedence.
    pub fn check(&mut self) -> Option<Stop> {
        let asking = |c: &Criterion| c.spec.stop && !c.spec.is_cumulative() && c.is_triggered();
        let by =
            self.items.iter().position(|c| asking(c) && c.spec.fail).or_else(|| self.items.iter().position(asking))?;
        self.stopped_by.get_or_insert(by);
        let c = &self.items[by];
        let last_ts = self.last_ts.map(|t| t - self.origin);
        let detail = verdict(c, by, Ok(()), last_ts, self.stopped_by, self.origin).describe();
        Some(Stop { failed: c.spec.fail, by, name: c.spec.text.clone(), detail })
    }

    /// End of the test: judges cumulative criteria on the final whole-test KPIs and returns one
    /// verdict per criterion, in order. Calling it again gives the same verdicts.
    pub fn finish(&mut self, cumulative: &LabelSets) -> Vec<Verdict> {
        let sampled: Vec<&str> =
            cumulative.iter().filter(|(label, k)| !label.is_empty() && k.hits > 0).map(|(l, _)| l.as_str()).collect();
        let any_samples = cumulative.values().any(|k| k.hits > 0);
        let last_ts = self.last_ts.map(|t| t - self.origin);
        let stopped_by = self.stopped_by;
        let mut verdicts = Vec::with_capacity(self.items.len());
        for (index, c) in self.items.iter_mut().enumerate() {
            let status = match &c.spec.kind {
                Kind::Kpi(subject) => {
                    match cumulative.get(&c.spec.label).filter(|k| k.hits > 0) {
                        // Taurus skips a label it never saw, so the criterion passes. Deliberate
                        // fix: it could not be judged, and the hint lists what was measured.
                        None => Err(no_samples(&c.spec.label, &sampled, any_samples)),
                        Some(kpi) if subject.needs_stream() && kpi.stream.is_none() => Err(no_streams(&c.spec.label)),
                        Some(kpi) if c.spec.is_cumulative() => {
                            // Taurus feeds cumulative `within`/`over` criteria through its window
                            // buffer with a zero window, which empties it and divides by zero (or
                            // sums nothing). Deliberate fix: the whole-test value is compared.
                            let value = subject.value(kpi, c.spec.percent);
                            c.state.cumulative_value = value;
                            c.state.cumulative_triggered =
                                value.is_some_and(|v| c.spec.condition.holds(v, c.spec.threshold));
                            Ok(())
                        }
                        Some(_) => Ok(()),
                    }
                }
                Kind::Monitoring { source, metric } => {
                    if c.is_triggered() {
                        Ok(())
                    } else if let Some(reason) = &c.state.unavailable {
                        Err(reason.clone())
                    } else if !c.state.source_seen {
                        Err(format!(
                            "monitoring source `{source}` never reported, so `{}` could not be judged",
                            c.spec.subject
                        ))
                    } else if !c.state.metric_seen {
                        let seen: Vec<&str> = c.state.metrics_seen.iter().map(String::as_str).collect();
                        Err(format!(
                            "monitoring source `{source}` never reported metric `{metric}`; it reported: {}",
                            if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") }
                        ))
                    } else {
                        Ok(())
                    }
                }
            };
            verdicts.push(verdict(c, index, status, last_ts, stopped_by, self.origin));
        }
        verdicts
    }
}

/// Builds the verdict of a criterion whose state is final; `Err` carries an error reason.
fn verdict(
    c: &Criterion,
    index: usize,
    judged: Result<(), String>,
    last_ts: Option<f64>,
    stopped_by: Option<usize>,
    origin: f64,
) -> Verdict {
    let spec = &c.spec;
    let trigger = c.state.window.trigger();
    let (status, observed, triggered_at) = match judged {
        Err(reason) => (Status::Error(reason), None, None),
        Ok(()) => {
            let status = match (c.is_triggered(), spec.fail) {
                (true, true) => Status::Failed,
                (true, false) => Status::Notice,
                (false, _) => Status::Passed,
            };
            let triggered_at = if spec.is_cumulative() {
                c.state.cumulative_triggered.then_some(last_ts).flatten()
            } else {
                trigger.map(|t| t.ts - origin)
            };
            (status, c.current_value(), triggered_at)
        }
    };
    let message = match &status {
        Status::Error(reason) => format!("Error: {reason}"),
        Status::Failed => c.repr_with("Failed"),
        Status::Notice => c.repr_with("Notice"),
        Status::Passed => c.repr_with("Alert"),
    };
    Verdict {
        name: spec.text.clone(),
        taurus_name: spec.taurus_name.clone(),
        status,
        observed,
        threshold: spec.threshold,
        unit: spec.unit(),
        triggered_at,
        message,
        stop: spec.stop,
        fail: spec.fail,
        stopped_test: stopped_by == Some(index),
        spec: spec.clone(),
    }
}

/// The reason for a KPI criterion whose label never got a sample.
fn no_samples(label: &str, sampled: &[&str], any_samples: bool) -> String {
    if !any_samples {
        return "no samples at all: the test recorded no requests, so this criterion could not be judged".into();
    }
    if label.is_empty() {
        return "no overall figures were recorded, so this criterion could not be judged".into();
    }
    let mut listed: Vec<String> = sampled.iter().take(MAX_LISTED_LABELS).map(|l| format!("`{l}`")).collect();
    if sampled.len() > MAX_LISTED_LABELS {
        listed.push(format!("and {} more", sampled.len() - MAX_LISTED_LABELS));
    }
    format!("no samples with label `{label}`; labels with samples: {}", listed.join(", "))
}

/// Why a stream subject (`p95-ttft`) could not be judged on a label that has samples.
fn no_streams(label: &str) -> String {
    let of = if label.is_empty() { String::new() } else { format!(" with label `{label}`") };
    format!("no streamed responses{of} (requests with `stream:`), so this criterion could not be judged")
}

#[cfg(test)]
mod tests;
