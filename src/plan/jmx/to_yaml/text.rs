//! Plan strings as Taurus YAML text: `${__P(name,default)}` and `${__property(…)}` become the
//! value given with `-J name=value`, else their default (a property with neither is an error
//! naming it); calls that only depend on such values (`__urlencode`, `__intSum`) are computed;
//! `${var}` stays for the scenario's variables. Any other function (`__counter`, `__Random`,
//! `__time`, …) changes per request, so it is kept as written, with a note: Taurus hands it to
//! JMeter, but suite's YAML does not run JMeter functions.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;

use crate::config::{Diagnostic, Sources, Span};
use crate::plan::jmx::eval::{self, Globals, Vu};
use crate::plan::jmx::model::Text;
use crate::plan::jmx::template::{self, Function, Segment, Template};
use crate::plan::jmx::xml::value_span;

/// Where a property's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum From {
    /// `-J name=value`.
    Given,
    /// The default written in the plan.
    Default,
}

/// Renders plan strings; collects the properties used, the errors and the variables that
/// functions set.
pub struct Texts<'a> {
    sources: &'a Sources,
    globals: Globals,
    /// Properties used, in order of first use, with their value and where it came from.
    pub used: IndexMap<String, (String, From)>,
    /// Missing properties and functions that cannot be computed.
    pub errors: Vec<Diagnostic>,
    reported: HashSet<String>,
    /// Variables set by `__property(name,var)` or `__intSum(…,var)`, for the scenario's
    /// `variables` (the caller takes them).
    pub stored: IndexMap<String, String>,
}

/// Something in a string that Taurus YAML cannot say as the plan does: where, and why.
pub type Note = (Span, String);

impl<'a> Texts<'a> {
    pub fn new(sources: &'a Sources, properties: &HashMap<String, String>) -> Self {
        Texts {
            sources,
            globals: Globals::new(properties.clone()),
            used: IndexMap::new(),
            errors: Vec::new(),
            reported: HashSet::new(),
            stored: IndexMap::new(),
        }
    }

    /// `t` as YAML text; what cannot be computed is kept as written and noted in `notes`.
    pub fn render(&mut self, t: &Text, notes: &mut Vec<Note>) -> String {
        self.render_template(&t.value, &t.template, t.span, notes)
    }

    /// A value read without a template (a condition): rendered when it parses as one, else
    /// kept as written.
    pub fn render_raw(&mut self, t: &Text, notes: &mut Vec<Note>) -> String {
        match template::parse(&t.value) {
            Ok(parsed) => self.render_template(&t.value, &parsed, t.span, notes),
            Err(_) => t.value.clone(),
        }
    }

    fn render_template(&mut self, value: &str, t: &Template, span: Span, notes: &mut Vec<Note>) -> String {
        if !t.segments.iter().any(|s| matches!(s, Segment::Call { .. })) {
            return value.to_string();
        }
        self.record_properties(t);
        for missing in eval::missing_properties(t, &self.globals.properties) {
            let Some(name) = missing.name else { continue };
            if self.reported.insert(name.clone()) {
                let at = value_span(self.sources, span, value, missing.at.clone());
                let call = value.get(missing.at).unwrap_or_default();
                self.errors.push(
                    Diagnostic::error(at, format!("property `{name}` is not set and `{call}` has no default"))
                        .with_help(format!("give it a value: `suite jmx2yaml … -J {name}=VALUE`")),
                );
            }
        }
        // Text between the top-level calls is copied as written (escapes and all).
        let mut out = String::with_capacity(value.len());
        let mut pos = 0;
        for segment in &t.segments {
            let Segment::Call { at, .. } = segment else { continue };
            out.push_str(value.get(pos..at.start).unwrap_or_default());
            out.push_str(&self.call(segment, value, span, notes));
            pos = at.end;
        }
        out.push_str(value.get(pos..).unwrap_or_default());
        out
    }

    /// One call: its value when it can be computed now, else the call as written.
    fn call(&mut self, segment: &Segment, value: &str, span: Span, notes: &mut Vec<Note>) -> String {
        let Segment::Call { function, args, at } = segment else { return String::new() };
        let written = value.get(at.clone()).unwrap_or_default();
        if computable(segment) {
            let mut vu = Vu::new(1);
            let single = Template { segments: vec![segment.clone()] };
            return match eval::eval(&single, &mut vu, &self.globals) {
                Ok(v) => {
                    self.stored.extend(vu.vars);
                    v
                }
                Err(e) => {
                    // A missing property with a written name was reported above, by name.
                    let named = e.message.strip_prefix("property `").and_then(|r| r.split_once('`')).map(|(n, _)| n);
                    if !named.is_some_and(|n| self.reported.contains(n)) {
                        let at = value_span(self.sources, span, value, at.clone());
                        self.errors.push(Diagnostic::error(at, format!("cannot compute `{written}`: {}", e.message)));
                    }
                    written.to_string()
                }
            };
        }
        let name = function.name();
        let why = if has_variables(segment) && is_pure(segment) {
            format!("`{written}` depends on variables, so it cannot be computed before the run")
        } else {
            format!("`{written}` ({name}) gives a new value each time")
        };
        notes.push((
            value_span(self.sources, span, value, at.clone()),
            format!(
                "{why}: kept for JMeter; suite's YAML does not run JMeter functions (suite runs them from the .jmx)"
            ),
        ));
        if contains_properties(args) {
            serialize_call(*function, args, self, value, span, notes)
        } else {
            written.to_string()
        }
    }

    /// Notes the literal-named properties of `t` and where their values come from.
    fn record_properties(&mut self, t: &Template) {
        for segment in &t.segments {
            let Segment::Call { function, args, .. } = segment else { continue };
            for a in args {
                self.record_properties(a);
            }
            let default_at = match function {
                Function::P => 1,
                Function::Property => 2,
                _ => continue,
            };
            let Some(name) = args.first().and_then(Template::as_literal) else { continue };
            if self.used.contains_key(&name) {
                continue;
            }
            let entry = match self.globals.properties.get(&name) {
                Some(v) => (v.clone(), From::Given),
                None => match args.get(default_at).and_then(Template::as_literal) {
                    Some(d) => (d, From::Default),
                    None => continue,
                },
            };
            self.used.insert(name, entry);
        }
    }
}

/// Functions whose value depends only on their arguments.
fn is_pure(segment: &Segment) -> bool {
    match segment {
        Segment::Call { function, args, .. } => {
            matches!(function, Function::P | Function::Property | Function::UrlEncode | Function::IntSum)
                && args.iter().all(|a| a.segments.iter().all(is_pure))
        }
        _ => true,
    }
}

fn has_variables(segment: &Segment) -> bool {
    match segment {
        Segment::Var { .. } => true,
        Segment::Call { args, .. } => args.iter().any(|a| a.segments.iter().any(has_variables)),
        Segment::Literal(_) => false,
    }
}

/// Whether the call can be computed now: pure, and no variable in its arguments.
fn computable(segment: &Segment) -> bool {
    is_pure(segment) && !has_variables(segment)
}

fn contains_properties(args: &[Template]) -> bool {
    args.iter().any(|a| {
        a.segments.iter().any(|s| match s {
            Segment::Call { function: Function::P | Function::Property, .. } => true,
            Segment::Call { args, .. } => contains_properties(args),
            _ => false,
        })
    })
}

/// A call written again with what can be computed inside it computed (JMeter's escapes for the
/// literal text of its arguments).
fn serialize_call(
    function: Function,
    args: &[Template],
    texts: &mut Texts,
    value: &str,
    span: Span,
    notes: &mut Vec<Note>,
) -> String {
    let mut out = format!("${{{}(", function.name());
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for segment in &arg.segments {
            match segment {
                Segment::Literal(text) => out.push_str(&escape_argument(text)),
                Segment::Var { at, .. } => out.push_str(value.get(at.clone()).unwrap_or_default()),
                Segment::Call { function, args, at } => {
                    if computable(segment) {
                        let v = texts.call(segment, value, span, notes);
                        out.push_str(&escape_argument(&v));
                    } else if contains_properties(args) {
                        out.push_str(&serialize_call(*function, args, texts, value, span, notes));
                    } else {
                        out.push_str(value.get(at.clone()).unwrap_or_default());
                    }
                }
            }
        }
    }
    out.push_str(")}");
    out
}

/// Literal text inside a function argument, escaped as JMeter's parser reads it back.
fn escape_argument(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' => out.push_str("\\,"),
            '\\' if matches!(chars.peek(), Some('$' | ',' | '\\') | None) => out.push_str("\\\\"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sources: &mut Sources, value: &str) -> Text {
        let id = sources.add_pseudo("t", value.to_string());
        Text { value: value.to_string(), span: sources.whole(id), template: template::parse(value).unwrap() }
    }

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn properties_become_their_values_and_pure_calls_are_computed() {
        let mut sources = Sources::new();
        let t1 = text(&mut sources, r"${__P(host,localhost)}:${__P(port,80)}/a\,b/${id}");
        let t2 = text(&mut sources, "${__urlencode(${__P(q,red shoes)})}-${__intSum(1,${__P(n,2)},total)}");
        let t3 = text(&mut sources, "${__property(user,who,anon)}");
        let p = props(&[("port", "8080")]);
        let mut texts = Texts::new(&sources, &p);
        let mut notes = Vec::new();
        assert_eq!(texts.render(&t1, &mut notes), r"localhost:8080/a\,b/${id}");
        assert_eq!(texts.render(&t2, &mut notes), "red+shoes-3");
        assert_eq!(texts.render(&t3, &mut notes), "anon");
        assert!(notes.is_empty() && texts.errors.is_empty(), "{notes:?}");
        let used: Vec<(&str, &str, &From)> = texts.used.iter().map(|(k, (v, f))| (k.as_str(), v.as_str(), f)).collect();
        assert_eq!(
            used,
            [
                ("host", "localhost", &From::Default),
                ("port", "8080", &From::Given),
                ("q", "red shoes", &From::Default),
                ("n", "2", &From::Default),
                ("user", "anon", &From::Default)
            ]
        );
        let stored: Vec<(&str, &str)> = texts.stored.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(stored, [("total", "3"), ("who", "anon")]);
    }

    #[test]
    fn a_property_without_value_or_default_is_an_error_naming_it_once() {
        let mut sources = Sources::new();
        let t = text(&mut sources, "/in/${__P(input)}?again=${__P(input)}");
        let mut texts = Texts::new(&sources, &HashMap::new());
        let mut notes = Vec::new();
        assert_eq!(texts.render(&t, &mut notes), "/in/${__P(input)}?again=${__P(input)}");
        assert_eq!(texts.errors.len(), 1);
        let e = &texts.errors[0];
        assert_eq!(e.message, "property `input` is not set and `${__P(input)}` has no default");
        assert_eq!((e.span.unwrap().col, e.span.unwrap().len), (5, 13));
        assert!(e.help.as_deref().unwrap().contains("-J input=VALUE"));
    }

    #[test]
    fn a_missing_property_inside_another_call_is_reported_once_and_a_computed_name_is_an_error() {
        let mut sources = Sources::new();
        let t = text(&mut sources, "${__urlencode(${__P(q)})}/${__P(${__P(key,k)})}");
        let mut texts = Texts::new(&sources, &HashMap::new());
        texts.render(&t, &mut Vec::new());
        let messages: Vec<&str> = texts.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "property `q` is not set and `${__P(q)}` has no default",
                "cannot compute `${__P(${__P(key,k)})}`: property `k` of `__P` is not set and has no default"
            ]
        );
    }

    #[test]
    fn functions_that_change_per_request_are_kept_with_a_note() {
        let mut sources = Sources::new();
        let t = text(&mut sources, "/n/${__counter(TRUE,)}/${__Random(1,${__P(max,9)})}/${__urlencode(${name})}");
        let mut texts = Texts::new(&sources, &HashMap::new());
        let mut notes = Vec::new();
        assert_eq!(texts.render(&t, &mut notes), "/n/${__counter(TRUE,)}/${__Random(1,9)}/${__urlencode(${name})}");
        let messages: Vec<&str> = notes.iter().map(|(_, m)| m.as_str()).collect();
        assert!(
            messages[0].starts_with("`${__counter(TRUE,)}` (__counter) gives a new value each time: kept for JMeter")
        );
        assert!(messages[1].starts_with("`${__Random(1,${__P(max,9)})}` (__Random)"), "{}", messages[1]);
        assert!(messages[2].starts_with("`${__urlencode(${name})}` depends on variables"), "{}", messages[2]);
        assert_eq!(notes[0].0.col, 4);
        assert_eq!(escape_argument(r"a,b${c}\d\"), r"a\,b\${c}\d\\");
    }

    #[test]
    fn conditions_that_are_not_templates_stay_as_written() {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("t", "x");
        let span = sources.whole(id);
        let raw = Text { value: r#"${__jexl3("${a}" == "1")}"#.into(), span, template: Template::default() };
        let mut texts = Texts::new(&sources, &HashMap::new());
        assert_eq!(texts.render_raw(&raw, &mut Vec::new()), raw.value);
        let p = Text { value: "${__P(on,true)}".into(), span, template: Template::default() };
        assert_eq!(texts.render_raw(&p, &mut Vec::new()), "true");
    }
}
