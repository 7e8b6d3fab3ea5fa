//! Issue 10, config and criteria hardening: inputs that used to crash or mislead `suite validate`
//! get one clear error (exit 1, no panic) naming the real cause.

use std::time::Duration;

use crate::util::{Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

const TEST: &str = "execution:\n- concurrency: 1\n  hold-for: 1s\n  scenario: s\nscenarios:\n  s:\n    think-time: 1s\n    requests:\n    - http://127.0.0.1:9/x\n";

/// `suite validate t.yaml <extra args>` on `yaml`.
fn validate(yaml: &str, extra: &[&str]) -> Output {
    let p = Project::new();
    p.file("t.yaml", yaml);
    let mut args = vec!["validate", "t.yaml"];
    args.extend_from_slice(extra);
    p.suite(&args, LIMIT)
}

fn expect_error(out: &Output, needles: &[&str]) {
    assert_eq!(out.code, 1, "{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    for needle in needles {
        assert!(out.stderr.contains(needle), "stderr lacks `{needle}`\n{out}");
    }
}

#[test]
fn huge_durations_are_errors_not_panics() {
    let out = validate(&TEST.replace("hold-for: 1s", "hold-for: 99999999999999999999d"), &[]);
    expect_error(&out, &["t.yaml:3:13", "duration too large: at most 36500d"]);
    for key in ["execution.0.hold-for", "execution.0.ramp-up", "scenarios.s.think-time", "scenarios.s.timeout"] {
        let out = validate(TEST, &["-o", &format!("{key}=99999999999999999999d")]);
        expect_error(&out, &["duration too large"]);
    }
}

#[test]
fn an_unset_variable_is_named_not_reported_as_a_type_error() {
    let yaml = format!(
        "{TEST}reporting:\n- module: passfail\n  criteria:\n  - fail of s>${{SUITE_TEST_UNSET_T}}, stop as failed\n"
    );
    let out = validate(&yaml, &[]);
    expect_error(
        &out,
        &[
            "error: `${SUITE_TEST_UNSET_T}` is not set: define it in settings.env, the environment, or an --env-name profile\n  --> t.yaml:13:15",
            "note: the value keeps the text `${SUITE_TEST_UNSET_T}`, so: invalid criterion: `${SUITE_TEST_UNSET_T}` is not a threshold",
        ],
    );
}

#[test]
fn a_three_deep_settings_env_chain_resolves() {
    let yaml =
        format!("settings:\n  env:\n    A: ${{B}}\n    B: ${{C}}\n    C: x\n{}", TEST.replace("/x\n", "/${A}\n"));
    let out = validate(&yaml, &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("- http://127.0.0.1:9/x\n"), "{out}");
}

#[test]
fn an_empty_file_is_named_by_its_path() {
    let out = validate("", &[]);
    expect_error(&out, &["error: the test has no `execution`\n  --> t.yaml:1:1"]);
    assert!(!out.stderr.contains("<empty configuration>"), "{out}");
}

#[test]
fn an_error_on_a_huge_line_shows_a_cut_of_it() {
    let pad = "a".repeat(500_000);
    let json = format!(
        "{{\"scenarios\": {{\"s\": {{\"requests\": [\"http://127.0.0.1:9/{pad}\"]}}}}, \"execution\": [{{\"concurrency\": 1, \"hold-for\": \"1s\", \"scenario\": \"s\", \"x\": 1}}]}}\n"
    );
    let out = validate(&json, &[]);
    expect_error(&out, &["unknown key `x`", " 1 | …aaaa", "\"scenario\": \"s\", \"x\": 1}]}\n   |"]);
    assert!(out.stderr.len() < 3_000, "{} bytes of errors", out.stderr.len());
    let out = validate(&TEST.replace("hold-for: 1s", &format!("hold-for: {pad}")), &[]);
    expect_error(&out, &["is not a time value"]);
    assert!(out.stderr.len() < 3_000, "{} bytes of errors", out.stderr.len());
}

#[test]
fn prefixed_keys_inside_list_items_are_honoured() {
    let yaml = TEST.replace(
        "    - http://127.0.0.1:9/x\n",
        "    - url: http://127.0.0.1:9/x\n      ~headers: {X-A: '1'}\n      ^think-time: 5s\nservices:\n- module: monitoring\n  ~local:\n  - metrics: [cpu]\n",
    );
    let out = validate(&yaml, &[]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("  - url: http://127.0.0.1:9/x\n      headers:\n        X-A: '1'\n"), "{out}");
    assert!(out.stdout.contains("- module: monitoring\n  local:\n"), "{out}");
    assert!(!out.stdout.contains('~') && !out.stdout.contains("think-time: 5s"), "{out}");
}
