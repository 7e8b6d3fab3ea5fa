//! `executor: k6`: the real k6 (installed by `scripts/test-tools.sh`) runs its script against the
//! demo server on 127.0.0.1, and its requests come back as suite's samples: the counts equal
//! k6's own, criteria stop it early, a k6 killed mid-test leaves a verdict and partial reports,
//! and a missing k6 is a clear error.

use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts;
use crate::util::{tool, DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(90);

const SCRIPT: &str = r#"
import http from 'k6/http';
export default function () {
  http.get(`${__ENV.BASE}/ping`, { tags: { name: 'ping' } });
  http.get(`${__ENV.BASE}/missing`, { tags: { name: 'missing' } });
}
"#;

/// A test `t/k6_t.yaml` running `script.js` with `execution` and `criteria`.
fn run(p: &Project, k6: &std::path::Path, demo: &DemoTarget, execution: &str, criteria: &str) -> Output {
    p.file("t/script.js", SCRIPT);
    let yaml = format!(
        "execution:\n- executor: k6\n{execution}  scenario: s\nscenarios:\n  s:\n    script: script.js\nmodules:\n  k6:\n    path: {}\nsettings:\n  env:\n    BASE: {}\nreporting:\n- module: passfail\n  criteria:\n{criteria}- module: junit-xml\n  data-source: pass-fail\n",
        k6.display(),
        demo.url()
    );
    p.file("t/k6_t.yaml", &yaml);
    p.suite(&["run", "-t", "t"], LIMIT)
}

fn k6_total(out: &Output) -> u64 {
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir().join("k6_t/k6-summary.json")).unwrap()).unwrap();
    summary["metrics"]["http_reqs"]["count"].as_u64().unwrap()
}

#[test]
fn k6_requests_are_suite_samples_counted_as_k6_counts_them() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let out =
        run(&p, &k6, &demo, "  concurrency: 3\n  iterations: 5\n", "  - fail of ping>0%\n  - fail of missing<100%\n");
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("k6: k6 v"), "the version is said once: {out}");
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    let stats = artifacts::final_stats(&out.run_dir().join("k6_t/final_stats.csv"));
    let hits = |label: &str| {
        stats.iter().find(|r| r["label"] == label).map(|r| r["throughput"].parse::<f64>().unwrap() as u64)
    };
    // 3 users × 5 iterations × 2 requests, as k6 counted them.
    assert_eq!((hits("ping"), hits("missing")), (Some(15), Some(15)), "{stats:?}");
    assert_eq!(k6_total(&out), 30);
    assert!(summary.to_string().contains("missing"), "{summary}");
}

#[test]
fn a_criterion_stops_k6_early_and_the_run_fails() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let out =
        run(&p, &k6, &demo, "  concurrency: 2\n  hold-for: 60s\n", "  - fail of missing>50% for 2s, stop as failed\n");
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(30), "k6 was stopped, not left to run 60 s: {:?}", out.elapsed);
    assert!(out.stdout.contains("stopped early by criterion"), "{out}");
    // What k6 reported before it stopped is all there, and equals its own count.
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    assert!(k6_total(&out) > 0);
    let stats = artifacts::final_stats(&out.run_dir().join("k6_t/final_stats.csv"));
    let all: u64 = stats
        .iter()
        .find(|r| r["label"].is_empty() || r["label"] == "ALL")
        .map_or(0, |r| r["throughput"].parse::<f64>().unwrap() as u64);
    assert_eq!(all, k6_total(&out), "{summary}");
}

#[test]
fn k6_killed_mid_test_leaves_a_verdict_and_its_samples() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // A wrapper that runs k6 and kills it with SIGKILL after 2 s, as an OOM killer would.
    let wrapper = p.path().join("k6-dies");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nif [ \"$1\" = version ]; then exec {k6} version; fi\n{k6} \"$@\" &\nsleep 2\nkill -9 $!\necho 'k6 went away' >&2\nexit 137\n", k6 = k6.display()),
    )
    .unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&wrapper).status().unwrap();
    let out = run(&p, &wrapper, &demo, "  concurrency: 2\n  hold-for: 30s\n", "  - fail of ping>0%\n");
    assert_eq!(out.code, 1, "a test error: {out}");
    assert!(out.elapsed < Duration::from_secs(20), "{:?}", out.elapsed);
    assert!(out.stdout.contains("k6 exited with code 137; its last words:\nk6 went away"), "{out}");
    let stats = artifacts::final_stats(&out.run_dir().join("k6_t/final_stats.csv"));
    assert!(stats.iter().any(|r| r["label"] == "ping" && r["throughput"].parse::<f64>().unwrap() > 0.0), "{stats:?}");
    let junit = out.junit();
    assert!(!junit.failures().is_empty() || junit.count("error") > 0, "JUnit says the test did not pass");
}

#[test]
fn a_missing_k6_is_a_clear_error_before_anything_runs() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let out = run(
        &p,
        std::path::Path::new("/nonexistent/k6"),
        &demo,
        "  concurrency: 1\n  iterations: 1\n",
        "  - fail of ping>0%\n",
    );
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("`modules.k6.path` names `/nonexistent/k6`, which is not a file"), "{out}");
    assert!(out.stderr.contains("install k6"), "{out}");
    assert!(out.stderr.contains("k6_t.yaml:"), "the error points into the test file: {out}");
}

/// Determined's k6 style: log in, take the token from the answer, call the API with it and with
/// parameters from environment variables.
const DETERMINED: &str = r#"
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 1, iterations: 1 };
export function setup() {
  const login = http.post(`${__ENV.BASE}/echo/api/v1/auth/login?token=${__ENV.SECRET_TOKEN}`, JSON.stringify({ username: __ENV.DET_USER }), { tags: { name: 'login' } });
  return { token: login.json('query').split('=')[1] };
}
export default function (data) {
  const headers = { Authorization: `Bearer ${data.token}` };
  for (let i = 0; i < Number(__ENV.CALLS); i++) {
    const r = http.get(`${__ENV.BASE}/echo/api/v1/experiments?limit=${__ENV.LIMIT}`, { headers, tags: { name: 'experiments' } });
    check(r, { 'authorized': (x) => x.status === 200 });
  }
}
"#;

#[test]
fn a_determined_style_script_logs_in_and_calls_the_api_with_its_token() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/determined.js", DETERMINED);
    // No load in the execution: the script's own options run (one user, one iteration).
    let yaml = format!(
        "execution:\n- executor: k6\n  scenario: det\nscenarios:\n  det:\n    script: determined.js\nmodules:\n  k6:\n    path: {}\nsettings:\n  env:\n    BASE: {}\n    SECRET_TOKEN: tok123\n    DET_USER: admin\n    CALLS: '3'\n    LIMIT: '7'\nreporting:\n- module: passfail\n  criteria:\n  - fail of experiments>0%\n",
        k6.display(),
        demo.url()
    );
    p.file("t/det_t.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let (_, body) = demo.request("GET", "/echo-log");
    let log: Vec<Value> = serde_json::from_str(&body).unwrap();
    let calls: Vec<&Value> = log.iter().filter(|r| r["path"] == "/echo/api/v1/experiments").collect();
    assert_eq!(calls.len(), 3, "{log:?}");
    for c in &calls {
        assert_eq!(c["headers"]["authorization"], "Bearer tok123");
        assert_eq!(c["query"], "limit=7");
    }
    let stats = artifacts::final_stats(&out.run_dir().join("det_t/final_stats.csv"));
    let hits = |label: &str| {
        stats.iter().find(|r| r["label"] == label).map(|r| r["throughput"].parse::<f64>().unwrap() as u64)
    };
    assert_eq!((hits("login"), hits("experiments")), (Some(1), Some(3)), "{stats:?}");
}

#[test]
fn k6_thresholds_failing_is_said_but_suite_criteria_decide() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file(
        "t/thresholds.js",
        "import http from 'k6/http';\nexport const options = { thresholds: { http_req_failed: ['rate<0.01'] } };\nexport default function () { http.get(`${__ENV.BASE}/missing`, { tags: { name: 'missing' } }); }\n",
    );
    let yaml = format!(
        "execution:\n- executor: k6\n  concurrency: 1\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    script: thresholds.js\nmodules:\n  k6:\n    path: {}\nsettings:\n  env:\n    BASE: {}\nreporting:\n- module: passfail\n  criteria:\n  - fail of missing<100%\n- module: junit-xml\n  data-source: pass-fail\n",
        k6.display(),
        demo.url()
    );
    p.file("t/k6_t.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "suite's criterion holds, whatever k6's thresholds say: {out}");
    assert!(out.stderr.contains("k6's own thresholds failed (exit 99)"), "{out}");
    let junit = out.junit();
    junit.assert_schema_valid();
    assert!(junit.to_string().contains("thresholds failed (exit 99)"), "said in the test's JUnit system-out: {junit}");
}

#[test]
fn k6_checks_and_custom_trends_are_labels_of_their_own_not_requests() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file(
        "t/checks.js",
        r#"import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
const inference = new Trend('inference_time', true);
const tokens = new Trend('tokens');
export default function () {
  const r = http.get(`${__ENV.BASE}/ping`, { tags: { name: 'ping' } });
  check(r, { 'is 200': (x) => x.status === 200, 'is 201': (x) => x.status === 201 });
  inference.add(25);
  tokens.add(7);
}
"#,
    );
    let yaml = format!(
        "execution:\n- executor: k6\n  concurrency: 2\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    script: checks.js\nmodules:\n  k6:\n    path: {}\nsettings:\n  env:\n    BASE: {}\nreporting:\n- module: passfail\n  criteria:\n  - fail of check is 200>0%\n  - fail of check is 201<100%\n  - avg-rt of inference_time>30ms\n- module: final-stats\n  dump-csv: final_stats.csv\n",
        k6.display(),
        demo.url()
    );
    p.file("t/k6_t.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "criteria on checks and a Trend are judged: {out}");
    let stats = artifacts::final_stats(&out.run_dir().join("k6_t/final_stats.csv"));
    let row =
        |label: &str| stats.iter().find(|r| r["label"] == label).unwrap_or_else(|| panic!("no {label}: {stats:?}"));
    let n = |label: &str, col: &str| row(label)[col].parse::<f64>().unwrap() as u64;
    assert_eq!((n("check is 200", "throughput"), n("check is 200", "fail")), (6, 0));
    assert_eq!((n("check is 201", "throughput"), n("check is 201", "fail")), (6, 6));
    assert_eq!(n("inference_time", "throughput"), 6);
    assert!(stats.iter().all(|r| r["label"] != "tokens"), "a Trend of counts is not a time: {stats:?}");
    // The requests are the 6 GETs, as k6 counts them: the checks and the Trend are not requests.
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    assert_eq!(summary["tests"][0]["requests_sent"], 6, "{summary}");
    assert_eq!(k6_total(&out), 6);
    assert_eq!(n("", "throughput"), 6, "the overall row counts requests only: {stats:?}");
}

/// k6's own `--summary-export` (the file the executor keeps) imports as a one-run baseline: the
/// counts and the failure rate are k6's.
#[test]
fn a_k6_summary_export_imports_as_a_baseline() {
    let Some(k6) = tool("k6") else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let out = run(&p, &k6, &demo, "  concurrency: 2\n  iterations: 5\n", "  - fail of ping>0%\n");
    assert_eq!(out.code, 0, "{out}");
    let export = out.run_dir().join("k6_t/k6-summary.json").display().to_string();
    let saved = p.suite(&["baseline", "save", &export, "--test", "k6_t", "--to", "bl"], LIMIT);
    assert_eq!(saved.code, 0, "{saved}");
    assert!(saved.stdout.contains("1 run(s) of k6_t (k6)"), "{saved}");
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("bl/k6_t.baseline.json")).unwrap()).unwrap();
    let overall = &baseline["labels"][""][0];
    // 2 users × 5 iterations × 2 requests, half of them to a path that answers 404.
    assert_eq!(overall["hits"], 20, "{baseline}");
    assert_eq!(overall["fail_pct"].as_f64(), Some(50.0), "{baseline}");
    assert!(overall["p95_ms"].as_f64().unwrap() > 0.0, "{baseline}");
}
