//! The runner drives each test file through every stage: load and merge its config, plan it,
//! start its services, run the engine while aggregating samples and judging criteria every
//! second, stop everything, and write the reports. It is the only module that knows all stages.
//!
//! `run` walks the test files and hands each one's results to [`report::RunArtifacts`]; `test`
//! runs one test file, `load` its load phase, and `Interrupt` watches for Ctrl-C.

pub mod baseline;
mod cells;
mod jmx;
mod load;
pub mod merge;
mod names;
mod search;
mod split;
mod test;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::sync::watch;

use crate::cli::{ReportArgs, RunArgs, ValidateArgs};
use crate::compare;
use crate::config::{self, LoadOptions, Loaded};
use crate::discover;
use crate::outcome::Outcome;
use crate::plan::{self, Plan};
use crate::report::{self, console, RunArtifacts};
use crate::services::agent::{Agent, AgentSettings};

pub use jmx::jmx2yaml;

/// `suite run`: every matching test file in turn, then the run's reports. Returns the run's outcome.
pub async fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let interrupt = Interrupt::install();
    let split = split::Split::from_args(&args)?;
    let global = global_config(&args)?;
    // A `global_config.yaml` in the test dir is never a test, also when `-g` names another one,
    // and neither is anything in the artifacts folder.
    let never_tests =
        [global.clone(), Some(args.selection.test_dir.join(GLOBAL_CONFIG)), Some(args.artifacts_dir.clone())];
    let never_tests: Vec<PathBuf> = never_tests.into_iter().flatten().collect();
    let mut tests = discover::find(
        &args.selection.test_dir,
        &args.selection.pattern,
        args.selection.exclude_pattern.as_deref(),
        &never_tests,
    )
    .with_context(|| format!("cannot look for tests in `{}`", args.selection.test_dir.display()))?;
    names::make_unique(&mut tests, &args.selection.test_dir);
    if tests.is_empty() {
        anyhow::bail!(
            "no test files in `{}` match `{}`{} (patterns match file names like `x_criteria.yaml`, paths below the test dir, and MMS folder names)",
            args.selection.test_dir.display(),
            args.selection.pattern,
            args.selection.exclude_pattern.as_ref().map(|x| format!(" without `{x}`")).unwrap_or_default()
        );
    }
    let files: Vec<Vec<PathBuf>> =
        tests.iter().map(|t| config_files(global.as_deref(), &t.path, args.selection.env_name.as_deref())).collect();
    let expand = |dir: &Path| -> Vec<cells::Expansion> {
        tests
            .iter()
            .zip(&files)
            .map(|(t, f)| cells::expand(&t.name, f.clone(), &args.selection.overrides, dir, args.repeat))
            .collect()
    };
    if args.list {
        return Ok(list(&tests, &expand(&args.artifacts_dir)));
    }
    // The endpoint listens from before the first test to after the last (`_endpoint` dropped).
    let (live, _endpoint) = report::live::serve(args.metrics_addr).await?;
    let mut run = RunArtifacts::create(&args.artifacts_dir, args.selection.env_name.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot create the run folder {e}"))?;
    let run_dir = run.dir().to_path_buf();
    crate::outln!("suite {}: {} test(s), artifacts in {}", env!("CARGO_PKG_VERSION"), tests.len(), run_dir.display());
    if let Some(info) = split.info(&args, &files) {
        crate::outln!("segment {}: this machine sends its share of every execution's load", info.share);
        run.segment(info);
    }
    let expansions = expand(&run_dir);
    let planned: Vec<(&str, &Path)> =
        tests.iter().zip(&expansions).flat_map(|(t, x)| x.run_names().map(|n| (n, t.path.as_path()))).collect();

    let settings = match agent_settings(&args, global.as_deref(), &run_dir) {
        Ok(settings) => settings,
        Err(rendered) => {
            crate::err!("{rendered}");
            return Ok(Outcome::Error);
        }
    };
    // Every test's baseline is read before any load: a wrong file stops the run at once.
    let compare_options = baseline::options(&args.compare).map_err(anyhow::Error::msg)?;
    let baselines = match find_baselines(&args, &expansions, &run_dir) {
        Ok(found) => found,
        Err(e) => {
            crate::errln!("error: {e}");
            run.begin(planned);
            run.end(Outcome::Error.code());
            return Ok(Outcome::Error);
        }
    };
    let _agent = start_agent(&args, settings, &run_dir)?;
    run.begin(planned);
    for (((test, files), expansion), found) in tests.iter().zip(files).zip(&expansions).zip(baselines) {
        let runs = test::runs_of(expansion, &run, &found);
        if interrupt.count() > 0 {
            for r in &runs {
                run.not_run(r.not_run(&test.path, "not run: the run was interrupted"));
            }
            continue;
        }
        let ran = match &expansion.error {
            Some(error) => test::broken(test, &runs, error),
            None => test::run(test, files, &args.selection.overrides, &runs, &interrupt, &live, &split).await,
        };
        for result in ran.reports {
            crate::out!("{}", console::test_summary(run.finished(result)));
        }
        for (unit, found) in expansion.units.iter().zip(found) {
            after_unit(&History::of(&args), &mut run, &unit.name, found, &ran.diff_checks, &compare_options);
        }
        run.write_reports();
    }
    Ok(end(&mut run))
}

/// Ends a run: its record and reports written a last time, its summary printed; the outcome. A
/// file that could not be written fails the run (1) but keeps the tests' verdicts in the rest.
fn end(run: &mut RunArtifacts) -> Outcome {
    let unwritten_yet = |run: &RunArtifacts| if run.unwritten().is_empty() { Outcome::Passed } else { Outcome::Error };
    let outcome = run.report().outcome().worst(unwritten_yet(run));
    run.end(outcome.code());
    crate::out!("{}", console::run_summary(run.report()));
    crate::outln!("JUnit: {}", run.dir().join("junit.xml").display());
    crate::outln!("Report: {}", run.dir().join("report.html").display());
    let unwritten = run.unwritten();
    if !unwritten.is_empty() {
        crate::errln!("error: {} file(s) could not be written (everything else was):", unwritten.len());
        for (path, why) in &unwritten {
            crate::errln!("  {}: {why}", path.display());
        }
    }
    outcome.worst(unwritten_yet(run))
}

/// What follows the runs of a test or matrix cell (`unit`): MMS's `diff_percent` with the previous
/// run, the comparison with its baseline, and `--save-baseline`.
/// Where a run keeps its history and baselines: what [`after_unit`] needs of the command line.
struct History<'a> {
    env_name: Option<&'a str>,
    artifacts_dir: &'a Path,
    save_baseline: Option<&'a Path>,
}

impl<'a> History<'a> {
    fn of(args: &'a RunArgs) -> Self {
        History {
            env_name: args.selection.env_name.as_deref(),
            artifacts_dir: &args.artifacts_dir,
            save_baseline: args.save_baseline.as_deref(),
        }
    }
}

fn after_unit(
    args: &History,
    run: &mut RunArtifacts,
    unit: &str,
    found: Option<baseline::Found>,
    diff_checks: &[compare::diff_percent::Check],
    options: &compare::Options,
) {
    let run_dir = run.dir().to_path_buf();
    if !diff_checks.is_empty() {
        let env = args.env_name;
        match baseline::previous_run(args.artifacts_dir, &run_dir, unit, env) {
            Some(previous) => {
                let rows = baseline::diff_percent(run.report(), unit, &previous, diff_checks);
                crate::out!("{}", console::diff_percent(unit, &rows));
                run.diffed(rows);
            }
            None => crate::errln!(
                "note: {unit}: no earlier run{} in `{}`: its diff_percent criteria are compared from the next run on",
                env.map(|e| format!(" with --env-name {e}")).unwrap_or_default(),
                args.artifacts_dir.display()
            ),
        }
    }
    let provenance = compare::Provenance::here(
        args.env_name.map(str::to_string),
        run.report().git_sha.clone(),
        report::utc_text(report::run_id::unix_now()),
    );
    let candidate = baseline::of_run(run.report(), unit, provenance);
    if let Some(found) = found {
        let comparison = match (found, &candidate) {
            (baseline::Found::Baseline { baseline, from }, Some(candidate)) => {
                compare::compare_test(&baseline, &from, candidate, options)
            }
            (baseline::Found::Baseline { baseline, from }, None) => compare::TestComparison::not_compared(
                unit,
                &from,
                baseline.runs.len(),
                "no run of the test finished without an error: nothing to compare",
            ),
            (baseline::Found::None(why), _) => {
                crate::errln!("note: {unit}: {why}; judged by its criteria alone");
                compare::TestComparison::not_compared(unit, "", 0, &why)
            }
        };
        crate::out!("{}", console::comparison(&comparison));
        run.compared(comparison);
    }
    if let Some(dir) = args.save_baseline {
        match &candidate {
            Some(b) => {
                let path = dir.join(compare::baseline::file_name(unit));
                match baseline::write(&path, b) {
                    Ok(()) => baseline::print_noise(b, &path, 0.15),
                    Err(e) => crate::errln!("error: {e}"),
                }
            }
            None => crate::errln!("warning: {unit}: no run finished without an error; no baseline saved"),
        }
    }
}

/// `suite run --list`: each test's runs (matrix cells, repeats) without sending load.
fn list(tests: &[discover::TestFile], expansions: &[cells::Expansion]) -> Outcome {
    let mut outcome = Outcome::Passed;
    let mut total = 0;
    for (test, expansion) in tests.iter().zip(expansions) {
        crate::outln!("{} ({})", test.name, test.path.display());
        if let Some(error) = &expansion.error {
            crate::err!("{error}");
            outcome = Outcome::Error;
            continue;
        }
        if let Some(m) = &expansion.matrix {
            let mode = m.mode.name();
            crate::outln!("  matrix ({mode}) over {}: {} cell(s)", m.names.join(", "), m.cells.len());
        }
        for name in expansion.run_names() {
            crate::outln!("  {name}");
            total += 1;
        }
    }
    crate::outln!("{total} run(s) in {} test(s)", tests.len());
    outcome
}

/// Each unit's baseline (`--baseline`), per test in test order, per unit (test or matrix cell)
/// in unit order; `None` everywhere without the option.
fn find_baselines(
    args: &RunArgs,
    expansions: &[cells::Expansion],
    run_dir: &Path,
) -> Result<Vec<Vec<Option<baseline::Found>>>, String> {
    let Some(source) = args.baseline.as_deref().map(baseline::Source::parse) else {
        return Ok(expansions.iter().map(|x| x.units.iter().map(|_| None).collect()).collect());
    };
    if let baseline::Source::Dir(dir) = &source {
        if !dir.is_dir() {
            return Err(format!(
                "--baseline `{}` is neither a baseline file, a folder of them, nor `previous`",
                dir.display()
            ));
        }
    }
    let env = args.selection.env_name.as_deref();
    expansions
        .iter()
        .map(|x| {
            x.units
                .iter()
                .map(|u| baseline::for_test(&source, &u.name, &args.artifacts_dir, run_dir, env).map(Some))
                .collect()
        })
        .collect()
}

/// Watches for Ctrl-C and SIGTERM; the first asks for a graceful stop, the second aborts.
#[derive(Clone)]
struct Interrupt {
    rx: watch::Receiver<u32>,
}

impl Interrupt {
    fn install() -> Self {
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let term_fut = async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                    _ = term_fut => {}
                }
                let n = *tx.borrow() + 1;
                crate::errln!(
                    "\n{}",
                    if n == 1 {
                        "interrupted: stopping the load and writing reports (again to abort requests in flight)"
                    } else {
                        "interrupted again: aborting requests in flight"
                    }
                );
                let _ = tx.send(n);
            }
        });
        Interrupt { rx }
    }

    fn count(&self) -> u32 {
        *self.rx.borrow()
    }

    async fn at_least(&self, n: u32) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
}

/// The global config's file name, looked for when `--global-config` is not given.
const GLOBAL_CONFIG: &str = "global_config.yaml";

/// The global config: `--global-config`, else `global_config.yaml` here or in the test folder.
fn global_config(args: &RunArgs) -> anyhow::Result<Option<PathBuf>> {
    find_global(
        args.selection.global_config.as_ref(),
        [PathBuf::from(GLOBAL_CONFIG), args.selection.test_dir.join(GLOBAL_CONFIG)],
    )
}

/// `given` (which must exist), else the first of `candidates` that is a file.
fn find_global(
    given: Option<&PathBuf>,
    candidates: impl IntoIterator<Item = PathBuf>,
) -> anyhow::Result<Option<PathBuf>> {
    Ok(match given {
        Some(path) => {
            anyhow::ensure!(path.is_file(), "global config `{}` does not exist", path.display());
            Some(path.clone())
        }
        None => candidates.into_iter().find(|p| p.is_file()),
    })
}

/// The files merged into a test's config: the global config, the test, its environment file.
fn config_files(global: Option<&Path>, test: &Path, env: Option<&str>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = global.into_iter().map(Path::to_path_buf).collect();
    files.push(test.to_path_buf());
    if let Some(env) = env {
        match discover::environment_file(test, env) {
            Some(f) => files.push(f),
            None => crate::errln!("note: {} has no `environments/{env}.yaml`; using it without one", test.display()),
        }
    }
    files
}

/// The settings of the run's monitoring agent (`--monit`), if one is wanted; on failure the
/// rendered config errors.
fn agent_settings(args: &RunArgs, global: Option<&Path>, run_dir: &Path) -> Result<Option<AgentSettings>, String> {
    match global {
        Some(g) if !args.no_monit => {
            let loaded = load(vec![g.to_path_buf()], &[], run_dir, &[])?;
            AgentSettings::from_config(&loaded)
        }
        _ => Ok(None),
    }
}

/// Starts the run's monitoring agent, if one is configured; it stops when dropped.
fn start_agent(args: &RunArgs, settings: Option<AgentSettings>, run_dir: &Path) -> anyhow::Result<Option<Agent>> {
    match settings {
        Some(s) => {
            let agent = Agent::start(&s, &run_dir.join("monitoring-agent.log")).map_err(anyhow::Error::msg)?;
            crate::outln!("monitoring-agent listening on {} for this run", agent.address);
            Ok(Some(agent))
        }
        None if args.monit && !args.no_monit => anyhow::bail!(
            "--monit needs a `modules.monitoring-agent` section in the global config (address and how to find the frontend)"
        ),
        None => Ok(None),
    }
}

/// Loads the merged config of one test; on failure the rendered errors.
/// `cell`: a matrix cell's values, set as variables like the artifacts folder.
fn load(files: Vec<PathBuf>, overrides: &[String], dir: &Path, cell: &[(String, String)]) -> Result<Loaded, String> {
    let dir_text = dir.display().to_string();
    let mut env = vec![("TAURUS_ARTIFACTS_DIR".to_string(), dir_text.clone()), ("BASEDIR".to_string(), dir_text)];
    env.extend(cell.iter().cloned());
    load_with(LoadOptions { files, overrides: overrides.to_vec(), env })
}

/// Loads a merged config; on failure the rendered errors.
fn load_with(opts: LoadOptions) -> Result<Loaded, String> {
    config::load(&opts).map_err(|diags| config::render_all(&opts, &diags))
}

/// Plans a loaded config and prints the plan's warnings; on failure prints every diagnostic and
/// returns the rendered errors.
fn build_plan(loaded: &mut Loaded) -> Result<Plan, String> {
    // A message may quote a value with a secret substituted into it.
    let secrets = config::mask::Secrets::collect(&loaded.root);
    let built = plan::build(loaded);
    let render = |d: &config::Diagnostic| secrets.masked(&loaded.render(d));
    let plan = built.map_err(|diags| {
        crate::err!("{}", diags.iter().map(render).collect::<String>());
        diags.iter().filter(|d| d.is_error()).map(render).collect::<String>()
    })?;
    for w in &plan.warnings {
        crate::err!("{}", render(w));
    }
    for note in &plan.notes {
        crate::errln!("info: {}", secrets.masked(note));
    }
    Ok(plan)
}

/// One line per execution of a plan: when it runs and its load (for `suite validate`).
fn as_run(plan: &Plan) -> String {
    let mut out = String::new();
    for e in &plan.executions {
        let l = &e.load;
        let iterations = match l.iterations {
            Some(u64::MAX) => "forever".to_string(),
            Some(n) => format!("{n} iteration(s) each"),
            None if l.duration().is_zero() => "1 iteration each".to_string(),
            None => "until the time is up".to_string(),
        };
        let secs = |d: std::time::Duration| format!("{}s", d.as_secs_f64());
        let mut line = format!(
            "  track {} stage {}: {}: {} user(s), ramp-up {}, hold-for {}, {iterations}",
            e.track,
            e.stage,
            e.name(),
            l.concurrency,
            secs(l.ramp_up),
            secs(l.hold_for)
        );
        if !l.delay.is_zero() {
            line += &format!(", delay {}", secs(l.delay));
        }
        if let Some(t) = l.throughput {
            line += &format!(", at most {t} requests/s");
        }
        out += &line;
        out.push('\n');
    }
    out
}

/// The files `suite validate` merges, in order.
fn validate_files(args: &ValidateArgs) -> anyhow::Result<Vec<PathBuf>> {
    let first_dir = args.files.first().and_then(|f| f.parent()).unwrap_or(Path::new(""));
    let beside = [Some(first_dir), first_dir.parent()].into_iter().flatten().map(|d| d.join(GLOBAL_CONFIG));
    let global = find_global(args.global_config.as_ref(), std::iter::once(PathBuf::from(GLOBAL_CONFIG)).chain(beside))?;
    // The global config named as a file to check is not merged under itself.
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a));
    let global = global.filter(|g| !args.files.iter().any(|f| same(f, g)));
    let (last, rest) = args.files.split_last().context("no file to validate")?;
    let mut files: Vec<PathBuf> = global.iter().cloned().collect();
    files.extend(rest.iter().cloned());
    files.extend(config_files(None, last, args.env_name.as_deref()));
    Ok(files)
}

/// `suite validate` of a test with a matrix: its cells, each loaded with its values and planned.
fn validate_cells(
    matrix: &plan::matrix::Matrix,
    options: impl Fn(Vec<(String, String)>) -> LoadOptions,
    quiet: bool,
) -> Outcome {
    let mode = matrix.mode.name();
    crate::outln!("matrix ({mode}) over {}: {} cell(s)", matrix.names.join(", "), matrix.cells.len());
    let mut outcome = Outcome::Passed;
    for (k, cell) in matrix.cells.iter().enumerate() {
        let label = cell.label();
        let mut loaded = match load_with(options(cell.values.clone())) {
            Ok(l) => l,
            Err(text) => {
                crate::err!("{text}");
                return Outcome::Error;
            }
        };
        if k == 0 && !quiet {
            crate::out!("# the first cell, {label}:\n{}", loaded.effective_yaml());
        }
        match build_plan(&mut loaded) {
            Ok(plan) => crate::outln!(
                "  [{label}]: ok, {} execution(s), {} criteria, {} label(s)",
                plan.executions.len(),
                plan.criteria.len(),
                plan.labels.len()
            ),
            Err(_) => {
                crate::errln!("  [{label}]: the errors above");
                outcome = Outcome::Error;
            }
        }
    }
    if outcome == Outcome::Passed {
        crate::errln!("ok: {} cell(s)", matrix.cells.len());
    }
    outcome
}

/// `suite report`: renders the run folder's report.html and summary.json again from its files.
pub fn render_reports(args: ReportArgs) -> Outcome {
    match report::rebuild(&args.run_dir) {
        Ok(run) => {
            for test in &run.tests {
                crate::outln!("{}: {}", test.name, test.state());
                for note in &test.notes {
                    crate::errln!("warning: {}: {note}", test.name);
                }
            }
            crate::outln!("run {}: {}", run.run_id, run.state());
            crate::outln!("Report: {}", args.run_dir.join("report.html").display());
            crate::outln!("Summary: {}", args.run_dir.join("summary.json").display());
            Outcome::Passed
        }
        Err(e) => {
            crate::errln!("error: cannot render the report of `{}`: {e}", args.run_dir.display());
            Outcome::Error
        }
    }
}

/// `suite validate`: load, merge and plan the files without sending load. The files merged are
/// those `suite run` would merge: the global config (found the same way), the files, and the
/// last file's environment profile. JMeter plans (`.jmx`) are read and described instead.
pub fn validate(args: ValidateArgs) -> Outcome {
    if args.files.iter().any(|f| jmx::is_plan(f)) {
        if !args.files.iter().all(|f| jmx::is_plan(f)) {
            crate::errln!("error: JMeter plans (`.jmx`) are validated on their own, not merged with YAML files");
            return Outcome::Error;
        }
        return jmx::validate(&args.files, args.quiet);
    }
    let files = match validate_files(&args) {
        Ok(files) => files,
        Err(e) => {
            crate::errln!("error: {e:#}");
            return Outcome::Error;
        }
    };
    let options = |env| LoadOptions { files: files.clone(), overrides: args.overrides.clone(), env };
    let mut loaded = match load_with(options(Vec::new())) {
        Ok(l) => l,
        Err(text) => {
            crate::err!("{text}");
            return Outcome::Error;
        }
    };
    for w in &loaded.warnings {
        crate::err!("{}", loaded.render(w));
    }
    // A matrix: each cell is loaded with its values and planned, as `suite run` would.
    match plan::matrix::read(&loaded) {
        Err(diags) => {
            crate::err!("{}", diags.iter().map(|d| loaded.render(d)).collect::<String>());
            return Outcome::Error;
        }
        Ok(Some(matrix)) => return validate_cells(&matrix, options, args.quiet),
        Ok(None) => {}
    }
    // The merged config is printed even when planning fails: it shows what the checks saw.
    if !args.quiet {
        crate::out!("{}", loaded.effective_yaml());
    }
    match build_plan(&mut loaded) {
        Ok(plan) => {
            if !args.quiet {
                for script in &plan.scripts {
                    crate::out!("\n{}", crate::plan::jmx::describe::describe(script));
                }
                if !plan.scripts.is_empty() {
                    crate::out!("\nas run (the executions' values applied):\n{}", as_run(&plan));
                }
            }
            crate::errln!(
                "ok: {} execution(s), {} criteria, {} label(s)",
                plan.executions.len(),
                plan.criteria.len(),
                plan.labels.len()
            );
            Outcome::Passed
        }
        Err(_) => Outcome::Error,
    }
}
