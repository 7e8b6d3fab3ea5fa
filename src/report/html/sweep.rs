//! Views over several results of one test file: a matrix sweep (each KPI drawn against a numeric
//! parameter, one line per combination of the other parameters, and a table of the cells) and a
//! capacity search (a headline, latency against achieved throughput, and the probes in run order).
//!
//! A point is a measured figure: a cell that did not run or finish has none (never a zero), and
//! the repeats of a cell are averaged into one point (each repeat keeps its row in the table).

use serde::Serialize;

use super::charts::{self, ChartView, PALETTE};
use super::svg::{Chart, Dot, Line, Marker, XAxis, YUnit, LOG_SPAN};
use super::{ms, pct};
use crate::aggregate::OVERALL;
use crate::outcome::Outcome;
use crate::report::capacity::{Capacity, Probe};
use crate::report::matrix::cell_name;
use crate::report::{Completion, CriterionStatus, RunReport, TestReport};

/// At most this many combinations of the other parameters get a line; the rest are in the table.
const MAX_LINES: usize = 8;

/// A test file's matrix: its cells' table and the charts over each numeric parameter.
#[derive(Serialize)]
pub(super) struct SweepView {
    anchor: String,
    test: String,
    params: Vec<String>,
    /// Whether a cell ran more than once (the table gets a repeat column).
    repeats: bool,
    rows: Vec<CellRow>,
    charts: Vec<ChartView>,
    notes: Vec<String>,
}

/// One run of a cell.
#[derive(Serialize)]
struct CellRow {
    /// The anchor of the run's own section.
    anchor: String,
    name: String,
    /// The parameters' values, in [`SweepView::params`] order (`-` where a cell has none).
    values: Vec<String>,
    repeat: String,
    state: String,
    hits: String,
    rps: String,
    p50: String,
    p95: String,
    p99: String,
    errors: String,
    criteria_passed: usize,
    criteria_failed: usize,
}

/// The figures of a run drawn on the sweep charts.
#[derive(Clone, Copy)]
struct Figures {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    rps: Option<f64>,
    error_pct: Option<f64>,
    users: Option<f64>,
    /// Whether the run passed its criteria.
    passed: bool,
}

/// The runs of one combination of the other parameters: `(x, figures)` in run order.
struct Series {
    key: Vec<(String, String)>,
    runs: Vec<(f64, Figures)>,
}

/// The sweeps of the run, one per test file with a matrix, each with the index of its first run
/// (the sweep goes above it); `anchors` are the runs' section anchors.
pub(super) fn sweeps(run: &RunReport, anchors: &[String]) -> Vec<(usize, SweepView)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, t) in run.tests.iter().enumerate().filter(|(_, t)| !t.cell.is_empty()) {
        match groups.iter_mut().find(|(name, _)| *name == t.test_name()) {
            Some((_, members)) => members.push(i),
            None => groups.push((t.test_name(), vec![i])),
        }
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(k, (test, members))| {
            let cells: Vec<(&TestReport, &str)> =
                members.iter().map(|&i| (&run.tests[i], anchors[i].as_str())).collect();
            (members[0], sweep_view(&format!("sweep-{}", k + 1), test, &cells))
        })
        .collect()
}

fn sweep_view(anchor: &str, test: &str, cells: &[(&TestReport, &str)]) -> SweepView {
    // Parameters in the order first met (`include:` may add one to some cells).
    let mut params: Vec<String> = Vec::new();
    for (t, _) in cells {
        for (name, _) in &t.cell {
            if !params.contains(name) {
                params.push(name.clone());
            }
        }
    }
    let rows = cells.iter().map(|(t, anchor)| cell_row(t, anchor, &params)).collect();
    let mut notes = Vec::new();
    let missing = cells.iter().filter(|(t, _)| figures(t).is_none()).count();
    if missing > 0 {
        notes.push(format!(
            "{} did not run to {} end (not run, interrupted or broken) and {} no point on the charts.",
            plural(missing, "run", "runs"),
            if missing == 1 { "its" } else { "their" },
            if missing == 1 { "has" } else { "have" }
        ));
    }
    let repeats = cells.iter().any(|(t, _)| t.repeat.is_some_and(|(_, n)| n > 1));
    if repeats {
        notes.push("Each point is the mean of the cell's repeats; the table lists every repeat.".into());
    }
    let mut charts = Vec::new();
    for (index, param) in params.iter().enumerate() {
        let Some(xs) = numeric(cells, param) else { continue };
        let series = series(cells, &xs, param);
        if series.len() > MAX_LINES {
            notes.push(format!(
                "Over {param}: the first {MAX_LINES} combinations of the other parameters are drawn; {} more are in the table.",
                series.len() - MAX_LINES
            ));
        }
        let xs = drawn_xs(&series);
        if let (Some(&lo), Some(&hi)) = (xs.first(), xs.last()) {
            if lo > 0.0 && hi / lo >= LOG_SPAN {
                notes.push(format!("{param} is drawn on a log scale."));
            }
        }
        charts.extend(param_charts(&format!("{anchor}-{}", index + 1), param, &series, &xs));
    }
    if !charts.is_empty() {
        notes.push("Dots mark cells that passed their criteria, crosses cells that failed them.".into());
    }
    SweepView { anchor: anchor.into(), test: test.into(), params, repeats, rows, charts, notes }
}

fn cell_row(t: &TestReport, anchor: &str, params: &[String]) -> CellRow {
    let overall = t.totals.get(OVERALL);
    let time = |level: f64| ms(overall.and_then(|o| o.percentile(level)));
    CellRow {
        anchor: anchor.into(),
        name: t.name.clone(),
        values: params.iter().map(|p| value(t, p).unwrap_or("-").to_string()).collect(),
        repeat: t.repeat.map_or_else(|| "1".into(), |(k, n)| format!("{k}/{n}")),
        state: t.state().into(),
        hits: overall.map_or_else(|| "-".into(), |o| o.hits.to_string()),
        rps: overall.filter(|_| t.load_secs > 0.0).map_or_else(|| "-".into(), |o| format!("{:.1}", t.rate(o))),
        p50: time(50.0),
        p95: time(95.0),
        p99: time(99.0),
        errors: overall.map_or_else(|| "-".into(), |o| pct(o.fail, o.hits)),
        criteria_passed: t.criteria.iter().filter(|c| c.status == CriterionStatus::Passed).count(),
        criteria_failed: t
            .criteria
            .iter()
            .filter(|c| matches!(c.status, CriterionStatus::Failed | CriterionStatus::Error))
            .count(),
    }
}

fn value<'a>(t: &'a TestReport, param: &str) -> Option<&'a str> {
    t.cell.iter().find(|(k, _)| k == param).map(|(_, v)| v.as_str())
}

fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Each cell's value of `param` as a number, when every cell has one and there are at least two
/// distinct values (else the parameter is not drawn against).
fn numeric(cells: &[(&TestReport, &str)], param: &str) -> Option<Vec<f64>> {
    let xs: Vec<f64> = cells.iter().map(|(t, _)| value(t, param).and_then(number)).collect::<Option<_>>()?;
    let first = xs.first()?;
    xs.iter().any(|x| x != first).then_some(xs)
}

/// What a run measured, when it ran to its end; `None` for a run that did not (no point).
fn figures(t: &TestReport) -> Option<Figures> {
    let finished =
        t.completion == Completion::Finished && matches!(t.outcome, Outcome::Passed | Outcome::CriteriaFailed);
    let o = t.totals.get(OVERALL).filter(|o| finished && o.hits > 0)?;
    Some(Figures {
        p50: o.percentile(50.0),
        p95: o.percentile(95.0),
        p99: o.percentile(99.0),
        rps: (t.load_secs > 0.0).then(|| t.rate(o)),
        error_pct: Some(o.fail as f64 * 100.0 / o.hits as f64),
        // 0 users means none were observed: not a figure.
        users: (o.concurrency > 0).then_some(o.concurrency as f64),
        passed: t.outcome == Outcome::Passed,
    })
}

/// The finished runs grouped by the values of every parameter but `param`, in the order first met.
fn series(cells: &[(&TestReport, &str)], xs: &[f64], param: &str) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for ((t, _), &x) in cells.iter().zip(xs) {
        let key: Vec<(String, String)> = t.cell.iter().filter(|(k, _)| k != param).cloned().collect();
        let Some(f) = figures(t) else {
            // A combination whose every run failed to finish still gets its legend entry.
            if !series.iter().any(|s| s.key == key) {
                series.push(Series { key, runs: Vec::new() });
            }
            continue;
        };
        match series.iter_mut().find(|s| s.key == key) {
            Some(s) => s.runs.push((x, f)),
            None => series.push(Series { key, runs: vec![(x, f)] }),
        }
    }
    series
}

/// The values of the swept parameter that have a point, ascending.
fn drawn_xs(series: &[Series]) -> Vec<f64> {
    let mut xs: Vec<f64> = series.iter().flat_map(|s| s.runs.iter().map(|(x, _)| *x)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

/// One KPI drawn over the swept parameter: its chart id, legend name (when a line is the only
/// one of its combination), chart title, unit, and how a run's figures give it.
struct Kpi {
    id: &'static str,
    name: &'static str,
    title: &'static str,
    unit: YUnit,
    read: fn(&Figures) -> Option<f64>,
}

const P50: Kpi = Kpi { id: "p50", name: "p50", title: "", unit: YUnit::Seconds, read: |f| f.p50 };
const P95: Kpi = Kpi { id: "p95", name: "p95", title: "p95 response time", unit: YUnit::Seconds, read: |f| f.p95 };
const P99: Kpi = Kpi { id: "p99", name: "p99", title: "", unit: YUnit::Seconds, read: |f| f.p99 };
const THROUGHPUT: Kpi = Kpi {
    id: "throughput",
    name: "throughput",
    title: "Throughput (requests/s)",
    unit: YUnit::Number,
    read: |f| f.rps,
};
const ERRORS: Kpi =
    Kpi { id: "errors", name: "errors", title: "Errors (% of requests)", unit: YUnit::Percent, read: |f| f.error_pct };
const USERS: Kpi = Kpi {
    id: "users",
    name: "active users",
    title: "Active users (most at once)",
    unit: YUnit::Number,
    read: |f| f.users,
};

/// p95, throughput, error % and active users over `param`. With one combination the latency
/// chart also draws p50 and p99; with several, one p95 line per combination stays readable.
fn param_charts(id: &str, param: &str, series: &[Series], xs: &[f64]) -> Vec<ChartView> {
    let drawn = &series[..series.len().min(MAX_LINES)];
    let mut charts = Vec::new();
    for kpi in [P95, THROUGHPUT, ERRORS, USERS] {
        let mut lines = Vec::new();
        let mut dots = Vec::new();
        if kpi.id == "p95" && drawn.len() == 1 {
            for (k, color) in [(P50, PALETTE[2]), (P95, PALETTE[0]), (P99, PALETTE[5])] {
                let (line, line_dots) = curve(&drawn[0], xs, param, &k, k.name.to_string(), color);
                lines.push(line);
                dots.extend(line_dots);
            }
        } else {
            for (i, s) in drawn.iter().enumerate() {
                let name = if s.key.is_empty() { kpi.name.to_string() } else { cell_name(&s.key) };
                let (line, line_dots) = curve(s, xs, param, &kpi, name, PALETTE[i % PALETTE.len()]);
                lines.push(line);
                dots.extend(line_dots);
            }
        }
        let chart = Chart {
            title: format!("{} by {param}", kpi.title),
            unit: kpi.unit,
            lines,
            bands: vec![],
            references: vec![],
            markers: vec![],
            dots,
            x: XAxis::Values { name: param.to_string(), values: xs.to_vec() },
        };
        charts.push(charts::view(id, kpi.id, &format!("{} by {param}", kpi.title), String::new(), chart));
    }
    charts
}

/// One line of `kpi` over `xs` (a gap where the series has no finished run at that x), and a dot
/// on each point: a cross when a run there failed its criteria.
fn curve(s: &Series, xs: &[f64], param: &str, kpi: &Kpi, name: String, color: &'static str) -> (Line, Vec<Dot>) {
    let mut dots = Vec::new();
    let points = xs
        .iter()
        .map(|&x| {
            let runs: Vec<&Figures> = s.runs.iter().filter(|(rx, _)| *rx == x).map(|(_, f)| f).collect();
            let values: Vec<f64> = runs.iter().filter_map(|f| (kpi.read)(f)).collect();
            let y = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
            if let Some(y) = y {
                let passed = runs.iter().all(|f| f.passed);
                // `{x}` is the shortest text that reads back as x: `4`, `0.25`.
                let mut text = format!("{name} at {param}={x}: {}", in_unit(y, kpi.unit));
                if values.len() > 1 {
                    text += &format!(" (mean of {} runs)", values.len());
                }
                if !passed {
                    text += ", criteria failed";
                }
                dots.push(Dot { x, y, color, passed, text });
            }
            (x, y)
        })
        .collect();
    (Line::new(name, color, points), dots)
}

fn in_unit(v: f64, unit: YUnit) -> String {
    match unit {
        YUnit::Seconds => ms(Some(v)),
        YUnit::Percent => format!("{v:.2}%"),
        YUnit::Number => format!("{v:.1}"),
    }
}

/// A rate or parameter value without needless decimals: `560`, `12.5`.
fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A capacity search's result in a test's section.
#[derive(Serialize)]
pub(super) struct CapacityView {
    /// The headline's badge class (`crit-passed`, `crit-failed`, `crit-not-judged`) and word.
    status: &'static str,
    status_word: &'static str,
    headline: String,
    searched: String,
    cut_short: Option<String>,
    chart: ChartView,
    probes: Vec<ProbeRow>,
}

#[derive(Serialize)]
struct ProbeRow {
    /// The probe at the knee.
    knee: bool,
    passed: bool,
    rate: String,
    achieved: String,
    p50: String,
    p95: String,
    p99: String,
    errors: String,
    failed: String,
}

pub(super) fn capacity_view(anchor: &str, c: &Capacity) -> CapacityView {
    let knee = c.knee_probe();
    let (status, status_word) = match (c.knee, c.required) {
        (None, _) => ("crit-failed", "no capacity"),
        (Some(_), Some(_)) if c.met() => ("crit-passed", "requirement met"),
        (Some(_), Some(_)) => ("crit-failed", "requirement not met"),
        (Some(_), None) => ("crit-not-judged", "found"),
    };
    let probes = c
        .probes
        .iter()
        .map(|p| ProbeRow {
            knee: knee.is_some_and(|k| std::ptr::eq(k, p)),
            passed: p.passed,
            rate: short(p.rate),
            achieved: short(p.achieved),
            p50: ms(p.p50_ms.map(|v| v / 1e3)),
            p95: ms(p.p95_ms.map(|v| v / 1e3)),
            p99: ms(p.p99_ms.map(|v| v / 1e3)),
            errors: pct(p.fail, p.hits),
            failed: p.failed.join("; "),
        })
        .collect();
    CapacityView {
        status,
        status_word,
        headline: capacity_headline(c),
        searched: format!(
            "{} to {} rps, until the bracket is within {} % of the knee; {}",
            short(c.low),
            short(c.high),
            short(c.precision * 100.0),
            plural(c.probes.len(), "probe", "probes")
        ),
        cut_short: c.cut_short.clone(),
        chart: capacity_chart(anchor, c),
        probes,
    }
}

/// `capacity 560 rps (p95 88.00 ms, 0.00% errors), between 560 and 590 rps; requirement ≥ 300 rps met`.
fn capacity_headline(c: &Capacity) -> String {
    let mut text = match c.knee {
        None => format!("criteria fail even at the lowest rate {} rps", short(c.low)),
        Some(knee) => {
            let at = c
                .knee_probe()
                .map(|p| format!(" (p95 {}, {} errors)", ms(p.p95_ms.map(|v| v / 1e3)), pct(p.fail, p.hits)))
                .unwrap_or_default();
            match c.failed_at {
                Some(failed) => {
                    format!("capacity {} rps{at}, between {} and {} rps", short(knee), short(knee), short(failed))
                }
                None => {
                    format!("capacity at least {} rps{at}: criteria passed at the highest rate searched", short(knee))
                }
            }
        }
    };
    if let Some(required) = c.required {
        text += &format!("; requirement ≥ {} rps {}", short(required), if c.met() { "met" } else { "not met" });
    }
    text
}

/// p95 and p99 against the achieved rate, each probe marked passed or failed, the knee a line.
fn capacity_chart(anchor: &str, c: &Capacity) -> ChartView {
    let mut probes: Vec<&Probe> = c.probes.iter().filter(|p| p.achieved.is_finite()).collect();
    probes.sort_by(|a, b| a.achieved.total_cmp(&b.achieved));
    let mut lines = Vec::new();
    let mut dots = Vec::new();
    for (name, color, read) in [
        ("p95", PALETTE[0], (|p: &Probe| p.p95_ms) as fn(&Probe) -> Option<f64>),
        ("p99", PALETTE[5], |p: &Probe| p.p99_ms),
    ] {
        let points = probes.iter().map(|p| (p.achieved, read(p).map(|v| v / 1e3))).collect();
        lines.push(Line::new(name, color, points));
        for p in &probes {
            let Some(y) = read(p).map(|v| v / 1e3) else { continue };
            let verdict = if p.passed { "passed".to_string() } else { format!("failed: {}", p.failed.join("; ")) };
            let text = format!(
                "{} rps asked, {} achieved: {name} {}, {verdict}",
                short(p.rate),
                short(p.achieved),
                ms(Some(y))
            );
            dots.push(Dot { x: p.achieved, y, color, passed: p.passed, text });
        }
    }
    let knee = c
        .knee_probe()
        .map(|p| (p.achieved, format!("knee: {} rps asked, {} achieved", short(p.rate), short(p.achieved))));
    let knee = knee.or_else(|| c.knee.map(|k| (k, format!("knee: {} rps", short(k)))));
    let markers: Vec<Marker> = knee.into_iter().map(|(x, text)| Marker { x, text, class: "knee" }).collect();
    let max = probes.iter().map(|p| p.achieved).chain(markers.iter().map(|m| m.x)).fold(0.0, f64::max);
    let chart = Chart {
        title: "Latency against throughput".into(),
        unit: YUnit::Seconds,
        lines,
        bands: vec![],
        references: vec![],
        markers,
        dots,
        x: XAxis::Number { name: "achieved rps".into(), min: 0.0, max: max.max(1.0) },
    };
    let note = "x: requests/s achieved by each probe. Dots: probes that passed every criterion; crosses: \
                probes that failed one. The dashed vertical line is the knee."
        .to_string();
    charts::view(anchor, "capacity", "Latency against throughput (capacity search)", note, chart)
}
