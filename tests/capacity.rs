//! Capacity search (`search:` on an open-model execution) against the demo server with a fixed
//! worker count: the knee it finds agrees with a manual sweep of the same criteria, it is a JUnit
//! testcase with a requirement, and a search that cannot mean anything is refused before load.

use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts::{matrix_csv, summary};
use crate::util::{run_suite, DemoTarget, Project};

const LIMIT: Duration = Duration::from_secs(180);

/// The criteria both the search and the sweep judge by: the server keeps up (p95 well under the
/// queueing of an overloaded worker) without errors.
const CRITERIA: &str = "  criteria: ['p95>40ms', 'fail>1%']\n";

/// One worker that holds the model 4 ms per request without burning CPU: the knee is set by
/// the server, not by how busy the test machine's cores are.
fn server() -> DemoTarget {
    DemoTarget::start(&["--workers", "1", "--work-ms", "4", "--work-kind", "wait"])
}

fn scenario(url: &str) -> String {
    format!(
        "scenarios:\n  s:\n    requests:\n    - url: {url}/predictions/resnet-18\n      method: POST\n      body: x\n"
    )
}

#[test]
fn the_knee_agrees_with_a_manual_sweep() {
    let demo = server();
    let p = Project::new();
    // The manual sweep: the same criteria at fixed arrival rates, each cell 2 s.
    p.file(
        "sweep/manual.yaml",
        &format!(
            "execution:\n- arrival-rate: true\n  throughput: ${{rate}}\n  hold-for: 2s\n  max-vus: 200\n  scenario: s\n  matrix: {{rate: [150, 160, 170, 180, 190, 200, 210, 220, 240, 260]}}\n{}reporting:\n- module: passfail\n{CRITERIA}",
            scenario(&demo.url())
        ),
    );
    let swept = p.suite(&["run", "-t", "sweep"], LIMIT);
    assert!(swept.code == 0 || swept.code == 3, "{swept}");
    let rows = matrix_csv(&swept.run_dir().join("matrix.csv"));
    let mut cells: Vec<(f64, bool)> =
        rows.iter().map(|r| (r["rate"].parse::<f64>().unwrap(), r["state"] == "passed")).collect();
    cells.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(cells[0].1, "the sweep's lowest rate should pass: {rows:#?}");
    // Near the knee a 2 s cell passes or fails by chance on two shared cores, so the sweep's answer
    // is a band: from the last rate before its first failure to the first rate after its last pass.
    let first_fail = cells.iter().position(|c| !c.1).unwrap_or(cells.len());
    let low = cells[first_fail - 1].0;
    let last_pass = cells.iter().rposition(|c| c.1).unwrap_or(0);
    let high = cells.get(last_pass + 1).map_or(f64::INFINITY, |c| c.0);

    // The search over a wide range, with a requirement it meets.
    let p = Project::new();
    p.file(
        "search/cap.yaml",
        &format!(
            "execution:\n- arrival-rate: true\n  max-vus: 200\n  scenario: s\n  search:\n    throughput: [50, 1000]\n    precision: 5%\n    probe: 2s\n    cool-down: 1s\n    min-capacity: 100\n{}reporting:\n- module: passfail\n{CRITERIA}",
            scenario(&demo.url())
        ),
    );
    let out = p.suite(&["run", "-t", "search"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_dir();
    let test: Value = serde_json::from_str(&std::fs::read_to_string(run.join("cap/test.json")).unwrap()).unwrap();
    let capacity = &test["capacity"];
    let knee = capacity["knee"].as_f64().unwrap_or_else(|| panic!("no knee: {capacity:#}"));
    assert!(
        knee >= low * 0.9 && knee <= high * 1.1,
        "knee {knee} more than 10 % outside the manual sweep's band [{low}, {high}]: {cells:?}\n{capacity:#}\n{out}"
    );

    // Every probe is reported; the knee passed and the rate above it failed, within 5 %.
    let probes = capacity["probes"].as_array().unwrap();
    assert!(probes.len() >= 5 && probes.len() <= 20, "{capacity:#}");
    assert_eq!(probes[0]["rate"], 50.0);
    let failed_at = capacity["failed_at"].as_f64().unwrap();
    assert!(failed_at > knee && (failed_at - knee) / knee <= 0.05 + 1e-9, "{capacity:#}");
    assert!(probes.iter().any(|p| p["rate"].as_f64() == Some(knee) && p["passed"] == true));
    assert!(out.stdout.contains(&format!("capacity: {knee:.0} requests/s")), "{out}");

    // JUnit: the capacity is a testcase of its own, passed; the criteria are the knee's.
    let junit = out.junit();
    junit.assert_schema_valid();
    let case = junit.case("capacity >= 100 rps").unwrap_or_else(|| panic!("{junit}"));
    assert!(!case.failed && !case.errored, "{junit}");
    let s = summary(&run.join("summary.json"));
    assert_eq!(s["tests"][0]["state"], "passed");
    assert_eq!(s["tests"][0]["criteria"][0]["status"], "passed");
    assert_eq!(s["tests"][0]["capacity"]["knee"].as_f64(), Some(knee));
    assert_eq!(s["tests"][0]["capacity"]["probes"].as_array().map(Vec::len), Some(probes.len()));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("Latency against throughput"), "the report draws the search");
}

#[test]
fn a_capacity_below_its_requirement_fails_the_test() {
    let demo = server();
    let p = Project::new();
    // The whole range passes: the capacity is at least its top, still below what is required.
    p.file(
        "t/cap.yaml",
        &format!(
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {{throughput: [20, 40], probe: 1s, cool-down: 1s, min-capacity: 1000}}\n{}reporting:\n- module: passfail\n{CRITERIA}",
            scenario(&demo.url())
        ),
    );
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stdout.contains("capacity: at least 40 requests/s, the top of the range"), "{out}");
    let junit = out.junit();
    let case = junit.case("capacity >= 1000 rps").unwrap_or_else(|| panic!("{junit}"));
    assert!(case.failed, "{junit}");
    assert!(junit.failures().iter().any(|f| f.contains("required 1000: NOT met")), "{junit}");
}

#[test]
fn a_search_that_cannot_mean_anything_is_refused_before_load() {
    let p = Project::new();
    let cases = [
        // A closed model: the rate is not what varies.
        (
            "execution:\n- concurrency: 2\n  scenario: s\n  search: {throughput: [1, 10]}\n",
            "4:11",
            "needs an open-model execution",
        ),
        // No criteria: nothing would ever fail.
        (
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {throughput: [1, 10]}\n",
            "4:11",
            "needs pass/fail criteria",
        ),
        (
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {throughput: [10, 1]}\n",
            "4:24",
            "0 < low < high",
        ),
        (
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {throughput: [1, 10], precision: 80%}\n",
            "4:44",
            "`precision`",
        ),
        (
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {throughput: [1, 10], probes: 3}\n",
            "4:33",
            "probe",
        ),
        (
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {throughput: [1, 10], retries: 9}\n",
            "4:42",
            "`retries` is from 0 to 5",
        ),
    ];
    for (head, at, message) in cases {
        let yaml = format!("{head}scenarios:\n  s:\n    requests: ['http://127.0.0.1:9/']\n");
        let with_criteria = if message.contains("criteria") {
            yaml
        } else {
            format!("{yaml}reporting:\n- module: passfail\n{CRITERIA}")
        };
        p.file("t/bad.yaml", &with_criteria);
        let out = p.suite(&["validate", "-q", "t/bad.yaml"], LIMIT);
        assert_eq!(out.code, 1, "{with_criteria}\n{out}");
        assert!(out.stderr.contains(&format!("t/bad.yaml:{at}")), "{at}: {with_criteria}\n{out}");
        assert!(out.stderr.contains(message), "{message}: {out}");
    }
}

#[test]
fn ctrl_c_during_a_search_keeps_the_probes_measured() {
    let demo = server();
    let p = Project::new();
    p.file(
        "t/cap.yaml",
        &format!(
            "execution:\n- arrival-rate: true\n  scenario: s\n  search: {{throughput: [20, 2000], probe: 2s, cool-down: 1s}}\n{}reporting:\n- module: passfail\n{CRITERIA}",
            scenario(&demo.url())
        ),
    );
    let reports = p.path().join("reports");
    let out = run_suite(p.path(), &["run", "-t", "t"], &reports, LIMIT, Some(Duration::from_millis(7500)));
    assert_eq!(out.code, 2, "{out}");
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir().join("cap/test.json")).unwrap()).unwrap();
    let capacity = &test["capacity"];
    assert_eq!(capacity["cut_short"], "interrupted", "{capacity:#}");
    let probes = capacity["probes"].as_array().unwrap();
    // Two probes of 3 s ended before the signal; the third was cut and is not a verdict.
    assert!(probes.len() >= 2, "{capacity:#}");
    assert_eq!((probes[0]["rate"].as_f64(), probes[0]["passed"].as_bool()), (Some(20.0), Some(true)), "{capacity:#}");
    assert!(capacity["failed_at"].is_null(), "an interrupted probe fails nothing: {capacity:#}");
    assert!(capacity["knee"].as_f64().is_some_and(|k| k >= 40.0), "{capacity:#}");
    let summary = summary(&out.run_dir().join("summary.json"));
    assert_eq!(summary["tests"][0]["state"], "interrupted");
}
