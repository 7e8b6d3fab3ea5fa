//! `suite merge`: the run folders of a split run's segments (`suite run --segment`) made one
//! run, as if one machine had sent the whole load.
//!
//! Each segment streamed its seconds (per label: counters and HDR histograms) to
//! `seconds.jsonl`. Second `k` of every segment's test is added into second `k` of the merged
//! test, histograms merged value by value, so every percentile of the merge is the percentile of
//! all samples (HDR merges are lossless). The criteria, read again from the config the segment
//! ran (`effective.yml`), then judge the merged seconds in order, with their timeframes, as the
//! runner judges a live test; monitoring (the server's, which every segment watched) comes from
//! the first segment that has it. The merged folder is an ordinary run folder: `suite report`,
//! `suite compare` and baselines read it like any other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::baseline::{self, Found};
use crate::aggregate::{KpiSet, LabelSets, Second, OVERALL};
use crate::cli::MergeArgs;
use crate::compare::Baseline;
use crate::config::{self, mask::Secrets, LoadOptions};
use crate::criteria::Criteria;
use crate::monitoring::Event;
use crate::outcome::Outcome;
use crate::plan;
use crate::report::store::{self, RunHead, MONITORING_FILE, SECONDS_FILE};
use crate::report::{
    console, Completion, CriterionRow, RunArtifacts, RunReport, SegmentInfo, TestArtifacts, TestReport,
};

/// How deep below a folder given to `suite merge` segment run folders are looked for.
const SEARCH_DEPTH: usize = 3;
/// How often `--wait` looks again.
const POLL: Duration = Duration::from_secs(2);

/// `suite merge`: the merged run's outcome (its exit code, as `suite run`'s).
pub fn merge(args: MergeArgs) -> Outcome {
    match run(&args) {
        Ok(outcome) => outcome,
        Err(e) => {
            crate::errln!("error: {e:#}");
            Outcome::Error
        }
    }
}

/// One segment's run folder, as its `run.json` says (its tests are read once it is merged).
struct Segment {
    dir: PathBuf,
    head: RunHead,
    info: SegmentInfo,
}

impl Segment {
    /// The whole run: every test folder read.
    fn read(&self) -> anyhow::Result<RunReport> {
        store::load_run(&self.dir).with_context(|| format!("cannot read `{}`", self.dir.display()))
    }
}

/// Why the segments cannot be merged yet: something missing or unfinished (`--wait` waits for
/// it, `--allow-partial` goes on without it) or wrong for good.
enum NotReady {
    Pending(Vec<String>),
    Wrong(anyhow::Error),
}

fn run(args: &MergeArgs) -> anyhow::Result<Outcome> {
    let wait = match &args.wait {
        Some(text) => Duration::from_secs_f64(
            config::duration::dehumanize(text).map_err(|e| anyhow::anyhow!("--wait `{text}`: {e}"))?,
        ),
        None => Duration::ZERO,
    };
    let deadline = Instant::now() + wait;
    if args.follow {
        follow(&args.dirs, args.wait.is_some().then_some(deadline))?;
    }
    let mut said = None;
    let (segments, pending) = loop {
        match find(&args.dirs) {
            Ok(found) => break (found, Vec::new()),
            Err(NotReady::Wrong(e)) => return Err(e),
            Err(NotReady::Pending(why)) if Instant::now() < deadline => {
                if said.as_ref() != Some(&why) {
                    crate::errln!("waiting for the segments: {}", why.join("; "));
                    said = Some(why);
                }
                std::thread::sleep(POLL);
            }
            Err(NotReady::Pending(why)) if args.allow_partial => match present(&args.dirs) {
                Ok(found) if !found.is_empty() => break (found, why),
                Ok(_) => anyhow::bail!("no finished segment to merge: {}", why.join("; ")),
                Err(e) => return Err(e),
            },
            Err(NotReady::Pending(why)) => anyhow::bail!(
                "cannot merge: {} (--allow-partial merges the segments that are there{})",
                why.join("; "),
                if args.wait.is_none() { ", --wait waits for the others" } else { "" }
            ),
        }
    };
    write(args, &segments, &pending)
}

/// Every segment of one split run, each exactly once and finished; or what is missing.
fn find(dirs: &[PathBuf]) -> Result<Vec<Segment>, NotReady> {
    let segments = read_all(dirs)?;
    let first = &segments[0].info;
    let mut pending = Vec::new();
    for index in 1..=first.count {
        if !segments.iter().any(|s| s.info.index == index) {
            pending.push(format!("segment {index}/{} is missing", first.count));
        }
    }
    for s in segments.iter().filter(|s| s.head.exit_code.is_none()) {
        pending.push(format!("segment {} (`{}`) has not finished", s.info.share, s.dir.display()));
    }
    if pending.is_empty() {
        Ok(segments)
    } else {
        Err(NotReady::Pending(pending))
    }
}

/// The finished segments there are (for `--allow-partial`).
fn present(dirs: &[PathBuf]) -> anyhow::Result<Vec<Segment>> {
    match read_all(dirs) {
        Ok(all) => Ok(all.into_iter().filter(|s| s.head.exit_code.is_some()).collect()),
        Err(NotReady::Pending(_)) => Ok(Vec::new()),
        Err(NotReady::Wrong(e)) => Err(e),
    }
}

/// Reads every segment run folder under `dirs`, checked to be segments of one run, none twice,
/// in segment order; a folder with no run in it yet is pending.
fn read_all(dirs: &[PathBuf]) -> Result<Vec<Segment>, NotReady> {
    let mut found = Vec::new();
    let mut empty = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(NotReady::Pending(vec![format!("`{}` is not there (yet)", dir.display())]));
        }
        let before = found.len();
        run_folders(dir, SEARCH_DEPTH, &mut found);
        if found.len() == before {
            empty.push(format!("no run folder (with a run.json) in `{}` yet", dir.display()));
        }
    }
    if !empty.is_empty() {
        return Err(NotReady::Pending(empty));
    }
    check(found).map_err(NotReady::Wrong)
}

/// The segments of the run folders `found`, checked to be of one run, none twice, in order.
fn check(found: Vec<PathBuf>) -> anyhow::Result<Vec<Segment>> {
    let mut segments: Vec<Segment> = Vec::new();
    for dir in found {
        let head = store::run_head(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
        let Some(info) = head.segment.clone() else {
            anyhow::bail!("`{}` is not a segment of a split run (it ran without --segment)", dir.display());
        };
        if let Some(twin) = segments.iter().find(|s| s.info.index == info.index) {
            anyhow::bail!("segment {} appears twice: `{}` and `{}`", info.share, twin.dir.display(), dir.display());
        }
        if let Some(other) = segments.first() {
            let o = &other.info;
            let differs = if o.suite != info.suite {
                Some("test files, overrides or environment")
            } else if (o.count, &o.sequence) != (info.count, &info.sequence) {
                Some("segment sequence")
            } else if o.start_at != info.start_at {
                Some("--start-at")
            } else {
                None
            };
            if let Some(what) = differs {
                anyhow::bail!(
                    "`{}` (segment {}) and `{}` (segment {}) are segments of different runs: their {what} differ",
                    other.dir.display(),
                    o.share,
                    dir.display(),
                    info.share
                );
            }
        }
        segments.push(Segment { dir, head, info });
    }
    segments.sort_by_key(|s| s.info.index);
    Ok(segments)
}

/// `--follow`: prints each merged second once every segment that is still running this test has
/// written it, until every segment is there and finished (or `deadline`).
fn follow(dirs: &[PathBuf], deadline: Option<Instant>) -> anyhow::Result<()> {
    // Per test: the next second to print, and the figures printed so far.
    let mut shown: BTreeMap<String, (u64, KpiSet)> = BTreeMap::new();
    loop {
        let segments = match read_all(dirs) {
            Ok(segments) => segments,
            Err(NotReady::Wrong(e)) => return Err(e),
            Err(NotReady::Pending(_)) => Vec::new(),
        };
        let count = segments.first().map_or(0, |s| s.info.count);
        for test in segments.first().map(|s| s.head.tests.as_slice()).unwrap_or_default() {
            let name = &test.name;
            let merged = merged_seconds(name, &segments);
            // A second is whole once every segment still running this test is past it.
            let all_there = segments.len() == count;
            let ready = segments
                .iter()
                .zip(&merged.ends)
                .filter(|(s, _)| s.head.exit_code.is_none() && !store::test_ended(&s.dir.join(name)))
                .map(|(_, end)| *end)
                .min()
                .unwrap_or(u64::MAX);
            let ready = if all_there { ready } else { 0 };
            let (next, cumulative) = shown.entry(name.clone()).or_insert_with(|| (0, KpiSet::default()));
            for (ts, second) in merged.seconds.range(*next..ready) {
                let empty = KpiSet::default();
                let current = second.current.get(OVERALL).unwrap_or(&empty);
                cumulative.merge(current);
                let label = format!("{name} [merged {}/{count}]", segments.len());
                crate::outln!("{}", console::progress(&label, ts + 1, None, second.users, current, cumulative));
                *next = ts + 1;
            }
        }
        if find(dirs).is_ok() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One test's seconds over the segments.
struct Merged {
    /// Second `k` of every segment added into second `k`.
    seconds: BTreeMap<u64, Second>,
    /// Per segment, in the order given: how many seconds it has written (its last + 1).
    ends: Vec<u64>,
    /// What could not be read.
    notes: Vec<String>,
}

/// Test `name`'s seconds merged over `segments`.
fn merged_seconds<'a>(name: &str, segments: impl IntoIterator<Item = &'a Segment>) -> Merged {
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    let (mut ends, mut notes) = (Vec::new(), Vec::new());
    for s in segments {
        let path = s.dir.join(name).join(SECONDS_FILE);
        let mut end = 0;
        if !path.is_file() {
            ends.push(end);
            continue;
        }
        let read = store::each_timed_second(&path, |second| {
            end = end.max(second.ts + 1);
            match seconds.get_mut(&second.ts) {
                Some(merged) => {
                    merged.unix_ts = merged.unix_ts.min(second.unix_ts);
                    merged.users += second.users;
                    for (label, set) in &second.current {
                        merged.current.entry(label.clone()).or_default().merge(set);
                    }
                }
                None => {
                    seconds.insert(second.ts, second);
                }
            }
        });
        if let Err(e) = read {
            notes.push(format!("segment {}: {e}", s.info.share));
        }
        ends.push(end);
    }
    Merged { seconds, ends, notes }
}

/// Run folders (those with a `run.json`) at or below `dir`, `depth` levels down at most;
/// symbolic links below `dir` (the `latest` link) are not followed.
fn run_folders(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join(store::RUN_FILE).is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut dirs: Vec<PathBuf> =
        entries.filter_map(Result::ok).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect();
    dirs.sort();
    for d in dirs.into_iter().filter(|_| depth > 0) {
        run_folders(&d, depth - 1, out);
    }
}

/// Writes the merged run: each test of the first segment, merged over the segments.
fn write(args: &MergeArgs, segments: &[Segment], pending: &[String]) -> anyhow::Result<Outcome> {
    let first = &segments[0];
    let runs = segments.iter().map(Segment::read).collect::<anyhow::Result<Vec<RunReport>>>()?;
    let read: Vec<(&Segment, &RunReport)> = segments.iter().zip(&runs).collect();
    let mut run = RunArtifacts::create(&args.artifacts_dir, first.head.env_name.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot create the run folder {e}"))?;
    let shares: Vec<String> = segments.iter().map(|s| format!("{} ({})", s.info.share, s.dir.display())).collect();
    crate::outln!("suite {}: merging segments {}", env!("CARGO_PKG_VERSION"), shares.join(", "));
    let mut notes = vec![format!("merged from segments {}", shares.join(", "))];
    if !pending.is_empty() {
        let partial = format!("partial merge (--allow-partial): {}", pending.join("; "));
        crate::errln!("warning: {partial}");
        notes.push(partial);
    }
    let planned: Vec<(String, PathBuf)> =
        first.head.tests.iter().map(|t| (t.name.clone(), PathBuf::from(&t.file))).collect();
    // Each test (or matrix cell) with its repeats is one unit, compared with its baseline as a
    // whole; every baseline is read before anything is merged.
    let mut units: Vec<(String, Option<Found>)> = Vec::new();
    let options = baseline::options(&args.compare).map_err(anyhow::Error::msg)?;
    let source = args.baseline.as_deref().map(baseline::Source::parse);
    let history = super::History {
        env_name: first.head.env_name.as_deref(),
        artifacts_dir: &args.artifacts_dir,
        save_baseline: args.save_baseline.as_deref(),
    };
    for (name, _) in &planned {
        let unit = unit_of(name);
        if units.iter().any(|(u, _)| u == unit) {
            continue;
        }
        let found = match &source {
            Some(source) => Some(
                baseline::for_test(source, unit, &args.artifacts_dir, run.dir(), history.env_name)
                    .map_err(anyhow::Error::msg)?,
            ),
            None => None,
        };
        units.push((unit.to_string(), found));
    }
    run.begin(planned.iter().map(|(n, f)| (n.as_str(), f.as_path())));
    for (name, file) in &planned {
        crate::outln!("\n-- {name} ({})", file.display());
        let base = units.iter().find(|(u, _)| u == unit_of(name)).and_then(|(_, found)| match found {
            Some(Found::Baseline { baseline, .. }) => Some(baseline.as_ref()),
            _ => None,
        });
        let report = merge_test(name, file, &read, &run.test(name), &notes, base);
        crate::out!("{}", console::test_summary(run.finished(report)));
    }
    for (unit, found) in units {
        super::after_unit(&history, &mut run, &unit, found, &[], &options);
    }
    Ok(super::end(&mut run))
}

/// The unit a run folder belongs to: its name without the repeat (`api` for `api@2`).
fn unit_of(name: &str) -> &str {
    match name.rsplit_once('@') {
        Some((unit, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => unit,
        _ => name,
    }
}

/// One test merged over the segments that ran it, judged (relative thresholds against
/// `baseline`) and written to `out`.
fn merge_test(
    name: &str,
    file: &Path,
    segments: &[(&Segment, &RunReport)],
    out: &TestArtifacts,
    notes: &[String],
    baseline: Option<&Baseline>,
) -> TestReport {
    let ran: Vec<(&Segment, &TestReport)> = segments
        .iter()
        .filter_map(|(s, run)| run.tests.iter().find(|t| t.name == name).map(|t| (*s, t)))
        .filter(|(_, t)| t.completion != Completion::NotRun)
        .collect();
    let started = ran.iter().map(|(_, t)| t.started_unix).filter(|s| *s > 0).min().unwrap_or(0);
    let mut report = TestReport::new(name, file, started);
    report.notes.extend(notes.iter().cloned());
    let Some((first, _)) = ran.first() else {
        return TestReport::not_run(name, file, 0, "not run: no segment ran this test");
    };
    if let Err(e) = out.create() {
        return failed(report, format!("cannot create `{}`: {e}", out.dir().display()));
    }
    // What the test judges with, from the config the first segment ran.
    let effective = first.dir.join(name).join("effective.yml");
    let (plan::Judging { criteria: mut specs, junit }, secrets) = match judging(&effective) {
        Ok(judging) => judging,
        Err(e) => return failed(report, e),
    };
    if let Ok(text) = std::fs::read_to_string(&effective) {
        out.effective(&text);
    }
    baseline::resolve_criteria(&mut specs, baseline, &mut report.notes);
    for spec in &mut specs {
        for text in [&mut spec.label, &mut spec.text] {
            *text = secrets.masked(text);
        }
    }
    report.criteria = specs.iter().map(CriterionRow::pending).collect();
    out.running(&report);

    // Second k of every segment into second k of the merge.
    let Merged { seconds, notes: unread, .. } = merged_seconds(name, ran.iter().map(|(s, _)| *s));
    report.notes.extend(unread);
    let mut events: Vec<(f64, Event)> = Vec::new();
    if let Some((s, _)) = ran.iter().find(|(s, _)| s.dir.join(name).join(MONITORING_FILE).is_file()) {
        let path = s.dir.join(name).join(MONITORING_FILE);
        if let Err(e) = store::each_monitoring(&path, |ts, event| events.push((ts, event))) {
            report.notes.push(format!("segment {}: {e}", s.info.share));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut streams = match out.streams(!events.is_empty()) {
        Ok(streams) => streams,
        Err(e) => return failed(report, e),
    };
    let mut criteria = Criteria::new(specs);
    let (mut totals, mut judged) = (LabelSets::new(), None);
    let mut pending_events = events.into_iter().peekable();
    for second in seconds.values() {
        let end = (second.ts + 1) as f64;
        while let Some((ts, event)) = pending_events.next_if(|(ts, _)| *ts < end) {
            streams.monitoring(&event, ts);
            if judged.is_none() {
                let stop = match &event {
                    Event::Sample(m) => criteria.observe_monitoring(m.ts, &m.source, &m.values),
                    Event::Unavailable { source, reason } => {
                        criteria.source_unavailable(source, reason);
                        None
                    }
                };
                if let Some(stop) = stop {
                    judged = Some((second.ts, totals.clone(), format!("criterion {}", stop.describe())));
                }
            }
        }
        for (label, set) in &second.current {
            totals.entry(label.clone()).or_default().merge(set);
        }
        streams.second(second, second.users);
        if judged.is_none() {
            if let Some(stop) = criteria.observe(second.ts + 1, &second.current, &totals) {
                judged = Some((second.ts + 1, totals.clone(), format!("criterion {}", stop.describe())));
            }
        }
    }
    for (ts, event) in pending_events {
        streams.monitoring(&event, ts);
    }
    // A criterion that stops the test ends it where one machine would have stopped: the verdicts
    // are those of that moment; the segments, which cannot see each other, ran on, and what they
    // measured is kept in the figures.
    let verdicts = match &judged {
        Some((at, so_far, by)) => {
            let last = seconds.keys().next_back().map_or(0, |k| k + 1);
            if last > *at {
                report.notes.push(format!(
                    "{by} stopped the merged test at {at} s; the segments ran on to {last} s, and those seconds are in the figures but not in the verdicts"
                ));
            }
            report.stopped_by = Some(secrets.masked(by));
            criteria.finish(so_far)
        }
        None => criteria.finish(&totals),
    };
    report.totals = totals;
    report.sent = ran.iter().map(|(_, t)| t.sent).sum();
    report.load_secs = ran.iter().map(|(_, t)| t.load_secs).fold(0.0, f64::max);
    report.duration_secs = ran.iter().map(|(_, t)| t.duration_secs).fold(0.0, f64::max);
    // A segment's error or interruption is the merged test's: its figures are not the whole load.
    let errors: Vec<String> =
        ran.iter().filter_map(|(s, t)| t.error.as_ref().map(|e| format!("segment {}: {e}", s.info.share))).collect();
    let interrupted = ran.iter().any(|(_, t)| t.outcome == Outcome::Interrupted);
    let error = (!errors.is_empty()).then(|| errors.join("\n"));
    super::test::judge(&mut report, &verdicts, error, interrupted, &secrets);
    out.write(&report, None, &junit);
    report
}

/// The criteria and `junit-xml` reporters of a test's `effective.yml`, with its secrets.
fn judging(effective: &Path) -> Result<(plan::Judging, Secrets), String> {
    if !effective.is_file() {
        return Err(format!("`{}` is missing: the segment did not record the config it ran", effective.display()));
    }
    let opts = LoadOptions { files: vec![effective.to_path_buf()], overrides: Vec::new(), env: Vec::new() };
    let loaded = config::load(&opts).map_err(|diags| config::render_all(&opts, &diags))?;
    let secrets = Secrets::collect(&loaded.root);
    let judging = plan::judging(&loaded)
        .map_err(|diags| diags.iter().filter(|d| d.is_error()).map(|d| loaded.render(d)).collect::<String>())?;
    Ok((judging, secrets))
}

fn failed(mut report: TestReport, error: String) -> TestReport {
    crate::errln!("error: {}: {error}", report.name);
    report.outcome = Outcome::Error;
    report.error = Some(error);
    report
}
