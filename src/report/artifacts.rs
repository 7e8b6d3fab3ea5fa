//! Where a run's files go and when they are written (hyperfine's rule: write after every test, so
//! nothing measured is lost when a later test fails or the runner is stopped).
//!
//! - [`RunArtifacts`]: the run folder, `latest`, `run.json`; after every test its record is read
//!   back and the run's `junit.xml`, `report.html` and `summary.json` are written again.
//! - [`TestArtifacts`]: one test's folder: `test.json` while it runs, `effective.yml`, and when it
//!   ends `final_stats.csv`, `<test>_stats.csv` (Locust's), `xunit.xml` and the files its
//!   `junit-xml` reporters ask for.
//! - [`Streams`]: `kpi.csv`, `seconds.jsonl`, `<test>_stats_history.csv` (Locust's) and
//!   `monitoring.jsonl`, a line as each second closes.
//!
//! Whole files are written atomically (a temporary file renamed over the old one), so a full disk
//! leaves the previous version, never an empty or half file. A file that cannot be written is
//! reported on stderr when it happens and the run goes on; [`RunArtifacts::unwritten`] lists them
//! all at the end (the runner then exits 1).

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::store::{self, MonitoringLog, PlannedTest, SecondsLog};
use super::{csv, junit, locust, mms_compare, run_id, views, Error, RunReport, SegmentInfo, TestReport};
use crate::aggregate::Second;
use crate::compare::diff_percent::DiffRow;
use crate::compare::TestComparison;
use crate::monitoring::Event;
use crate::plan::JunitReporter;

/// The run folder and the run's report so far.
pub struct RunArtifacts {
    dir: PathBuf,
    planned: Vec<PlannedTest>,
    report: RunReport,
    unwritten: Unwritten,
}

impl RunArtifacts {
    /// Creates `<root>/<run id>`, a folder no other run has (see [`run_id::create_dir`]), and
    /// points `<root>/latest` at it.
    pub fn create(root: &Path, env_name: Option<&str>) -> Result<Self, Error> {
        let git_sha = run_id::git_short_sha();
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let (id, dir) = run_id::create_dir(root, &run_id::new(env_name, git_sha.as_deref()))?;
        point_latest(root, &id);
        let report = RunReport {
            run_id: id,
            env_name: env_name.map(str::to_string),
            git_sha,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            started_unix: 0,
            exit_code: None,
            tests: Vec::new(),
            comparisons: Vec::new(),
            diff_percent: Vec::new(),
            segment: None,
        };
        Ok(RunArtifacts { dir, planned: Vec::new(), report, unwritten: Unwritten::default() })
    }

    /// Marks the run as one segment of a split run (before [`RunArtifacts::begin`] writes `run.json`).
    pub fn segment(&mut self, info: SegmentInfo) {
        self.report.segment = Some(info);
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's report so far.
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    /// Starts the run: the planned runs (folder name and test file, in run order) go to
    /// `run.json` first, so a report rebuilt after a kill lists those that never ran.
    pub fn begin<'a>(&mut self, planned: impl IntoIterator<Item = (&'a str, &'a Path)>) {
        self.report.started_unix = run_id::unix_now();
        self.planned = planned
            .into_iter()
            .map(|(name, file)| PlannedTest { name: name.to_string(), file: file.display().to_string() })
            .collect();
        self.write_record();
    }

    /// Adds a test's `diff_percent` rows (MMS's comparison with the previous run) and writes the
    /// run's rows again: `comparisons/diff_percent.json` and MMS's `comparison_result.csv`.
    pub fn diffed(&mut self, rows: Vec<DiffRow>) {
        self.report.diff_percent.extend(rows);
        let json = self.dir.join(store::COMPARISONS_DIR).join(store::DIFF_PERCENT_FILE);
        self.unwritten.check(&json, store::write_diff_percent(&self.dir, &self.report.diff_percent));
        let csv = self.dir.join(mms_compare::FILE_NAME);
        let text = mms_compare::comparison_result_csv(&self.report.diff_percent);
        self.unwritten.check(&csv, store::write_atomic(&csv, text.as_bytes()));
    }

    /// Adds a test's comparison with its baseline and writes it.
    pub fn compared(&mut self, comparison: TestComparison) {
        let path = self.dir.join(store::COMPARISONS_DIR).join(format!("{}.json", comparison.test));
        self.unwritten.check(&path, store::write_comparison(&self.dir, &comparison));
        self.report.comparisons.push(comparison);
    }

    /// The folder of the test (or repeat) named `name`.
    pub fn test(&self, name: &str) -> TestArtifacts {
        TestArtifacts { dir: self.dir.join(name), name: name.to_string(), unwritten: self.unwritten.clone() }
    }

    /// Adds a run that never started (made by [`TestReport::not_run`]).
    pub fn not_run(&mut self, report: TestReport) {
        self.report.tests.push(report);
    }

    /// Adds a finished test: writes its `test.json` and reads the test back from its folder, so the
    /// run's views are made from the same files `suite report` reads; what is in memory is kept if
    /// that fails.
    pub fn finished(&mut self, result: TestReport) -> &TestReport {
        let dir = self.dir.join(&result.name);
        let written = store::write_test(&dir, &result, true);
        let test = if self.unwritten.check(&dir.join(store::TEST_FILE), written) {
            store::load_test(&dir, &result.name, &result.file).unwrap_or_else(|e| {
                crate::errln!("warning: cannot read the test's results back: {e}");
                result
            })
        } else {
            result
        };
        self.report.tests.push(test);
        self.report.tests.last().expect("just pushed")
    }

    /// Ends the run with its exit code and writes its record and reports a last time.
    pub fn end(&mut self, exit_code: u8) {
        self.report.exit_code = Some(exit_code);
        self.write_record();
        self.write_reports();
    }

    /// Writes the run's `junit.xml`, `report.html` and `summary.json`, each on its own: one that
    /// cannot be written does not keep the others from being written.
    pub fn write_reports(&self) {
        let path = self.dir.join("junit.xml");
        self.unwritten.check(&path, store::write_atomic(&path, junit::run_xml(&self.report).as_bytes()));
        for view in views().into_iter().filter(|v| v.wanted(&self.report)) {
            let path = self.dir.join(view.file_name());
            let written = view.render(&self.report).and_then(|bytes| store::write_atomic(&path, &bytes));
            self.unwritten.check(&path, written);
        }
    }

    /// The files of the run that could not be written (or not wholly), with why, in the order met.
    pub fn unwritten(&self) -> Vec<(PathBuf, String)> {
        self.unwritten.list()
    }

    fn write_record(&self) {
        let path = self.dir.join(store::RUN_FILE);
        self.unwritten.check(&path, store::write_run(&self.dir, &self.report, &self.planned));
    }
}

/// The files a run could not write, shared by the run and its tests. A file that failed and was
/// written later (the run's reports are rewritten after every test) is no longer listed.
#[derive(Clone, Default)]
struct Unwritten(Arc<Mutex<Vec<(PathBuf, String)>>>);

impl Unwritten {
    /// Notes how writing `path` went, with a warning when it failed; true when it worked.
    fn check(&self, path: &Path, written: Result<(), Error>) -> bool {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|(p, _)| p != path);
        match written {
            Ok(()) => true,
            Err(e) => {
                let why = why(&e);
                crate::errln!("warning: cannot write `{}`: {why}", path.display());
                list.push((path.to_path_buf(), why));
                false
            }
        }
    }

    /// Notes that a streamed file lost a line (it stays listed: it has a gap); warns the first time.
    fn gap(&self, path: &Path, e: impl Display) {
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|(p, _)| p == path) {
            crate::errln!("warning: cannot write `{}`: {e}", path.display());
            list.push((path.to_path_buf(), format!("incomplete: {e}")));
        }
    }

    fn list(&self) -> Vec<(PathBuf, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One test's folder in the run folder.
pub struct TestArtifacts {
    dir: PathBuf,
    /// The test's name, which names its Locust files.
    name: String,
    unwritten: Unwritten,
}

impl TestArtifacts {
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The test's (or repeat's) name: its folder's.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the folder.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)
    }

    /// Writes the record of a test that is running (not judged yet): what a killed runner leaves
    /// is marked incomplete.
    pub fn running(&self, report: &TestReport) {
        self.unwritten.check(&self.dir.join(store::TEST_FILE), store::write_test(&self.dir, report, false));
    }

    /// Writes `effective.yml`, the merged config the test ran with.
    pub fn effective(&self, yaml: &str) {
        let path = self.dir.join("effective.yml");
        self.unwritten.check(&path, store::write_atomic(&path, yaml.as_bytes()));
    }

    /// Opens the streams of the load phase; `monitoring.jsonl` only when the test monitors something.
    pub fn streams(&self, monitoring: bool) -> Result<Streams, String> {
        let kpi_path = self.dir.join("kpi.csv");
        let kpi = csv::KpiCsv::create(&kpi_path).map_err(|e| format!("cannot create `{}`: {e}", kpi_path.display()))?;
        let seconds = Some(SecondsLog::create(&self.dir.join(store::SECONDS_FILE)).map_err(|e| e.to_string())?);
        let monitoring_path = self.dir.join(store::MONITORING_FILE);
        let monitoring = if monitoring {
            MonitoringLog::create(&monitoring_path).map_err(|e| self.unwritten.gap(&monitoring_path, why(&e))).ok()
        } else {
            None
        };
        let locust_path = self.dir.join(locust::history_file(&self.name));
        let locust = locust::History::create(&locust_path).map_err(|e| self.unwritten.gap(&locust_path, e)).ok();
        let unwritten = self.unwritten.clone();
        Ok(Streams {
            kpi,
            kpi_path,
            seconds,
            locust,
            locust_path,
            monitoring,
            monitoring_path,
            dir: self.dir.clone(),
            unwritten,
        })
    }

    /// Writes what a finished test leaves in files besides its record: `final_stats.csv` (also to
    /// the `final-stats` reporter's file), Locust's `<test>_stats.csv`, `xunit.xml` and the
    /// `junit-xml` reporters' files.
    pub fn write(&self, report: &TestReport, final_stats_csv: Option<&Path>, reporters: &[JunitReporter]) {
        let stats = self.dir.join(csv::FINAL_STATS_FILE);
        for path in std::iter::once(stats.as_path()).chain(final_stats_csv) {
            let written = store::write_atomic_with(path, |tmp| csv::write_final_stats(tmp, &report.totals));
            self.unwritten.check(path, written);
        }
        let stats = self.dir.join(locust::stats_file(&self.name));
        let written =
            store::write_atomic_with(&stats, |tmp| locust::write_stats(tmp, &report.totals, report.load_secs));
        self.unwritten.check(&stats, written);
        let xunit = self.dir.join("xunit.xml");
        self.unwritten.check(&xunit, store::write_atomic(&xunit, junit::test_xml(report).as_bytes()));
        for (path, xml) in junit::reporter_files(report, reporters, &self.dir) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            self.unwritten.check(&path, store::write_atomic(&path, xml.as_bytes()));
        }
    }
}

/// The folder names of a test's runs: its name, or with `--repeat N` (N > 1) `<name>@1` to
/// `<name>@N`.
pub fn repeat_names(name: &str, repeat: u32) -> Vec<String> {
    if repeat <= 1 {
        vec![name.to_string()]
    } else {
        (1..=repeat).map(|k| format!("{name}@{k}")).collect()
    }
}

/// Points `<root>/latest` at the run folder `id`: a new link renamed over the old one, so a run
/// started at the same time never finds it missing or makes it fail.
fn point_latest(root: &Path, id: &str) {
    let tmp = root.join(format!(".latest.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let linked = std::os::unix::fs::symlink(id, &tmp).and_then(|()| std::fs::rename(&tmp, root.join("latest")));
    if let Err(e) = linked {
        let _ = std::fs::remove_file(&tmp);
        crate::errln!("warning: cannot point `{}` at {id}: {e}", root.join("latest").display());
    }
}

/// What went wrong, without the path the caller names anyway.
fn why(e: &Error) -> String {
    match e {
        Error::Io { cause, .. } => cause.to_string(),
        other => other.to_string(),
    }
}

/// The files a test's load phase streams into, a line at a time. A stream that fails once is
/// dropped with a warning (and listed as incomplete); `kpi.csv` and Locust's history keep trying.
pub struct Streams {
    kpi: csv::KpiCsv,
    kpi_path: PathBuf,
    seconds: Option<SecondsLog>,
    locust: Option<locust::History>,
    locust_path: PathBuf,
    monitoring: Option<MonitoringLog>,
    monitoring_path: PathBuf,
    dir: PathBuf,
    unwritten: Unwritten,
}

impl Streams {
    /// Writes a closed second to `kpi.csv`, `seconds.jsonl` and Locust's history; `vus` is the
    /// number of active virtual users when it closed.
    pub fn second(&mut self, second: &Second, vus: u64) {
        if let Err(e) = self.kpi.write(second) {
            self.unwritten.gap(&self.kpi_path, e);
        }
        if let Some(history) = &mut self.locust {
            if let Err(e) = history.second(second.unix_ts, vus, &second.current) {
                self.unwritten.gap(&self.locust_path, e);
            }
        }
        if let Some(log) = &mut self.seconds {
            if let Err(e) = log.write(second, vus) {
                let path = self.dir.join(store::SECONDS_FILE);
                self.unwritten.gap(&path, format_args!("{}; the report will lack the seconds from here on", why(&e)));
                self.seconds = None;
            }
        }
    }

    /// Writes a monitoring event to `monitoring.jsonl`; `elapsed_secs` (since the load started)
    /// dates an unavailable source.
    pub fn monitoring(&mut self, event: &Event, elapsed_secs: f64) {
        let Some(log) = &mut self.monitoring else { return };
        let written = match event {
            Event::Sample(s) => log.sample(s.ts, &s.source, &s.values),
            Event::Unavailable { source, reason } => log.unavailable(elapsed_secs, source, reason),
        };
        if let Err(e) = written {
            let why = why(&e);
            self.unwritten
                .gap(&self.monitoring_path, format_args!("{why}; monitoring values will not be in the report"));
            self.monitoring = None;
        }
    }
}
