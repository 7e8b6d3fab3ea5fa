//! Console output: a live progress bar while a test runs (a line every few seconds when stdout
//! is not a terminal, so logs stay readable), a final-stats table per label (and, for open-model
//! runs that sent requests late, their send lateness) and the criteria verdicts after each test,
//! and a grid of all tests at the end.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::capacity::{Capacity, Probe};
use super::{label_name, CriterionStatus, RunReport, TestReport};
use crate::aggregate::KpiSet;
use crate::compare::diff_percent::{DiffResult, DiffRow};
use crate::compare::{stats, Baseline, Metric, Row, RowVerdict, TestComparison};

/// Widest a label (or a test name) is shown in a console table, in characters; the files keep
/// the whole label.
pub const LABEL_WIDTH: usize = 60;
/// Widest a criterion's text or detail is shown.
const LINE_WIDTH: usize = 160;

/// `text` made safe for a terminal: control characters (ANSI escapes, bells, carriage returns,
/// C1 controls) are written as visible `\u{1b}` text so they cannot move the cursor or recolour
/// it, and text longer than `width` characters keeps its start and end with `…` in the middle.
pub fn shown(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len().min(width.saturating_mul(4)));
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    let chars = out.chars().count();
    if chars <= width || width == 0 {
        return out;
    }
    let head = (width - 1).div_ceil(2);
    let tail = width - 1 - head;
    let mut cut: String = out.chars().take(head).collect();
    cut.push('…');
    cut.extend(out.chars().skip(chars - tail));
    cut
}

/// A label as a table cell: `ALL` for the overall figures, neutralised and cut to [`LABEL_WIDTH`].
fn label_cell(label: &str) -> String {
    shown(&label_name(label), LABEL_WIDTH)
}

/// A progress line for one closed second: elapsed and remaining time, virtual users, the second's
/// rate and p95, and the errors so far. The clock stops at the planned duration; seconds after it
/// (requests in flight finishing) show as time past the end: `00:04/00:04 (+00:01 past end)`.
pub fn progress(
    test: &str,
    elapsed_secs: u64,
    total_secs: Option<u64>,
    active: u64,
    second: &KpiSet,
    cumulative: &KpiSet,
) -> String {
    let (shown_secs, remaining) = match total_secs {
        Some(t) if elapsed_secs > t => (t, format!("/{} (+{} past end)", clock(t), clock(elapsed_secs - t))),
        Some(t) => (elapsed_secs, format!("/{} ({} left)", clock(t), clock(t - elapsed_secs))),
        None => (elapsed_secs, String::new()),
    };
    format!(
        "{}: {}{remaining}  vu {active}  rps {}  p95 {}  errors {} ({:.1}%)  total {}",
        shown(test, LABEL_WIDTH),
        clock(shown_secs),
        second.hits,
        ms(second.percentile(95.0)),
        cumulative.fail,
        percent(cumulative.fail, cumulative.hits),
        cumulative.hits,
    )
}

/// Shows progress: on a terminal an indicatif bar (the line above, cut to the terminal's width,
/// and a bar of the test's duration when it has one), updated every second; otherwise a new line
/// every `every` seconds (CI logs and the integration tests read stdout).
pub struct Progress {
    bar: Option<ProgressBar>,
    every: u64,
}

impl Progress {
    /// Progress on stdout for a test of `total_secs` (None: it runs by iterations).
    pub fn new(every: u64, total_secs: Option<u64>) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total_secs, ProgressDrawTarget::stdout());
            // The bar first: a narrow terminal cuts the line's tail (the totals), not the bar.
            let template = if total_secs.is_some() { "[{bar:20}] {wide_msg}" } else { "{wide_msg}" };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar, every: every.max(1) }
    }

    /// Called once per closed second (`elapsed` seconds into the load); `line` makes the text.
    pub fn second(&mut self, elapsed: u64, line: impl FnOnce() -> String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(bar.length().map_or(elapsed, |len| elapsed.min(len)));
                bar.set_message(line());
            }
            None if elapsed.is_multiple_of(self.every) => crate::outln!("{}", line()),
            None => {}
        }
    }

    /// Removes the bar so later output starts on a clean line.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn clock(secs: u64) -> String {
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

pub(crate) fn ms(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s >= 1.0 => format!("{s:.2}s"),
        Some(s) => format!("{:.2}ms", s * 1000.0),
        None => "-".to_string(),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The final-stats table and criteria verdicts of one test.
pub fn test_summary(test: &TestReport) -> String {
    let mut out = String::new();
    let headers = ["label", "hits", "rps", "fail %", "avg", "p50", "p90", "p95", "p99", "max"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (label, set) in test.labels() {
        let mut row = vec![label_cell(label), set.hits.to_string(), format!("{:.1}", test.rate(set))];
        row.extend([format!("{:.2}", percent(set.fail, set.hits)), ms(set.avg_rt())]);
        row.extend([50.0, 90.0, 95.0, 99.0].map(|p| ms(set.percentile(p))));
        row.push(ms(set.min_max_rt().map(|(_, m)| m)));
        rows.push(row);
    }
    let name = shown(&test.name, LABEL_WIDTH);
    let _ = writeln!(out, "== {name} ({}, {:.1}s, {} requests) ==", test.state(), test.duration_secs, test.sent);
    if let Some(error) = &test.error {
        for line in error.lines() {
            let _ = writeln!(out, "{}", shown(line, usize::MAX));
        }
    }
    if !rows.is_empty() {
        out.push_str(&table(&headers, &rows));
    }
    let late: Vec<Vec<String>> = test
        .labels()
        .filter(|(_, set)| set.hist_corrected.is_some())
        .map(|(label, set)| {
            let mut row = vec![label_cell(label), ms(set.avg_lag())];
            row.extend([50.0, 90.0, 99.0].map(|p| ms(set.lag_percentile(p))));
            row.push(ms(set.max_lag()));
            row
        })
        .collect();
    if !late.is_empty() {
        out.push_str("send lateness (requests went out after their scheduled time):\n");
        out.push_str(&table(&["label", "lag avg", "lag p50", "lag p90", "lag p99", "lag max"], &late));
    }
    let streamed: Vec<Vec<String>> = test
        .labels()
        .filter_map(|(label, set)| Some((label, set.stream.as_deref()?)))
        .map(|(label, k)| {
            let mut row = vec![label_cell(label), ms(k.avg_ttft())];
            row.extend([50.0, 95.0, 99.0].map(|p| ms(k.ttft_percentile(p))));
            row.push(ms(k.avg_itl()));
            row.extend([50.0, 99.0].map(|p| ms(k.itl_percentile(p))));
            row.push(k.events_per_sample().map_or("-".into(), |n| format!("{n:.1}")));
            row.push(if k.token_samples > 0 { k.tokens.to_string() } else { "-".into() });
            row.push(k.tokens_per_s().map_or("-".into(), |n| format!("{n:.1}")));
            row
        })
        .collect();
    if !streamed.is_empty() {
        out.push_str("streamed responses (time to first token, inter-token latency):\n");
        let headers = [
            "label", "ttft avg", "ttft p50", "ttft p95", "ttft p99", "itl avg", "itl p50", "itl p99", "events",
            "tokens", "tokens/s",
        ];
        out.push_str(&table(&headers, &streamed));
    }
    for row in &test.criteria {
        let mark = match row.status {
            CriterionStatus::Passed => "PASS  ",
            CriterionStatus::Failed => "FAIL  ",
            CriterionStatus::Notice => "NOTICE",
            CriterionStatus::Error => "ERROR ",
            CriterionStatus::Pending => "-     ",
        };
        let _ = writeln!(out, "  {mark} {}  ({})", shown(&row.name, LINE_WIDTH), shown(&row.detail, LINE_WIDTH));
    }
    out
}

/// The grid of every test at the end of the run.
pub fn run_summary(run: &RunReport) -> String {
    let headers = ["test", "result", "criteria", "requests", "errors", "p95", "duration"];
    let rows: Vec<Vec<String>> = run
        .tests
        .iter()
        .map(|t| {
            let passed = t.criteria.iter().filter(|c| c.status == CriterionStatus::Passed).count();
            let overall = t.totals.get(crate::aggregate::OVERALL);
            vec![
                shown(&t.name, LABEL_WIDTH),
                t.state().to_string(),
                format!("{passed}/{} passed", t.criteria.len()),
                t.sent.to_string(),
                overall.map_or_else(|| "-".into(), |o| format!("{:.2}%", percent(o.fail, o.hits))),
                ms(overall.and_then(|o| o.percentile(95.0))),
                format!("{:.1}s", t.duration_secs),
            ]
        })
        .collect();
    format!("{}run {}: {}\n", table(&headers, &rows), run.run_id, run.outcome().word())
}

/// A test's comparison with its baseline: one row per label and metric, regressions marked.
pub fn comparison(c: &TestComparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "== {} vs baseline ({} run(s) vs {} run(s) of {}) ==",
        shown(&c.test, LABEL_WIDTH),
        c.candidate_runs,
        c.baseline_runs,
        shown(&c.baseline_from, usize::MAX)
    );
    let rows: Vec<Vec<String>> = c.rows.iter().map(|r| comparison_cells(r).to_vec()).collect();
    if !rows.is_empty() {
        out.push_str(&table(&["label", "metric", "baseline", "candidate", "change", "95 % CI", "verdict"], &rows));
    }
    for note in c.notes.iter().cloned().chain(c.rows.iter().filter(|r| r.why.is_some()).map(Row::message)) {
        let _ = writeln!(out, "  note: {}", shown(&note, usize::MAX));
    }
    let regressions = c.regressions().count();
    let _ = writeln!(
        out,
        "  {}",
        if regressions == 0 { "no regression".to_string() } else { format!("REGRESSION in {regressions} metric(s)") }
    );
    out
}

/// The cells of one comparison row: label, metric, baseline, candidate, change, CI, verdict.
pub fn comparison_cells(r: &Row) -> [String; 7] {
    let m = r.metric;
    let value = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| m.format(v));
    let verdict = match r.verdict {
        RowVerdict::Regression => "REGRESSION".to_string(),
        v if !r.measured_noise && r.change.is_some() => format!("{} (default noise)", v.word()),
        v => v.word().to_string(),
    };
    let only_one_side = matches!(r.verdict, RowVerdict::New | RowVerdict::Missing);
    [
        label_cell(&r.label),
        if only_one_side { "-".to_string() } else { m.name().to_string() },
        value(r.baseline),
        value(r.candidate),
        r.change.map_or_else(|| "-".into(), |c| m.format_change(c)),
        r.ci.map_or_else(|| "-".into(), |(lo, hi)| format!("{} … {}", m.format_change(lo), m.format_change(hi))),
        verdict,
    ]
}

/// MMS's `diff_percent` rows of a test: one line per metric × aggregate.
pub fn diff_percent(test: &str, rows: &[DiffRow]) -> String {
    let mut out = String::new();
    if let Some(first) = rows.first() {
        let _ = writeln!(out, "== {} diff_percent vs {} ==", shown(test, LABEL_WIDTH), first.run2);
    }
    for row in rows {
        let mark = match row.result {
            DiffResult::Pass => "PASS  ",
            DiffResult::Fail => "FAIL  ",
            DiffResult::Error => "ERROR ",
            DiffResult::Skip => "SKIP  ",
        };
        let detail = if row.message.is_empty() || row.message == "passed" {
            let v = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{v}"));
            format!("{} vs {}", v(row.value1), v(row.value2))
        } else {
            row.message.clone()
        };
        let _ = writeln!(out, "  {mark} {}  ({})", shown(&row.testcase_name(), LINE_WIDTH), shown(&detail, usize::MAX));
    }
    out
}

/// Where a baseline went and the noise between its runs: per label and metric the spread
/// (coefficient of variation, or points for the fail rate) and the runs each side needs for a
/// change of `detect` to be flagged 95 % of the time.
pub fn baseline_noise(b: &Baseline, path: &std::path::Path, detect: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "baseline {}: {} run(s) of {} ({})", path.display(), b.runs.len(), b.test, b.source);
    if b.runs.len() < 2 {
        let _ = writeln!(
            out,
            "  one run: no spread between runs to measure; comparisons with it use the default noise model"
        );
        return out;
    }
    let detect_text = format!("runs for ±{:.0} %", detect * 100.0);
    let mut rows = Vec::new();
    let mut labels: Vec<&String> = b.labels.keys().collect();
    labels.sort_by_key(|l| (l.is_empty(), l.as_str()));
    for label in labels {
        for metric in Metric::DEFAULT {
            let values = b.values(label, metric);
            if values.len() < 2 {
                continue;
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let noise = stats::noise_of(&values, metric.scale(0.0, 0.0));
            let needed = noise
                .filter(|_| metric.is_ratio())
                .and_then(|cv| stats::runs_needed(cv, detect, stats::DEFAULT_SESSION_NOISE));
            rows.push(vec![
                label_cell(label),
                metric.name().to_string(),
                values.len().to_string(),
                metric.format(mean),
                match noise {
                    Some(n) if metric.is_ratio() => format!("{:.1} %", n * 100.0),
                    Some(n) => format!("{n:.2} pp"),
                    None => "-".into(),
                },
                needed.map_or_else(|| "-".into(), |n| n.to_string()),
            ]);
        }
    }
    out.push_str(&table(&["label", "metric", "runs", "mean", "between-run CV", &detect_text], &rows));
    out
}

/// One probe of a capacity search, as it ends.
pub fn probe_line(k: usize, p: &Probe) -> String {
    let verdict = match p.passed {
        true => "pass".to_string(),
        false => format!("FAIL ({})", p.failed.join("; ")),
    };
    format!(
        "probe {k}: {} requests/s -> {:.1}/s achieved, p50 {}, p95 {}, p99 {}, {:.2}% errors: {verdict}",
        super::capacity::rate_text(p.rate),
        p.achieved,
        ms(p.p50_ms.map(|v| v / 1000.0)),
        ms(p.p95_ms.map(|v| v / 1000.0)),
        ms(p.p99_ms.map(|v| v / 1000.0)),
        p.fail_percent()
    )
}

/// A capacity search's probes and the knee it found.
pub fn capacity(c: &Capacity) -> String {
    let headers = ["probe", "rate", "achieved", "p50", "p95", "p99", "fail %", "verdict"];
    let rows: Vec<Vec<String>> = c
        .probes
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let secs = |v: Option<f64>| ms(v.map(|v| v / 1000.0));
            vec![
                (k + 1).to_string(),
                super::capacity::rate_text(p.rate),
                format!("{:.1}", p.achieved),
                secs(p.p50_ms),
                secs(p.p95_ms),
                secs(p.p99_ms),
                format!("{:.2}", p.fail_percent()),
                if p.passed { "pass".into() } else { "FAIL".into() },
            ]
        })
        .collect();
    let mut out = table(&headers, &rows);
    out += &c.summary();
    out.push('\n');
    out
}

/// A plain text table with aligned columns.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_shows_only_when_requests_went_out_late() {
        use crate::sample::Sample;
        let sample = |lag_us| Sample { lag_us, ..Sample::fake(2000, 200) };
        let mut t = TestReport::new("t", std::path::Path::new("t.yaml"), 1);
        t.totals.entry("on-time".into()).or_default().record(&sample(0));
        assert!(!test_summary(&t).contains("lateness"));
        let late = t.totals.entry("late".into()).or_default();
        late.record(&sample(0));
        late.record(&sample(300_000));
        let text = test_summary(&t);
        assert!(text.contains("lag p99"), "{text}");
        let row = text.lines().rfind(|l| l.starts_with("late ")).unwrap_or_default();
        assert!(row.contains("150.00ms") && row.contains("0.00ms") && row.contains("300."), "{text}");
        assert!(!text.lines().skip_while(|l| !l.contains("lag p99")).any(|l| l.starts_with("on-time")), "{text}");
    }

    #[test]
    fn streamed_labels_get_a_stream_table() {
        use crate::sample::{Sample, StreamTimes};
        let mut t = TestReport::new("t", std::path::Path::new("t.yaml"), 1);
        t.totals.entry("plain".into()).or_default().record(&Sample::fake(2000, 200));
        assert!(!test_summary(&t).contains("ttft"));
        let times =
            StreamTimes { first_us: Some(50_000), last_us: 70_000, gaps_us: vec![20_000], events: 3, tokens: Some(2) };
        t.totals
            .entry("llm".into())
            .or_default()
            .record(&Sample { stream: Some(Box::new(times)), ..Sample::fake(80_000, 200) });
        let text = test_summary(&t);
        let row = text.lines().rfind(|l| l.starts_with("llm ")).unwrap_or_default();
        assert!(row.contains("50.00ms") && row.contains("20.00ms") && row.contains("28.6"), "{text}");
        assert!(!text.lines().skip_while(|l| !l.contains("ttft p99")).any(|l| l.starts_with("plain")), "{text}");
    }

    #[test]
    fn labels_are_neutralised_and_cut_to_a_width() {
        assert_eq!(shown("a\u{1b}[31mred\u{7}\r", 80), "a\\u{1b}[31mred\\u{7}\\u{d}");
        assert_eq!(shown("héllo", 5), "héllo");
        assert_eq!(shown("a\u{1b}", usize::MAX), "a\\u{1b}", "error lines are neutralised, not cut");
        assert_eq!(shown("abcdefghij", 5), "ab…ij");
        assert_eq!(shown("abcdefghij", 6), "abc…ij");
        let long = format!("/start{}end", "x".repeat(100_000));
        let cut = shown(&long, LABEL_WIDTH);
        assert_eq!(cut.chars().count(), LABEL_WIDTH);
        assert!(cut.starts_with("/start") && cut.ends_with("xend") && cut.contains('…'), "{cut}");

        let mut t = TestReport::new("t", std::path::Path::new("t.yaml"), 1);
        t.totals.entry(long.clone()).or_default().record(&crate::sample::Sample::fake(1000, 200));
        t.totals.entry("\u{1b}[2J\u{1b}[31mred".into()).or_default().record(&crate::sample::Sample::fake(1000, 200));
        let text = test_summary(&t);
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("\\u{1b}[2J\\u{1b}[31mred"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() < 200), "{text}");
    }

    #[test]
    fn the_clock_stops_at_the_planned_end_and_shows_the_overrun() {
        let set = KpiSet::default();
        let line = |elapsed, total| progress("t", elapsed, total, 2, &set, &set);
        assert!(line(3, Some(4)).starts_with("t: 00:03/00:04 (00:01 left)  vu 2"), "{}", line(3, Some(4)));
        assert!(line(4, Some(4)).starts_with("t: 00:04/00:04 (00:00 left)"), "{}", line(4, Some(4)));
        assert!(line(5, Some(4)).starts_with("t: 00:04/00:04 (+00:01 past end)"), "{}", line(5, Some(4)));
        assert!(line(65, None).starts_with("t: 01:05  vu"), "{}", line(65, None));
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[vec!["long".into(), "1".into()], vec!["x".into(), "22".into()]]);
        assert_eq!(t, "a     bb\nlong   1\nx     22\n");
    }
}
