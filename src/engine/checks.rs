//! Running a request's checks on its response: assertions decide whether the sample failed
//! (with a message saying why), extractors set user variables. JSON is parsed at most once per
//! response, and only when a check needs it. Checks see at most the request's `body_limit`
//! bytes of the body (`max-body-seen`); a check that fails on a body cut there says so.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use serde_json::Value as Json;

use crate::plan::checks::{Assertion, Expected, ExtractKind, Extractor, GroupRef, Pattern, Source, Subject};
use crate::plan::scenario::{Functions, UserVars};

/// The parts of a response that checks read.
pub struct Response<'a> {
    /// HTTP status.
    pub status: u16,
    /// Body as text (lossy for non-UTF-8 bytes).
    pub body: Cow<'a, str>,
    /// Status line and headers.
    pub headers: &'a str,
    /// Final URL.
    pub url: &'a str,
    /// How long the request took (for JMeter's duration assertion).
    pub elapsed: std::time::Duration,
    /// The body parsed as JSON: not tried yet, or the result.
    json: Option<Option<Json>>,
    /// The limit the body reached, when checks may not see all of it.
    cut_at: Option<usize>,
    status_text: String,
}

impl<'a> Response<'a> {
    /// A response view over the received parts.
    pub fn new(status: u16, body: &'a [u8], headers: &'a str, url: &'a str) -> Self {
        Self::within(status, body, headers, url, usize::MAX)
    }

    /// A response view whose body is the first `limit` bytes of `body` (the request's
    /// `body_limit`): the reader keeps no more, and a body that reached the limit is marked so
    /// that a failed check can say it saw only part of it.
    pub fn within(status: u16, body: &'a [u8], headers: &'a str, url: &'a str, limit: usize) -> Self {
        let seen = &body[..body.len().min(limit)];
        Response {
            status,
            body: String::from_utf8_lossy(seen),
            headers,
            url,
            elapsed: std::time::Duration::ZERO,
            json: None,
            status_text: status.to_string(),
            cut_at: (body.len() >= limit).then_some(limit),
        }
    }

    /// " (checks see the first N bytes …)" after a message about a body cut at its limit.
    fn cut_note(&self, subject: Subject) -> String {
        match (subject, self.cut_at) {
            (Subject::Body, Some(limit)) => {
                format!(" (checks see only the first {limit} bytes of the body: raise `max-body-seen`)")
            }
            _ => String::new(),
        }
    }

    fn subject(&self, s: Subject) -> &str {
        match s {
            Subject::Body => &self.body,
            Subject::Headers => self.headers,
            Subject::HttpCode => &self.status_text,
            Subject::Url => self.url,
        }
    }

    fn json(&mut self) -> Option<&Json> {
        if self.json.is_none() {
            self.json = Some(serde_json::from_str(&self.body).ok());
        }
        self.json.as_ref().and_then(Option::as_ref)
    }
}

/// Runs an assertion; `Err` carries the failure message.
pub fn assert(
    a: &Assertion,
    response: &mut Response<'_>,
    vars: &mut UserVars,
    functions: &Functions,
) -> Result<(), String> {
    match a {
        Assertion::Contains { subject, patterns, any, not, .. } => {
            let text = response.subject(*subject);
            let mut first_failure = None;
            for (pattern, source) in patterns {
                let found = match pattern {
                    Pattern::Regex(r) => r.is_match(text),
                    Pattern::Text(t) => text.contains(t.as_str()),
                    Pattern::Dynamic { template, regex } => {
                        let rendered = template.render(vars, functions).map_err(|e| format!("assertion: {e}"))?;
                        if *regex {
                            match Regex::new(&rendered) {
                                Ok(r) => r.is_match(text),
                                Err(_) => return Err(format!("assertion: `{rendered}` is not a valid regex")),
                            }
                        } else {
                            text.contains(rendered.as_ref())
                        }
                    }
                };
                if found == *not {
                    let regex = !matches!(pattern, Pattern::Text(_) | Pattern::Dynamic { regex: false, .. });
                    let what = match (regex, *not) {
                        (true, false) => "does not match",
                        (true, true) => "matches",
                        (false, false) => "does not contain",
                        (false, true) => "contains",
                    };
                    let shown = match pattern {
                        Pattern::Dynamic { template, .. } => {
                            template.render(vars, functions).map_err(|e| format!("assertion: {e}"))?.into_owned()
                        }
                        _ => source.clone(),
                    };
                    let note = response.cut_note(*subject);
                    let message = format!("assertion failed: {} {what} `{shown}`{note}", subject.name());
                    if !*any {
                        return Err(message);
                    }
                    first_failure.get_or_insert(message);
                    continue;
                }
                if *any {
                    // JMeter's OR: one pattern that holds is enough.
                    return Ok(());
                }
            }
            first_failure.map_or(Ok(()), Err)
        }
        Assertion::Duration { max } => {
            if response.elapsed > *max {
                return Err(format!(
                    "assertion failed: the response took {} ms, more than {} ms",
                    response.elapsed.as_millis(),
                    max.as_millis()
                ));
            }
            Ok(())
        }
        Assertion::JsonPath { path, text, validate, expected, expect_null, invert } => {
            let note = response.cut_note(Subject::Body);
            let result = match response.json() {
                None => Err(format!("assertion failed: the body is not JSON{note}")),
                Some(doc) => {
                    let found = path.query(doc).all();
                    if found.is_empty() {
                        Err(format!("assertion failed: `{text}` found nothing{note}"))
                    } else if !validate
                        || found.iter().any(|v| (*expect_null && v.is_null()) || matches_expected(v, expected))
                    {
                        Ok(())
                    } else {
                        let want = match expected {
                            Expected::Regex(_, t) | Expected::Text(t) => t.as_str(),
                        };
                        let got = found.iter().map(|v| json_text(v)).collect::<Vec<_>>().join(", ");
                        Err(format!("assertion failed: `{text}` is `{got}`, expected `{want}`"))
                    }
                }
            };
            match (result, invert) {
                (r, false) => r,
                (Ok(()), true) => Err(format!("assertion failed: `{text}` matched, and the assertion is inverted")),
                (Err(_), true) => Ok(()),
            }
        }
    }
}

fn matches_expected(v: &Json, expected: &Expected) -> bool {
    let text = json_text(v);
    match expected {
        Expected::Regex(r, _) => r.is_match(&text),
        Expected::Text(t) => text == *t,
    }
}

/// A JSON value as JMeter shows it: strings without quotes, everything else as JSON.
fn json_text(v: &Json) -> Cow<'_, str> {
    match v {
        Json::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Runs an extractor, setting its variables; `Err` (when nothing was found and no `default`
/// was written) carries the message that fails the sample. The default is set either way.
pub fn extract(
    e: &Extractor,
    response: &mut Response<'_>,
    vars: &mut HashMap<String, String>,
    rng: &mut fastrand::Rng,
) -> Result<(), String> {
    let values = match &e.source {
        Source::Variable(name) => {
            let input = vars.get(name).cloned().unwrap_or_default();
            find(&e.kind, &input, None)
        }
        Source::Response(Subject::Body) if matches!(e.kind, ExtractKind::JsonPath { .. }) => {
            find(&e.kind, "", Some(response.json()))
        }
        Source::Response(s) => find(&e.kind, response.subject(*s), None),
    };
    if e.match_no < 0 {
        // All matches: name_1..name_n and name_matchNr, as JMeter sets them.
        let old = vars.get(&format!("{}_matchNr", e.var)).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
        for i in values.len() + 1..=old {
            vars.remove(&format!("{}_{i}", e.var));
        }
        for (i, v) in values.iter().enumerate() {
            vars.insert(format!("{}_{}", e.var, i + 1), v.clone());
        }
        vars.insert(format!("{}_matchNr", e.var), values.len().to_string());
        if let ExtractKind::JsonPath { concat: true, .. } = e.kind {
            vars.insert(format!("{}_ALL", e.var), values.join(","));
        }
    }
    let chosen = match e.match_no {
        n if n < 0 => values.first(),
        0 if values.is_empty() => None,
        0 => values.get(rng.usize(..values.len())),
        n => values.get(n as usize - 1),
    };
    match chosen {
        Some(v) => {
            vars.insert(e.var.clone(), v.clone());
            Ok(())
        }
        None => {
            vars.insert(e.var.clone(), e.default.clone());
            if e.default_given {
                Ok(())
            } else {
                let (kind, what) = match &e.kind {
                    ExtractKind::Regex { regex, .. } => ("extract-regexp", regex.as_str().to_string()),
                    ExtractKind::JsonPath { .. } => ("extract-jsonpath", "its JSONPath".to_string()),
                    ExtractKind::Boundary { left, right } => ("extract-boundary", format!("{left}…{right}")),
                };
                let (place, note) = match &e.source {
                    Source::Variable(v) => (format!("variable `{v}`"), String::new()),
                    Source::Response(s) => (s.name().to_string(), response.cut_note(*s)),
                };
                let nth = if e.match_no > 1 { format!(" match {} of", e.match_no) } else { String::new() };
                Err(format!("{kind} `{}`: found nothing for{nth} `{what}` in the {place}{note}", e.var))
            }
        }
    }
}

/// Every match of the extractor in `text` (or in `json` for JSONPath), in order.
fn find(kind: &ExtractKind, text: &str, json: Option<Option<&Json>>) -> Vec<String> {
    match kind {
        ExtractKind::Regex { regex, template } => regex
            .captures_iter(text)
            .map(|caps| {
                let mut out = String::new();
                for piece in template {
                    match piece {
                        GroupRef::Lit(s) => out.push_str(s),
                        GroupRef::Group(n) => out.push_str(caps.get(*n).map_or("", |m| m.as_str())),
                    }
                }
                out
            })
            .collect(),
        ExtractKind::JsonPath { path, .. } => {
            let parsed;
            let doc = match json {
                Some(doc) => doc,
                None => {
                    parsed = serde_json::from_str::<Json>(text).ok();
                    parsed.as_ref()
                }
            };
            doc.map(|d| path.query(d).all().into_iter().map(|v| json_text(v).into_owned()).collect())
                .unwrap_or_default()
        }
        ExtractKind::Boundary { left, right } => {
            let mut out = Vec::new();
            let mut rest = text;
            while let Some(start) = rest.find(left.as_str()) {
                let after = &rest[start + left.len()..];
                let Some(end) = after.find(right.as_str()) else { break };
                out.push(after[..end].to_string());
                rest = &after[end + right.len()..];
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::{compile_jsonpath, parse_group_template};

    fn regex_extractor(re: &str, template: &str, match_no: i64, default: Option<&str>) -> Extractor {
        Extractor {
            var: "v".into(),
            source: Source::Response(Subject::Body),
            kind: ExtractKind::Regex { regex: Regex::new(re).unwrap(), template: parse_group_template(template) },
            match_no,
            default: default.unwrap_or("NOT_FOUND").into(),
            default_given: default.is_some(),
        }
    }

    fn run(e: &Extractor, body: &str, vars: &mut HashMap<String, String>) -> Result<(), String> {
        let mut r = Response::new(200, body.as_bytes(), "HTTP/1.1 200 OK\nContent-Type: text/plain\n", "http://h/x");
        extract(e, &mut r, vars, &mut fastrand::Rng::with_seed(7))
    }

    #[test]
    fn regex_extractors_take_the_nth_match_through_the_template() {
        let mut vars = HashMap::new();
        let body = "id=1;name=a id=2;name=b";
        run(&regex_extractor(r"id=(\d);name=(\w)", "$2$-$1$", 2, None), body, &mut vars).unwrap();
        assert_eq!(vars["v"], "b-2");
        run(&regex_extractor(r"id=(\d)", "1", -1, None), body, &mut vars).unwrap();
        assert_eq!((vars["v_1"].as_str(), vars["v_2"].as_str(), vars["v_matchNr"].as_str()), ("1", "2", "2"));
        let e = run(&regex_extractor(r"zzz(\d)", "1", 1, None), body, &mut vars).unwrap_err();
        assert_eq!(e, "extract-regexp `v`: found nothing for `zzz(\\d)` in the body");
        assert_eq!(vars["v"], "NOT_FOUND");
        run(&regex_extractor(r"zzz(\d)", "1", 1, Some("none")), body, &mut vars).unwrap();
        assert_eq!(vars["v"], "none");
    }

    #[test]
    fn jsonpath_and_boundary_extractors() {
        let mut vars = HashMap::new();
        let e = Extractor {
            var: "ids".into(),
            source: Source::Response(Subject::Body),
            kind: ExtractKind::JsonPath { path: compile_jsonpath("$.items[*].id").unwrap(), concat: true },
            match_no: -1,
            default: "NOT_FOUND".into(),
            default_given: false,
        };
        run(&e, r#"{"items":[{"id":"a"},{"id":7}]}"#, &mut vars).unwrap();
        assert_eq!((vars["ids"].as_str(), vars["ids_2"].as_str(), vars["ids_ALL"].as_str()), ("a", "7", "a,7"));
        let b = Extractor {
            var: "t".into(),
            source: Source::Response(Subject::Headers),
            kind: ExtractKind::Boundary { left: "Content-Type: ".into(), right: "\n".into() },
            match_no: 1,
            default: "NOT_FOUND".into(),
            default_given: false,
        };
        run(&b, "", &mut vars).unwrap();
        assert_eq!(vars["t"], "text/plain");
    }

    #[test]
    fn assertions_pass_fail_and_explain() {
        let mut vars = UserVars::new(1);
        vars.vars.insert("who".to_string(), "bob".to_string());
        let functions = Functions::default();
        let mut r = Response::new(404, br#"{"user":"bob","n":5}"#, "HTTP/1.1 404 Not Found\n", "");
        let contains = |pats: &[&str], subject, regex, not| Assertion::Contains {
            subject,
            any: false,
            patterns: pats
                .iter()
                .map(|p| {
                    let t = crate::plan::Template::parse(p);
                    let pat = if !t.is_literal() {
                        Pattern::Dynamic { template: t, regex }
                    } else if regex {
                        Pattern::Regex(Regex::new(p).unwrap())
                    } else {
                        Pattern::Text(p.to_string())
                    };
                    (pat, p.to_string())
                })
                .collect(),
            not,
            assume_success: false,
        };
        assert!(
            assert(&contains(&["us.r", "${who}"], Subject::Body, true, false), &mut r, &mut vars, &functions).is_ok()
        );
        let e = assert(&contains(&["us.r", "alice"], Subject::Body, true, false), &mut r, &mut vars, &functions)
            .unwrap_err();
        assert_eq!(e, "assertion failed: body does not match `alice`");
        let e = assert(&contains(&["404"], Subject::HttpCode, false, true), &mut r, &mut vars, &functions).unwrap_err();
        assert_eq!(e, "assertion failed: response code contains `404`");
        let jp = |path: &str, validate, expected: &str, invert| Assertion::JsonPath {
            path: compile_jsonpath(path).unwrap(),
            text: path.into(),
            validate,
            expected: Expected::Regex(Regex::new(&format!("^(?:{expected})$")).unwrap(), expected.into()),
            expect_null: false,
            invert,
        };
        assert!(assert(&jp("$.n", true, "[0-9]", false), &mut r, &mut vars, &functions).is_ok());
        let e = assert(&jp("$.n", true, "6", false), &mut r, &mut vars, &functions).unwrap_err();
        assert_eq!(e, "assertion failed: `$.n` is `5`, expected `6`");
        let e = assert(&jp("$.missing", false, "", false), &mut r, &mut vars, &functions).unwrap_err();
        assert_eq!(e, "assertion failed: `$.missing` found nothing");
        assert!(assert(&jp("$.missing", false, "", true), &mut r, &mut vars, &functions).is_ok());
    }

    #[test]
    fn checks_see_the_body_up_to_its_limit_and_say_when_it_was_cut() {
        let body = br#"{"a": 1, "big": "xxxxxxxxxx", "tail": "END"}"#;
        let mut r = Response::within(200, body, "", "", 16);
        assert_eq!(r.body, r#"{"a": 1, "big": "#);
        let has = |text: &str| Assertion::Contains {
            any: false,
            subject: Subject::Body,
            patterns: vec![(Pattern::Text(text.into()), text.into())],
            not: false,
            assume_success: false,
        };
        assert!(assert(&has("\"a\": 1"), &mut r, &mut UserVars::new(1), &Functions::default()).is_ok());
        let e = assert(&has("END"), &mut r, &mut UserVars::new(1), &Functions::default()).unwrap_err();
        assert_eq!(
            e,
            "assertion failed: body does not contain `END` (checks see only the first 16 bytes of the body: raise `max-body-seen`)"
        );
        let e = assert(
            &Assertion::JsonPath {
                path: compile_jsonpath("$.a").unwrap(),
                text: "$.a".into(),
                validate: false,
                expected: Expected::Text(String::new()),
                expect_null: false,
                invert: false,
            },
            &mut r,
            &mut UserVars::new(1),
            &Functions::default(),
        )
        .unwrap_err();
        assert!(e.starts_with("assertion failed: the body is not JSON (checks see only the first 16 bytes"), "{e}");
        let mut vars = HashMap::new();
        let mut r = Response::within(200, body, "", "", 16);
        let e = extract(&regex_extractor("(END)", "$1$", 1, None), &mut r, &mut vars, &mut fastrand::Rng::with_seed(1));
        assert!(e
            .unwrap_err()
            .ends_with("in the body (checks see only the first 16 bytes of the body: raise `max-body-seen`)"));
        // A body under the limit is whole: no note.
        let mut r = Response::within(200, body, "", "", 1 << 20);
        assert_eq!(
            assert(&has("nope"), &mut r, &mut UserVars::new(1), &Functions::default()).unwrap_err(),
            "assertion failed: body does not contain `nope`"
        );
    }
}
