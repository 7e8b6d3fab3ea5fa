//! Comparisons as Markdown, fit for a pull-request comment: a verdict line, then per test a
//! table of the metrics that changed (regressions first) and the rest folded away.

use std::fmt::Write as _;

use super::console::comparison_cells;
use crate::compare::{RowVerdict, TestComparison};

/// The comparisons of several tests under one title (`baseline → candidate`); `unmatched` lists
/// tests only one side has.
pub fn comparisons(title: &str, comparisons: &[TestComparison], unmatched: &[String]) -> String {
    let mut out = String::new();
    let regressed: Vec<&str> = comparisons.iter().filter(|c| c.regressed()).map(|c| c.test.as_str()).collect();
    let _ = writeln!(out, "## Performance comparison: {}\n", cell(title));
    let _ = writeln!(
        out,
        "{}\n",
        if regressed.is_empty() {
            format!("✅ **No regression** in {} test(s).", comparisons.len())
        } else {
            format!(
                "❌ **Regression** in {} of {} test(s): {}.",
                regressed.len(),
                comparisons.len(),
                regressed.join(", ")
            )
        }
    );
    for c in comparisons {
        let _ = writeln!(
            out,
            "### {} {}\n\n{} run(s) against {} baseline run(s) from `{}`; a change counts from {:.0} % and when its 95 % interval leaves zero behind.\n",
            if c.regressed() { "❌" } else { "✅" },
            cell(&c.test),
            c.candidate_runs,
            c.baseline_runs,
            c.baseline_from.replace('`', "'"),
            c.min_effect * 100.0
        );
        let (moved, rest): (Vec<_>, Vec<_>) = c.rows.iter().partition(|r| r.verdict != RowVerdict::Unchanged);
        let mut moved = moved;
        moved.sort_by_key(|r| r.verdict != RowVerdict::Regression);
        let header =
            "| label | metric | baseline | candidate | change | 95 % CI | verdict |\n|---|---|--:|--:|--:|--:|---|\n";
        let row = |r: &crate::compare::Row| {
            let cells = comparison_cells(r);
            let mut cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            if r.verdict == RowVerdict::Regression {
                cells[6] = format!("**{}**", cells[6]);
            }
            format!("| {} |\n", cells.join(" | "))
        };
        if moved.is_empty() {
            out.push_str("Every metric is unchanged.\n\n");
        } else {
            out.push_str(header);
            for r in moved {
                out.push_str(&row(r));
            }
            out.push('\n');
        }
        if !rest.is_empty() {
            let _ = writeln!(out, "<details><summary>{} unchanged metric(s)</summary>\n", rest.len());
            out.push_str(header);
            for r in rest {
                out.push_str(&row(r));
            }
            out.push_str("\n</details>\n\n");
        }
        for note in &c.notes {
            let _ = writeln!(out, "> {}\n", cell(note));
        }
    }
    for u in unmatched {
        let _ = writeln!(out, "- not compared: {}", cell(u));
    }
    out
}

/// Text safe inside a table cell: pipes escaped, no line breaks, no HTML.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Metric, Row};

    fn row(label: &str, metric: Metric, verdict: RowVerdict, change: f64) -> Row {
        Row {
            label: label.into(),
            metric,
            baseline: Some(7.6),
            candidate: Some(7.6 * (1.0 + change)),
            change: Some(change),
            ci: Some((change - 0.05, change + 0.05)),
            baseline_range: Some((7.0, 8.0)),
            verdict,
            measured_noise: true,
            why: None,
        }
    }

    #[test]
    fn regressions_come_first_and_unchanged_rows_fold_away() {
        let c = TestComparison {
            test: "api|x".into(),
            baseline_from: "b/api.baseline.json".into(),
            baseline_runs: 5,
            candidate_runs: 6,
            min_effect: 0.05,
            notes: vec![],
            rows: vec![
                row("predict", Metric::P50, RowVerdict::Unchanged, 0.01),
                row("predict", Metric::P95, RowVerdict::Regression, 0.17),
            ],
        };
        let md = comparisons("a → b", &[c], &["`new` is only in b".into()]);
        assert!(md.contains("❌ **Regression** in 1 of 1 test(s): api|x."), "{md}");
        assert!(md.contains("### ❌ api\\|x"), "{md}");
        let regression =
            md.find("| predict | p95 | 7.60 ms | 8.89 ms | +17 % | +12 % … +22 % | **REGRESSION** |").unwrap();
        let folded = md.find("<details><summary>1 unchanged metric(s)").unwrap();
        assert!(regression < folded, "{md}");
        assert!(md.contains("- not compared: `new` is only in b"));
    }
}
