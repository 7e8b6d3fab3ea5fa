//! Readers for the files a run writes, one per format, so every test reads an artifact the same
//! way: CSV through the csv crate, JUnit through an XML parser, `summary.json` checked against
//! `docs/summary.schema.json` by a JSON Schema validator.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One CSV row: column name → value.
pub type Row = BTreeMap<String, String>;

/// The rows of a CSV artifact (`final_stats.csv`, `kpi.csv`, `SAlogs_*.csv`), in file order.
pub fn csv_rows(path: &Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap_or_else(|e| panic!("{}: {e}", path.display())).clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            header.iter().map(str::to_string).zip(r.iter().map(str::to_string)).collect()
        })
        .collect()
}

/// `final_stats.csv`: one row per label in the order written, the overall row (empty label) last.
pub fn final_stats(path: &Path) -> Vec<Row> {
    csv_rows(path)
}

/// `final_stats.csv` as label → row.
pub fn final_stats_by_label(path: &Path) -> std::collections::HashMap<String, Row> {
    assert!(path.is_file(), "no {}", path.display());
    final_stats(path).into_iter().map(|row| (row["label"].clone(), row)).collect()
}

/// A figure of one label in a [`final_stats_by_label`] table (0 when the column is absent or empty).
pub fn stat(stats: &std::collections::HashMap<String, Row>, label: &str, column: &str) -> u64 {
    let row = stats.get(label).unwrap_or_else(|| panic!("no label `{label}` in {stats:?}"));
    row.get(column).and_then(|v| v.parse::<f64>().ok()).map_or(0, |v| v as u64)
}

/// The header row of Locust's `<name>_stats.csv`, as Locust 2.47.0 wrote it (run headless with
/// `--csv` against demo-target); embedded so no test needs Locust installed.
pub const LOCUST_STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// The header row of Locust's `<name>_stats_history.csv`, as Locust 2.47.0 wrote it (with and
/// without `--csv-full-history`).
pub const LOCUST_HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

/// A Locust CSV file (`<test>_stats.csv` or `<test>_stats_history.csv`): checks that its first
/// line is `header` and that every line ends in CRLF, as Python's `csv` writes them; its rows.
pub fn locust_csv(path: &Path, header: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(text.split("\r\n").next(), Some(header), "{}: header", path.display());
    assert!(text.ends_with("\r\n"), "{}: CRLF line ends", path.display());
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "{}: CRLF line ends", path.display());
    csv_rows(path)
}

/// `summary.json`, after checking it against `docs/summary.schema.json`.
pub fn summary(path: &Path) -> Value {
    let value = json(path);
    if let Err(errors) = summary_schema_errors(&value) {
        panic!("{} does not match docs/summary.schema.json:\n{}", path.display(), errors.join("\n"));
    }
    value
}

/// What `docs/summary.schema.json` finds wrong with a document, as `<JSON pointer>: <error>` lines.
pub fn summary_schema_errors(value: &Value) -> Result<(), Vec<String>> {
    let schema = json(&super::repo().join("docs/summary.schema.json"));
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("docs/summary.schema.json: {e}"));
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{}: {e}", e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// A JUnit XML file (`junit.xml`, a test's `xunit.xml`, a sample-labels view), parsed as XML.
/// Displays as its text, for assertion messages.
pub struct Junit {
    path: PathBuf,
    /// The file's text.
    pub text: String,
}

/// One `<testcase>` of a [`Junit`] file.
#[derive(Debug, PartialEq, Eq)]
pub struct Case {
    /// Whether it has a `<failure>`.
    pub failed: bool,
    /// Whether it has an `<error>`.
    pub errored: bool,
}

impl Junit {
    /// Reads and parses the file; not well-formed XML fails the test.
    pub fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let junit = Junit { path: path.to_path_buf(), text };
        junit.doc();
        junit
    }

    fn doc(&self) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(&self.text)
            .unwrap_or_else(|e| panic!("{} is not XML: {e}\n{}", self.path.display(), self.text))
    }

    /// Number of elements named `tag` (`testsuite`, `testcase`, `failure`, `error`, `skipped`).
    pub fn count(&self, tag: &str) -> usize {
        self.doc().descendants().filter(|n| n.has_tag_name(tag)).count()
    }

    /// Number of `<testsuite>`s named `name`.
    pub fn suites_named(&self, name: &str) -> usize {
        self.doc().descendants().filter(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some(name)).count()
    }

    /// The first `<testcase>` named `name`, if any.
    pub fn case(&self, name: &str) -> Option<Case> {
        let doc = self.doc();
        let case = doc.descendants().find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))?;
        let has = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
        Some(Case { failed: has("failure"), errored: has("error") })
    }

    /// The `message` attribute and text of every `<failure>`, in order.
    pub fn failures(&self) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.has_tag_name("failure"))
            .map(|n| format!("{} {}", n.attribute("message").unwrap_or_default(), n.text().unwrap_or_default()))
            .collect()
    }

    /// Validates the file with xmllint against Jenkins's junit-10.xsd (vendored in tests/fixtures).
    pub fn assert_schema_valid(&self) {
        let xsd = super::repo().join("tests/fixtures/junit-10.xsd");
        let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(&self.path).output();
        let out = out.expect("xmllint is needed for JUnit schema checks: apt-get install libxml2-utils");
        assert!(
            out.status.success(),
            "{} is not valid against junit-10.xsd:\n{}",
            self.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl fmt::Display for Junit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The run's `matrix.csv`: one row per matrix cell run, in run order.
pub fn matrix_csv(path: &Path) -> Vec<Row> {
    csv_rows(path)
}
