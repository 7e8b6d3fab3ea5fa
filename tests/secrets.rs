//! A secret from `settings.env` substituted into a URL, a header and a body, and a password in a
//! URL's user info, appear in no artifact and in no console output: each is masked by value.

use std::path::Path;
use std::time::Duration;

use crate::util::{DemoTarget, Project};

const PASSWORD: &str = "Hunter2-s3cret";
const USER_PASSWORD: &str = "letMeIn42";

fn suite_yaml(target: &DemoTarget) -> String {
    let port = target.port;
    format!(
        r#"settings:
  env:
    PASSWORD: {PASSWORD}
execution:
- concurrency: 1
  hold-for: 2s
  scenario: s
scenarios:
  s:
    think-time: 100ms
    store-cookie: false
    headers:
      X-Db: ${{PASSWORD}}
    requests:
    - url: http://127.0.0.1:{port}/predictions/m?pw=${{PASSWORD}}
      method: POST
      body: '{{"password": "${{PASSWORD}}"}}'
    - url: http://admin:{USER_PASSWORD}@127.0.0.1:{port}/missing/${{PASSWORD}}
reporting:
- module: passfail
  criteria:
  - avg-rt>10s
  - subject: hits
    label: http://127.0.0.1:{port}/predictions/m?pw=${{PASSWORD}}
    condition: '<'
    threshold: 1
- module: junit-xml
  data-source: sample-labels
- junit-xml
"#
    )
}

/// Every file below `dir`, with its text.
fn files(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
}

#[test]
fn secrets_are_masked_by_value_in_every_artifact_and_on_the_console() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file("t/secret.yaml", &suite_yaml(&target));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let mut all = vec![("stdout".to_string(), out.stdout.clone()), ("stderr".to_string(), out.stderr.clone())];
    files(&out.run_dir(), &mut all);
    for name in ["report.html", "summary.json", "junit.xml", "secret/kpi.csv", "secret/seconds.jsonl"] {
        assert!(all.iter().any(|(path, _)| path.ends_with(name)), "no {name}");
    }
    for (path, text) in &all {
        for secret in [PASSWORD, USER_PASSWORD] {
            assert!(!text.contains(secret), "{path} shows `{secret}`:\n{}", &text[..text.len().min(3000)]);
        }
    }
    let masked = |name: &str| all.iter().find(|(p, _)| p.ends_with(name)).is_some_and(|(_, t)| t.contains("***"));
    for name in ["stdout", "report.html", "summary.json", "secret/kpi.csv", "secret/effective.yml"] {
        assert!(masked(name), "{name} shows no ***");
    }
    // A criterion naming a label with the secret in it still finds its label.
    let summary: serde_json::Value =
        serde_json::from_str(&all.iter().find(|(p, _)| p.ends_with("summary.json")).unwrap().1).unwrap();
    let statuses: Vec<&str> =
        summary["tests"][0]["criteria"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["passed", "passed"], "{}", summary["tests"][0]["criteria"]);
    let effective = &all.iter().find(|(p, _)| p.ends_with("effective.yml")).unwrap().1;
    assert!(effective.contains("store-cookie: false"), "{effective}");

    let validate = p.suite(&["validate", "t/secret.yaml"], Duration::from_secs(30));
    assert_eq!(validate.code, 0, "{validate}");
    for secret in [PASSWORD, USER_PASSWORD] {
        assert!(!validate.stdout.contains(secret) && !validate.stderr.contains(secret), "{validate}");
    }
    assert!(validate.stdout.contains("X-Db: '***'"), "{validate}");

    // A planning error quoting a value with the secret substituted into it.
    let bad = suite_yaml(&target).replace("  - avg-rt>10s", "  - avg-rt of http://h/?pw=${PASSWORD}>10s");
    p.file("bad/secret.yaml", &bad);
    let rejected = p.suite(&["validate", "bad/secret.yaml"], Duration::from_secs(30));
    assert_eq!(rejected.code, 1, "{rejected}");
    assert!(rejected.stderr.contains("pw=***"), "{rejected}");
    assert!(!rejected.stderr.contains(PASSWORD) && !rejected.stdout.contains(PASSWORD), "{rejected}");
}
