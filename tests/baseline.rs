//! Baselines and regression verdicts against demo-target, whose `/control?work_ms=` makes a
//! known slowdown: repeats, saved baselines, comparisons (exit 3 on a regression, JUnit and
//! summary.json), baseline-relative criteria, `--baseline previous`, `suite compare`, and the
//! errors for baselines that are not the test's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::artifacts::summary;
use crate::util::{run_suite, DemoTarget, Junit, Output, Project};

const LIMIT: Duration = Duration::from_secs(120);

/// A closed-model test of one label against the demo server: deterministic work, so a change
/// of the work is a change of every latency figure.
fn api_test(url: &str, extra_criteria: &str) -> String {
    format!(
        "execution:\n- concurrency: 2\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {url}/predictions/m\n      method: POST\n      body: hello\n      label: predict\nreporting:\n- module: passfail\n  criteria:\n  - fail>50%\n{extra_criteria}"
    )
}

fn set_work(target: &DemoTarget, ms: u32) {
    let (status, body) = target.request("POST", &format!("/control?work_ms={ms}"));
    assert_eq!(status, 200, "{body}");
}

/// The run folder `latest` points at.
fn latest(out: &Output) -> PathBuf {
    std::fs::canonicalize(out.artifacts.join("latest")).unwrap()
}

fn comparison_rows(run: &Path) -> Vec<serde_json::Value> {
    let s = summary(&run.join("summary.json"));
    s["comparisons"][0]["rows"].as_array().cloned().unwrap_or_default()
}

fn row<'a>(rows: &'a [serde_json::Value], label: &str, metric: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["label"] == label && r["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} of {label}: {rows:?}"))
}

#[test]
fn a_slowed_server_regresses_an_unchanged_or_faster_one_does_not() {
    let p = Project::new();
    // Workers that wait rather than burn the CPU: the tests running beside this one on two cores
    // move a CPU-bound latency by more than the changes judged here.
    let target = DemoTarget::start(&["--workers", "2", "--work-ms", "5", "--work-kind", "wait", "--models", "m"]);
    p.file("t/api.yaml", &api_test(&target.url(), "  - p95 of predict>baseline+50%\n"));

    // Three repeats make the baseline; the relative criterion cannot be judged yet and says so.
    let out = p.suite(&["run", "-t", "t", "--repeat", "3", "--save-baseline", "bl"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("`p95 of predict>baseline+50%` was not judged: the run has no baseline"), "{out}");
    assert!(out.stdout.contains("3 run(s) of api") && out.stdout.contains("between-run CV"), "{out}");
    let base_run = latest(&out);
    for k in 1..=3 {
        assert!(base_run.join(format!("api@{k}/test.json")).is_file(), "repeat {k} has its folder");
    }
    let s = summary(&base_run.join("summary.json"));
    let repeats: Vec<_> =
        s["tests"].as_array().unwrap().iter().map(|t| (t["test"].clone(), t["repeat"].clone())).collect();
    assert_eq!(repeats, (1..=3).map(|k| (serde_json::json!("api"), serde_json::json!([k, 3]))).collect::<Vec<_>>());
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("bl/api.baseline.json")).unwrap()).unwrap();
    assert_eq!(saved["schema"], "suite-baseline/1");
    assert_eq!(saved["runs"].as_array().unwrap().len(), 3);
    let predict = saved["labels"]["predict"].as_array().unwrap();
    assert_eq!(predict.len(), 3);
    assert!(predict.iter().all(|r| r["p95_ms"].as_f64().unwrap() > 4.0 && r["hdr"].is_string()), "{predict:?}");

    // Unchanged: no regression, every metric compared, exit 0. (Tests run side by side on two
    // cores here, so the tolerance is wider than the default; bench/verdicts.sh measures the
    // default's false alarms on a quiet machine.)
    let out = p.suite(&["run", "-t", "t", "--repeat", "3", "--baseline", "bl", "--min-effect", "25%"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let rows = comparison_rows(&latest(&out));
    assert!(rows.iter().all(|r| r["verdict"] != "regression"), "{rows:?}");
    assert_eq!(rows.len(), 12, "6 metrics for predict and for the overall figures: {rows:?}");
    // Some hundred requests a run: too few for a p99, which says so instead of guessing.
    let p99 = row(&rows, "predict", "p99");
    assert_eq!(p99["verdict"], "nodata", "{p99}");
    assert!(p99["why"].as_str().unwrap().contains("needs 1000"), "{p99}");
    let junit = Junit::read(&latest(&out).join("junit.xml"));
    assert_eq!(junit.suites_named("api: baseline comparison"), 1, "{junit}");
    assert_eq!(junit.case("p95 of predict"), Some(crate::util::artifacts::Case { failed: false, errored: false }));
    junit.assert_schema_valid();

    // Over twice the work: a regression, exit 3, the JUnit message with the interval; the
    // relative criterion fails too.
    set_work(&target, 12);
    let out = p.suite(&["run", "-t", "t", "--repeat", "3", "--baseline", "bl"], LIMIT);
    assert_eq!(out.code, 3, "{out}");
    let run = latest(&out);
    let junit = Junit::read(&run.join("junit.xml"));
    junit.assert_schema_valid();
    let failures = junit.failures();
    let p95 = failures.iter().find(|f| f.starts_with("p95 of predict: ")).unwrap_or_else(|| panic!("{junit}"));
    let shape = regex::Regex::new(
        r"^p95 of predict: [\d.]+ ms vs [\d.]+ ms, \+\d+ % \(95 % CI \+[\d.]+…\+[\d.]+ %\): regression",
    )
    .unwrap();
    assert!(shape.is_match(p95), "{p95}");
    assert!(junit.case("p95 of predict>baseline+50%").is_some_and(|c| c.failed), "{junit}");
    let rows = comparison_rows(&run);
    let p95 = row(&rows, "predict", "p95");
    assert_eq!(p95["verdict"], "regression", "{p95}");
    assert!(p95["change"].as_f64().unwrap() > 0.2, "{p95}");
    assert_eq!(row(&rows, "predict", "fail")["verdict"], "unchanged");
    assert!(out.stdout.contains("REGRESSION in"), "{out}");

    // A fifth of the work: an improvement, which never fails.
    set_work(&target, 1);
    let out = p.suite(&["run", "-t", "t", "--repeat", "3", "--baseline", "bl", "--min-effect", "25%"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(row(&comparison_rows(&latest(&out)), "predict", "p95")["verdict"], "improvement");

    // A baseline compared with itself, and one remade from its run folder, find nothing.
    let base_run_text = base_run.display().to_string();
    let out = p.suite(&["baseline", "save", &base_run_text, "--to", "bl2"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let remade: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("bl2/api.baseline.json")).unwrap()).unwrap();
    assert_eq!(remade["labels"], saved["labels"]);
    assert_eq!(remade["runs"], saved["runs"]);
    let out = p.suite(&["compare", "bl", "bl2", "--markdown", "cmp.md"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("no regression"), "{out}");
    let md = std::fs::read_to_string(p.path().join("cmp.md")).unwrap();
    assert!(md.contains("✅ **No regression** in 1 test(s)."), "{md}");
}

#[test]
fn previous_is_the_latest_earlier_run_of_the_same_test_and_environment() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "5", "--models", "m"]);
    p.file("t/api.yaml", &api_test(&target.url(), ""));
    for env in ["a", "b", "c"] {
        p.file(&format!("t/environments/{env}.yaml"), "settings:\n  env:\n    UNUSED: x\n");
    }
    let artifacts = p.path().join("reports");
    let run = |args: &[&str]| run_suite(p.path(), args, &artifacts, LIMIT, None);

    let first_a = run(&["run", "-t", "t", "-e", "a"]);
    assert_eq!(first_a.code, 0, "{first_a}");
    let first_a = latest(&first_a);
    // Environment b runs slower: comparing a's next run with it would be an improvement.
    set_work(&target, 25);
    let b = run(&["run", "-t", "t", "-e", "b"]);
    assert_eq!(b.code, 0, "{b}");
    set_work(&target, 5);

    // (One run a side on a shared machine: only the choice of run is under test here.)
    let second_a =
        run(&["run", "-t", "t", "-e", "a", "--baseline", "previous", "--metrics", "p50", "--min-effect", "60%"]);
    assert_eq!(second_a.code, 0, "{second_a}");
    let s = summary(&latest(&second_a).join("summary.json"));
    let from = s["comparisons"][0]["baseline_from"].as_str().unwrap();
    let first_a_name = first_a.file_name().unwrap().to_string_lossy().into_owned();
    assert!(from.contains(&first_a_name), "compared with {from}, not {first_a_name}");
    // Its figures are a's (5 ms of work), not b's (25 ms).
    let rows = comparison_rows(&latest(&second_a));
    let p50 = row(&rows, "predict", "p50");
    assert!(p50["baseline"].as_f64().unwrap() < 15.0, "{p50}");
    assert_eq!(p50["measured_noise"], false, "one run a side: the default noise model");
    assert!(s["comparisons"][0]["notes"][0].as_str().unwrap().contains("default noise model"), "{s}");

    // No earlier run of environment c: said plainly, judged by the criteria alone.
    let c = run(&["run", "-t", "t", "-e", "c", "--baseline", "previous"]);
    assert_eq!(c.code, 0, "{c}");
    assert!(c.stderr.contains("--baseline previous: no earlier run of `api` with --env-name c"), "{c}");
    let junit = Junit::read(&latest(&c).join("junit.xml"));
    assert!(junit.text.contains("api (not compared)"), "{junit}");
    assert_eq!(junit.count("failure"), 0);
}

#[test]
fn a_baseline_that_is_not_the_tests_is_an_error_before_any_load() {
    let p = Project::new();
    // No server: nothing may be sent.
    p.file("t/api.yaml", &api_test("http://127.0.0.1:9", ""));
    let baseline = |test: &str, schema: &str| {
        format!(
            "{{\"schema\": \"{schema}\", \"test\": \"{test}\", \"source\": \"suite\", \"runs\": [], \"labels\": {{}}}}"
        )
    };
    let cases = [
        (baseline("other", "suite-baseline/1"), "is the baseline of test `other`, not of `api`"),
        (baseline("api", "suite-baseline/0"), "is a baseline of schema `suite-baseline/0`"),
        (
            "{\"schema\": \"suite-baseline/1\", \"test\": \"api\", \"runs\": 3}".to_string(),
            "is not a readable baseline",
        ),
        ("not json".to_string(), "is not a readable baseline"),
    ];
    for (text, expected) in cases {
        p.file("bl/api.baseline.json", &text);
        let out = p.suite(&["run", "-t", "t", "--baseline", "bl"], LIMIT);
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains("bl/api.baseline.json") && out.stderr.contains(expected), "{expected}\n{out}");
        assert!(!out.stdout.contains("-- api"), "the test did not start: {out}");
    }
    let out = p.suite(&["run", "-t", "t", "--baseline", "nowhere"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("--baseline `nowhere` is neither a baseline file"), "{out}");
}

#[test]
fn diff_percent_compares_monitoring_with_the_previous_run_as_mms_does() {
    let p = Project::new();
    let pid_file = p.path().join("frontend.pid").display().to_string();
    let start = |workers: &str| {
        DemoTarget::start(&["--workers", workers, "--work-ms", "1", "--models", "m", "--pid-file", &pid_file])
    };
    let test = |url: &str| {
        format!(
            "execution:\n- concurrency: 1\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - {url}/predictions/m\nservices:\n- module: server_local_monitoring\n  ServerLocalClient:\n  - interval: 500ms\n    frontend-pid-file: {pid_file}\n    metrics: [total_workers]\nreporting:\n- module: passfail\n  criteria:\n  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: ServerLocalClient/total_workers\n    condition: '>'\n    threshold: 100\n    timeframe: 1s\n    diff_percent: 30\n"
        )
    };
    let target = start("1");
    p.file("t/mms.yaml", &test(&target.url()));
    let artifacts = p.path().join("reports");
    let run = || run_suite(p.path(), &["run", "-t", "t", "-e", "xlarge"], &artifacts, LIMIT, None);
    p.file("t/environments/xlarge.yaml", "settings:\n  env:\n    UNUSED: x\n");

    let first = run();
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stderr.contains("no earlier run with --env-name xlarge"), "{first}");
    let second = run();
    assert_eq!(second.code, 0, "{second}");
    let csv = std::fs::read_to_string(latest(&second).join("comparison_result.csv")).unwrap();
    assert!(
        csv.starts_with(
            ",run_name1,run_name2,test_suite,metric,run1,run2,percentage_diff,expected_diff,result,message\n"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().filter(|l| l.contains(",mms,")).count(), 3, "mean, max and min: {csv}");
    let junit = Junit::read(&latest(&second).join("junit.xml"));
    assert_eq!(
        junit.case("mean_total_workers: diff_percent < 30"),
        Some(crate::util::artifacts::Case { failed: false, errored: false }),
        "{junit}"
    );
    junit.assert_schema_valid();

    // Three workers against one: 100 % apart, more than 30 %.
    drop(target);
    let target = start("3");
    p.file("t/mms.yaml", &test(&target.url()));
    let third = run();
    assert_eq!(third.code, 3, "{third}");
    let junit = Junit::read(&latest(&third).join("junit.xml"));
    assert!(junit.case("mean_total_workers: diff_percent < 30").is_some_and(|c| c.failed), "{junit}");
    let failure = junit
        .failures()
        .into_iter()
        .find(|f| f.contains("diff_percent criteria has failed"))
        .unwrap_or_else(|| panic!("{junit}"));
    assert!(failure.contains("The expected diff_percent is '30' and actual diff percent is '100.0'"), "{failure}");
}

#[test]
fn a_locust_stats_csv_imports_as_a_one_run_baseline_with_the_default_noise_model() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "2", "--models", "m"]);
    p.file("t/api.yaml", &api_test(&target.url(), ""));
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let run = latest(&out);
    // Every run writes Locust's `<test>_stats.csv`: the layout Wikimedia commits.
    let stats = run.join("api/api_stats.csv").display().to_string();
    let out = p.suite(&["baseline", "save", &stats, "--to", "bl"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("1 run(s) of api (locust)") && out.stdout.contains("default noise model"), "{out}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("bl/api.baseline.json")).unwrap()).unwrap();
    assert_eq!(saved["source"], "locust");
    assert!(saved["labels"]["predict"][0]["p95_ms"].as_f64().unwrap() > 1.0, "{saved}");

    let run_text = run.display().to_string();
    let out = p.suite(&["compare", "bl", &run_text, "--markdown", "pr.md"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("default noise"), "{out}");
    let md = std::fs::read_to_string(p.path().join("pr.md")).unwrap();
    assert!(md.contains("neither side has two runs"), "{md}");

    // Not a results file: the error names it and the formats.
    p.file("junk.csv", "a,b\n1,2\n");
    let out = p.suite(&["baseline", "save", "junk.csv", "--to", "bl"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("junk.csv") && out.stderr.contains("Locust"), "{out}");
}
