//! `matrix.csv`: one row per run of a matrix cell (parameters × KPIs × verdicts), every test of
//! the run with a matrix in one file, as Howitzer's scraper consolidates its results.

use std::collections::BTreeSet;

use super::{CriterionStatus, Error, Export, RunReport, TestReport};
use crate::aggregate::{KpiSet, OVERALL};
pub use crate::plan::matrix::cell_name;

/// The run folder's matrix file.
pub const FILE_NAME: &str = "matrix.csv";

/// A parameter's value as JSON: a number when it reads as one (so a sweep plots without
/// conversion), else the text.
pub fn typed(value: &str) -> serde_json::Value {
    if let Ok(n) = value.parse::<i64>() {
        return n.into();
    }
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() && !value.trim().is_empty() => {
            serde_json::Number::from_f64(f).map_or_else(|| value.into(), Into::into)
        }
        _ => value.into(),
    }
}

/// The runs of `run` that are matrix cells, in run order.
pub fn cells(run: &RunReport) -> impl Iterator<Item = &TestReport> {
    run.tests.iter().filter(|t| !t.cell.is_empty())
}

/// `matrix.csv`, written when a test of the run has a matrix.
pub struct MatrixCsv;

impl Export for MatrixCsv {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn wanted(&self, run: &RunReport) -> bool {
        cells(run).next().is_some()
    }

    fn render(&self, run: &RunReport) -> Result<Vec<u8>, Error> {
        // Parameters of every matrix, in the order first met.
        let mut params: Vec<&str> = Vec::new();
        for t in cells(run) {
            for (name, _) in &t.cell {
                if !params.contains(&name.as_str()) {
                    params.push(name);
                }
            }
        }
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<&str> = vec!["test", "cell"];
        header.extend(&params);
        header.extend([
            "repeat",
            "state",
            "hits",
            "fail",
            "fail_percent",
            "rps",
            "users",
            "avg_ms",
            "p50_ms",
            "p90_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "criteria_passed",
            "criteria_failed",
            "failed_criteria",
        ]);
        out.write_record(&header).map_err(csv_error)?;
        let empty = KpiSet::default();
        for t in cells(run) {
            let set = t.totals.get(OVERALL).unwrap_or(&empty);
            let ms = |v: Option<f64>| v.map(|s| format!("{:.3}", s * 1000.0)).unwrap_or_default();
            let mut row: Vec<String> = vec![t.test_name().to_string(), cell_name(&t.cell)];
            for p in &params {
                row.push(t.cell.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone()).unwrap_or_default());
            }
            row.push(t.repeat.map(|(k, _)| k.to_string()).unwrap_or_else(|| "1".into()));
            row.push(t.state().to_string());
            row.push(set.hits.to_string());
            row.push(set.fail.to_string());
            row.push(if set.hits > 0 {
                format!("{:.3}", set.fail as f64 * 100.0 / set.hits as f64)
            } else {
                String::new()
            });
            row.push(format!("{:.3}", t.rate(set)));
            row.push(set.concurrency.to_string());
            row.push(ms(set.avg_rt()));
            for level in [50.0, 90.0, 95.0, 99.0] {
                row.push(ms(set.percentile(level)));
            }
            row.push(ms(set.min_max_rt().map(|(_, max)| max)));
            let failed: BTreeSet<&str> = t
                .criteria
                .iter()
                .filter(|c| matches!(c.status, CriterionStatus::Failed | CriterionStatus::Error))
                .map(|c| c.name.as_str())
                .collect();
            let passed = t.criteria.iter().filter(|c| c.status == CriterionStatus::Passed).count();
            row.push(passed.to_string());
            row.push(failed.len().to_string());
            row.push(failed.into_iter().collect::<Vec<_>>().join("; "));
            out.write_record(&row).map_err(csv_error)?;
        }
        out.into_inner().map_err(|e| csv_error(e.into_error().into()))
    }
}

fn csv_error(e: csv::Error) -> Error {
    Error::io(std::path::Path::new(FILE_NAME), std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_read_as_numbers_are_numbers() {
        assert_eq!(typed("16"), serde_json::json!(16));
        assert_eq!(typed("0.5"), serde_json::json!(0.5));
        assert_eq!(typed("resnet-18"), serde_json::json!("resnet-18"));
        assert_eq!(typed("nan"), serde_json::json!("nan"));
        assert_eq!(cell_name(&[("a".into(), "1".into()), ("b".into(), "x".into())]), "a=1,b=x");
    }
}
