//! The JMeter controllers, timers and flow actions as virtual users walk them: whole
//! executions run by [`crate::engine::run`] against a small HTTP server on 127.0.0.1 that logs
//! every request it gets.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::engine::stop::Phase;
use crate::engine::{Context, Recorder};
use crate::plan::jmx::template::{self as jmx_template, Segment, Template as JmxTemplate};
use crate::plan::scenario::{
    Action, ActionKind, Condition, Cookie, OnError, TemplatePart, ThinkTime, Timeouts, Transaction, Value,
    WhileCondition,
};
use crate::plan::{ExecutionPlan, Load, RequestPlan, ScenarioPlan, Step, Template};
use crate::sample::Sample;

/// One request the server got.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    cookie: String,
    at: Instant,
}

/// A keep-alive HTTP/1.1 server: `/fail` answers 500, `/failfrom/N` answers 500 from its Nth
/// request on, `/set-cookie/NAME` sets cookie NAME=1; everything else is 200.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Hit>>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(connection(sock, shared.clone()));
            }
        });
        Server { addr, log }
    }

    fn hits(&self) -> Vec<Hit> {
        self.log.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.hits().into_iter().map(|h| h.path).collect()
    }

    fn count(&self, path: &str) -> usize {
        self.paths().iter().filter(|p| *p == path).count()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, path: &str) -> Step {
        request(Value::Fixed(Url::parse(&self.url(path)).unwrap()))
    }

    /// A GET whose path has `${…}` (JMeter functions included).
    fn get_template(&self, path: &str) -> Step {
        request(Value::Template(jmx(&self.url(path))))
    }
}

async fn connection(mut sock: TcpStream, log: Arc<Mutex<Vec<Hit>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let (path, cookie, used) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
                let cookie = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("cookie"));
                let cookie = cookie.map(|h| String::from_utf8_lossy(h.value).into_owned()).unwrap_or_default();
                break (req.path.unwrap_or("").to_string(), cookie, n);
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        };
        // The tests send no bodies.
        buf.drain(..used);
        let seen = {
            let mut log = log.lock().unwrap();
            log.push(Hit { path: path.clone(), cookie, at: Instant::now() });
            log.iter().filter(|h| h.path == path).count()
        };
        let failing = match path.strip_prefix("/failfrom/") {
            Some(n) => seen >= n.parse().unwrap(),
            None => path == "/fail",
        };
        let status = if failing { "500 Internal Server Error" } else { "200 OK" };
        let set =
            path.strip_prefix("/set-cookie/").map(|c| format!("Set-Cookie: {c}=1; Path=/\r\n")).unwrap_or_default();
        let response = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n{set}\r\nok");
        if sock.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn request(url: Value<Url>) -> Step {
    Step::Request(Box::new(RequestPlan {
        label: 0,
        method: Value::Fixed(Method::GET),
        url,
        headers: Vec::new(),
        body: None,
        think_time: None,
        timeouts: Timeouts { connect: Duration::from_secs(1), read: Duration::from_secs(2) },
        follow_redirects: false,
        assertions: Vec::new(),
        extractors: Vec::new(),
        body_limit: 0,
        needs_headers: false,
        needs_url: false,
        stream: None,
        http_version: Default::default(),
    }))
}

/// A template as the JMX lowering builds one: variables and JMeter function calls.
fn jmx(text: &str) -> Template {
    let parsed = jmx_template::parse(text).unwrap();
    Template::from_parts(parsed.segments.into_iter().map(|s| match s {
        Segment::Literal(t) => TemplatePart::Lit(t),
        Segment::Var { name, .. } => TemplatePart::Var(name),
        call @ Segment::Call { .. } => TemplatePart::Call(Arc::new(JmxTemplate { segments: vec![call] })),
    }))
}

fn text(t: &str) -> Condition {
    Condition::Text(jmx(t))
}

fn expr(t: &str) -> Condition {
    let e = crate::plan::jmx::condition::parse(t, &mut |s, _| Ok(Template::parse(s))).unwrap();
    Condition::Expr(Arc::new(e))
}

fn set(name: &str, value: &str) -> Step {
    Step::SetVariables(vec![(name.to_string(), jmx(value))])
}

fn action(kind: ActionKind) -> Step {
    Step::Action(Action { kind, all_users: false, pause: Duration::ZERO })
}

fn scenario(steps: Vec<Step>) -> ScenarioPlan {
    ScenarioPlan {
        name: "s".into(),
        steps,
        keepalive: true,
        tls_verify: true,
        store_cookies: true,
        cookies: Vec::new(),
        auth: Vec::new(),
        variables: Vec::new(),
        data_sources: Vec::new(),
        once_blocks: 0,
        interleave_blocks: 0,
        rendezvous: 0,
        pacers: 0,
        grpc_calls: 0,
        on_error: OnError::Continue,
        clear_cookies_each_iteration: false,
        first_thread_num: 1,
        functions: Default::default(),
    }
}

fn load(users: u32, iterations: u64) -> Load {
    Load {
        concurrency: users,
        ramp_up: Duration::ZERO,
        hold_for: Duration::ZERO,
        iterations: Some(iterations),
        steps: 0,
        throughput: None,
        delay: Duration::ZERO,
        max_vus: None,
        segment: None,
    }
}

/// Runs one execution to its end; returns its samples (checked to equal the requests sent).
async fn run_with(sc: ScenarioPlan, load: Load, ctx: &Context) -> Vec<Sample> {
    let plan = ExecutionPlan {
        load,
        driver: crate::plan::Driver::Scenario(Arc::new(sc)),
        track: 0,
        stage: 0,
        after_stop: false,
    };
    tokio::time::timeout(Duration::from_secs(5), crate::engine::run(std::slice::from_ref(&plan), ctx.clone()))
        .await
        .expect("the load ends");
    let mut samples = Vec::new();
    ctx.samples.drain(&mut samples);
    assert_eq!(samples.len() as u64, ctx.sent.load(std::sync::atomic::Ordering::Relaxed));
    samples
}

fn context() -> Context {
    Context::new(Arc::new(Recorder::new()), Instant::now(), Arc::default(), std::env::temp_dir())
}

async fn run(sc: ScenarioPlan, users: u32, iterations: u64) -> Vec<Sample> {
    run_with(sc, load(users, iterations), &context()).await
}

/// Stops `ctx` after `after`.
fn stop_after(ctx: &Context, after: Duration) {
    let stop = ctx.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        stop.advance(Phase::Stopping);
    });
}

fn counts(paths: &[String]) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for p in paths {
        *out.entry(p.as_str()).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn a_think_step_pauses_as_think_time_and_a_stop_ends_it() {
    let server = Server::start().await;
    let steps = vec![Step::Transaction(Transaction {
        label: 1,
        steps: vec![Step::Think(ThinkTime::Constant(Duration::from_millis(150))), server.get("/a")],
        parent_only: false,
        include_timers: true,
    })];
    let start = Instant::now();
    let samples = run(scenario(steps), 1, 1).await;
    assert!(start.elapsed() >= Duration::from_millis(150));
    let tx = samples.iter().find(|s| s.label == 1).expect("the transaction's sample");
    assert!(tx.elapsed_us >= 150_000, "{tx:?}");
    assert_eq!(server.paths(), ["/a"]);

    // A stop during the pause ends the user before its request.
    let ctx = context();
    stop_after(&ctx, Duration::from_millis(100));
    let steps = vec![Step::Think(ThinkTime::Constant(Duration::from_secs(10))), server.get("/never")];
    let start = Instant::now();
    let samples = run_with(scenario(steps), load(1, 1), &ctx).await;
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(samples.is_empty());
    assert_eq!(server.count("/never"), 0);
}

#[tokio::test]
async fn random_order_runs_every_child_each_pass_in_varying_orders() {
    let server = Server::start().await;
    let steps = vec![Step::RandomOrder(vec![server.get("/a"), server.get("/b"), server.get("/c")])];
    run(scenario(steps), 1, 30).await;
    let paths = server.paths();
    assert_eq!(paths.len(), 90);
    let mut orders = HashSet::new();
    for pass in paths.chunks(3) {
        let mut sorted = pass.to_vec();
        sorted.sort();
        assert_eq!(sorted, ["/a", "/b", "/c"], "{pass:?}");
        orders.insert(pass.to_vec());
    }
    assert!(orders.len() >= 3, "{orders:?}");
}

#[tokio::test]
async fn random_runs_one_child_per_pass() {
    let server = Server::start().await;
    let steps = vec![Step::Random(vec![server.get("/a"), server.get("/b"), server.get("/c")]), server.get("/end")];
    run(scenario(steps), 1, 60).await;
    let paths = server.paths();
    assert_eq!(paths.len(), 120);
    for pair in paths.chunks(2) {
        assert!(["/a", "/b", "/c"].contains(&pair[0].as_str()) && pair[1] == "/end", "{pair:?}");
    }
    let c = counts(&paths);
    assert!(c["/a"] > 5 && c["/b"] > 5 && c["/c"] > 5, "{c:?}");
}

#[tokio::test]
async fn interleave_takes_children_in_turn_per_user_or_across_users() {
    let interleave = |server: &Server, across_users| {
        let children = vec![server.get("/a"), server.get("/b"), server.get("/c")];
        let mut sc = scenario(vec![Step::Interleave { index: 0, across_users, steps: children }]);
        sc.interleave_blocks = 1;
        sc
    };
    let server = Server::start().await;
    run(interleave(&server, false), 1, 5).await;
    assert_eq!(server.paths(), ["/a", "/b", "/c", "/a", "/b"]);

    // Two users with a cursor each: both take a, then b.
    let server = Server::start().await;
    run(interleave(&server, false), 2, 2).await;
    assert_eq!(counts(&server.paths()), BTreeMap::from([("/a", 2), ("/b", 2)]));

    // One cursor for both: a, b, c, a.
    let server = Server::start().await;
    run(interleave(&server, true), 2, 2).await;
    assert_eq!(counts(&server.paths()), BTreeMap::from([("/a", 2), ("/b", 1), ("/c", 1)]));
}

#[tokio::test]
async fn if_runs_its_steps_when_the_condition_reads_true() {
    let server = Server::start().await;
    let if_ = |condition, steps| Step::If { condition, each_step: false, steps };
    let mut sc = scenario(vec![
        if_(text("${x}"), vec![server.get("/text-yes")]),
        if_(text("${y}"), vec![server.get("/text-no")]),
        if_(expr("${n} > 2 && \"${y}\" == 'yes'"), vec![server.get("/expr-yes")]),
        if_(expr("${n} > 5"), vec![server.get("/expr-no")]),
    ]);
    sc.variables = vec![("x".into(), jmx(" TRUE ")), ("y".into(), jmx("yes")), ("n".into(), jmx("3"))];
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/text-yes", "/expr-yes"]);

    // evaluateAll: checked before each step, leaving once it no longer holds.
    let server = Server::start().await;
    let body = |server: &Server, flag: &str| vec![server.get("/1"), set(flag, "false"), server.get("/2")];
    let mut sc = scenario(vec![
        Step::If { condition: text("${each}"), each_step: true, steps: body(&server, "each") },
        Step::If { condition: text("${once}"), each_step: false, steps: body(&server, "once") },
    ]);
    sc.variables = vec![("each".into(), jmx("true")), ("once".into(), jmx("true"))];
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/1", "/1", "/2"]);
}

#[tokio::test]
async fn while_ends_when_its_condition_reads_false() {
    // Text: `maybe` is not `false`, so the loop goes on until the body sets ` FALSE`.
    let server = Server::start().await;
    let body = vec![
        server.get("/w"),
        set("n", "${__counter(TRUE)}"),
        Step::If { condition: expr("${n} >= 3"), each_step: false, steps: vec![set("go", " FALSE")] },
    ];
    let mut sc = scenario(vec![Step::While { condition: WhileCondition::Until(text("${go}")), steps: body }]);
    sc.variables = vec![("go".into(), jmx("maybe"))];
    run(sc, 1, 1).await;
    assert_eq!(server.count("/w"), 3);

    // An expression: checked before each pass.
    let server = Server::start().await;
    let body = vec![server.get("/x"), set("n", "${__counter(TRUE)}")];
    let mut sc = scenario(vec![
        Step::While { condition: WhileCondition::Until(expr("${n} < 3")), steps: body },
        server.get("/after"),
    ]);
    sc.variables = vec![("n".into(), jmx("0"))];
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/x", "/x", "/x", "/after"]);
}

#[tokio::test]
async fn while_on_samples_ends_after_a_failed_pass_or_is_not_entered_after_a_failure() {
    // Blank: passes until one ends with a failed sample.
    let server = Server::start().await;
    let sc = scenario(vec![
        Step::While { condition: WhileCondition::BodyOk, steps: vec![server.get("/failfrom/3")] },
        server.get("/after"),
    ]);
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/failfrom/3", "/failfrom/3", "/failfrom/3", "/after"]);

    // LAST: not entered when the sample before failed…
    let server = Server::start().await;
    let sc = scenario(vec![
        server.get("/fail"),
        Step::While { condition: WhileCondition::LastOk, steps: vec![server.get("/w")] },
        server.get("/after"),
    ]);
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/fail", "/after"]);

    // …else like blank.
    let server = Server::start().await;
    let sc = scenario(vec![
        server.get("/ok"),
        Step::While { condition: WhileCondition::LastOk, steps: vec![server.get("/failfrom/2")] },
    ]);
    run(sc, 1, 1).await;
    assert_eq!(server.paths(), ["/ok", "/failfrom/2", "/failfrom/2"]);
}

#[tokio::test]
async fn rendezvous_releases_users_together_after_a_timeout_or_on_stop() {
    let meet = |server: &Server, group, timeout| {
        let mut sc = scenario(vec![Step::Rendezvous { index: 0, group, timeout }, server.get("/r")]);
        sc.rendezvous = 1;
        sc
    };
    let spread = |hits: &[Hit]| {
        let first = hits.iter().map(|h| h.at).min().unwrap();
        hits.iter().map(|h| h.at).max().unwrap() - first
    };
    // Three users starting 100 ms apart all go when the last arrives.
    let server = Server::start().await;
    let start = Instant::now();
    let ramp = Load { ramp_up: Duration::from_millis(300), hold_for: Duration::from_secs(5), ..load(3, 1) };
    run_with(meet(&server, 3, None), ramp, &context()).await;
    let hits = server.hits();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.at - start >= Duration::from_millis(195)), "{hits:?}");
    assert!(spread(&hits) < Duration::from_millis(30), "{:?}", spread(&hits));

    // Two of a group of three: the timeout lets them go, together.
    let server = Server::start().await;
    let start = Instant::now();
    run(meet(&server, 3, Some(Duration::from_millis(100))), 2, 1).await;
    let hits = server.hits();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.at - start >= Duration::from_millis(95)), "{hits:?}");
    assert!(spread(&hits) < Duration::from_millis(30), "{:?}", spread(&hits));

    // A stop releases a user that would wait for ever.
    let server = Server::start().await;
    let ctx = context();
    stop_after(&ctx, Duration::from_millis(100));
    let start = Instant::now();
    run_with(meet(&server, 2, None), load(1, 1), &ctx).await;
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn pace_holds_each_user_or_the_execution_to_its_interval() {
    let pace = |server: &Server, interval, shared| {
        let mut sc = scenario(vec![Step::Pace { index: 0, interval, shared }, server.get("/p")]);
        sc.pacers = 1;
        sc
    };
    let span = |hits: &[Hit]| hits.last().unwrap().at - hits[0].at;
    // Per user: 5 passes 50 ms apart each, both users side by side.
    let server = Server::start().await;
    run(pace(&server, Duration::from_millis(50), false), 2, 5).await;
    let hits = server.hits();
    assert_eq!(hits.len(), 10);
    assert!(span(&hits) >= Duration::from_millis(195) && span(&hits) < Duration::from_millis(350), "{:?}", span(&hits));

    // Shared: the 10 passes of both users, 30 ms apart.
    let server = Server::start().await;
    run(pace(&server, Duration::from_millis(30), true), 2, 5).await;
    let hits = server.hits();
    assert_eq!(hits.len(), 10);
    assert!(span(&hits) >= Duration::from_millis(265) && span(&hits) < Duration::from_millis(450), "{:?}", span(&hits));
    let min_gap = hits.windows(2).map(|w| w[1].at - w[0].at).min().unwrap();
    assert!(min_gap >= Duration::from_millis(20), "{min_gap:?}");
}

#[tokio::test]
async fn on_sample_error_goes_on_skips_the_iteration_or_stops_the_user_or_test() {
    let failing = |server: &Server, on_error| {
        let mut sc = scenario(vec![server.get("/fail"), server.get("/after")]);
        sc.on_error = on_error;
        sc
    };
    for (on_error, fail, after) in
        [(OnError::Continue, 6, 6), (OnError::NextIteration, 6, 0), (OnError::StopUser, 2, 0)]
    {
        let server = Server::start().await;
        let samples = run(failing(&server, on_error), 2, 3).await;
        assert_eq!((server.count("/fail"), server.count("/after")), (fail, after), "{on_error:?}");
        assert_eq!(samples.len(), fail + after);
    }
    for (on_error, phase, name) in
        [(OnError::StopTest, Phase::Stopping, "stoptest"), (OnError::StopTestNow, Phase::Aborting, "stoptestnow")]
    {
        let server = Server::start().await;
        let ctx = context();
        run_with(failing(&server, on_error), load(2, 50), &ctx).await;
        assert!(server.count("/fail") <= 2, "{on_error:?}");
        assert_eq!(server.count("/after"), 0);
        assert_eq!(ctx.stop.phase(), phase);
        let reason = ctx.stop.reason().unwrap();
        assert!(reason.contains(&format!("`on_sample_error: {name}`")) && reason.contains("scenario `s`"), "{reason}");
    }
}

#[tokio::test]
async fn next_loop_pass_and_break_loop_act_on_the_innermost_loop() {
    let always = || text("true");
    // Inside a loop (through an If): the loop's next pass, then leaving it.
    let server = Server::start().await;
    let body = vec![
        server.get("/a"),
        Step::If { condition: always(), each_step: false, steps: vec![action(ActionKind::NextLoopPass)] },
        server.get("/b"),
    ];
    run(scenario(vec![Step::Loop { count: Some(3), steps: body }, server.get("/c")]), 1, 1).await;
    assert_eq!(server.paths(), ["/a", "/a", "/a", "/c"]);

    let server = Server::start().await;
    let body = vec![server.get("/a"), action(ActionKind::BreakLoop), server.get("/b")];
    run(scenario(vec![Step::Loop { count: Some(3), steps: body }, server.get("/c")]), 1, 1).await;
    assert_eq!(server.paths(), ["/a", "/c"]);

    let server = Server::start().await;
    let body = vec![server.get("/w"), action(ActionKind::BreakLoop)];
    let steps = vec![Step::While { condition: WhileCondition::Until(always()), steps: body }, server.get("/c")];
    run(scenario(steps), 1, 1).await;
    assert_eq!(server.paths(), ["/w", "/c"]);

    // Outside any loop: the next iteration, and the end of the user's iterations.
    let server = Server::start().await;
    run(scenario(vec![server.get("/a"), action(ActionKind::NextLoopPass), server.get("/b")]), 1, 3).await;
    assert_eq!(server.paths(), ["/a", "/a", "/a"]);

    let server = Server::start().await;
    run(scenario(vec![server.get("/a"), action(ActionKind::BreakLoop), server.get("/b")]), 1, 3).await;
    assert_eq!(server.paths(), ["/a"]);
}

#[tokio::test]
async fn cookies_start_afresh_each_iteration_when_asked() {
    for clear in [true, false] {
        let server = Server::start().await;
        let mut sc = scenario(vec![server.get("/seen"), server.get("/set-cookie/c")]);
        sc.cookies = vec![Cookie {
            name: "init".into(),
            value: "1".into(),
            domain: "127.0.0.1".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            expires: None,
        }];
        sc.clear_cookies_each_iteration = clear;
        run(sc, 1, 3).await;
        let seen: Vec<String> = server.hits().into_iter().filter(|h| h.path == "/seen").map(|h| h.cookie).collect();
        if clear {
            assert_eq!(seen, ["init=1", "init=1", "init=1"]);
        } else {
            assert_eq!(seen[0], "init=1");
            assert!(seen[1..].iter().all(|c| c.contains("init=1") && c.contains("c=1")), "{seen:?}");
        }
    }
}

#[tokio::test]
async fn a_value_that_cannot_be_evaluated_stays_unset_and_fails_the_next_request() {
    let server = Server::start().await;
    let mut sc = scenario(vec![
        server.get_template("/v/${bad}"),
        server.get_template("/v/${bad}"),
        set("worse", "${__Random(1,x)}"),
        server.get("/not-sent"),
        server.get("/sent"),
        Step::If { condition: text("${__Random(z,1)}"), each_step: false, steps: vec![server.get("/never")] },
        server.get("/not-sent-either"),
    ]);
    sc.variables = vec![("bad".into(), jmx("${__Random(a,b)}"))];
    let samples = run(sc, 1, 1).await;
    let paths = server.paths();
    assert_eq!(paths.len(), 2, "{paths:?}");
    // The unset variable reads as written.
    assert!(paths[0].starts_with("/v/$") && paths[0].contains("bad"), "{paths:?}");
    assert_eq!(paths[1], "/sent");
    let errors: Vec<&str> = samples.iter().filter_map(|s| s.error.as_deref()).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("variable `bad` left unset: `__Random`"), "{errors:?}");
    assert!(errors[1].starts_with("variable `worse` left unset"), "{errors:?}");
    assert!(errors[2].starts_with("a condition could not be evaluated"), "{errors:?}");
    assert_eq!(samples.len(), 5);
}

#[tokio::test]
async fn a_body_template_that_fails_to_render_fails_its_sample_only() {
    use crate::plan::body_template::{environment, BodyTemplate};
    let server = Server::start().await;
    // Renders an empty body in iteration 0 (the test server reads no bodies), fails in iteration 1.
    let source = "{% if iteration == 1 %}{{ random_int(vu, 0) }}{% endif %}";
    let template = BodyTemplate::compile(&environment(&[]), "t", source.to_string()).unwrap();
    let mut step = server.get("/t");
    if let Step::Request(r) = &mut step {
        r.body = Some(crate::plan::scenario::Body::Rendered(Arc::new(template)));
    }
    let samples = run(scenario(vec![step]), 1, 3).await;
    assert_eq!(server.paths(), ["/t", "/t"]);
    assert_eq!(samples.len(), 3);
    let errors: Vec<&str> = samples.iter().filter_map(|s| s.error.as_deref()).collect();
    assert_eq!(
        errors,
        ["the body template could not be rendered: invalid operation: random_int(1, 0) needs a <= b (in t:1)"]
    );
}
