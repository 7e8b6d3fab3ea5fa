//! `executor: locust`: the real Locust (installed by `scripts/test-tools.sh`) runs a locustfile
//! against the demo server on 127.0.0.1 beside suite's hook module, and its requests come back
//! as suite's samples: the counts equal Locust's own `locust_stats.csv`, criteria (on requests
//! and on the server's monitoring) stop it early, a Locust killed mid-test leaves a verdict and
//! partial reports, and a Wikimedia-style layout picks its model by `MODEL`.

use std::path::Path;
use std::time::Duration;

use crate::util::artifacts::{self, LOCUST_STATS_HEADER};
use crate::util::{tool, DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(90);

const LOCUSTFILE: &str = r#"
from locust import HttpUser, constant, task

print("the locustfile's own print goes to locust.err, not among the results")

class Pinger(HttpUser):
    wait_time = constant(0.01)

    @task
    def both(self):
        self.client.get("/ping", name="ping")
        self.client.get("/status/404", name="missing")
"#;

/// A test `t/locust_t.yaml` running `t/<script>` with `execution`, `criteria` and `extra` YAML.
fn run(
    p: &Project,
    locust: &Path,
    demo: &DemoTarget,
    script: &str,
    execution: &str,
    criteria: &str,
    extra: &str,
) -> Output {
    let yaml = format!(
        "execution:\n- executor: locust\n{execution}  scenario: s\nscenarios:\n  s:\n    default-address: {}\n    script: {script}\nmodules:\n  locust:\n    path: {}\n{extra}reporting:\n- module: passfail\n  criteria:\n{criteria}- module: junit-xml\n  data-source: pass-fail\n",
        demo.url(),
        locust.display(),
    );
    p.file("t/locust_t.yaml", &yaml);
    p.suite(&["run", "-t", "t"], LIMIT)
}

/// Locust's own total: the Aggregated row of its `locust_stats.csv`.
fn locust_total(out: &Output) -> u64 {
    let rows = artifacts::locust_csv(&out.run_dir().join("locust_t/locust/locust_stats.csv"), LOCUST_STATS_HEADER);
    let all = rows.iter().find(|r| r["Name"] == "Aggregated").expect("an Aggregated row");
    all["Request Count"].parse().unwrap()
}

/// Hits per label in suite's `final_stats.csv` (the empty label is the total).
fn hits(out: &Output, label: &str) -> Option<u64> {
    let stats = artifacts::final_stats(&out.run_dir().join("locust_t/final_stats.csv"));
    stats.iter().find(|r| r["label"] == label).map(|r| r["throughput"].parse::<f64>().unwrap() as u64)
}

#[test]
fn locust_requests_are_suite_samples_counted_as_locust_counts_them() {
    let Some(locust) = tool("locust") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/locustfile.py", LOCUSTFILE);
    let criteria = "  - fail of ping>0%\n  - fail of missing<100%\n";
    let out = run(&p, &locust, &demo, "locustfile.py", "  concurrency: 3\n  iterations: 5\n", criteria, "");
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("locust: locust 2."), "the version is said once: {out}");
    // 3 users × 5 iterations (task runs) × 2 requests, labelled by the requests' names.
    assert_eq!((hits(&out, "ping"), hits(&out, "missing")), (Some(15), Some(15)), "{out}");
    assert_eq!(locust_total(&out), 30);
    let err = std::fs::read_to_string(out.run_dir().join("locust_t/locust.err")).unwrap();
    assert!(err.contains("the locustfile's own print"), "{err}");
    assert!(out.run_dir().join("locust_t/locust/locust.log").is_file());
}

#[test]
fn a_criterion_stops_locust_early_and_the_run_fails() {
    let Some(locust) = tool("locust") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/locustfile.py", LOCUSTFILE);
    let criteria = "  - fail of missing>50% for 2s, stop as failed\n";
    let out = run(&p, &locust, &demo, "locustfile.py", "  concurrency: 2\n  hold-for: 60s\n", criteria, "");
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(30), "Locust was stopped, not left to run 60 s: {:?}", out.elapsed);
    assert!(out.stdout.contains("stopped early by criterion"), "{out}");
    // What Locust reported before it stopped is all there, and equals its own count.
    let total = locust_total(&out);
    assert!(total > 0);
    assert_eq!(hits(&out, ""), Some(total), "{out}");
}

#[test]
fn a_monitoring_criterion_judges_the_server_locust_loads() {
    let Some(locust) = tool("locust") else { return };
    let p = Project::new();
    let pid_file = p.path().join("frontend.pid");
    let demo = DemoTarget::start(&["--workers", "2", "--pid-file", &pid_file.display().to_string()]);
    p.file("t/locustfile.py", LOCUSTFILE);
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: ServerLocalClient/total_workers\n    condition: '<'\n    threshold: 3\n    timeframe: 2s\n    stop: true\n    fail: true\n";
    let services = format!(
        "services:\n- module: server_local_monitoring\n  ServerLocalClient:\n  - interval: 1s\n    frontend-pid-file: {}\n    metrics: [total_workers, cpu]\n",
        pid_file.display()
    );
    let out = run(&p, &locust, &demo, "locustfile.py", "  concurrency: 2\n  hold-for: 60s\n", criteria, &services);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(30), "{:?}", out.elapsed);
    assert!(out.stdout.contains("total_workers"), "{out}");
    assert!(hits(&out, "ping").unwrap_or(0) > 0, "Locust loaded the server meanwhile: {out}");
    assert_eq!(hits(&out, ""), Some(locust_total(&out)));
}

#[test]
fn locust_killed_mid_test_leaves_a_verdict_and_its_samples() {
    let Some(locust) = tool("locust") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/locustfile.py", LOCUSTFILE);
    // A wrapper that runs Locust and kills it with SIGKILL after 3 s, as an OOM killer would.
    let wrapper = p.path().join("locust-dies");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nif [ \"$1\" = --version ]; then exec {l} --version; fi\n{l} \"$@\" &\nsleep 3\nkill -9 $!\necho 'locust went away' >&2\nexit 137\n", l = locust.display()),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();
    let out =
        run(&p, &wrapper, &demo, "locustfile.py", "  concurrency: 2\n  hold-for: 30s\n", "  - fail of ping>0%\n", "");
    assert_eq!(out.code, 1, "a test error: {out}");
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    assert!(out.stdout.contains("locust exited with code 137; its last words:"), "{out}");
    assert!(out.stdout.contains("locust went away"), "{out}");
    assert!(hits(&out, "ping").unwrap_or(0) > 0, "{out}");
    let junit = out.junit();
    assert!(!junit.failures().is_empty() || junit.count("error") > 0, "JUnit says the test did not pass");
}

#[test]
fn a_locustfile_that_cannot_be_imported_is_a_test_error_with_its_traceback() {
    let Some(locust) = tool("locust") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/locustfile.py", "import no_such_module_here\n");
    let out =
        run(&p, &locust, &demo, "locustfile.py", "  concurrency: 1\n  hold-for: 5s\n", "  - fail of ping>0%\n", "");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("locust exited with code 1"), "{out}");
    assert!(out.stdout.contains("No module named 'no_such_module_here'"), "{out}");
}

/// Wikimedia's layout (inference-services `test/locust`): one file per model under `models/`,
/// `models/__init__.py` importing each, and a locustfile that loads the one `MODEL` names.
#[test]
fn a_wikimedia_style_layout_runs_the_model_named_by_model() {
    let Some(locust) = tool("locust") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let model = |name: &str, class: &str| {
        format!(
            "from locust import HttpUser, constant, task\n\nclass {class}(HttpUser):\n    wait_time = constant(0)\n\n    @task\n    def predict(self):\n        self.client.get(\"/ping?model={name}\", name=\"{name}\")\n"
        )
    };
    p.file("t/lt/models/revertrisk.py", &model("revertrisk", "RevertRisk"));
    p.file("t/lt/models/revscoring.py", &model("revscoring", "RevScoring"));
    p.file(
        "t/lt/models/__init__.py",
        "from .revertrisk import RevertRisk  # noqa\nfrom .revscoring import RevScoring  # noqa\n",
    );
    p.file(
        "t/lt/locustfile.py",
        "import importlib\nimport os\n\nmodel = os.environ.get(\"MODEL\")\nif model:\n    module = importlib.import_module(f\"models.{model}\")\n    globals().update({k: v for k, v in vars(module).items() if isinstance(v, type)})\nelse:\n    from models import *  # noqa\n",
    );
    let out = run(
        &p,
        &locust,
        &demo,
        "lt/locustfile.py",
        "  concurrency: 2\n  iterations: 3\n",
        "  - fail of revertrisk>0%\n",
        "settings:\n  env:\n    MODEL: revertrisk\n",
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(hits(&out, "revertrisk"), Some(6), "{out}");
    assert_eq!(hits(&out, "revscoring"), None, "only the model MODEL names ran: {out}");
    assert_eq!(locust_total(&out), 6);
}

#[test]
fn a_missing_locust_or_a_script_locust_cannot_load_is_a_clear_error_before_anything_runs() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/locustfile.py", LOCUSTFILE);
    let missing = Path::new("/nonexistent/locust");
    let out = run(&p, missing, &demo, "locustfile.py", "  concurrency: 1\n", "  - fail of ping>0%\n", "");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("`modules.locust.path` names `/nonexistent/locust`, which is not a file"), "{out}");
    assert!(out.stderr.contains("pip install locust"), "{out}");
    assert!(out.stderr.contains("locust_t.yaml:"), "the error points into the test file: {out}");
    p.file("t/locustfile.txt", LOCUSTFILE);
    let out = run(&p, missing, &demo, "locustfile.txt", "  concurrency: 1\n", "  - fail of ping>0%\n", "");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("Locust loads only `.py` files"), "{out}");
}
