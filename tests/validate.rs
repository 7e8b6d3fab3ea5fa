//! `suite validate` on the Taurus corpus and observed configs (read in place from
//! `../shared`): merged effective configs match what Taurus produced.

use std::time::Duration;

use crate::util::{run_suite, shared};

const LIMIT: Duration = Duration::from_secs(60);

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("effective config is not YAML: {e}\n{text}"))
}

#[test]
fn obs07_merge_prefixes_includes_and_overrides_match_taurus() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("reference/taurus-observed");
    let out = run_suite(
        &dir,
        &[
            "validate",
            "-o",
            "execution.0.iterations=5",
            "-o",
            "execution.-1={concurrency: 3, scenario: s2}",
            "-o",
            "scenarios.s.^requests-extra=",
            "-o",
            "scenarios.*think-time=2s",
            "obs07-merge-a.yml",
            "obs07-merge-b.yml",
        ],
        &dir,
        LIMIT,
        None,
    );
    assert_eq!(out.code, 0, "{out}");
    let v = yaml(&out.stdout);
    let expected = yaml(
        "execution:\n- {concurrency: 10, hold-for: 1m, iterations: 5, scenario: s}\n- {concurrency: 20, scenario: s}\n- {concurrency: 3, scenario: s2}\n",
    );
    assert_eq!(v["execution"], expected["execution"], "{}", out.stdout);
    let s = &v["scenarios"]["s"];
    assert_eq!(s["headers"], yaml("{C: '3'}"));
    assert_eq!(
        s["requests"],
        yaml("[{url: 'http://127.0.0.1:18080/a2'}, {url: 'http://127.0.0.1:18080/b', method: POST}]")
    );
    assert_eq!(s["think-time"], yaml("2s"));
    assert_eq!(s["timeout"], yaml("5s"));
    assert!(s.get("requests-extra").is_none() && s.get("keepalive").is_none(), "{}", out.stdout);
    assert_eq!(v["scenarios"]["s2"]["requests"], yaml("['http://127.0.0.1:18080/x']"));
    assert_eq!(v["reporting"], yaml("[{module: passfail, criteria: ['avg-rt>1s']}, {module: junit-xml}]"));
}

#[test]
fn corpus_merge_files_follow_the_list_and_prefix_rules() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("corpus/taurus");
    let out = run_suite(&dir, &["validate", "tr-json__merge1.json", "tr-json__merge2.json"], &dir, LIMIT, None);
    // No execution in these files: an error, but the effective config is printed first.
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("no `execution`"), "{out}");
    let v = yaml(&out.stdout);
    assert_eq!(v["list-append"].as_sequence().map(Vec::len), Some(6), "{}", out.stdout);
    assert_eq!(v["list-replace"].as_sequence().map(Vec::len), Some(2), "{}", out.stdout);
    assert!(v["modules"]["jmeter"].get("properties").is_none(), "{}", out.stdout);
}

#[test]
fn corpus_includes_are_recursive_and_cycles_end() {
    let Some(shared) = shared() else { return };
    let dir = shared.join("corpus/taurus/tr-yaml__includes");
    let out = run_suite(&dir, &["validate", "included-level1.yml"], &dir, LIMIT, None);
    let v = yaml(&out.stdout);
    for key in ["level1", "level2", "level3"] {
        assert_eq!(v[key], serde_yaml::Value::Bool(true), "{key}\n{out}");
    }
    let out = run_suite(&dir, &["validate", "included-circular1.yml"], &dir, LIMIT, None);
    let v = yaml(&out.stdout);
    assert_eq!((v["level1"].as_bool(), v["level2"].as_bool()), (Some(true), Some(true)), "{out}");
}
