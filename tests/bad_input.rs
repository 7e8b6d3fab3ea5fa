//! Bad input: each case gives one clear error naming file, line and column and what was
//! expected, exit code 1, no panic, and a JUnit file that says the test could not run.

use std::time::Duration;

use crate::util::artifacts::final_stats;
use crate::util::Project;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `suite run` on one test file `t/bad.yaml` and checks the shared expectations.
fn expect_error(yaml: &str, needles: &[&str]) -> crate::util::Output {
    let p = Project::new();
    p.file("t/bad.yaml", yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    for needle in needles {
        assert!(out.stderr.contains(needle), "stderr lacks `{needle}`\n{out}");
    }
    let junit = out.junit();
    junit.assert_schema_valid();
    assert_eq!(junit.count("error"), 1, "{junit}");
    out
}

const GOOD_SCENARIO: &str = "scenarios:\n  s:\n    requests:\n    - http://127.0.0.1:9/x\n";

#[test]
fn malformed_yaml() {
    expect_error("execution:\n- concurrency: 1\n  hold-for: [1s\n  scenario: s\n", &["t/bad.yaml:", "error"]);
}

#[test]
fn wrong_type() {
    let yaml = format!("execution:\n- concurrency: ten\n  hold-for: 1s\n  scenario: s\n{GOOD_SCENARIO}");
    expect_error(&yaml, &["t/bad.yaml:2:16", "concurrency"]);
}

#[test]
fn unknown_execution_key_suggests_the_right_one() {
    let yaml = format!("execution:\n- concurrency: 1\n  hold_for: 1s\n  scenario: s\n{GOOD_SCENARIO}");
    expect_error(&yaml, &["t/bad.yaml:3:3", "hold_for", "hold-for"]);
}

#[test]
fn unknown_scenario_key_suggests_the_right_one() {
    let yaml = "execution:\n- hold-for: 1s\n  scenario: s\nscenarios:\n  s:\n    reqests:\n    - http://127.0.0.1:9/\n";
    expect_error(yaml, &["t/bad.yaml:6:5", "reqests", "requests"]);
}

#[test]
fn unknown_scenario_name() {
    let yaml = format!("execution:\n- hold-for: 1s\n  scenario: z\n{GOOD_SCENARIO}");
    expect_error(&yaml, &["t/bad.yaml:3:13", "unknown scenario `z`"]);
}

#[test]
fn missing_body_file() {
    let yaml = "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: http://127.0.0.1:9/\n      method: POST\n      body-file: nowhere.json\n";
    expect_error(yaml, &["t/bad.yaml:9:18", "nowhere.json"]);
}

#[test]
fn unparseable_criterion_points_inside_the_string() {
    let yaml = format!(
        "execution:\n- hold-for: 1s\n  scenario: s\n{GOOD_SCENARIO}reporting:\n- module: passfail\n  criteria:\n  - avg-rt of p>150ms fr 10s\n"
    );
    expect_error(&yaml, &["t/bad.yaml:11:23", "fr"]);
}

#[test]
fn unquoted_criterion_message_is_explained() {
    let yaml = format!(
        "execution:\n- hold-for: 1s\n  scenario: s\n{GOOD_SCENARIO}reporting:\n- module: passfail\n  criteria:\n  - My msg: rc404>10\n"
    );
    expect_error(&yaml, &["t/bad.yaml:11:5", "quote the whole criterion: `- 'My msg: rc404>10'`"]);
}

#[test]
fn dict_criterion_error_points_at_the_field() {
    let yaml = format!(
        "execution:\n- hold-for: 1s\n  scenario: s\n{GOOD_SCENARIO}reporting:\n- module: passfail\n  criteria:\n  - {{subject: avg-rt, condition: '=>', threshold: 1s}}\n"
    );
    expect_error(&yaml, &["t/bad.yaml:11:34", "invalid criterion: `condition`: unsupported condition `=>`"]);
}

#[test]
fn a_missing_jmeter_plan_is_an_error_at_its_script_line() {
    let yaml = "execution:\n- hold-for: 1s\n  scenario: s\nscenarios:\n  s:\n    script: plan.jmx\n";
    expect_error(yaml, &["t/bad.yaml:6:13", "cannot read JMeter plan `", "plan.jmx`: no such file"]);
}

#[test]
fn no_test_files_found() {
    let p = Project::new();
    p.file("t/readme.txt", "nothing");
    let out = p.suite(&["run", "-t", "t", "-p", "*criteria*.yaml"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("no test files"), "{out}");
}

#[test]
fn a_missing_test_folder_is_named_and_its_cause_said_once() {
    let p = Project::new();
    let out = p.suite(&["run", "-t", "nowhere"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("cannot read test folder `nowhere`"), "{out}");
    assert_eq!(crate::util::count(&out.stderr, "(os error 2)"), 1, "{out}");
    let out = p.suite(&["report", "nowhere"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(crate::util::count(&out.stderr, "(os error 2)"), 1, "{out}");
}

#[test]
fn unreachable_target_gives_failed_samples_that_criteria_judge() {
    // Port 9 (discard) is closed on a test machine: every request is refused.
    let yaml = "execution:\n- concurrency: 2\n  iterations: 5\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: http://127.0.0.1:9/\n      label: down\nreporting:\n- module: passfail\n  criteria:\n  - fail of down>0%\n";
    let p = Project::new();
    p.file("t/down.yaml", yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 3, "{out}");
    let rows = final_stats(&out.run_dir().join("down/final_stats.csv"));
    let overall = rows.last().unwrap();
    // 10 samples, all failed.
    assert_eq!(
        (overall["label"].as_str(), overall["throughput"].as_str(), overall["fail"].as_str()),
        ("", "10", "10"),
        "{rows:?}"
    );
    assert!(overall.contains_key("rc_ConnectRefused"), "{rows:?}");
    assert_eq!(out.junit().count("failure"), 1);
}

#[test]
fn validate_reports_errors_without_running() {
    let p = Project::new();
    p.file("bad.yaml", "execution:\n- concurrency: 1\n  hold_for: 1s\n  scenario: s\nscenarios:\n  s:\n    requests: [http://127.0.0.1:9/]\n");
    let out = p.suite(&["validate", "bad.yaml"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("bad.yaml:3:3"), "{out}");
}
