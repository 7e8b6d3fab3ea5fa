//! Where a run's files go and when they are written (hyperfine's rule: write after every test, so
//! nothing measured is lost when a later test fails or the runner is stopped).
//!
//! - [`RunArtifacts`]: the run folder, `latest`, `run.json`; after every test its record is read
//!   back and the run's `junit.xml`, `report.html` and `summary.json` are written again.
//! - [`TestArtifacts`]: one test's folder: `test.json` while it runs, `effective.yml`, and when it
//!   ends `final_stats.csv`, `xunit.xml` and the files its `junit-xml` reporters ask for.
//! - [`Streams`]: `kpi.csv`, `seconds.jsonl` and `monitoring.jsonl`, a line as each second closes.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use super::store::{self, MonitoringLog, PlannedTest, SecondsLog};
use super::{csv, junit, run_id, Error, RunReport, TestReport};
use crate::aggregate::Second;
use crate::discover::TestFile;
use crate::monitoring::Event;
use crate::plan::JunitReporter;

/// The run folder and the run's report so far.
pub struct RunArtifacts {
    dir: PathBuf,
    planned: Vec<PlannedTest>,
    report: RunReport,
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
        };
        Ok(RunArtifacts { dir, planned: Vec::new(), report })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's report so far.
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    /// Starts the run: the planned tests go to `run.json` first, so a report rebuilt after a kill
    /// lists those that never ran.
    pub fn begin(&mut self, tests: &[TestFile]) {
        self.report.started_unix = run_id::unix_now();
        self.planned =
            tests.iter().map(|t| PlannedTest { name: t.name.clone(), file: t.path.display().to_string() }).collect();
        self.write_record();
    }

    /// The folder of the test named `name`.
    pub fn test(&self, name: &str) -> TestArtifacts {
        TestArtifacts { dir: self.dir.join(name) }
    }

    /// Adds a test that never started.
    pub fn not_run(&mut self, test: &TestFile, why: &str) {
        self.report.tests.push(TestReport::not_run(&test.name, &test.path, run_id::unix_now(), why));
    }

    /// Adds a finished test: writes its `test.json` and reads the test back from its folder, so the
    /// run's views are made from the same files `suite report` reads; what is in memory is kept if
    /// that fails.
    pub fn finished(&mut self, result: TestReport) -> &TestReport {
        let dir = self.dir.join(&result.name);
        let test = if warn(store::write_test(&dir, &result, true), "cannot write the test's record") {
            store::load_test(&dir, &result.name, &result.file).unwrap_or_else(|e| {
                eprintln!("warning: cannot read the test's results back: {e}");
                result
            })
        } else {
            result
        };
        self.report.tests.push(test);
        self.report.tests.last().expect("just pushed")
    }

    /// Ends the run with its exit code and writes its record and reports a last time.
    pub fn end(&mut self, exit_code: u8) -> Result<(), Error> {
        self.report.exit_code = Some(exit_code);
        self.write_record();
        self.write_reports()
    }

    /// Writes the run's `junit.xml`, then `report.html` and `summary.json`.
    pub fn write_reports(&self) -> Result<(), Error> {
        let path = self.dir.join("junit.xml");
        std::fs::write(&path, junit::run_xml(&self.report)).map_err(|e| Error::io(&path, e))?;
        // The HTML report and summary.json are for people and scripts; CI's verdict does not wait on them.
        warn(super::write_views(&self.dir, &self.report), "cannot write the run's report");
        Ok(())
    }

    fn write_record(&self) {
        warn(store::write_run(&self.dir, &self.report, &self.planned), "cannot write the run's record");
    }
}

/// One test's folder in the run folder.
pub struct TestArtifacts {
    dir: PathBuf,
}

impl TestArtifacts {
    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the folder.
    pub fn create(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)
    }

    /// Writes the record of a test that is running (not judged yet): what a killed runner leaves
    /// is marked incomplete.
    pub fn running(&self, report: &TestReport) {
        warn(store::write_test(&self.dir, report, false), "cannot write the test's record");
    }

    /// Writes `effective.yml`, the merged config the test ran with.
    pub fn effective(&self, yaml: &str) {
        let path = self.dir.join("effective.yml");
        warn_on_error(&path, std::fs::write(&path, yaml));
    }

    /// Opens the streams of the load phase; `monitoring.jsonl` only when the test monitors something.
    pub fn streams(&self, monitoring: bool) -> Result<Streams, String> {
        let kpi_path = self.dir.join("kpi.csv");
        let kpi = csv::KpiCsv::create(&kpi_path).map_err(|e| format!("cannot create `{}`: {e}", kpi_path.display()))?;
        let seconds = Some(SecondsLog::create(&self.dir.join(store::SECONDS_FILE)).map_err(|e| e.to_string())?);
        let monitoring = if monitoring {
            MonitoringLog::create(&self.dir.join(store::MONITORING_FILE))
                .map_err(|e| eprintln!("warning: monitoring values will not be in the report: {e}"))
                .ok()
        } else {
            None
        };
        Ok(Streams { kpi, seconds, monitoring })
    }

    /// Writes what a finished test leaves in files besides its record: `final_stats.csv` (also to
    /// the `final-stats` reporter's file), `xunit.xml` and the `junit-xml` reporters' files.
    pub fn write(&self, report: &TestReport, final_stats_csv: Option<&Path>, reporters: &[JunitReporter]) {
        let stats = self.dir.join("final_stats.csv");
        for path in std::iter::once(stats.as_path()).chain(final_stats_csv) {
            warn_on_error(path, csv::write_final_stats(path, &report.totals));
        }
        let xunit = self.dir.join("xunit.xml");
        warn_on_error(&xunit, std::fs::write(&xunit, junit::test_xml(report)));
        for (path, xml) in junit::reporter_files(report, reporters, &self.dir) {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            warn_on_error(&path, std::fs::write(&path, xml));
        }
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
        eprintln!("warning: cannot point `{}` at {id}: {e}", root.join("latest").display());
    }
}

fn warn_on_error(path: &Path, written: std::io::Result<()>) {
    warn(written, format_args!("cannot write `{}`", path.display()));
}

/// Prints a warning when a write failed (the run goes on without that file); true when it worked.
fn warn(written: Result<(), impl Display>, what: impl Display) -> bool {
    written.map_err(|e| eprintln!("warning: {what}: {e}")).is_ok()
}

/// The files a test's load phase streams into, a line at a time. A stream that fails once is
/// dropped with a warning; `kpi.csv` keeps trying.
pub struct Streams {
    kpi: csv::KpiCsv,
    seconds: Option<SecondsLog>,
    monitoring: Option<MonitoringLog>,
}

impl Streams {
    /// Writes a closed second to `kpi.csv` and `seconds.jsonl`; `vus` is the number of active
    /// virtual users when it closed.
    pub fn second(&mut self, second: &Second, vus: u64) {
        warn(self.kpi.write(second), "cannot write kpi.csv");
        if let Some(log) = &mut self.seconds {
            if !warn(log.write(second, vus), "the report will lack the seconds from here on") {
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
        if !warn(written, "monitoring values will not be in the report") {
            self.monitoring = None;
        }
    }
}
