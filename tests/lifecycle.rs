//! The life of a test: services started and stopped, every request counted, MMS layout with
//! environment profiles, and Ctrl-C that still writes every artifact.

use std::path::Path;
use std::time::Duration;

use crate::util::artifacts::{csv_rows, final_stats};
use crate::util::{DemoTarget, Project};

fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

fn read_pid(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_string()
}

#[test]
fn every_request_sent_is_a_sample_and_reaches_the_server() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let yaml = format!(
        "execution:\n- concurrency: 3\n  iterations: 7\n  scenario: s\nscenarios:\n  s:\n    default-address: {}\n    requests:\n    - url: /predictions/m\n      method: POST\n      body: {{a: 1}}\n      label: predict\n    - /ping\n",
        target.url()
    );
    let p = Project::new();
    p.file("t/count.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let (_, stats) = target.request("GET", "/stats");
    assert!(stats.contains("\"requests\":42") || stats.contains("\"requests\": 42"), "server saw: {stats}");
    let rows = final_stats(&out.run_dir().join("count/final_stats.csv"));
    let labels: Vec<&str> = rows.iter().map(|r| r["label"].as_str()).collect();
    assert_eq!(labels, ["/ping", "predict", ""], "{rows:?}");
    let overall = &rows[2];
    let figures = (overall["fail"].as_str(), overall["succ"].as_str(), overall["throughput"].as_str());
    assert_eq!(figures, ("0", "42", "42"), "{rows:?}");
    // A test without criteria: one skipped case.
    let junit = out.junit();
    assert_eq!(junit.count("skipped"), 1, "{junit}");
}

#[test]
fn failing_prepare_fails_the_test_with_its_output_and_post_process_still_runs() {
    let p = Project::new();
    let marker = p.path().join("post-process-ran");
    let yaml = format!(
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests: [http://127.0.0.1:9/]\nservices:\n- module: shellexec\n  prepare:\n  - echo model store missing >&2; exit 7\n  post-process:\n  - touch {}\n",
        marker.display()
    );
    p.file("t/prep.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "{out}");
    let junit = out.junit();
    junit.assert_schema_valid();
    assert!(junit.text.contains("exited with code 7"), "{junit}");
    assert!(junit.text.contains("model store missing"), "{junit}");
    assert!(marker.exists(), "post-process did not run");
}

#[test]
fn mms_layout_with_environment_profile_and_background_service() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    let pidfile = p.path().join("bg.pid");
    p.file(
        "tests/global_config.yaml",
        &format!(
            "settings:\n  env:\n    P90: 0ms\nservices:\n- module: shellexec\n  startup:\n  - command: echo $$ > {} && exec sleep 300\n    background: true\n",
            pidfile.display()
        ),
    );
    p.file(
        "tests/inference/inference.yaml",
        &format!(
            "execution:\n- concurrency: 2\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/predictions/m\n      label: p\nreporting:\n- module: passfail\n  criteria:\n  - p90 of p>${{P90}}  , stop as failed\n",
            target.url()
        ),
    );
    p.file("tests/inference/environments/relaxed.yaml", "settings:\n  env:\n    P90: 5s\n");
    p.file("tests/other/other.yaml", "this: is not run\n");
    let out = p.suite(&["run", "-t", "tests", "-p", "infer*", "--env-name", "relaxed"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let junit = out.junit();
    assert_eq!(junit.count("testsuite"), 1, "{junit}");
    assert!(junit.text.contains("p90 of p&gt;5s"), "the environment's threshold is used: {junit}");
    assert!(!alive(&read_pid(&pidfile)), "background service still running");

    // Without the profile the global 0 ms threshold applies and fails.
    let out = p.suite(&["run", "-t", "tests", "-p", "infer*"], Duration::from_secs(60));
    assert_eq!(out.code, 3, "{out}");
}

#[test]
fn ctrl_c_stops_gracefully_and_writes_every_artifact() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    let p = Project::new();
    let pidfile = p.path().join("bg.pid");
    let yaml = format!(
        "execution:\n- concurrency: 2\n  hold-for: 60s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/predictions/m\n      label: p\nservices:\n- module: shellexec\n  startup:\n  - command: echo $$ > {} && exec sleep 300\n    background: true\nreporting:\n- module: passfail\n  criteria: [avg-rt of p>10s]\n",
        target.url(),
        pidfile.display()
    );
    p.file("t/long.yaml", &yaml);
    p.file("t/later.yaml", &yaml);
    let out = crate::util::run_suite(
        p.path(),
        &["run", "-t", "t"],
        &p.path().join("reports"),
        Duration::from_secs(60),
        Some(Duration::from_secs(4)),
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    let dir = out.run_dir().join("later");
    let kpi = csv_rows(&dir.join("kpi.csv"));
    assert!(kpi.len() >= 2, "per-second rows were written: {kpi:?}");
    assert!(dir.join("final_stats.csv").is_file());
    let junit = out.junit();
    junit.assert_schema_valid();
    assert_eq!(junit.count("testsuite"), 2, "{junit}");
    assert!(junit.text.contains("interrupted"), "{junit}");
    assert!(!alive(&read_pid(&pidfile)), "background service still running");
}
