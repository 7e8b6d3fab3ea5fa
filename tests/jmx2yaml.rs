//! `suite jmx2yaml` and `suite validate plan.jmx` on a hand-written plan
//! (`tests/fixtures/jmx/shop_to_yaml.jmx`): the Taurus YAML's key points, the comments and
//! warnings for what it cannot say, and `suite validate` accepting the YAML it wrote.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{repo, run_suite, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

fn plan() -> PathBuf {
    repo().join("tests/fixtures/jmx/shop_to_yaml.jmx")
}

fn suite(p: &Project, args: &[&str]) -> Output {
    run_suite(p.path(), args, &p.path().join("reports"), LIMIT, None)
}

#[test]
fn jmx2yaml_writes_taurus_yaml_that_suite_validates() {
    let p = Project::new();
    let plan = plan();
    let out = suite(&p, &["jmx2yaml", plan.to_str().unwrap(), "-o", "shop.yaml", "-J", "receipt=receipt.png"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    let yaml = std::fs::read_to_string(p.path().join("shop.yaml")).unwrap();

    // One execution per thread group, setUp first, the scheduler's duration less the ramp-up.
    let v: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let execution = &v["execution"];
    assert_eq!(execution[0]["scenario"], "stock up", "{yaml}");
    assert_eq!(execution[1]["scenario"], "main buyers", "{yaml}");
    assert_eq!(execution[1]["concurrency"], 4);
    assert_eq!((execution[1]["ramp-up"].as_str(), execution[1]["hold-for"].as_str()), (Some("5s"), Some("60s")));
    assert_eq!(v["modules"]["local"]["sequential"], true);

    // Plan-level elements on every scenario; the rest where it applies.
    let buyers = &v["scenarios"]["main buyers"];
    assert_eq!(buyers["default-address"], "http://127.0.0.1:8080");
    assert_eq!(buyers["timeout"], "5s");
    assert_eq!(buyers["headers"]["X-Shop"], "${shop}");
    assert_eq!(buyers["variables"]["shop"], "main");
    assert_eq!(buyers["think-time"], "uniform(500ms, 100ms)");
    assert_eq!(buyers["cookies"][0]["name"], "consent");
    let csv = buyers["data-sources"][0]["path"].as_str().unwrap();
    // Rewritten for the output's folder: absolute, or relative to it (when both share a parent).
    let fixture = crate::util::repo().join("tests/fixtures/jmx/shoppers.csv").canonicalize().unwrap();
    assert_eq!(p.path().join(csv).canonicalize().ok(), Some(fixture), "{csv}");
    let requests = &buyers["requests"];
    let login = &requests[0]["once"][0];
    assert_eq!((login["label"].as_str(), login["method"].as_str()), (Some("login"), Some("POST")));
    assert_eq!(login["body"]["user"], "${user}");
    assert_eq!(login["extract-jsonpath"]["cart"]["jsonpath"], "$.cart.id");
    assert_eq!(login["assert"][0]["subject"], "http-code");
    let browse = &requests[1];
    assert_eq!(browse["loop"], 3);
    assert_eq!(browse["do"][0]["url"], "/search?q=red+shoes");
    assert_eq!(browse["do"][1]["think-time"], "uniform(1500ms, 100ms)");
    assert_eq!(browse["do"][1]["assert-jsonpath"][0]["expected-value"], "[1-9][0-9]*");
    let checkout = &requests[2];
    assert_eq!(checkout["transaction"], "checkout");
    assert_eq!(checkout["do"][0]["headers"]["Authorization"], "Bearer ${token}");
    let upload = &checkout["do"][1]["upload-files"][0];
    assert_eq!((upload["param"].as_str(), upload["mime-type"].as_str()), (Some("receipt"), Some("image/png")));
    assert_eq!(checkout["do"][1]["extract-boundary"]["order"]["right"], "\r");
    assert_eq!(requests[3]["action"], "pause");
    assert_eq!(v["scenarios"]["stock up"]["requests"][0]["url"], "http://127.0.0.1:8081/stock");

    // What Taurus YAML cannot say: a comment above it, and a warning with the plan's line.
    assert!(
        yaml.contains(
            "# suite jmx2yaml: RandomOrderController \"wander\" runs its children in a new random order each pass"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("# suite jmx2yaml: SetupThreadGroup \"stock up\" is a setUp thread group: Taurus YAML has no setUp/tearDown ordering"), "{yaml}");
    assert!(yaml.contains("# JMeter properties used: shop=main (default), buyers=4 (default),"), "{yaml}");
    assert!(out.stderr.contains("shop_to_yaml.jmx:174:12: warning: RandomOrderController \"wander\""), "{out}");
    assert!(out.stderr.contains("shop_to_yaml.jmx:72:8: warning: SetupThreadGroup \"stock up\""), "{out}");
    assert!(out.stderr.contains("1 listener(s) ignored"), "{out}");
    assert!(out.stderr.contains("wrote shop.yaml (3 approximation(s) marked in comments)"), "{out}");

    let validated = suite(&p, &["validate", "-q", "shop.yaml"]);
    assert_eq!(validated.code, 0, "{validated}\n{yaml}");
    assert!(validated.stderr.contains("ok: 2 execution(s), 0 criteria, 7 label(s)"), "{validated}");
}

#[test]
fn jmx2yaml_without_a_property_the_plan_needs_names_it_and_fails() {
    let p = Project::new();
    let plan = plan();
    let out = suite(&p, &["jmx2yaml", plan.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains("error: property `receipt` is not set and `${__P(receipt)}` has no default"), "{out}");
    assert!(out.stderr.contains("shop_to_yaml.jmx:259:48"), "{out}");
    assert!(out.stderr.contains("-J receipt=VALUE"), "{out}");

    let bad = suite(&p, &["jmx2yaml", plan.to_str().unwrap(), "-J", "receipt"]);
    assert_eq!(bad.code, 1, "{bad}");
    assert!(bad.stderr.contains("`-J receipt` must be `NAME=VALUE`"), "{bad}");

    // JMeter's spelling `-Jname=value` works too; without `-o` the YAML goes to stdout.
    let ok = suite(&p, &["jmx2yaml", plan.to_str().unwrap(), "-Jreceipt=/tmp/r.png", "-J", "query=a&b"]);
    assert_eq!(ok.code, 0, "{ok}");
    assert!(ok.stdout.starts_with("# Taurus YAML written by `suite jmx2yaml` from "), "{ok}");
    assert!(ok.stdout.contains("        path: /tmp/r.png\n"), "{ok}");
    assert!(ok.stdout.contains("url: /search?q=a%26b\n"), "{ok}");
}

#[test]
fn jmx2yaml_validate_describes_a_jmeter_plan() {
    let p = Project::new();
    let plan = plan();
    let out = suite(&p, &["validate", plan.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let text = &out.stdout;
    let setup = text.find("setUp thread group \"stock up\": 1 user").unwrap_or_else(|| panic!("{out}"));
    let main = text
        .find("thread group \"${shop} buyers\": ${buyers} users, ramp-up ${__P(rampup,5)} s, forever")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(setup < main, "{out}");
    assert!(text.contains("\n  once \"sign in\"\n    login  POST /login  form user, password\n"), "{out}");
    assert!(text.contains("\n  loop ×3 \"browse\"\n    random order \"wander\"\n      search  GET /search?q=${__P(query,red shoes)}\n"), "{out}");
    assert!(text.contains("\n  transaction \"checkout\" (timers not counted)\n    add to cart  POST /carts/${cart}/items  form item\n"), "{out}");
    assert!(text.contains("\nResultCollector            1  ignored: a listener only watches results"), "{out}");
    assert!(out.stderr.contains("ok: "), "{out}");
    assert!(out.stderr.contains("2 thread group(s), 6 sampler(s)"), "{out}");

    // A plan among YAML files is refused; a broken plan is an error with its place.
    let mixed = suite(&p, &["validate", plan.to_str().unwrap(), "x.yaml"]);
    assert_eq!(mixed.code, 1, "{mixed}");
    p.file("broken.jmx", "<jmeterTestPlan><hashTree><TestPlan testclass=\"TestPlan\" testname=\"x\">");
    let broken = suite(&p, &["validate", "broken.jmx"]);
    assert_eq!(broken.code, 1, "{broken}");
    assert!(broken.stderr.contains("broken.jmx:1:"), "{broken}");
}
