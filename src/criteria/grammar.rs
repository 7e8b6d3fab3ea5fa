//! The short form of a criterion:
//!
//! ```text
//! [message ":"] subject [" of " label] cond threshold [(" for"|" within"|" over") timeframe]
//!     ["," ("stop"|"continue") [" as " ("failed"|"non-failed")]]
//! ```
//!
//! read as Taurus's `DataCriterion.string_to_config` reads it: the message is the text before the
//! first `:`, the action the text after the first `,`, the label may hold spaces, spaces around
//! the operator are fine. Taurus matches a regex anchored only at the start and ignores whatever
//! does not fit; this parser instead rejects such text and points at it (each deliberate
//! difference is marked `Deliberate fix` below), so every error carries a byte span into the
//! criterion and, where it can guess, a hint.

use std::ops::Range;

use super::spec::{self, Condition, Kind, Logic, Spec};
use super::subject::Subject;
use super::ParseError;

/// Where each part of a criterion sits in the text (byte ranges).
struct Parts {
    subject: Range<usize>,
    /// From the first character after `of ` up to the operator, trailing spaces included (Taurus
    /// keeps them in its JUnit name).
    label: Option<Range<usize>>,
    condition: Range<usize>,
    cond: Condition,
    threshold: Range<usize>,
    logic: Option<Range<usize>>,
    timeframe: Option<Range<usize>>,
}

/// Parses a short-form criterion such as `avg-rt of IndexPage>150ms for 10s, stop as failed`.
pub fn parse_short(text: &str) -> Result<Spec, ParseError> {
    let whole = trim(text, 0..text.len());
    if whole.is_empty() {
        return Err(error(0..text.len(), "empty criterion", Some(EXAMPLE)));
    }
    // Taurus: everything before the first `:` is the message.
    let colon = text[whole.clone()].find(':').map(|i| whole.start + i);
    let (message, body) = match colon {
        Some(c) => {
            let m = text[whole.start..c].trim();
            // An empty message (`: avg-rt>1s`) would print as a bare "Failed: "; treat it as none.
            ((!m.is_empty()).then(|| m.to_string()), c + 1..whole.end)
        }
        None => (None, whole.clone()),
    };
    // Taurus: everything after the first `,` is the action.
    let comma = text[body.clone()].find(',').map(|i| body.start + i);
    let crit = trim(text, body.start..comma.unwrap_or(body.end));
    let parsed = parse_criterion(text, crit).and_then(|parts| {
        let (stop, fail) = match comma {
            Some(c) => parse_action(text, trim(text, c + 1..body.end))?,
            None => (true, true),
        };
        build(text, whole.clone(), message, parts, stop, fail)
    });
    parsed.map_err(|e| explain_separator(text, e, &whole, body.start, colon, comma))
}

const EXAMPLE: &str = "a criterion reads like `avg-rt of IndexPage>150ms for 10s, stop as failed`";

fn error(span: Range<usize>, message: impl Into<String>, help: Option<&str>) -> ParseError {
    ParseError { span, message: message.into(), help: help.map(str::to_string), field: None }
}

/// Shrinks a range to exclude surrounding whitespace.
fn trim(text: &str, range: Range<usize>) -> Range<usize> {
    let slice = &text[range.clone()];
    let start = range.start + (slice.len() - slice.trim_start().len());
    let end = range.end - (slice.len() - slice.trim_end().len());
    start..end.max(start)
}

/// Python's `[\w?*.-]`: the characters of a subject word.
fn is_subject_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '?' | '*' | '.' | '-')
}

fn is_operator(c: char) -> bool {
    matches!(c, '<' | '>' | '=')
}

/// A cursor over one byte range of the criterion text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
}

impl<'a> Scanner<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..self.end]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> Range<usize> {
        let start = self.pos;
        let len = self.rest().find(|c| !pred(c)).unwrap_or(self.rest().len());
        self.pos += len;
        start..self.pos
    }

    fn skip_ws(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn word(&mut self) -> Range<usize> {
        self.take_while(|c| !c.is_whitespace())
    }

    /// The word at the cursor, without moving.
    fn clone_word(&self) -> Range<usize> {
        let len = self.rest().find(char::is_whitespace).unwrap_or(self.rest().len());
        self.pos..self.pos + len
    }
}

/// `subject [of label] cond threshold [logic timeframe]`, nothing more.
fn parse_criterion(text: &str, range: Range<usize>) -> Result<Parts, ParseError> {
    let mut sc = Scanner { text, pos: range.start, end: range.end };
    let subject = sc.take_while(is_subject_char);
    if subject.is_empty() {
        let bad = sc.clone_word();
        return Err(error(
            bad.clone(),
            match sc.peek() {
                None => "expected a criterion".to_string(),
                Some(_) => format!("expected a subject such as `avg-rt`, `p90` or `fail`, found `{}`", &text[bad]),
            },
            Some(EXAMPLE),
        ));
    }
    if sc.peek() == Some('/') {
        let word = subject.start..sc.clone_word().end;
        return Err(error(
            word.clone(),
            format!("`{}` looks like a monitoring metric, which the short form cannot express", &text[word]),
            Some("use the dict form with `class: bzt.modules.monitoring.MonitoringCriteria`, `subject: <source>/<metric>`, `condition`, `threshold` and `timeframe`"),
        ));
    }
    sc.skip_ws();
    let mut label = None;
    let rest = sc.rest();
    if rest.starts_with("of") && rest[2..].starts_with(char::is_whitespace) {
        let of = sc.pos..sc.pos + 2;
        sc.pos += 2;
        sc.skip_ws();
        // Taurus's label is greedy up to the *last* operator run that still leaves a threshold, so
        // `avg-rt of x>=1s` reads as label `x>` with condition `=`, a label that never matches.
        // Deliberate fix: the label ends at the first `<`, `>` or `=`.
        let Some(op) = sc.rest().find(is_operator) else {
            let end = sc.end;
            return Err(error(
                end..end,
                "expected a condition (`>`, `<`, `>=`, `<=`, `=`, `==`) after the label",
                Some(EXAMPLE),
            ));
        };
        let raw = sc.pos..sc.pos + op;
        if trim(text, raw.clone()).is_empty() {
            return Err(error(of, "expected a label after `of`", Some("write `<subject> of <label><cond><threshold>`, e.g. `avg-rt of IndexPage>150ms`; leave out `of` for the overall figures")));
        }
        // Taurus's label pattern `[\S ]` excludes tabs and line breaks, and so does this one.
        if let Some(i) = text[raw.clone()].find(|c: char| c.is_whitespace() && c != ' ') {
            let at = raw.start + i;
            let len = text[at..].chars().next().map_or(1, char::len_utf8);
            return Err(error(
                at..at + len,
                "a label in the short form cannot contain tabs or line breaks",
                Some("use the dict form, where `label:` can hold any text"),
            ));
        }
        label = Some(raw);
        sc.pos += op;
    } else if !sc.peek().is_some_and(is_operator) {
        return Err(unexpected_after_subject(text, &sc, &subject));
    }
    let condition = sc.take_while(is_operator);
    let cond_text = &text[condition.clone()];
    // Taurus reads any run of `<>=` and fails only when the module starts. Deliberate fix: the
    // parse fails, pointing at the operator.
    let Some(cond) = Condition::parse(cond_text) else {
        return Err(ParseError {
            span: condition.clone(),
            message: format!("unsupported condition `{cond_text}`"),
            help: Some(Condition::help_for(cond_text)),
            field: None,
        });
    };
    sc.skip_ws();
    let threshold = sc.word();
    if threshold.is_empty() {
        let end = sc.end;
        return Err(error(end..end, format!("expected a threshold after `{cond_text}`"), Some(EXAMPLE)));
    }
    sc.skip_ws();
    let (mut logic, mut timeframe) = (None, None);
    if !sc.at_end() {
        let word = sc.word();
        let w = &text[word.clone()];
        if Logic::parse(w).is_none() {
            return Err(unexpected_after_threshold(word, w));
        }
        sc.skip_ws();
        let tf = sc.word();
        if tf.is_empty() {
            return Err(error(
                word.end..word.end,
                format!("expected a timeframe after `{w}`"),
                Some("e.g. `for 10s`, `within 1m`"),
            ));
        }
        logic = Some(word);
        timeframe = Some(tf);
        sc.skip_ws();
        if !sc.at_end() {
            // Taurus ignores anything after the timeframe (`avg-rt>1s for 5s garbage` passes as
            // `avg-rt>1s for 5s`). Deliberate fix: it is an error.
            let rest = sc.pos..sc.end;
            return Err(error(
                rest.clone(),
                format!("unexpected `{}` after the timeframe", &text[rest]),
                Some("an action goes after a comma, e.g. `avg-rt>1s for 5s, stop as failed`"),
            ));
        }
    }
    Ok(Parts { subject, label, condition, cond, threshold, logic, timeframe })
}

/// Something other than `of` or an operator follows the subject.
fn unexpected_after_subject(text: &str, sc: &Scanner<'_>, subject: &Range<usize>) -> ParseError {
    if sc.at_end() {
        let end = sc.end;
        return error(
            end..end,
            "expected a condition (`>`, `<`, `>=`, `<=`, `=`, `==`) and a threshold",
            Some(EXAMPLE),
        );
    }
    let word = sc.clone_word();
    let w = &text[word.clone()];
    let word_only = w.split(is_operator).next().unwrap_or(w);
    let after = &text[word.start + word_only.len()..sc.end];
    if matches!(word_only, "for" | "within" | "over") && after.contains(is_operator) {
        // The Taurus docs themselves write `avg-lt for my-label>2`, which Taurus rejects as
        // malformed without saying why.
        let suggestion = format!("{} of {}", &text[subject.clone()], after.trim_start());
        return ParseError {
            span: word.start..word.start + word_only.len(),
            message: format!("expected `of` before the label, found `{word_only}`"),
            help: Some(format!("a label is introduced by `of`: `{suggestion}`")),
            field: None,
        };
    }
    error(
        word,
        format!("unexpected `{w}` after the subject"),
        Some(
            "the condition follows the subject (`avg-rt>150ms`); a label goes after `of` (`avg-rt of IndexPage>150ms`)",
        ),
    )
}

/// A word after the threshold that is not `for`, `within` or `over`.
fn unexpected_after_threshold(word: Range<usize>, w: &str) -> ParseError {
    let lower = w.to_lowercase();
    let help = if Logic::parse(&lower).is_some() {
        // Taurus's regex is case-sensitive and then ignores ` FOR 5s` entirely, silently turning
        // the criterion into a cumulative one.
        format!("write `{lower}` in lower case")
    } else {
        "after the threshold may come `for`, `within` or `over` and a timeframe, e.g. `for 10s`; an action goes after a comma".into()
    };
    ParseError { span: word, message: format!("unexpected `{w}` after the threshold"), help: Some(help), field: None }
}

/// `stop|continue [as failed|non-failed]`; an empty action keeps the defaults, as in Taurus.
fn parse_action(text: &str, range: Range<usize>) -> Result<(bool, bool), ParseError> {
    let mut sc = Scanner { text, pos: range.start, end: range.end };
    let word = |sc: &mut Scanner<'_>| sc.take_while(|c| !c.is_whitespace() && c != ',');
    if sc.at_end() {
        return Ok((true, true));
    }
    let verb = word(&mut sc);
    let stop = match &text[verb.clone()] {
        "stop" => true,
        "continue" => false,
        w => {
            let help = match w.to_lowercase().as_str() {
                l @ ("stop" | "continue") => format!("write `{l}` in lower case"),
                _ => "the action is `stop` or `continue`, optionally followed by `as failed` or `as non-failed`".into(),
            };
            return Err(ParseError {
                span: verb,
                message: format!("expected `stop` or `continue`, found `{w}`"),
                help: Some(help),
                field: None,
            });
        }
    };
    sc.skip_ws();
    if sc.at_end() {
        return Ok((stop, true));
    }
    let as_word = word(&mut sc);
    if &text[as_word.clone()] != "as" {
        // Taurus ignores anything it cannot match here. Deliberate fix: it is an error.
        let rest = as_word.start..sc.end;
        return Err(error(
            rest.clone(),
            format!("unexpected `{}` after `{}`", &text[rest], &text[verb]),
            Some("write `as failed` or `as non-failed`, or nothing"),
        ));
    }
    sc.skip_ws();
    let outcome = word(&mut sc);
    let fail = match &text[outcome.clone()] {
        "failed" => true,
        "non-failed" => false,
        "" => return Err(error(as_word.end..as_word.end, "expected `failed` or `non-failed` after `as`", None)),
        w => {
            // Taurus reads `continue as passed` as `continue` and fails the run. Deliberate fix:
            // an error that says how to get the intended meaning.
            return Err(ParseError {
                span: outcome,
                message: format!("unknown outcome `{w}`"),
                help: Some(
                    "write `as failed`, or `as non-failed` to keep the run passing when this criterion triggers".into(),
                ),
                field: None,
            });
        }
    };
    sc.skip_ws();
    if !sc.at_end() {
        let rest = sc.pos..sc.end;
        return Err(error(rest.clone(), format!("unexpected `{}` after the action", &text[rest]), None));
    }
    Ok((stop, fail))
}

/// A parse failed; if the criterion would have parsed had the first `:` or `,` been part of the
/// label, say so: Taurus cuts at these characters before looking at the label, so labels holding
/// them (any URL) can only be written in the dict form.
fn explain_separator(
    text: &str,
    original: ParseError,
    whole: &Range<usize>,
    body_start: usize,
    colon: Option<usize>,
    comma: Option<usize>,
) -> ParseError {
    // A `:` inside the label: the criterion starts at the very beginning. A `,` inside the label:
    // it starts after the message, if any.
    let attempts = colon.map(|c| (whole.start, c)).into_iter().chain(comma.map(|c| (body_start, c)));
    for (start, sep) in attempts {
        if let Some(e) = separator_in_label(text, whole, start, sep) {
            return e;
        }
    }
    original
}

/// The error for a label holding the separator at `sep`, if reading it so makes a criterion.
fn separator_in_label(text: &str, whole: &Range<usize>, start: usize, sep: usize) -> Option<ParseError> {
    // Try every `,` after the separator (and the end) as the end of the criterion.
    let ends = text[sep..whole.end].match_indices(',').map(|(i, _)| sep + i).chain(std::iter::once(whole.end));
    for end in ends {
        let Ok(parts) = parse_criterion(text, trim(text, start..end)) else {
            continue;
        };
        let Some(label) = parts.label.as_ref().map(|r| text[r.clone()].trim()) else {
            continue;
        };
        let ch = &text[sep..sep + 1];
        if !label.contains(ch) {
            continue;
        }
        let cond = &text[parts.condition.clone()];
        let mut dict = format!(
            "- subject: {}\n  label: '{}'\n  condition: '{}'\n  threshold: {}",
            &text[parts.subject.clone()],
            label.replace('\'', "''"),
            cond,
            &text[parts.threshold.clone()]
        );
        if let (Some(l), Some(tf)) = (&parts.logic, &parts.timeframe) {
            dict.push_str(&format!("\n  logic: {}\n  timeframe: {}", &text[l.clone()], &text[tf.clone()]));
        }
        // Only when reading the separator as part of the label gives a valid criterion.
        if build(text, start..end, None, parts, true, true).is_err() {
            continue;
        }
        let role = if ch == ":" { "the end of a message" } else { "the start of the action" };
        return Some(ParseError {
            span: sep..sep + 1,
            message: format!("the label `{label}` contains `{ch}`, which the short form reads as {role}"),
            help: Some(format!("use the dict form, where `label:` can hold any text:\n{dict}")),
            field: None,
        });
    }
    None
}

/// Turns the located parts into a [`Spec`], reading the subject, threshold and timeframe.
fn build(
    text: &str,
    whole: Range<usize>,
    message: Option<String>,
    parts: Parts,
    stop: bool,
    fail: bool,
) -> Result<Spec, ParseError> {
    let at = |r: &Range<usize>| &text[r.clone()];
    let subject_text = at(&parts.subject);
    let subject = Subject::parse(subject_text).map_err(|e| ParseError {
        span: parts.subject.clone(),
        message: e.message,
        help: e.help,
        field: None,
    })?;
    let kind = Kind::Kpi(subject);
    let threshold_text = at(&parts.threshold);
    let (threshold, percent, baseline) = spec::read_threshold_or_baseline(threshold_text, &kind, subject_text)
        .map_err(|e| {
            let mut help = e.help;
            if threshold_text.starts_with(is_operator) {
                help = Some("remove the space inside the condition, e.g. `>=` rather than `> =`".into());
            }
            ParseError { span: parts.threshold.clone(), message: e.message, help, field: None }
        })?;
    let logic = parts.logic.as_ref().and_then(|r| Logic::parse(at(r))).unwrap_or(Logic::For);
    let timeframe_secs = match &parts.timeframe {
        Some(r) => spec::read_timeframe(at(r)).map_err(|e| ParseError {
            span: r.clone(),
            message: e.message,
            help: e.help,
            field: None,
        })?,
        None => 0.0,
    };
    if let (Some(l), Some(r)) = (&parts.logic, &parts.timeframe) {
        if timeframe_secs <= 0.0 {
            // Taurus reads `for 0s` (or `for -1`) as no timeframe at all: the criterion silently
            // becomes cumulative. Deliberate fix: say so.
            return Err(ParseError {
                span: l.start..r.end,
                message: format!("`{} {}` is not a timeframe: it must be longer than 0", at(l), at(r)),
                help: Some(
                    "leave it out to judge the whole test once at the end, or give a window such as `for 10s`".into(),
                ),
                field: None,
            });
        }
    }
    let label_raw = parts.label.as_ref().map_or("", |r| at(r));
    // Taurus keeps spaces between the label and the operator in the label (`of Page >1s` reads
    // `Page `), so the label never matches. Deliberate fix: the label is trimmed; the JUnit name
    // keeps the raw text, as Taurus prints it.
    let label = label_raw.trim().to_string();
    let condition_text = at(&parts.condition);
    let taurus_name = spec::taurus_name(
        subject_text,
        Some(label_raw),
        condition_text,
        threshold_text,
        parts.timeframe.as_ref().map(at),
    );
    Ok(Spec {
        text: text[whole].to_string(),
        message,
        subject: subject_text.to_string(),
        label,
        condition: parts.cond,
        condition_text: condition_text.to_string(),
        threshold,
        threshold_text: threshold_text.to_string(),
        percent,
        logic,
        timeframe_secs,
        stop,
        fail,
        kind,
        taurus_name,
        diff_percent: None,
        diff_percent_previous: None,
        baseline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Spec {
        parse_short(text).unwrap_or_else(|e| panic!("{text:?}: {e} ({:?}) {:?}", e.span, e.help))
    }

    fn err(text: &str) -> ParseError {
        match parse_short(text) {
            Ok(spec) => panic!("{text:?} parsed: {spec:?}"),
            Err(e) => {
                assert!(e.span.end <= text.len(), "{text:?}: span {:?} out of range", e.span);
                e
            }
        }
    }

    /// Issue 10: values Taurus accepts but that can never (or always) trigger.
    #[test]
    fn meaningless_thresholds_and_empty_timeframes_are_errors() {
        let e = err("avg-rt>1s for 0s, stop as failed");
        assert_eq!(e.message, "`for 0s` is not a timeframe: it must be longer than 0");
        assert_eq!(e.span, 10..16);
        assert!(e.help.unwrap().starts_with("leave it out to judge the whole test once at the end"));
        assert_eq!(err("avg-rt>1s within -1").span, 10..19);
        let e = err("fail>200%");
        assert_eq!(
            (e.message.as_str(), e.span.clone()),
            ("`200%` is more than 100%, which a share of hits never reaches", 5..9)
        );
        assert_eq!(e.help.as_deref(), Some("write a percentage from 0% to 100%, e.g. `fail>5%`"));
        assert_eq!(err("avg-rt of x>-1ms").message, "`-1ms` is negative, but `avg-rt` is a time, never below 0");
        assert_eq!(err("hits>-5").message, "`-5` is negative, but `hits` is a count, never below 0");
        assert_eq!(err("rc500<-1%").message, "`-1%` is negative, but `rc500` is a share of hits, never below 0");
        assert!(err("avg-rt>1s for 99999999999999999999d").message.contains("duration too large"));
        // The edges keep their meaning.
        assert_eq!(ok("fail>=100%").threshold, 100.0);
        assert_eq!(ok("succ<0%").threshold, 0.0);
        assert_eq!(ok("avg-rt>0ms for 1s").timeframe_secs, 1.0);
        assert!(ok("avg-rt>99999999999999999999d").threshold > 1e24, "a threshold is a number, not a duration");
    }

    /// The table of verified Taurus parses (reference section 2.2).
    #[test]
    fn verified_parses() {
        let s = ok("avg-rt of root>150ms for 10s, continue as failed");
        assert_eq!(s.kind, Kind::Kpi(Subject::AvgRt));
        assert_eq!(s.label, "root");
        assert_eq!(s.condition, Condition::Gt);
        assert_eq!(s.threshold, 0.15);
        assert_eq!(s.threshold_text, "150ms");
        assert_eq!((s.logic, s.timeframe_secs), (Logic::For, 10.0));
        assert_eq!((s.stop, s.fail), (false, true));
        assert_eq!(s.taurus_name, "avg-rt of root>150ms for 10s");

        let s = ok("avg-rt of Label With Spaces>1s over 5s");
        assert_eq!((s.label.as_str(), s.logic, s.timeframe_secs), ("Label With Spaces", Logic::Over, 5.0));

        let s = ok("avg-rt >  1s");
        assert_eq!((s.label.as_str(), s.threshold, s.timeframe_secs), ("", 1.0, 0.0));
        assert!(s.is_cumulative());
        assert_eq!(s.taurus_name, "avg-rt of >1s");

        let s = ok("rc4??>20%");
        assert_eq!((s.kind.clone(), s.threshold, s.percent), (Kind::Kpi(Subject::Rc("4??".into())), 20.0, true));
        let s = ok("rcException>99% for 1m, continue as failed");
        assert_eq!((s.timeframe_secs, s.stop, s.fail), (60.0, false, true));
        let s = ok("p99.9>10s, stop as failed");
        assert_eq!((s.kind.clone(), s.threshold), (Kind::Kpi(Subject::Percentile(99.9)), 10.0));
        let s = ok("succ<100%");
        assert_eq!((s.condition, s.threshold, s.percent), (Condition::Lt, 100.0, true));
        let s = ok("bytes of my-label>10MB");
        assert_eq!((s.label.as_str(), s.threshold), ("my-label", 10.0 * 1024.0 * 1024.0));
        let s = ok("concurrency>10");
        assert_eq!((s.kind.clone(), s.threshold), (Kind::Kpi(Subject::Concurrency), 10.0));
    }

    /// Inputs Taurus accepts by ignoring part of them are errors here.
    #[test]
    fn ignored_text_is_an_error() {
        let text = "avg-rt>1s for 5s garbage";
        let e = err(text);
        assert_eq!(&text[e.span], "garbage");
        let text = "avg-rt>1s,continue as passed";
        let e = err(text);
        assert_eq!(&text[e.span], "passed");
        assert!(e.help.unwrap().contains("non-failed"));
        let text = "avg-rt>1s FOR 5s";
        let e = err(text);
        assert_eq!(&text[e.span.clone()], "FOR");
        assert_eq!(e.help.as_deref(), Some("write `for` in lower case"));
        let text = "avg-rt>1s, Stop as failed";
        assert_eq!(err(text).help.as_deref(), Some("write `stop` in lower case"));
        let text = "avg-rt>1s, stop as failed, again";
        assert_eq!(&text[err(text).span], ", again");
        let text = "avg-rt>1s, stopping";
        assert_eq!(&text[err(text).span], "stopping");
        let text = "avg-rt>1s, continue as";
        assert!(err(text).message.contains("after `as`"));
    }

    #[test]
    fn unsupported_conditions_fail_at_parse_time() {
        for (text, op, hint) in [("avg-rt=>1s", "=>", ">="), ("avg-rt=<1s", "=<", "<="), ("avg-rt<>1s", "<>", "")] {
            let e = err(text);
            assert_eq!(&text[e.span.clone()], op, "{text}");
            assert!(e.help.unwrap().contains(hint), "{text}");
        }
        // `!=` is not an operator at all: `!` stops the subject.
        err("avg-rt!=1s");
    }

    #[test]
    fn for_instead_of_of_is_explained() {
        let text = "avg-lt for my-label>2";
        let e = err(text);
        assert_eq!(&text[e.span.clone()], "for");
        assert_eq!(e.help.as_deref(), Some("a label is introduced by `of`: `avg-lt of my-label>2`"));
        let text = "hits for my-label>100 for 5s, continue as failed";
        let e = err(text);
        assert_eq!(&text[e.span.clone()], "for");
        assert!(e.help.unwrap().contains("`hits of my-label>100 for 5s`"));
    }

    #[test]
    fn labels_with_colons_or_commas_point_to_the_dict_form() {
        let text = "avg-rt of http://x/y>1s";
        let e = err(text);
        assert_eq!(&text[e.span.clone()], ":");
        assert!(e.message.contains("`http://x/y`"), "{}", e.message);
        let help = e.help.unwrap();
        assert!(help.contains("label: 'http://x/y'"), "{help}");
        assert!(help.contains("condition: '>'"), "{help}");

        let text = "avg-rt of a,b>1s for 3s, stop as failed";
        let e = err(text);
        assert_eq!(e.span, 11..12);
        let help = e.help.unwrap();
        assert!(help.contains("label: 'a,b'") && help.contains("timeframe: 3s"), "{help}");

        // A colon that really ends a message is fine.
        let s = ok("My criteria description: avg-rt of label>100ms for 1m, continue as non-failed");
        assert_eq!(s.message.as_deref(), Some("My criteria description"));
        assert_eq!(s.label, "label");
    }

    #[test]
    fn percent_only_where_it_means_a_share() {
        let text = "avg-rt>50%";
        let e = err(text);
        assert_eq!(&text[e.span], "50%");
        for t in ["p90>5%", "hits>5%", "concurrency>5%", "bytes>5%", "stdev-rt>1%"] {
            err(t);
        }
        for t in ["fail>5%", "succ<95%", "rc5??>1%"] {
            ok(t);
        }
    }

    #[test]
    fn unknown_subjects_suggest() {
        let text = "avg_rt of x>1s";
        let e = err(text);
        assert_eq!(&text[e.span], "avg_rt");
        assert!(e.help.unwrap().starts_with("did you mean `avg-rt`"));
        let e = err("local/cpu>90");
        assert!(e.help.unwrap().contains("MonitoringCriteria"));
    }

    #[test]
    fn operator_ends_the_label() {
        // Taurus reads this as label `x>` and condition `=`.
        let s = ok("avg-rt of x>=1s");
        assert_eq!((s.label.as_str(), s.condition), ("x", Condition::Ge));
        assert_eq!(s.taurus_name, "avg-rt of x>=1s");
        let s = ok("success of Inference<=50% over 3s");
        assert_eq!((s.label.as_str(), s.condition, s.logic), ("Inference", Condition::Le, Logic::Over));
        // Spaces before the operator stay in Taurus's name but not in the label.
        let s = ok("avg-rt of Label With Spaces >1s");
        assert_eq!(s.label, "Label With Spaces");
        assert_eq!(s.taurus_name, "avg-rt of Label With Spaces >1s");
    }

    #[test]
    fn mms_criteria_after_env_substitution() {
        let s = ok("p90 >290ms  , stop as failed");
        assert_eq!((s.threshold, s.stop, s.fail), (0.29, true, true));
        assert_eq!(s.taurus_name, "p90 of >290ms");
        assert_eq!(s.text, "p90 >290ms  , stop as failed");
        let s = ok("fail >100%, stop as failed");
        assert_eq!((s.threshold, s.percent), (100.0, true));
        let s = ok("avg-rt >1s , stop as failed");
        assert_eq!(s.threshold, 1.0);
        let s = ok("success of ManagementAPIDescription<100%, stop as failed");
        assert_eq!((s.label.as_str(), s.kind.clone()), ("ManagementAPIDescription", Kind::Kpi(Subject::Succ)));
    }

    #[test]
    fn other_errors_have_spans_and_never_panic() {
        let cases = [
            "",
            "   ",
            ":",
            ",",
            "avg-rt",
            "avg-rt>",
            "avg-rt of >1s",
            "avg-rt of x",
            "avg-rt>1s for",
            "avg-rt>1x",
            "avg-rt>1s for 5q",
            "> 1s",
            "avg-rt> =1s",
            "é>1",
            "avg-rt of é>1s for 1é",
            "p>1",
            "of>1",
            "avg-rt ofx>1s",
            "a:b:c",
            "avg-rt of a\tb>1s",
            "My of non-failedg: rc404>d1",
            "avg-rt>1s, ",
            "😀 of 😀>1s",
            "avg-rt of\tx>1s",
            "rc>5",
        ];
        for text in cases {
            match parse_short(text) {
                Ok(spec) => assert!(["avg-rt>1s, ", "avg-rt of\tx>1s"].contains(&text), "{text:?} parsed: {spec:?}"),
                Err(e) => {
                    assert!(e.span.start <= e.span.end && e.span.end <= text.len(), "{text:?}: {:?}", e.span);
                    assert!(text.is_char_boundary(e.span.start) && text.is_char_boundary(e.span.end));
                }
            }
        }
        assert!(err("avg-rt> =1s").help.unwrap().contains("remove the space"));
        // A message followed by a bad threshold is not mistaken for a label holding `:`.
        assert_eq!(err("My of x: rc404>d1").message, "`d1` is not a threshold");
        assert!(err("avg-rt of a\tb>1s").message.contains("tabs"));
    }

    /// Every criterion string of Taurus's own `tests/resources/json/passfail.json`, read from the
    /// shared corpus, parses to Taurus's meaning.
    #[test]
    fn taurus_passfail_json_corpus() {
        use crate::config::{load_with, LoadOptions, Node};
        let Some(shared) = crate::testing::shared() else { return };
        let options =
            LoadOptions { files: vec![shared.join("corpus/taurus/tr-json__passfail.json")], ..LoadOptions::default() };
        let loaded = load_with(&options, &|_| None).unwrap_or_else(|(e, sources)| panic!("{}", e[0].render(&sources)));
        let criteria =
            loaded.root.pointer(["reporting", "0", "criteria"]).and_then(Node::as_seq).expect("criteria list");
        let (mut strings, mut dicts) = (0, Vec::new());
        for item in criteria {
            let Some(text) = item.as_str() else {
                // The dict entries, read as the plan reads them.
                dicts.push(crate::testing::criterion_node(item).expect("corpus dict reads").taurus_name);
                continue;
            };
            strings += 1;
            let s = ok(text);
            // (subject, label, condition, threshold, percent, timeframe, stop, fail, message)
            let want = match text {
                "concurr>=10 for 15s, stop as non-failed" => {
                    (Subject::Concurrency, "", Condition::Ge, 10.0, false, 15.0, true, false, None)
                }
                "My criteria description: avg-rt of label>100ms for 1m, continue as non-failed" => (
                    Subject::AvgRt,
                    "label",
                    Condition::Gt,
                    0.1,
                    false,
                    60.0,
                    false,
                    false,
                    Some("My criteria description"),
                ),
                "avg-rt of double label>100ms for 1m, continue as non-failed" => {
                    (Subject::AvgRt, "double label", Condition::Gt, 0.1, false, 60.0, false, false, None)
                }
                "rc4??>50%" => (Subject::Rc("4??".into()), "", Condition::Gt, 50.0, true, 0.0, true, true, None),
                "rc4*>50%" => (Subject::Rc("4*".into()), "", Condition::Gt, 50.0, true, 0.0, true, true, None),
                // Taurus tracks neither level and compares 0; here both are computed.
                "p88>50" => (Subject::Percentile(88.0), "", Condition::Gt, 50.0, false, 0.0, true, true, None),
                "p99.99>50" => (Subject::Percentile(99.99), "", Condition::Gt, 50.0, false, 0.0, true, true, None),
                other => panic!("corpus string without an expectation: {other:?}"),
            };
            let got = (
                match &s.kind {
                    Kind::Kpi(subject) => subject.clone(),
                    Kind::Monitoring { .. } => panic!("{text}: monitoring"),
                },
                s.label.as_str(),
                s.condition,
                s.threshold,
                s.percent,
                s.timeframe_secs,
                s.stop,
                s.fail,
                s.message.as_deref(),
            );
            assert_eq!(got, want, "{text}");
        }
        assert_eq!(strings, 7, "the corpus changed; add expectations for new strings");
        assert_eq!(dicts, ["avg-rt of >50ms for 5s", "fail of >80% for 3", "rc4?? of >50% for -1"]);
    }
}
