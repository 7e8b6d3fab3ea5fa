//! `comparison_result.csv`, MMS's previous-run comparison table, byte for byte as MMS writes it:
//! `pd.DataFrame(rows, columns=header).to_csv(path)` (`runs/compare.py:56,188` in
//! multi-model-server's `tests/performance`).
//!
//! What pandas does, and this file with it:
//! * the index is written: a first column with an empty header and the row numbers 0, 1, …;
//! * lines end with `\n`; a field is quoted (`"`, doubled inside) when it holds `,`, `"`, `\r` or `\n`;
//! * each column's type is inferred from all its cells, and the type decides the text: a column
//!   with any text (`NA`) is written cell by cell (`str()`: floats as `12.5`, ints as `30`); a
//!   numeric column with a float or a missing value is float64 (ints as `30.0`, missing as ``);
//!   a column of ints only is int64 (`30`); missing values and NaN are empty.
//!
//! MMS's cells: `run1`/`run2` are floats or `None` (`NA` on a skip row), `percentage_diff` a float,
//! the int `0` for equal values or `NA`, `expected_diff` the YAML `diff_percent` (an int as MMS's
//! tests write it) or `NA`.

use crate::compare::diff_percent::{is_int, python_float, DiffResult, DiffRow};

/// The file name, in the run folder.
pub const FILE_NAME: &str = "comparison_result.csv";

/// The header as MMS names its columns (`runs/compare.py:143-144`).
pub const COLUMNS: [&str; 10] = [
    "run_name1",
    "run_name2",
    "test_suite",
    "metric",
    "run1",
    "run2",
    "percentage_diff",
    "expected_diff",
    "result",
    "message",
];

/// A cell as MMS hands it to pandas.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Text(String),
    /// A Python int (whole, below 1e16).
    Int(f64),
    Float(f64),
    None,
}

/// The whole file for all rows of a run (the column types depend on every row, so it is written
/// at once).
pub fn comparison_result_csv(rows: &[DiffRow]) -> String {
    let cells: Vec<Vec<Cell>> = rows.iter().map(cells).collect();
    let columns: Vec<Vec<String>> = (0..COLUMNS.len()).map(|c| column(cells.iter().map(|r| &r[c]))).collect();
    let mut out = String::new();
    out.push_str(&line(std::iter::once("").chain(COLUMNS)));
    for (i, _) in rows.iter().enumerate() {
        let index = i.to_string();
        out.push_str(&line(std::iter::once(index.as_str()).chain(columns.iter().map(|col| col[i].as_str()))));
    }
    out
}

fn cells(row: &DiffRow) -> Vec<Cell> {
    let text = |s: &str| Cell::Text(s.to_string());
    let skip = row.result == DiffResult::Skip;
    let value = |v: Option<f64>| match v {
        _ if skip => text("NA"),
        Some(v) => Cell::Float(v),
        None => Cell::None,
    };
    let diff = match row.percentage_diff {
        _ if skip => text("NA"),
        _ if row.equal_values() => Cell::Int(0.0),
        Some(d) => Cell::Float(d),
        // A failure always has a difference: NaN (stored as `null`).
        None if row.result == DiffResult::Fail => Cell::Float(f64::NAN),
        None => text("NA"),
    };
    let expected = match row.expected_diff {
        _ if skip => text("NA"),
        dp if is_int(dp) => Cell::Int(dp),
        dp => Cell::Float(dp),
    };
    vec![
        text(&row.run1),
        text(&row.run2),
        text(&row.test),
        text(&row.metric),
        value(row.value1),
        value(row.value2),
        diff,
        expected,
        text(row.result.csv_word()),
        text(&row.message),
    ]
}

/// One column's texts, after pandas' type inference over all its cells.
fn column<'a>(cells: impl Iterator<Item = &'a Cell> + Clone) -> Vec<String> {
    let object = cells.clone().any(|c| matches!(c, Cell::Text(_))) || cells.clone().all(|c| *c == Cell::None);
    let float = !object && cells.clone().any(|c| matches!(c, Cell::Float(_) | Cell::None));
    let float_text = |v: f64| if v.is_nan() { String::new() } else { python_float(v) };
    cells
        .map(|c| match c {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) if float => python_float(*v),
            Cell::Int(v) => format!("{v:.0}"),
            Cell::Float(v) => float_text(*v),
            Cell::None => String::new(),
        })
        .collect()
}

/// A record as Python's `csv` module writes it with pandas' settings (QUOTE_MINIMAL, `\n`).
fn line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> =
        fields
            .map(|f| {
                if f.contains([',', '"', '\r', '\n']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.to_string()
                }
            })
            .collect();
    quoted.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::diff_percent::{checks, compare, Figures, Run};

    const HEADER: &str =
        ",run_name1,run_name2,test_suite,metric,run1,run2,percentage_diff,expected_diff,result,message\n";

    fn figures(mean: f64, min: f64, max: f64) -> Figures {
        Figures { mean: Some(mean), min: Some(min), max: Some(max) }
    }

    fn rows(dp: f64, previous: Figures) -> Vec<DiffRow> {
        let current = |_: &str| Some(figures(12.0, 10.0, 1.0));
        let previous = move |_: &str| Some(previous);
        compare(
            "inference",
            Run { name: "cur", monitoring: Some(&current) },
            Run { name: "prev", monitoring: Some(&previous) },
            &checks([("bzt.modules.monitoring.MonitoringCriteria", "ServerLocalClient/cpu", Some(dp))]),
        )
    }

    #[test]
    fn no_rows_is_the_header() {
        assert_eq!(comparison_result_csv(&[]), HEADER);
    }

    // Each expected text below is what pandas 3.1.1 wrote for the same rows
    // (`pd.DataFrame(rows, columns=header).to_csv()`).

    #[test]
    fn ints_stay_ints_when_a_column_has_text() {
        let mut all = rows(30.0, Figures { mean: Some(18.0), max: Some(1.0), min: None });
        all.extend(compare(
            "health_check",
            Run { name: "cur", monitoring: None },
            Run { name: "prev", monitoring: None },
            &[],
        ));
        let expected = HEADER.to_string()
            + "0,cur,prev,inference,mean_cpu,12.0,18.0,40.0,30,fail,The diff_percent criteria has failed. The expected \
               diff_percent is '30' and actual diff percent is '40.0' and the 'cur' run value is '12.0' and 'prev' run \
               value is '18.0'. \n"
            + "1,cur,prev,inference,max_cpu,1.0,1.0,0,30,pass,\n"
            + "2,cur,prev,inference,min_cpu,10.0,,NA,30,error,Either of the value can not be determined. The run1 value \
               is '10.0' and run2 value is None.\n"
            + "3,cur,prev,health_check,metrics_log_file_availability,NA,NA,NA,NA,pass,Metrics monitoring logs are not \
               captured for health_check in either of the runs.\n";
        assert_eq!(comparison_result_csv(&all), expected);
    }

    #[test]
    fn numeric_columns_with_a_float_print_floats() {
        // No `NA` anywhere: percentage_diff mixes 0 with floats (float64: `0.0`); expected_diff is
        // all ints (int64: `30`).
        let all = rows(30.0, figures(12.5, 1e-5, 1.0));
        let text = comparison_result_csv(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "0,cur,prev,inference,mean_cpu,12.0,12.5,4.081632653061225,30,pass,passed");
        assert_eq!(lines[2], "1,cur,prev,inference,max_cpu,1.0,1.0,0.0,30,pass,");
        assert_eq!(
            lines[3],
            "2,cur,prev,inference,min_cpu,10.0,1e-05,199.99960000040002,30,fail,The diff_percent criteria has failed. \
             The expected diff_percent is '30' and actual diff percent is '199.99960000040002' and the 'cur' run value \
             is '10.0' and 'prev' run value is '1e-05'. "
        );

        // A fractional diff_percent with whole ones: the column is float64.
        let mut mixed = rows(30.0, figures(12.0, 10.0, 1.0));
        mixed.extend(rows(30.5, figures(12.0, 10.0, 1.0)));
        let text = comparison_result_csv(&mixed);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "0,cur,prev,inference,mean_cpu,12.0,12.0,0,30.0,pass,");
        assert_eq!(lines[4], "3,cur,prev,inference,mean_cpu,12.0,12.0,0,30.5,pass,");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn only_missing_values_print_empty() {
        let none = |_: &str| None;
        let all = compare(
            "t",
            Run { name: "cur", monitoring: Some(&none) },
            Run { name: "prev", monitoring: Some(&none) },
            &checks([("monitoring", "a/cpu", Some(30.0))]),
        );
        let text = comparison_result_csv(&all[..1]);
        assert_eq!(
            text,
            HEADER.to_string()
                + "0,cur,prev,t,mean_cpu,,,NA,30,error,Either of the value can not be determined. The run1 value is \
                   'None' and run2 value is None.\n"
        );
    }

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        let mut all = compare("a,b", Run { name: "c\"1", monitoring: None }, Run { name: "p", monitoring: None }, &[]);
        all[0].message = "line\nbreak".into();
        assert_eq!(
            comparison_result_csv(&all),
            HEADER.to_string()
                + "0,\"c\"\"1\",p,\"a,b\",metrics_log_file_availability,NA,NA,NA,NA,pass,\"line\nbreak\"\n"
        );
    }
}
