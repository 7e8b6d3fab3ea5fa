//! JMeter plans run by `suite` against the demo server on 127.0.0.1: what the server received
//! (`/echo-log`) for paths, query, headers, form and multipart bodies and extracted values; the
//! order of setUp, main and tearDown thread groups; the share of users per group; SyncTimer
//! releasing users together. The plans are written here, element by element.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts;
use crate::util::{DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// One JMeter element and its `<hashTree>`.
fn el(tag: &str, class: &str, name: &str, props: &str, children: &[String]) -> String {
    format!(
        "<{tag} guiclass=\"x\" testclass=\"{class}\" testname=\"{name}\" enabled=\"true\">{props}</{tag}>\n<hashTree>{}</hashTree>\n",
        children.concat()
    )
}

fn s(name: &str, value: &str) -> String {
    format!("<stringProp name=\"{name}\">{value}</stringProp>")
}

fn b(name: &str, value: bool) -> String {
    format!("<boolProp name=\"{name}\">{value}</boolProp>")
}

fn plan(children: &[String]) -> String {
    plan_with(&b("TestPlan.serialize_threadgroups", false), children)
}

fn plan_with(props: &str, children: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<jmeterTestPlan version=\"1.2\" properties=\"5.0\" jmeter=\"5.6.3\">\n<hashTree>\n{}</hashTree>\n</jmeterTestPlan>\n",
        el("TestPlan", "TestPlan", "plan", props, children)
    )
}

fn defaults() -> String {
    el(
        "ConfigTestElement",
        "ConfigTestElement",
        "HTTP Request Defaults",
        &[
            s("HTTPSampler.domain", "${__P(host)}"),
            s("HTTPSampler.port", "${__P(port)}"),
            s("HTTPSampler.protocol", "http"),
        ]
        .concat(),
        &[],
    )
}

fn group(tag: &str, name: &str, threads: u32, loops: i64, children: &[String]) -> String {
    let props = format!(
        "{}<elementProp name=\"ThreadGroup.main_controller\" elementType=\"LoopController\" guiclass=\"x\" testclass=\"LoopController\" testname=\"Loop Controller\" enabled=\"true\">{}{}</elementProp>{}{}{}",
        s("ThreadGroup.on_sample_error", "continue"),
        b("LoopController.continue_forever", false),
        s("LoopController.loops", &loops.to_string()),
        s("ThreadGroup.num_threads", &threads.to_string()),
        s("ThreadGroup.ramp_time", "0"),
        b("ThreadGroup.scheduler", false),
    );
    el(tag, tag, name, &props, children)
}

/// `(name, value)` arguments of a sampler, each with `always_encode`.
fn args(list: &[(&str, &str, bool)]) -> String {
    let items: String = list
        .iter()
        .map(|(n, v, enc)| {
            format!(
                "<elementProp name=\"{n}\" elementType=\"HTTPArgument\">{}{}{}{}</elementProp>",
                b("HTTPArgument.always_encode", *enc),
                s("Argument.name", n),
                s("Argument.value", v),
                b("HTTPArgument.use_equals", true)
            )
        })
        .collect();
    format!("<elementProp name=\"HTTPsampler.Arguments\" elementType=\"Arguments\"><collectionProp name=\"Arguments.arguments\">{items}</collectionProp></elementProp>")
}

fn sampler(name: &str, method: &str, path: &str, extra: &str, children: &[String]) -> String {
    let props = format!("{}{}{extra}", s("HTTPSampler.path", path), s("HTTPSampler.method", method));
    el("HTTPSamplerProxy", "HTTPSamplerProxy", name, &props, children)
}

fn headers(list: &[(&str, &str)]) -> String {
    let items: String = list
        .iter()
        .map(|(n, v)| {
            format!(
                "<elementProp name=\"\" elementType=\"Header\">{}{}</elementProp>",
                s("Header.name", n),
                s("Header.value", v)
            )
        })
        .collect();
    el(
        "HeaderManager",
        "HeaderManager",
        "Headers",
        &format!("<collectionProp name=\"HeaderManager.headers\">{items}</collectionProp>"),
        &[],
    )
}

/// A test `t/s/s.yaml` running `t/s/s.jmx` with `execution` against `demo`.
fn run(p: &Project, demo: &DemoTarget, jmx: &str, execution: &str) -> Output {
    let port = demo.url().rsplit(':').next().unwrap().to_string();
    let yaml = format!(
        "execution:\n{execution}  scenario: s\nscenarios:\n  s:\n    script: s.jmx\nmodules:\n  jmeter:\n    properties:\n      host: 127.0.0.1\n      port: {port}\nreporting:\n- module: final-stats\n  dump-csv: final_stats.csv\n"
    );
    p.file("t/s/s.yaml", &yaml);
    p.file("t/s/s.jmx", jmx);
    p.suite(&["run", "-t", "t"], LIMIT)
}

fn path_of(r: &Value) -> &str {
    r["path"].as_str().unwrap_or_default()
}

#[test]
fn samplers_send_what_the_plan_says() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/s/upload.bin", "BYTES\u{1}\u{2}");
    let extractor = el(
        "RegexExtractor",
        "RegexExtractor",
        "token",
        &[
            s("RegexExtractor.useHeaders", "false"),
            s("RegexExtractor.refname", "token"),
            s("RegexExtractor.regex", "tok=(\\w+)"),
            s("RegexExtractor.template", "$1$"),
            s("RegexExtractor.default", "none"),
            s("RegexExtractor.match_number", "1"),
        ]
        .concat(),
        &[],
    );
    let files = format!(
        "<elementProp name=\"HTTPsampler.Files\" elementType=\"HTTPFileArgs\"><collectionProp name=\"HTTPFileArgs.files\"><elementProp name=\"upload.bin\" elementType=\"HTTPFileArg\">{}{}{}</elementProp></collectionProp></elementProp>{}",
        s("File.path", "upload.bin"),
        s("File.paramname", "data"),
        s("File.mimetype", "application/x-test"),
        b("HTTPSampler.DO_MULTIPART_POST", true)
    );
    let jmx = plan(&[
        defaults(),
        headers(&[("X-Plan", "p"), ("X-Over", "plan")]),
        el(
            "Arguments",
            "Arguments",
            "vars",
            "<collectionProp name=\"Arguments.arguments\"><elementProp name=\"model\" elementType=\"Argument\"><stringProp name=\"Argument.name\">model</stringProp><stringProp name=\"Argument.value\">m-${__P(port)}</stringProp></elementProp></collectionProp>",
            &[],
        ),
        group(
            "ThreadGroup",
            "main",
            1,
            1,
            &[
                sampler("get ${model}", "GET", "/echo/get", &args(&[("q", "a b", true), ("raw", "x", false)]), &[
                    headers(&[("X-Over", "sampler")]),
                ]),
                sampler("login", "GET", "/echo/login?tok=abc123", "", &[extractor]),
                sampler("form", "POST", "/echo/form", &args(&[("user", "${token}", false), ("n", "1", false)]), &[]),
                sampler("multi", "POST", "/echo/multi", &format!("{}{files}", args(&[("field", "v1", false)])), &[]),
                sampler("raw", "PUT", "/echo/raw", &format!("{}{}", b("HTTPSampler.postBodyRaw", true), args(&[("", "{\"t\":\"${token}\"}", false)])), &[]),
            ],
        ),
    ]);
    let out = run(&p, &demo, &jmx, "- concurrency: 1\n  iterations: 1\n");
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let by: HashMap<&str, &Value> = log.iter().map(|r| (path_of(r), r)).collect();
    assert_eq!(log.len(), 5, "{log:?}");
    let get = by["/echo/get"];
    assert_eq!(get["method"], "GET");
    assert_eq!(get["query"], "q=a+b&raw=x", "{get}");
    assert_eq!(get["headers"]["x-plan"], "p");
    assert_eq!(get["headers"]["x-over"], "sampler", "the inner header manager wins");
    let form = by["/echo/form"];
    assert_eq!(form["body"], "user=abc123&n=1", "the extracted token is passed on: {form}");
    assert_eq!(form["headers"]["content-type"], "application/x-www-form-urlencoded");
    let multi = by["/echo/multi"];
    let body = multi["body"].as_str().unwrap();
    let ct = multi["headers"]["content-type"].as_str().unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    assert!(body.contains("Content-Disposition: form-data; name=\"field\"\r\n\r\nv1\r\n"), "{body}");
    assert!(
        body.contains(
            "name=\"data\"; filename=\"upload.bin\"\r\nContent-Type: application/x-test\r\n\r\nBYTES\u{1}\u{2}\r\n"
        ),
        "{body}"
    );
    let raw = by["/echo/raw"];
    assert_eq!(raw["method"], "PUT");
    assert_eq!(raw["body"], "{\"t\":\"abc123\"}");
    // Labels are the samplers' names after substitution (the variable and the property).
    let stats = artifacts::final_stats(&out.run_dir().join("s/final_stats.csv"));
    let labels: Vec<&str> = stats.iter().map(|r| r["label"].as_str()).collect();
    let port = demo.url().rsplit(':').next().unwrap().to_string();
    assert!(labels.contains(&format!("get m-{port}").as_str()), "{labels:?}");
}

#[test]
fn setup_runs_before_and_teardown_after_the_main_groups() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let jmx = plan(&[
        defaults(),
        group("PostThreadGroup", "down", 1, 2, &[sampler("teardown", "GET", "/echo/teardown", "", &[])]),
        group("ThreadGroup", "a", 2, 1, &[sampler("main-a", "GET", "/echo/main", "", &[])]),
        group("SetupThreadGroup", "up", 2, 2, &[sampler("setup", "GET", "/echo/setup", "", &[])]),
    ]);
    let out = run(&p, &demo, &jmx, "- concurrency: 3\n  iterations: 2\n");
    assert_eq!(out.code, 0, "{out}");
    let order: Vec<String> = demo.echo_log().iter().map(|r| path_of(r).to_string()).collect();
    // setUp and tearDown keep their own users and loops; the main group takes the execution's.
    let count = |p: &str| order.iter().filter(|x| *x == p).count();
    assert_eq!((count("/echo/setup"), count("/echo/main"), count("/echo/teardown")), (4, 6, 2), "{order:?}");
    let last_setup = order.iter().rposition(|x| x == "/echo/setup").unwrap();
    let first_main = order.iter().position(|x| x == "/echo/main").unwrap();
    let last_main = order.iter().rposition(|x| x == "/echo/main").unwrap();
    let first_teardown = order.iter().position(|x| x == "/echo/teardown").unwrap();
    assert!(last_setup < first_main && last_main < first_teardown, "{order:?}");
}

#[test]
fn concurrency_is_split_over_thread_groups_in_proportion() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let jmx = plan(&[
        defaults(),
        group("ThreadGroup", "one", 1, 1, &[sampler("g1", "GET", "/echo/g1", "", &[])]),
        group("ThreadGroup", "three", 3, 1, &[sampler("g3", "GET", "/echo/g3", "", &[])]),
    ]);
    // 10 users over weights 1:3 → 2.5 and 7.5: the shares add up to 10 (Taurus would run 2 + 8
    // here by luck of rounding, and 2 + 2 for 5 over 1:1).
    let out = run(&p, &demo, &jmx, "- concurrency: 10\n  iterations: 1\n");
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let count = |p: &str| log.iter().filter(|r| path_of(r) == p).count();
    assert_eq!(count("/echo/g1") + count("/echo/g3"), 10, "{log:?}");
    assert_eq!((count("/echo/g1"), count("/echo/g3")), (3, 7), "{log:?}");
}

#[test]
fn a_missing_property_and_a_bad_upload_are_errors_before_any_load() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let files = format!(
        "<elementProp name=\"HTTPsampler.Files\" elementType=\"HTTPFileArgs\"><collectionProp name=\"HTTPFileArgs.files\"><elementProp name=\"f\" elementType=\"HTTPFileArg\">{}{}</elementProp></collectionProp></elementProp>",
        s("File.path", "missing.bin"),
        s("File.paramname", "data"),
    );
    let jmx = plan(&[
        defaults(),
        group(
            "ThreadGroup",
            "g",
            1,
            1,
            &[sampler("a", "GET", "/echo/${__P(nowhere)}", "", &[]), sampler("b", "POST", "/echo/b", &files, &[])],
        ),
    ]);
    let out = run(&p, &demo, &jmx, "- concurrency: 1\n  iterations: 1\n");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("JMeter property `nowhere` is not set"), "{out}");
    assert!(out.stderr.contains("s.jmx:"), "errors point into the plan: {out}");
    assert!(out.stderr.contains("cannot read upload file `missing.bin`"), "{out}");
    assert!(demo.echo_log().is_empty(), "nothing is sent");
}

fn sync_timer(size: u32) -> String {
    el("SyncTimer", "SyncTimer", "sync", &[s("groupSize", &size.to_string()), s("timeoutInMs", "0")].concat(), &[])
}

#[test]
fn a_sync_timer_releases_the_users_together() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let jmx = plan(&[
        defaults(),
        group(
            "ThreadGroup",
            "g",
            3,
            1,
            &[
                sampler("before", "GET", "/echo/before", "", &[]),
                sampler("after", "GET", "/echo/after", "", &[sync_timer(3)]),
            ],
        ),
    ]);
    // Users start 2/3 s apart: without the rendezvous each would send `after` right after its
    // `before`; with it, all three `after` come once the last user has arrived.
    let out = run(&p, &demo, &jmx, "- concurrency: 3\n  ramp-up: 2s\n  iterations: 1\n");
    assert_eq!(out.code, 0, "{out}");
    let order: Vec<String> = demo.echo_log().iter().map(|r| path_of(r).to_string()).collect();
    assert_eq!(order, ["/echo/before", "/echo/before", "/echo/before", "/echo/after", "/echo/after", "/echo/after"]);
    assert!(out.elapsed >= Duration::from_millis(1300), "the last user starts at 1.33 s: {:?}", out.elapsed);
}

#[test]
fn controllers_conditions_and_actions_follow_jmeter() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let ctrl = |class: &str, name: &str, props: &str, children: &[String]| el(class, class, name, props, children);
    let counter_arg = "<collectionProp name=\"Arguments.arguments\"><elementProp name=\"n\" elementType=\"Argument\"><stringProp name=\"Argument.name\">go</stringProp><stringProp name=\"Argument.value\">yes</stringProp></elementProp></collectionProp>";
    let jmx = plan(&[
        defaults(),
        el("Arguments", "Arguments", "vars", counter_arg, &[]),
        group(
            "ThreadGroup",
            "g",
            1,
            3,
            &[
                ctrl("OnceOnlyController", "once", "", &[sampler("once", "GET", "/echo/once", "", &[])]),
                ctrl(
                    "RandomOrderController",
                    "shuffle",
                    "",
                    &[sampler("r1", "GET", "/echo/r1", "", &[]), sampler("r2", "GET", "/echo/r2", "", &[])],
                ),
                ctrl(
                    "IfController",
                    "if go",
                    &[
                        s("IfController.condition", "${__jexl3(\"${go}\" == \"yes\")}"),
                        b("IfController.useExpression", true),
                    ]
                    .concat(),
                    &[sampler("if-yes", "GET", "/echo/if?n=${__counter(TRUE,)}", "", &[])],
                ),
                ctrl(
                    "IfController",
                    "if not",
                    &s("IfController.condition", "\"${go}\" != \"yes\""),
                    &[sampler("if-no", "GET", "/echo/never", "", &[])],
                ),
                ctrl(
                    "TransactionController",
                    "tx",
                    &b("TransactionController.parent", false),
                    &[sampler("in-tx", "GET", "/echo/tx", "", &[])],
                ),
                ctrl(
                    "LoopController",
                    "twice",
                    // As the GUI saves a nested loop: `continue_forever` true is not "for ever".
                    &[b("LoopController.continue_forever", true), s("LoopController.loops", "2")].concat(),
                    &[sampler("looped", "GET", "/echo/loop", "", &[])],
                ),
            ],
        ),
    ]);
    let out = run(&p, &demo, &jmx, "- concurrency: 1\n  iterations: 3\n");
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let order: Vec<String> = log.iter().map(|r| path_of(r).to_string()).collect();
    let count = |p: &str| order.iter().filter(|x| *x == p).count();
    assert_eq!(count("/echo/once"), 1, "{order:?}");
    assert_eq!((count("/echo/r1"), count("/echo/r2")), (3, 3), "{order:?}");
    assert_eq!(count("/echo/never"), 0, "{order:?}");
    assert_eq!((count("/echo/tx"), count("/echo/loop")), (3, 6), "{order:?}");
    let ifs: Vec<&str> =
        log.iter().filter(|r| path_of(r) == "/echo/if").map(|r| r["query"].as_str().unwrap()).collect();
    assert_eq!(ifs, ["n=1", "n=2", "n=3"], "a per-user counter counts the user's passes");
    // The transaction is a label of its own, beside its child.
    let stats = artifacts::final_stats(&out.run_dir().join("s/final_stats.csv"));
    let labels: Vec<&str> = stats.iter().map(|r| r["label"].as_str()).collect();
    assert!(labels.contains(&"tx") && labels.contains(&"in-tx"), "{labels:?}");
}

#[test]
fn a_condition_suite_cannot_evaluate_is_an_error_that_quotes_it() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let jmx = plan(&[
        defaults(),
        group(
            "ThreadGroup",
            "g",
            1,
            1,
            &[el(
                "IfController",
                "IfController",
                "js",
                &s("IfController.condition", "${x}.length() &gt; 3"),
                &[sampler("a", "GET", "/echo/a", "", &[])],
            )],
        ),
    ]);
    let out = run(&p, &demo, &jmx, "- concurrency: 1\n  iterations: 1\n");
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("cannot evaluate the condition `${x}.length() > 3`"), "{out}");
    assert!(out.stderr.contains("s.jmx:"), "{out}");
    assert!(demo.echo_log().is_empty());
}

#[test]
fn teardown_groups_still_run_after_a_criterion_stopped_the_test() {
    for on_shutdown in [true, false] {
        let demo = DemoTarget::start(&[]);
        let p = Project::new();
        let jmx = plan_with(
            &b("TestPlan.tearDown_on_shutdown", on_shutdown),
            &[
                defaults(),
                group("ThreadGroup", "main", 1, -1, &[sampler("bad", "GET", "/nope", "", &[])]),
                group("PostThreadGroup", "down", 1, 1, &[sampler("teardown", "GET", "/echo/teardown", "", &[])]),
            ],
        );
        p.file("t/s/s.jmx", &jmx);
        let port = demo.url().rsplit(':').next().unwrap().to_string();
        let yaml = format!(
            "execution:\n- concurrency: 1\n  hold-for: 30s\n  scenario: s\nscenarios:\n  s:\n    script: s.jmx\nmodules:\n  jmeter:\n    properties:\n      host: 127.0.0.1\n      port: {port}\nreporting:\n- module: passfail\n  criteria:\n  - fail of bad>50% for 1s, stop as failed\n"
        );
        p.file("t/s/s.yaml", &yaml);
        let out = p.suite(&["run", "-t", "t"], LIMIT);
        assert_eq!(out.code, 3, "{out}");
        assert!(out.elapsed < Duration::from_secs(20), "stopped, not run for 30 s: {:?}", out.elapsed);
        let torn_down = demo.echo_log().iter().any(|r| path_of(r) == "/echo/teardown");
        // JMeter's `tearDown_on_shutdown`: the clean-up runs after a stop when the plan says so.
        assert_eq!(torn_down, on_shutdown, "{out}");
    }
}
