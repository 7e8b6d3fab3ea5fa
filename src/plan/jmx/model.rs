//! The typed JMeter model: one variant per supported test element, with its fields in JMeter's
//! meaning. The tree shape is kept ([`Node::children`]) because JMeter's scoping rules (a timer
//! or header manager applies to the samplers of its level and below) are resolved when lowering.
//!
//! Values JMeter substitutes at run time are [`Text`]: the string as written, where it is, and
//! its parsed [`Template`].

use crate::config::Span;

use super::template::Template;

/// A string property: the value, where it was written and its `${…}` template.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// The value, XML escapes resolved.
    pub value: String,
    /// Where the value is (the element's tag when the property is missing).
    pub span: Span,
    /// The value parsed as a JMeter template.
    pub template: Template,
}

impl Text {
    /// Whether the value is empty (JMeter's "not set" for most fields).
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// What every element keeps: its class, name and place.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    /// `testclass`.
    pub testclass: String,
    /// `testname` (the sample label for samplers and transactions; JMeter substitutes it).
    pub name: Text,
    /// The element's tag.
    pub span: Span,
}

/// One enabled, supported element and its enabled children.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Class, name, place.
    pub meta: Meta,
    /// What it is.
    pub kind: Kind,
    /// The elements of its `<hashTree>`.
    pub children: Vec<Node>,
}

/// The supported elements.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `TestPlan`.
    TestPlan(TestPlan),
    /// `Arguments`: user-defined variables.
    Arguments(Vec<Argument>),
    /// `ConfigTestElement` shown as "HTTP Request Defaults".
    HttpDefaults(Box<Http>),
    /// `HeaderManager`.
    Headers(Vec<(Text, Text)>),
    /// `CookieManager`.
    Cookies(Cookies),
    /// `CSVDataSet`.
    CsvDataSet(CsvDataSet),
    /// `AuthManager` (Basic only).
    Auth(Vec<Authorization>),
    /// `ThreadGroup`, `SetupThreadGroup`, `PostThreadGroup`.
    ThreadGroup(ThreadGroup),
    /// `HTTPSamplerProxy`.
    Http(Box<Http>),
    /// `TestAction` ("Flow Control Action").
    TestAction(TestAction),
    /// A logic controller.
    Controller(Controller),
    /// A timer.
    Timer(Timer),
    /// A post-processor that sets variables.
    Extractor(Extractor),
    /// An assertion.
    Assertion(Assertion),
}

/// `TestPlan`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestPlan {
    /// `TestPlan.user_defined_variables`.
    pub variables: Vec<Argument>,
    /// `TestPlan.serialize_threadgroups`: run thread groups one after the other.
    pub serialize_threadgroups: bool,
    /// `TestPlan.tearDown_on_shutdown`: run tearDown groups after a stop.
    pub teardown_on_shutdown: bool,
    /// `TestPlan.functional_mode` (Taurus overwrites it).
    pub functional_mode: bool,
}

/// One `Argument` / `HTTPArgument`.
#[derive(Clone, Debug, PartialEq)]
pub struct Argument {
    /// `Argument.name`.
    pub name: Text,
    /// `Argument.value`.
    pub value: Text,
    /// `HTTPArgument.always_encode` (URL-encode name and value when sent).
    pub always_encode: bool,
    /// `name=value` rather than `name` alone: `HTTPArgument.use_equals`, or implied (as in
    /// JMeter) by `Argument.metadata` `=` or a non-empty value.
    pub use_equals: bool,
    /// `HTTPArgument.content_type` (for a multipart part).
    pub content_type: Option<Text>,
}

/// The thread group kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// `ThreadGroup`: the load (Taurus rewrites it from the YAML execution).
    Normal,
    /// `SetupThreadGroup`: runs before the others.
    Setup,
    /// `PostThreadGroup`: runs after the others.
    TearDown,
}

/// What a thread does when a sample fails (`ThreadGroup.on_sample_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// `continue`.
    Continue,
    /// `startnextloop`.
    StartNextLoop,
    /// `stopthread`.
    StopThread,
    /// `stoptest`.
    StopTest,
    /// `stoptestnow`.
    StopTestNow,
}

/// A thread group.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadGroup {
    /// Which kind.
    pub kind: GroupKind,
    /// `ThreadGroup.num_threads`.
    pub num_threads: Text,
    /// `ThreadGroup.ramp_time` (seconds).
    pub ramp_time: Text,
    /// `LoopController.loops` of the main controller (`-1` is forever).
    pub loops: Text,
    /// `LoopController.continue_forever` of the main controller.
    pub continue_forever: bool,
    /// `ThreadGroup.scheduler`: `duration`/`delay` apply.
    pub scheduler: bool,
    /// `ThreadGroup.duration` (seconds).
    pub duration: Text,
    /// `ThreadGroup.delay` (seconds before the first thread starts).
    pub delay: Text,
    /// `ThreadGroup.on_sample_error`.
    pub on_error: OnError,
    /// `ThreadGroup.same_user_on_next_iteration` (keep cookies between iterations).
    pub same_user: bool,
    /// `ThreadGroup.delayedStart`: create threads only when needed.
    pub delayed_start: bool,
}

/// An HTTP request (`HTTPSamplerProxy`) or its defaults (`ConfigTestElement`); empty texts
/// mean "not set here".
#[derive(Clone, Debug, PartialEq)]
pub struct Http {
    /// `HTTPSampler.domain`.
    pub domain: Text,
    /// `HTTPSampler.port`.
    pub port: Text,
    /// `HTTPSampler.protocol`.
    pub protocol: Text,
    /// `HTTPSampler.path` (may be a full URL).
    pub path: Text,
    /// `HTTPSampler.method` (`GET` when empty).
    pub method: Text,
    /// `HTTPSampler.contentEncoding`.
    pub content_encoding: Text,
    /// `HTTPSampler.connect_timeout` (ms).
    pub connect_timeout: Text,
    /// `HTTPSampler.response_timeout` (ms).
    pub response_timeout: Text,
    /// `HTTPSampler.follow_redirects` (booleans missing from the file are false, as in JMeter).
    pub follow_redirects: bool,
    /// `HTTPSampler.auto_redirects`.
    pub auto_redirects: bool,
    /// `HTTPSampler.use_keepalive`.
    pub keep_alive: bool,
    /// `HTTPSampler.DO_MULTIPART_POST`.
    pub multipart: bool,
    /// `HTTPSampler.postBodyRaw`: the single argument's value is the body.
    pub body_raw: bool,
    /// `HTTPsampler.Arguments`: query or form parameters (or the raw body).
    pub arguments: Vec<Argument>,
    /// `HTTPsampler.Files`.
    pub files: Vec<FileArg>,
    /// `HTTPSampler.image_parser`: fetch embedded resources (not supported when lowering).
    pub embedded_resources: bool,
}

/// One `HTTPFileArg`.
#[derive(Clone, Debug, PartialEq)]
pub struct FileArg {
    /// `File.path`.
    pub path: Text,
    /// `File.paramname` (the form field; empty sends the file as the body).
    pub param: Text,
    /// `File.mimetype`.
    pub mime_type: Text,
}

/// `CookieManager`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cookies {
    /// `CookieManager.clearEachIteration`.
    pub clear_each_iteration: bool,
    /// `CookieManager.cookies`: user-defined cookies (name, value, domain, path).
    pub cookies: Vec<Cookie>,
}

/// A user-defined cookie.
#[derive(Clone, Debug, PartialEq)]
pub struct Cookie {
    /// Its name (the `elementProp`'s name).
    pub name: String,
    /// `Cookie.value`.
    pub value: Text,
    /// `Cookie.domain`.
    pub domain: Text,
    /// `Cookie.path`.
    pub path: Text,
}

/// `CSVDataSet`.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvDataSet {
    /// `filename` (relative to the plan's folder).
    pub filename: Text,
    /// `fileEncoding`.
    pub encoding: Text,
    /// `variableNames` (comma separated; empty: the first line is the header).
    pub variable_names: Text,
    /// `ignoreFirstLine`.
    pub ignore_first_line: bool,
    /// `delimiter` (`,` when empty, as Taurus fills it; `\t` is a tab).
    pub delimiter: Text,
    /// `quotedData`: values may be quoted.
    pub quoted: bool,
    /// `recycle`: start again at the end of the file.
    pub recycle: bool,
    /// `stopThread`: stop the thread at the end of the file (when not recycling).
    pub stop_thread: bool,
    /// `shareMode` (`shareMode.all`, `shareMode.group`, `shareMode.thread`).
    pub share_mode: Text,
}

/// One `Authorization` of an `AuthManager` (Basic).
#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    /// `Authorization.url`: the URL prefix it applies to.
    pub url: Text,
    /// `Authorization.username`.
    pub username: Text,
    /// `Authorization.password`.
    pub password: Text,
}

/// `TestAction`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestAction {
    /// `ActionProcessor.action` (0, stop, when missing, as in JMeter).
    pub action: Action,
    /// `ActionProcessor.target`: 0 the current thread, 2 every thread.
    pub all_threads: bool,
    /// `ActionProcessor.duration` (ms, for a pause; JMeter applies its timers too).
    pub duration: Text,
}

/// `ActionProcessor.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// 0: stop.
    Stop,
    /// 1: pause (the usual "think time" sampler).
    Pause,
    /// 2: stop now.
    StopNow,
    /// 3: go to the next iteration of the thread loop.
    RestartNextLoop,
    /// 4: start the next iteration of the current loop.
    StartNextIteration,
    /// 5: break the current loop.
    BreakLoop,
}

/// Logic controllers.
#[derive(Clone, Debug, PartialEq)]
pub enum Controller {
    /// `LoopController`.
    Loop {
        /// `LoopController.loops` (`-1` is forever).
        loops: Text,
        /// `LoopController.continue_forever`: on a nested loop, "run again when the parent comes
        /// back" (the GUI saves it true); it does not make the loop infinite, `loops = -1` does.
        forever: bool,
    },
    /// `OnceOnlyController`: its children run in the first iteration only.
    OnceOnly,
    /// `TransactionController`: a sample timing all its children.
    Transaction {
        /// `TransactionController.parent`: one parent sample instead of the children's.
        parent: bool,
        /// `TransactionController.includeTimers`: count timers in the time.
        include_timers: bool,
    },
    /// `RandomOrderController`: all children, shuffled each time.
    RandomOrder,
    /// `RandomController`: one random child per pass.
    Random {
        /// `InterleaveControl.style` 0 (JMeter's default, "ignore sub-controller blocks"):
        /// pick single samplers inside sub-controllers rather than whole sub-controllers.
        ignore_sub_controllers: bool,
    },
    /// `InterleaveControl`: one child per pass, in turn.
    Interleave {
        /// `InterleaveControl.style` 0, as for [`Controller::Random`].
        ignore_sub_controllers: bool,
        /// `InterleaveControl.accrossThreads` (JMeter's spelling).
        across_threads: bool,
    },
    /// `IfController`.
    If {
        /// `IfController.condition`.
        condition: Text,
        /// `IfController.useExpression`: the condition is `true`/`false` text, not JavaScript.
        use_expression: bool,
        /// `IfController.evaluateAll`: evaluate before every child.
        evaluate_all: bool,
    },
    /// `WhileController`.
    While {
        /// `WhileController.condition` (empty: until a sample fails; `LAST`; or an expression).
        condition: Text,
    },
    /// `GenericController` ("Simple Controller").
    Generic,
}

/// Timers: they delay every sampler in their scope.
#[derive(Clone, Debug, PartialEq)]
pub enum Timer {
    /// `ConstantTimer`.
    Constant {
        /// `ConstantTimer.delay` (ms).
        delay: Text,
    },
    /// `UniformRandomTimer`: `delay + uniform(0, range)`.
    UniformRandom {
        /// `ConstantTimer.delay` (ms).
        delay: Text,
        /// `RandomTimer.range` (ms).
        range: Text,
    },
    /// `GaussianRandomTimer`: `delay + gaussian × deviation`.
    Gaussian {
        /// `ConstantTimer.delay` (ms).
        delay: Text,
        /// `RandomTimer.range` (the deviation, ms).
        deviation: Text,
    },
    /// `SyncTimer`: hold threads until `group_size` arrive.
    Sync {
        /// `groupSize` (0: all threads of the group).
        group_size: Text,
        /// `timeoutInMs` (0: wait forever).
        timeout_ms: Text,
    },
    /// `ConstantThroughputTimer`: pace samples to a rate.
    ConstantThroughput {
        /// `throughput` (samples per minute).
        per_minute: Text,
        /// `calcMode`: 0 this thread, 1 all active threads, 2 all threads in the group,
        /// 3 all active threads shared, 4 all in group shared.
        calc_mode: i64,
    },
}

/// Where an extractor or assertion looks (`*.useHeaders` / `Assertion.test_field`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The response body.
    Body,
    /// The body with HTML escapes resolved.
    BodyUnescaped,
    /// The body as a document (Tika; not supported when lowering).
    BodyAsDocument,
    /// The response headers.
    Headers,
    /// The request headers.
    RequestHeaders,
    /// The URL.
    Url,
    /// The status code.
    Code,
    /// The status message.
    Message,
    /// The sample label (assertions only).
    Label,
    /// The request data (assertions only).
    RequestData,
}

/// Post-processors that set variables.
#[derive(Clone, Debug, PartialEq)]
pub enum Extractor {
    /// `RegexExtractor`.
    Regex {
        /// `RegexExtractor.useHeaders`.
        field: Field,
        /// `RegexExtractor.refname`.
        variable: Text,
        /// `RegexExtractor.regex`.
        regex: Text,
        /// `RegexExtractor.template` (`$1$`).
        template: Text,
        /// `RegexExtractor.default`.
        default: Text,
        /// `RegexExtractor.match_number` (0 random, -1 all).
        match_number: Text,
    },
    /// `JSONPostProcessor`.
    Json {
        /// `JSONPostProcessor.referenceNames` (`;`-separated).
        variables: Text,
        /// `JSONPostProcessor.jsonPathExprs` (`;`-separated).
        expressions: Text,
        /// `JSONPostProcessor.match_numbers`.
        match_numbers: Text,
        /// `JSONPostProcessor.defaultValues`.
        defaults: Text,
        /// `JSONPostProcessor.compute_concat`: also set `<name>_ALL`.
        concat: bool,
    },
    /// `BoundaryExtractor`.
    Boundary {
        /// `BoundaryExtractor.useHeaders`.
        field: Field,
        /// `BoundaryExtractor.refname`.
        variable: Text,
        /// `BoundaryExtractor.lboundary`.
        left: Text,
        /// `BoundaryExtractor.rboundary`.
        right: Text,
        /// `BoundaryExtractor.default`.
        default: Text,
        /// `BoundaryExtractor.match_number`.
        match_number: Text,
    },
}

/// How a `ResponseAssertion` compares (`Assertion.test_type` bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// 1: the whole field matches the regex.
    Matches,
    /// 2: the regex is found in the field.
    Contains,
    /// 8: the field equals the text.
    Equals,
    /// 16: the text is found in the field.
    Substring,
}

/// Assertions.
#[derive(Clone, Debug, PartialEq)]
pub enum Assertion {
    /// `ResponseAssertion`.
    Response {
        /// `Assertion.test_field`.
        field: Field,
        /// The comparison (`Assertion.test_type` without the NOT/OR bits).
        how: Match,
        /// Bit 4: NOT.
        not: bool,
        /// Bit 32: OR (any pattern instead of all).
        any: bool,
        /// `Asserion.test_strings` (JMeter's spelling).
        patterns: Vec<Text>,
        /// `Assertion.assume_success`: ignore the status before asserting.
        assume_success: bool,
        /// `Assertion.custom_message`.
        message: Text,
    },
    /// `DurationAssertion`.
    Duration {
        /// `DurationAssertion.duration` (ms).
        max_ms: Text,
    },
    /// `JSONPathAssertion`.
    JsonPath {
        /// `JSON_PATH`.
        path: Text,
        /// `EXPECTED_VALUE`.
        expected: Text,
        /// `JSONVALIDATION`: compare with the expected value (else: the path exists).
        validate: bool,
        /// `EXPECT_NULL`.
        expect_null: bool,
        /// `INVERT`.
        invert: bool,
        /// `ISREGEX`: the expected value is a regex.
        regex: bool,
    },
}
