//! The page's charts: which figures of a test are drawn over its time (throughput, latency
//! percentiles, p95 by label, errors, virtual users, one chart per monitored metric), as [`svg`]
//! drawings plus the compact data the page's script reads for hover read-outs ([`view`], which the
//! sweep and capacity charts share).

use serde::Serialize;

use super::svg::{self, Band, Chart, Line, Marker, Reference, XAxis, YUnit};
use crate::aggregate::OVERALL;
use crate::compare::{Metric, TestComparison};
use crate::report::timeline::{chart_labels, LabelPoint, MonitorSeries, Point, MAX_CHART_LABELS};
use crate::report::{Completion, CriterionRow, TestReport};

/// Line colours (Okabe–Ito, readable with colour-vision deficiencies), overall in dark grey.
pub(super) const PALETTE: [&str; 8] =
    ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D31", "#7F7F7F"];
const OVERALL_COLOR: &str = "#222222";

/// One chart as the template shows it.
#[derive(Serialize)]
pub(super) struct ChartView {
    id: String,
    title: String,
    note: String,
    svg: String,
    legend: Vec<LegendItem>,
    /// Hover data for the script: x values and each line's y values.
    data: ChartData,
}

#[derive(Serialize)]
struct ChartData {
    unit: &'static str,
    /// What a numeric x axis counts (none: the time of the test).
    #[serde(skip_serializing_if = "Option::is_none")]
    x_name: Option<String>,
    x: Vec<f64>,
    series: Vec<SeriesData>,
    /// Baselines, for the read-out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refs: Vec<RefData>,
}

#[derive(Serialize)]
struct RefData {
    name: String,
    color: &'static str,
    value: Option<f64>,
}

#[derive(Serialize)]
struct SeriesData {
    name: String,
    color: &'static str,
    y: Vec<Option<f64>>,
}

#[derive(Serialize)]
struct LegendItem {
    name: String,
    color: &'static str,
    dashed: bool,
    /// A baseline: a shaded strip with its line.
    baseline: bool,
}

fn label_series(points: &[Point], label: &str, f: impl Fn(&LabelPoint) -> Option<f64>) -> Vec<(f64, Option<f64>)> {
    points.iter().map(|p| (p.ts as f64, p.labels.get(label).and_then(&f))).collect()
}

/// Rates are 0, not missing, in spans where a label got no samples.
fn rate_series(points: &[Point], label: &str, f: impl Fn(&LabelPoint) -> f64) -> Vec<(f64, Option<f64>)> {
    points.iter().map(|p| (p.ts as f64, Some(p.labels.get(label).map_or(0.0, &f)))).collect()
}

/// One line per label and a bold `ALL` line of a per-second rate.
fn rate_lines(labels: &[String], points: &[Point], f: impl Fn(&LabelPoint) -> f64) -> Vec<Line> {
    let mut lines: Vec<Line> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| Line::new(l, PALETTE[i % PALETTE.len()], rate_series(points, l, &f)))
        .collect();
    lines.push(Line { bold: true, ..Line::new("ALL", OVERALL_COLOR, rate_series(points, OVERALL, &f)) });
    lines
}

/// The shading behind the overall line when points are thinned: `range` gives the lowest and
/// highest single second of a point's overall figures (none: nothing shaded there).
fn overall_band(
    name: &str,
    color: &'static str,
    points: &[Point],
    thinned: bool,
    range: impl Fn(Option<&LabelPoint>) -> Option<(f64, f64)>,
) -> Vec<Band> {
    if !thinned {
        return Vec::new();
    }
    let points = points.iter().filter_map(|p| range(p.labels.get(OVERALL)).map(|(lo, hi)| (p.ts as f64, lo, hi)));
    vec![Band { name: name.into(), color, points: points.collect() }]
}

/// The timeline's points to draw. The last second of a finished test usually starts when the load
/// has already ended and holds only the few requests that were still in flight; drawn as a rate it
/// would look like a collapse, so it is left out of the charts (its samples are in every table).
fn drawn_points(t: &TestReport) -> &[Point] {
    let points = &t.timeline.points;
    match points.last() {
        Some(last)
            if points.len() > 1 && t.completion == Completion::Finished && last.ts as f64 >= t.load_secs - 0.05 =>
        {
            &points[..points.len() - 1]
        }
        _ => points,
    }
}

/// The baseline of `metric` for each `(label, colour)` the comparison has figures for: the
/// baseline runs' range as a strip, their typical value as a line, in the chart's unit (times
/// are compared in ms and drawn in seconds; throughput is per second on both).
fn baselines(cmp: Option<&TestComparison>, metric: Metric, labels: &[(&str, &'static str)]) -> Vec<Reference> {
    let Some(cmp) = cmp else { return Vec::new() };
    let scale = if metric == Metric::Throughput { 1.0 } else { 1e-3 };
    let runs = match cmp.baseline_runs {
        1 => "1 run".to_string(),
        n => format!("{n} runs"),
    };
    labels
        .iter()
        .filter_map(|&(label, color)| {
            let row = cmp.rows.iter().find(|r| r.metric == metric && r.label == label)?;
            if row.baseline.is_none() && row.baseline_range.is_none() {
                return None;
            }
            let name = if label.is_empty() {
                format!("baseline {} ({runs})", metric.name())
            } else {
                format!("baseline {} ({runs})", row.name())
            };
            let mut detail = name.clone();
            if let Some(v) = row.baseline {
                detail += &format!(": {}", metric.format(v));
            }
            if let Some((lo, hi)) = row.baseline_range {
                detail += &format!(", runs {} to {}", metric.format(lo), metric.format(hi));
            }
            Some(Reference {
                name,
                detail,
                color,
                value: row.baseline.map(|v| v * scale),
                range: row.baseline_range.map(|(lo, hi)| (lo * scale, hi * scale)),
            })
        })
        .collect()
}

pub(super) fn load_charts(anchor: &str, t: &TestReport, cmp: Option<&TestComparison>) -> Vec<ChartView> {
    let points = drawn_points(t);
    let bucket_secs = t.timeline.bucket_secs;
    if points.is_empty() {
        return Vec::new();
    }
    let x_max = points.last().map_or(1.0, |p| (p.ts + p.secs) as f64);
    let thinned = bucket_secs > 1;
    let (labels, hidden) = chart_labels(&t.totals);
    let hidden_note = if hidden > 0 {
        format!("The {MAX_CHART_LABELS} busiest labels are drawn; {hidden} more are in the table.")
    } else {
        String::new()
    };
    let span_note = if thinned {
        format!("Each point covers {} s; shading shows the lowest and highest single second.", bucket_secs)
    } else {
        String::new()
    };
    // KPI criteria (monitoring subjects are `source/metric`).
    let markers = markers(t, |c| !c.subject.contains('/'));
    let chart = |title: &str, unit, lines, bands, references| Chart {
        title: title.into(),
        unit,
        lines,
        bands,
        references,
        markers: markers.clone(),
        dots: vec![],
        x: XAxis::Time(x_max),
    };
    let label_colors: Vec<(&str, &'static str)> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), PALETTE[i % PALETTE.len()])).collect();
    let mut charts = Vec::new();

    let lines = rate_lines(&labels, points, |p| p.rps);
    let bands = overall_band("ALL: lowest–highest second", OVERALL_COLOR, points, thinned, |lp| {
        Some((lp.map_or(0.0, |l| l.rps_min), lp.map_or(0.0, |l| l.rps_max)))
    });
    let mut rate_labels = label_colors.clone();
    rate_labels.push((OVERALL, OVERALL_COLOR));
    let refs = baselines(cmp, Metric::Throughput, &rate_labels);
    let c = chart("Throughput", YUnit::Number, lines, bands, refs);
    charts.push(view(anchor, "throughput", "Throughput (requests/s)", join_notes(&[&span_note, &hidden_note]), c));

    let percentile = |name: &str, color, f: fn(&LabelPoint) -> Option<f64>, dashed| Line {
        dashed,
        ..Line::new(name, color, label_series(points, OVERALL, f))
    };
    let lines = vec![
        percentile("p50", PALETTE[2], |p| p.p50, false),
        percentile("p90", PALETTE[4], |p| p.p90, false),
        percentile("p95", PALETTE[0], |p| p.p95, false),
        percentile("p99", PALETTE[5], |p| p.p99, false),
        percentile("max", PALETTE[7], |p| p.max, true),
    ];
    let bands = overall_band("p99: lowest–highest second", PALETTE[5], points, thinned, |lp| {
        lp.and_then(|l| Some((l.p99_min?, l.p99_max?)))
    });
    let refs =
        [(Metric::P50, PALETTE[2]), (Metric::P90, PALETTE[4]), (Metric::P95, PALETTE[0]), (Metric::P99, PALETTE[5])]
            .into_iter()
            .flat_map(|(metric, color)| baselines(cmp, metric, &[(OVERALL, color)]))
            .collect();
    let c = chart("Response time percentiles", YUnit::Seconds, lines, bands, refs);
    charts.push(view(anchor, "latency", "Response time percentiles (all labels)", span_note.clone(), c));

    if labels.len() > 1 {
        let lines = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Line::new(l, PALETTE[i % PALETTE.len()], label_series(points, l, |p| p.p95)))
            .collect();
        let refs = baselines(cmp, Metric::P95, &label_colors);
        let c = chart("p95 by label", YUnit::Seconds, lines, vec![], refs);
        charts.push(view(anchor, "p95", "p95 response time by label", hidden_note.clone(), c));
    }

    let lines = rate_lines(&labels, points, |p| p.errors_per_sec);
    let total_fail = t.totals.get(OVERALL).map_or(0, |o| o.fail);
    let note = if total_fail == 0 { "No request failed.".into() } else { hidden_note };
    charts.push(view(
        anchor,
        "errors",
        "Errors (failed requests/s)",
        note,
        chart("Errors", YUnit::Number, lines, vec![], vec![]),
    ));

    let vus = points.iter().map(|p| (p.ts as f64, Some(p.vus as f64))).collect();
    let vus = vec![Line::new("virtual users", PALETTE[0], vus)];
    let c = chart("Active virtual users", YUnit::Number, vus, vec![], vec![]);
    charts.push(view(anchor, "vus", "Active virtual users", String::new(), c));
    charts
}

/// Trigger times of the test's criteria that `keep` selects and that triggered.
fn markers(t: &TestReport, keep: impl Fn(&CriterionRow) -> bool) -> Vec<Marker> {
    t.criteria
        .iter()
        .filter(|c| keep(c))
        .filter_map(|c| {
            c.triggered_at.map(|x| Marker { x, text: format!("{}: {}", c.status.word(), c.name), class: "marker" })
        })
        .collect()
}

pub(super) fn monitor_charts(anchor: &str, t: &TestReport) -> Vec<ChartView> {
    let x_end = drawn_points(t).last().map_or(0.0, |p| (p.ts + p.secs) as f64);
    t.monitoring
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .enumerate()
        .map(|(i, s)| monitor_chart(anchor, i, s, x_end, t))
        .collect()
}

fn monitor_chart(anchor: &str, index: usize, s: &MonitorSeries, x_end: f64, t: &TestReport) -> ChartView {
    let x_max = s.points.last().map_or(0.0, |p| p.ts).max(x_end).max(1.0);
    let subject = format!("{}/{}", s.source, s.metric);
    let markers = markers(t, |c| c.subject == subject);
    let thinned = s.points.iter().any(|p| p.min != p.max);
    let bands = if thinned {
        vec![Band {
            name: "lowest–highest value".into(),
            color: PALETTE[0],
            points: s.points.iter().map(|p| (p.ts, p.min, p.max)).collect(),
        }]
    } else {
        Vec::new()
    };
    let lines = vec![Line::new(subject.clone(), PALETTE[0], s.points.iter().map(|p| (p.ts, Some(p.mean))).collect())];
    view(
        anchor,
        &format!("mon-{}", index + 1),
        &subject,
        if thinned { "Line: mean per point; shading: lowest and highest value.".into() } else { String::new() },
        Chart {
            title: subject.clone(),
            unit: YUnit::Number,
            lines,
            bands,
            references: vec![],
            markers,
            dots: vec![],
            x: XAxis::Time(x_max),
        },
    )
}

pub(super) fn view(anchor: &str, id: &str, title: &str, note: String, chart: Chart) -> ChartView {
    let x = chart.lines.first().map(|l| l.points.iter().map(|(x, _)| *x).collect()).unwrap_or_default();
    let data = ChartData {
        unit: match chart.unit {
            YUnit::Seconds => "s",
            YUnit::Number => "n",
            YUnit::Percent => "%",
        },
        x_name: chart.x.name().map(str::to_string),
        x,
        series: chart
            .lines
            .iter()
            .map(|l| SeriesData {
                name: l.name.clone(),
                color: l.color,
                y: l.points.iter().map(|(_, y)| y.map(round4)).collect(),
            })
            .collect(),
        refs: chart
            .references
            .iter()
            .map(|r| RefData { name: r.name.clone(), color: r.color, value: r.value.map(round4) })
            .collect(),
    };
    ChartView {
        id: format!("{anchor}-{id}"),
        title: title.to_string(),
        note: if chart.has_data() { note } else { "No data.".into() },
        svg: svg::svg(&chart),
        legend: chart
            .lines
            .iter()
            .map(|l| LegendItem { name: l.name.clone(), color: l.color, dashed: l.dashed, baseline: false })
            .chain(chart.references.iter().map(|r| LegendItem {
                name: r.name.clone(),
                color: r.color,
                dashed: false,
                baseline: true,
            }))
            .collect(),
        data,
    }
}

/// Four significant digits are plenty for a hover read-out and keep the page small.
fn round4(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

fn join_notes(notes: &[&str]) -> String {
    notes.iter().filter(|n| !n.is_empty()).copied().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round4_keeps_four_significant_digits() {
        assert_eq!(round4(0.00123456), 0.001235);
        assert_eq!(round4(123456.0), 123500.0);
        assert_eq!(round4(0.0), 0.0);
    }
}
