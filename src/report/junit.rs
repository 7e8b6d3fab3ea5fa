//! JUnit XML for CI: one `<testsuite>` per test file, one `<testcase>` per criterion named by its
//! text. A failed criterion carries a `<failure>` with the observed value, the threshold and when
//! it triggered; a criterion that could not be judged, or a test that could not run, an `<error>`;
//! a test without criteria one skipped case. The output validates against Jenkins's junit-10.xsd.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{CriterionStatus, RunReport, TestReport};

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
        };
        let mut case = TestCase::new(row.name.as_str(), status);
        case.set_classname(class.as_str());
        if row.status != CriterionStatus::Failed {
            case.set_system_out(row.detail.as_str());
        }
        suite.add_test_case(case);
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

/// The run's `junit.xml`: every test's suite.
pub fn run_xml(run: &RunReport) -> String {
    let mut report = Report::new("suite");
    for test in &run.tests {
        report.add_test_suite(test_suite(test));
    }
    finish(report)
}

/// A test's own `xunit.xml`.
pub fn test_xml(test: &TestReport) -> String {
    let mut report = Report::new(test.name.as_str());
    report.add_test_suite(test_suite(test));
    finish(report)
}

fn finish(report: Report) -> String {
    let xml = report.to_string().unwrap_or_else(|e| format!("<!-- JUnit serialisation failed: {e} -->"));
    strip_testsuites_skipped(xml)
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
    use crate::outcome::Outcome;
    use crate::report::CriterionRow;

    fn test(name: &str, criteria: Vec<CriterionRow>, error: Option<&str>) -> TestReport {
        TestReport {
            name: name.into(),
            file: format!("suites/{name}.yaml").into(),
            outcome: Outcome::Passed,
            error: error.map(str::to_string),
            started_unix: 0,
            duration_secs: 1.5,
            criteria,
            totals: Default::default(),
            sent: 0,
        }
    }

    fn row(name: &str, status: CriterionStatus) -> CriterionRow {
        CriterionRow {
            name: name.into(),
            status,
            detail: format!("detail of {name}"),
            taurus_message: "Failed: x".into(),
        }
    }

    #[test]
    fn counts_and_shapes() {
        let run = RunReport {
            run_id: "r".into(),
            env_name: None,
            tests: vec![
                test(
                    "a",
                    vec![row("avg-rt>1s", CriterionStatus::Passed), row("p90<1ms, stop", CriterionStatus::Failed)],
                    None,
                ),
                test("b", vec![], None),
                test("c <&>", vec![], Some("error: bad\n  --> c.yaml:1:1")),
                test("d", vec![row("avg-rt of x>1s", CriterionStatus::Error)], None),
            ],
        };
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
}
