//! Request bodies written as minijinja templates (`body-template`, `body-file-template`) against
//! the demo server's `/echo`: what it received, rendered once from `settings.env` or per request
//! from `vu` and `iteration`, and the errors a bad template gives before any load.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts::final_stats;
use crate::util::{DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `suite <command>` on the one test file `t/s.yaml` (files beside it are not tests).
fn suite(p: &Project, command: &str, yaml: &str) -> Output {
    match command {
        "validate" => p.file("t/s.yaml", yaml).suite(&["validate", "t/s.yaml"], LIMIT),
        _ => p.run_test(yaml, LIMIT),
    }
}

#[test]
fn a_body_template_is_rendered_from_settings_env() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // `size` as a matrix cell gives it: a variable of settings.env.
    let yaml = format!(
        r#"settings:
  env:
    size: 1024
    model: resnet
execution:
- iterations: 2
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}/echo/static
      method: POST
      headers: {{Content-Type: text/plain}}
      body-template: '{{{{ model }}}}:{{{{ "x" * (size|int) }}}}'
"#,
        url = demo.url()
    );
    let out = suite(&p, "run", &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    assert_eq!(log.len(), 2, "{log:?}");
    let expected = format!("resnet:{}", "x".repeat(1024));
    for request in &log {
        assert_eq!(request["body"], expected.as_str());
        assert_eq!(request["headers"]["content-type"], "text/plain");
        assert_eq!(request["headers"]["content-length"], "1031");
    }
}

#[test]
fn a_body_file_template_is_rendered_per_request_from_vu_and_iteration() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file(
        "t/payload.j2",
        "{\"model\": \"{{ model }}\", \"vu\": {{ vu }}, \"iteration\": {{ iteration }}, \"id\": \"{{ uuid() }}\", \"user\": \"${user}\"}\n",
    );
    let yaml = format!(
        r#"settings:
  env: {{model: bert}}
execution:
- concurrency: 2
  iterations: 3
  scenario: s
scenarios:
  s:
    variables: {{user: alice}}
    requests:
    - url: {url}/echo/file
      method: POST
      body-file-template: payload.j2
"#,
        url = demo.url()
    );
    let out = suite(&p, "run", &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    assert_eq!(log.len(), 6, "{log:?}");
    let mut seen = Vec::new();
    let mut ids = HashSet::new();
    for request in &log {
        let text = request["body"].as_str().unwrap();
        assert!(text.ends_with("}\n"), "the file's newline is kept: {text:?}");
        // The `${user}` placeholder left in the rendered text is filled from the user's variables.
        let body: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!((body["model"].as_str(), body["user"].as_str()), (Some("bert"), Some("alice")), "{text}");
        seen.push((body["vu"].as_u64().unwrap(), body["iteration"].as_u64().unwrap()));
        ids.insert(body["id"].as_str().unwrap().to_string());
        // No Content-Type is made up for a template.
        assert!(request["headers"].get("content-type").is_none(), "{request}");
    }
    seen.sort();
    assert_eq!(seen, [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]);
    assert_eq!(ids.len(), 6, "a uuid per request: {ids:?}");
}

#[test]
fn a_template_that_fails_at_run_time_fails_its_sample() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 3
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}/echo/fails
      label: fails
      method: POST
      body-template: '{{{{ [10, 20][iteration] }}}}'
"#,
        url = demo.url()
    );
    let out = suite(&p, "run", &yaml);
    assert_eq!(out.code, 0, "{out}");
    let bodies: Vec<Value> = demo.echo_log().iter().map(|r| r["body"].clone()).collect();
    assert_eq!(bodies, ["10", "20"]);
    let stats = final_stats(&out.run_dir().join("s/final_stats.csv"));
    let row = stats.iter().find(|r| r["label"] == "fails").unwrap_or_else(|| panic!("{stats:?}"));
    assert_eq!((row["succ"].as_str(), row["fail"].as_str()), ("2", "1"), "{row:?}");
}

#[test]
fn a_bad_template_is_an_error_at_its_line_and_column_before_any_load() {
    let p = Project::new();
    let request = "    requests:\n    - url: http://127.0.0.1:9/\n      method: POST\n";
    let head = format!(
        "settings:\n  env: {{size: 3}}\nexecution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n{request}"
    );
    for command in ["run", "validate"] {
        let out = suite(
            &p,
            command,
            &format!("{head}      body-template: |\n        {{\n          \"n\": {{{{ sise|int }}}}\n        }}\n"),
        );
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stderr.contains("error: `body-template`: `sise` is not defined"), "{out}");
        assert!(out.stderr.contains("t/s.yaml:13:19"), "{out}");
        assert!(out.stderr.contains("did you mean `size`?"), "{out}");
        assert!(!out.stderr.contains("panicked"), "{out}");
    }
    let out = suite(&p, "run", &format!("{head}      body-template: 'a {{{{ 1 + }}}}'\n"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("t/s.yaml:11:32"), "{out}");
    assert!(out.stderr.contains("`body-template`: syntax error"), "{out}");
    p.file("t/bad.j2", "{\n  \"at\": {{ when() }}\n}\n");
    let out = suite(&p, "run", &format!("{head}      body-file-template: bad.j2\n"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("t/bad.j2:2:12"), "{out}");
    assert!(out.stderr.contains("`body-file-template`: `when` is not defined"), "{out}");
    let out = suite(&p, "run", &format!("{head}      body-file-template: nowhere.j2\n"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("t/s.yaml:11:27"), "{out}");
    assert!(out.stderr.contains("cannot read body-file-template `nowhere.j2`"), "{out}");
    let out = suite(&p, "run", &format!("{head}      body: plain\n      body-template: x\n"));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("`body-template` and `body` are both set"), "{out}");
}
