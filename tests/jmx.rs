//! The JMX reader on hand-written plans (`tests/fixtures/jmx/`): the typed model it builds, and
//! the errors it gives, with their file:line.

use std::path::Path;

use suite::config::{Diagnostic, Sources};
use suite::plan::jmx::model::*;
use suite::plan::jmx::template::{Function, Segment};
use suite::plan::jmx::{self, JmxPlan};

/// Tests run in the package root, so fixture paths (and error locations) are relative.
fn load(name: &str) -> (Sources, Result<JmxPlan, Vec<Diagnostic>>) {
    let mut sources = Sources::new();
    let plan = jmx::load(Path::new(&format!("tests/fixtures/jmx/{name}")), &mut sources);
    (sources, plan)
}

fn find<'a>(plan: &'a JmxPlan, name: &str) -> &'a Node {
    plan.walk().into_iter().find(|n| n.meta.name.value == name).unwrap_or_else(|| panic!("no element named {name:?}"))
}

#[test]
fn jmx_every_supported_element_is_read_with_its_fields() {
    let (sources, plan) = load("all_elements.jmx");
    let plan = plan.unwrap_or_else(|e| panic!("{}", e.iter().map(|d| d.render(&sources)).collect::<String>()));
    assert_eq!(plan.jmeter_version.as_deref(), Some("5.6.3"));

    let root = plan.test_plan().unwrap();
    let Kind::TestPlan(tp) = &root.kind else { panic!() };
    assert!(tp.serialize_threadgroups && tp.teardown_on_shutdown && !tp.functional_mode);
    assert_eq!(tp.variables[0].name.value, "host");
    let Segment::Call { function: Function::P, args, .. } = &tp.variables[0].value.template.segments[0] else {
        panic!()
    };
    assert_eq!(args[1].as_literal().as_deref(), Some("localhost"));

    // Top level, in file order; the two listeners are set aside, not errors.
    let kinds: Vec<&str> = root.children.iter().map(|n| n.meta.testclass.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "Arguments",
            "ConfigTestElement",
            "HeaderManager",
            "CookieManager",
            "CSVDataSet",
            "AuthManager",
            "SetupThreadGroup",
            "ThreadGroup",
            "PostThreadGroup"
        ]
    );
    let listeners: Vec<(&str, usize)> = plan.listeners.iter().map(|l| (l.testclass.as_str(), l.span.line)).collect();
    assert_eq!(listeners, [("ResultCollector", 77), ("BackendListener", 302)]);
    let note = plan.listeners_note().unwrap();
    assert!(note.contains("2 listener(s) ignored"), "{note}");
    assert!(note.contains("ResultCollector \"View Results Tree\""), "{note}");

    let Kind::Arguments(vars) = &find(&plan, "Vars").kind else { panic!() };
    assert_eq!((vars[0].name.value.as_str(), vars[0].value.value.as_str()), ("item", "42"));
    let Kind::HttpDefaults(d) = &find(&plan, "Defaults").kind else { panic!() };
    assert_eq!((d.domain.value.as_str(), d.protocol.value.as_str()), ("${host}", "http"));
    assert_eq!((d.connect_timeout.value.as_str(), d.response_timeout.value.as_str()), ("500", "3000"));
    assert!(d.path.is_empty());
    let Kind::Headers(h) = &find(&plan, "Headers").kind else { panic!() };
    assert_eq!((h[0].0.value.as_str(), h[0].1.value.as_str()), ("Accept", "application/json"));
    let Kind::Cookies(c) = &find(&plan, "Cookies").kind else { panic!() };
    assert!(c.clear_each_iteration);
    assert_eq!((c.cookies[0].name.as_str(), c.cookies[0].value.value.as_str()), ("session", "abc"));
    let Kind::CsvDataSet(csv) = &find(&plan, "Users").kind else { panic!() };
    assert_eq!(csv.variable_names.value, "user,password");
    assert!(csv.ignore_first_line && !csv.recycle && csv.stop_thread && !csv.quoted);
    assert_eq!((csv.delimiter.value.as_str(), csv.share_mode.value.as_str()), (";", "shareMode.all"));
    let Kind::Auth(auth) = &find(&plan, "Auth").kind else { panic!() };
    assert_eq!(auth[0].username.value, "${user}");

    let Kind::ThreadGroup(setup) = &find(&plan, "setup").kind else { panic!() };
    assert_eq!((setup.kind, setup.on_error, setup.loops.value.as_str()), (GroupKind::Setup, OnError::StopTest, "1"));
    let Kind::Http(login) = &find(&plan, "login").kind else { panic!() };
    assert!(login.body_raw && !login.keep_alive);
    assert_eq!(login.arguments[0].value.value, r#"{"user": "${user}"}"#);
    assert!(
        matches!(&find(&plan, "token").kind, Kind::Extractor(Extractor::Json { variables, .. }) if variables.value == "token")
    );

    let group = find(&plan, "shoppers");
    let Kind::ThreadGroup(tg) = &group.kind else { panic!() };
    assert_eq!(tg.kind, GroupKind::Normal);
    assert_eq!((tg.num_threads.value.as_str(), tg.ramp_time.value.as_str()), ("${__P(threads,10)}", "5"));
    assert_eq!((tg.loops.value.as_str(), tg.continue_forever), ("-1", false));
    assert!(tg.scheduler && !tg.same_user);
    assert_eq!((tg.duration.value.as_str(), tg.delay.value.as_str()), ("60", "2"));
    assert_eq!(tg.on_error, OnError::StartNextLoop);
    // The disabled JSR223 sampler is skipped silently.
    let names: Vec<&str> = group.children.iter().map(|n| n.meta.name.value.as_str()).collect();
    assert_eq!(names, ["think", "jitter", "pace", "once", "buy", "one of", "in turn", "has id"]);

    assert!(matches!(&find(&plan, "think").kind, Kind::Timer(Timer::Constant { delay }) if delay.value == "300"));
    assert!(
        matches!(&find(&plan, "jitter").kind, Kind::Timer(Timer::Gaussian { deviation, .. }) if deviation.value == "20.0")
    );
    assert!(
        matches!(&find(&plan, "pace").kind, Kind::Timer(Timer::ConstantThroughput { per_minute, calc_mode: 1 }) if per_minute.value == "120.0")
    );
    assert_eq!(find(&plan, "once").kind, Kind::Controller(Controller::OnceOnly));
    let Kind::Http(catalog) = &find(&plan, "catalog").kind else { panic!() };
    assert!(catalog.follow_redirects && !catalog.keep_alive && !catalog.multipart);
    assert_eq!(catalog.content_encoding.value, "UTF-8");
    assert!(catalog.arguments[0].always_encode && catalog.arguments[0].use_equals);
    assert!(matches!(
        &find(&plan, "first id").kind,
        Kind::Extractor(Extractor::Regex { field: Field::Body, regex, .. }) if regex.value == r#""id":(\d+)"#
    ));
    let Kind::Assertion(Assertion::Response { field, how, not, any, patterns, .. }) = &find(&plan, "is 200").kind
    else {
        panic!()
    };
    assert_eq!(
        (*field, *how, *not, *any, patterns[0].value.as_str()),
        (Field::Code, Match::Equals, false, false, "200")
    );

    assert_eq!(
        find(&plan, "buy").kind,
        Kind::Controller(Controller::Transaction { parent: true, include_timers: false })
    );
    assert_eq!(find(&plan, "shuffle").kind, Kind::Controller(Controller::RandomOrder));
    // A label with a variable stays a template; the sampler has its assertions as children.
    let item = find(&plan, "item ${item}");
    assert!(matches!(&item.meta.name.template.segments[1], Segment::Var { name, .. } if name == "item"));
    assert_eq!(item.children.len(), 2);
    assert!(
        matches!(&find(&plan, "fast").kind, Kind::Assertion(Assertion::Duration { max_ms }) if max_ms.value == "250")
    );
    assert!(matches!(
        &find(&plan, "in stock").kind,
        Kind::Assertion(Assertion::JsonPath { validate: true, regex: true, .. })
    ));
    let Kind::Http(upload) = &find(&plan, "upload").kind else { panic!() };
    assert!(upload.multipart);
    assert_eq!(
        (
            upload.files[0].path.value.as_str(),
            upload.files[0].param.value.as_str(),
            upload.files[0].mime_type.value.as_str()
        ),
        ("photo.jpg", "data", "image/jpeg")
    );
    assert!(matches!(
        &find(&plan, "receipt").kind,
        Kind::Extractor(Extractor::Boundary { field: Field::Headers, right, .. }) if right.value == "\r"
    ));
    assert_eq!(find(&plan, "one of").kind, Kind::Controller(Controller::Random { ignore_sub_controllers: false }));
    assert_eq!(
        find(&plan, "in turn").kind,
        Kind::Controller(Controller::Interleave { ignore_sub_controllers: true, across_threads: true })
    );
    assert!(matches!(&find(&plan, "has id").kind, Kind::Controller(Controller::If { use_expression: true, .. })));
    assert!(
        matches!(&find(&plan, "poll").kind, Kind::Controller(Controller::While { condition }) if condition.value == "${more}")
    );
    assert!(
        matches!(&find(&plan, "thrice").kind, Kind::Controller(Controller::Loop { loops, forever: true }) if loops.value == "3")
    );
    assert_eq!(find(&plan, "simple").kind, Kind::Controller(Controller::Generic));
    let wait = find(&plan, "wait");
    assert!(matches!(&wait.kind, Kind::TestAction(TestAction { action: Action::Pause, all_threads: false, .. })));
    let timers: Vec<&str> = wait.children.iter().map(|n| n.meta.name.value.as_str()).collect();
    assert_eq!(timers, ["pause", "together"]);
    assert!(
        matches!(&find(&plan, "together").kind, Kind::Timer(Timer::Sync { timeout_ms, .. }) if timeout_ms.value == "5000")
    );

    let Kind::ThreadGroup(post) = &find(&plan, "teardown").kind else { panic!() };
    assert_eq!(post.kind, GroupKind::TearDown);
    let Kind::Http(logout) = &find(&plan, "logout").kind else { panic!() };
    assert_eq!(logout.method.value, "DELETE");

    // Every element keeps its line.
    assert_eq!(find(&plan, "logout").meta.span.line, 296);
    assert_eq!((catalog.path.span.line, sources.slice(catalog.path.span)), (148, "/catalog"));
}

#[test]
fn jmx_unsupported_elements_and_functions_are_all_named_with_their_lines() {
    let (sources, plan) = load("unsupported.jmx");
    let errors = plan.unwrap_err();
    let lines: Vec<String> = errors.iter().map(|d| d.one_line(&sources)).collect();
    let f = "tests/fixtures/jmx/unsupported.jmx";
    assert_eq!(
        lines,
        [
            format!("{f}:10:10: error: unsupported JMeter element `JSR223PreProcessor` (\"setup vars\"): scripts cannot run without a JVM"),
            format!("{f}:14:10: error: unsupported JMeter element `JDBCSampler` (\"query\"): only HTTP samplers (`HTTPSamplerProxy`) are supported"),
            format!("{f}:16:99: error: unknown or unsupported JMeter function `__Rnadom`, in the name of `HTTPSamplerProxy` \"get ${{__Rnadom(1,5)}}\""),
            format!("{f}:17:60: error: unknown or unsupported JMeter function `__machineName`, in `HTTPSampler.path` of `HTTPSamplerProxy` \"get ${{__Rnadom(1,5)}}\""),
            format!("{f}:18:58: error: unknown or unsupported JMeter function `__BeanShell`, in `HTTPSampler.embedded_url_re` of `HTTPSamplerProxy` \"get ${{__Rnadom(1,5)}}\""),
            format!("{f}:21:12: error: unsupported JMeter element `ConstantTimr` (\"typo\"): it is not one of the elements suite implements"),
        ]
    );
    let rendered = errors[5].render(&sources);
    assert!(rendered.contains("= help: did you mean `ConstantTimer`?"), "{rendered}");
    assert!(rendered.contains("21 |           <ConstantTimr"), "{rendered}");
}

#[test]
fn jmx_function_errors_point_into_the_value() {
    let (sources, plan) = load("unsupported.jmx");
    let errors = plan.unwrap_err();
    let machine = errors.iter().find(|d| d.message.contains("__machineName")).unwrap();
    // The caret is on the call itself, past the `&amp;` before it.
    assert_eq!(sources.slice(machine.span.unwrap()), "${__machineName()}");
    let name = errors.iter().find(|d| d.message.contains("__Rnadom")).unwrap();
    assert_eq!(sources.slice(name.span.unwrap()), "${__Rnadom(1,5)}");
}

#[test]
fn jmx_malformed_file_is_one_error_at_its_line() {
    let (sources, plan) = load("malformed.jmx");
    let errors = plan.unwrap_err();
    assert_eq!(errors.len(), 1);
    let line = errors[0].one_line(&sources);
    assert!(line.starts_with("tests/fixtures/jmx/malformed.jmx:6:"), "{line}");
    assert!(line.contains("malformed XML"), "{line}");
    let rendered = errors[0].render(&sources);
    assert!(rendered.contains(":4:6\n") && rendered.contains("in `TestPlan` \"Broken\""), "{rendered}");

    let mut sources = Sources::new();
    let errors = jmx::load(Path::new("tests/fixtures/jmx/absent.jmx"), &mut sources).unwrap_err();
    assert!(
        errors[0].message.starts_with("cannot read JMeter plan `tests/fixtures/jmx/absent.jmx`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn jmx_a_plan_with_only_disabled_or_no_elements_is_an_error() {
    let mut sources = Sources::new();
    let id = sources.add_pseudo(
        "empty.jmx",
        "<jmeterTestPlan>\n<hashTree>\n<TestPlan testclass=\"TestPlan\" testname=\"x\" enabled=\"false\"/>\n</hashTree>\n</jmeterTestPlan>\n",
    );
    let errors = jmx::read_source(&sources, id, Path::new("empty.jmx")).unwrap_err();
    assert_eq!(errors[0].one_line(&sources), "empty.jmx:1:2: error: the plan has no enabled `TestPlan`");

    let id = sources.add_pseudo("not.jmx", "<project/>\n");
    let errors = jmx::read_source(&sources, id, Path::new("not.jmx")).unwrap_err();
    assert!(errors[0].message.contains("not a JMeter plan"), "{}", errors[0].message);
}

#[test]
fn jmx_missing_properties_take_jmeter_defaults() {
    let mut sources = Sources::new();
    let text = r#"<jmeterTestPlan><hashTree>
<TestPlan testclass="TestPlan" testname="p"/>
<hashTree>
  <ThreadGroup testclass="ThreadGroup" testname="g"/>
  <hashTree>
    <HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="s">
      <elementProp name="HTTPsampler.Arguments" elementType="Arguments">
        <collectionProp name="Arguments.arguments">
          <elementProp name="a" elementType="HTTPArgument"><stringProp name="Argument.name">a</stringProp></elementProp>
        </collectionProp>
      </elementProp>
    </HTTPSamplerProxy>
    <hashTree>
      <ResponseAssertion testclass="ResponseAssertion" testname="r"/>
      <hashTree/>
    </hashTree>
    <TestAction testclass="TestAction" testname="t"/>
    <hashTree/>
    <InterleaveControl testclass="InterleaveControl" testname="i"/>
    <hashTree/>
  </hashTree>
</hashTree>
</hashTree></jmeterTestPlan>"#;
    let id = sources.add_pseudo("defaults.jmx", text);
    let plan = jmx::read_source(&sources, id, Path::new("defaults.jmx")).unwrap();
    let Kind::TestPlan(tp) = &plan.test_plan().unwrap().kind else { panic!() };
    assert!(!tp.serialize_threadgroups && !tp.teardown_on_shutdown);
    let Kind::ThreadGroup(g) = &find(&plan, "g").kind else { panic!() };
    assert_eq!((g.loops.value.as_str(), g.on_error, g.same_user, g.scheduler), ("1", OnError::Continue, true, false));
    let Kind::Http(s) = &find(&plan, "s").kind else { panic!() };
    assert!(!s.keep_alive && !s.follow_redirects && !s.multipart && s.method.is_empty());
    // No value and no `=` metadata: JMeter sends `a` alone.
    assert!(!s.arguments[0].use_equals);
    assert!(matches!(
        &find(&plan, "r").kind,
        Kind::Assertion(Assertion::Response { field: Field::Body, how: Match::Matches, not: false, any: false, .. })
    ));
    assert!(matches!(&find(&plan, "t").kind, Kind::TestAction(TestAction { action: Action::Stop, .. })));
    assert_eq!(
        find(&plan, "i").kind,
        Kind::Controller(Controller::Interleave { ignore_sub_controllers: true, across_threads: false })
    );
}
