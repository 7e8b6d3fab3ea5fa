//! The typed Taurus model: which keys exist in each section and what type each value has. Every
//! known Taurus key is listed, even those we do not run yet, so that a typo gets "unknown key"
//! with a suggestion while a real Taurus feature we lack gets a clear "not supported" from the
//! planner. A key whose Taurus meaning has one type has that type here ([`super::value`] for
//! times, virtual users, rates and lists of one); a key that takes several shapes (a scenario
//! name or an inline scenario, criteria, request bodies) or that the planner only names as not
//! supported stays a located [`Node`]. Values the planner may still reject keep their location
//! (`Spanned`).

use indexmap::IndexMap;
use serde::Deserialize;

use super::de::Spanned;
use super::value::{ByteSize, Concurrency, Count, OneOrMany, Rate, TimeValue};
use super::yaml::Node;

/// A whole (merged) config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Root {
    /// What to run: a list of [`Execution`] entries, or a single one.
    #[serde(default)]
    pub execution: Option<Spanned<OneOrMany<Node>>>,
    /// Reusable scenarios by name.
    #[serde(default)]
    pub scenarios: IndexMap<String, Spanned<Scenario>>,
    /// Services (`shellexec`, `monitoring`, ...), each a module entry.
    #[serde(default)]
    pub services: Vec<Spanned<Node>>,
    /// Reporters (`passfail`, `junit-xml`, `final-stats`, ...), each a module entry or a name.
    #[serde(default)]
    pub reporting: Vec<Spanned<Node>>,
    /// Per-module settings.
    #[serde(default)]
    pub modules: IndexMap<String, Spanned<Node>>,
    /// Engine settings.
    #[serde(default)]
    pub settings: Settings,
    /// `local` or `cloud`.
    #[serde(default)]
    pub provisioning: Option<Spanned<String>>,
    /// Already processed by the loader.
    #[serde(default)]
    pub included_configs: Option<Node>,
    /// Command-line aliases (`bzt -alias`); not used by `suite`.
    #[serde(default)]
    pub cli_aliases: Option<Node>,
    /// Taurus CLI settings (linter); not used by `suite`.
    #[serde(default)]
    pub cli: Option<Node>,
    /// Written by Taurus into effective configs.
    #[serde(default)]
    pub version: Option<Node>,
    /// Written by Taurus into effective configs.
    #[serde(default)]
    pub install_id: Option<Node>,
}

/// The `settings` section: Taurus engine settings, of which `suite` uses `env` (its other keys,
/// such as `artifacts-dir` or `check-interval`, are accepted and not used).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// Environment for shell commands; a null value unsets nothing and is skipped.
    #[serde(default)]
    pub env: IndexMap<String, Option<String>>,
}

/// One `execution` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Execution {
    /// Tool that runs the scenario (`jmeter` by default in Taurus); HTTP `requests` run natively.
    pub executor: Option<Spanned<String>>,
    /// Virtual users; a number, or `{local: N, cloud: M}`.
    pub concurrency: Option<Spanned<Concurrency>>,
    /// Time to reach full concurrency.
    pub ramp_up: Option<Spanned<TimeValue>>,
    /// Time at full concurrency.
    pub hold_for: Option<Spanned<TimeValue>>,
    /// Iterations per virtual user.
    pub iterations: Option<Spanned<Count>>,
    /// Request rate cap for the whole execution.
    pub throughput: Option<Spanned<Rate>>,
    /// Stepped ramp-up.
    pub steps: Option<Spanned<Count>>,
    /// suite extension: open model, `throughput` is the arrival rate whatever the response times.
    pub arrival_rate: Option<Spanned<bool>>,
    /// suite extension: with `arrival-rate`, the most virtual users the execution may run.
    pub max_vus: Option<Spanned<Count>>,
    /// Scenario name, or an inline scenario.
    pub scenario: Option<Spanned<Node>>,
    /// Wait before starting.
    pub delay: Option<Spanned<TimeValue>>,
    /// Wall-clock start time.
    pub start_at: Option<Spanned<Node>>,
    /// Environment for the executor.
    pub env: Option<Spanned<Node>>,
    /// Per-execution pass/fail criteria.
    pub criteria: Option<Spanned<Node>>,
    /// Extra files (cloud).
    pub files: Option<Spanned<Node>>,
    /// Cloud locations (ignored locally, as Taurus does).
    pub locations: Option<Spanned<Node>>,
    /// Cloud location weighting.
    pub locations_weighted: Option<Spanned<Node>>,
    /// JMeter: write XML JTL.
    pub write_xml_jtl: Option<Spanned<Node>>,
    /// Executor-specific properties.
    pub properties: Option<Spanned<Node>>,
    /// JMeter system properties.
    pub system_properties: Option<Spanned<Node>>,
    /// suite extension: a parameter sweep, read before planning (`plan::matrix`).
    pub matrix: Option<Spanned<Node>>,
    /// suite extension: `product` or `zip` (`plan::matrix`).
    pub matrix_mode: Option<Spanned<Node>>,
    /// suite extension: cells added to the matrix (`plan::matrix`).
    pub matrix_include: Option<Spanned<Node>>,
    /// suite extension: cells removed from the matrix (`plan::matrix`).
    pub matrix_exclude: Option<Spanned<Node>>,
    /// suite extension: the most cells the matrix may make (`plan::matrix`).
    pub matrix_max: Option<Spanned<Node>>,
    /// suite extension: a capacity search over the arrival rate (`plan::search`).
    pub search: Option<Spanned<Node>>,
}

/// A scenario.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// HTTP requests (and logic blocks).
    pub requests: Option<Spanned<Vec<Spanned<Node>>>>,
    /// Prefix for relative URLs.
    pub default_address: Option<Spanned<String>>,
    /// Headers of every request.
    pub headers: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// Pause before each request: a time value, or `uniform(mean, dev)`, `gaussian(mean, dev)`,
    /// `poisson(mean, offset)`.
    pub think_time: Option<Spanned<String>>,
    /// Connect and read timeout.
    pub timeout: Option<Spanned<TimeValue>>,
    /// suite extension: connect timeout (default `timeout`).
    pub connect_timeout: Option<Spanned<TimeValue>>,
    /// suite extension: read timeout (default `timeout`).
    pub read_timeout: Option<Spanned<TimeValue>>,
    /// suite extension: `false` accepts any server certificate (self-signed test servers).
    pub tls_verify: Option<Spanned<bool>>,
    /// suite extension: the most of a response body that assertions and extractors see.
    pub max_body_seen: Option<Spanned<ByteSize>>,
    /// suite extension: `1.1`, `2` or `auto` (a number or a string), the requests' default.
    pub http_version: Option<Spanned<Node>>,
    /// Reuse connections.
    pub keepalive: Option<Spanned<bool>>,
    /// Follow redirects.
    pub follow_redirects: Option<Spanned<bool>>,
    /// Variables for `${name}`.
    pub variables: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// Keep cookies per virtual user (JMeter's cookie manager; on by default).
    pub store_cookie: Option<Spanned<bool>>,
    /// Cache manager (JMeter); nothing to cache for a load tool.
    pub store_cache: Option<Spanned<bool>>,
    /// Download embedded resources of HTML pages (JMeter).
    pub retrieve_resources: Option<Spanned<bool>>,
    /// Which embedded resources to download.
    pub retrieve_resources_regex: Option<Spanned<Node>>,
    /// Parallel downloads of embedded resources.
    pub concurrent_pool_size: Option<Spanned<Node>>,
    /// JMeter DNS cache manager.
    pub use_dns_cache_mgr: Option<Spanned<bool>>,
    /// Request body encoding.
    pub content_encoding: Option<Spanned<Node>>,
    /// JMeter transaction controller option.
    pub force_parent_sample: Option<Spanned<bool>>,
    /// Source-IP spoofing.
    pub random_source_ip: Option<Spanned<Node>>,
    /// CSV feeders.
    pub data_sources: Option<Spanned<Node>>,
    /// JMeter properties.
    pub properties: Option<Spanned<Node>>,
    /// Cookies every virtual user starts with: [`CookieEntry`]s, read by the planner so that a
    /// bad one does not hide the scenario's other errors.
    pub cookies: Option<Spanned<Node>>,
    /// HTTP authentication.
    pub authorization: Option<Spanned<Node>>,
    /// Per-scenario pass/fail criteria.
    pub criteria: Option<Spanned<Node>>,
    /// An existing script (JMX, locustfile, ...) instead of `requests`.
    pub script: Option<Spanned<Node>>,
    /// Scenario-level environment.
    pub env: Option<Spanned<Node>>,
    /// JMeter: drop listeners from the plan; no effect in suite.
    pub disable_listeners: Option<Spanned<bool>>,
    /// JMeter: edits applied to an existing JMX `script`.
    pub modifications: Option<Spanned<Node>>,
}

/// One request item (the dict form; a bare string is a URL).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Request {
    /// Absolute URL, or a path under `default-address`.
    pub url: Spanned<String>,
    /// HTTP method (GET by default).
    pub method: Option<Spanned<String>>,
    /// Sample label (defaults to the URL).
    pub label: Option<Spanned<String>>,
    /// Extra headers (override scenario headers).
    pub headers: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// Body: a string, or a map sent as JSON or as a form.
    pub body: Option<Spanned<Node>>,
    /// File whose content is the body.
    pub body_file: Option<Spanned<String>>,
    /// suite extension: the body as a minijinja template (`settings.env`, `vu`, `iteration`, ...).
    pub body_template: Option<Spanned<String>>,
    /// suite extension: a file whose content is a minijinja template of the body.
    pub body_file_template: Option<Spanned<String>>,
    /// Pause before this request (as the scenario's `think-time`).
    pub think_time: Option<Spanned<String>>,
    /// Connect and read timeout of this request.
    pub timeout: Option<Spanned<TimeValue>>,
    /// suite extension: connect timeout of this request.
    pub connect_timeout: Option<Spanned<TimeValue>>,
    /// suite extension: read timeout of this request.
    pub read_timeout: Option<Spanned<TimeValue>>,
    /// Keep the connection alive.
    pub keepalive: Option<Spanned<bool>>,
    /// Follow redirects.
    pub follow_redirects: Option<Spanned<bool>>,
    /// suite extension: the most of the response body that assertions and extractors see.
    pub max_body_seen: Option<Spanned<ByteSize>>,
    /// suite extension: `1.1`, `2` or `auto` (a number or a string); overrides the scenario's.
    pub http_version: Option<Spanned<Node>>,
    /// Response assertions.
    pub assert: Option<Spanned<Node>>,
    /// JSONPath assertions.
    pub assert_jsonpath: Option<Spanned<Node>>,
    /// XPath assertions.
    pub assert_xpath: Option<Spanned<Node>>,
    /// Regex extractors.
    pub extract_regexp: Option<Spanned<Node>>,
    /// JSONPath extractors.
    pub extract_jsonpath: Option<Spanned<Node>>,
    /// Boundary extractors.
    pub extract_boundary: Option<Spanned<Node>>,
    /// CSS/jQuery extractors.
    pub extract_css_jquery: Option<Spanned<Node>>,
    /// XPath extractors.
    pub extract_xpath: Option<Spanned<Node>>,
    /// Files to upload (multipart).
    pub upload_files: Option<Spanned<Vec<UploadFile>>>,
    /// JSR223 scripts.
    pub jsr223: Option<Spanned<Node>>,
    /// Request body encoding.
    pub content_encoding: Option<Spanned<Node>>,
    /// suite extension: the response is a stream of events (`sse`, `chunked`, `ndjson`), each timed.
    pub stream: Option<Spanned<String>>,
    /// suite extension: the JSONPath in each streamed event that holds its tokens.
    pub tokens_from: Option<Spanned<String>>,
    /// suite extension: a gRPC call instead of an HTTP request (`url: grpc://host:port`).
    pub grpc: Option<Spanned<Grpc>>,
}

/// A request's `grpc:` block: which method, where its schema comes from, what it carries.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Grpc {
    /// `package.Service/Method`.
    pub method: Spanned<String>,
    /// `.proto` files compiled at plan time (one or many).
    pub proto: Option<Spanned<OneOrMany<Spanned<String>>>>,
    /// Folders imports are looked up in (the first `proto`'s folder when none).
    pub import_paths: Option<Spanned<OneOrMany<Spanned<String>>>>,
    /// A compiled `FileDescriptorSet` (`protoc --descriptor_set_out`, `buf build -o`).
    pub protoset: Option<Spanned<String>>,
    /// Ask the server for its schema (gRPC server reflection).
    pub reflection: Option<Spanned<bool>>,
    /// Request metadata (gRPC's headers).
    pub metadata: Option<Spanned<IndexMap<String, Spanned<String>>>>,
    /// Channels the execution's users share, used in turn (1 by default).
    pub connections: Option<Spanned<Count>>,
}

/// One `cookies:` entry of a scenario.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieEntry {
    /// Cookie name.
    pub name: String,
    /// Cookie value.
    #[serde(default)]
    pub value: String,
    /// Domain it is sent to (and its subdomains).
    pub domain: String,
    /// Path prefix it is sent to (`/` by default).
    pub path: Option<String>,
    /// Sent over HTTPS only.
    #[serde(default)]
    pub secure: bool,
}

/// A `shellexec` service: shell commands by lifecycle stage. Each task is a command, or a
/// [`ShellexecTask`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Shellexec {
    /// `shellexec`.
    pub module: Option<Node>,
    /// Environment of every task.
    #[serde(default)]
    pub env: IndexMap<String, Option<String>>,
    /// Working folder of every task.
    pub default_cwd: Option<String>,
    /// Before the test starts.
    #[serde(default)]
    pub prepare: OneOrMany<Node>,
    /// When load starts.
    #[serde(default)]
    pub startup: OneOrMany<Node>,
    /// When load ends.
    #[serde(default)]
    pub shutdown: OneOrMany<Node>,
    /// After the results are in.
    #[serde(default)]
    pub post_process: OneOrMany<Node>,
    /// Taurus's periodic `check` stage.
    pub check: Option<Spanned<Node>>,
    /// Taurus's artifacts folder; not used by `suite`.
    pub artifacts_dir: Option<Node>,
    /// Taurus's `run-at`; not used by `suite`.
    pub run_at: Option<Node>,
}

/// A shellexec task written as a mapping.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShellexecTask {
    /// The shell command.
    #[serde(default)]
    pub command: String,
    /// Run it in the background (stopped at shutdown).
    #[serde(default)]
    pub background: bool,
    /// Its failure does not fail the test.
    #[serde(default)]
    pub ignore_failure: bool,
    /// Working folder.
    pub cwd: Option<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: IndexMap<String, Option<String>>,
    /// Taurus's output files and `run-at`; not used by `suite`.
    pub out: Option<Node>,
    /// See `out`.
    pub err: Option<Node>,
    /// See `out`.
    pub run_at: Option<Node>,
}

/// A `local` (or MMS `ServerLocalClient`) source of a `monitoring` service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocalMonitoring {
    /// Metric names.
    #[serde(default)]
    pub metrics: Vec<Spanned<String>>,
    /// Source name (the client's name by default).
    pub label: Option<String>,
    /// Sampling interval (1 s by default).
    pub interval: Option<TimeValue>,
    /// Log every sample.
    #[serde(default)]
    pub logging: bool,
    /// File with the pid of the frontend process.
    pub frontend_pid_file: Option<String>,
    /// Regex of the frontend process's command line.
    pub frontend_match: Option<Spanned<String>>,
    /// Regex of the worker processes' command lines.
    pub worker_match: Option<Spanned<String>>,
}

/// A `server-agent` source of a `monitoring` service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerAgentMonitoring {
    /// `host:port` of the agent (port 4444 by default).
    pub address: Option<String>,
    /// Metric names.
    #[serde(default)]
    pub metrics: Vec<Spanned<String>>,
    /// Source name (the address by default).
    pub label: Option<String>,
    /// Sampling interval (1 s by default).
    pub interval: Option<TimeValue>,
    /// Log every sample.
    #[serde(default)]
    pub logging: bool,
}

/// One `upload-files` entry of a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UploadFile {
    /// Form field name.
    pub param: String,
    /// File to send.
    pub path: Spanned<String>,
    /// Content type (guessed from the file name by default).
    pub mime_type: Option<String>,
}
