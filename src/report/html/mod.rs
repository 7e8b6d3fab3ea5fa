//! `report.html`: one self-contained page (inline CSS, JS and SVG charts; nothing fetched, so it
//! opens from a CI artifact offline), rendered with minijinja from templates built into the
//! binary. The `.html` template autoescapes every value; the charts are built here as SVG with
//! their own escaping and are the only markup inserted as-is. Tables are plain HTML, so the page
//! reads without JavaScript; the script only adds hover read-outs on charts.
//!
//! A test file with a matrix gets a sweep section above its cells' sections (each KPI against
//! each numeric parameter, and a table of the cells), and a test that ran a capacity search gets
//! its headline, a latency-against-throughput chart and its probes (`sweep.rs`).
//!
//! A test compared with a baseline (`--baseline`) gets a "baseline comparison" card after its
//! last repeat (cells from [`super::console::comparison_cells`]), a line in the overview, and
//! on every repeat's time charts the baseline runs' range as a strip with their typical value.

mod charts;
mod svg;
mod sweep;

use serde::Serialize;

use super::console::comparison_cells;
use super::{Completion, CriterionRow, CriterionStatus, Error, Export, RunReport, TestReport};
use crate::aggregate::{KpiSet, OVERALL};
use crate::compare::{RowVerdict, TestComparison};
use crate::outcome::Outcome;
use charts::ChartView;
use sweep::{CapacityView, SweepView};

const TEMPLATE: &str = include_str!("../templates/report.html");
const STYLE: &str = include_str!("../templates/style.css");
const SCRIPT: &str = include_str!("../templates/report.js");

/// At most this many distinct error messages are listed per test.
const MAX_ERROR_ROWS: usize = 50;

/// The HTML report exporter.
pub struct HtmlReport;

impl Export for HtmlReport {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, run: &RunReport) -> Result<Vec<u8>, Error> {
        render(run).map(String::into_bytes)
    }
}

/// Renders the page.
pub fn render(run: &RunReport) -> Result<String, Error> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    env.add_template("style.css", STYLE)?;
    env.add_template("report.js", SCRIPT)?;
    let page = page(run);
    Ok(env.get_template("report.html")?.render(minijinja::value::Serde(&page))?)
}

#[derive(Serialize)]
struct Page {
    title: String,
    run: RunView,
    tests: Vec<TestView>,
    /// Comparisons of tests that are not in this run (shown after the tests).
    unmatched: Vec<ComparisonView>,
}

#[derive(Serialize)]
struct RunView {
    id: String,
    state: String,
    env: Option<String>,
    git_sha: Option<String>,
    tool_version: String,
    started: String,
    duration: String,
    exit_code: Option<u8>,
    counts: String,
    grid: Vec<GridRow>,
    /// Whether any test was compared with a baseline (the grid gets a column).
    compared: bool,
    baseline: Option<BaselineSummary>,
}

/// The run's comparisons in one line for the overview.
#[derive(Serialize)]
struct BaselineSummary {
    /// `regression`, `passed` or `not-compared`.
    status: String,
    compared: usize,
    /// Tests that regressed, with the anchor of their comparison.
    regressed: Vec<(String, String, String)>,
    /// The regression is the only reason the run failed: every test passed its own criteria.
    only_cause: bool,
}

#[derive(Serialize)]
struct GridRow {
    anchor: String,
    name: String,
    state: String,
    criteria: String,
    requests: String,
    errors: String,
    p95: String,
    duration: String,
    /// On a compared test's last repeat: its comparison's anchor, status and headline.
    baseline: Option<(String, String, String)>,
}

#[derive(Serialize)]
struct TestView {
    anchor: String,
    name: String,
    file: String,
    state: String,
    started: String,
    duration: String,
    load: String,
    requests: String,
    error: Option<String>,
    stopped_by: Option<String>,
    incomplete: bool,
    notes: Vec<String>,
    criteria: Vec<CriterionView>,
    kpis: Vec<KpiRow>,
    corrected: Vec<CorrectedRow>,
    streamed: Vec<StreamRow>,
    charts: Vec<ChartView>,
    monitor_charts: Vec<ChartView>,
    monitor_rows: Vec<MonitorRow>,
    unavailable: Vec<(String, String)>,
    codes: Vec<CodeRow>,
    errors: Vec<ErrorRow>,
    errors_more: usize,
    /// On the test's last repeat: its comparison with the baseline.
    comparison: Option<ComparisonView>,
    /// On the first run of a test file with a matrix: the sweep over its cells (shown above it).
    sweep: Option<SweepView>,
    /// What the test's capacity search found.
    capacity: Option<CapacityView>,
}

/// A test's comparison with its baseline.
#[derive(Serialize)]
struct ComparisonView {
    anchor: String,
    test: String,
    /// `regression`, `passed` or `not-compared` (a CSS class and badge).
    status: String,
    /// `2 regressions`, `no regression`, `not compared`.
    headline: String,
    /// `1 regression, 1 improvement, 10 unchanged`.
    counts: String,
    baseline_from: String,
    baseline_runs: usize,
    candidate_runs: usize,
    min_effect: String,
    /// The regressions in a sentence each.
    regressions: Vec<String>,
    notes: Vec<String>,
    rows: Vec<ComparisonRow>,
}

#[derive(Serialize)]
struct ComparisonRow {
    /// The row's classes: `crit-failed` for a regression, `cmp-improvement`, `all` for the
    /// overall figures; may be empty.
    row_class: String,
    /// The verdict badge's class (empty: no badge).
    badge: &'static str,
    /// label, metric, baseline, candidate, change, 95 % CI, verdict.
    cells: [String; 7],
    message: String,
}

#[derive(Serialize)]
struct CriterionView {
    status: String,
    status_word: String,
    name: String,
    observed: String,
    threshold: String,
    window: String,
    triggered: String,
    detail: String,
    message: String,
}

#[derive(Serialize)]
struct KpiRow {
    label: String,
    overall: bool,
    hits: String,
    rps: String,
    errors: String,
    error_pct: String,
    has_errors: bool,
    avg: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
}

/// A label's response times from the scheduled send time (open model, late samples only).
#[derive(Serialize)]
struct CorrectedRow {
    label: String,
    lag: String,
    lag_p50: String,
    lag_p90: String,
    lag_p99: String,
    lag_max: String,
    avg: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
}

/// A label's streamed responses (requests with `stream:`): time to first token, inter-token
/// latency, events and tokens.
#[derive(Serialize)]
struct StreamRow {
    label: String,
    ttft: String,
    ttft_p50: String,
    ttft_p95: String,
    ttft_p99: String,
    itl: String,
    itl_p50: String,
    itl_p99: String,
    events: String,
    tokens: String,
    tokens_per_s: String,
}

#[derive(Serialize)]
struct MonitorRow {
    source: String,
    metric: String,
    samples: u64,
    min: String,
    mean: String,
    max: String,
    last: String,
}

#[derive(Serialize)]
struct CodeRow {
    rc: String,
    count: u64,
    share: String,
    ok: bool,
}

#[derive(Serialize)]
struct ErrorRow {
    label: String,
    rc: String,
    message: String,
    count: u64,
}

fn page(run: &RunReport) -> Page {
    let mut tests: Vec<TestView> =
        run.tests.iter().enumerate().map(|(i, t)| test_view(i, t, run.comparison(t.base_name()))).collect();
    // A comparison goes after the last repeat of its test.
    for (i, t) in run.tests.iter().enumerate() {
        let last = !run.tests[i + 1..].iter().any(|later| later.base_name() == t.base_name());
        if let Some(c) = run.comparison(t.base_name()).filter(|_| last) {
            tests[i].comparison = Some(comparison_view(&format!("{}-baseline", tests[i].anchor), c));
        }
    }
    let anchors: Vec<String> = tests.iter().map(|t| t.anchor.clone()).collect();
    for (i, s) in sweep::sweeps(run, &anchors) {
        tests[i].sweep = Some(s);
    }
    let unmatched: Vec<ComparisonView> = run
        .comparisons
        .iter()
        .filter(|c| !run.tests.iter().any(|t| t.base_name() == c.test))
        .enumerate()
        .map(|(i, c)| comparison_view(&format!("baseline-{}", i + 1), c))
        .collect();
    let grid = run
        .tests
        .iter()
        .zip(&tests)
        .map(|(t, v)| {
            let overall = t.totals.get(OVERALL);
            GridRow {
                anchor: v.anchor.clone(),
                name: t.name.clone(),
                state: t.state().to_string(),
                criteria: criteria_count(t),
                requests: overall.map(|o| o.hits.to_string()).unwrap_or_else(|| "-".into()),
                errors: overall.map(|o| format!("{} ({})", o.fail, pct(o.fail, o.hits))).unwrap_or_else(|| "-".into()),
                p95: ms(overall.and_then(|o| o.percentile(95.0))),
                duration: duration(t.duration_secs),
                baseline: v.comparison.as_ref().map(|c| (c.anchor.clone(), c.status.clone(), c.headline.clone())),
            }
        })
        .collect();
    let shown: Vec<&ComparisonView> = tests.iter().filter_map(|t| t.comparison.as_ref()).chain(&unmatched).collect();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in &run.tests {
        match counts.iter_mut().find(|(s, _)| s == t.state()) {
            Some((_, n)) => *n += 1,
            None => counts.push((t.state().to_string(), 1)),
        }
    }
    let counts = counts.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
    Page {
        title: format!("suite run {} — {}", run.run_id, run.state()),
        run: RunView {
            id: run.run_id.clone(),
            state: run.state().to_string(),
            env: run.env_name.clone(),
            git_sha: run.git_sha.clone(),
            tool_version: run.tool_version.clone(),
            started: super::utc_text(run.started_unix),
            duration: duration(run.tests.iter().map(|t| t.duration_secs).sum()),
            exit_code: run.exit_code,
            counts,
            grid,
            compared: !shown.is_empty(),
            baseline: baseline_summary(run, &shown),
        },
        tests,
        unmatched,
    }
}

/// What the overview says about the comparisons: which tests regressed, and whether that alone
/// failed the run.
fn baseline_summary(run: &RunReport, shown: &[&ComparisonView]) -> Option<BaselineSummary> {
    if shown.is_empty() {
        return None;
    }
    let regressed: Vec<(String, String, String)> = shown
        .iter()
        .filter(|c| c.status == "regression")
        .map(|c| (c.test.clone(), c.anchor.clone(), c.headline.clone()))
        .collect();
    let compared = shown.iter().filter(|c| c.status != "not-compared").count();
    let tests_outcome = run.tests.iter().map(|t| t.outcome).reduce(Outcome::worst).unwrap_or(Outcome::Error);
    Some(BaselineSummary {
        status: if !regressed.is_empty() {
            "regression"
        } else if compared > 0 {
            "passed"
        } else {
            "not-compared"
        }
        .into(),
        compared,
        only_cause: !regressed.is_empty() && tests_outcome == Outcome::Passed,
        regressed,
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn comparison_view(anchor: &str, c: &TestComparison) -> ComparisonView {
    let regressions = c.regressions().count();
    let (status, headline) = if c.rows.is_empty() {
        ("not-compared", "not compared".to_string())
    } else if regressions > 0 {
        ("regression", plural(regressions, "regression", "regressions"))
    } else {
        ("passed", "no regression".to_string())
    };
    let mut counts: Vec<(RowVerdict, usize)> = Vec::new();
    for r in &c.rows {
        match counts.iter_mut().find(|(v, _)| *v == r.verdict) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.verdict, 1)),
        }
    }
    counts.sort_by_key(|(v, _)| *v as u8);
    let rows = c
        .rows
        .iter()
        .map(|r| {
            let (row_class, badge) = match r.verdict {
                RowVerdict::Regression => ("crit-failed", "crit-failed"),
                RowVerdict::Improvement => ("cmp-improvement", "crit-passed"),
                RowVerdict::Unchanged => ("", ""),
                RowVerdict::New | RowVerdict::Missing | RowVerdict::NoData => ("", "crit-not-judged"),
            };
            let all = if r.label.is_empty() { "all" } else { "" };
            let row_class = [row_class, all].iter().filter(|c| !c.is_empty()).copied().collect::<Vec<_>>().join(" ");
            ComparisonRow { row_class, badge, cells: comparison_cells(r), message: r.message() }
        })
        .collect();
    ComparisonView {
        anchor: anchor.to_string(),
        test: c.test.clone(),
        status: status.into(),
        headline,
        counts: counts.iter().map(|(v, n)| format!("{n} {}", v.word())).collect::<Vec<_>>().join(", "),
        baseline_from: c.baseline_from.clone(),
        baseline_runs: c.baseline_runs,
        candidate_runs: c.candidate_runs,
        min_effect: format!("{} %", trim_secs(c.min_effect * 100.0)),
        regressions: c.regressions().map(|r| r.message()).collect(),
        notes: c.notes.clone(),
        rows,
    }
}

fn criteria_count(t: &TestReport) -> String {
    if t.criteria.is_empty() {
        return "none".into();
    }
    let passed = t.criteria.iter().filter(|c| c.status == CriterionStatus::Passed).count();
    let mut text = format!("{passed}/{} passed", t.criteria.len());
    for status in [CriterionStatus::Failed, CriterionStatus::Error, CriterionStatus::Notice] {
        let n = t.criteria.iter().filter(|c| c.status == status).count();
        if n > 0 {
            text.push_str(&format!(", {n} {}", status.word()));
        }
    }
    text
}

fn criterion_view(c: &CriterionRow) -> CriterionView {
    CriterionView {
        status: c.status.word().replace(' ', "-"),
        status_word: c.status.word().to_string(),
        name: c.name.clone(),
        observed: c.observed_text(),
        threshold: c.threshold_text(),
        window: if c.logic.is_empty() {
            "whole test".into()
        } else if c.timeframe_secs > 0.0 {
            format!("{} {} s", c.logic, trim_secs(c.timeframe_secs))
        } else {
            "each sample".into()
        },
        triggered: c.triggered_at.map(svg::clock).unwrap_or_else(|| "-".into()),
        detail: c.detail.clone(),
        // Taurus's own text says the same as the detail for a pass (`Alert: …`); it helps
        // only where something happened.
        message: if c.status == CriterionStatus::Passed { String::new() } else { c.taurus_message.clone() },
    }
}

fn test_view(index: usize, t: &TestReport, cmp: Option<&TestComparison>) -> TestView {
    let anchor = format!("test-{}", index + 1);
    let criteria = t.criteria.iter().map(criterion_view).collect();
    let kpis = t
        .labels()
        .map(|(label, s)| KpiRow {
            label: super::label_name(label),
            overall: label.is_empty(),
            hits: s.hits.to_string(),
            rps: format!("{:.1}", t.rate(s)),
            errors: s.fail.to_string(),
            error_pct: pct(s.fail, s.hits),
            has_errors: s.fail > 0,
            avg: ms(s.avg_rt()),
            p50: ms(s.percentile(50.0)),
            p90: ms(s.percentile(90.0)),
            p95: ms(s.percentile(95.0)),
            p99: ms(s.percentile(99.0)),
            max: ms(s.min_max_rt().map(|(_, m)| m)),
        })
        .collect();
    let corrected = t
        .labels()
        .filter(|(_, s)| s.hist_corrected.is_some())
        .map(|(label, s)| CorrectedRow {
            label: super::label_name(label),
            lag: ms(s.avg_lag()),
            lag_p50: ms(s.lag_percentile(50.0)),
            lag_p90: ms(s.lag_percentile(90.0)),
            lag_p99: ms(s.lag_percentile(99.0)),
            lag_max: ms(s.max_lag()),
            avg: ms(s.avg_rt_corrected()),
            p50: ms(s.percentile_corrected(50.0)),
            p90: ms(s.percentile_corrected(90.0)),
            p95: ms(s.percentile_corrected(95.0)),
            p99: ms(s.percentile_corrected(99.0)),
            max: ms(s.max_rt_corrected()),
        })
        .collect();
    let streamed = t
        .labels()
        .filter_map(|(label, s)| Some((label, s.stream.as_deref()?)))
        .map(|(label, k)| StreamRow {
            label: super::label_name(label),
            ttft: ms(k.avg_ttft()),
            ttft_p50: ms(k.ttft_percentile(50.0)),
            ttft_p95: ms(k.ttft_percentile(95.0)),
            ttft_p99: ms(k.ttft_percentile(99.0)),
            itl: ms(k.avg_itl()),
            itl_p50: ms(k.itl_percentile(50.0)),
            itl_p99: ms(k.itl_percentile(99.0)),
            events: number(k.events_per_sample()),
            tokens: if k.token_samples > 0 { k.tokens.to_string() } else { "-".into() },
            tokens_per_s: number(k.tokens_per_s()),
        })
        .collect();
    let (codes, errors, errors_more) = error_breakdown(t);
    let monitor_rows = t
        .monitoring
        .series
        .iter()
        .map(|s| MonitorRow {
            source: s.source.clone(),
            metric: s.metric.clone(),
            samples: s.samples,
            min: number(s.min),
            mean: number(s.mean),
            max: number(s.max),
            last: number(s.last),
        })
        .collect();
    TestView {
        name: t.name.clone(),
        file: t.file.display().to_string(),
        state: t.state().to_string(),
        started: super::utc_text(t.started_unix),
        duration: duration(t.duration_secs),
        load: duration(t.load_secs),
        requests: t.totals.get(OVERALL).map_or(0, |o| o.hits).to_string(),
        error: t.error.clone(),
        stopped_by: t.stopped_by.clone(),
        incomplete: t.completion != Completion::Finished,
        notes: t.notes.clone(),
        criteria,
        kpis,
        corrected,
        streamed,
        charts: charts::load_charts(&anchor, t, cmp),
        monitor_charts: charts::monitor_charts(&anchor, t),
        monitor_rows,
        unavailable: t.monitoring.unavailable.clone(),
        codes,
        errors,
        errors_more,
        comparison: None,
        sweep: None,
        capacity: t.capacity.as_ref().map(|c| sweep::capacity_view(&anchor, c)),
        anchor,
    }
}

/// Response codes of the whole test, and error messages per label, most frequent first.
fn error_breakdown(t: &TestReport) -> (Vec<CodeRow>, Vec<ErrorRow>, usize) {
    let empty = KpiSet::default();
    let overall = t.totals.get(OVERALL).unwrap_or(&empty);
    let mut codes: Vec<CodeRow> = overall
        .rc
        .to_map()
        .into_iter()
        .map(|(rc, n)| CodeRow {
            ok: rc.parse::<u16>().is_ok_and(|c| c < 400),
            rc,
            count: n,
            share: pct(n, overall.hits),
        })
        .collect();
    codes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rc.cmp(&b.rc)));
    let mut errors: Vec<ErrorRow> = t
        .totals
        .iter()
        .filter(|(l, _)| !l.is_empty())
        .flat_map(|(label, s)| {
            s.error_list().map(move |(message, rc, count)| ErrorRow {
                label: label.clone(),
                rc: rc.into(),
                message: message.into(),
                count,
            })
        })
        .collect();
    errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    let more = errors.len().saturating_sub(MAX_ERROR_ROWS);
    errors.truncate(MAX_ERROR_ROWS);
    (codes, errors, more)
}

/// A time in seconds as `1.23 ms`, `1.23 s`, or `-`.
pub fn ms(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s >= 1.0 => format!("{s:.2} s"),
        Some(s) if s >= 0.001 => format!("{:.2} ms", s * 1e3),
        Some(s) => format!("{:.0} µs", s * 1e6),
        None => "-".into(),
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.2}%", 100.0 * part as f64 / whole as f64)
    }
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// Seconds without needless decimals: `5`, `2.5`.
fn trim_secs(secs: f64) -> String {
    let s = format!("{secs:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `1 h 02 min`, `2 min 05 s`, `12.3 s`.
fn duration(secs: f64) -> String {
    if secs >= 3600.0 {
        let s = secs.round() as u64;
        format!("{} h {:02} min", s / 3600, s % 3600 / 60)
    } else if secs >= 60.0 {
        let s = secs.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::LabelSets;
    use crate::compare::{Metric, Row};
    use crate::report::capacity::{Capacity, Probe};
    use crate::report::timeline::{MonitorSeries, TimelineBuilder};
    use crate::report::CriterionRow;
    use crate::sample::Sample;
    use std::path::Path;

    fn sample(rt_us: u64, status: u16) -> Sample {
        let error = (status >= 400).then(|| "500 Internal Server Error".into());
        Sample { ttfb_us: rt_us / 2, error, bytes: 200, ..Sample::fake(rt_us, status) }
    }

    /// A test of `secs` seconds with `labels` labels, its timeline built as the store builds it.
    fn synthetic(secs: u64, labels: &[&str]) -> TestReport {
        let mut t = TestReport::new("long <test>", Path::new("suites/long.yaml"), 1_700_000_000);
        // A week's worth of kinds of seconds, cloned: recording and merging every sample of an hour
        // is slow in debug builds, and the report's size depends on the points, not the samples.
        let kinds: Vec<LabelSets> = (0..7u64)
            .map(|kind| {
                let mut sets = LabelSets::new();
                let mut overall = KpiSet::default();
                for (i, label) in labels.iter().enumerate() {
                    let mut set = KpiSet::default();
                    for k in 0..50u64 {
                        let rt = 1000 + (kind * 3701 + k * 101 + i as u64 * 997) % 40_000;
                        set.record(&sample(rt, if k == 0 && kind == 0 { 500 } else { 200 }));
                    }
                    set.concurrency = 10;
                    overall.merge(&set);
                    sets.insert(label.to_string(), set);
                }
                sets.insert(OVERALL.into(), overall);
                for (l, s) in &sets {
                    t.totals.entry(l.clone()).or_default().merge(s);
                }
                sets
            })
            .collect();
        let mut builder = TimelineBuilder::new(secs);
        for ts in 0..secs {
            builder.push(ts, 10, &kinds[(ts % 7) as usize]);
        }
        t.timeline = builder.finish();
        t.load_secs = secs as f64;
        t.duration_secs = secs as f64;
        let values: Vec<(f64, f64)> = (0..secs).map(|s| (s as f64, (s % 100) as f64 * 1.5)).collect();
        for metric in ["cpu", "mem", "sum_workers_memory_rss", "total_workers"] {
            t.monitoring.series.push(MonitorSeries::from_values("demo", metric, &values));
        }
        t
    }

    fn run_of(tests: Vec<TestReport>) -> RunReport {
        RunReport {
            run_id: "20260101_000000".into(),
            env_name: Some("ci".into()),
            git_sha: Some("abc1234".into()),
            tool_version: "0.1.0".into(),
            started_unix: 1_700_000_000,
            exit_code: Some(3),
            tests,
            comparisons: Vec::new(),
            diff_percent: Vec::new(),
            segment: None,
        }
    }

    #[test]
    fn an_hour_long_test_stays_under_three_megabytes() {
        let t = synthetic(3600, &["predict", "ping", "health <b>"]);
        let html = render(&run_of(vec![t])).unwrap();
        assert!(html.len() < 3_000_000, "report is {} bytes", html.len());
        assert!(html.contains("Each point covers 4 s"), "thinned to at most 1000 points per series");
        assert!(html.contains("health &lt;b&gt;") && !html.contains("health <b>"));
    }

    #[test]
    fn hostile_strings_render_as_text() {
        let mut t = synthetic(5, &["<script>alert(1)</script>"]);
        t.name = "<img src=x onerror=alert(1)>".into();
        t.error = Some("</pre><script>bad()</script>".into());
        let mut c = CriterionRow::pending(&crate::criteria::parse_short("avg-rt>1s").unwrap());
        c.name = "avg-rt of <script>>1s".into();
        c.status = CriterionStatus::Failed;
        t.criteria.push(c);
        t.outcome = Outcome::CriteriaFailed;
        let html = render(&run_of(vec![t])).unwrap();
        assert!(!html.contains("<script>alert") && !html.contains("<script>bad") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The only scripts are the page's own.
        assert_eq!(html.matches("<script").count(), html.matches("<script type=\"application/json\"").count() + 1);
    }

    #[test]
    fn late_samples_get_a_corrected_table() {
        assert!(!render(&run_of(vec![synthetic(3, &["a"])])).unwrap().contains("corrected for coordinated omission"));
        let mut t = synthetic(3, &["a"]);
        let mut late = sample(2000, 200);
        late.lag_us = 500_000;
        t.totals.get_mut("a").unwrap().record(&late);
        let html = render(&run_of(vec![t])).unwrap();
        assert!(html.contains("corrected for coordinated omission"), "{html}");
        assert!(html.contains("<th class=\"num\">lag p99</th>"), "lateness next to the mean lag");
        assert!(html.contains("<td class=\"num\">500."), "the late sample is the lag max");
    }

    #[test]
    fn streamed_samples_get_a_stream_table() {
        assert!(!render(&run_of(vec![synthetic(3, &["a"])])).unwrap().contains("Streamed responses"));
        let mut t = synthetic(3, &["a"]);
        let times = crate::sample::StreamTimes {
            first_us: Some(51_000),
            last_us: 91_000,
            gaps_us: vec![20_000, 20_000],
            events: 4,
            tokens: Some(3),
        };
        t.totals.get_mut("a").unwrap().record(&Sample { stream: Some(Box::new(times)), ..sample(95_000, 200) });
        let html = render(&run_of(vec![t])).unwrap();
        assert!(html.contains("<h4>Streamed responses</h4>"), "{html}");
        assert!(html.contains("<td class=\"num\">51.0"), "the time to first token");
    }

    fn row(label: &str, metric: Metric, verdict: RowVerdict, baseline: f64, candidate: f64) -> Row {
        Row {
            label: label.into(),
            metric,
            baseline: Some(baseline),
            candidate: Some(candidate),
            change: Some(candidate / baseline - 1.0),
            ci: Some((candidate / baseline - 1.06, candidate / baseline - 0.94)),
            baseline_range: Some((baseline * 0.95, baseline * 1.05)),
            verdict,
            measured_noise: true,
            why: None,
        }
    }

    /// `test` compared with 5 baseline runs: the overall p95 regressed, `label`'s throughput
    /// improved, its p95 did not move.
    fn comparison_of(test: &str, label: &str) -> TestComparison {
        TestComparison {
            test: test.into(),
            baseline_from: "baselines/<api>.json".into(),
            baseline_runs: 5,
            candidate_runs: 3,
            min_effect: 0.05,
            notes: vec!["label `new` appeared".into()],
            rows: vec![
                row(label, Metric::P95, RowVerdict::Unchanged, 20.0, 20.4),
                row(label, Metric::Throughput, RowVerdict::Improvement, 400.0, 480.0),
                row("", Metric::P95, RowVerdict::Regression, 7.6, 8.9),
                row("", Metric::Throughput, RowVerdict::Unchanged, 800.0, 790.0),
            ],
        }
    }

    fn repeats(name: &str, n: u32, labels: &[&str]) -> Vec<TestReport> {
        (1..=n)
            .map(|k| {
                let mut t = synthetic(5, labels);
                t.name = format!("{name}@{k}");
                t.repeat = Some((k, n));
                t
            })
            .collect()
    }

    #[test]
    fn a_comparison_gets_a_section_after_the_last_repeat_and_a_band_on_each_chart() {
        let mut run = run_of(repeats("api", 3, &["predict", "ping"]));
        run.exit_code = Some(3);
        let cmp = comparison_of("api", "predict");
        let regression = cmp.rows[2].message();
        run.comparisons.push(cmp);
        let html = render(&run).unwrap();

        // The overview says why the run failed and links to the section.
        assert!(html.contains("The run failed because of a regression against the baseline"), "{html}");
        assert!(html.contains(r##"<a href="#test-3-baseline">api</a> (1 regression)"##), "{html}");
        assert!(html.contains("<th>vs baseline</th>"));

        // One section, after the third repeat, with the headline, the rows and the notes.
        assert_eq!(html.matches("api: baseline comparison</h2>").count(), 1);
        let section = html.find(r#"id="test-3-baseline""#).expect("the section");
        assert!(section > html.find(r#"id="test-3""#).unwrap());
        let section = &html[section..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(section.contains("1 regression</span>"), "{section}");
        assert!(section.contains("baselines&#x2f;&lt;api&gt;.json"), "{section}");
        assert!(section.contains("3 in this run vs 5 in the baseline") && section.contains("5 %"), "{section}");
        assert!(section.contains(&format!("<li>{regression}</li>")), "the regression's message: {section}");
        assert!(regression.contains("p95 of ALL: 8.90 ms vs 7.60 ms"), "{regression}");
        assert!(section.contains(r#"<tr class="crit-failed all""#), "the regression is highlighted");
        assert!(section.contains(r#"<span class="badge crit-failed">REGRESSION</span>"#));
        assert!(section.contains(r#"<tr class="cmp-improvement""#), "the improvement is marked");
        assert!(section.contains(r#"<span class="badge crit-passed">improvement</span>"#));
        assert_eq!(section.matches("<td>unchanged</td>").count(), 2, "unchanged rows are there");
        assert!(section.contains("label `new` appeared"));

        // Each repeat's charts draw the baseline: overall p95 on the percentiles, the labels' and the
        // overall throughput, predict's p95 by label.
        assert_eq!(html.matches(r#"class="baseline-band""#).count(), 3 * 4, "{html}");
        assert_eq!(html.matches(r#"<li class="baseline">"#).count(), 3 * 4);
        assert!(html.contains("baseline p95 (5 runs)</li>"));
        assert!(html.contains("baseline throughput (5 runs)</li>"));
        assert!(html.contains("baseline p95 of predict (5 runs)</li>"));
        assert!(html.contains("<title>baseline p95 (5 runs): 7.60 ms, runs 7.22 ms to 7.98 ms</title>"), "{html}");
        // Times are drawn in seconds: the line is inside the plot, not clamped to its top.
        let line = html.split(r#"<title>baseline p95 (5 runs)"#).nth(1).unwrap();
        let y: f64 = line
            .split(r#"class="baseline-line""#)
            .nth(1)
            .unwrap()
            .split(r#"y1=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(y > 8.5 && y < 180.0, "y {y}");
    }

    #[test]
    fn without_a_comparison_there_is_no_section_and_no_band() {
        let html = render(&run_of(repeats("api", 2, &["predict", "ping"]))).unwrap();
        let absent = [
            "baseline comparison",
            r#"class="baseline-band""#,
            r#"class="baseline-line""#,
            r#"<li class="baseline">"#,
            "baseline-summary\"",
            "vs baseline",
            r#""refs""#,
        ];
        for absent in absent {
            assert!(!html.contains(absent), "{absent}");
        }
    }

    #[test]
    fn a_test_not_compared_shows_why_and_a_clean_run_says_no_regression() {
        let mut run = run_of(vec![synthetic(3, &["a"])]);
        run.exit_code = Some(0);
        run.comparisons.push(TestComparison::not_compared("long <test>", "base/", 0, "the baseline has no run of it"));
        let html = render(&run).unwrap();
        assert!(html.contains("not compared</span>") && html.contains("the baseline has no run of it"), "{html}");
        assert!(!html.contains(r#"class="baseline-band""#) && !html.contains(r#"<table class="comparison">"#));

        let mut cmp = comparison_of("long <test>", "a");
        cmp.rows[2].verdict = RowVerdict::Unchanged;
        run.comparisons = vec![cmp];
        let html = render(&run).unwrap();
        assert!(html.contains("No regression against the baseline in 1 compared test(s)."), "{html}");
        assert!(html.contains("no regression</span>") && !html.contains("failed because of a regression"));
    }

    #[test]
    fn hostile_labels_in_a_comparison_render_as_text() {
        let hostile = "<script>alert(2)</script>";
        let mut t = synthetic(3, &[hostile, "b"]);
        t.name = "x".into();
        let mut run = run_of(vec![t]);
        let mut cmp = comparison_of("x", hostile);
        cmp.notes.push("<img src=x onerror=alert(3)>".into());
        run.comparisons.push(cmp);
        let html = render(&run).unwrap();
        assert!(!html.contains("<script>alert") && !html.contains("<img"), "{html}");
        assert!(html.contains("baseline p95 of &lt;script&gt;alert(2)&lt;&#x2f;script&gt; (5 runs)</li>"), "{html}");
        assert!(html.contains(r#"<td class="mono">&lt;script&gt;alert(2)&lt;&#x2f;script&gt;</td>"#));
        assert!(html.contains(r#"class="baseline-band""#));
        assert_eq!(html.matches("<script").count(), html.matches(r#"<script type="application/json""#).count() + 1);
    }

    /// A finished run of a matrix cell: 100 requests from `rt_us` up, 2 of them failed, over 10 s.
    fn cell_run(test: &str, cell: &[(&str, &str)], rt_us: u64) -> TestReport {
        let cell: Vec<(String, String)> = cell.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let name = format!("{test}[{}]", crate::report::matrix::cell_name(&cell));
        let mut t = TestReport::new(&name, Path::new("suites/sweep.yaml"), 1_700_000_000);
        t.cell = cell;
        let mut set = KpiSet::default();
        for k in 0..100 {
            set.record(&sample(rt_us + k * 10, if k < 2 { 500 } else { 200 }));
        }
        set.concurrency = 7;
        t.totals.insert("predict".into(), set.clone());
        t.totals.insert(OVERALL.into(), set);
        t.load_secs = 10.0;
        t.duration_secs = 10.0;
        t
    }

    /// The SVG of the chart with this id.
    fn chart_svg<'a>(html: &'a str, id: &str) -> &'a str {
        let figure = &html[html.find(&format!(r#"<figure class="chart-box" id="{id}">"#)).expect(id)..];
        &figure[figure.find("<svg").unwrap()..figure.find("</svg>").unwrap()]
    }

    /// The x coordinates of the line titled `name` in `svg`.
    fn line_xs(svg: &str, name: &str) -> Vec<f64> {
        let end = svg.find(&format!("<title>{name}</title></path>")).expect(name);
        let d = &svg[svg[..end].rfind(r#" d=""#).unwrap() + 4..end];
        let d = &d[..d.find('"').unwrap()];
        d.split(['M', 'L']).filter(|p| !p.is_empty()).map(|p| p.split(',').next().unwrap().parse().unwrap()).collect()
    }

    #[test]
    fn a_matrix_gets_curves_over_its_numeric_parameter_and_a_table_of_cells() {
        // Run order is not x order: vus=4 ran first.
        let tests = vec![
            cell_run("sweep", &[("vus", "4"), ("model", "bert")], 4000),
            cell_run("sweep", &[("vus", "4"), ("model", "gpt")], 8000),
            cell_run("sweep", &[("vus", "2"), ("model", "bert")], 2000),
            TestReport::not_run("sweep[vus=2,model=gpt]", Path::new("suites/sweep.yaml"), 0, "interrupted"),
        ];
        let mut run = run_of(tests);
        run.tests[3].cell = vec![("vus".into(), "2".into()), ("model".into(), "gpt".into())];
        let p95 = |i: usize| ms(run.tests[i].totals[OVERALL].percentile(95.0));
        let (bert2, bert4, gpt4) = (p95(2), p95(0), p95(1));
        let html = render(&run).unwrap();

        // One section, above the cells' own sections.
        assert_eq!(html.matches(r#"<section class="card sweep""#).count(), 1);
        let section = html.find(r#"id="sweep-1""#).unwrap();
        assert!(section < html.find(r#"id="test-1""#).unwrap());
        assert!(html.contains("sweep: matrix of 4 run(s) over vus × model</h2>"), "{html}");
        assert!(html
            .contains("1 run did not run to its end (not run, interrupted or broken) and has no point on the charts."));
        assert!(!html.contains("log scale"), "2 to 4 is drawn linear");

        // Charts over vus, none over the text parameter.
        for title in
            ["p95 response time by vus", "Throughput (requests&#x2f;s) by vus", "Errors (% of requests) by vus"]
        {
            assert!(html.contains(&format!("<figcaption>{title}</figcaption>")), "{title}");
        }
        assert!(html.contains("<figcaption>Active users (most at once) by vus</figcaption>"));
        assert!(!html.contains("by model"), "no chart over a text parameter");

        // Two lines, named by the other parameter, points in x order (vus 2 at the left edge).
        let svg = chart_svg(&html, "sweep-1-1-p95");
        assert_eq!(svg.matches(r#"<path class="line""#).count(), 2, "{svg}");
        assert_eq!(line_xs(svg, "model=bert"), vec![52.0, 628.0]);
        // gpt did not run at vus=2: no point there, never a zero.
        assert_eq!(line_xs(svg, "model=gpt"), vec![628.0]);
        assert!(svg.contains(&format!("<title>model=bert at vus=2: {bert2}</title>")), "{svg}");
        assert!(svg.contains(&format!("<title>model=bert at vus=4: {bert4}</title>")));
        assert!(svg.contains(&format!("<title>model=gpt at vus=4: {gpt4}</title>")));
        assert!(!svg.contains("model=gpt at vus=2"));
        assert!(svg.contains(r#"data-x-min="2" data-x-max="4" data-plot"#), "the axis spans the values: {svg}");
        assert!(svg.contains(r#"<text class="xl" x="52.0" y="204.0">2</text>"#), "a tick per value");
        let figure = &html[html.find(r#"id="sweep-1-1-p95""#).unwrap()..];
        let figure = &figure[..figure.find("</figure>").unwrap()];
        assert!(figure.contains("</span>model=bert</li>") && figure.contains("</span>model=gpt</li>"), "{figure}");
        assert!(figure.contains(r##""name": "model=gpt", "color": "#E69F00", "y": [null, "##), "{figure}");
        assert!(figure.contains(r#""x_name": "vus", "x": [2.0, 4.0]"#), "{figure}");
        // Throughput is hits over load seconds: 100 / 10 s for every cell.
        assert!(chart_svg(&html, "sweep-1-1-throughput").contains("<title>model=bert at vus=2: 10.0</title>"));

        // The table: one row per cell, linking to its section, the not-run cell included.
        assert_eq!(html.matches(r#"<tr class="cell">"#).count(), 4);
        assert!(html.contains(r##"<td><a href="#test-4">sweep[vus=2,model=gpt]</a></td>"##), "{html}");
        assert!(html.contains(r#"<span class="badge state-not-run">not run</span>"#));
        assert!(html.contains(r#"<td class="num">2.00%</td>"#), "2 of 100 failed");
    }

    #[test]
    fn repeats_of_a_cell_are_one_point_their_mean() {
        let mut tests = Vec::new();
        for (vus, rt) in [("1", 1000), ("2", 3000)] {
            for k in 1..=2 {
                let mut t = cell_run("api", &[("vus", vus)], rt * k);
                t.name = format!("{}@{k}", t.name);
                t.repeat = Some((k as u32, 2));
                tests.push(t);
            }
        }
        let html = render(&run_of(tests)).unwrap();
        let svg = chart_svg(&html, "sweep-1-1-p95");
        // One combination: p50, p95 and p99 lines of two points each.
        assert_eq!(line_xs(svg, "p95").len(), 2, "{svg}");
        assert_eq!(line_xs(svg, "p50").len(), 2);
        assert!(!svg.contains("<title>throughput at vus=1"), "the p95 chart only");
        assert!(svg.contains("(mean of 2 runs)</title>"), "{svg}");
        assert!(html.contains("<th>repeat</th>") && html.contains("<td>2&#x2f;2</td>"));
        assert!(html.contains("Each point is the mean of the cell&#x27;s repeats"), "{html}");
    }

    fn probe(rate: f64, p95_ms: f64, passed: bool) -> Probe {
        Probe {
            rate,
            achieved: rate * 0.98,
            start_secs: 0.0,
            secs: 10.0,
            hits: (rate * 10.0) as u64,
            fail: if passed { 0 } else { 5 },
            avg_ms: Some(p95_ms / 2.0),
            p50_ms: Some(p95_ms / 2.0),
            p90_ms: Some(p95_ms * 0.9),
            p95_ms: Some(p95_ms),
            p99_ms: Some(p95_ms * 1.5),
            passed,
            failed: if passed { vec![] } else { vec!["p95>100ms".into()] },
        }
    }

    fn search() -> Capacity {
        Capacity {
            low: 50.0,
            high: 1000.0,
            precision: 0.05,
            knee: Some(560.0),
            failed_at: Some(590.0),
            required: Some(300.0),
            probes: vec![
                probe(50.0, 20.0, true),
                probe(1000.0, 900.0, false),
                probe(525.0, 80.0, true),
                probe(760.0, 400.0, false),
                probe(560.0, 88.0, true),
                probe(590.0, 130.0, false),
            ],
            cut_short: None,
        }
    }

    #[test]
    fn a_capacity_search_gets_a_headline_a_chart_with_the_knee_and_its_probes() {
        let mut t = synthetic(3, &["a"]);
        t.capacity = Some(search());
        let html = render(&run_of(vec![t])).unwrap();
        assert!(
            html.contains(
                "capacity 560 rps (p95 88.00 ms, 0.00% errors), between 560 and 590 rps; requirement ≥ 300 rps met"
            ),
            "{html}"
        );
        assert!(html.contains(r#"<span class="badge crit-passed">requirement met</span>"#));
        assert!(html.contains("Searched 50 to 1000 rps, until the bracket is within 5 % of the knee; 6 probes."));

        let svg = chart_svg(&html, "test-1-capacity");
        // The knee at its probe's achieved rate (548.8 of an axis from 0 to 1000).
        let knee = &svg[svg.find(r#"<line class="knee""#).expect("the knee line")..];
        let x: f64 = knee.split(r#"x1=""#).nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!((x - (52.0 + 0.9800 * 560.0 / 1000.0 * 576.0)).abs() < 0.2, "x {x}");
        assert!(knee.contains("<title>knee: 560 rps asked, 549 achieved</title>"), "{knee}");
        assert_eq!(svg.matches(r#"<line class="knee""#).count(), 1);
        // p95 and p99, each probe marked: 3 passed, 3 failed, on both lines.
        assert_eq!(svg.matches(r#"<path class="line""#).count(), 2);
        assert_eq!(svg.matches(r#"class="dot pass""#).count(), 6);
        assert_eq!(svg.matches(r#"class="dot fail""#).count(), 6);
        assert!(
            svg.contains("<title>590 rps asked, 578 achieved: p95 130.00 ms, failed: p95&gt;100ms</title>"),
            "{svg}"
        );
        // Sorted by achieved rate.
        let xs = line_xs(svg, "p95");
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");

        // The probes in run order, the knee's row marked.
        assert_eq!(html.matches(r#"<tr class="probe"#).count(), 6);
        assert_eq!(html.matches(r#"<tr class="probe knee">"#).count(), 1);
        let rates: Vec<&str> = html
            .split(r#"<tr class="probe"#)
            .skip(1)
            .map(|row| row.split(r#"<td class="num">"#).nth(2).unwrap().split('<').next().unwrap())
            .collect();
        assert_eq!(rates, ["50 rps", "1000 rps", "525 rps", "760 rps", "560 rps", "590 rps"]);
        assert!(html.contains(r#"<td class="mono">p95&gt;100ms</td>"#));
    }

    #[test]
    fn a_search_that_fails_at_its_lowest_rate_says_so() {
        let mut c = search();
        c.knee = None;
        c.failed_at = Some(50.0);
        c.probes = vec![probe(50.0, 300.0, false)];
        c.cut_short = Some("interrupted <Ctrl-C>".into());
        let mut t = synthetic(3, &["a"]);
        t.capacity = Some(c);
        let html = render(&run_of(vec![t])).unwrap();
        assert!(html.contains("criteria fail even at the lowest rate 50 rps; requirement ≥ 300 rps not met"), "{html}");
        assert!(html.contains(r#"<span class="badge crit-failed">no capacity</span>"#));
        assert!(html.contains("ended before it was precise: interrupted &lt;Ctrl-C&gt;"));
        assert!(!chart_svg(&html, "test-1-capacity").contains(r#"class="knee""#));
    }

    #[test]
    fn without_a_matrix_or_a_search_there_is_no_sweep_and_no_capacity() {
        let html = render(&run_of(repeats("api", 2, &["predict", "ping"]))).unwrap();
        for absent in [
            "card sweep",
            "matrix of",
            "<h3>Capacity</h3>",
            r#"<p class="capacity-headline">"#,
            "class=\"knee\"",
            r#""x_name":"#,
        ] {
            assert!(!html.contains(absent), "{absent}");
        }
        assert!(!html.contains("class=\"dot"), "time charts have no dots");
    }

    #[test]
    fn hostile_parameters_and_criteria_render_as_text() {
        let name = "<b>n</b>";
        let tests = ["1", "2"]
            .iter()
            .map(|n| {
                let mut t = cell_run("x", &[(name, n), ("m", "<script>alert(4)</script>")], 1000);
                t.capacity = Some(Capacity {
                    probes: vec![Probe {
                        failed: vec!["<img src=x onerror=alert(5)>".into()],
                        ..probe(50.0, 9.0, false)
                    }],
                    ..search()
                });
                t
            })
            .collect();
        let html = render(&run_of(tests)).unwrap();
        assert!(!html.contains("<script>alert") && !html.contains("<img") && !html.contains("<b>n"), "{html}");
        assert!(html.contains("m=&lt;script&gt;alert(4)&lt;&#x2f;script&gt;</li>"), "the legend: {html}");
        assert!(
            html.contains("<title>m=&lt;script&gt;alert(4)&lt;/script&gt; at &lt;b&gt;n&lt;/b&gt;=1: "),
            "the dots"
        );
        assert!(html.contains("Throughput (requests&#x2f;s) by &lt;b&gt;n&lt;&#x2f;b&gt;</figcaption>"));
        assert_eq!(html.matches("<script").count(), html.matches(r#"<script type="application/json""#).count() + 1);
    }
}
