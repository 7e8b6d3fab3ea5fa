//! Console output: a progress line every few seconds while a test runs, a final-stats table per
//! label and the criteria verdicts after each test, and a grid of all tests at the end.

use std::fmt::Write as _;

use super::{CriterionStatus, RunReport, TestReport};
use crate::aggregate::{KpiSet, OVERALL};

/// A progress line for one closed second.
pub fn progress(
    test: &str,
    elapsed_secs: u64,
    total_secs: Option<u64>,
    active: u64,
    second: &KpiSet,
    cumulative: &KpiSet,
) -> String {
    let remaining = total_secs.map(|t| format!("/{}", clock(t))).unwrap_or_default();
    format!(
        "{test}: {}{remaining}  vu {active}  rps {}  p95 {}  errors {} ({:.1}%)  total {}",
        clock(elapsed_secs),
        second.hits,
        ms(second.percentile(95.0)),
        cumulative.fail,
        percent(cumulative.fail, cumulative.hits),
        cumulative.hits,
    )
}

fn clock(secs: u64) -> String {
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

fn ms(secs: Option<f64>) -> String {
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
    let secs = test.duration_secs.max(1e-9);
    let headers = ["label", "hits", "rps", "fail %", "avg", "p50", "p90", "p95", "p99", "max"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let labels = test.totals.iter().filter(|(l, _)| !l.is_empty()).chain(test.totals.get_key_value(OVERALL));
    for (label, set) in labels {
        rows.push(vec![
            if label.is_empty() { "ALL".to_string() } else { label.clone() },
            set.hits.to_string(),
            format!("{:.1}", set.hits as f64 / secs),
            format!("{:.2}", percent(set.fail, set.hits)),
            ms(set.avg_rt()),
            ms(set.percentile(50.0)),
            ms(set.percentile(90.0)),
            ms(set.percentile(95.0)),
            ms(set.percentile(99.0)),
            ms(set.min_max_rt().map(|(_, m)| m)),
        ]);
    }
    let _ = writeln!(
        out,
        "== {} ({}, {:.1}s, {} requests) ==",
        test.name,
        test.outcome.word(),
        test.duration_secs,
        test.sent
    );
    if let Some(error) = &test.error {
        let _ = writeln!(out, "{error}");
    }
    if !rows.is_empty() {
        out.push_str(&table(&headers, &rows));
    }
    for row in &test.criteria {
        let mark = match row.status {
            CriterionStatus::Passed => "PASS  ",
            CriterionStatus::Failed => "FAIL  ",
            CriterionStatus::Notice => "NOTICE",
            CriterionStatus::Error => "ERROR ",
        };
        let _ = writeln!(out, "  {mark} {}  ({})", row.name, row.detail);
    }
    out
}

/// The grid of every test at the end of the run.
pub fn run_summary(run: &RunReport) -> String {
    let headers = ["test", "result", "criteria", "requests", "duration"];
    let rows: Vec<Vec<String>> = run
        .tests
        .iter()
        .map(|t| {
            let failed = t.criteria.iter().filter(|c| c.status == CriterionStatus::Failed).count();
            vec![
                t.name.clone(),
                t.outcome.word().to_string(),
                format!("{}/{} passed", t.criteria.len() - failed, t.criteria.len()),
                t.sent.to_string(),
                format!("{:.1}s", t.duration_secs),
            ]
        })
        .collect();
    format!("{}run {}: {}\n", table(&headers, &rows), run.run_id, run.outcome().word())
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
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[vec!["long".into(), "1".into()], vec!["x".into(), "22".into()]]);
        assert_eq!(t, "a     bb\nlong   1\nx     22\n");
    }
}
