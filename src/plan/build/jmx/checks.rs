//! JMeter assertions and post-processors to the plan's response checks (the engine runs the
//! extractors first, then the assertions, as JMeter runs post-processors before assertions).

use std::time::Duration;

use regex::Regex;

use super::steps::Scope;
use super::Lower;
use crate::plan::checks::{
    compile_jsonpath, parse_group_template, Assertion, Expected, ExtractKind, Extractor, Pattern, Source, Subject,
};
use crate::plan::jmx::model::{Assertion as JmxAssertion, Extractor as JmxExtractor, Field, Match};
use crate::plan::jmx::{Kind, Node, Text};

impl Lower<'_, '_> {
    /// The checks in scope of a sampler, outer levels first.
    pub(super) fn checks(&mut self, scope: &Scope<'_>) -> (Vec<Assertion>, Vec<Extractor>) {
        let (mut assertions, mut extractors) = (Vec::new(), Vec::new());
        for n in scope.checks.clone() {
            match &n.kind {
                Kind::Assertion(a) => self.assertion(n, a, &mut assertions),
                Kind::Extractor(e) => self.extractor(n, e, &mut extractors),
                _ => {}
            }
        }
        (assertions, extractors)
    }

    fn subject(&mut self, n: &Node, field: Field) -> Option<Subject> {
        match field {
            Field::Body | Field::BodyUnescaped => Some(Subject::Body),
            Field::Headers => Some(Subject::Headers),
            Field::Url => Some(Subject::Url),
            Field::Code => Some(Subject::HttpCode),
            other => {
                self.b.error_help(
                    n.meta.span,
                    format!(
                        "`{}` \"{}\" checks the {other:?} field, which suite does not keep",
                        n.meta.testclass, n.meta.name.value
                    ),
                    "check the body, the headers, the URL or the response code",
                );
                None
            }
        }
    }

    fn regex(&mut self, text: &Text, pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                self.b.error_help(
                    text.span,
                    format!("`{}` is not a regex suite can use: {first}", text.value),
                    "Rust regexes have no look-around or back-references",
                );
                None
            }
        }
    }

    fn assertion(&mut self, n: &Node, a: &JmxAssertion, out: &mut Vec<Assertion>) {
        match a {
            JmxAssertion::Response { field, how, not, any, patterns, assume_success, .. } => {
                let Some(subject) = self.subject(n, *field) else { return };
                let mut compiled = Vec::new();
                for p in patterns {
                    let t = self.template(p);
                    let pattern = if !t.is_literal() {
                        match how {
                            Match::Substring => Pattern::Dynamic { template: t, regex: false },
                            Match::Contains => Pattern::Dynamic { template: t, regex: true },
                            // Anchored around the pattern's text; variables filled per response.
                            Match::Matches | Match::Equals => {
                                let anchored = format!(r"\A(?:{})\z", p.value);
                                match crate::plan::jmx::template::parse(&anchored)
                                    .ok()
                                    .and_then(|jt| self.fold(&jt).ok())
                                {
                                    Some(t) => Pattern::Dynamic { template: t, regex: true },
                                    None => continue,
                                }
                            }
                        }
                    } else {
                        let text = self.start_value(p);
                        match how {
                            Match::Substring => Pattern::Text(text),
                            Match::Contains => match self.regex(p, &text) {
                                Some(r) => Pattern::Regex(r),
                                None => continue,
                            },
                            Match::Matches => match self.regex(p, &format!(r"\A(?:{text})\z")) {
                                Some(r) => Pattern::Regex(r),
                                None => continue,
                            },
                            Match::Equals => match self.regex(p, &format!(r"\A{}\z", regex::escape(&text))) {
                                Some(r) => Pattern::Regex(r),
                                None => continue,
                            },
                        }
                    };
                    compiled.push((pattern, p.value.clone()));
                }
                out.push(Assertion::Contains {
                    subject,
                    patterns: compiled,
                    any: *any,
                    not: *not,
                    assume_success: *assume_success,
                });
            }
            JmxAssertion::Duration { max_ms } => {
                if let Some(ms) = self.start_int(max_ms, "`DurationAssertion.duration`", &n.meta) {
                    out.push(Assertion::Duration { max: Duration::from_millis(ms.max(0).unsigned_abs()) });
                }
            }
            JmxAssertion::JsonPath { path, expected, validate, expect_null, invert, regex } => {
                let path_text = self.start_value(path);
                let compiled = match compile_jsonpath(&path_text) {
                    Ok(p) => p,
                    Err(e) => {
                        self.b.error(path.span, format!("`{path_text}` is not a valid JSONPath: {e}"));
                        return;
                    }
                };
                let expected_text = self.start_value(expected);
                let expected = if *validate && *regex {
                    match self.regex(expected, &format!("^(?:{expected_text})$")) {
                        Some(r) => Expected::Regex(r, expected_text),
                        None => return,
                    }
                } else {
                    Expected::Text(expected_text)
                };
                out.push(Assertion::JsonPath {
                    path: compiled,
                    text: path_text,
                    validate: *validate,
                    expected,
                    expect_null: *expect_null,
                    invert: *invert,
                });
            }
        }
    }

    fn extractor(&mut self, n: &Node, e: &JmxExtractor, out: &mut Vec<Extractor>) {
        match e {
            JmxExtractor::Regex { field, variable, regex, template, default, match_number } => {
                let Some(subject) = self.subject(n, *field) else { return };
                let var = self.start_value(variable);
                let pattern = self.start_value(regex);
                let Some(compiled) = self.regex(regex, &pattern) else { return };
                let template = self.start_value(template);
                let default_text = self.start_value(default);
                let match_no = self.start_int(match_number, "`RegexExtractor.match_number`", &n.meta).unwrap_or(1);
                out.push(Extractor {
                    var,
                    source: Source::Response(subject),
                    kind: ExtractKind::Regex { regex: compiled, template: parse_group_template(&template) },
                    match_no,
                    default: default_text,
                    // JMeter never fails a sample for a value not found.
                    default_given: true,
                });
            }
            JmxExtractor::Json { variables, expressions, match_numbers, defaults, concat } => {
                let names = self.start_value(variables);
                let paths = self.start_value(expressions);
                let numbers = self.start_value(match_numbers);
                let defaults = self.start_value(defaults);
                let split = |s: &str| s.split(';').map(|p| p.trim().to_string()).collect::<Vec<_>>();
                let (names, paths, numbers, defaults) =
                    (split(&names), split(&paths), split(&numbers), split(&defaults));
                if names.len() != paths.len() {
                    self.b.error(
                        variables.span,
                        format!(
                            "`JSONPostProcessor` \"{}\" names {} variable(s) for {} path(s)",
                            n.meta.name.value,
                            names.len(),
                            paths.len()
                        ),
                    );
                    return;
                }
                for (i, (var, path)) in names.into_iter().zip(paths).enumerate() {
                    let compiled = match compile_jsonpath(&path) {
                        Ok(p) => p,
                        Err(err) => {
                            self.b.error(expressions.span, format!("`{path}` is not a valid JSONPath: {err}"));
                            continue;
                        }
                    };
                    let match_no = numbers.get(i).and_then(|m| m.parse().ok()).unwrap_or(1);
                    out.push(Extractor {
                        var,
                        source: Source::Response(Subject::Body),
                        kind: ExtractKind::JsonPath { path: compiled, concat: *concat },
                        match_no,
                        default: defaults.get(i).cloned().unwrap_or_default(),
                        default_given: true,
                    });
                }
            }
            JmxExtractor::Boundary { field, variable, left, right, default, match_number } => {
                let Some(subject) = self.subject(n, *field) else { return };
                out.push(Extractor {
                    var: self.start_value(variable),
                    source: Source::Response(subject),
                    kind: ExtractKind::Boundary { left: self.start_value(left), right: self.start_value(right) },
                    match_no: self.start_int(match_number, "`BoundaryExtractor.match_number`", &n.meta).unwrap_or(1),
                    default: self.start_value(default),
                    default_given: true,
                });
            }
        }
    }
}
