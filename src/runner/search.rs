//! A capacity search's probes (`plan::search`): one test load whose phases are short stages at
//! one arrival rate each, every probe judged by the test's criteria on its own figures, the next
//! rate chosen from the verdicts (doubling, then bisecting), a pause after each.

use std::time::{Duration, Instant};

use super::load::Session;
use super::Interrupt;
use crate::aggregate::{LabelSets, OVERALL};
use crate::config::mask::Secrets;
use crate::criteria::{Criteria, Verdict};
use crate::engine::{self, Stop};
use crate::plan::search::{next_rate, Search};
use crate::plan::Plan;
use crate::report::capacity::{Capacity, Probe};
use crate::report::live::Live;
use crate::report::{TestArtifacts, TestReport};

/// A probe fails when it sends less than this share of its rate: the generator (`max-vus`) or
/// the server could not keep up, so the rate was not shown to hold.
const MIN_ACHIEVED: f64 = 0.9;

/// What a search leaves besides the figures in `report`: its result, and the verdicts the test
/// is judged by (the knee's probe, else the lowest rate's).
pub(super) struct Searched {
    pub capacity: Capacity,
    pub verdicts: Vec<Verdict>,
}

/// Runs the probes of `search` (its execution's load is set for each one) and puts what was
/// measured into `report`.
pub(super) async fn run(
    plan: &mut Plan,
    search: &Search,
    secrets: &Secrets,
    out: &TestArtifacts,
    interrupt: &Interrupt,
    live: &Live,
    report: &mut TestReport,
) -> (Result<(), String>, Searched) {
    let mut capacity = Capacity {
        low: search.low,
        high: search.high,
        precision: search.precision,
        required: search.required,
        ..Capacity::default()
    };
    let mut session = match Session::start(plan, secrets, out, live, report, None) {
        Ok(session) => session,
        Err(e) => return (Err(e), Searched { capacity, verdicts: Vec::new() }),
    };
    let (mut passed, mut failed) = (None, None);
    let (mut knee_verdicts, mut lowest_verdicts) = (None, None);
    let mut whole = Criteria::new(plan.criteria.clone());
    // Failed attempts at the rate being probed.
    let mut attempts = 0;
    let mut next = next_rate(search, passed, failed);
    while let Some(rate) = next {
        if interrupt.count() > 0 {
            capacity.cut_short = Some("interrupted".into());
            break;
        }
        if capacity.probes.len() as u32 >= search.max_probes {
            capacity.cut_short = Some(format!("`max-probes` ({}) reached before the precision", search.max_probes));
            break;
        }
        let (probe, verdicts) = probe(&mut session, plan, search, rate, interrupt).await;
        crate::outln!("{}", crate::report::console::probe_line(capacity.probes.len() + 1, &probe));
        // A probe cut by Ctrl-C says nothing about its rate: kept, but not judged.
        if interrupt.count() > 0 {
            capacity.probes.push(probe);
            capacity.cut_short = Some("interrupted".into());
            break;
        }
        // A rate the load could not even send is over capacity, whatever a retry would say.
        let overloaded = probe.achieved < rate * MIN_ACHIEVED;
        if probe.passed {
            passed = Some(rate);
            capacity.knee = Some(rate);
            knee_verdicts = Some(verdicts);
            attempts = 0;
            next = next_rate(search, passed, failed);
        } else if attempts < search.retries && !overloaded {
            attempts += 1;
        } else {
            failed = Some(rate);
            capacity.failed_at = Some(rate);
            if passed.is_none() {
                lowest_verdicts = Some(verdicts);
            }
            attempts = 0;
            next = next_rate(search, passed, failed);
        }
        capacity.probes.push(probe);
        if !session.ctx.errors.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
            capacity.cut_short = Some("an error stopped the search".into());
            break;
        }
    }
    let result = session.finish(&mut whole, report).await;
    let verdicts = knee_verdicts.or(lowest_verdicts).unwrap_or_default();
    (result, Searched { capacity, verdicts })
}

/// One probe at `rate`: its load, then the pause that closes its last second; its figures and
/// the verdicts of its criteria.
async fn probe(
    session: &mut Session,
    plan: &mut Plan,
    search: &Search,
    rate: f64,
    interrupt: &Interrupt,
) -> (Probe, Vec<Verdict>) {
    let start = session.elapsed();
    let load = &mut plan.executions[search.execution].load;
    load.throughput = Some(rate);
    load.ramp_up = Duration::ZERO;
    load.hold_for = search.probe;
    load.iterations = None;
    // The engine schedules from the test's start: the probe starts now.
    load.delay = start;
    // A stop of its own: a criterion that stops a probe ends that probe, not the search.
    let ctx = engine::Context { stop: Stop::new(), ..session.ctx.clone() };
    let mut criteria = Criteria::new(plan.criteria.clone());
    criteria.set_origin(start.as_secs() as f64);
    let mut own = LabelSets::new();
    session.phase(&plan.executions, &ctx, &mut criteria, Some(&mut own), interrupt).await;
    let secs = (session.elapsed() - start).as_secs_f64().max(search.probe.as_secs_f64());
    session.idle(Instant::now() + search.cool_down, &ctx, &mut criteria, Some(&mut own), interrupt).await;
    let verdicts = criteria.finish(&own);
    let empty = Default::default();
    let set = own.get(OVERALL).unwrap_or(&empty);
    let ms = |v: Option<f64>| v.map(|s| s * 1000.0);
    let achieved = set.hits as f64 / secs;
    let mut failed: Vec<String> = verdicts.iter().filter(|v| v.fails_run()).map(|v| v.name.clone()).collect();
    if achieved < rate * MIN_ACHIEVED {
        failed.push(format!("sent {achieved:.1} of {rate} requests/s: the load did not keep up (see max-vus)"));
    }
    if interrupt.count() > 0 {
        failed.push("interrupted".into());
    }
    let probe = Probe {
        rate,
        achieved,
        start_secs: start.as_secs_f64(),
        secs,
        hits: set.hits,
        fail: set.fail,
        avg_ms: ms(set.avg_rt()),
        p50_ms: ms(set.percentile(50.0)),
        p90_ms: ms(set.percentile(90.0)),
        p95_ms: ms(set.percentile(95.0)),
        p99_ms: ms(set.percentile(99.0)),
        passed: failed.is_empty(),
        failed,
    };
    (probe, verdicts)
}
