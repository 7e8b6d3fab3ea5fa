//! Thread groups to executions, with Taurus's rules for the load of an existing plan
//! (taurus-executors.md §1.3, §1.4).
//!
//! - When the execution gives none of `concurrency`, `iterations`, `ramp-up` + `hold-for`, the
//!   plan's own thread groups run as written (Taurus's skip rule).
//! - Otherwise every enabled top-level `ThreadGroup` is rebuilt: users from `concurrency` split
//!   in proportion to the groups' own `num_threads` (or the group's own when absent), ramp-up
//!   from the execution (else the group's), iterations from the execution (else forever when
//!   there is a duration, else 1), hold-for from the execution. `throughput` is a cap on the
//!   whole plan, shared out in proportion to users; `steps` as for YAML executions.
//! - setUp and tearDown groups keep their own settings.
//!
//! Fixed on purpose (README): Taurus rounds each group's share half-to-even with a minimum of 1
//! and no remainder fix-up, so `concurrency: 5` over two equal groups runs 4 users; here the
//! shares always add up to `concurrency` (largest remainder), still at least 1 per group.
//! Weights are the groups' `num_threads` as the plan would run them (properties applied), where
//! Taurus reads the `__P` default even when the property is set.

use std::sync::Arc;
use std::time::Duration;

use super::Lower;
use crate::config::model::Execution;
use crate::config::source::Span;
use crate::plan::build::limits::MAX_VUS;
use crate::plan::jmx::model::{GroupKind, OnError as JmxOnError, ThreadGroup};
use crate::plan::jmx::{Kind, Node};
use crate::plan::scenario::OnError;
use crate::plan::{ExecutionPlan, Load};

/// A thread group's load as the plan writes it.
struct Own {
    users: u32,
    ramp: Duration,
    /// `None`: forever.
    loops: Option<u64>,
    /// Scheduler duration (zero: none).
    duration: Duration,
    delay: Duration,
}

impl Lower<'_, '_> {
    /// Variables of `TestPlan` and of every `Arguments` element, in file order, evaluated once
    /// (JMeter processes them all at the start, wherever they are).
    pub(super) fn user_defined_variables(&mut self) {
        let plan = self.plan.clone();
        let mut args = Vec::new();
        for node in plan.walk() {
            match &node.kind {
                Kind::TestPlan(tp) => args.extend(tp.variables.iter()),
                Kind::Arguments(list) => args.extend(list.iter()),
                _ => {}
            }
        }
        for arg in args {
            let name = self.start_value(&arg.name);
            let value = self.start_value(&arg.value);
            self.variables.retain(|(n, _)| *n != name);
            self.variables.push((name, value));
        }
    }

    /// One execution per enabled top-level thread group, staged setUp → main → tearDown.
    pub(super) fn executions(&mut self, e: &Execution, span: Span) -> Vec<(ExecutionPlan, Span)> {
        let plan = self.plan.clone();
        let Some(test_plan) = plan.test_plan() else { return Vec::new() };
        let serialize = matches!(&test_plan.kind, Kind::TestPlan(tp) if tp.serialize_threadgroups);
        let teardown_on_shutdown = matches!(&test_plan.kind, Kind::TestPlan(tp) if tp.teardown_on_shutdown);
        let groups: Vec<(&Node, &ThreadGroup)> = test_plan
            .children
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::ThreadGroup(tg) => Some((n, tg)),
                _ => None,
            })
            .collect();
        if !groups.iter().any(|(_, tg)| tg.kind == GroupKind::Normal) {
            self.error_help(
                test_plan.meta.span,
                format!("JMeter plan `{}` has no enabled `ThreadGroup`: nothing would be sent", plan.path.display()),
                "enable a thread group in the plan",
            );
            return Vec::new();
        }
        for n in &test_plan.children {
            if matches!(n.kind, Kind::Http(_) | Kind::TestAction(_) | Kind::Controller(_)) {
                self.warn(
                    n.meta.span,
                    format!(
                        "`{}` \"{}\" is outside any thread group and never runs (as in JMeter)",
                        n.meta.testclass, n.meta.name.value
                    ),
                );
            }
        }
        let owns: Vec<Option<Own>> = groups.iter().map(|(n, tg)| self.own(n, tg)).collect();
        let main: Vec<usize> = (0..groups.len()).filter(|i| groups[*i].1.kind == GroupKind::Normal).collect();

        let duration = |t: &Option<crate::config::de::Spanned<crate::config::value::TimeValue>>| {
            t.as_ref().map(|t| t.0).unwrap_or_default()
        };
        let (ramp_up, hold_for) = (e.ramp_up.as_ref().map(|t| t.0), duration(&e.hold_for));
        let total = ramp_up.unwrap_or_default() + hold_for;
        let concurrency = e.concurrency.as_ref().map(|c| c.0);
        let iterations = e.iterations.as_ref().map(|n| n.0).filter(|n| *n > 0);
        // Taurus's skip rule: nothing that rebuilds the groups, the plan runs as written.
        let rebuild = concurrency.is_some_and(|c| c > 0) || iterations.is_some() || !total.is_zero();
        if e.throughput.is_some() && !rebuild {
            if let Some(t) = &e.throughput {
                self.warn(t.span, "`throughput` on a JMeter plan needs `concurrency`, `iterations` or a duration (as in Taurus); ignored");
            }
        }
        let weights: Vec<u64> = main.iter().map(|i| owns[*i].as_ref().map_or(1, |o| u64::from(o.users))).collect();
        let shares = match concurrency.filter(|_| rebuild) {
            Some(c) => split(c, &weights),
            None => weights.clone(),
        };
        let share_total: u64 = shares.iter().sum();
        let throughput = e.throughput.as_ref().map(|t| t.0).filter(|t| *t > 0.0 && rebuild);
        let steps = e.steps.as_ref().map_or(0, |s| u32::try_from(s.0).unwrap_or(u32::MAX));

        let mut out = Vec::new();
        let setups = groups.iter().any(|(_, tg)| tg.kind == GroupKind::Setup);
        let first_main = u32::from(setups);
        let main_stages = if serialize { u32::try_from(main.len()).unwrap_or(1) } else { 1 };
        for (i, ((node, tg), own)) in groups.iter().zip(&owns).enumerate() {
            let Some(own) = own else { continue };
            let (load, stage) = match tg.kind {
                GroupKind::Setup => (own_load(own), 0),
                GroupKind::TearDown => (own_load(own), first_main + main_stages),
                GroupKind::Normal => {
                    let k = main.iter().position(|m| *m == i).unwrap_or(0);
                    let stage = first_main + if serialize { u32::try_from(k).unwrap_or(0) } else { 0 };
                    if !rebuild {
                        (own_load(own), stage)
                    } else {
                        let users = shares[k];
                        if users == 0 {
                            continue;
                        }
                        let load = Load {
                            concurrency: u32::try_from(users).unwrap_or(u32::MAX),
                            ramp_up: ramp_up.unwrap_or(own.ramp),
                            hold_for,
                            iterations,
                            steps,
                            throughput: throughput.map(|t| t * users as f64 / share_total.max(1) as f64),
                            delay: own.delay,
                            max_vus: None,
                            segment: None,
                        };
                        (load, stage)
                    }
                }
            };
            let mut load = load;
            // Taurus's execution `delay` comes before the group's own.
            load.delay += e.delay.as_ref().map(|d| d.0).unwrap_or_default();
            if u64::from(load.concurrency) > MAX_VUS {
                self.error_help(
                    tg.num_threads.span,
                    format!(
                        "thread group \"{}\" runs {} users; suite runs at most {MAX_VUS}",
                        node.meta.name.value, load.concurrency
                    ),
                    "see docs/limits.md",
                );
                continue;
            }
            let Some(scenario) = self.thread_group(test_plan, node, tg, load.concurrency) else { continue };
            let after_stop = tg.kind == GroupKind::TearDown && teardown_on_shutdown;
            let driver = crate::plan::Driver::Scenario(Arc::new(scenario));
            let plan = ExecutionPlan { load, driver, track: 0, stage, after_stop };
            out.push((
                plan,
                if tg.kind == GroupKind::Normal { e.concurrency.as_ref().map_or(span, |c| c.span) } else { span },
            ));
        }
        out
    }

    /// The group's own load, read as JMeter reads it at the start.
    fn own(&mut self, node: &Node, tg: &ThreadGroup) -> Option<Own> {
        let meta = &node.meta;
        let users = self.start_int(&tg.num_threads, "`ThreadGroup.num_threads`", meta).unwrap_or(1);
        let ramp = self.start_int(&tg.ramp_time, "`ThreadGroup.ramp_time`", meta).unwrap_or(0);
        let loops = self.start_int(&tg.loops, "`LoopController.loops`", meta).unwrap_or(1);
        let (mut duration, mut delay) = (0, 0);
        if tg.scheduler {
            duration = self.start_int(&tg.duration, "`ThreadGroup.duration`", meta).unwrap_or(0);
            delay = self.start_int(&tg.delay, "`ThreadGroup.delay`", meta).unwrap_or(0);
        }
        if users < 0 || ramp < 0 || duration < 0 || delay < 0 {
            self.error(
                meta.span,
                format!("thread group \"{}\" has a negative number of users or seconds", meta.name.value),
            );
            return None;
        }
        let secs = |n: i64| Duration::from_secs(n.unsigned_abs());
        Some(Own {
            users: u32::try_from(users).unwrap_or(u32::MAX),
            ramp: secs(ramp),
            loops: (!tg.continue_forever && loops >= 0).then_some(loops.unsigned_abs()),
            duration: secs(duration),
            delay: secs(delay),
        })
    }
}

/// A thread group as written: `ramp_time` then the rest of the scheduler's duration; loops,
/// forever (until the duration ends, or for ever without one).
fn own_load(own: &Own) -> Load {
    let ramp_up = if own.duration.is_zero() { own.ramp } else { own.ramp.min(own.duration) };
    let hold_for = own.duration.saturating_sub(ramp_up);
    let iterations = match own.loops {
        Some(n) => Some(n),
        None if own.duration.is_zero() => Some(u64::MAX),
        None => None,
    };
    Load {
        concurrency: own.users,
        ramp_up,
        hold_for: if own.duration.is_zero() { Duration::ZERO } else { hold_for },
        iterations,
        steps: 0,
        throughput: None,
        delay: own.delay,
        max_vus: None,
        segment: None,
    }
}

/// `total` users shared in proportion to `weights`, adding up to `total`: each group gets the
/// whole part of its share, the rest go to the largest remainders; a group with weight gets at
/// least one user (so the sum is more than `total` only when there are more groups than users).
pub(super) fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u64 = weights.iter().sum();
    if sum == 0 {
        return weights.iter().map(|_| 0).collect();
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * *w as f64 / sum as f64).collect();
    let mut shares: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total.saturating_sub(shares.iter().sum());
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        if weights[i] > 0 {
            shares[i] += 1;
            left -= 1;
        }
    }
    for (share, w) in shares.iter_mut().zip(weights) {
        if *w > 0 && *share == 0 {
            *share = 1;
        }
    }
    shares
}

/// JMeter's `on_sample_error` in the plan's terms.
pub(super) fn on_error(e: JmxOnError) -> OnError {
    match e {
        JmxOnError::Continue => OnError::Continue,
        JmxOnError::StartNextLoop => OnError::NextIteration,
        JmxOnError::StopThread => OnError::StopUser,
        JmxOnError::StopTest => OnError::StopTest,
        JmxOnError::StopTestNow => OnError::StopTestNow,
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn shares_add_up_and_follow_the_weights() {
        assert_eq!(split(30, &[1, 2]), vec![10, 20]);
        assert_eq!(split(5, &[1, 1]), vec![3, 2]);
        assert_eq!(split(7, &[1, 1]), vec![4, 3]);
        assert_eq!(split(76, &[2, 3, 4, 1, 1]), vec![14, 21, 27, 7, 7]);
        assert_eq!(split(1, &[5, 5]), vec![1, 1]);
        assert_eq!(split(10, &[0, 3]), vec![0, 10]);
        assert_eq!(split(10, &[10, 10, 10]).iter().sum::<u64>(), 10);
    }
}
