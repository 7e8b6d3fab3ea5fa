//! Samplers, flow-control actions and logic controllers as Taurus `requests:` items and blocks
//! (`loop`, `once`, `transaction`, `if`, `while`, `action`), with the elements in scope of each.

use super::checks::Delay;
use super::tree::{Map, Seq};
use super::{is_step, ms_text, who, Comments, Converter, Scenario};
use crate::plan::jmx::model::*;

/// The elements that apply at a point of the tree: the non-step children of every level above
/// it, outermost first; the first `scenario` of them are written at scenario level.
#[derive(Clone)]
pub(super) struct Scope<'a> {
    pub(super) nodes: Vec<&'a Node>,
    scenario: usize,
}

impl<'a> Scope<'a> {
    /// The scope of the scenario's level.
    pub(super) fn new(level: &[&'a Node]) -> Self {
        Scope { nodes: level.to_vec(), scenario: level.len() }
    }

    /// This scope with the non-step `children` of one more level.
    pub(super) fn with(&self, children: &'a [Node]) -> Self {
        let mut s = self.clone();
        s.nodes.extend(children.iter().filter(|n| !is_step(n)));
        s
    }

    /// The elements below the scenario's level.
    pub(super) fn inner(&self) -> &[&'a Node] {
        &self.nodes[self.scenario..]
    }

    pub(super) fn defaults(&self) -> Vec<&'a Http> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::HttpDefaults(h) => Some(&**h),
                _ => None,
            })
            .collect()
    }

    pub(super) fn timers(&self) -> Vec<&'a Node> {
        self.nodes.iter().copied().filter(|n| matches!(n.kind, Kind::Timer(_))).collect()
    }
}

impl<'a> Converter<'a> {
    /// The items of `nodes` (one level of the tree) into `out`.
    pub(super) fn steps(&mut self, nodes: &'a [Node], scope: &Scope<'a>, sc: &Scenario<'a>, out: &mut Seq) {
        for node in nodes {
            match &node.kind {
                Kind::Http(h) => {
                    let (comments, request) = self.request(node, h, &scope.with(&node.children), sc);
                    out.push_noted(comments, request);
                }
                Kind::TestAction(a) => {
                    let (comments, action) = self.action(node, a, &scope.with(&node.children));
                    out.push_noted(comments, action);
                }
                Kind::Controller(c) => self.controller(node, c, &scope.with(&node.children), sc, out),
                _ => {}
            }
        }
    }

    fn controller(&mut self, node: &'a Node, c: &Controller, inner: &Scope<'a>, sc: &Scenario<'a>, out: &mut Seq) {
        let mut body = Seq::default();
        self.steps(&node.children, inner, sc, &mut body);
        let mut comments = Comments::new();
        let flattened = match c {
            // Its scope is already resolved into the requests: nothing else to say.
            Controller::Generic => Some(String::new()),
            Controller::RandomOrder => Some(format!(
                "{} runs its children in a new random order each pass; Taurus YAML has no such block: they are listed in the plan's order",
                who(node)
            )),
            Controller::Random { .. } => Some(format!(
                "{} runs ONE of its children, picked at random, per pass; Taurus YAML has no such block: all of them are listed, in order",
                who(node)
            )),
            Controller::Interleave { .. } => Some(format!(
                "{} runs ONE of its children per pass, in turn; Taurus YAML has no such block: all of them are listed, in order",
                who(node)
            )),
            _ => None,
        };
        if let Some(message) = flattened {
            if !message.is_empty() {
                self.note(&mut comments, node.meta.span, message);
            }
            out.comment(comments);
            out.0.append(&mut body.0);
            return;
        }
        if !body.has_values() {
            self.note(&mut comments, node.meta.span, format!("{} has nothing to run; left out", who(node)));
            out.comment(comments);
            out.0.append(&mut body.0);
            return;
        }
        let mut m = Map::default();
        match c {
            // A nested loop's `continue_forever` only restarts it on the next pass of its
            // parent (JMeter's GUI saves it as true); `-1` is "infinite".
            Controller::Loop { loops, .. } => {
                let count = self.resolved(loops, &mut comments);
                let count = count.trim();
                if count == "-1" {
                    m.put("loop", "forever");
                } else if let Ok(n) = count.parse::<i64>() {
                    m.put("loop", n);
                } else {
                    let message = format!(
                        "the loop count `{count}` of {} is not a number before the run; suite's YAML needs one (Taurus hands it to JMeter)",
                        who(node)
                    );
                    self.note(&mut comments, loops.span, message);
                    m.put("loop", count);
                }
                m.put("do", body);
            }
            Controller::OnceOnly => m.put("once", body),
            Controller::Transaction { parent, include_timers } => {
                let name = self.resolved(&node.meta.name, &mut comments);
                m.put("transaction", name);
                if *parent {
                    m.put("force-parent-sample", true);
                }
                if *include_timers {
                    m.put("include-timers", true);
                }
                m.put("do", body);
            }
            Controller::If { condition, evaluate_all, .. } => {
                let mut notes = Vec::new();
                let text = self.texts.render_raw(condition, &mut notes);
                self.absorb(notes, &mut comments);
                self.conditional(node, "if", &mut comments);
                if *evaluate_all {
                    let message =
                        format!("{} checks its condition before each child; Taurus's `if` checks it once", who(node));
                    self.note(&mut comments, node.meta.span, message);
                }
                m.put("if", text);
                m.put("then", body);
            }
            Controller::While { condition } => {
                let text = if condition.is_empty() {
                    comments.push(
                        "An empty While condition loops until a sample fails: JMeter's `${JMeterThread.last_sample_ok}`."
                            .to_string(),
                    );
                    "${JMeterThread.last_sample_ok}".to_string()
                } else {
                    let mut notes = Vec::new();
                    let text = self.texts.render_raw(condition, &mut notes);
                    self.absorb(notes, &mut comments);
                    text
                };
                self.conditional(node, "while", &mut comments);
                m.put("while", text);
                m.put("do", body);
            }
            Controller::Generic
            | Controller::RandomOrder
            | Controller::Random { .. }
            | Controller::Interleave { .. } => {}
        }
        out.push_noted(comments, m);
    }

    /// The note every `if`/`while` block gets.
    fn conditional(&mut self, node: &Node, block: &str, comments: &mut Comments) {
        let message = format!(
            "{}: Taurus runs `{block}` blocks with JMeter; suite's YAML does not take them (its conditions are JMeter expressions), so `suite validate` rejects this block; suite runs it from the .jmx",
            who(node)
        );
        self.note(comments, node.meta.span, message);
    }

    /// A flow-control action; a pause also waits for the timers in its scope (JMeter runs
    /// timers before every sampler, this one too).
    fn action(&mut self, node: &'a Node, a: &TestAction, scope: &Scope<'a>) -> (Comments, Map) {
        let mut comments = Comments::new();
        let mut m = Map::default();
        let target = |m: &mut Map| {
            if a.all_threads {
                m.put("target", "all-threads");
            }
        };
        match a.action {
            Action::Pause => {
                m.put("action", "pause");
                let mut pause = self.number(&a.duration, "the pause", node, &mut comments).unwrap_or(0.0);
                let timers = scope.timers();
                let (constant, randoms) = self.delays(&timers, &mut comments);
                if constant > 0.0 || !randoms.is_empty() {
                    let mean: f64 = constant + randoms.iter().map(Delay::mean).sum::<f64>();
                    pause += mean;
                    let names: Vec<String> = timers
                        .iter()
                        .filter(|t| {
                            !matches!(t.kind, Kind::Timer(Timer::Sync { .. } | Timer::ConstantThroughput { .. }))
                        })
                        .map(|t| who(t))
                        .collect();
                    if randoms.is_empty() {
                        comments.push(format!(
                            "`pause-duration` adds the {} of timers in scope ({}): Taurus's `action` has no think-time.",
                            ms_text(mean),
                            names.join(", ")
                        ));
                    } else {
                        let message = format!(
                            "JMeter waits for {} before this pause; Taurus's `action` has no think-time, so `pause-duration` adds their mean ({}) and the randomness is lost",
                            names.join(", "),
                            ms_text(mean)
                        );
                        self.note(&mut comments, timers[0].meta.span, message);
                    }
                }
                m.put("pause-duration", ms_text(pause));
            }
            Action::Stop => {
                m.put("action", "stop");
                target(&mut m);
            }
            Action::StopNow => {
                m.put("action", "stop-now");
                target(&mut m);
            }
            Action::RestartNextLoop => m.put("action", "continue"),
            Action::StartNextIteration | Action::BreakLoop => {
                let what = if a.action == Action::BreakLoop {
                    "breaks out of the loop it is in"
                } else {
                    "starts the next pass of the loop it is in"
                };
                let message =
                    format!("{} {what}; Taurus's closest action is `continue` (the user's next iteration)", who(node));
                self.note(&mut comments, node.meta.span, message);
                m.put("action", "continue");
            }
        }
        self.sync_timers(&scope.nodes, &mut comments);
        let timed = a.action != Action::Pause && scope.inner().iter().any(|n| matches!(n.kind, Kind::Timer(_)));
        if timed {
            let message = format!("the timers before {} are left out: Taurus's `action` has none", who(node));
            self.note(&mut comments, node.meta.span, message);
        }
        (comments, m)
    }
}
