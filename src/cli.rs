//! Command-line interface: `suite run`, `suite validate`, `suite report`, `suite jmx2yaml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run declarative performance-regression suites (Taurus YAML) with pass/fail criteria.
///
/// Exit codes: 0 all criteria passed, 1 configuration or runtime error (or a report file that
/// could not be written), 2 interrupted (Ctrl-C), 3 a pass/fail criterion failed.
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
    Run(RunArgs),
    /// Load, merge and check test files without sending load; print the effective config or the
    /// errors (for a JMeter plan `.jmx`: what it holds, thread group by thread group).
    Validate(ValidateArgs),
    /// Render report.html and summary.json of a run folder again from its files, without running
    /// anything (also after the runner was killed: unfinished tests show as incomplete).
    Report(ReportArgs),
    /// Write a JMeter plan (`.jmx`) as the equivalent Taurus YAML (execution and scenarios).
    #[command(after_help = JMX2YAML_EXAMPLES)]
    Jmx2yaml(Jmx2yamlArgs),
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

Reports go to <artifacts-dir>/<run-id>/: junit.xml, report.html, summary.json, and per test
effective.yml, kpi.csv, final_stats.csv, xunit.xml, monitoring logs and shell command output.
`suite report <artifacts-dir>/latest` renders report.html and summary.json again.";

/// Test files `suite run` looks for by default: every candidate the README names.
pub const DEFAULT_PATTERN: &str = "*.{yaml,yml,json}";

/// Options of `suite run`.
#[derive(Debug, Args)]
pub struct RunArgs {
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
    /// Parent folder of run folders; each run writes `<artifacts-dir>/<run-id>/`.
    #[arg(short = 'a', long, default_value = "reports")]
    pub artifacts_dir: PathBuf,
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
    /// Start a `monitoring-agent` for the whole run, as `modules.monitoring-agent` in the global
    /// config describes [default when that section exists].
    #[arg(long, overrides_with = "no_monit")]
    pub monit: bool,
    /// Do not start an agent: one is already running where the suites' `server-agent` entries point.
    #[arg(long)]
    pub no_monit: bool,
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
