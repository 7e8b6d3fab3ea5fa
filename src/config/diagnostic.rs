//! Errors and warnings that point into the user's files, rendered like rustc and just:
//!
//! ```text
//! error: unknown key `hold_for` in an execution
//!   --> suites/demo_criteria.yaml:4:5
//!    |
//!  4 |     hold_for: 10s
//!    |     ^^^^^^^^
//!    = help: did you mean `hold-for`?
//! ```
//!
//! A [`Diagnostic`] only holds [`Span`]s; the text is looked up in [`Sources`] when rendering,
//! so diagnostics are cheap to create and can be collected from every stage.

use std::fmt::Write as _;

use crate::config::source::{Sources, Span};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// Worth telling, but the run goes on.
    Warning,
}

/// A secondary location with a short message, e.g. "first set here".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it.
    pub message: String,
}

/// An error or warning, optionally located in a source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One line, lower-case, names in backticks.
    pub message: String,
    /// The primary location, if the problem has one.
    pub span: Option<Span>,
    /// Secondary locations.
    pub labels: Vec<Label>,
    /// Extra facts (`= note: …`).
    pub notes: Vec<String>,
    /// How to fix it (`= help: …`).
    pub help: Option<String>,
}

impl Diagnostic {
    fn new(severity: Severity, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity, message: message.into(), span, labels: Vec::new(), notes: Vec::new(), help: None }
    }

    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, Some(span), message)
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, Some(span), message)
    }

    /// An error that has no location (e.g. a file that cannot be read).
    pub fn error_unlocated(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, None, message)
    }

    /// A warning that has no location.
    pub fn warning_unlocated(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, None, message)
    }

    /// Adds a `help:` line (replacing an earlier one).
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a `note:` line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a secondary location.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    /// `file:line:col: error: message` (or `error: message` without a location), for logs.
    pub fn one_line(&self, sources: &Sources) -> String {
        match self.span {
            Some(span) => format!(
                "{}:{}:{}: {}: {}",
                sources.name(span.source),
                span.line,
                span.col,
                self.severity_word(),
                self.message
            ),
            None => format!("{}: {}", self.severity_word(), self.message),
        }
    }

    /// The full multi-line rendering with source lines and carets; ends with a newline.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = format!("{}: {}\n", self.severity_word(), self.message);
        let lines_shown = self.span.iter().chain(self.labels.iter().map(|l| &l.span)).map(|s| s.line);
        let width = lines_shown.max().unwrap_or(0).to_string().len().max(2);
        let pad = " ".repeat(width);
        if let Some(span) = self.span {
            let _ = writeln!(out, "{pad}--> {}:{}:{}", sources.name(span.source), span.line, span.col);
            snippet(&mut out, sources, span, '^', None, width);
        }
        for label in &self.labels {
            if self.span.is_some() {
                let _ = writeln!(out, "{pad} |");
            }
            let span = label.span;
            let _ = writeln!(out, "{pad}::: {}:{}:{}", sources.name(span.source), span.line, span.col);
            snippet(&mut out, sources, span, '-', Some(&label.message), width);
        }
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Writes the gutter, the span's first source line and the underline.
fn snippet(out: &mut String, sources: &Sources, span: Span, mark: char, label: Option<&str>, width: usize) {
    let pad = " ".repeat(width);
    let file = sources.get(span.source);
    let _ = writeln!(out, "{pad} |");
    let Some(line) = file.line(span.line) else {
        return;
    };
    // Columns are counted on the displayed line, where tabs become four spaces.
    let start_byte = span.offset.saturating_sub(file.offset_of(span.line, 0)).min(line.len());
    let start_byte = floor_char_boundary(line, start_byte);
    let end_byte = floor_char_boundary(line, (start_byte + span.len).min(line.len()));
    let display_width = |s: &str| s.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum::<usize>();
    let lead = display_width(&line[..start_byte]);
    let marks = display_width(&line[start_byte..end_byte]).max(1);
    let shown = line.replace('\t', "    ");
    let (shown, lead, marks) = cut(shown.trim_end(), lead, marks);
    let _ = writeln!(out, "{:>width$} | {shown}", span.line);
    let mut under = format!("{pad} | {}{}", " ".repeat(lead), mark.to_string().repeat(marks));
    if let Some(label) = label {
        under.push(' ');
        under.push_str(label);
    }
    out.push_str(&under);
    out.push('\n');
}

/// Widest source line shown whole, in columns; a longer one (minified JSON, a 500 KB one-line
/// value) is cut around the span.
const MAX_SHOWN: usize = 120;
/// Columns kept before the span when a line is cut.
const CONTEXT_BEFORE: usize = 40;

/// Cuts a displayed line longer than [`MAX_SHOWN`] to a window around the marks, with `…`
/// where text was left out; returns the text and the marks' new column and width.
fn cut(shown: &str, lead: usize, marks: usize) -> (String, usize, usize) {
    let total = shown.chars().count();
    if total <= MAX_SHOWN {
        return (shown.to_string(), lead, marks);
    }
    let from = lead.saturating_sub(CONTEXT_BEFORE).min(total - MAX_SHOWN);
    let to = from + MAX_SHOWN;
    let mut text: String = if from > 0 { "…".into() } else { String::new() };
    text.extend(shown.chars().skip(from).take(MAX_SHOWN));
    if to < total {
        text.push('…');
    }
    let shift = usize::from(from > 0);
    let lead = lead - from + shift;
    // Marks stop at the trailing `…` (a span running past the window is marked up to it).
    let marks = marks.min(text.chars().count().saturating_sub(lead).max(1));
    (text, lead, marks)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The name in `candidates` closest to `name`, if it is a likely typo: at most one edit per three
/// characters of `name` (at least one). Case and `_`/`-` differences count as near-identical
/// (`hold_for` → `hold-for`).
pub fn suggest<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
) -> Option<&'a str> {
    suggest_within(name, candidates, (name.chars().count() / 3).max(1))
}

/// [`suggest`] with its own limit of edits (Levenshtein distance, in characters); the first of
/// equally close candidates wins.
pub fn suggest_within<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
    max_edits: usize,
) -> Option<&'a str> {
    let normalize = |s: &str| s.to_lowercase().replace('_', "-");
    let wanted = normalize(name);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&wanted, &normalize(c.as_ref())), c.as_ref()))
        .filter(|&(d, _)| d <= max_edits)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for [`Diagnostic::with_help`], if a candidate is close.
pub fn suggestion<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
) -> Option<String> {
    suggest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// [`suggestion`] when a candidate is close, else `fallback()`.
pub fn did_you_mean_or<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
    fallback: impl FnOnce() -> String,
) -> String {
    suggestion(name, candidates).unwrap_or_else(fallback)
}

/// Lists names as "`a`, `b` or `c`".
pub fn list_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|n| format!("`{n}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn demo() -> (Sources, Span) {
        let mut sources = Sources::new();
        let text = "execution:\n- concurrency: 10\n  scenario: s\n  hold_for: 10s\n";
        let id = sources.add_file(Path::new("suites/demo_criteria.yaml"), text.to_string());
        let offset = text.find("hold_for").unwrap();
        (sources.clone(), sources.span(id, offset, "hold_for".len()))
    }

    #[test]
    fn renders_like_rustc() {
        let (sources, span) = demo();
        let d = Diagnostic::error(span, "unknown key `hold_for` in an execution").with_help("did you mean `hold-for`?");
        assert_eq!(
            d.render(&sources),
            "error: unknown key `hold_for` in an execution
  --> suites/demo_criteria.yaml:4:3
   |
 4 |   hold_for: 10s
   |   ^^^^^^^^
   = help: did you mean `hold-for`?
"
        );
        assert_eq!(
            d.one_line(&sources),
            "suites/demo_criteria.yaml:4:3: error: unknown key `hold_for` in an execution"
        );
    }

    #[test]
    fn renders_labels_notes_and_unlocated() {
        let (sources, span) = demo();
        let first = sources.span(span.source, 0, "execution".len());
        let d = Diagnostic::warning(span, "duplicate key")
            .with_label(first, "first set here")
            .with_note("the later value wins");
        assert_eq!(
            d.render(&sources),
            "warning: duplicate key
  --> suites/demo_criteria.yaml:4:3
   |
 4 |   hold_for: 10s
   |   ^^^^^^^^
   |
  ::: suites/demo_criteria.yaml:1:1
   |
 1 | execution:
   | --------- first set here
   = note: the later value wins
"
        );
        let d = Diagnostic::error_unlocated("cannot read `x.yml`").with_help("check the path");
        assert_eq!(d.render(&sources), "error: cannot read `x.yml`\n   = help: check the path\n");
        assert_eq!(d.one_line(&sources), "error: cannot read `x.yml`");
    }

    #[test]
    fn tabs_and_wide_lines() {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("<t>", "\tkey: välue x\n");
        let offset = sources.get(id).text().find('x').unwrap();
        let d = Diagnostic::error(sources.span(id, offset, 1), "bad");
        let text = d.render(&sources);
        assert!(text.contains(" 1 |     key: välue x\n   |                ^\n"), "{text}");
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let mut sources = Sources::new();
        let text = format!("key: {}bad{}\n", "a".repeat(500_000), "b".repeat(500));
        let id = sources.add_pseudo("<t>", text.clone());
        let offset = text.find("bad").unwrap();
        let rendered = Diagnostic::error(sources.span(id, offset, 3), "bad").render(&sources);
        let lines: Vec<&str> = rendered.lines().collect();
        let (source, under) = (lines[3], lines[4]);
        assert!(source.chars().count() < 140, "{source}");
        assert!(source.starts_with(" 1 | …aaa") && source.ends_with("bbb…"), "{source}");
        // Columns, not bytes: `…` is one column wide.
        let caret = under.chars().position(|c| c == '^').unwrap();
        let marked: String = source.chars().skip(caret).take(3).collect();
        assert_eq!(marked, "bad", "carets stay under the span:\n{source}\n{under}");
        assert_eq!(under.matches('^').count(), 3);

        // Near the start of a long line only the end is cut; a span longer than the window
        // is marked up to the cut.
        let text = format!("{}\n", "x".repeat(1000));
        let id = sources.add_pseudo("<u>", text);
        let rendered = Diagnostic::error(sources.span(id, 2, 900), "long").render(&sources);
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines[3], format!(" 1 | {}…", "x".repeat(120)));
        assert_eq!(lines[4], format!("   |   {}", "^".repeat(119)));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("hold_for", ["ramp-up", "hold-for"]), Some("hold-for"));
        assert_eq!(suggest("concurency", ["concurrency", "scenario"]), Some("concurrency"));
        assert_eq!(suggest("zzz", ["concurrency", "scenario"]), None);
        assert_eq!(suggest_within("avgrtt", ["avg-rt", "p90"], 2), Some("avg-rt"));
        assert_eq!(suggest_within("avgrttt", ["avg-rt", "p90"], 2), None);
        let names = vec!["shellexec".to_string(), "monitoring".to_string()];
        assert_eq!(suggest("shelexec", &names), Some("shellexec"));
        assert_eq!(suggest("monitorin", &["shellexec", "monitoring"]), Some("monitoring"));
        assert_eq!(suggestion("Scenario", ["scenario"]).as_deref(), Some("did you mean `scenario`?"));
        assert_eq!(list_or(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
