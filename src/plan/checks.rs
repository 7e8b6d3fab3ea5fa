//! Response checks, compiled once: assertions (`assert`, `assert-jsonpath`) that can fail a
//! sample, and extractors (`extract-regexp`, `extract-jsonpath`, `extract-boundary`) that copy
//! parts of a response into user variables. The defaults are Taurus's (taurus.md 1.4); the engine
//! applies them in `engine::checks`.

use regex::Regex;
use serde_json_path::JsonPath;

use super::scenario::Template;

/// The part of a response a check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The response body (default).
    Body,
    /// The status line and headers, one `Name: value` per line.
    Headers,
    /// The status code as text.
    HttpCode,
    /// The final URL (after redirects).
    Url,
}

impl Subject {
    /// Reads a Taurus `subject` value.
    pub fn parse(text: &str) -> Option<Subject> {
        match text {
            "body" => Some(Subject::Body),
            "headers" => Some(Subject::Headers),
            "http-code" => Some(Subject::HttpCode),
            "url" => Some(Subject::Url),
            _ => None,
        }
    }

    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Body => "body",
            Subject::Headers => "headers",
            Subject::HttpCode => "response code",
            Subject::Url => "URL",
        }
    }
}

/// One string of an `assert` entry's `contains` list.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// A regex found anywhere in the subject (`regexp: true`, the default).
    Regex(Regex),
    /// A plain substring (`regexp: false`).
    Text(String),
    /// Has `${name}` placeholders: rendered (and compiled, when a regex) per response.
    Dynamic {
        /// The pattern text.
        template: Template,
        /// Whether the rendered text is a regex.
        regex: bool,
    },
}

/// One assertion.
#[derive(Clone, Debug)]
pub enum Assertion {
    /// `assert`: every pattern must be found in the subject (none of them with `not`).
    Contains {
        /// What is searched.
        subject: Subject,
        /// All must match (JMeter's AND), or any one with `any`.
        patterns: Vec<(Pattern, String)>,
        /// JMeter's OR: one pattern that matches is enough.
        any: bool,
        /// Invert each test.
        not: bool,
        /// Ignore an error status of the response; only the assertion decides.
        assume_success: bool,
    },
    /// `assert-jsonpath`: the path must find something (and match `expected-value` with `validate`).
    JsonPath {
        /// Compiled path.
        path: JsonPath,
        /// The path as written, for messages.
        text: String,
        /// Compare the value with `expected`.
        validate: bool,
        /// The expected value (a full-match regex by default).
        expected: Expected,
        /// With `validate`: a JSON null passes.
        expect_null: bool,
        /// Fail when the assertion would pass, and pass when it would fail.
        invert: bool,
    },
    /// JMeter's `DurationAssertion`: the sample took at most `max`.
    Duration {
        /// The longest time allowed.
        max: std::time::Duration,
    },
}

/// Whether any of these checks reads `s` of a response (so the reader keeps it).
pub fn reads(assertions: &[Assertion], extractors: &[Extractor], s: Subject) -> bool {
    assertions.iter().any(|a| match a {
        Assertion::Contains { subject, .. } => *subject == s,
        Assertion::JsonPath { .. } => s == Subject::Body,
        Assertion::Duration { .. } => false,
    }) || extractors.iter().any(|e| e.source == Source::Response(s))
}

/// The `expected-value` of a JSONPath assertion.
#[derive(Clone, Debug)]
pub enum Expected {
    /// `regexp: true` (default): the whole value must match.
    Regex(Regex, String),
    /// `regexp: false`: the value must equal the text.
    Text(String),
}

/// Where an extractor reads from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A part of the response.
    Response(Subject),
    /// The value of a user variable (`from-variable`).
    Variable(String),
}

/// One extractor: sets variable `var` from the response.
#[derive(Clone, Debug)]
pub struct Extractor {
    /// The variable it sets.
    pub var: String,
    /// What it reads.
    pub source: Source,
    /// How it finds the value.
    pub kind: ExtractKind,
    /// Which match: `n > 0` the n-th, `0` a random one, `< 0` all of them (`var_1`, `var_2`, ...,
    /// `var_matchNr`).
    pub match_no: i64,
    /// Value set when nothing is found.
    pub default: String,
    /// Whether `default` was written: then finding nothing is expected and does not fail the sample.
    pub default_given: bool,
}

/// How an extractor finds its value.
#[derive(Clone, Debug)]
pub enum ExtractKind {
    /// `extract-regexp`: a regex and a `$1$`-style template of its groups.
    Regex {
        /// Compiled regex.
        regex: Regex,
        /// The value built from a match.
        template: Vec<GroupRef>,
    },
    /// `extract-jsonpath`.
    JsonPath {
        /// Compiled path.
        path: JsonPath,
        /// With `match-no: -1`, also set `var_ALL` to every match joined with `,`.
        concat: bool,
    },
    /// `extract-boundary`: the text between `left` and `right`.
    Boundary {
        /// Text before the value.
        left: String,
        /// Text after the value.
        right: String,
    },
}

/// A piece of a regex extractor's template.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupRef {
    /// Literal text.
    Lit(String),
    /// A capture group (`$1$`).
    Group(usize),
}

/// Reads a regex extractor's `template`: a bare number means that group (Taurus's `template: 1`),
/// otherwise `$n$` marks group `n` inside literal text, as in JMeter.
pub fn parse_group_template(text: &str) -> Vec<GroupRef> {
    if let Ok(n) = text.trim().parse::<usize>() {
        return vec![GroupRef::Group(n)];
    }
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        let after = &rest[start + 1..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && after[digits..].starts_with('$') {
            lit.push_str(&rest[..start]);
            if !lit.is_empty() {
                out.push(GroupRef::Lit(std::mem::take(&mut lit)));
            }
            out.push(GroupRef::Group(after[..digits].parse().unwrap_or(0)));
            rest = &after[digits + 1..];
        } else {
            lit.push_str(&rest[..=start]);
            rest = after;
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(GroupRef::Lit(lit));
    }
    out
}

/// Compiles a JSONPath written for JMeter (Jayway): a path without `$` starts at the root, and
/// `$.[0]` means `$[0]`.
pub fn compile_jsonpath(text: &str) -> Result<JsonPath, String> {
    let text = text.trim();
    let mut path = if text.starts_with('$') { text.to_string() } else { format!("$.{text}") };
    // Jayway accepts a dot before a bracket; RFC 9535 does not (a descendant `..[` stays as it is).
    let mut fixed = String::with_capacity(path.len());
    let mut chars = path.chars().peekable();
    let mut prev = '\0';
    while let Some(c) = chars.next() {
        if c == '.' && prev != '.' && chars.peek() == Some(&'[') {
            prev = c;
            continue;
        }
        fixed.push(c);
        prev = c;
    }
    path = fixed;
    JsonPath::parse(&path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_templates_follow_jmeter() {
        assert_eq!(parse_group_template("1"), vec![GroupRef::Group(1)]);
        assert_eq!(parse_group_template("$1$"), vec![GroupRef::Group(1)]);
        assert_eq!(
            parse_group_template("id=$2$-$1$ $x$"),
            vec![
                GroupRef::Lit("id=".into()),
                GroupRef::Group(2),
                GroupRef::Lit("-".into()),
                GroupRef::Group(1),
                GroupRef::Lit(" $x$".into())
            ]
        );
    }

    #[test]
    fn jayway_paths_compile() {
        let doc = serde_json::json!([{"userId": 1}, {"userId": 2}]);
        let p = compile_jsonpath("$.[1].userId").unwrap();
        assert_eq!(p.query(&doc).all(), vec![&serde_json::json!(2)]);
        let doc = serde_json::json!({"a": {"b": [1, 2]}});
        assert_eq!(compile_jsonpath("a.b[0]").unwrap().query(&doc).all(), vec![&serde_json::json!(1)]);
        assert_eq!(compile_jsonpath("$..b[1]").unwrap().query(&doc).all(), vec![&serde_json::json!(2)]);
        assert!(compile_jsonpath("$.[").is_err());
        assert!(compile_jsonpath("$.").is_err());
    }
}
