//! JMeter strings to plan templates, and the values that must be known before the test.
//!
//! `${__P(…)}`/`${__property(…)}` read properties, which are fixed for the run: they are folded
//! into the text here (and one that is not set and has no default is an error at its place).
//! Other functions stay calls, evaluated per use by the engine; `${var}` stays a variable.

use std::sync::Arc;

use super::Lower;
use crate::config::source::Span;
use crate::plan::jmx::eval::{self, EvalError};
use crate::plan::jmx::template::{self as jt, Function, Segment};
use crate::plan::jmx::{xml, Meta, Text};
use crate::plan::scenario::{Template, TemplatePart, UserVars};

impl Lower<'_, '_> {
    /// The plan template of a JMeter string; errors point into the string.
    pub(super) fn template(&mut self, text: &Text) -> Template {
        self.check(text);
        self.fold(&text.template).unwrap_or_else(|_| Template::parse(""))
    }

    /// Reports the properties a string needs that are not set, and calls that fail at plan time.
    pub(super) fn check(&mut self, text: &Text) {
        for p in eval::missing_properties(&text.template, &self.functions.properties) {
            let name = p.name.unwrap_or_default();
            let at = xml::value_span(&self.b.loaded.sources, text.span, &text.value, p.at);
            self.error_help(
                at,
                format!("JMeter property `{name}` is not set and this `__P` has no default"),
                format!(
                    "set it in `modules.jmeter.properties` or the scenario's `properties`, or with \
                     `-o modules.jmeter.properties.{name}=…`"
                ),
            );
        }
        for seg in &text.template.segments {
            if constant(seg) {
                if let Err(e) = self.eval_segment(seg) {
                    if !e.message.contains("is not set and has no default") {
                        self.eval_error(text, e);
                    }
                }
            }
        }
    }

    fn eval_error(&mut self, text: &Text, e: EvalError) {
        let at = xml::value_span(&self.b.loaded.sources, text.span, &text.value, e.at);
        self.error(at, e.message);
    }

    fn eval_segment(&self, seg: &Segment) -> Result<String, EvalError> {
        let t = jt::Template { segments: vec![seg.clone()] };
        eval::eval(&t, &mut UserVars::new(1), &self.functions)
    }

    /// A JMeter template as a plan template, property calls folded (errors are reported by
    /// [`Lower::check`] on the string the template came from).
    pub(super) fn fold(&self, t: &jt::Template) -> Result<Template, EvalError> {
        let mut parts = Vec::with_capacity(t.segments.len());
        for seg in &t.segments {
            parts.push(match seg {
                Segment::Literal(s) => TemplatePart::Lit(s.clone()),
                Segment::Var { name, .. } => TemplatePart::Var(name.clone()),
                Segment::Call { .. } if constant(seg) => TemplatePart::Lit(self.eval_segment(seg)?),
                Segment::Call { .. } => TemplatePart::Call(Arc::new(jt::Template { segments: vec![seg.clone()] })),
            });
        }
        Ok(Template::from_parts(parts))
    }

    /// The string as the plan starts: properties folded, user-defined variables filled in, other
    /// functions evaluated once (as JMeter does for thread-group fields and names).
    pub(super) fn start_value(&mut self, text: &Text) -> String {
        self.try_start_value(text).unwrap_or_else(|| text.value.clone())
    }

    /// [`Lower::start_value`], or `None` when it cannot be evaluated (the error is reported).
    pub(super) fn try_start_value(&mut self, text: &Text) -> Option<String> {
        self.check(text);
        let mut vu = UserVars::new(1);
        vu.vars = self.variables.iter().cloned().collect();
        eval::eval(&text.template, &mut vu, &self.functions).ok()
    }

    /// A whole number that must be known before the test (users, loops, seconds, …); `None`
    /// when empty. `what` names the property in the error.
    pub(super) fn start_int(&mut self, text: &Text, what: &str, meta: &Meta) -> Option<i64> {
        let value = self.start_value(text);
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return None;
        }
        match trimmed.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let shown = if value == text.value {
                    format!("`{value}`")
                } else {
                    format!("`{value}` (from `{}`)", text.value)
                };
                self.error_help(
                    text.span,
                    format!("{what} of `{}` \"{}\" must be a whole number, found {shown}", meta.testclass, meta.name.value),
                    "suite needs it before the test starts: use a number, a `${__P(name,default)}` property or a user-defined variable",
                );
                None
            }
        }
    }

    /// A value from the YAML side (`scenario.variables`, `headers`) read as JMeter reads it.
    pub(super) fn yaml_text(&mut self, value: &str, span: Span) -> String {
        match jt::parse(value) {
            Ok(t) => {
                let text = Text { value: value.to_string(), span, template: t };
                self.start_value(&text)
            }
            Err(errors) => {
                for e in errors {
                    self.error(span, e.message);
                }
                value.to_string()
            }
        }
    }
}

/// Whether a segment is a property read with no side effect and constant arguments.
fn constant(seg: &Segment) -> bool {
    match seg {
        Segment::Literal(_) => true,
        Segment::Var { .. } => false,
        Segment::Call { function: Function::P, args, .. } => args.iter().all(|a| a.segments.iter().all(constant)),
        // The second argument of `__property` names a variable to store in.
        Segment::Call { function: Function::Property, args, .. } => {
            args.get(1).is_none_or(|a| a.segments.is_empty()) && args.iter().all(|a| a.segments.iter().all(constant))
        }
        Segment::Call { .. } => false,
    }
}

/// Whether a segment's arguments reach variables or functions that change per use.
pub(super) fn is_constant(t: &jt::Template) -> bool {
    t.segments.iter().all(constant)
}
