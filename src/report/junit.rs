//! JUnit XML for CI: one `<testsuite>` per test file, one `<testcase>` per criterion named by its
//! text. A failed criterion carries a `<failure>` with the observed value, the threshold and when
//! it triggered; a criterion that could not be judged, or a test that could not run, an `<error>`;
//! a test without criteria one skipped case. The output validates against Jenkins's junit-10.xsd.
//!
//! Taurus's other view, `data-source: sample-labels`, has one test case per sample label, with an
//! `<error>` (a `<failure>` for assertion errors) when the label had failed samples. A test whose
//! `junit-xml` reporter asks for it gets it in its own file and as a second suite in the run's
//! `junit.xml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::capacity::{rate_text, Capacity};
use super::{CriterionStatus, RunReport, TestReport};
use crate::compare::diff_percent::{DiffResult, DiffRow};
use crate::compare::{RowVerdict, TestComparison};
use crate::plan::{JunitReporter, JunitSource};

/// File a `sample-labels` reporter writes in the test folder when it names no `filename`.
pub const SAMPLE_LABELS_FILE: &str = "sample-labels.xml";

/// Class name of a test's cases: stable across runs (Taurus uses a random object hash).
fn classname(test: &TestReport) -> String {
    format!("suite.{}", test.name)
}

/// The `<testsuite>` of one test.
pub fn test_suite(test: &TestReport) -> TestSuite {
    let mut suite = TestSuite::new(test.name.as_str());
    suite.set_time(Duration::from_secs_f64(test.duration_secs.max(0.0)));
    suite.add_property(("file", test.file.display().to_string().as_str()));
    suite.add_property(("outcome", test.outcome.word()));
    for (name, value) in &test.cell {
        suite.add_property((format!("matrix.{name}").as_str(), value.as_str()));
    }
    if !test.notes.is_empty() {
        // What the test wants said beside its verdict (an external tool's own thresholds failing, …).
        suite.set_system_out(test.notes.join("\n"));
    }
    let class = classname(test);
    if let Some(error) = &test.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(first_line(error)).set_type("test error").set_description(error.as_str());
        let mut case = TestCase::new(test.name.as_str(), status);
        case.set_classname(class.as_str());
        suite.add_test_case(case);
    }
    for row in &test.criteria {
        let status = match row.status {
            CriterionStatus::Passed | CriterionStatus::Notice => TestCaseStatus::success(),
            CriterionStatus::Failed => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(row.detail.as_str())
                    .set_type("pass/fail criterion triggered")
                    .set_description(format!("{}\n{}", row.detail, row.taurus_message));
                s
            }
            CriterionStatus::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(row.detail.as_str()).set_type("criterion not judged");
                s
            }
            CriterionStatus::Pending => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(row.detail.as_str()).set_type("not judged");
                s
            }
        };
        let mut case = TestCase::new(row.name.as_str(), status);
        case.set_classname(class.as_str());
        if row.status != CriterionStatus::Failed {
            case.set_system_out(row.detail.as_str());
        }
        suite.add_test_case(case);
    }
    if let Some(capacity) = &test.capacity {
        suite.add_test_case(capacity_case(capacity, &class));
    }
    if test.criteria.is_empty() && test.error.is_none() {
        let mut status = TestCaseStatus::skipped();
        status.set_message("no pass/fail criteria configured").set_type("no criteria");
        let mut case = TestCase::new(format!("{} (no criteria)", test.name), status);
        case.set_classname(class.as_str());
        suite.add_test_case(case);
    }
    suite
}

/// A capacity search's answer: `capacity >= 300 rps` when the test requires one, else `capacity`
/// (failed when no rate passed).
fn capacity_case(c: &Capacity, class: &str) -> TestCase {
    let name = match c.required {
        Some(r) => format!("capacity >= {} rps", rate_text(r)),
        None => "capacity".to_string(),
    };
    let summary = c.summary();
    let status = if c.met() {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_message(summary.as_str()).set_type("capacity below requirement");
        s
    };
    let mut case = TestCase::new(name, status);
    case.set_classname(class);
    case.set_system_out(summary.as_str());
    case
}

/// The `sample-labels` view of one test: one case per label (sorted, overall figures left out),
/// or `None` when the test recorded no samples (Taurus then writes no file either).
pub fn sample_labels_suite(test: &TestReport, suite_name: &str) -> Option<TestSuite> {
    let labels: Vec<_> = test.totals.iter().filter(|(l, s)| !l.is_empty() && s.hits > 0).collect();
    if labels.is_empty() {
        return None;
    }
    let mut suite = TestSuite::new(suite_name);
    suite.set_time(Duration::from_secs_f64(test.duration_secs.max(0.0)));
    let class = format!("{}.labels", classname(test));
    for (label, set) in labels {
        let status = if set.fail == 0 {
            TestCaseStatus::success()
        } else {
            let errors = set.errors_by_count();
            // Taurus writes one element per distinct message; quick-junit allows one per case, so
            // the first (most frequent) is the message and every message is in the text.
            let assertion = !errors.is_empty() && errors.iter().all(|(_, rc, _)| *rc == "Assertion");
            let (kind, ty) = if assertion {
                (NonSuccessKind::Failure, "Assertion Failure")
            } else {
                (NonSuccessKind::Error, "Error")
            };
            let text: Vec<String> = errors
                .iter()
                .map(|(m, rc, n)| format!("{m}\n(status code is {rc})\n(total errors of this type: {n})"))
                .collect();
            let message =
                errors.first().map(|(m, _, _)| m.to_string()).unwrap_or_else(|| format!("{} failed samples", set.fail));
            let mut s = TestCaseStatus::non_success(kind);
            s.set_message(message).set_type(ty).set_description(text.join("\n\n"));
            s
        };
        let mut case = TestCase::new(label.as_str(), status);
        case.set_classname(class.as_str());
        suite.add_test_case(case);
    }
    Some(suite)
}

/// The files a test's `junit-xml` reporters ask for, besides `xunit.xml` (always the pass-fail
/// view): `sample-labels` to `filename` or `sample-labels.xml` in the test folder, `pass-fail`
/// to its `filename` when it has one. Relative file names are relative to the current folder.
pub fn reporter_files(test: &TestReport, reporters: &[JunitReporter], dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for r in reporters {
        match r.data_source {
            JunitSource::PassFail => {
                if let Some(f) = &r.filename {
                    files.push((f.clone(), test_xml(test)));
                }
            }
            JunitSource::SampleLabels => {
                let Some(suite) = sample_labels_suite(test, "sample_labels") else { continue };
                let mut report = Report::new(test.name.as_str());
                report.add_test_suite(suite);
                let path = r.filename.clone().unwrap_or_else(|| dir.join(SAMPLE_LABELS_FILE));
                files.push((path, finish(report)));
            }
        }
    }
    files
}

/// The run's `junit.xml`: every test's suite, and the `sample-labels` suite of tests that ask for it.
pub fn run_xml(run: &RunReport) -> String {
    let mut report = Report::new("suite");
    for (i, test) in run.tests.iter().enumerate() {
        report.add_test_suite(test_suite(test));
        if test.sample_labels {
            if let Some(suite) = sample_labels_suite(test, &format!("{}: sample labels", test.name)) {
                report.add_test_suite(suite);
            }
        }
        // After a test's last repeat, its comparison with the baseline.
        let last_of_test = run.tests.get(i + 1).is_none_or(|next| next.base_name() != test.base_name());
        if let Some(c) = run.comparison(test.base_name()).filter(|_| last_of_test) {
            report.add_test_suite(comparison_suite(c));
        }
        let diffs: Vec<&DiffRow> = run.diff_percent.iter().filter(|r| r.test == test.base_name()).collect();
        if last_of_test && !diffs.is_empty() {
            report.add_test_suite(diff_percent_suite(test.base_name(), &diffs));
        }
    }
    finish(report)
}

/// MMS's `diff_percent` comparison of a test with the previous run: one `<testcase>` per
/// metric × aggregate named as MMS names it (`mean_cpu: diff_percent < 30`). MMS builds a
/// skipped case for a missing monitoring log and then leaves the suite out; here it is kept.
pub fn diff_percent_suite(test: &str, rows: &[&DiffRow]) -> TestSuite {
    let mut suite = TestSuite::new(format!("{test}: diff_percent"));
    if let Some(first) = rows.first() {
        suite.add_property(("run1", first.run1.as_str()));
        suite.add_property(("run2", first.run2.as_str()));
    }
    let class = format!("suite.{test}.diff_percent");
    for row in rows {
        let status = match row.result {
            DiffResult::Pass => TestCaseStatus::success(),
            DiffResult::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(row.message.as_str()).set_type("diff_percent");
                s
            }
            DiffResult::Error => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message(row.message.as_str()).set_type("diff_percent");
                s
            }
            DiffResult::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(row.message.as_str()).set_type("diff_percent");
                s
            }
        };
        let mut case = TestCase::new(row.testcase_name(), status);
        case.set_classname(class.as_str());
        suite.add_test_case(case);
    }
    suite
}

/// A test's comparison with its baseline: one `<testcase>` per label × metric, a `<failure>`
/// for a regression; a test without a baseline one skipped case saying why.
pub fn comparison_suite(c: &TestComparison) -> TestSuite {
    let mut suite = TestSuite::new(format!("{}: baseline comparison", c.test));
    suite.add_property(("baseline", c.baseline_from.as_str()));
    suite.add_property(("baseline-runs", c.baseline_runs.to_string().as_str()));
    suite.add_property(("candidate-runs", c.candidate_runs.to_string().as_str()));
    if !c.notes.is_empty() {
        suite.set_system_out(c.notes.join("\n"));
    }
    let class = format!("suite.{}.baseline", c.test);
    for row in &c.rows {
        let message = row.message();
        let status = match row.verdict {
            RowVerdict::Regression => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message.as_str()).set_type("regression against the baseline");
                s
            }
            RowVerdict::New | RowVerdict::Missing | RowVerdict::NoData => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(message.as_str()).set_type(row.verdict.word());
                s
            }
            RowVerdict::Unchanged | RowVerdict::Improvement => TestCaseStatus::success(),
        };
        let name = match row.verdict {
            RowVerdict::New | RowVerdict::Missing => format!("label {}", row.label_name()),
            _ => row.name(),
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(class.as_str());
        if row.verdict != RowVerdict::Regression {
            case.set_system_out(message.as_str());
        }
        suite.add_test_case(case);
    }
    if c.rows.is_empty() {
        let mut status = TestCaseStatus::skipped();
        let why = c.notes.first().map_or("nothing to compare", String::as_str);
        status.set_message(why).set_type("not compared");
        let mut case = TestCase::new(format!("{} (not compared)", c.test), status);
        case.set_classname(class.as_str());
        suite.add_test_case(case);
    }
    suite
}

/// Marks a test as wanting the `sample-labels` view (kept in `test.json` for later renders).
pub fn note_reporters(test: &mut TestReport, reporters: &[JunitReporter]) {
    test.sample_labels = reporters.iter().any(|r| r.data_source == JunitSource::SampleLabels);
}

/// A test's own `xunit.xml`.
pub fn test_xml(test: &TestReport) -> String {
    let mut report = Report::new(test.name.as_str());
    report.add_test_suite(test_suite(test));
    finish(report)
}

/// Every JUnit file is serialised here, so this is the one place that keeps them well-formed.
fn finish(report: Report) -> String {
    let xml = report.to_string().unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->"));
    xml_chars(strip_testsuites_skipped(xml))
}

/// Whether XML 1.0 allows `c` anywhere in a document, even as a character reference: tab, line
/// feed, carriage return and everything from U+0020 except U+FFFE and U+FFFF (surrogates cannot
/// occur in a Rust string).
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
}

/// Writes each character XML 1.0 forbids as visible text (`\u{1b}`), so a label holding one (an
/// ANSI escape, U+FFFE) still gives a well-formed file. Markup never holds such characters, so
/// rewriting the finished text only ever touches names, messages and descriptions.
pub fn xml_chars(xml: String) -> String {
    if xml.chars().all(xml_allows) {
        return xml;
    }
    let mut out = String::with_capacity(xml.len() + 16);
    for c in xml.chars() {
        if xml_allows(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// quick-junit writes `skipped` on `<testsuites>`, which Jenkins's junit-10.xsd does not allow
/// there (only on `<testsuite>`); drop it from that one tag.
fn strip_testsuites_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let Some(attr) = tag.find(" skipped=\"") else { return xml };
    let attr_start = start + attr;
    let value_start = attr_start + " skipped=\"".len();
    let Some(close) = xml[value_start..].find('"') else { return xml };
    let mut out = xml[..attr_start].to_string();
    out.push_str(&xml[value_start + close + 1..]);
    out
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::KpiSet;
    use crate::report::CriterionRow;
    use crate::sample::{ErrorKind, Sample};

    fn run_of(tests: Vec<TestReport>) -> RunReport {
        RunReport {
            run_id: "r".into(),
            env_name: None,
            git_sha: None,
            tool_version: "0".into(),
            started_unix: 0,
            exit_code: None,
            tests,
            comparisons: Vec::new(),
            diff_percent: Vec::new(),
            segment: None,
        }
    }

    fn test(name: &str, criteria: Vec<CriterionRow>, error: Option<&str>) -> TestReport {
        let mut t = TestReport::new(name, Path::new(&format!("suites/{name}.yaml")), 0);
        t.error = error.map(str::to_string);
        t.duration_secs = 1.5;
        t.criteria = criteria;
        t
    }

    fn row(name: &str, status: CriterionStatus) -> CriterionRow {
        let mut row = CriterionRow::pending(&crate::criteria::parse_short("avg-rt>1s").unwrap());
        row.name = name.into();
        row.status = status;
        row.detail = format!("detail of {name}");
        row.taurus_message = "Failed: x".into();
        row
    }

    #[test]
    fn counts_and_shapes() {
        let run = run_of(vec![
            test(
                "a",
                vec![row("avg-rt>1s", CriterionStatus::Passed), row("p90<1ms, stop", CriterionStatus::Failed)],
                None,
            ),
            test("b", vec![], None),
            test("c <&>", vec![], Some("error: bad\n  --> c.yaml:1:1")),
            test("d", vec![row("avg-rt of x>1s", CriterionStatus::Error)], None),
        ]);
        let xml = run_xml(&run);
        let head = &xml[xml.find("<testsuites").unwrap()..];
        let head = &head[..head.find('>').unwrap()];
        assert!(!head.contains("skipped"), "{head}");
        assert!(
            head.contains("tests=\"5\"") && head.contains("failures=\"1\"") && head.contains("errors=\"2\""),
            "{head}"
        );
        assert!(xml.contains("<failure message=\"detail of p90&lt;1ms, stop\""), "{xml}");
        assert!(xml.contains("classname=\"suite.a\""));
        assert!(xml.contains("name=\"c &lt;&amp;&gt;\""));
        assert!(xml.contains("<skipped message=\"no pass/fail criteria configured\""));
    }

    #[test]
    fn sample_labels_view_has_one_case_per_label_with_taurus_texts() {
        let mut t = test("s", vec![], None);
        let mut ok = KpiSet::default();
        let mut bad = KpiSet::default();
        let sample = |status: u16, kind: Option<ErrorKind>, error: Option<&str>| Sample {
            error_kind: kind,
            error: error.map(Into::into),
            bytes: 1,
            ..Sample::fake(1000, status)
        };
        ok.record(&sample(200, None, None));
        for _ in 0..3 {
            bad.record(&sample(404, Some(ErrorKind::Status), Some("404 Not Found")));
        }
        bad.record(&sample(0, Some(ErrorKind::ConnectRefused), Some("connection refused")));
        let mut overall = KpiSet::default();
        overall.merge(&ok);
        overall.merge(&bad);
        t.totals.insert("ok".into(), ok);
        t.totals.insert("bad <x>".into(), bad);
        t.totals.insert(String::new(), overall);
        let reporters = [
            JunitReporter { data_source: JunitSource::SampleLabels, filename: None },
            JunitReporter { data_source: JunitSource::PassFail, filename: Some("out/pf.xml".into()) },
        ];
        let files = reporter_files(&t, &reporters, Path::new("run/s"));
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].0, Path::new("run/s/sample-labels.xml"));
        assert_eq!(files[1].0, Path::new("out/pf.xml"));
        let xml = &files[0].1;
        assert!(
            xml.contains("<testsuite name=\"sample_labels\" tests=\"2\" skipped=\"0\" errors=\"1\" failures=\"0\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"bad &lt;x&gt;\""), "{xml}");
        assert!(xml.contains("<error message=\"404 Not Found\" type=\"Error\">404 Not Found\n(status code is 404)\n(total errors of this type: 3)"), "{xml}");
        assert!(
            xml.contains("connection refused\n(status code is ConnectRefused)\n(total errors of this type: 1)"),
            "{xml}"
        );
        assert!(!xml.contains("name=\"\""), "the overall figures are not a label: {xml}");
        t.sample_labels = true;
        let run = run_of(vec![t]);
        let xml = run_xml(&run);
        assert!(xml.contains("<testsuite name=\"s: sample labels\""), "{xml}");
    }

    #[test]
    fn characters_xml_forbids_are_written_visibly() {
        let mut t = test("s", vec![row("avg-rt of a\u{1b}[31m\u{fffe}>1s", CriterionStatus::Failed)], None);
        let mut set = KpiSet::default();
        set.record(&Sample::fake(1000, 200));
        t.totals.insert("a\u{1b}[31m\u{fffe}\u{ffff}\u{0}\tb".into(), set);
        t.sample_labels = true;
        let xml = run_xml(&run_of(vec![t]));
        assert!(xml.chars().all(xml_allows), "{xml:?}");
        // quick-junit drops ANSI escapes and C0 controls itself; U+FFFE and U+FFFF are left to us.
        assert!(xml.contains("name=\"a\\u{fffe}\\u{ffff}b\""), "{xml}");
        assert!(xml.contains("avg-rt of a\\u{fffe}&gt;1s"), "{xml}");
        assert_eq!(xml_chars("a\u{1b}\u{0}\u{ffff}\t".into()), "a\\u{1b}\\u{0}\\u{ffff}\t");
        assert_eq!(xml_chars("plain <x/> \u{fffd}".into()), "plain <x/> \u{fffd}");
    }
}
