//! Baselines imported from another tool's results (issue 13): a Locust `<prefix>_stats.csv`, a k6
//! `--summary-export` (or `handleSummary`) JSON, and Taurus's final-stats `dump-xml` or
//! `dump-csv`. Each file is one run, so the baseline has one run and no spread of its own: a
//! comparison against it uses the default noise model and says so.
//!
//! The format is told from the content (a JSON object with `metrics`, an XML `<FinalStatus>`, the
//! header row of a CSV), not from the file's name. Figures are taken as the tool wrote them, times
//! converted to milliseconds; a figure the file does not hold stays `None`, never made up. The
//! one exception the [`LabelRun`] type forces: its counts are not optional, so a k6 label whose
//! request count the export does not give has 0 hits (a comparison reads that as no data).
//!
//! [`RunInfo::load_secs`] is the run's load time where the file gives it or lets it be derived
//! exactly (Locust's and k6's rates are counts over that time); `0.0` where it cannot be known,
//! as [`LabelRun::from_set`] reads a time that is not positive as unknown.

use std::fmt;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value};

use super::baseline::{Baseline, LabelRun, Provenance, RunInfo};

/// What [`import`] reads, for messages.
pub const ACCEPTED: &str = "a Locust `_stats.csv`, a k6 `--summary-export` or `handleSummary` JSON, \
or a Taurus final-stats `dump-xml` or `dump-csv`";

/// Why a results file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{}`: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("`{}` is not a results file suite imports ({found}); it imports {ACCEPTED}", path.display())]
    UnknownFormat { path: PathBuf, found: String },
    #[error("`{}` {at}: {message}", path.display())]
    At { path: PathBuf, at: Position, message: String },
    #[error("`{}`: {message}", path.display())]
    Content { path: PathBuf, message: String },
}

/// A place in a file: 1-based line, and column (in characters) where it is natural.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: Option<u64>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {column}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

impl Position {
    fn line(line: u64) -> Self {
        Position { line, column: None }
    }

    /// The line and column of byte `offset` in `text`.
    fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position { line, column: Some(before[line_start..].chars().count() as u64 + 1) }
    }
}

/// Reads a Locust, k6 or Taurus results file as a one-run baseline of `test`: `source` is
/// `locust`, `k6` or `taurus`, the run's id the file's name.
pub fn import(path: &Path, test: &str, provenance: Provenance) -> Result<Baseline, ImportError> {
    let bytes = crate::fsutil::read_regular(path, crate::fsutil::DATA_CAP)
        .map_err(|e| ImportError::Read { path: path.to_path_buf(), reason: e.reason() })?;
    let text = String::from_utf8(bytes).map_err(|e| ImportError::UnknownFormat {
        path: path.to_path_buf(),
        found: format!("it is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file = File { path, text };
    let (source, run) = match text.trim_start().chars().next() {
        Some('{') => ("k6", file.k6()?),
        Some('<') => ("taurus", file.taurus_xml()?),
        Some(_) => file.csv()?,
        None => return Err(file.unknown("it is empty")),
    };
    let mut baseline = Baseline::new(test, source, provenance);
    baseline.runs.push(RunInfo {
        run_id: path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
        test_dir: String::new(),
        started: String::new(),
        load_secs: run.load_secs.unwrap_or(0.0),
    });
    for (label, figures) in run.labels {
        baseline.labels.insert(label, vec![figures]);
    }
    Ok(baseline)
}

/// The figures of the one run a file holds.
struct Run {
    load_secs: Option<f64>,
    /// `""` is the overall figures.
    labels: Vec<(String, LabelRun)>,
}

/// One label's figures before they become a [`LabelRun`]. Times in milliseconds.
#[derive(Default)]
struct Figures {
    hits: u64,
    fail: u64,
    throughput: Option<f64>,
    avg_ms: Option<f64>,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
}

impl Figures {
    /// Times only where there were requests to time: the tools write 0 for a label without any.
    fn label_run(self) -> LabelRun {
        let timed = |v: Option<f64>| v.filter(|_| self.hits > 0);
        LabelRun {
            run: 0,
            hits: self.hits,
            fail: self.fail,
            throughput: self.throughput,
            fail_pct: (self.hits > 0).then(|| self.fail as f64 * 100.0 / self.hits as f64),
            avg_ms: timed(self.avg_ms),
            p50_ms: timed(self.p50_ms),
            p90_ms: timed(self.p90_ms),
            p95_ms: timed(self.p95_ms),
            p99_ms: timed(self.p99_ms),
            hdr: None,
        }
    }
}

/// What a cell or value must be, for messages.
#[derive(Clone, Copy)]
enum Kind {
    Millis,
    Seconds,
    Count,
    Rate,
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Millis => "a number of milliseconds",
            Kind::Seconds => "a number of seconds",
            Kind::Count => "a whole number of requests",
            Kind::Rate => "a number of requests per second",
        }
    }
}

/// A non-negative finite number; `None` when it is not one.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// A count written as an integer (or a float with no fraction, as some writers do).
fn count(text: &str) -> Option<u64> {
    let t = text.trim();
    t.parse::<u64>().ok().or_else(|| number(t).filter(|v| v.fract() == 0.0 && *v < 2f64.powi(63)).map(|v| v as u64))
}

/// The file being imported.
struct File<'a> {
    path: &'a Path,
    text: &'a str,
}

impl File<'_> {
    fn unknown(&self, found: impl Into<String>) -> ImportError {
        ImportError::UnknownFormat { path: self.path.to_path_buf(), found: found.into() }
    }

    fn at(&self, at: Position, message: impl Into<String>) -> ImportError {
        ImportError::At { path: self.path.to_path_buf(), at, message: message.into() }
    }

    fn content(&self, message: impl Into<String>) -> ImportError {
        ImportError::Content { path: self.path.to_path_buf(), message: message.into() }
    }

    // ---- CSV: Locust's `_stats.csv`, Taurus's `dump-csv` ----

    fn csv(&self) -> Result<(&'static str, Run), ImportError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(self.text.as_bytes());
        let header: Vec<String> =
            reader.headers().map_err(|e| self.csv_error(&e))?.iter().map(|h| h.trim().to_string()).collect();
        let has = |name: &str| header.iter().any(|h| h == name);
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| self.csv_error(&e))?;
            let line = record.position().map_or(0, |p| self.line_at(p));
            rows.push(Row { line, cells: record.iter().map(str::to_string).collect() });
        }
        let table = Table { file: self, header: &header, rows };
        if has("Name") && has("Request Count") && has("Failure Count") {
            if has("Timestamp") {
                return Err(self.unknown(
                    "it is Locust's `_stats_history.csv`, the figures over time; import the `_stats.csv` beside it",
                ));
            }
            return Ok(("locust", table.locust()?));
        }
        if has("label") && (has("throughput") || has("succ")) {
            return Ok(("taurus", table.taurus()?));
        }
        let first: Vec<&str> = header.iter().take(4).map(String::as_str).collect();
        Err(self.unknown(format!("a CSV file whose header starts `{}`", first.join(","))))
    }

    /// The line a CSV record starts on. The reader's own line count lags after a CRLF (the `\n`
    /// is taken as the start of the next record), so the line is counted from the byte offset,
    /// past the line end the record's offset may point at.
    fn line_at(&self, pos: &csv::Position) -> u64 {
        let bytes = self.text.as_bytes();
        let mut at = usize::try_from(pos.byte()).unwrap_or(usize::MAX).min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1
    }

    fn csv_error(&self, e: &csv::Error) -> ImportError {
        match e.kind() {
            csv::ErrorKind::UnequalLengths { pos, expected_len, len } => self.at(
                Position::line(pos.as_ref().map_or(0, |p| self.line_at(p))),
                format!("the row has {len} cells, the header {expected_len}"),
            ),
            _ => match e.position() {
                Some(pos) => self.at(Position::line(self.line_at(pos)), e.to_string()),
                None => self.content(e.to_string()),
            },
        }
    }

    // ---- JSON: k6 ----

    fn k6(&self) -> Result<Run, ImportError> {
        let root: Value = serde_json::from_str(self.text).map_err(|e| {
            self.at(Position { line: e.line() as u64, column: Some(e.column() as u64) }, format!("not valid JSON: {e}"))
        })?;
        let Some(metrics) = root.get("metrics").and_then(Value::as_object) else {
            let found = if root.get("schema").and_then(Value::as_str) == Some(super::baseline::SCHEMA) {
                "it is already a suite baseline: use it as one, no import needed".to_string()
            } else {
                "a JSON file without a `metrics` object".to_string()
            };
            return Err(self.unknown(found));
        };
        K6 { file: self, metrics }.run(&root)
    }

    // ---- XML: Taurus's `dump-xml` ----

    fn taurus_xml(&self) -> Result<Run, ImportError> {
        let root = Dom::read(self)?;
        if root.name != "FinalStatus" {
            return Err(self.unknown(format!("an XML file whose root element is `<{}>`", root.name)));
        }
        let mut load_secs = None;
        let mut labels = Vec::new();
        for child in &root.children {
            match child.name.as_str() {
                "TestDuration" => {
                    let secs = number(&child.text).ok_or_else(|| {
                        self.at(
                            child.at(self),
                            format!(
                                "`<TestDuration>` is `{}`, expected {}",
                                child.text.trim(),
                                Kind::Seconds.expected()
                            ),
                        )
                    })?;
                    load_secs = Some(secs).filter(|s| *s > 0.0);
                }
                "Group" => {
                    let label = child
                        .attr("label")
                        .ok_or_else(|| self.at(child.at(self), "a `<Group>` without its `label` attribute"))?;
                    labels.push((label.to_string(), child));
                }
                _ => {}
            }
        }
        let mut run = Run { load_secs, labels: Vec::new() };
        for (label, group) in labels {
            if run.labels.iter().any(|(l, _)| *l == label) {
                return Err(self.at(group.at(self), format!("a second `<Group>` of label `{label}`")));
            }
            let figures = self.taurus_group(group, load_secs)?;
            run.labels.push((label, figures.label_run()));
        }
        Ok(run)
    }

    /// One `<Group>`: a KPI per child element (`<avg_rt value="0.00353">…`), the dict KPIs with a
    /// `param` (`<perc value="0.008" param="95.0">`). The value is the `value` attribute, else the
    /// `<value>` child's text.
    fn taurus_group(&self, group: &Node, load_secs: Option<f64>) -> Result<Figures, ImportError> {
        let find = |name: &str, param: Option<f64>| {
            group.children.iter().find(|k| {
                k.name == name
                    && match param {
                        None => true,
                        Some(p) => k.attr("param").and_then(number) == Some(p),
                    }
            })
        };
        let value = |kpi: &Node| -> Option<String> {
            kpi.attr("value")
                .map(str::to_string)
                .or_else(|| kpi.children.iter().find(|c| c.name == "value").map(|c| c.text.trim().to_string()))
        };
        let what = |kpi: &Node| match kpi.attr("param") {
            Some(p) => format!("`<{} param=\"{p}\">`", kpi.name),
            None => format!("`<{}>`", kpi.name),
        };
        let num = |name: &str, param: Option<f64>, kind: Kind| -> Result<Option<f64>, ImportError> {
            let Some(kpi) = find(name, param) else { return Ok(None) };
            let Some(text) = value(kpi) else {
                return Err(self.at(kpi.at(self), format!("{} has no value", what(kpi))));
            };
            number(&text).map(Some).ok_or_else(|| {
                self.at(kpi.at(self), format!("{} is `{text}`, expected {}", what(kpi), kind.expected()))
            })
        };
        let cnt = |name: &str| -> Result<Option<u64>, ImportError> {
            let Some(kpi) = find(name, None) else { return Ok(None) };
            let text = value(kpi).unwrap_or_default();
            count(&text).map(Some).ok_or_else(|| {
                self.at(kpi.at(self), format!("{} is `{text}`, expected {}", what(kpi), Kind::Count.expected()))
            })
        };
        let (throughput, succ, fail) = (cnt("throughput")?, cnt("succ")?, cnt("fail")?);
        let hits = taurus_hits(throughput, succ, fail)
            .ok_or_else(|| self.at(group.at(self), "the `<Group>` has no `throughput` (its sample count)"))?;
        let ms = |v: Option<f64>| v.map(|s| s * 1e3);
        Ok(Figures {
            hits,
            fail: fail.unwrap_or(hits.saturating_sub(succ.unwrap_or(hits))),
            throughput: load_secs.map(|secs| hits as f64 / secs),
            avg_ms: ms(num("avg_rt", None, Kind::Seconds)?),
            p50_ms: ms(num("perc", Some(50.0), Kind::Seconds)?),
            p90_ms: ms(num("perc", Some(90.0), Kind::Seconds)?),
            p95_ms: ms(num("perc", Some(95.0), Kind::Seconds)?),
            p99_ms: ms(num("perc", Some(99.0), Kind::Seconds)?),
        })
    }
}

/// A label's sample count in Taurus's final stats. Its `throughput` KPI is the number of samples,
/// not a rate: Taurus 1.17.2's `dump-xml` of a 10 s test (`TestDuration` 10.0) has `throughput`
/// 3080 overall = `succ` 1540 + `fail` 1540, and its console said "Samples count: 3080"
/// (observed `obs01-out-finalstats.{csv,xml}`). Without it, `succ + fail`.
fn taurus_hits(throughput: Option<u64>, succ: Option<u64>, fail: Option<u64>) -> Option<u64> {
    throughput.or(match (succ, fail) {
        (Some(s), Some(f)) => Some(s + f),
        _ => None,
    })
}

/// A CSV data row: its line and cells.
struct Row {
    line: u64,
    cells: Vec<String>,
}

/// A CSV file's header and rows.
struct Table<'a> {
    file: &'a File<'a>,
    header: &'a [String],
    rows: Vec<Row>,
}

impl Table<'_> {
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn cell<'r>(&self, row: &'r Row, column: Option<usize>) -> Option<&'r str> {
        column.and_then(|c| row.cells.get(c)).map(|s| s.trim()).filter(|s| !s.is_empty() && *s != "N/A")
    }

    /// A number in a column; `None` where the column is absent, the cell empty or `N/A`.
    fn number(&self, row: &Row, column: Option<usize>, kind: Kind) -> Result<Option<f64>, ImportError> {
        let Some(text) = self.cell(row, column) else { return Ok(None) };
        number(text).map(Some).ok_or_else(|| self.bad(row, column, text, kind))
    }

    fn count(&self, row: &Row, column: Option<usize>) -> Result<Option<u64>, ImportError> {
        let Some(text) = self.cell(row, column) else { return Ok(None) };
        count(text).map(Some).ok_or_else(|| self.bad(row, column, text, Kind::Count))
    }

    fn bad(&self, row: &Row, column: Option<usize>, text: &str, kind: Kind) -> ImportError {
        let name = column.map_or("", |c| self.header[c].as_str());
        self.file.at(Position::line(row.line), format!("column `{name}` is `{text}`, expected {}", kind.expected()))
    }

    fn required(&self, name: &str) -> Result<usize, ImportError> {
        self.column(name).ok_or_else(|| self.file.at(Position::line(1), format!("the header has no `{name}` column")))
    }

    /// Locust 2.x's `_stats.csv` (suite's `report::locust::write_stats` writes the same): a row
    /// per request name and type, then the `Aggregated` row of all requests. Times are ms; rates
    /// are counts over the test's time (Locust's `total_rps`), so that time is the `Aggregated`
    /// row's count over its `Requests/s`.
    fn locust(&self) -> Result<Run, ImportError> {
        let (name, hits, fails) =
            (self.required("Name")?, self.required("Request Count")?, self.required("Failure Count")?);
        let kind = self.column("Type");
        let col = |n: &str| self.column(n);
        let (rps, avg, median) = (col("Requests/s"), col("Average Response Time"), col("Median Response Time"));
        let (p50, p90, p95, p99) = (col("50%"), col("90%"), col("95%"), col("99%"));
        fn name_of(row: &Row, name: usize) -> &str {
            row.cells.get(name).map_or("", |s| s.as_str())
        }
        let type_of = |row: &Row| self.cell(row, kind).map(str::to_string).unwrap_or_default();
        // Locust writes its `Aggregated` row last, with no type; a request named `Aggregated`
        // elsewhere stays a label.
        let overall = self
            .rows
            .iter()
            .rposition(|r| name_of(r, name) == crate::report::locust::AGGREGATED && type_of(r).is_empty())
            .ok_or_else(|| self.file.content("Locust's `Aggregated` row (the figures of all requests) is missing"))?;
        let total = self.count(&self.rows[overall], Some(hits))?.unwrap_or(0);
        let total_rps = self.number(&self.rows[overall], rps, Kind::Rate)?;
        let load_secs = total_rps.filter(|r| *r > 0.0 && total > 0).map(|r| total as f64 / r);
        let mut run = Run { load_secs, labels: Vec::new() };
        for (i, row) in self.rows.iter().enumerate() {
            let label = if i == overall {
                String::new()
            } else {
                let n = name_of(row, name);
                // The type is the method: only needed when two rows share a name.
                let shared = self.rows.iter().enumerate().any(|(j, r)| j != i && j != overall && name_of(r, name) == n);
                match type_of(row) {
                    t if shared && !t.is_empty() => format!("{t} {n}"),
                    _ => n.to_string(),
                }
            };
            if run.labels.iter().any(|(l, _)| *l == label) {
                return Err(self.file.at(Position::line(row.line), format!("a second row of `{label}`")));
            }
            let hits = self.count(row, Some(hits))?.ok_or_else(|| self.bad(row, Some(hits), "", Kind::Count))?;
            let figures = Figures {
                hits,
                fail: self.count(row, Some(fails))?.unwrap_or(0),
                // A rate is only a measurement where the test's time is known: suite writes 0.0
                // without one.
                throughput: if load_secs.is_some() { self.number(row, rps, Kind::Rate)? } else { None },
                avg_ms: self.number(row, avg, Kind::Millis)?,
                p50_ms: match self.number(row, p50, Kind::Millis)? {
                    Some(v) => Some(v),
                    None => self.number(row, median, Kind::Millis)?,
                },
                p90_ms: self.number(row, p90, Kind::Millis)?,
                p95_ms: self.number(row, p95, Kind::Millis)?,
                p99_ms: self.number(row, p99, Kind::Millis)?,
            };
            run.labels.push((label, figures.label_run()));
        }
        Ok(run)
    }

    /// Taurus's final-stats `dump-csv` (suite's `report::csv::write_final_stats` writes the same):
    /// `label` (empty for the overall row), the KPIs, `perc_<level>`; times in seconds;
    /// `throughput` is the sample count (see [`taurus_hits`]). It holds no duration, so no rate.
    fn taurus(&self) -> Result<Run, ImportError> {
        let label = self.required("label")?;
        let col = |n: &str| self.column(n);
        let perc =
            |level: f64| self.header.iter().position(|h| h.strip_prefix("perc_").and_then(number) == Some(level));
        let (throughput, succ, fail, avg) = (col("throughput"), col("succ"), col("fail"), col("avg_rt"));
        let mut run = Run { load_secs: None, labels: Vec::new() };
        for row in &self.rows {
            let name = row.cells.get(label).cloned().unwrap_or_default();
            if run.labels.iter().any(|(l, _)| *l == name) {
                return Err(self.file.at(Position::line(row.line), format!("a second row of label `{name}`")));
            }
            let (t, s, f) = (self.count(row, throughput)?, self.count(row, succ)?, self.count(row, fail)?);
            let hits = taurus_hits(t, s, f).ok_or_else(|| {
                self.file.at(Position::line(row.line), "no `throughput` (the sample count), nor `succ` and `fail`")
            })?;
            let ms = |v: Option<f64>| v.map(|s| s * 1e3);
            let secs = |c: Option<usize>| self.number(row, c, Kind::Seconds).map(ms);
            let figures = Figures {
                hits,
                fail: f.unwrap_or(hits.saturating_sub(s.unwrap_or(hits))),
                throughput: None,
                avg_ms: secs(avg)?,
                p50_ms: secs(perc(50.0))?,
                p90_ms: secs(perc(90.0))?,
                p95_ms: secs(perc(95.0))?,
                p99_ms: secs(perc(99.0))?,
            };
            run.labels.push((name, figures.label_run()));
        }
        if !run.labels.iter().any(|(l, _)| l.is_empty()) {
            return Err(self.file.content("the overall row (the one with an empty `label`) is missing"));
        }
        Ok(run)
    }
}

/// A k6 summary: `--summary-export` (each metric's figures at its top: `{"count": …, "rate": …}`)
/// or the `handleSummary` data (under `values`, with `state.testRunDurationMs`).
struct K6<'a> {
    file: &'a File<'a>,
    metrics: &'a Map<String, Value>,
}

impl K6<'_> {
    /// A metric's figures: `name` alone for all requests, `name{name:<label>}` for a label.
    fn figures(&self, metric: &str, label: &str) -> Option<&Map<String, Value>> {
        let key = if label.is_empty() { metric.to_string() } else { format!("{metric}{{name:{label}}}") };
        let m = self.metrics.get(&key)?.as_object()?;
        match m.get("values").and_then(Value::as_object) {
            Some(values) => Some(values),
            None => Some(m),
        }
    }

    fn value(&self, metric: &str, label: &str, stat: &str, kind: Kind) -> Result<Option<f64>, ImportError> {
        let Some(v) = self.figures(metric, label).and_then(|f| f.get(stat)) else { return Ok(None) };
        let ok = v.as_f64().filter(|x| x.is_finite() && *x >= 0.0);
        let ok = match kind {
            Kind::Count => ok.filter(|x| x.fract() == 0.0),
            _ => ok,
        };
        ok.map(Some).ok_or_else(|| {
            let key = if label.is_empty() { metric.to_string() } else { format!("{metric}{{name:{label}}}") };
            self.file.content(format!("`metrics.{key}` has `{stat}` = {v}, expected {}", kind.expected()))
        })
    }

    /// The labels: the `name` tag of the submetrics of requests (`http_req_duration{name:foo}`).
    fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .metrics
            .keys()
            .filter_map(|k| {
                let (metric, tags) = k.split_once('{')?;
                let name = tags.strip_suffix('}')?.strip_prefix("name:")?;
                (["http_reqs", "http_req_duration", "http_req_failed"].contains(&metric) && !name.is_empty())
                    .then(|| name.to_string())
            })
            .collect();
        labels.sort();
        labels.dedup();
        labels
    }

    fn run(&self, root: &Value) -> Result<Run, ImportError> {
        if self.figures("http_reqs", "").is_none() && self.figures("http_req_failed", "").is_none() {
            return Err(self.file.content(
                "the k6 summary has neither `http_reqs` nor `http_req_failed`: it holds no HTTP requests to import",
            ));
        }
        // `handleSummary` gives the test's time; `--summary-export` only rates, `count / rate`.
        let duration_ms = root.pointer("/state/testRunDurationMs").and_then(Value::as_f64);
        let load_secs = match duration_ms.filter(|d| d.is_finite() && *d > 0.0) {
            Some(ms) => Some(ms / 1e3),
            None => {
                let count = self.value("http_reqs", "", "count", Kind::Count)?;
                let rate = self.value("http_reqs", "", "rate", Kind::Rate)?;
                match (count, rate) {
                    (Some(c), Some(r)) if c > 0.0 && r > 0.0 => Some(c / r),
                    _ => None,
                }
            }
        };
        let mut run = Run { load_secs, labels: Vec::new() };
        for label in self.labels().into_iter().chain([String::new()]) {
            let figures = self.label(&label, load_secs)?;
            run.labels.push((label, figures.label_run()));
        }
        Ok(run)
    }

    fn label(&self, label: &str, load_secs: Option<f64>) -> Result<Figures, ImportError> {
        // `http_req_failed` is a Rate of failed requests: its `passes` (the "true" values) are
        // the failed requests, `fails` the others, and its value (`value`, or `rate` under
        // `values`) the failure rate (k6 issues #2306, #2386).
        let failed = self.value("http_req_failed", label, "passes", Kind::Count)?;
        let ok = self.value("http_req_failed", label, "fails", Kind::Count)?;
        let count = self.value("http_reqs", label, "count", Kind::Count)?;
        let hits = count
            .or(failed.zip(ok).map(|(f, o)| f + o))
            .or(self.value("http_req_duration", label, "count", Kind::Count)?)
            .unwrap_or(0.0) as u64;
        let rate = self.value("http_reqs", label, "rate", Kind::Rate)?;
        let trend = |stat: &str| self.value("http_req_duration", label, stat, Kind::Millis);
        Ok(Figures {
            hits,
            fail: failed.unwrap_or(0.0) as u64,
            throughput: rate
                .filter(|_| count.is_some())
                .or(load_secs.filter(|_| count.is_some() || failed.is_some()).map(|s| hits as f64 / s)),
            avg_ms: trend("avg")?,
            p50_ms: match trend("med")? {
                Some(v) => Some(v),
                None => trend("p(50)")?,
            },
            p90_ms: trend("p(90)")?,
            p95_ms: trend("p(95)")?,
            p99_ms: trend("p(99)")?,
        })
    }
}

/// An XML element: name, attributes (unescaped), text, children, and where its start tag is.
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
    offset: usize,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn at(&self, file: &File) -> Position {
        Position::of_offset(file.text, self.offset)
    }
}

/// Reads a whole (small) XML file into [`Node`]s.
struct Dom;

impl Dom {
    fn read(file: &File) -> Result<Node, ImportError> {
        let mut reader = Reader::from_str(file.text);
        let malformed = |reader: &Reader<&[u8]>, e: &dyn fmt::Display| {
            let at = usize::try_from(reader.error_position()).unwrap_or(0);
            file.at(Position::of_offset(file.text, at), format!("malformed XML: {e}"))
        };
        let mut stack: Vec<Node> = Vec::new();
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(0);
            let event = reader.read_event().map_err(|e| malformed(&reader, &e))?;
            match event {
                Event::Start(start) => stack.push(Self::node(&start, before).map_err(|e| malformed(&reader, &e))?),
                Event::Empty(start) => {
                    let node = Self::node(&start, before).map_err(|e| malformed(&reader, &e))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Event::End(_) => {
                    let node = stack.pop().ok_or_else(|| malformed(&reader, &"an end tag without a start"))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        // What follows the root is not read: the figures are all in it.
                        None => return Ok(node),
                    }
                }
                Event::Text(t) => {
                    let s = t.decode().map_err(|e| malformed(&reader, &e))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&s);
                    }
                }
                Event::CData(c) => {
                    let s = c.decode().map_err(|e| malformed(&reader, &e))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&s);
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref().map_err(|e| malformed(&reader, &e))?.map(String::from)
                    } else {
                        let name = r.decode().map_err(|e| malformed(&reader, &e))?;
                        quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
                    };
                    let s = resolved.ok_or_else(|| {
                        malformed(&reader, &format!("unknown entity `&{};`", String::from_utf8_lossy(&r)))
                    })?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&s);
                    }
                }
                Event::Eof => {
                    return Err(match stack.last() {
                        Some(open) => {
                            file.at(open.at(file), format!("malformed XML: `<{}>` is never closed", open.name))
                        }
                        None => file.unknown("an XML file without a root element"),
                    })
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn node(start: &BytesStart, offset: usize) -> Result<Node, quick_xml::Error> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut attrs = Vec::new();
        for attr in start.attributes() {
            let attr = attr.map_err(quick_xml::Error::from)?;
            let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?.into_owned();
            attrs.push((key, value));
        }
        Ok(Node { name, attrs, text: String::new(), children: Vec::new(), offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{KpiSet, LabelSets, OVERALL};
    use crate::compare::Metric;
    use crate::sample::Sample;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn import_text(name: &str, text: &str) -> Result<Baseline, ImportError> {
        let dir = tempfile::tempdir().unwrap();
        import(&write(dir.path(), name, text), "api", Provenance::default())
    }

    fn only(b: &Baseline, label: &str) -> LabelRun {
        let runs = b.labels.get(label).unwrap_or_else(|| panic!("no label `{label}` in {:?}", b.labels.keys()));
        assert_eq!(runs.len(), 1);
        runs[0].clone()
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    const LOCUST: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n\
GET,/items,100,2,12,13.5,3.1,80.2,512.0,10.0,0.2,12,14,15,16,20,25,40,60,80,80,80\r\n\
GET,/login,40,0,30,31.25,20.0,50.0,100.0,4.0,0.0,30,31,32,33,40,45,48,50,50,50,50\r\n\
POST,/login,10,10,5,5.2,4.0,7.0,0.0,1.0,1.0,5,5,6,6,7,7,7,N/A,7,7,7\r\n\
,Aggregated,150,12,15,17.4,3.1,80.2,380.0,15.0,1.2,15,17,20,22,30,40,48,60,80,80,80\r\n";

    #[test]
    fn locust_stats_import_with_type_only_where_names_repeat() {
        let b = import_text("run_stats.csv", LOCUST).unwrap();
        assert_eq!(
            (b.source.as_str(), b.test.as_str(), b.schema.as_str()),
            ("locust", "api", super::super::baseline::SCHEMA)
        );
        assert_eq!(b.runs.len(), 1);
        assert_eq!(b.runs[0].run_id, "run_stats.csv");
        // 150 requests at 15.0/s: Locust's rate is over 10 s.
        assert!((b.runs[0].load_secs - 10.0).abs() < 1e-9);
        let keys: Vec<&str> = b.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "/items", "GET /login", "POST /login"]);
        let items = only(&b, "/items");
        assert_eq!((items.hits, items.fail, items.run), (100, 2, 0));
        assert!(close(items.throughput, 10.0) && close(items.fail_pct, 2.0) && close(items.avg_ms, 13.5));
        assert!(close(items.p50_ms, 12.0) && close(items.p90_ms, 20.0));
        assert!(close(items.p95_ms, 25.0) && close(items.p99_ms, 60.0));
        // Locust times failed requests too; an `N/A` cell is a missing value.
        let post = only(&b, "POST /login");
        assert_eq!((post.hits, post.fail, post.p99_ms), (10, 10, None));
        assert!(close(post.fail_pct, 100.0) && close(post.p95_ms, 7.0) && close(post.avg_ms, 5.2));
        let all = only(&b, "");
        assert_eq!((all.hits, all.fail), (150, 12));
        assert!(close(all.p95_ms, 40.0) && close(all.throughput, 15.0) && close(all.fail_pct, 8.0));
    }

    /// A `_stats.csv` written by suite's own Locust writer reads back as the figures it wrote.
    #[test]
    fn locust_stats_written_by_suite_round_trip() {
        fn set(samples: &[(u64, u16)]) -> KpiSet {
            let mut set = KpiSet::default();
            for &(rt_us, status) in samples {
                set.record(&Sample { bytes: 10, ..Sample::fake(rt_us, status) });
            }
            set
        }
        let a = set(&[(1000, 200), (3000, 200), (2000, 404)]);
        let b = set(&[(8_000, 200)]);
        let mut totals = LabelSets::new();
        let mut overall = KpiSet::default();
        overall.merge(&a);
        overall.merge(&b);
        totals.insert("zeta, \"q\"".into(), a);
        totals.insert("/ping".into(), b);
        totals.insert(OVERALL.into(), overall);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::report::locust::stats_file("api"));
        crate::report::locust::write_stats(&path, &totals, 2.0).unwrap();
        let imported = import(&path, "api", Provenance::default()).unwrap();
        assert_eq!(imported.runs[0].run_id, "api_stats.csv");
        assert!((imported.runs[0].load_secs - 2.0).abs() < 1e-9);
        let keys: Vec<&str> = imported.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "/ping", "zeta, \"q\""]);
        // `,"zeta, ""q""",3,1,2,2.0,1.0,3.001,17.66…,1.5,0.5,2,2,3,3,3,3,3,3,3,3,3`
        let zeta = only(&imported, "zeta, \"q\"");
        assert_eq!((zeta.hits, zeta.fail), (3, 1));
        assert!(close(zeta.throughput, 1.5) && close(zeta.avg_ms, 2.0) && close(zeta.p50_ms, 2.0));
        assert!(close(zeta.p95_ms, 3.0) && close(zeta.p99_ms, 3.0));
        let all = only(&imported, "");
        assert_eq!((all.hits, all.fail), (4, 1));
        assert!(close(all.throughput, 2.0) && close(all.avg_ms, 3.5) && close(all.p95_ms, 8.0));
        assert!(close(all.fail_pct, 25.0));

        // Without a load time suite writes rates of 0.0: no time is known, so no rate either.
        crate::report::locust::write_stats(&path, &totals, 0.0).unwrap();
        let imported = import(&path, "api", Provenance::default()).unwrap();
        assert_eq!(imported.runs[0].load_secs, 0.0);
        assert_eq!(only(&imported, "").throughput, None);
        // A test without requests: the Aggregated row of zeros and N/A.
        crate::report::locust::write_stats(&path, &LabelSets::new(), 0.0).unwrap();
        let empty = import(&path, "api", Provenance::default()).unwrap();
        let all = only(&empty, "");
        assert_eq!((all.hits, all.fail_pct, all.avg_ms, all.p50_ms, all.throughput), (0, None, None, None, None));
    }

    #[test]
    fn locust_errors_name_the_line_and_column() {
        let bad = LOCUST.replace(
            "GET,/login,40,0,30,31.25,20.0,50.0,100.0,4.0,0.0,30,31,32,33,40,45,",
            "GET,/login,40,0,30,31.25,20.0,50.0,100.0,4.0,0.0,30,31,32,33,40,abc,",
        );
        let e = import_text("x_stats.csv", &bad).unwrap_err().to_string();
        assert!(e.ends_with("x_stats.csv` line 3: column `95%` is `abc`, expected a number of milliseconds"), "{e}");
        let no_total = LOCUST.lines().take(3).collect::<Vec<_>>().join("\n");
        let e = import_text("x_stats.csv", &no_total).unwrap_err().to_string();
        assert!(e.contains("`Aggregated` row"), "{e}");
        let short = format!("{}GET,/x,1\r\n", LOCUST);
        let e = import_text("x_stats.csv", &short).unwrap_err().to_string();
        assert!(e.contains("line 6: the row has 3 cells, the header 22"), "{e}");
        let history = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Request Count,Failure Count\n";
        let e = import_text("x_stats_history.csv", history).unwrap_err();
        assert!(matches!(e, ImportError::UnknownFormat { .. }) && e.to_string().contains("_stats_history.csv"), "{e}");
    }

    /// The shape k6 1.x writes with `--summary-export` (trend stats at the top, a Rate as
    /// `passes`/`fails`/`value`), with a threshold-made submetric per name.
    const K6_EXPORT: &str = r#"{
  "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": [], "checks": []},
  "metrics": {
    "http_reqs": {"count": 200, "rate": 20.0},
    "http_req_duration": {"avg": 15.5, "min": 1.2, "med": 12.25, "max": 130.0, "p(90)": 30.0, "p(95)": 42.5, "thresholds": {"p(95)<500": false}},
    "http_req_failed": {"passes": 5, "fails": 195, "value": 0.025},
    "http_req_duration{name:login}": {"avg": 40.0, "min": 20.0, "med": 38.0, "max": 130.0, "p(90)": 60.0, "p(95)": 70.0, "p(99)": 120.0},
    "http_reqs{name:login}": {"count": 50, "rate": 5.0},
    "http_req_failed{name:login}": {"passes": 4, "fails": 46, "value": 0.08},
    "http_req_duration{expected_response:true}": {"avg": 15.0, "min": 1.2, "med": 12.0, "max": 130.0, "p(90)": 29.0, "p(95)": 41.0},
    "iterations": {"count": 100, "rate": 10.0},
    "vus": {"value": 2, "min": 2, "max": 2}
  }
}"#;

    #[test]
    fn k6_summary_export_imports_overall_and_named_submetrics() {
        let b = import_text("summary.json", K6_EXPORT).unwrap();
        assert_eq!((b.source.as_str(), b.runs[0].run_id.as_str()), ("k6", "summary.json"));
        assert!((b.runs[0].load_secs - 10.0).abs() < 1e-9, "200 requests at 20/s");
        let keys: Vec<&str> = b.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "login"], "only `name` submetrics are labels");
        let all = only(&b, "");
        // `passes` of http_req_failed are the failed requests.
        assert_eq!((all.hits, all.fail), (200, 5));
        assert!(close(all.fail_pct, 2.5) && close(all.throughput, 20.0) && close(all.avg_ms, 15.5));
        assert!(close(all.p50_ms, 12.25) && close(all.p90_ms, 30.0) && close(all.p95_ms, 42.5));
        assert_eq!(all.p99_ms, None, "no p(99) in the export");
        let login = only(&b, "login");
        assert_eq!((login.hits, login.fail), (50, 4));
        assert!(close(login.p99_ms, 120.0) && close(login.throughput, 5.0) && close(login.fail_pct, 8.0));
    }

    /// `handleSummary(data)`'s JSON: figures under `values`, the Rate's value as `rate`, and the
    /// test's time in `state`.
    #[test]
    fn k6_handle_summary_json_imports() {
        let text = r#"{
  "root_group": {"name": "", "path": "", "groups": [], "checks": []},
  "options": {"summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"], "summaryTimeUnit": "", "noColor": false},
  "state": {"isStdOutTTY": false, "isStdErrTTY": false, "testRunDurationMs": 8000.5},
  "metrics": {
    "http_reqs": {"type": "counter", "contains": "default", "values": {"count": 80, "rate": 9.99937503906}},
    "http_req_duration": {"type": "trend", "contains": "time", "values": {"avg": 5.0, "min": 1.0, "med": 4.0, "max": 50.0, "p(90)": 9.0, "p(95)": 11.0, "p(99)": 30.0}},
    "http_req_failed": {"type": "rate", "contains": "default", "values": {"rate": 0.0, "passes": 0, "fails": 80}}
  }
}"#;
        let b = import_text("k6-summary.json", text).unwrap();
        assert!((b.runs[0].load_secs - 8.0005).abs() < 1e-9);
        let all = only(&b, "");
        assert_eq!((all.hits, all.fail), (80, 0));
        assert!(
            close(all.fail_pct, 0.0) && close(all.p95_ms, 11.0) && close(all.p99_ms, 30.0) && close(all.p50_ms, 4.0)
        );
        assert!(all.throughput.is_some_and(|t| (t - 10.0).abs() < 1e-3));
        assert_eq!(b.labels.len(), 1);
    }

    #[test]
    fn k6_errors_say_what_is_wrong() {
        let e = import_text("s.json", "{\n  \"metrics\": {\n    \"http_reqs\": {\"count\": 1,,}\n}").unwrap_err();
        assert!(matches!(e, ImportError::At { at: Position { line: 3, column: Some(_) }, .. }), "{e}");
        assert!(e.to_string().contains("s.json` line 3, column"), "{e}");
        let e = import_text("s.json", r#"{"metrics": {"http_reqs": {"count": "many", "rate": 1}}}"#).unwrap_err();
        assert!(
            e.to_string().contains("`metrics.http_reqs` has `count` = \"many\", expected a whole number of requests"),
            "{e}"
        );
        let e = import_text("s.json", r#"{"metrics": {"iterations": {"count": 3, "rate": 1}}}"#).unwrap_err();
        assert!(e.to_string().contains("neither `http_reqs` nor `http_req_failed`"), "{e}");
        let e = import_text("s.json", r#"{"schema": "suite-baseline/1", "runs": []}"#).unwrap_err();
        assert!(
            matches!(e, ImportError::UnknownFormat { .. }) && e.to_string().contains("already a suite baseline"),
            "{e}"
        );
    }

    /// Trimmed from what Taurus 1.17.2 wrote with `dump-xml` (two labels and the overall group;
    /// rc and some percentiles left out); one KPI carries its value only in its `<value>` child.
    const TAURUS_XML: &str = r#"<?xml version='1.0' encoding='UTF-8'?>
<FinalStatus>
  <TestDuration>10.0</TestDuration>
  <Group label="http://127.0.0.1:18080/?a=1&amp;b=2">
    <throughput value="1540"><name>throughput</name><value>1540</value></throughput>
    <succ value="1540"><name>succ</name><value>1540</value></succ>
    <fail value="0"><name>fail</name><value>0</value></fail>
    <avg_rt value="0.00353"><name>avg_rt</name><value>0.00353</value></avg_rt>
    <perc value="0.00300" param="50.0"><name>perc/50.0</name><value>0.00300</value></perc>
    <perc value="0.00700" param="90.0"><name>perc/90.0</name><value>0.00700</value></perc>
    <perc value="0.00800" param="95.0"><name>perc/95.0</name><value>0.00800</value></perc>
    <perc param="99.0"><name>perc/99.0</name><value>0.01600</value></perc>
  </Group>
  <Group label="missing">
    <throughput value="1540"><name>throughput</name><value>1540</value></throughput>
    <succ value="0"><name>succ</name><value>0</value></succ>
    <fail value="1540"><name>fail</name><value>1540</value></fail>
    <avg_rt value="0.00253"><name>avg_rt</name><value>0.00253</value></avg_rt>
    <perc value="0.00700" param="95.0"><name>perc/95.0</name><value>0.00700</value></perc>
  </Group>
  <Group label="">
    <throughput value="3080"><name>throughput</name><value>3080</value></throughput>
    <concurrency value="2"><name>concurrency</name><value>2</value></concurrency>
    <succ value="1540"><name>succ</name><value>1540</value></succ>
    <fail value="1540"><name>fail</name><value>1540</value></fail>
    <avg_rt value="0.00303"><name>avg_rt</name><value>0.00303</value></avg_rt>
    <rc value="1540" param="200"><name>rc/200</name><value>1540</value></rc>
    <perc value="0.00200" param="50.0"><name>perc/50.0</name><value>0.00200</value></perc>
    <perc value="0.00800" param="95.0"><name>perc/95.0</name><value>0.00800</value></perc>
    <perc value="0.01500" param="99.0"><name>perc/99.0</name><value>0.01500</value></perc>
  </Group>
</FinalStatus>
"#;

    #[test]
    fn taurus_dump_xml_imports_counts_seconds_and_duration() {
        let b = import_text("fs.xml", TAURUS_XML).unwrap();
        assert_eq!((b.source.as_str(), b.runs[0].run_id.as_str(), b.runs[0].load_secs), ("taurus", "fs.xml", 10.0));
        let keys: Vec<&str> = b.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "http://127.0.0.1:18080/?a=1&b=2", "missing"]);
        let all = only(&b, "");
        // `throughput` is the sample count; the rate is that over `TestDuration`.
        assert_eq!((all.hits, all.fail), (3080, 1540));
        assert!(close(all.throughput, 308.0) && close(all.fail_pct, 50.0));
        assert!(close(all.avg_ms, 3.03) && close(all.p50_ms, 2.0) && close(all.p95_ms, 8.0) && close(all.p99_ms, 15.0));
        assert_eq!(all.p90_ms, None);
        let root = only(&b, "http://127.0.0.1:18080/?a=1&b=2");
        assert!(close(root.p99_ms, 16.0) && close(root.p90_ms, 7.0) && close(root.fail_pct, 0.0));
        let missing = only(&b, "missing");
        assert_eq!((missing.hits, missing.fail), (1540, 1540));
    }

    #[test]
    fn taurus_xml_errors_name_line_and_column() {
        let bad = TAURUS_XML.replace(r#"<avg_rt value="0.00253">"#, r#"<avg_rt value="fast">"#);
        let e = import_text("fs.xml", &bad).unwrap_err().to_string();
        assert!(e.ends_with("fs.xml` line 18, column 5: `<avg_rt>` is `fast`, expected a number of seconds"), "{e}");
        let e = import_text("fs.xml", "<FinalStatus>\n  <Group label=\"a\">\n</FinalStatus>").unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("malformed XML"), "{e}");
        let e = import_text("plan.jmx", "<jmeterTestPlan version=\"1.2\"/>").unwrap_err();
        assert!(matches!(e, ImportError::UnknownFormat { .. }), "{e}");
        assert!(
            e.to_string().contains("root element is `<jmeterTestPlan>`") && e.to_string().contains("Locust"),
            "{e}"
        );
    }

    #[test]
    fn taurus_dump_csv_imports_without_a_rate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/baselines/taurus-final-stats.csv");
        let b = import(&path, "api", Provenance::default()).unwrap();
        assert_eq!((b.source.as_str(), b.runs[0].run_id.as_str()), ("taurus", "taurus-final-stats.csv"));
        assert_eq!(b.runs[0].load_secs, 0.0, "dump-csv has no duration");
        let all = only(&b, "");
        assert_eq!((all.hits, all.fail, all.throughput), (1500, 500, None));
        assert!(close(all.p95_ms, 8.0) && close(all.p99_ms, 15.0) && close(all.avg_ms, 3.17) && close(all.p90_ms, 6.0));
        let missing = only(&b, "/nonexistent");
        assert_eq!((missing.hits, missing.fail), (500, 500));
        assert!(close(missing.fail_pct, 100.0));
        let bad = "label,avg_rt,fail,succ,throughput,perc_95.0\nx,0.1,0,3,3,0.2\n,0.1,0,-3,3,0.2\n";
        let e = import_text("fs.csv", bad).unwrap_err().to_string();
        assert!(e.ends_with("fs.csv` line 3: column `succ` is `-3`, expected a whole number of requests"), "{e}");
        let e = import_text("fs.csv", "label,avg_rt,fail,succ,throughput\nx,0.1,0,3,3\n").unwrap_err().to_string();
        assert!(e.contains("overall row"), "{e}");
    }

    /// suite's own final-stats CSV reads back.
    #[test]
    fn taurus_csv_written_by_suite_round_trips() {
        let mut a = KpiSet::default();
        for (status, rt) in [(200, 1000), (200, 3000), (404, 2000)] {
            a.record(&Sample::fake(rt, status));
        }
        let mut totals = LabelSets::new();
        totals.insert(OVERALL.into(), a.clone());
        totals.insert("a, b".into(), a);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::report::csv::FINAL_STATS_FILE);
        crate::report::csv::write_final_stats(&path, &totals).unwrap();
        let b = import(&path, "api", Provenance::default()).unwrap();
        let l = only(&b, "a, b");
        assert_eq!((l.hits, l.fail), (3, 1));
        assert!(close(l.avg_ms, 2.0));
        assert!(only(&b, "").p95_ms.is_some_and(|p| (p - 3.0).abs() < 0.01));
    }

    #[test]
    fn unknown_formats_say_what_is_accepted() {
        for (name, text) in [("a.csv", "x,y\n1,2\n"), ("e.txt", ""), ("j.json", "[1, 2]"), ("b.bin", "\u{0}\u{1}")] {
            let e = import_text(name, text).unwrap_err();
            assert!(matches!(e, ImportError::UnknownFormat { .. }), "{name}: {e}");
            assert!(e.to_string().contains(ACCEPTED), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let e = import(&dir.path().join("nope.csv"), "api", Provenance::default()).unwrap_err();
        assert!(matches!(e, ImportError::Read { .. }) && e.to_string().contains("nope.csv"), "{e}");
        // The content decides, not the name.
        let b = import_text("results.txt", K6_EXPORT).unwrap();
        assert_eq!(b.source, "k6");
    }

    /// One run on each side: the comparison works on the default noise model and says so.
    #[test]
    fn an_import_compares_on_the_default_noise_model() {
        let imported = import_text("run_stats.csv", LOCUST).unwrap();
        let c = crate::compare::compare_test(&imported, "file", &imported, &Default::default());
        assert!(!c.regressed(), "{:?}", c.rows);
        assert_eq!((c.baseline_runs, c.candidate_runs), (1, 1));
        assert!(c.notes.iter().any(|n| n.contains("default noise model")), "{:?}", c.notes);
        // (The fixture's few requests leave its tail percentiles without a verdict: the mean.)
        let avg = c.rows.iter().find(|r| r.label.is_empty() && r.metric == Metric::AvgRt).unwrap();
        assert!(!avg.measured_noise);
        assert!(avg.message().contains("default noise model"), "{}", avg.message());
    }
}
