//! Timers as `think-time`, assertions as `assert`/`assert-jsonpath` and post-processors as
//! `extract-regexp`/`extract-jsonpath`/`extract-boundary`.

use super::tree::{Map, Seq};
use super::{ms_text, who, Comments, Converter};
use crate::plan::jmx::describe::field_name;
use crate::plan::jmx::model::*;

/// A random part of a pause, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Delay {
    /// `min + uniform(0, range)`.
    Uniform { min: f64, range: f64 },
    /// `|mean + gaussian × dev|`.
    Gaussian { mean: f64, dev: f64 },
}

impl Delay {
    pub(super) fn mean(&self) -> f64 {
        match *self {
            Delay::Uniform { min, range } => min + range / 2.0,
            Delay::Gaussian { mean, .. } => mean,
        }
    }
}

/// What a request collects from the checks in its scope.
#[derive(Default)]
pub(super) struct Checks {
    pub(super) assert: Seq,
    pub(super) assert_jsonpath: Seq,
    pub(super) extract_regexp: Map,
    pub(super) extract_jsonpath: Map,
    pub(super) extract_boundary: Map,
}

impl Checks {
    /// Adds the non-empty lists to a request, in Taurus's key order.
    pub(super) fn put_into(self, request: &mut Map) {
        if !self.assert.0.is_empty() {
            request.put("assert", self.assert);
        }
        if !self.assert_jsonpath.0.is_empty() {
            request.put("assert-jsonpath", self.assert_jsonpath);
        }
        for (key, map) in [
            ("extract-regexp", self.extract_regexp),
            ("extract-jsonpath", self.extract_jsonpath),
            ("extract-boundary", self.extract_boundary),
        ] {
            if !map.is_empty() {
                request.put(key, map);
            }
        }
    }
}

impl<'a> Converter<'a> {
    /// The constant sum and the random parts of `timers` (sync and throughput timers are not
    /// pauses: they are handled where they apply).
    pub(super) fn delays(&mut self, timers: &[&Node], comments: &mut Comments) -> (f64, Vec<Delay>) {
        let mut constant = 0.0;
        let mut random = Vec::new();
        for node in timers {
            let Kind::Timer(t) = &node.kind else { continue };
            match t {
                Timer::Constant { delay } => constant += self.number(delay, "the delay", node, comments).unwrap_or(0.0),
                Timer::UniformRandom { delay, range } => {
                    let min = self.number(delay, "the delay", node, comments).unwrap_or(0.0);
                    let range = self.number(range, "the range", node, comments).unwrap_or(0.0);
                    random.push(Delay::Uniform { min, range });
                }
                Timer::Gaussian { delay, deviation } => {
                    let mean = self.number(delay, "the delay", node, comments).unwrap_or(0.0);
                    let dev = self.number(deviation, "the deviation", node, comments).unwrap_or(0.0);
                    random.push(Delay::Gaussian { mean, dev });
                }
                Timer::Sync { .. } | Timer::ConstantThroughput { .. } => {}
            }
        }
        (constant, random)
    }

    /// The `think-time` of `timers` (JMeter adds up every timer in scope); `None` without pauses.
    pub(super) fn think_time(&mut self, timers: &[&Node], comments: &mut Comments) -> Option<String> {
        let pauses: Vec<&Node> = timers
            .iter()
            .copied()
            .filter(|n| {
                matches!(
                    n.kind,
                    Kind::Timer(Timer::Constant { .. } | Timer::UniformRandom { .. } | Timer::Gaussian { .. })
                )
            })
            .collect();
        if pauses.is_empty() {
            return None;
        }
        let (constant, random) = self.delays(&pauses, comments);
        let Some((first, rest)) = random.split_first() else { return Some(ms_text(constant)) };
        if !rest.is_empty() {
            let names: Vec<String> = pauses.iter().map(|n| who(n)).collect();
            let message = format!(
                "{} random timers apply ({}); a Taurus think-time has one distribution: the others count by their mean",
                random.len(),
                names.join(", ")
            );
            self.note(comments, pauses[0].meta.span, message);
        }
        let extra = constant + rest.iter().map(Delay::mean).sum::<f64>();
        Some(match *first {
            Delay::Uniform { min, range } if range > 0.0 => {
                format!("uniform({}, {})", ms_text(extra + min + range / 2.0), ms_text(range / 2.0))
            }
            Delay::Gaussian { mean, dev } if dev > 0.0 => {
                format!("gaussian({}, {})", ms_text(extra + mean), ms_text(dev))
            }
            d => ms_text(extra + d.mean()),
        })
    }

    /// Sync timers in scope: noted, as Taurus has no rendezvous.
    pub(super) fn sync_timers(&mut self, scope: &[&Node], comments: &mut Comments) {
        for node in scope {
            if let Kind::Timer(Timer::Sync { group_size, .. }) = &node.kind {
                let size = self.resolved(group_size, comments);
                let size = match size.trim() {
                    "" | "0" => "all threads of the group".to_string(),
                    n => format!("{n} threads"),
                };
                let message = format!(
                    "{} holds {size} until they all get here; Taurus YAML has no rendezvous: left out",
                    who(node)
                );
                self.note(comments, node.meta.span, message);
            }
        }
    }

    /// The assertions and extractors of `scope`, outermost first.
    pub(super) fn checks(&mut self, scope: &[&Node], comments: &mut Comments) -> Checks {
        let mut out = Checks::default();
        for node in scope {
            match &node.kind {
                Kind::Assertion(a) => self.assertion(node, a, comments, &mut out),
                Kind::Extractor(e) => self.extractor(node, e, comments, &mut out),
                _ => {}
            }
        }
        out
    }

    /// `subject` of a field Taurus can read, else noted; `None` when left out.
    fn subject(
        &mut self,
        node: &Node,
        field: Field,
        extractor: bool,
        comments: &mut Comments,
    ) -> Option<Option<&'static str>> {
        Some(match field {
            Field::Body => None,
            Field::Headers => Some("headers"),
            Field::Code => Some("http-code"),
            Field::Url if extractor => Some("url"),
            Field::BodyUnescaped | Field::BodyAsDocument => {
                let message = format!("{} reads the {}; Taurus reads the plain body", who(node), field_name(field));
                self.note(comments, node.meta.span, message);
                None
            }
            _ => {
                let message = format!("{} reads the {}, which Taurus cannot: left out", who(node), field_name(field));
                self.note(comments, node.meta.span, message);
                return None;
            }
        })
    }

    fn assertion(&mut self, node: &Node, a: &Assertion, comments: &mut Comments, out: &mut Checks) {
        match a {
            Assertion::Response { field, how, not, any, patterns, assume_success, .. } => {
                let Some(subject) = self.subject(node, *field, false, comments) else { return };
                let texts: Vec<String> = patterns.iter().map(|p| self.text(p, comments)).collect();
                if texts.is_empty() {
                    let message = format!("{} has no pattern: it checks nothing; left out", who(node));
                    self.note(comments, node.meta.span, message);
                    return;
                }
                // Taurus's `regexp: true` is JMeter's "contains", `false` its "substring".
                let (mut regexp, mut texts) = match how {
                    Match::Contains => (true, texts),
                    Match::Substring => (false, texts),
                    Match::Matches => (true, texts.iter().map(|p| format!("^(?:{p})$")).collect()),
                    Match::Equals => (true, texts.iter().map(|p| format!("^{}$", escape_regex(p))).collect()),
                };
                if *any && texts.len() > 1 {
                    let alternatives: Vec<String> =
                        texts.iter().map(|p| if regexp { format!("(?:{p})") } else { escape_regex(p) }).collect();
                    texts = vec![alternatives.join("|")];
                    regexp = true;
                    if *not {
                        let message = format!(
                            "{} passes when any pattern is missing; written as one alternation, `not` passes only when none is found",
                            who(node)
                        );
                        self.note(comments, node.meta.span, message);
                    }
                }
                let mut m = Map::default();
                let mut list = Seq::default();
                for t in texts {
                    list.push_noted(Vec::new(), t);
                }
                m.put("contains", list);
                if let Some(s) = subject {
                    m.put("subject", s);
                }
                if !regexp {
                    m.put("regexp", false);
                }
                if *not {
                    m.put("not", true);
                }
                if *assume_success {
                    m.put("assume-success", true);
                }
                out.assert.push_noted(Vec::new(), m);
            }
            Assertion::Duration { max_ms } => {
                let message = format!(
                    "{} fails samples slower than {} ms; Taurus YAML has no duration assertion: left out (a pass/fail criterion on `p100` is the closest)",
                    who(node),
                    max_ms.value
                );
                self.note(comments, node.meta.span, message);
            }
            Assertion::JsonPath { path, expected, validate, expect_null, invert, regex } => {
                let mut m = Map::default();
                m.put("jsonpath", self.text(path, comments));
                if *validate {
                    m.put("validate", true);
                    m.put("expected-value", self.text(expected, comments));
                }
                if *expect_null {
                    m.put("expect-null", true);
                }
                if *invert {
                    m.put("invert", true);
                }
                if !regex {
                    m.put("regexp", false);
                }
                out.assert_jsonpath.push_noted(Vec::new(), m);
            }
        }
    }

    fn extractor(&mut self, node: &Node, e: &Extractor, comments: &mut Comments, out: &mut Checks) {
        match e {
            Extractor::Regex { field, variable, regex, template, default, match_number } => {
                let Some(subject) = self.subject(node, *field, true, comments) else { return };
                let Some(name) = self.variable(node, variable, comments) else { return };
                let mut m = Map::default();
                m.put("regexp", self.text(regex, comments));
                let template = self.text(template, comments);
                if !template.is_empty() {
                    m.put("template", template);
                }
                m.put("match-no", self.match_number(node, match_number, comments));
                m.put("default", self.text(default, comments));
                if let Some(s) = subject {
                    m.put("subject", s);
                }
                out.extract_regexp.put(&name, m);
            }
            Extractor::Boundary { field, variable, left, right, default, match_number } => {
                let Some(subject) = self.subject(node, *field, true, comments) else { return };
                let Some(name) = self.variable(node, variable, comments) else { return };
                let mut m = Map::default();
                m.put("left", self.text(left, comments));
                m.put("right", self.text(right, comments));
                m.put("match-no", self.match_number(node, match_number, comments));
                m.put("default", self.text(default, comments));
                if let Some(s) = subject {
                    m.put("subject", s);
                }
                out.extract_boundary.put(&name, m);
            }
            Extractor::Json { variables, expressions, match_numbers, defaults, concat } => {
                let split = |s: String| s.split(';').map(|p| p.trim().to_string()).collect::<Vec<_>>();
                let names = split(self.text(variables, comments));
                let paths = split(self.text(expressions, comments));
                let numbers = split(self.text(match_numbers, comments));
                let values = split(self.text(defaults, comments));
                for (i, name) in names.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
                    let Some(path) = paths.get(i).filter(|p| !p.is_empty()) else {
                        let message = format!("{} has no JSON path for `{name}`; left out", who(node));
                        self.note(comments, expressions.span, message);
                        continue;
                    };
                    let mut m = Map::default();
                    m.put("jsonpath", path.as_str());
                    let number = numbers.get(i).map_or("", String::as_str);
                    match number.parse::<i64>() {
                        Ok(0) => {}
                        Ok(n) => m.put("match-no", n),
                        Err(_) if number.is_empty() => {}
                        Err(_) => {
                            let message =
                                format!("the match number `{number}` of {} is not a number; left out", who(node));
                            self.note(comments, match_numbers.span, message);
                        }
                    }
                    m.put("default", values.get(i).cloned().unwrap_or_default());
                    if *concat {
                        m.put("concat", true);
                    }
                    out.extract_jsonpath.put(name, m);
                }
            }
        }
    }

    fn variable(&mut self, node: &Node, variable: &Text, comments: &mut Comments) -> Option<String> {
        let name = self.text(variable, comments).trim().to_string();
        if name.is_empty() {
            let message = format!("{} names no variable: it sets nothing; left out", who(node));
            self.note(comments, node.meta.span, message);
            return None;
        }
        Some(name)
    }

    /// JMeter reads an empty or unreadable match number as 0 (a random match).
    fn match_number(&mut self, node: &Node, t: &Text, comments: &mut Comments) -> i64 {
        let text = self.text(t, comments);
        match text.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) if text.trim().is_empty() => 0,
            Err(_) => {
                let message = format!("the match number `{text}` of {} is not a number: JMeter reads 0", who(node));
                self.note(comments, t.span, message);
                0
            }
        }
    }
}

/// `text` as a regex that matches it literally, `${var}` placeholders kept.
fn escape_regex(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&regex::escape(&rest[..start]));
        out.push_str(&rest[start..=start + len]);
        rest = &rest[start + len + 1..];
    }
    out.push_str(&regex::escape(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_becomes_a_regex_that_keeps_placeholders() {
        assert_eq!(escape_regex("a.b(${id})*"), r"a\.b\(${id}\)\*");
        assert_eq!(escape_regex("cost: ${ 5"), r"cost: \$\{ 5");
    }
}
