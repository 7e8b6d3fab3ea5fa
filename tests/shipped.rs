//! The README's main job: the shipped suites against the shipped demo server.

use std::time::Duration;

use crate::util::{repo, run_suite};

/// The shipped global config starts the demo server and the agent on fixed ports: one shipped
/// run at a time.
static FIXED_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    FIXED_PORTS.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn shipped_suites_pass_and_an_impossible_threshold_fails_them() {
    let _ports = one_at_a_time();
    let artifacts = tempfile::tempdir().unwrap();
    let out = run_suite(
        &repo(),
        &["run", "--test-dir", "suites", "--pattern", "*criteria*.yaml"],
        &artifacts.path().join("ok"),
        Duration::from_secs(300),
        None,
    );
    assert_eq!(out.code, 0, "{out}");
    let junit = out.junit();
    junit.assert_schema_valid();
    // Six tests, the sweep's four cells and the capacity search.
    assert_eq!(junit.count("testsuite"), 11, "{junit}");
    assert!(junit.case("capacity >= 20 rps").is_some_and(|c| !c.failed), "{junit}");
    let cells = crate::util::artifacts::matrix_csv(&out.run_dir().join("matrix.csv"));
    let names: Vec<&str> = cells.iter().map(|r| r["cell"].as_str()).collect();
    assert_eq!(
        names,
        ["vus=2,model=squeezenet", "vus=2,model=resnet-18", "vus=8,model=squeezenet", "vus=8,model=resnet-18"]
    );
    assert_eq!(junit.count("failure"), 0, "{junit}");
    assert_eq!(junit.count("error"), 0, "{junit}");
    let tests = [
        "ping_criteria",
        "inference_criteria",
        "mixed_criteria",
        "mms_model_criteria",
        "capacity_criteria",
        "grpc_criteria",
        "streaming_criteria",
    ];
    for test in tests.into_iter().chain(["sweep_criteria[vus=8,model=resnet-18]"]) {
        let dir = out.run_dir().join(test);
        let locust = [format!("{test}_stats.csv"), format!("{test}_stats_history.csv")];
        for file in ["effective.yml", "kpi.csv", "final_stats.csv", "xunit.xml"]
            .into_iter()
            .chain(locust.iter().map(String::as_str))
        {
            assert!(dir.join(file).is_file(), "{test}/{file} missing\n{out}");
        }
    }
    // The MMS-layout example runs its JMeter plan: setUp registers the model, the main group
    // infers and describes (with the model name the inference answer gave), tearDown unregisters.
    let summary = crate::util::artifacts::summary(&out.run_dir().join("summary.json"));
    let test = summary["tests"].as_array().unwrap().iter().find(|t| t["name"] == "mms_model_criteria").unwrap();
    let hits = |label: &str| {
        test["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["label"] == label)
            .map(|l| (l["hits"].as_u64(), l["fail"].as_u64()))
    };
    assert_eq!(hits("RegisterModel"), Some((Some(1), Some(0))), "{test}");
    assert_eq!(hits("UnregisterModel"), Some((Some(1), Some(0))), "{test}");
    let (inferred, failed) = hits("Inference").unwrap();
    assert!(inferred.unwrap() >= 50 && failed == Some(0), "{test}");
    let (described, failed) = hits("ModelDescription").unwrap();
    assert!(described.unwrap() >= 50 && failed == Some(0), "{test}");

    // The same run with one threshold made impossible (the ping test's own passfail entry comes
    // after the three reporters of global_config.yaml) exits 3 with the observed value.
    let out = run_suite(
        &repo(),
        &["run", "--test-dir", "suites", "--pattern", "ping_criteria.yaml", "-o", "reporting.3.criteria.0=avg-rt>0ms"],
        &artifacts.path().join("fail"),
        Duration::from_secs(120),
        None,
    );
    assert_eq!(out.code, 3, "{out}");
    let junit = out.junit();
    junit.assert_schema_valid();
    assert_eq!(junit.count("failure"), 1, "{junit}");
    assert!(junit.failures()[0].contains("observed"), "{junit}");
    assert!(junit.case("avg-rt>0ms").is_some_and(|c| c.failed), "{junit}");
}

/// The shipped k6 example runs with k6 (installed by `scripts/test-tools.sh`) against the same
/// demo server, its monitoring and reporters, and passes.
#[test]
fn the_shipped_k6_example_passes() {
    let Some(k6) = crate::util::tool("k6") else { return };
    let _ports = one_at_a_time();
    let artifacts = tempfile::tempdir().unwrap();
    let k6_path = format!("modules.k6.path={}", k6.display());
    let out = run_suite(
        &repo(),
        &["run", "--test-dir", "suites", "--pattern", "k6_*.yaml", "-o", &k6_path],
        &artifacts.path().join("k6"),
        Duration::from_secs(120),
        None,
    );
    assert_eq!(out.code, 0, "{out}");
    let summary = crate::util::artifacts::summary(&out.run_dir().join("summary.json"));
    let test = &summary["tests"][0];
    let hits = |label: &str| {
        test["labels"].as_array().unwrap().iter().find(|l| l["label"] == label).and_then(|l| l["hits"].as_u64())
    };
    assert_eq!(hits("login"), Some(1), "{test}");
    assert!(hits("list models").unwrap_or(0) > 20 && hits("predict").unwrap_or(0) > 20, "{test}");
}

/// The shipped Locust example (Wikimedia's layout, the model picked by MODEL) runs with Locust
/// (installed by `scripts/test-tools.sh`) against the same demo server and passes; another
/// MODEL sends only that model's requests.
#[test]
fn the_shipped_locust_example_passes() {
    let Some(locust) = crate::util::tool("locust") else { return };
    let _ports = one_at_a_time();
    let artifacts = tempfile::tempdir().unwrap();
    let path = format!("modules.locust.path={}", locust.display());
    let out = run_suite(
        &repo(),
        &["run", "--test-dir", "suites", "--pattern", "locust_*.yaml", "-o", &path],
        &artifacts.path().join("locust"),
        Duration::from_secs(120),
        None,
    );
    assert_eq!(out.code, 0, "{out}");
    let summary = crate::util::artifacts::summary(&out.run_dir().join("summary.json"));
    let labels: Vec<String> = summary["tests"][0]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        labels.contains(&"squeezenet predict".to_string()) && !labels.iter().any(|l| l.starts_with("resnet")),
        "{labels:?}"
    );
    let out = run_suite(
        &repo(),
        &[
            "run",
            "--test-dir",
            "suites",
            "--pattern",
            "locust_*.yaml",
            "-o",
            &path,
            "-o",
            "settings.env.MODEL=resnet",
            "-o",
            "reporting.3.criteria=[]",
        ],
        &artifacts.path().join("resnet"),
        Duration::from_secs(120),
        None,
    );
    assert_eq!(out.code, 0, "{out}");
    let summary = crate::util::artifacts::summary(&out.run_dir().join("summary.json"));
    let text = summary["tests"][0]["labels"].to_string();
    assert!(text.contains("resnet predict") && !text.contains("squeezenet"), "{text}");
}
