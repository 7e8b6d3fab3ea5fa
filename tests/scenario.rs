//! The scenario language against real servers on 127.0.0.1: what the server received (the demo
//! server's `/echo-log`, or a TLS server run by the test) and what the samples recorded
//! (`final_stats.csv`) for extractors, assertions, data sources, bodies and uploads, logic blocks,
//! redirects, timeouts and TLS.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts::{self, stat, Row};
use crate::util::{DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `suite run` on one test file `t/s.yaml` (its test folder is `s`).
fn run(p: &Project, yaml: &str) -> Output {
    // Data files (`payload.json`) sit beside the test: only `s.yaml` is the test.
    p.run_test(yaml, LIMIT)
}

/// `final_stats.csv` of test `s`, as label → row.
fn final_stats(out: &Output) -> HashMap<String, Row> {
    artifacts::final_stats_by_label(&out.run_dir().join("s/final_stats.csv"))
}

fn paths(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|r| {
            let q = r["query"].as_str().unwrap_or_default();
            let p = r["path"].as_str().unwrap_or_default();
            if q.is_empty() {
                p.to_string()
            } else {
                format!("{p}?{q}")
            }
        })
        .collect()
}

/// The `sample-labels` JUnit of test `s`, when the run wrote one (it carries the error messages).
fn sample_label_messages(out: &Output) -> Option<String> {
    std::fs::read_to_string(out.run_dir().join("s/sample-labels.xml")).ok()
}

#[test]
fn extracted_values_are_passed_on() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 2
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - url: /echo/login?token=tok42&n=7
      label: login
      extract-regexp:
        token: 'token=(\w+)'
        both: {{regexp: 'token=(\w+)&n=(\d+)', template: '$2$-$1$'}}
        ctype: {{regexp: 'Content-Type: ([a-z/]+)', subject: headers}}
        code: {{regexp: '(\d+)', subject: http-code}}
      extract-jsonpath:
        path: $.path
        method: {{jsonpath: $.method}}
      extract-boundary:
        host: {{left: '"host":"', right: '"'}}
    - url: /echo/use/${{token}}
      method: POST
      label: use
      headers:
        X-Token: ${{token}}
        X-Both: ${{both}}
      body: 'path=${{path}} method=${{method}} host=${{host}} ctype=${{ctype}} code=${{code}}'
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    assert_eq!(paths(&log), ["/echo/login?token=tok42&n=7", "/echo/use/tok42"].repeat(2), "{log:?}");
    let used = &log[1];
    assert_eq!(used["method"], "POST");
    assert_eq!(used["headers"]["x-token"], "tok42");
    assert_eq!(used["headers"]["x-both"], "7-tok42");
    let host = format!("127.0.0.1:{}", demo.port);
    assert_eq!(used["body"], format!("path=/echo/login method=GET host={host} ctype=application/json code=200"));
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "login", "succ"), stat(&stats, "use", "succ")), (2, 2), "{stats:?}");
    assert_eq!(stat(&stats, "", "fail"), 0);
}

#[test]
fn extractors_that_find_nothing_fail_their_sample_and_the_run_goes_on() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 3
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - url: /echo/first
      label: first
      extract-regexp:
        missing: 'nowhere=(\d+)'
      extract-jsonpath:
        absent: {{jsonpath: $.nothing, default: fallback}}
    - url: /echo/next/${{missing}}/${{absent}}
      label: next
reporting:
- module: junit-xml
  data-source: sample-labels
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    // Taurus's default for a miss is NOT_FOUND; an explicit `default` is used silently.
    assert_eq!(paths(&log), ["/echo/first", "/echo/next/NOT_FOUND/fallback"].repeat(3), "{log:?}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "first", "fail"), stat(&stats, "next", "succ")), (3, 3), "{stats:?}");
    if let Some(xml) = sample_label_messages(&out) {
        assert!(xml.contains("extract-regexp `missing`: found nothing"), "{xml}");
    }
}

#[test]
fn assertions_decide_success_and_explain_failures() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 2
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - url: /echo/ok?x=1
      label: ok
      assert:
      - '"method":"GET"'
      - contains: ['200']
        subject: http-code
        regexp: false
      - contains: ['Content-Type: application/json']
        subject: headers
      - contains: [POST, DELETE]
        not: true
      assert-jsonpath:
      - $.query
      - {{jsonpath: $.query, validate: true, expected-value: 'x=\d'}}
      - {{jsonpath: $.path, validate: true, expected-value: /echo/other, invert: true}}
    - url: /echo/bad
      label: bad
      assert:
      - contains: [nothing-like-this]
    - url: /echo/bad-json
      label: bad-json
      assert-jsonpath:
      - {{jsonpath: $.method, validate: true, expected-value: PUT, regexp: false}}
    - url: /status/404
      label: assumed
      assert:
      - contains: ['404']
        subject: http-code
        assume-success: true
    - url: /status/404
      label: plain-404
reporting:
- module: junit-xml
  data-source: sample-labels
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    let fails: Vec<u64> =
        ["ok", "bad", "bad-json", "assumed", "plain-404"].iter().map(|l| stat(&stats, l, "fail")).collect();
    assert_eq!(fails, vec![0, 2, 2, 0, 2], "{stats:?}");
    // An assertion failure keeps the response's code; the 404s count under rc_404.
    assert_eq!((stat(&stats, "bad", "rc_200"), stat(&stats, "", "rc_404")), (2, 4), "{stats:?}");
    if let Some(xml) = sample_label_messages(&out) {
        assert!(xml.contains("assertion failed: body does not match `nothing-like-this`"), "{xml}");
        assert!(xml.contains("assertion failed: `$.method` is `GET`, expected `PUT`"), "{xml}");
    }
}

#[test]
fn data_sources_hand_out_rows_in_turn() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/ids.csv", "id,name\n1,ann\n2,bob\n3,cy\n");
    p.file("t/pairs.csv", "x;\"semi;colon\"\n");
    let yaml = format!(
        r#"execution:
- iterations: 5
  scenario: looping
- iterations: 5
  scenario: once-through
  delay: 1s
scenarios:
  looping:
    default-address: {url}
    data-sources:
    - ids.csv
    - {{path: pairs.csv, delimiter: ';', quoted: true, variable-names: 'a,b'}}
    requests:
    - url: /echo/loop/${{id}}/${{name}}
      label: loop
      headers: {{X-B: '${{b}}'}}
  once-through:
    default-address: {url}
    data-sources:
    - {{path: ids.csv, loop: false}}
    requests:
    - url: /echo/once/${{id}}
      label: once
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let got = paths(&log);
    let looped: Vec<&String> = got.iter().filter(|p| p.starts_with("/echo/loop/")).collect();
    assert_eq!(
        looped,
        ["/echo/loop/1/ann", "/echo/loop/2/bob", "/echo/loop/3/cy", "/echo/loop/1/ann", "/echo/loop/2/bob"]
    );
    assert!(log
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with("/echo/loop/"))
        .all(|r| r["headers"]["x-b"] == "semi;colon"));
    // `loop: false`: the user stops at the end of the file.
    let once: Vec<&String> = got.iter().filter(|p| p.starts_with("/echo/once/")).collect();
    assert_eq!(once, ["/echo/once/1", "/echo/once/2", "/echo/once/3"]);
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "loop", "succ"), stat(&stats, "once", "succ")), (5, 3), "{stats:?}");
}

#[test]
fn bodies_from_files_and_multipart_uploads() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    p.file("t/payload.json", "{\"user\": \"${user}\", \"n\": 1}");
    p.file("t/data.txt", "line one\nline two\n");
    let yaml = format!(
        r#"execution:
- iterations: 1
  scenario: s
scenarios:
  s:
    default-address: {url}
    variables: {{user: alice}}
    requests:
    - url: /echo/file
      method: PUT
      label: file
      headers: {{Content-Type: application/json}}
      body-file: payload.json
    - url: /echo/upload
      method: POST
      label: upload
      body: {{note: 'for ${{user}}'}}
      upload-files:
      - {{param: doc, path: data.txt}}
      - {{param: raw, path: payload.json, mime-type: application/x-custom}}
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["method"], "PUT");
    assert_eq!(log[0]["body"], "{\"user\": \"alice\", \"n\": 1}");
    assert_eq!(log[0]["headers"]["content-type"], "application/json");
    let ct = log[1]["headers"]["content-type"].as_str().unwrap();
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap_or_else(|| panic!("{ct}"));
    let body = log[1]["body"].as_str().unwrap();
    let expected = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nfor alice\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"data.txt\"\r\nContent-Type: text/plain\r\n\r\nline one\nline two\n\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"raw\"; filename=\"payload.json\"\r\nContent-Type: application/x-custom\r\n\r\n{{\"user\": \"${{user}}\", \"n\": 1}}\r\n\
         --{b}--\r\n",
        b = boundary
    );
    assert_eq!(body, expected);
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "file", "succ"), stat(&stats, "upload", "succ")), (1, 1), "{stats:?}");
}

#[test]
fn json_bodies_keep_the_key_order_of_the_yaml() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 1
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}/echo/json
      method: POST
      body:
        zeta: 1
        alpha: {{z: true, a: [2, x]}}
        mid: ~
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    assert_eq!(log[0]["body"], r#"{"zeta":1,"alpha":{"z":true,"a":[2,"x"]},"mid":null}"#, "{log:?}");
}

#[test]
fn checks_see_only_max_body_seen_of_a_large_body() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // /echo answers with the request body inside JSON: 8 MB in, a little more out.
    p.file("t/big.txt", &format!("{}TAIL-MARK", "x".repeat(8 << 20)));
    let yaml = format!(
        r#"execution:
- iterations: 1
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - url: /echo/big
      label: big
      method: POST
      body-file: big.txt
      max-body-seen: 1MB
      assert: [TAIL-MARK]
      extract-regexp: {{start: {{regexp: '"body":"(x{{3}})', default: none}}}}
    - url: /echo/check?v=${{start}}
      label: check
reporting:
- module: junit-xml
  data-source: sample-labels
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "big", "fail"), stat(&stats, "check", "succ")), (1, 1), "{stats:?}");
    // The extractor found the start of the body; the assertion did not see its end, and says why.
    assert_eq!(paths(&demo.echo_log())[1], "/echo/check?v=xxx");
    let xml = sample_label_messages(&out).unwrap_or_else(|| panic!("no sample-labels.xml\n{out}"));
    let why =
        "body does not match `TAIL-MARK` (checks see only the first 1048576 bytes of the body: raise `max-body-seen`)";
    assert!(xml.contains(why), "{xml}");
}

#[test]
fn logic_blocks_run_in_taurus_order() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 2
  scenario: main
scenarios:
  login:
    requests:
    - url: /echo/login
      label: login
  main:
    default-address: {url}
    think-time: gaussian(5ms, 1ms)
    requests:
    - once:
      - include-scenario: login
    - set-variables: {{step: one}}
    - transaction: flow
      do:
      - url: /echo/a/${{step}}
        label: a
        think-time: uniform(4ms, 2ms)
      - set-variables: {{step: two}}
      - loop: 2
        do:
        - url: /echo/b/${{step}}
          label: b
          think-time: poisson(6ms, 2ms)
    - transaction: hidden
      force-parent-sample: true
      do:
      - url: /echo/c
        label: c
      - url: /status/500
        label: d
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let round = ["/echo/a/one", "/echo/b/two", "/echo/b/two", "/echo/c"];
    let mut expected = vec!["/echo/login"];
    expected.extend(round);
    expected.extend(round);
    assert_eq!(paths(&demo.echo_log()), expected);
    let stats = final_stats(&out);
    let hits: Vec<u64> = ["login", "a", "b", "flow", "hidden"].iter().map(|l| stat(&stats, l, "throughput")).collect();
    assert_eq!(hits, vec![1, 2, 4, 2, 2], "{stats:?}");
    // force-parent-sample: the children are not samples of their own; the parent failed with them.
    assert!(!stats.contains_key("c") && !stats.contains_key("d"), "{stats:?}");
    assert_eq!((stat(&stats, "hidden", "fail"), stat(&stats, "flow", "fail")), (2, 0), "{stats:?}");
}

#[test]
fn cookies_are_kept_per_user_and_across_redirects() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // Two users, two iterations: the login redirect sets the session, later requests carry it,
    // a Max-Age=0 cookie deletes it; a second execution runs with `store-cookie: false`.
    let yaml = format!(
        r#"execution:
- concurrency: 2
  iterations: 2
  scenario: with
- iterations: 1
  scenario: without
scenarios:
  with:
    default-address: {url}
    cookies:
    - {{name: team, value: blue, domain: 127.0.0.1}}
    requests:
    - url: /redirect?to=/echo/home&set=sid%3Dabc%3B%20Path%3D%2F&set=scoped%3D1%3B%20Path%3D%2Fecho%2Fadmin
      label: login
    - url: /echo/admin/page
      label: admin
    - url: /cookie?set=sid%3D%3B%20Max-Age%3D0
      label: logout
    - url: /echo/bye
      label: bye
  without:
    default-address: {url}
    store-cookie: false
    requests:
    - url: /redirect?to=/echo/nocookies&set=sid%3Dzzz
    - url: /echo/nocookies/again
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let cookie_of = |path: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r["path"] == path)
            .map(|r| r["headers"]["cookie"].as_str().unwrap_or("").to_string())
            .collect()
    };
    // The cookie set on the redirect reaches the redirect's target; the scenario's own cookie goes everywhere.
    assert_eq!(cookie_of("/echo/home"), ["team=blue; sid=abc"; 4], "{log:?}");
    // A cookie with a longer path comes first, and only under its path.
    assert_eq!(cookie_of("/echo/admin/page"), ["scoped=1; team=blue; sid=abc"; 4], "{log:?}");
    // Max-Age=0 removed the session; the rest stays.
    assert_eq!(cookie_of("/echo/bye"), ["team=blue"; 4], "{log:?}");
    // `store-cookie: false`: nothing kept.
    assert_eq!(cookie_of("/echo/nocookies"), [""], "{log:?}");
    assert_eq!(cookie_of("/echo/nocookies/again"), [""], "{log:?}");
}

#[test]
fn basic_authorization_goes_to_its_urls_only() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 1
  scenario: s
scenarios:
  s:
    default-address: {url}
    authorization:
    - url: {url}/echo/private
      name: alice
      password: s3cret
    requests:
    - /echo/private/page
    - /echo/public
    - url: /echo/private/own
      headers: {{Authorization: Bearer mine}}
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let log = demo.echo_log();
    let auth: Vec<&str> = log.iter().map(|r| r["headers"]["authorization"].as_str().unwrap_or("")).collect();
    // base64("alice:s3cret"); a request's own header wins.
    assert_eq!(auth, ["Basic YWxpY2U6czNjcmV0", "", "Bearer mine"], "{log:?}");
    // Every request says who sent it.
    let agent = format!("suite/{}", env!("CARGO_PKG_VERSION"));
    assert!(log.iter().all(|r| r["headers"]["user-agent"] == agent.as_str()), "{log:?}");
    // Digest is not silently ignored.
    p.file("t/s.yaml", &yaml.replace("password: s3cret", "password: s3cret\n      mechanism: digest"));
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("mechanism: digest") && out.stderr.contains("only `basic`"), "{out}");
}

#[test]
fn action_blocks_pause_skip_and_stop() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    // `continue` in the first iteration skips the rest of it; `pause` waits.
    let yaml = format!(
        r#"execution:
- iterations: 3
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - /echo/first
    - once:
      - action: continue
    - /echo/rest
    - action: pause
      pause-duration: 400ms
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let seen = paths(&demo.echo_log());
    assert_eq!(seen, ["/echo/first", "/echo/first", "/echo/rest", "/echo/first", "/echo/rest"], "{out}");
    assert!(out.elapsed >= Duration::from_millis(800), "two pauses of 400 ms: {:?}", out.elapsed);

    // `stop` with `all-threads` ends a 30 s test after the first request of each user.
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 2
  hold-for: 30s
  scenario: s
scenarios:
  s:
    requests:
    - {url}/echo/stop
    - action: stop
      target: all-threads
    - {url}/echo/never
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    assert!(out.stdout.contains("stopped early by `action: stop` (target all-threads) in scenario `s`"), "{out}");
    let seen = paths(&demo.echo_log());
    assert!(!seen.iter().any(|p| p == "/echo/never"), "{seen:?}");
    assert!(seen.iter().any(|p| p == "/echo/stop"), "{seen:?}");
}

#[test]
fn redirects_timeouts_and_error_kinds() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 2
  scenario: s
scenarios:
  s:
    default-address: {url}
    requests:
    - url: /redirect?to=/echo/after
      label: followed
    - url: /redirect?to=/echo/never
      label: not-followed
      follow-redirects: false
    - url: /sleep/2000
      label: slow
      timeout: 300ms
    - url: http://127.0.0.1:9/
      label: refused
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(paths(&demo.echo_log()), ["/echo/after", "/echo/after"]);
    let stats = final_stats(&out);
    assert_eq!(stat(&stats, "followed", "rc_200"), 2, "{stats:?}");
    assert_eq!((stat(&stats, "not-followed", "rc_302"), stat(&stats, "not-followed", "fail")), (2, 0), "{stats:?}");
    assert_eq!((stat(&stats, "slow", "rc_Timeout"), stat(&stats, "slow", "fail")), (2, 2), "{stats:?}");
    assert_eq!(stat(&stats, "refused", "rc_ConnectRefused"), 2, "{stats:?}");
    // The read timeout cut the slow requests short.
    assert!(out.elapsed < Duration::from_secs(20), "{out}");
}

#[test]
fn https_speaks_http2_when_offered_and_keeps_one_connection_per_user() {
    let h2 = tls::Server::start(true);
    let h1 = tls::Server::start(false);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 2
  iterations: 3
  scenario: h2
- iterations: 2
  scenario: h1
- iterations: 2
  scenario: h1-close
scenarios:
  h2:
    tls-verify: false
    requests:
    - url: https://127.0.0.1:{h2}/two?v=1
      label: h2
      method: POST
      body: hello
      assert:
      - contains: ['HTTP/2 200']
        subject: headers
  h1:
    tls-verify: false
    requests:
    - url: https://localhost:{h1}/one
      label: h1
    - url: https://localhost:{h1}/one-again
      label: h1
  h1-close:
    tls-verify: false
    keepalive: false
    requests:
    - url: https://localhost:{h1}/closing
      label: close
"#,
        h2 = h2.port,
        h1 = h1.port
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let seen = h2.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(
        seen.iter().all(|r| r.version == "HTTP/2" && r.method == "POST" && r.target == "/two?v=1" && r.body == "hello"),
        "{seen:?}"
    );
    // One connection per virtual user: two users, two connections.
    assert_eq!(h2.connections(), 2);
    let seen = h1.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen.iter().all(|r| r.version == "HTTP/1.1"), "{seen:?}");
    // One kept-alive connection for the 4 requests of `h1`, one per request with `keepalive: false`.
    assert_eq!(h1.connections(), 1 + 2);
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "h2", "succ"), stat(&stats, "h1", "succ"), stat(&stats, "close", "succ")), (6, 4, 2));
}

#[test]
fn http_version_limits_what_alpn_offers() {
    let h2 = tls::Server::start(true);
    let h1 = tls::Server::start(false);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 2
  scenario: s
scenarios:
  s:
    tls-verify: false
    requests:
    - url: https://127.0.0.1:{h2}/one
      label: one
      http-version: 1.1
    - url: https://127.0.0.1:{h2}/two
      label: two
      http-version: 2
    - url: https://127.0.0.1:{h1}/refused
      label: refused
      http-version: 2
"#,
        h2 = h2.port,
        h1 = h1.port
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let versions: Vec<(String, String)> = h2.seen().into_iter().map(|r| (r.target, r.version)).collect();
    let expected = [("/one", "HTTP/1.1"), ("/two", "HTTP/2"), ("/one", "HTTP/1.1"), ("/two", "HTTP/2")];
    assert_eq!(versions, expected.map(|(t, v)| (t.to_string(), v.to_string())));
    // A server that offers only `http/1.1` refuses the handshake: a TLS error that says why.
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "refused", "rc_TlsError"), stat(&stats, "refused", "fail")), (2, 2), "{stats:?}");
    let s = artifacts::summary(&out.run_dir().join("summary.json"));
    let refused = s["tests"][0]["labels"].as_array().unwrap().iter().find(|l| l["label"] == "refused").cloned();
    let message = refused.as_ref().and_then(|l| l["errors"][0]["message"].as_str()).unwrap_or_default().to_string();
    assert!(message.ends_with("(`http-version: 2` offers only `h2` in ALPN)"), "{refused:?}");
    assert!(h1.seen().is_empty());
}

#[test]
fn untrusted_certificates_fail_as_tls_errors() {
    let server = tls::Server::start(true);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- iterations: 2\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: https://localhost:{}/x\n      label: strict\n",
        server.port
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "strict", "rc_TlsError"), stat(&stats, "strict", "fail")), (2, 2), "{stats:?}");
    assert!(server.seen().is_empty());
}

#[test]
fn scenario_errors_are_found_before_the_load_with_their_place() {
    let p = Project::new();
    p.file("broken.csv", "id,name\n1,ann\n2\n");
    let cases: [(&str, &[&str]); 9] = [
        (
            "    data-sources: [broken.csv]\n    requests: [http://127.0.0.1:9/x]\n",
            &["s.yaml:6:20", "bad CSV in `broken.csv:3`: 1 field where 2 are expected (id, name)", "line 3: 2"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x\n      extract-regexp: {v: 'a(b'}\n",
            &["s.yaml:8:27", "is not a valid regex"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x\n      assert-jsonpath: ['$.[']\n",
            &["s.yaml:8:25", "is not a valid JSONPath"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x?u=${usr}\n      extract-jsonpath: {user: $.u}\n",
            &["s.yaml:7:35", "variable `usr` is never set", "did you mean `user`?"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x\n      method: POST\n      body-file: nowhere.json\n",
            &["s.yaml:9:18", "cannot read body-file `nowhere.json`"],
        ),
        ("    requests:\n    - include-scenario: s\n", &["s.yaml:7:25", "`include-scenario` loops: s → s"]),
        (
            "    requests:\n    - if: '${a} == 1'\n      then: [http://127.0.0.1:9/x]\n",
            &["s.yaml:7:7", "the `if` block (its condition is a JMeter expression) is not supported"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x\n      think-time: uniform(1s, 2s)\n",
            &["s.yaml:8:19", "must not exceed the first"],
        ),
        (
            "    requests:\n    - url: http://127.0.0.1:9/x\n      extract-xpath: {t: /html/head/title}\n",
            &["s.yaml:8:22", "request `extract-xpath` is not supported"],
        ),
    ];
    for (scenario, needles) in cases {
        p.file("s.yaml", &format!("execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n{scenario}"));
        let out = p.suite(&["validate", "-q", "s.yaml"], LIMIT);
        assert_eq!(out.code, 1, "{scenario}\n{out}");
        for needle in needles {
            assert!(out.stderr.contains(needle), "stderr lacks `{needle}`\n{out}");
        }
    }
}

/// A TLS server with a self-signed certificate for `localhost` and `127.0.0.1`: HTTP/2 when it
/// offers `h2` in ALPN, else HTTP/1.1 with keep-alive. It answers 200 with a short JSON body and
/// records what it received and how many connections it accepted.
mod tls {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// One request as the server saw it.
    #[derive(Clone, Debug)]
    pub struct Seen {
        pub version: String,
        pub method: String,
        pub target: String,
        pub body: String,
    }

    pub struct Server {
        pub port: u16,
        seen: Arc<Mutex<Vec<Seen>>>,
        connections: Arc<AtomicUsize>,
        _runtime: tokio::runtime::Runtime,
    }

    impl Server {
        pub fn start(h2: bool) -> Server {
            let acceptor = crate::util::tls_acceptor(if h2 { &[b"h2", b"http/1.1"] } else { &[b"http/1.1"] });
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let connections = Arc::new(AtomicUsize::new(0));
            let (s, c) = (seen.clone(), connections.clone());
            runtime.spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, seen, connections) = (acceptor.clone(), s.clone(), c.clone());
                    tokio::spawn(async move {
                        // A failed handshake (an untrusting client) is no connection.
                        let Ok(stream) = acceptor.accept(tcp).await else { return };
                        connections.fetch_add(1, Ordering::SeqCst);
                        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            serve_h2(stream, seen).await;
                        } else {
                            serve_h1(stream, seen).await;
                        }
                    });
                }
            });
            Server { port, seen, connections, _runtime: runtime }
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        pub fn connections(&self) -> usize {
            self.connections.load(Ordering::SeqCst)
        }
    }

    async fn serve_h2<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: S, seen: Arc<Mutex<Vec<Seen>>>) {
        let Ok(mut conn) = h2::server::handshake(stream).await else { return };
        // Streams are answered in their own tasks: the connection only moves while `accept` is polled.
        while let Some(Ok((request, mut respond))) = conn.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let (head, mut body) = request.into_parts();
                let mut bytes = Vec::new();
                while let Some(Ok(chunk)) = body.data().await {
                    let _ = body.flow_control().release_capacity(chunk.len());
                    bytes.extend_from_slice(&chunk);
                }
                seen.lock().unwrap().push(Seen {
                    version: "HTTP/2".into(),
                    method: head.method.to_string(),
                    target: head.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                let response =
                    http::Response::builder().status(200).header("content-type", "application/json").body(()).unwrap();
                if let Ok(mut send) = respond.send_response(response, false) {
                    let _ = send.send_data(bytes::Bytes::from_static(b"{\"ok\":true}"), true);
                }
            });
        }
    }

    async fn serve_h1<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: S, seen: Arc<Mutex<Vec<Seen>>>) {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let (mut length, mut close) = (0usize, false);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((header, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            seen.lock().unwrap().push(Seen {
                version: "HTTP/1.1".into(),
                method,
                target,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
            if reader.get_mut().write_all(answer.as_bytes()).await.is_err() || close {
                let _ = reader.get_mut().shutdown().await;
                return;
            }
        }
    }
}
