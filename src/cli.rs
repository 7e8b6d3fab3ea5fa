//! Command-line interface: `suite run`, `suite validate`, `suite report`, `suite jmx2yaml`,
//! `suite baseline`, `suite compare`, `suite merge`.
//! `suite baseline`, `suite compare`, `suite k8s render`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run declarative performance-regression suites (Taurus YAML) with pass/fail criteria.
///
/// Exit codes: 0 all criteria passed, 1 configuration or runtime error (or a report file that
/// could not be written), 2 interrupted (Ctrl-C), 3 a pass/fail criterion failed or a metric
/// regressed against its baseline.
#[derive(Debug, Parser)]
#[command(name = "suite", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find test files, run each one's load with its services, judge its criteria, write reports.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// Load, merge and check test files without sending load; print the effective config or the
    /// errors (for a JMeter plan `.jmx`: what it holds, thread group by thread group).
    Validate(ValidateArgs),
    /// Render report.html and summary.json of a run folder again from its files, without running
    /// anything (also after the runner was killed: unfinished tests show as incomplete).
    Report(ReportArgs),
    /// Write a JMeter plan (`.jmx`) as the equivalent Taurus YAML (execution and scenarios).
    #[command(after_help = JMX2YAML_EXAMPLES)]
    Jmx2yaml(Jmx2yamlArgs),
    /// Make baseline files from run folders (or import a Locust `_stats.csv`, a k6
    /// `--summary-export` JSON or Taurus's final-stats) and show their noise.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Compare two runs (run folders, baseline files or folders of them): a side-by-side table
    /// per test, a Markdown file for a pull-request comment; exits 3 on a regression.
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Merge the run folders of a split run's segments (`suite run --segment`) into one run:
    /// per-second histograms merged second by second (not percentiles), criteria judged on the
    /// merged seconds, and every report written as if one machine had sent the load; exits as
    /// `suite run` would have.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Kubernetes: write manifests that run a suite as N segments side by side and merge them.
    #[command(subcommand)]
    K8s(K8sCommand),
}

const MERGE_EXAMPLES: &str = "\
Examples:
  suite merge reports1/latest reports2/latest reports3/latest
  suite merge --wait 1h -a /results/merged /results/segments     # as the Kubernetes merge Job runs it
  suite merge --follow seg1/ seg2/ seg3/                          # live merged seconds, then the merge";

/// Options of `suite merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Segment run folders, or folders holding them (searched three levels down; `latest`
    /// links are not followed)
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Parent folder of the merged run's folder
    #[arg(short = 'a', long, default_value = "reports")]
    pub artifacts_dir: PathBuf,
    /// Merge the segments that are there when some are missing or unfinished, and say so in
    /// every report
    #[arg(long)]
    pub allow_partial: bool,
    /// Wait up to this long (`30m`, `1h`) for every segment to be there and finished
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
    /// While the segments run, print the merged figures of each second as soon as every
    /// segment has written it; merge when they have all finished (for ever, or up to --wait)
    #[arg(long)]
    pub follow: bool,
    /// Compare each merged test with its baseline, as `suite run --baseline` does (a folder of
    /// `<test>.baseline.json` files, one file, or `previous`: the latest earlier run of the test
    /// in the artifacts folder). A regression exits 3
    #[arg(long, value_name = "DIR|FILE|previous")]
    pub baseline: Option<String>,
    /// Write each merged test as `DIR/<test>.baseline.json`
    #[arg(long, value_name = "DIR")]
    pub save_baseline: Option<PathBuf>,
    #[command(flatten)]
    pub compare: CompareOptions,
}

/// `suite k8s ...`.
#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Write the manifests of a distributed run (no cluster access): a ConfigMap with the
    /// suite's files, an Indexed Job of N segment pods (`suite run --segment job/N`) that start
    /// their load at one instant, a Job that merges them (`suite merge`, its exit code the
    /// verdict), the results volume and a monitoring-agent DaemonSet.
    #[command(after_help = K8S_RENDER_EXAMPLES)]
    Render(Box<K8sRenderArgs>),
}

const K8S_RENDER_EXAMPLES: &str = "\
Examples:
  suite k8s render --parallelism 3 -t suites -p '*criteria*.yaml' --image registry/suite:1.0 --start-in 90s
  kubectl apply --server-side -f k8s/ && kubectl logs -f --pod-running-timeout=5m job/suite-merge

The segments start at render time + --start-in: `kubectl apply` must follow the render within
that delay (and the image be pulled by then). Files written: configmap.yaml, pvc.yaml (without
--results-claim), segments-job.yaml, merge-job.yaml, monitoring-agent-daemonset.yaml.";

/// Which test files a run takes and how each is configured: `suite run`'s, and what `suite k8s
/// render` passes to every segment.
#[derive(Debug, Args, Clone)]
pub struct Selection {
    /// Folder searched (recursively) for test files.
    #[arg(short = 't', long, default_value = "suites")]
    pub test_dir: PathBuf,
    /// Glob selecting test files, matched against the file name, its path below the test dir, and
    /// (MMS layout `<name>/<name>.yaml`) the folder name. `global_config.yaml` and
    /// `environments/` folders are never tests.
    #[arg(short = 'p', long, default_value = DEFAULT_PATTERN)]
    pub pattern: String,
    /// Glob of test files to leave out (matched the same way).
    #[arg(short = 'x', long)]
    pub exclude_pattern: Option<String>,
    /// Config merged under every test file [default: `global_config.yaml` in the current folder,
    /// else in the test dir, if present].
    #[arg(short = 'g', long)]
    pub global_config: Option<PathBuf>,
    /// Environment profile: `environments/<NAME>.yaml` next to each test file is merged on top.
    #[arg(short = 'e', long)]
    pub env_name: Option<String>,
    /// Override a config value, applied last: `-o dotted.path=value` (value is YAML; `-1` appends
    /// to a list; `^key` deletes; `*key` replaces recursively). Repeatable.
    #[arg(short = 'o', long = "option", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
}

/// Options of `suite k8s render`.
#[derive(Debug, Args)]
pub struct K8sRenderArgs {
    /// Segments: pods that each run one N-th of every execution's users, rate and data rows.
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
    /// The tests every segment runs, as `suite run` takes them (the test dir's files, and the
    /// global config when outside it, go into the ConfigMap).
    #[command(flatten)]
    pub selection: Selection,
    /// The image holding `suite` and `monitoring-agent` (the repository's Dockerfile builds it);
    /// pushed where the cluster pulls from.
    #[arg(long, value_name = "IMAGE", default_value = "suite:latest")]
    pub image: String,
    /// Prefix of every object's name (`<NAME>-segments`, `<NAME>-merge`, …) and the results
    /// folder `/results/<NAME>/`: a DNS-1123 label of at most 40 characters.
    #[arg(long, value_name = "NAME", default_value = "suite")]
    pub name: String,
    /// Namespace of every object [default: kubectl's current one].
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// The segments start their load this long after the render (`--start-at`, RFC 3339 UTC, in
    /// the manifests): `kubectl apply` must follow the render, and the pods be running, by then.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub start_in: String,
    /// An existing ReadWriteMany PersistentVolumeClaim the segments write to and the merge reads
    /// [default: one rendered in pvc.yaml].
    #[arg(long, value_name = "CLAIM")]
    pub results_claim: Option<String>,
    /// Storage class of the rendered claim (it must offer ReadWriteMany) [default: the cluster's].
    #[arg(long, value_name = "CLASS", conflicts_with = "results_claim")]
    pub storage_class: Option<String>,
    /// Size of the rendered claim.
    #[arg(long, value_name = "QUANTITY", default_value = "1Gi")]
    pub storage_size: String,
    /// How long the merge waits for every segment to be complete (`suite merge --wait`).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub merge_timeout: String,
    /// CPU of each segment pod, as its request and limit (`2`, `500m`) [default: none].
    #[arg(long, value_name = "QUANTITY")]
    pub cpu: Option<String>,
    /// Memory of each segment pod, as its request and limit (`2Gi`) [default: none].
    #[arg(long, value_name = "QUANTITY")]
    pub memory: Option<String>,
    /// The image already holds the suite below /suite (its files at the paths they have here):
    /// no ConfigMap, for suites over the 1 MiB a ConfigMap holds.
    #[arg(long)]
    pub suite_in_image: bool,
    /// Put the monitoring agent only on nodes with this label (`role=model-server`), the model
    /// server's. Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub agent_node_selector: Vec<String>,
    /// Port the monitoring agent listens on, on each node's address.
    #[arg(long, value_name = "PORT", default_value_t = 9009)]
    pub agent_port: u16,
    /// A `monitoring-agent` argument, e.g. `--agent-arg=--frontend-match --agent-arg=torchserve`
    /// (the server's pid file is not visible from the agent's pod). Repeatable.
    #[arg(long = "agent-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub agent_args: Vec<String>,
    /// Render no monitoring-agent DaemonSet.
    #[arg(long, conflicts_with_all = ["agent_node_selector", "agent_args"])]
    pub no_agent: bool,
    /// Folder the manifests are written to.
    #[arg(long, value_name = "DIR", default_value = "k8s")]
    pub out: PathBuf,
}

const COMPARE_EXAMPLES: &str = "\
Examples:
  suite compare baselines/ reports/latest
  suite compare reports/20261201_101500 reports/latest --metrics p95,throughput --markdown pr.md";

/// `suite baseline ...`.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Write one `<test>.baseline.json` per test from the runs given (every repeat of each run
    /// folder; runs of the same test in several folders are one baseline).
    Save(BaselineSaveArgs),
    /// Print the runs and noise of baseline files.
    Show(BaselineShowArgs),
}

/// Options of `suite baseline save`.
#[derive(Debug, Args)]
pub struct BaselineSaveArgs {
    /// Run folders (`reports/<run-id>`), or files to import: a Locust `<x>_stats.csv`, a k6
    /// `--summary-export` JSON, a Taurus final-stats XML or CSV (one run each).
    #[arg(required = true)]
    pub sources: Vec<PathBuf>,
    /// Folder the baseline files go to.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only this test (also the test name given to an imported file [default: the file's stem]).
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// The change whose needed repeats are printed (`15%`).
    #[arg(long, value_name = "PCT", default_value = "15%")]
    pub detect: String,
}

/// Options of `suite baseline show`.
#[derive(Debug, Args)]
pub struct BaselineShowArgs {
    /// Baseline files or folders of them.
    #[arg(required = true)]
    pub baselines: Vec<PathBuf>,
    /// The change whose needed repeats are printed (`15%`).
    #[arg(long, value_name = "PCT", default_value = "15%")]
    pub detect: String,
}

/// Options of `suite compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline side: a run folder, a baseline file, or a folder of baseline files.
    pub baseline: PathBuf,
    /// The candidate side, the same kinds.
    pub candidate: PathBuf,
    /// Write the comparison as Markdown to FILE.
    #[arg(long, value_name = "FILE", default_value = "comparison.md")]
    pub markdown: PathBuf,
    #[command(flatten)]
    pub compare: CompareOptions,
}

const JMX2YAML_EXAMPLES: &str = "\
Examples:
  suite jmx2yaml plan.jmx > plan.yaml
  suite jmx2yaml plan.jmx -o plan.yaml -J threads=20 -J input_filepath=kitten.jpg

What Taurus YAML cannot say as the plan does is written as the closest thing, with a
`# suite jmx2yaml: ...` comment above it and a warning on stderr.";

const RUN_EXAMPLES: &str = "\
Examples:
  suite run --test-dir suites --pattern '*criteria*.yaml'
  suite run -t tests -p 'inference*' --env-name xlarge    # MMS layout: tests/<name>/<name>.yaml
  suite run -t suites -o 'scenarios.health.timeout=2s'
  suite run -t suites --repeat 5 --save-baseline baselines/    # then: --repeat 10 --baseline baselines/
  suite run -t tests -e xlarge --baseline previous           # against the latest earlier run of the env

Reports go to <artifacts-dir>/<run-id>/: junit.xml, report.html, summary.json, and per test
effective.yml, kpi.csv, final_stats.csv, xunit.xml, monitoring logs and shell command output.
`suite report <artifacts-dir>/latest` renders report.html and summary.json again.";

/// Test files `suite run` looks for by default: every candidate the README names.
pub const DEFAULT_PATTERN: &str = "*.{yaml,yml,json}";

/// Options of `suite run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Parent folder of run folders; each run writes `<artifacts-dir>/<run-id>/`.
    #[arg(short = 'a', long, default_value = "reports")]
    pub artifacts_dir: PathBuf,
    /// Start a `monitoring-agent` for the whole run, as `modules.monitoring-agent` in the global
    /// config describes [default when that section exists].
    #[arg(long, overrides_with = "no_monit")]
    pub monit: bool,
    /// Do not start an agent: one is already running where the suites' `server-agent` entries point.
    #[arg(long)]
    pub no_monit: bool,
    /// Run each test N times back to back (its services started once); the repeats are
    /// `<test>@1` .. `<test>@N` in the run folder, and baselines and comparisons use every one.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Compare every test with its baseline: a folder of `<test>.baseline.json` files, one
    /// baseline file, or `previous` (the latest earlier run of the same test and --env-name in
    /// the artifacts folder). A regression exits 3.
    #[arg(long, value_name = "DIR|FILE|previous")]
    pub baseline: Option<String>,
    /// Write each test's runs as `DIR/<test>.baseline.json` (and print their noise).
    #[arg(long, value_name = "DIR")]
    pub save_baseline: Option<PathBuf>,
    /// Print the runs the tests make (matrix cells, repeats) without sending load.
    #[arg(long)]
    pub list: bool,
    /// Run only this machine's share of every execution: `I/N` (the I-th of N equal shares,
    /// 1-based), `job/N` (I is a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` + 1), or `A:B`
    /// with --segment-sequence. Users, arrivals and data rows are striped, so the N segments
    /// together send exactly the unsplit load; `suite merge` judges their folders as one run
    #[arg(long, value_name = "I/N")]
    pub segment: Option<String>,
    /// The shares of all segments, for `--segment A:B`: `0,1/4,1/2,1`
    #[arg(long, value_name = "LIST", requires = "segment")]
    pub segment_sequence: Option<String>,
    /// Start the first test's load at this instant (RFC 3339, `2026-12-05T15:00:00Z`), so every
    /// segment begins at the same moment
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Serve every test's figures as an OpenMetrics scrape endpoint, `http://ADDR/metrics`,
    /// while the run lasts (e.g. `127.0.0.1:9464`); each closed second updates it.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub compare: CompareOptions,
}

/// How tests are compared with baselines.
#[derive(Debug, Args, Clone)]
pub struct CompareOptions {
    /// Metrics compared per label: p50, p90, p95, p99, avg-rt, throughput, fail, hits.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "p50,p95,p99,avg-rt,throughput,fail")]
    pub metrics: Vec<String>,
    /// Smallest change that counts as a regression or an improvement (`5%`); smaller changes
    /// never fail, however consistent.
    #[arg(long, value_name = "PCT", default_value = "5%")]
    pub min_effect: String,
    /// Noise between sessions (another server process, another moment of the machine) that the
    /// spread between repeats cannot show, added to every comparison (`2%`; `0%` trusts the
    /// repeats alone).
    #[arg(long, value_name = "PCT", default_value = "2%")]
    pub session_noise: String,
}

/// Options of `suite validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Test files, merged left to right (as Taurus merges several configs).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Config merged under the files [default, as `suite run` does: `global_config.yaml` in the
    /// current folder, else beside the first file or one folder up (MMS layout), if present].
    #[arg(short = 'g', long)]
    pub global_config: Option<PathBuf>,
    /// Environment profile: `environments/<NAME>.yaml` beside the last file is merged on top.
    #[arg(short = 'e', long)]
    pub env_name: Option<String>,
    /// Override a config value, applied last (see `suite run --help`).
    #[arg(short = 'o', long = "option", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
    /// Only check; do not print the effective config.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of `suite jmx2yaml`.
#[derive(Debug, Args)]
pub struct Jmx2yamlArgs {
    /// The JMeter plan.
    pub plan: PathBuf,
    /// Write the YAML to this file [default: stdout]. Relative file paths of the plan (CSV files,
    /// uploads) are rewritten to be relative to its folder.
    #[arg(short = 'o', long = "output", value_name = "OUT.yaml")]
    pub output: Option<PathBuf>,
    /// A JMeter property: the value of `${__P(NAME)}` and `${__property(NAME)}`, as JMeter's
    /// `-J`. A property the plan uses without a default must be given. Repeatable.
    #[arg(short = 'J', value_name = "NAME=VALUE")]
    pub properties: Vec<String>,
}

/// Options of `suite report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder (`reports/<run-id>`, or `reports/latest`).
    pub run_dir: PathBuf,
}
