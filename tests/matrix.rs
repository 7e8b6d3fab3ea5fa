//! Parameter sweeps (`matrix:` in an execution) against the demo server: the cells a product and
//! a zip make, what each cell's requests carried (the server's `/echo` log), one row per cell in
//! `matrix.csv`, cells in summary.json and JUnit, and the errors a bad matrix gives before load.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::util::artifacts::{matrix_csv, summary};
use crate::util::{run_suite_env, DemoTarget, Project};

const LIMIT: Duration = Duration::from_secs(90);

#[test]
fn a_product_runs_every_cell_with_its_own_values() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // `vus` sets the users (a number from a placeholder) and, with `model`, the address, a header,
    // the body and a criterion's threshold; think time keeps every user busy for ~0.6 s.
    p.file(
        "t/sweep.yaml",
        &format!(
            r#"execution:
- concurrency: ${{vus}}
  iterations: 3
  scenario: s
  matrix:
    vus: [1, 3]
    model: [resnet, bert]
scenarios:
  s:
    think-time: 200ms
    requests:
    - url: {url}/echo/${{model}}?vus=${{vus}}
      method: POST
      label: infer-${{model}}
      headers: {{X-Model: '${{model}}'}}
      body: '${{model}}/${{vus}}'
reporting:
- module: passfail
  criteria: ['avg-rt>${{vus}}s', 'fail>0%']
"#,
            url = demo.url()
        ),
    );
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");

    // What the server received, per cell: 3 iterations of each user, with the cell's values.
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for request in demo.echo_log() {
        let model = request["path"].as_str().unwrap().trim_start_matches("/echo/").to_string();
        let vus = request["query"].as_str().unwrap().trim_start_matches("vus=").to_string();
        assert_eq!(request["headers"]["x-model"], model.as_str(), "{request}");
        assert_eq!(request["body"], format!("{model}/{vus}").as_str(), "{request}");
        *received.entry((vus, model)).or_default() += 1;
    }
    let expected: BTreeMap<(String, String), usize> =
        [("1", "bert", 3), ("1", "resnet", 3), ("3", "bert", 9), ("3", "resnet", 9)]
            .into_iter()
            .map(|(v, m, n)| ((v.to_string(), m.to_string()), n))
            .collect();
    assert_eq!(received, expected);

    // One folder, JUnit suite and matrix.csv row per cell, in the matrix's order.
    let run = out.run_dir();
    let cells = ["vus=1,model=resnet", "vus=1,model=bert", "vus=3,model=resnet", "vus=3,model=bert"];
    for cell in cells {
        assert!(run.join(format!("sweep[{cell}]")).join("test.json").is_file(), "{cell}");
    }
    let junit = out.junit();
    junit.assert_schema_valid();
    for cell in cells {
        assert_eq!(junit.suites_named(&format!("sweep[{cell}]")), 1, "{junit}");
    }
    assert!(junit.text.contains(r#"<property name="matrix.model" value="bert"/>"#), "{junit}");
    assert!(junit.text.contains(r#"classname="suite.sweep[vus=3,model=bert]""#), "{junit}");
    let rows = matrix_csv(&run.join("matrix.csv"));
    let got: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (r["cell"].as_str(), r["vus"].as_str(), r["model"].as_str(), r["hits"].as_str(), r["state"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("vus=1,model=resnet", "1", "resnet", "3", "passed"),
            ("vus=1,model=bert", "1", "bert", "3", "passed"),
            ("vus=3,model=resnet", "3", "resnet", "9", "passed"),
            ("vus=3,model=bert", "3", "bert", "9", "passed"),
        ]
    );
    // A matrix over concurrency: each cell shows its own number of active users.
    let users: Vec<&str> = rows.iter().map(|r| r["users"].as_str()).collect();
    assert_eq!(users, ["1", "1", "3", "3"]);
    for r in &rows {
        assert_eq!((r["criteria_passed"].as_str(), r["criteria_failed"].as_str()), ("2", "0"), "{r:?}");
    }

    // summary.json: each cell a test with its parameters (numbers where they are numbers).
    let s = summary(&run.join("summary.json"));
    let tests = s["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4);
    assert_eq!(tests[3]["cell"]["parameters"], serde_json::json!({"vus": 3, "model": "bert"}));
    assert_eq!(tests[3]["cell"]["of"], "sweep");
    assert_eq!(tests[3]["criteria"][0]["name"], "avg-rt>3s", "the threshold is the cell's");
    assert_eq!(tests[3]["labels"][0]["label"], "infer-bert");
}

#[test]
fn a_zip_from_environment_lists_runs_the_lists_side_by_side() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // Seldon's habit: parallel comma-separated lists in environment variables.
    p.file(
        "t/models.yaml",
        &format!(
            r#"execution:
- iterations: 2
  scenario: s
  matrix-mode: zip
  matrix:
    model: {{from-env: MODELNAME_PREFIX}}
    kind: {{from-env: MODEL_TYPE}}
scenarios:
  s:
    requests:
    - url: {url}/echo/${{model}}?kind=${{kind}}
"#,
            url = demo.url()
        ),
    );
    let env =
        [("MODELNAME_PREFIX", Path::new("tfsimplea, iris ,mnist")), ("MODEL_TYPE", Path::new("tfsimple,sklearn,onnx"))];
    let reports = p.path().join("reports");
    let list = run_suite_env(p.path(), &["run", "-t", "t", "--list"], &reports, LIMIT, None, &env);
    assert_eq!(list.code, 0, "{list}");
    assert!(list.stdout.contains("matrix (zip) over model, kind: 3 cell(s)"), "{list}");
    assert!(list.stdout.contains("models[model=iris,kind=sklearn]"), "{list}");
    assert!(!reports.exists() && demo.echo_log().is_empty(), "--list sends no load and writes nothing");

    let out = run_suite_env(p.path(), &["run", "-t", "t"], &reports, LIMIT, None, &env);
    assert_eq!(out.code, 0, "{out}");
    let mut got: Vec<String> = demo
        .echo_log()
        .iter()
        .map(|r| format!("{}?{}", r["path"].as_str().unwrap(), r["query"].as_str().unwrap()))
        .collect();
    got.dedup();
    assert_eq!(got, ["/echo/tfsimplea?kind=tfsimple", "/echo/iris?kind=sklearn", "/echo/mnist?kind=onnx"]);
    let rows = matrix_csv(&out.run_dir().join("matrix.csv"));
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["hits"] == "2" && r["state"] == "passed"), "{rows:?}");
}

#[test]
fn services_start_once_unless_they_use_a_parameter() {
    let p = Project::new();
    // Services that use a parameter start again for each cell (each writes its own value);
    // services that do not start once for every cell and repeat.
    let test = |services: &str| {
        format!(
            "execution:\n- iterations: 1\n  scenario: s\n  matrix: {{size: [1, 2]}}\nservices:\n- module: shellexec\n  prepare:\n  - {services}\nscenarios:\n  s:\n    requests: ['http://127.0.0.1:9/']\n"
        )
    };
    p.file("t/vary.yaml", &test("echo started-${size} >> vary.txt"));
    p.file("t/once.yaml", &test("echo started >> once.txt"));
    let out = p.suite(&["run", "-t", "t", "--repeat", "2"], LIMIT);
    // The requests fail (nothing listens on port 9), which is no criterion here.
    assert_eq!(out.code, 0, "{out}");
    let read = |f: &str| std::fs::read_to_string(p.path().join(f)).unwrap_or_default();
    assert_eq!(read("vary.txt"), "started-1\nstarted-2\n", "{out}");
    assert_eq!(read("once.txt"), "started\n", "{out}");
    assert!(out.run_dir().join("once[size=2]@2/test.json").is_file(), "{out}");
}

#[test]
fn a_bad_matrix_is_an_error_in_the_file_before_any_load() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file(
        "t/bad.yaml",
        &format!(
            "execution:\n- iterations: 1\n  scenario: s\n  matrix-mode: zip\n  matrix: {{a: [1, 2, 3], b: [x, y]}}\nscenarios:\n  s:\n    requests: ['{}/echo']\n",
            demo.url()
        ),
    );
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("t/bad.yaml:5:11"), "{out}");
    assert!(out.stderr.contains("`matrix-mode: zip` needs lists of one length; these have a: 3, b: 2"), "{out}");
    assert!(demo.echo_log().is_empty(), "no request was sent");
    let junit = out.junit();
    assert_eq!(junit.count("error"), 1, "{junit}");

    // Over the cap: the count and where to raise it.
    p.file("t/bad.yaml", "execution:\n- scenario: s\n  matrix: {a: [1, 2, 3], b: [1, 2, 3]}\n  matrix-max: 4\n");
    let out = p.suite(&["validate", "t/bad.yaml"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("t/bad.yaml:4:15") && out.stderr.contains("9 cells, more than the 4 allowed"), "{out}");
}
