//! `search:` in an execution: a capacity search over its arrival rate (`plan::search`).

use serde::Deserialize;

use super::Builder;
use crate::config::de::Spanned;
use crate::config::value::{Count, Rate, TimeValue};
use crate::config::{Node, NodeKind};
use crate::plan::search::{self, Search};
use crate::plan::{Driver, ExecutionPlan};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SearchConfig {
    throughput: Spanned<Vec<Spanned<Rate>>>,
    precision: Option<Spanned<Node>>,
    probe: Option<Spanned<TimeValue>>,
    cool_down: Option<Spanned<TimeValue>>,
    max_probes: Option<Spanned<Count>>,
    min_capacity: Option<Spanned<Rate>>,
    retries: Option<Spanned<Count>>,
}

const OPEN_ONLY: &str =
    "a capacity search varies the arrival rate: add `arrival-rate: true` (and `max-vus`) to the execution";

impl Builder<'_> {
    /// The search `node` of an execution planned as `plans` (`index`: the first one's place in the
    /// plan's executions).
    pub(super) fn search(
        &mut self,
        node: &Spanned<Node>,
        plans: &[(ExecutionPlan, crate::config::Span)],
        index: usize,
    ) -> Option<Search> {
        let config: SearchConfig = self.read(&node.value)?;
        let [plan] = plans else {
            self.error(
                node.span,
                "a capacity search needs one execution of HTTP requests, not a JMeter plan or a tool",
            );
            return None;
        };
        if !matches!(plan.0.driver, Driver::Scenario(_)) {
            self.error(
                node.span,
                "a capacity search runs suite's own engine: `executor: k6`/`locust` cannot vary their rate",
            );
            return None;
        }
        if !plan.0.load.is_open() {
            self.error_help(node.span, "a capacity search needs an open-model execution", OPEN_ONLY);
            return None;
        }
        let range = &config.throughput;
        let (low, high) = match range.value.as_slice() {
            [low, high] if low.0 > 0.0 && low.0 < high.0 => (low.0, high.0),
            _ => {
                self.error_help(
                    range.span,
                    "`throughput` is the range searched: [low, high], 0 < low < high requests/s",
                    "throughput: [50, 2000]",
                );
                return None;
            }
        };
        let precision = match &config.precision {
            None => search::PRECISION,
            Some(p) => match precision(&p.value) {
                Some(v) => v,
                None => {
                    self.error(p.span, "`precision` is a share above 0 and at most 50 %: `5%` or 0.05");
                    return None;
                }
            },
        };
        let time = |t: &Option<Spanned<TimeValue>>, default| t.as_ref().map_or(default, |t| t.0);
        let probe = time(&config.probe, search::PROBE);
        let cool_down = time(&config.cool_down, search::COOL_DOWN);
        if let Some(p) = config.probe.as_ref().filter(|_| probe < search::MIN_PROBE) {
            self.error(p.span, "a probe runs at least 1s: its criteria judge whole seconds");
        }
        if let Some(c) = config.cool_down.as_ref().filter(|_| cool_down < search::MIN_COOL_DOWN) {
            self.error(c.span, "`cool-down` is at least 1s: the probe's last second must close before the next probe");
        }
        let max_probes = match &config.max_probes {
            None => search::MAX_PROBES,
            Some(n) if (2..=u64::from(search::MAX_PROBES_LIMIT)).contains(&n.0) => n.0 as u32,
            Some(n) => {
                self.error(n.span, format!("`max-probes` is from 2 to {}", search::MAX_PROBES_LIMIT));
                return None;
            }
        };
        let required = config.min_capacity.as_ref().map(|r| r.0);
        let retries = match &config.retries {
            None => search::RETRIES,
            Some(n) if n.0 <= u64::from(search::MAX_RETRIES) => n.0 as u32,
            Some(n) => {
                self.error(n.span, format!("`retries` is from 0 to {}", search::MAX_RETRIES));
                return None;
            }
        };
        Some(Search { execution: index, low, high, precision, probe, cool_down, max_probes, required, retries })
    }
}

/// `5%` or `0.05`.
fn precision(node: &Node) -> Option<f64> {
    let value = match &node.kind {
        NodeKind::Str(s) => s.trim().strip_suffix('%')?.trim().parse::<f64>().ok()? / 100.0,
        NodeKind::Float(f) => *f,
        NodeKind::Int(_) => return None,
        _ => return None,
    };
    (value > 0.0 && value <= 0.5).then_some(value)
}
