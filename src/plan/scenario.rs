//! Resolved scenarios: requests with their label, method, URL and body ready to send, and
//! `${name}` placeholders split out once so the hot path only fills them in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

/// Text with `${name}` placeholders, parsed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    /// Splits `text` at `${name}` placeholders; text that is not a well-formed placeholder stays literal.
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) if is_var_name(&after[..end]) => {
                    lit.push_str(&rest[..start]);
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(after[..end].to_string()));
                    rest = &after[end + 1..];
                }
                _ => {
                    lit.push_str(&rest[..start + 2]);
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template { parts }
    }

    /// Fills placeholders from `vars`; unknown names stay as written (`${name}`), as in Taurus.
    pub fn render<'a>(&'a self, vars: &HashMap<String, String>) -> Cow<'a, str> {
        if let [Part::Lit(s)] = self.parts.as_slice() {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                },
            }
        }
        Cow::Owned(out)
    }

    /// Whether the text has no placeholders.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// One scenario with everything resolved.
#[derive(Debug)]
pub struct ScenarioPlan {
    /// Name under `scenarios` (or generated for inline scenarios).
    pub name: String,
    /// Requests in order; each iteration sends them all.
    pub requests: Vec<RequestPlan>,
    /// Keep connections alive between requests of one virtual user.
    pub keepalive: bool,
    /// Initial variables of every virtual user.
    pub variables: HashMap<String, String>,
}

/// One HTTP request.
#[derive(Debug)]
pub struct RequestPlan {
    /// Index into the plan's label table.
    pub label: u32,
    /// HTTP method (upper case).
    pub method: Template,
    /// Absolute URL.
    pub url: Template,
    /// Headers, scenario-level merged with request-level.
    pub headers: Vec<(String, Template)>,
    /// Body, if any.
    pub body: Option<Template>,
    /// Pause before sending (JMeter timers run before their sampler).
    pub think_time: Option<Duration>,
    /// Connect plus response timeout.
    pub timeout: Duration,
    /// Follow 3xx redirects.
    pub follow_redirects: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let t = Template::parse("http://${host}/p/${model}?x=${missing}&y=${ bad}");
        let vars = HashMap::from([("host".to_string(), "h:1".to_string()), ("model".to_string(), "m".to_string())]);
        assert_eq!(t.render(&vars), "http://h:1/p/m?x=${missing}&y=${ bad}");
        assert!(!t.is_literal());
        let lit = Template::parse("plain $ text ${");
        assert!(lit.is_literal());
        assert!(matches!(lit.render(&vars), Cow::Borrowed("plain $ text ${")));
    }
}
