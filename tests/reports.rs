//! Reports people and scripts read: the self-contained `report.html`, `summary.json` against its
//! schema and against `junit.xml`, `final_stats.csv` and Locust's CSV files, the `sample-labels`
//! JUnit view, and `suite report` rebuilding everything from the run folder, also after the runner
//! was killed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::artifacts::{
    csv_rows, final_stats, locust_csv, summary, summary_schema_errors, LOCUST_HISTORY_HEADER, LOCUST_STATS_HEADER,
};
use crate::util::{bin, count, DemoTarget, Junit, Project};

/// A label that would break the page if anything were inserted unescaped.
const HOSTILE: &str = r#"<script>alert("x")</script> & </td>"#;

fn suite_yaml(target: &DemoTarget, hold: &str) -> String {
    format!(
        r#"execution:
- concurrency: 2
  hold-for: {hold}
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}/predictions/m
      label: predict
    - url: {url}/missing
      label: '{HOSTILE}'
services:
- module: monitoring
  local:
  - interval: 1s
    metrics: [cpu, mem]
reporting:
- module: passfail
  criteria:
  - avg-rt of predict>0ms
  - fail>90%
  - subject: hits
    label: '{HOSTILE}'
    condition: '<'
    threshold: 1
- module: junit-xml
  data-source: sample-labels
  filename: out/labels.xml
- junit-xml
"#,
        url = target.url()
    )
}

#[test]
fn report_html_and_summary_agree_with_junit_and_final_stats() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file("t/rep.yaml", &suite_yaml(&target, "3s"));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 3, "{out}");
    let run = out.run_dir();
    assert!(out.stdout.contains("Report: "), "{out}");

    // The page: self-contained, escaped, every section there.
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    for needle in ["http://", "https://", "<link", "src=", "@import", "url("] {
        assert!(!html.contains(needle), "report.html refers to `{needle}`");
    }
    assert!(!html.contains("<script>alert"), "the hostile label is markup");
    assert!(html.contains("&lt;script&gt;alert("), "the hostile label is shown as text");
    assert_eq!(
        count(&html, "<script"),
        count(&html, r#"<script type="application/json""#) + 1,
        "only the page's own script"
    );
    for section in [
        "<h2>Tests</h2>",
        "<h3>Criteria</h3>",
        "<h3>Figures per label</h3>",
        "<h3>Over time</h3>",
        "<h3>Errors</h3>",
        "<h3>Monitoring</h3>",
        r#"id="test-1-throughput""#,
        r#"id="test-1-latency""#,
        r#"id="test-1-p95""#,
        r#"id="test-1-errors""#,
        r#"id="test-1-vus""#,
        // One chart per monitored metric; minijinja escapes `/` in text.
        "<figcaption>local&#x2f;cpu</figcaption>",
        "<figcaption>local&#x2f;mem</figcaption>",
        "Response codes",
        "Error messages",
    ] {
        assert!(html.contains(section), "report.html lacks `{section}`");
    }
    assert!(count(&html, r#"<path class="line"#) >= 10, "charts have lines");
    assert!(html.contains(r#"<span class="badge big state-failed">failed</span>"#));

    // summary.json: valid against its schema, and the same verdicts and figures as the other files.
    let summary = summary(&run.join("summary.json"));
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["run"]["state"], "failed");
    assert_eq!(summary["run"]["exit_code"], 3);
    let test = &summary["tests"][0];
    assert_eq!(test["state"], "failed");
    let criteria = test["criteria"].as_array().unwrap();
    let statuses: Vec<&str> = criteria.iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "passed", "passed"]);
    assert_eq!(criteria[0]["fails_run"], true);
    assert!(criteria[0]["observed"].as_f64().unwrap() > 0.0);

    let junit = out.junit();
    junit.assert_schema_valid();
    let failures = statuses.iter().filter(|s| **s == "failed").count();
    assert_eq!(junit.count("failure"), failures, "{junit}");
    for c in criteria {
        let name = c["name"].as_str().unwrap();
        assert!(junit.case(name).is_some(), "{name} in {junit}");
    }

    let rows = final_stats(&run.join("rep/final_stats.csv"));
    let mut labels: Vec<&Value> = test["labels"].as_array().unwrap().iter().collect();
    labels.push(&test["overall"]);
    assert_eq!(rows.len(), labels.len());
    for (row, label) in rows.iter().zip(labels) {
        assert_eq!(row["label"], label["label"].as_str().unwrap());
        assert_eq!(row["throughput"], label["hits"].to_string(), "hits of {}", row["label"]);
        assert_eq!(row["fail"], label["fail"].to_string());
        for (column, key) in [("perc_50.0", "p50"), ("perc_95.0", "p95"), ("perc_99.0", "p99")] {
            let csv: f64 = row[column].parse().unwrap();
            let json = label["percentiles"][key].as_f64().unwrap();
            assert!((csv - json).abs() < 1e-5, "{column} of {}: {csv} vs {json}", row["label"]);
        }
        let avg: f64 = row["avg_rt"].parse().unwrap();
        assert!((avg - label["avg_rt"].as_f64().unwrap()).abs() < 1e-5);
    }
    check_locust_files(&run.join("rep"), "rep", test);
    let hostile = test["labels"].as_array().unwrap().iter().find(|l| l["label"] == HOSTILE).unwrap();
    assert!(hostile["fail"].as_u64().unwrap() > 0);
    assert_eq!(hostile["errors"][0]["rc"], "404");
    let metrics: Vec<&str> =
        test["monitoring"].as_array().unwrap().iter().map(|m| m["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["cpu", "mem"]);

    // The sample-labels view: in the file the reporter named, and as a second suite of junit.xml.
    let labels_xml = Junit::read(&p.path().join("out/labels.xml"));
    assert!(labels_xml.suites_named("sample_labels") > 0, "{labels_xml}");
    assert_eq!(labels_xml.count("testcase"), 2, "{labels_xml}");
    assert!(labels_xml.text.contains("(status code is 404)"), "{labels_xml}");
    // A bare `junit-xml` entry is Taurus's default view, sample labels, in the test folder.
    let default_xml = Junit::read(&run.join("rep/sample-labels.xml"));
    assert_eq!(default_xml.text, labels_xml.text);
    assert_eq!(junit.suites_named("rep: sample labels"), 1, "{junit}");

    // `suite report` renders the same files again from the folder alone.
    let before_json = std::fs::read(run.join("summary.json")).unwrap();
    let before_html = std::fs::read(run.join("report.html")).unwrap();
    let locust_files = [run.join("rep/rep_stats.csv"), run.join("rep/rep_stats_history.csv")];
    let before_locust: Vec<Vec<u8>> = locust_files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    std::fs::remove_file(run.join("report.html")).unwrap();
    for file in &locust_files {
        std::fs::remove_file(file).unwrap();
    }
    let latest = out.artifacts.join("latest");
    let again = p.suite(&["report", latest.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(
        std::fs::read(run.join("summary.json")).unwrap(),
        before_json,
        "summary.json differs after `suite report`"
    );
    assert_eq!(
        std::fs::read(run.join("report.html")).unwrap(),
        before_html,
        "report.html differs after `suite report`"
    );
    for (file, before) in locust_files.iter().zip(before_locust) {
        assert_eq!(std::fs::read(file).unwrap(), before, "{} differs after `suite report`", file.display());
    }
}

/// Locust's files of a test agree with its figures in `summary.json`: Locust's headers, a row per
/// label (sorted by name) then `Aggregated`, the same request and failure counts; the history has
/// a row per second whose running totals end at the test's.
fn check_locust_files(dir: &Path, name: &str, test: &Value) {
    let stats = locust_csv(&dir.join(format!("{name}_stats.csv")), LOCUST_STATS_HEADER);
    let mut labels: Vec<&Value> = test["labels"].as_array().unwrap().iter().collect();
    labels.sort_by_key(|l| l["label"].as_str().unwrap());
    labels.push(&test["overall"]);
    assert_eq!(stats.len(), labels.len(), "{stats:?}");
    for (row, label) in stats.iter().zip(&labels) {
        let name = label["label"].as_str().filter(|l| !l.is_empty()).unwrap_or("Aggregated");
        assert_eq!((row["Type"].as_str(), row["Name"].as_str()), ("", name));
        assert_eq!(row["Request Count"], label["hits"].to_string(), "{row:?}");
        assert_eq!(row["Failure Count"], label["fail"].to_string(), "{row:?}");
        let p50: u64 = row["50%"].parse().unwrap_or_else(|_| panic!("50% is an integer: {row:?}"));
        assert!(row["100%"].parse::<u64>().unwrap() >= p50, "{row:?}");
        let avg: f64 = row["Average Response Time"].parse().unwrap();
        assert!((avg - label["avg_rt"].as_f64().unwrap() * 1000.0).abs() < 1e-6, "ms: {row:?}");
        let rps: f64 = row["Requests/s"].parse().unwrap();
        assert!((rps - label["rps"].as_f64().unwrap()).abs() < 1e-9, "{row:?}");
    }
    let history = locust_csv(&dir.join(format!("{name}_stats_history.csv")), LOCUST_HISTORY_HEADER);
    assert!(history.len() >= 3, "a row per second: {history:?}");
    assert!(history.iter().all(|r| r["Name"] == "Aggregated" && r["Type"].is_empty()));
    let stamps: Vec<u64> = history.iter().map(|r| r["Timestamp"].parse().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[1] == w[0] + 1), "one row per second: {stamps:?}");
    let last = history.last().unwrap();
    assert_eq!(last["Total Request Count"], test["overall"]["hits"].to_string());
    assert_eq!(last["Total Failure Count"], test["overall"]["fail"].to_string());
    let users: Vec<&str> = history.iter().map(|r| r["User Count"].as_str()).collect();
    assert!(users.contains(&"2") && users.iter().all(|u| ["0", "1", "2"].contains(u)), "{users:?}");
}

/// Lines in a file (0 if it does not exist yet).
fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn a_killed_runner_leaves_every_second_and_suite_report_builds_an_incomplete_report() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file("t/rep.yaml", &suite_yaml(&target, "60s"));
    p.file("t/zz_after.yaml", &suite_yaml(&target, "1s"));
    let artifacts = p.path().join("reports");
    let mut child = Command::new(bin("suite"))
        .current_dir(p.path())
        .args(["run", "-t", "t", "--artifacts-dir"])
        .arg(&artifacts)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let run_dir = || -> Option<PathBuf> { std::fs::canonicalize(artifacts.join("latest")).ok() };
    let mut seconds = 0;
    while started.elapsed() < Duration::from_secs(30) {
        if let Some(dir) = run_dir() {
            seconds = lines(&dir.join("rep/seconds.jsonl"));
            if seconds >= 4 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: nothing runs after this.
    child.wait().unwrap();
    assert!(seconds >= 4, "the runner streamed {seconds} seconds in 30 s");
    let dir = run_dir().unwrap();
    let kpi_seconds: std::collections::BTreeSet<String> =
        csv_rows(&dir.join("rep/kpi.csv")).into_iter().map(|mut r| r.remove("second").unwrap()).collect();
    assert!(kpi_seconds.len() >= seconds - 1, "kpi.csv has {} seconds", kpi_seconds.len());
    assert!(!dir.join("summary.json").exists(), "no view was rendered before the kill");

    let out = p.suite(&["report", dir.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out}");
    let summary = summary(&dir.join("summary.json"));
    assert_eq!(summary["run"]["state"], "incomplete");
    assert_eq!(summary["run"]["complete"], false);
    assert_eq!(summary["run"]["exit_code"], Value::Null);
    let test = &summary["tests"][0];
    assert_eq!(test["state"], "incomplete");
    assert!(test["load_secs"].as_f64().unwrap() >= seconds as f64, "{test}");
    // No verdict is invented: the configured criteria are there, not judged.
    let statuses: Vec<&str> =
        test["criteria"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending", "pending", "pending"]);
    assert!(test["criteria"].as_array().unwrap().iter().all(|c| c["fails_run"] == false && c["observed"].is_null()));
    assert!(test["overall"]["hits"].as_u64().unwrap() > 0);
    assert!(test["overall"]["percentiles"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["tests"][1]["state"], "not_run");
    // Locust's files: the history streamed up to the kill, both rebuilt from the folder.
    check_locust_files(&dir.join("rep"), "rep", test);
    assert!(!dir.join("zz_after").exists());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("did not reach its end"), "the page says the test is incomplete");
    assert!(html.contains(r#"<path class="line"#), "charts of the recorded seconds");
}

#[test]
fn the_summary_schema_rejects_what_it_should() {
    let bad =
        serde_json::json!({"schema_version": 2, "tool": {"name": "suite", "version": "x"}, "run": {}, "tests": [{}]});
    let errors = summary_schema_errors(&bad).unwrap_err();
    assert!(errors.iter().any(|e| e.starts_with("/schema_version: ")), "{errors:?}");
    assert!(errors.iter().any(|e| e.starts_with("/run: ") && e.contains("\"state\" is a required")), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.starts_with("/tests/0: ") && e.contains("\"criteria\" is a required")),
        "{errors:?}"
    );
}
