//! Logic blocks of a request list: `transaction`, `include-scenario`, `loop`, `once`,
//! `set-variables` and `action`; JMeter-only blocks are named in a clear error.

use super::scenario::{Defaults, Scope};
use super::{did_you_mean_or, Builder};
use crate::config::model::Root;
use crate::config::source::Span;
use crate::config::value::TimeValue;
use crate::config::{Map, Node, NodeKind};
use crate::plan::scenario::{Action, ActionKind, Step, Template, Transaction};

/// A logic block: the mapping that holds it, and its key's value.
struct Block<'n> {
    /// The key that opens it (`transaction`, `loop`, ...).
    name: &'static str,
    map: &'n Map,
    span: Span,
    key_span: Span,
    value: &'n Node,
}

/// Request keys that open logic blocks (Taurus's hierarchic request parser).
const LOGIC_BLOCKS: &[&str] = &[
    "transaction",
    "include-scenario",
    "if",
    "loop",
    "while",
    "foreach",
    "once",
    "action",
    "set-variables",
    "setup",
    "teardown",
];

impl Builder<'_> {
    /// Plans a list of requests and blocks.
    pub(super) fn steps<'n>(
        &mut self,
        items: impl Iterator<Item = &'n Node>,
        d: &Defaults,
        root: &Root,
        scope: &mut Scope,
    ) -> Vec<Step> {
        let mut out = Vec::new();
        for item in items {
            self.step(item, d, root, scope, &mut out);
        }
        out
    }

    fn step(&mut self, node: &Node, d: &Defaults, root: &Root, scope: &mut Scope, out: &mut Vec<Step>) {
        let found = node.as_map().and_then(|m| Some((m, *LOGIC_BLOCKS.iter().find(|b| m.contains_key(**b))?)));
        let Some((map, name)) = found else {
            out.extend(self.request(node, d, scope));
            return;
        };
        let (key_span, value) = &map[name];
        let b = Block { name, map, span: node.span, key_span: *key_span, value };
        let step = match name {
            "transaction" => self.transaction(&b, d, root, scope),
            "include-scenario" => {
                self.block_keys(map, name, &["include-scenario"]);
                let Some(scenario) = value.scalar_text() else {
                    self.error(value.span, "`include-scenario` must be the name of a scenario");
                    return;
                };
                out.extend(self.include(&scenario, value.span, d, root, scope));
                return;
            }
            "loop" => self.loop_block(&b, d, root, scope),
            "once" => {
                self.block_keys(map, name, &["once"]);
                let NodeKind::Seq(items) = &value.kind else {
                    self.error(value.span, format!("`once` must be a list of requests, found {}", value.describe()));
                    return;
                };
                let steps = self.steps(items.iter(), d, root, scope);
                scope.once_blocks += 1;
                Some(Step::Once { index: scope.once_blocks - 1, steps })
            }
            "set-variables" => self.set_variables(&b, scope),
            "action" => self.action(&b),
            "if" | "while" => {
                let what = format!("the `{name}` block (its condition is a JMeter expression)");
                let help = "list the requests without the condition, or split the variants into separate scenarios";
                self.unsupported(b.key_span, &what, help);
                None
            }
            "foreach" => {
                let help = "use a `data-sources` CSV file with one row per value";
                self.unsupported(b.key_span, "the `foreach` block (it walks JMeter variable collections)", help);
                None
            }
            _ => {
                let what = format!("the `{name}` block (Apiritif only)");
                self.unsupported(b.key_span, &what, "put set-up requests in a `once` block");
                None
            }
        };
        out.extend(step);
    }

    fn transaction(&mut self, b: &Block, d: &Defaults, root: &Root, scope: &mut Scope) -> Option<Step> {
        self.block_keys(b.map, b.name, &["transaction", "do", "force-parent-sample", "include-timers"]);
        let Some(name) = b.value.scalar_text().filter(|n| !n.is_empty()) else {
            self.error(b.value.span, "`transaction` must be the transaction's name");
            return None;
        };
        let steps = self.block_body(b, d, root, scope)?;
        let parent_only = self.value(b.map, "force-parent-sample").unwrap_or(d.force_parent_sample);
        let include_timers = self.value(b.map, "include-timers").unwrap_or(false);
        let label = self.label(&name);
        Some(Step::Transaction(Transaction { label, steps, parent_only, include_timers }))
    }

    fn loop_block(&mut self, b: &Block, d: &Defaults, root: &Root, scope: &mut Scope) -> Option<Step> {
        self.block_keys(b.map, b.name, &["loop", "do"]);
        let count = match &b.value.kind {
            NodeKind::Int(n) if *n >= 0 => Some(*n as u64),
            NodeKind::Str(s) if s == "forever" => None,
            _ => {
                self.error_help(
                    b.value.span,
                    format!("`loop` must be a number of repetitions or `forever`, found {}", b.value.describe()),
                    "write e.g. `loop: 10` or `loop: forever`",
                );
                return None;
            }
        };
        let steps = self.block_body(b, d, root, scope)?;
        if count.is_none() && !sends_requests(&steps) {
            self.error(b.key_span, "this `loop: forever` sends no request: it would never end");
            return None;
        }
        Some(Step::Loop { count, steps })
    }

    fn set_variables(&mut self, b: &Block, scope: &mut Scope) -> Option<Step> {
        self.block_keys(b.map, b.name, &["set-variables"]);
        let NodeKind::Map(vars) = &b.value.kind else {
            self.error(
                b.value.span,
                format!("`set-variables` must be a mapping of names to values, found {}", b.value.describe()),
            );
            return None;
        };
        let mut set = Vec::new();
        for (name, (_, v)) in vars {
            let Some(text) = v.scalar_text() else {
                self.error(v.span, format!("`{name}` must be a text value, found {}", v.describe()));
                continue;
            };
            self.uses(&text, v.span, scope);
            scope.defined.insert(name.clone());
            set.push((name.clone(), Template::parse(&text)));
        }
        Some(Step::SetVariables(set))
    }

    fn action(&mut self, b: &Block) -> Option<Step> {
        self.block_keys(b.map, b.name, &["action", "target", "pause-duration"]);
        let kind = match b.value.scalar_text().as_deref() {
            Some("pause") => ActionKind::Pause,
            Some("stop") => ActionKind::Stop,
            Some("stop-now") => ActionKind::StopNow,
            Some("continue") => ActionKind::Continue,
            other => {
                let found = other.map_or_else(|| b.value.describe().to_string(), |t| format!("`{t}`"));
                let message = format!("`action` must be `pause`, `stop`, `stop-now` or `continue`, found {found}");
                self.error(b.value.span, message);
                return None;
            }
        };
        let all_users = match b.map.get("target").map(|(_, t)| (t, t.scalar_text())) {
            None => false,
            Some((_, Some(t))) if t == "current-thread" => false,
            Some((_, Some(t))) if t == "all-threads" => true,
            Some((t, _)) => {
                self.error(t.span, "`target` must be `current-thread` or `all-threads`");
                return None;
            }
        };
        let pause = self.value::<TimeValue>(b.map, "pause-duration").map(|t| t.0);
        if kind == ActionKind::Pause && pause.is_none() {
            self.error_help(b.span, "a `pause` action needs a `pause-duration`", "add `pause-duration: 1s`");
            return None;
        }
        Some(Step::Action(Action { kind, all_users, pause: pause.unwrap_or_default() }))
    }

    /// Rejects keys a block does not take.
    pub(super) fn block_keys(&mut self, m: &Map, block: &str, allowed: &[&str]) {
        for (key, (span, _)) in m {
            if !allowed.contains(&key.as_str()) {
                let help = did_you_mean_or(key, allowed, || format!("a `{block}` block takes: {}", allowed.join(", ")));
                self.error_help(*span, format!("unknown key `{key}` in a `{block}` block"), help);
            }
        }
    }

    /// The `do:` list of a block.
    fn block_body(&mut self, b: &Block, d: &Defaults, root: &Root, scope: &mut Scope) -> Option<Vec<Step>> {
        match b.map.get("do") {
            Some((_, Node { kind: NodeKind::Seq(items), .. })) => Some(self.steps(items.iter(), d, root, scope)),
            Some((_, other)) => {
                self.error(other.span, format!("`do` must be a list of requests, found {}", other.describe()));
                None
            }
            None => {
                self.error_help(b.span, format!("this `{}` block has no `do`", b.name), "add `do: [<requests>]`");
                None
            }
        }
    }

    /// `include-scenario`: the other scenario's steps, planned with its own settings over ours.
    fn include(&mut self, name: &str, span: Span, outer: &Defaults, root: &Root, scope: &mut Scope) -> Vec<Step> {
        if scope.path.iter().any(|p| p == name) {
            let chain = scope.path.iter().map(String::as_str).chain([name]).collect::<Vec<_>>().join(" → ");
            self.error(span, format!("`include-scenario` loops: {chain}"));
            return Vec::new();
        }
        let Some(sc) = self.scenario_named(name, span, root, " in `include-scenario`") else { return Vec::new() };
        let d = self.scenario_defaults(&sc.value, outer, scope);
        self.scenario_steps(name, &sc.value, sc.span, &d, root, scope).unwrap_or_default()
    }
}

/// Whether steps send at least one request (so a `forever` loop makes progress).
fn sends_requests(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::Request(_) | Step::Grpc(_) => true,
        // Not a request, but it waits or leaves the loop: no busy loop either.
        Step::Action(a) => a.kind != ActionKind::Pause || !a.pause.is_zero(),
        Step::Think(_) | Step::Rendezvous { .. } | Step::Pace { .. } => true,
        _ => sends_requests(s.children()),
    })
}
