//! Baselines around a run: what a test is compared with (a folder of baseline files, one file,
//! or the previous run of the same test and environment), the comparison once its repeats ran,
//! saving its runs as a baseline, baseline-relative criteria, and `suite baseline` / `suite
//! compare`.

use std::path::{Path, PathBuf};

use crate::aggregate::Hist;
use crate::cli::{BaselineSaveArgs, BaselineShowArgs, CompareArgs, CompareOptions};
use crate::compare::{self, baseline, diff_percent, Baseline, Metric, Provenance, RunFigures, TestComparison};
use crate::criteria::{Kind, Spec, Subject};
use crate::outcome::Outcome;
use crate::report::{self, console, store, Completion, RunReport, TestReport};

/// Where `--baseline` finds a test's baseline.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Source {
    /// A folder of `<test>.baseline.json` files.
    Dir(PathBuf),
    /// One baseline file.
    File(PathBuf),
    /// The latest earlier run of the same test and environment in the artifacts folder.
    Previous,
}

impl Source {
    pub(super) fn parse(text: &str) -> Source {
        let path = PathBuf::from(text);
        if text == "previous" && !path.exists() {
            Source::Previous
        } else if path.is_file() {
            Source::File(path)
        } else {
            Source::Dir(path)
        }
    }
}

/// The comparison options from the command line.
pub(super) fn options(args: &CompareOptions) -> Result<compare::Options, String> {
    let mut metrics = Vec::new();
    for name in &args.metrics {
        let metric = Metric::parse(name).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("--metrics: unknown metric `{name}` (use {})", known.join(", "))
        })?;
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    let min_effect = percent(&args.min_effect).map_err(|e| format!("--min-effect: {e}"))?;
    let session_noise = percent(&args.session_noise).map_err(|e| format!("--session-noise: {e}"))?;
    Ok(compare::Options { metrics, min_effect, session_noise })
}

/// `15%` (or `0.15`) as a ratio.
fn percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(v) if v.is_finite() && (0.0..10.0).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not a percentage such as `5%`")),
    }
}

/// A test's baseline, or why it has none.
pub(super) enum Found {
    Baseline { baseline: Box<Baseline>, from: String },
    None(String),
}

/// The baseline of test `test`; an error for a file that is not a baseline of it.
pub(super) fn for_test(
    source: &Source,
    test: &str,
    artifacts: &Path,
    this_run: &Path,
    env: Option<&str>,
) -> Result<Found, String> {
    match source {
        Source::Dir(dir) => {
            let file = dir.join(baseline::file_name(test));
            if !file.is_file() {
                let missing = baseline::Error::Missing {
                    dir: dir.clone(),
                    test: test.to_string(),
                    file: baseline::file_name(test),
                };
                return Ok(Found::None(missing.to_string()));
            }
            let baseline = Baseline::load(&file, Some(test)).map_err(|e| e.to_string())?;
            Ok(Found::Baseline { baseline: Box::new(baseline), from: file.display().to_string() })
        }
        Source::File(file) => {
            let baseline = Baseline::load(file, Some(test)).map_err(|e| e.to_string())?;
            Ok(Found::Baseline { baseline: Box::new(baseline), from: file.display().to_string() })
        }
        Source::Previous => match previous_run(artifacts, this_run, test, env) {
            Some(dir) => {
                let mut found = from_run_dir(&dir, Some(test)).map_err(|e| e.to_string())?;
                match found.pop() {
                    Some(baseline) => Ok(Found::Baseline {
                        baseline: Box::new(baseline),
                        from: format!("previous run {}", dir.display()),
                    }),
                    None => {
                        Ok(Found::None(format!("the previous run {} has no finished run of `{test}`", dir.display())))
                    }
                }
            }
            None => Ok(Found::None(format!(
                "--baseline previous: no earlier run of `{test}`{} in `{}`",
                env.map(|e| format!(" with --env-name {e}")).unwrap_or_else(|| " without --env-name".into()),
                artifacts.display()
            ))),
        },
    }
}

/// The latest run folder in `artifacts` other than `this_run`, of environment `env`, that ran
/// `test` to its end (MMS's rule: same environment, latest start).
pub(super) fn previous_run(artifacts: &Path, this_run: &Path, test: &str, env: Option<&str>) -> Option<PathBuf> {
    let this = std::fs::canonicalize(this_run).ok();
    let mut best: Option<(u64, String, PathBuf)> = None;
    for entry in std::fs::read_dir(artifacts).ok()?.filter_map(Result::ok) {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "latest" || std::fs::canonicalize(&dir).ok() == this || !dir.join(store::RUN_FILE).is_file() {
            continue;
        }
        let Some((run_env, started)) = store::run_env(&dir) else { continue };
        if run_env.as_deref() != env {
            continue;
        }
        // The test ran once (`<test>`) or repeated (`<test>@1`, ...).
        let has_test =
            [test.to_string(), format!("{test}@1")].iter().any(|n| dir.join(n).join(store::TEST_FILE).is_file());
        if !has_test {
            continue;
        }
        let key = (started, name.clone());
        if best.as_ref().is_none_or(|(s, n, _)| (*s, n.clone()) < key) {
            best = Some((started, name, dir));
        }
    }
    best.map(|(_, _, dir)| dir)
}

/// MMS's `diff_percent`: the monitoring metrics of `test` in this run compared with the same test
/// in the `previous` run folder (mean, max and min of each metric over the test's runs).
pub(super) fn diff_percent(
    run: &RunReport,
    test: &str,
    previous: &Path,
    checks: &[diff_percent::Check],
) -> Vec<diff_percent::DiffRow> {
    let current: Vec<&TestReport> = run.tests.iter().filter(|t| t.base_name() == test).collect();
    let previous_tests: Vec<TestReport> = [test.to_string()]
        .into_iter()
        .chain((1..=1000).map(|k| format!("{test}@{k}")))
        .map(|name| previous.join(name))
        .take_while(|dir| dir.is_dir() || dir.ends_with(test))
        .filter(|dir| dir.join(store::TEST_FILE).is_file())
        .filter_map(|dir| {
            let name = dir.file_name()?.to_string_lossy().into_owned();
            store::load_test(&dir, &name, Path::new("")).ok()
        })
        .collect();
    let previous_refs: Vec<&TestReport> = previous_tests.iter().collect();
    let previous_name = previous.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lookup_current = |metric: &str| monitor_figures(&current, checks, metric);
    let lookup_previous = |metric: &str| monitor_figures(&previous_refs, checks, metric);
    let has_log = |tests: &[&TestReport]| tests.iter().any(|t| !t.monitoring.series.is_empty());
    let side =
        |name, tests: &[&TestReport], lookup| diff_percent::Run { name, monitoring: has_log(tests).then_some(lookup) };
    diff_percent::compare(
        test,
        side(&run.run_id, &current, &lookup_current as diff_percent::Lookup),
        side(&previous_name, &previous_refs, &lookup_previous as diff_percent::Lookup),
        checks,
    )
}

/// A monitored metric's mean, min and max over a test's runs: from the series of the source the
/// criterion names, else of any source reporting that metric (MMS's logs are keyed by metric).
fn monitor_figures(
    tests: &[&TestReport],
    checks: &[diff_percent::Check],
    metric: &str,
) -> Option<diff_percent::Figures> {
    let source = checks.iter().find(|c| c.metric == metric).and_then(|c| c.subject.rsplit_once('/').map(|(s, _)| s));
    let series: Vec<_> = tests.iter().flat_map(|t| t.monitoring.series.iter()).filter(|s| s.metric == metric).collect();
    let own: Vec<_> = series.iter().copied().filter(|s| Some(s.source.as_str()) == source).collect();
    let series = if own.is_empty() { series } else { own };
    if series.is_empty() {
        return None;
    }
    let (mut sum, mut n) = (0.0, 0u64);
    for s in &series {
        if let Some(mean) = s.mean {
            sum += mean * s.samples as f64;
            n += s.samples;
        }
    }
    let min = series.iter().filter_map(|s| s.min).reduce(f64::min);
    let max = series.iter().filter_map(|s| s.max).reduce(f64::max);
    Some(diff_percent::Figures { mean: (n > 0).then(|| sum / n as f64), min, max })
}

/// Whether a run of a test counts in a baseline or a candidate: it ended and was judged, and
/// did not break (a test that failed its criteria still measured what it measured).
fn counts(test: &TestReport) -> bool {
    test.completion == Completion::Finished
        && matches!(test.outcome, Outcome::Passed | Outcome::CriteriaFailed)
        && test.load_secs > 0.0
}

/// The runs of test `name` in a run's report (each repeat), as a baseline.
pub(super) fn of_run(run: &RunReport, name: &str, provenance: Provenance) -> Option<Baseline> {
    let runs: Vec<RunFigures> = run
        .tests
        .iter()
        .filter(|t| t.base_name() == name && counts(t))
        .map(|t| RunFigures {
            run_id: run.run_id.clone(),
            test_dir: t.name.clone(),
            started: report::utc_text(t.started_unix),
            load_secs: t.load_secs,
            totals: &t.totals,
        })
        .collect();
    (!runs.is_empty()).then(|| Baseline::from_runs(name, provenance, &runs))
}

/// The baselines of a run folder, one per test (`only`: that test alone).
pub(super) fn from_run_dir(dir: &Path, only: Option<&str>) -> Result<Vec<Baseline>, report::Error> {
    let run = store::load_run(dir)?;
    let mut names: Vec<&str> = run.tests.iter().map(TestReport::base_name).collect();
    names.dedup();
    let provenance = Provenance::here(run.env_name.clone(), run.git_sha.clone(), report::utc_text(run.started_unix));
    Ok(names
        .into_iter()
        .filter(|n| only.is_none_or(|o| o == *n))
        .filter_map(|n| of_run(&run, n, provenance.clone()))
        .collect())
}

/// Gives baseline-relative criteria their thresholds from the baseline: the mean of its runs'
/// values of the same subject and label. Without a baseline (or without that label in it) they
/// cannot be judged: they are left out, and the test's notes and the console say so.
pub(super) fn resolve_criteria(criteria: &mut Vec<Spec>, baseline: Option<&Baseline>, notes: &mut Vec<String>) {
    criteria.retain_mut(|spec| {
        let Some(relative) = spec.baseline else { return true };
        let value = baseline.and_then(|b| baseline_value(b, spec));
        match value {
            Some(base) => {
                spec.threshold = relative.apply(base);
                true
            }
            None => {
                let why = match baseline {
                    None => "the run has no baseline (--baseline)".to_string(),
                    Some(b) => format!("the baseline of `{}` has no value for it", b.test),
                };
                let note = format!("criterion `{}` was not judged: {why}", spec.text);
                crate::errln!("warning: {note}");
                notes.push(note);
                false
            }
        }
    });
}

/// The baseline's mean over its runs of what `spec` reads, in the criterion's unit.
fn baseline_value(baseline: &Baseline, spec: &Spec) -> Option<f64> {
    let Kind::Kpi(subject) = &spec.kind else { return None };
    let runs = baseline.labels.get(&spec.label)?;
    let values: Vec<f64> = runs
        .iter()
        .filter_map(|r| match subject {
            Subject::AvgRt => r.avg_ms.map(|v| v / 1e3),
            Subject::Percentile(level) => {
                let stored = match *level {
                    50.0 => r.p50_ms,
                    90.0 => r.p90_ms,
                    95.0 => r.p95_ms,
                    99.0 => r.p99_ms,
                    _ => None,
                };
                let from_hist = || {
                    r.histogram()
                        .filter(|h: &Hist| !h.is_empty())
                        .map(|h| h.value_at_quantile(level / 100.0) as f64 / 1e3)
                };
                stored.or_else(from_hist).map(|ms| ms / 1e3)
            }
            Subject::Hits => Some(r.hits as f64),
            Subject::Fail if spec.percent => r.fail_pct,
            Subject::Fail => Some(r.fail as f64),
            Subject::Succ if spec.percent => r.fail_pct.map(|f| 100.0 - f),
            Subject::Succ => Some(r.hits.saturating_sub(r.fail) as f64),
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Prints where a baseline went, its runs, and per label and metric the noise between its runs
/// and how many runs a side needs to catch a change of `detect` (a ratio).
pub(super) fn print_noise(baseline: &Baseline, path: &Path, detect: f64) {
    crate::out!("{}", console::baseline_noise(baseline, path, detect));
}

/// `suite baseline save`.
pub fn save(args: BaselineSaveArgs) -> Outcome {
    let detect = match percent(&args.detect) {
        Ok(d) => d,
        Err(e) => return error(format!("--detect: {e}")),
    };
    let mut baselines: Vec<Baseline> = Vec::new();
    for source in &args.sources {
        let found = if source.is_dir() {
            from_run_dir(source, args.test.as_deref()).map_err(|e| e.to_string())
        } else {
            let test = args.test.clone().unwrap_or_else(|| import_name(source));
            let provenance = Provenance::here(None, None, report::utc_text(report::run_id::unix_now()));
            compare::import::import(source, &test, provenance).map(|b| vec![b]).map_err(|e| e.to_string())
        };
        match found {
            Ok(found) if found.is_empty() => {
                return error(format!(
                    "`{}` has no finished run{} to make a baseline of",
                    source.display(),
                    args.test.as_ref().map(|t| format!(" of `{t}`")).unwrap_or_default()
                ))
            }
            Ok(found) => {
                for b in found {
                    merge_into(&mut baselines, b);
                }
            }
            Err(e) => return error(e),
        }
    }
    for b in &baselines {
        let path = args.to.join(baseline::file_name(&b.test));
        if let Err(e) = write(&path, b) {
            return error(e);
        }
        print_noise(b, &path, detect);
    }
    Outcome::Passed
}

/// Writes a baseline file (its folder made first).
pub(super) fn write(path: &Path, baseline: &Baseline) -> Result<(), String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    store::write_atomic(path, baseline.to_text().as_bytes()).map_err(|e| format!("cannot write the baseline {e}"))
}

/// The test an imported file is named after: its stem without Locust's `_stats` suffix.
fn import_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    stem.strip_suffix("_stats").unwrap_or(&stem).to_string()
}

/// Adds a baseline to a list, appending its runs to one of the same test.
fn merge_into(list: &mut Vec<Baseline>, b: Baseline) {
    match list.iter_mut().find(|x| x.test == b.test) {
        Some(existing) => {
            let offset = existing.runs.len();
            existing.runs.extend(b.runs);
            for (label, runs) in b.labels {
                let entry = existing.labels.entry(label).or_default();
                entry.extend(runs.into_iter().map(|mut r| {
                    r.run += offset;
                    r
                }));
            }
            if existing.source != b.source {
                existing.source = format!("{}+{}", existing.source, b.source);
            }
        }
        None => list.push(b),
    }
}

/// `suite baseline show`.
pub fn show(args: BaselineShowArgs) -> Outcome {
    let detect = match percent(&args.detect) {
        Ok(d) => d,
        Err(e) => return error(format!("--detect: {e}")),
    };
    for path in &args.baselines {
        match read_side(path) {
            Ok(side) => {
                for b in &side.baselines {
                    print_noise(b, &side.path_of(b), detect);
                }
            }
            Err(e) => return error(e),
        }
    }
    Outcome::Passed
}

/// One side of `suite compare`: the baselines read from a run folder, a file or a folder.
struct Side {
    path: PathBuf,
    /// Whether `path` is a folder of baseline files (else a run folder or one file).
    baseline_dir: bool,
    baselines: Vec<Baseline>,
}

impl Side {
    fn path_of(&self, b: &Baseline) -> PathBuf {
        if self.baseline_dir {
            self.path.join(baseline::file_name(&b.test))
        } else {
            self.path.clone()
        }
    }
}

fn read_side(path: &Path) -> Result<Side, String> {
    if path.is_file() {
        let b = Baseline::load(path, None).map_err(|e| e.to_string())?;
        return Ok(Side { path: path.to_path_buf(), baseline_dir: false, baselines: vec![b] });
    }
    if path.join(store::RUN_FILE).is_file() {
        let baselines = from_run_dir(path, None).map_err(|e| e.to_string())?;
        return Ok(Side { path: path.to_path_buf(), baseline_dir: false, baselines });
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".baseline.json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "`{}` is neither a run folder (no run.json) nor a folder of `<test>.baseline.json` files",
            path.display()
        ));
    }
    let baselines =
        files.iter().map(|f| Baseline::load(f, None).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    Ok(Side { path: path.to_path_buf(), baseline_dir: true, baselines })
}

/// `suite compare A B`.
pub fn compare(args: CompareArgs) -> Outcome {
    let options = match options(&args.compare) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    let (a, b) = match (read_side(&args.baseline), read_side(&args.candidate)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let mut comparisons: Vec<TestComparison> = Vec::new();
    let mut unmatched = Vec::new();
    for cand in &b.baselines {
        match a.baselines.iter().find(|x| x.test == cand.test) {
            Some(base) => {
                comparisons.push(compare::compare_test(base, &a.path_of(base).display().to_string(), cand, &options))
            }
            None => unmatched.push(format!("`{}` is only in {}", cand.test, b.path.display())),
        }
    }
    for base in a.baselines.iter().filter(|x| !b.baselines.iter().any(|c| c.test == x.test)) {
        unmatched.push(format!("`{}` is only in {}", base.test, a.path.display()));
    }
    if comparisons.is_empty() {
        return error(format!(
            "no test is on both sides ({} and {})",
            args.baseline.display(),
            args.candidate.display()
        ));
    }
    for c in &comparisons {
        crate::out!("{}", console::comparison(c));
    }
    for u in &unmatched {
        crate::errln!("note: {u}: not compared");
    }
    let title = format!("{} → {}", args.baseline.display(), args.candidate.display());
    let markdown = report::markdown::comparisons(&title, &comparisons, &unmatched);
    if let Err(e) = store::write_atomic(&args.markdown, markdown.as_bytes()) {
        return error(format!("cannot write the Markdown {e}"));
    }
    crate::outln!("Markdown: {}", args.markdown.display());
    if comparisons.iter().any(TestComparison::regressed) {
        Outcome::CriteriaFailed
    } else {
        Outcome::Passed
    }
}

fn error(message: String) -> Outcome {
    crate::errln!("error: {message}");
    Outcome::Error
}
